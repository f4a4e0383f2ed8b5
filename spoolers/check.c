/* check.c - hf-check: is a rendered frame a complete PNG of the size the job
 * asks for, and not one flat colour? Distrusts the file entirely (a scene can
 * make the renderer write anything): it runs as its own process so a hostile
 * image can at worst crash it, never the agent that asked. */
#define _GNU_SOURCE
#include "../layout/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* No frame is larger than this on a side; the job's size is checked
 * against it and so is the image's before any row is allocated. */
enum { FRAME_MAX_SIDE = 16384 };

/* What the decoder learned; lives outside the function that calls setjmp,
 * so nothing in it needs to be volatile. */
struct frame_check {
	int fd;
	bool allow_blank;
	unsigned long want_width, want_height;
	bool out_of_memory;       /* our allocator failed: exit 111, not 100 */
	int read_errno;           /* read(2) failed: exit 111 */
	char failure[512];        /* the libpng error, already a phrase */
	char warning[200];        /* the last libpng warning, often its cause */
	unsigned char *row;       /* one row of RGB(A), 8 or 16 bits a channel */
	unsigned char first[8];   /* the first pixel, to find a flat image */
	bool varied;              /* some pixel differs from the first */
	bool have_first;
};

/* One sentence for the person who submitted the job, on stdout; exit 100. */
__attribute__((format(printf, 1, 2))) _Noreturn static void frame_reject(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (fflush(stdout) != 0)
		die_errno(EXIT_TEMPFAIL, "unable to write to stdout");
	exit(EXIT_BADINPUT);
}

/* ---- libpng callbacks ---------------------------------------------------- */

_Noreturn static void png_on_error(png_structp png, png_const_charp message)
{
	struct frame_check *fc = png_get_error_ptr(png);
	if (!fc->failure[0]) {
		char clean[300];
		text_escape(message, clean, sizeof clean);
		snprintf(fc->failure, sizeof fc->failure, "libpng: %s%s%s", clean, fc->warning[0] ? ": " : "",
			fc->warning);
	}
	png_longjmp(png, 1);
}

/* Warnings alone change nothing (success prints nothing), but the last
 * one often says why the error that follows it happened: "Invalid IHDR
 * data" comes after "Image width exceeds user limit in IHDR". */
static void png_on_warning(png_structp png, png_const_charp message)
{
	struct frame_check *fc = png_get_error_ptr(png);
	text_escape(message, fc->warning, sizeof fc->warning);
}

static png_voidp png_on_malloc(png_structp png, png_alloc_size_t size)
{
	void *p = malloc(size);
	if (!p) {
		struct frame_check *fc = png_get_mem_ptr(png);
		fc->out_of_memory = true;
	}
	return p;
}

static void png_on_free(png_structp png, png_voidp p)
{
	(void)png;
	free(p);
}

/* Read straight from the descriptor: a short file is "incomplete", a
 * failing disk is a temporary failure, and the two are not confused. */
static void png_on_read(png_structp png, png_bytep data, size_t length)
{
	struct frame_check *fc = png_get_io_ptr(png);
	while (length > 0) {
		ssize_t n = read(fc->fd, data, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fc->read_errno = errno;
			png_error(png, "read error");
		}
		if (n == 0) {
			snprintf(fc->failure, sizeof fc->failure, "the file ends too early");
			png_error(png, "unexpected end of file");
		}
		data += n;
		length -= (size_t)n;
	}
}

/* ---- pixels --------------------------------------------------------------- */

static bool pixel_is_transparent(const unsigned char *p, int channels, int bytes)
{
	if (channels < 4)
		return false;
	for (int i = 0; i < bytes; i++)
		if (p[3 * bytes + i])
			return false;
	return true;
}

/* Compare COLS pixels of a row with the first pixel of the image. Fully
 * transparent pixels are all the same, whatever colour they carry. */
static void frame_scan_row(struct frame_check *fc, size_t cols, int channels, int bytes)
{
	size_t size = (size_t)channels * (size_t)bytes;
	const unsigned char *p = fc->row;
	if (!fc->have_first) {
		memcpy(fc->first, p, size);
		fc->have_first = true;
	}
	bool first_clear = pixel_is_transparent(fc->first, channels, bytes);
	for (size_t x = 0; x < cols && !fc->varied; x++, p += size) {
		if (memcmp(p, fc->first, size) == 0)
			continue;
		if (first_clear && pixel_is_transparent(p, channels, bytes))
			continue;
		fc->varied = true;
	}
}

/* Channel I of the first pixel on a 0-255 scale. */
static unsigned first_channel(const struct frame_check *fc, int i, int bytes)
{
	if (bytes == 1)
		return fc->first[i];
	unsigned v = (unsigned)fc->first[2 * i] << 8 | fc->first[2 * i + 1];
	return (v * 255 + 32767) / 65535;
}

static _Noreturn void frame_reject_flat(const struct frame_check *fc, int channels, int bytes)
{
	const char *hint = "set [render] allow_blank = yes in job.ini if that is intended";
	unsigned r = first_channel(fc, 0, bytes), g = first_channel(fc, 1, bytes), b = first_channel(fc, 2, bytes);
	if (pixel_is_transparent(fc->first, channels, bytes))
		frame_reject("the output is fully transparent (every pixel has alpha 0); %s", hint);
	if (channels == 4 && first_channel(fc, 3, bytes) != 255)
		frame_reject("the output is a single colour (every pixel is rgba %u %u %u %u); %s", r, g, b,
			first_channel(fc, 3, bytes), hint);
	frame_reject("the output is a single colour (every pixel is rgb %u %u %u); %s", r, g, b, hint);
}

/* ---- the PNG -------------------------------------------------------------- */

/* Decode every row and the chunks after them. Returns 0 when the image
 * decoded, -1 with fc->failure (or out_of_memory, read_errno) set when not.
 * Stops without reading pixels when the size is not the one asked for. */
static int frame_decode(struct frame_check *fc, png_structp png, png_infop info,
	png_uint_32 *width, png_uint_32 *height, int *channels, int *bytes)
{
	if (setjmp(png_jmpbuf(png)))
		return -1;

	png_set_sig_bytes(png, 8);
	png_set_read_fn(png, fc, png_on_read);
	/* Bounds on what libpng itself allocates for a claimed size or chunk. */
	png_set_user_limits(png, 65536, 65536);
	png_set_chunk_malloc_max(png, 8 << 20);
	png_set_chunk_cache_max(png, 256);
	/* A damaged chunk anywhere fails the frame, as do the "benign" errors
	 * (too much image data, bad palette indexes ...). */
	png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
	png_set_benign_errors(png, 0);
	/* Skip every ancillary chunk (text, ICC profiles, ...) but tRNS: the
	 * pixels are all we look at, and unparsed code is not attack surface.
	 * Their CRCs are still checked. */
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);

	png_read_info(png, info);
	*width = png_get_image_width(png, info);
	*height = png_get_image_height(png, info);
	if (*width != fc->want_width || *height != fc->want_height || *width > FRAME_MAX_SIDE ||
		*height > FRAME_MAX_SIDE)
		return 0;

	/* Whatever the colour type and depth, rows arrive as RGB or RGBA with
	 * 8 or 16 bits a channel (16 kept: stripping could flatten a dark
	 * gradient into one colour). */
	png_set_expand(png);
	png_set_gray_to_rgb(png);
	png_read_update_info(png, info);
	*channels = png_get_channels(png, info);
	*bytes = png_get_bit_depth(png, info) / 8;
	if ((*channels != 3 && *channels != 4) || (*bytes != 1 && *bytes != 2))
		png_error(png, "unexpected pixel layout after expansion");
	fc->row = png_malloc(png, png_get_rowbytes(png, info));

	/* Interlace handling is left off, so an Adam7 image arrives as its
	 * seven small pass images, each pixel exactly once, one row at a time. */
	bool interlaced = png_get_interlace_type(png, info) == PNG_INTERLACE_ADAM7;
	for (int pass = 0; pass < (interlaced ? 7 : 1); pass++) {
		png_uint_32 cols = interlaced ? PNG_PASS_COLS(*width, pass) : *width;
		png_uint_32 rows = interlaced ? PNG_PASS_ROWS(*height, pass) : *height;
		if (cols == 0 || rows == 0)
			continue;
		for (png_uint_32 y = 0; y < rows; y++) {
			png_read_row(png, fc->row, NULL);
			frame_scan_row(fc, cols, *channels, *bytes);
		}
	}
	png_read_end(png, NULL);
	return 0;
}

static void frame_check_png(struct frame_check *fc)
{
	png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, fc, png_on_error, png_on_warning,
		fc, png_on_malloc, png_on_free);
	if (!png)
		die(EXIT_TEMPFAIL, "unable to start libpng: out of memory");
	png_infop info = png_create_info_struct(png);
	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		die(EXIT_TEMPFAIL, "unable to start libpng: out of memory");
	}
	png_uint_32 width = 0, height = 0;
	int channels = 0, bytes = 0;
	int rc = frame_decode(fc, png, info, &width, &height, &channels, &bytes);
	if (fc->row)
		png_free(png, fc->row);
	fc->row = NULL;
	png_destroy_read_struct(&png, &info, NULL);

	if (rc < 0) {
		if (fc->read_errno) {
			errno = fc->read_errno;
			die_errno(EXIT_TEMPFAIL, "unable to read the output");
		}
		if (fc->out_of_memory)
			die(EXIT_TEMPFAIL, "out of memory decoding the output");
		frame_reject("the output is damaged or incomplete (%s)", fc->failure);
	}
	if (width != fc->want_width || height != fc->want_height)
		frame_reject("the output is %lux%lu, not the %lux%lu the job asks for", (unsigned long)width,
			(unsigned long)height, fc->want_width, fc->want_height);
	if (!fc->varied && !fc->allow_blank)
		frame_reject_flat(fc, channels, bytes);
}

/* ---- the file ------------------------------------------------------------- */

/* The formats a renderer may be told to write that are not decoded here,
 * known by their first bytes (TGA has none: by its name). */
static const char *format_other(const unsigned char *head, size_t n, const char *path)
{
	if (n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
		return "JPEG";
	if (n >= 4 && memcmp(head, "\x76\x2f\x31\x01", 4) == 0)
		return "OpenEXR";
	if (n >= 3 && head[0] == 'P' && head[1] == '6' && head[2] && strchr(" \t\r\n#", head[2]))
		return "PPM";
	if (has_suffix(path, ".tga"))
		return "TGA";
	return NULL;
}

/* Open PATH as a regular file, never through a symlink and without
 * blocking on a FIFO; reject what is not one. */
static int frame_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			frame_reject("the output file does not exist");
		if (errno == ELOOP)
			frame_reject("the output is a symbolic link, not a file");
		die_errno(EXIT_TEMPFAIL, "unable to open %s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to stat %s", path);
	if (!S_ISREG(st.st_mode))
		frame_reject("the output is not a regular file");
	if (st.st_size == 0)
		frame_reject("the output is empty");
	return fd;
}

static size_t read_head(int fd, unsigned char *head, size_t size)
{
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, head + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_errno(EXIT_TEMPFAIL, "unable to read the output");
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static _Noreturn void usage(void)
{
	die(EXIT_BADINPUT, "usage: hf-check [--allow-blank] FILE WIDTH HEIGHT (each 1 to %d)", FRAME_MAX_SIDE);
}

int main(int argc, char **argv)
{
	msg_init(argv[0]);
	struct frame_check fc = {.fd = -1};
	static const struct option options[] = {
		{"allow-blank", no_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		if (c != 'b')
			usage();
		fc.allow_blank = true;
	}
	long width, height;
	if (argc - optind != 3 || !parse_long(argv[optind + 1], 1, FRAME_MAX_SIDE, &width) ||
		!parse_long(argv[optind + 2], 1, FRAME_MAX_SIDE, &height))
		usage();
	const char *path = argv[optind];
	fc.want_width = (unsigned long)width;
	fc.want_height = (unsigned long)height;

	fc.fd = frame_open(path);
	unsigned char head[8];
	size_t n = read_head(fc.fd, head, sizeof head);
	if (n == sizeof head && png_sig_cmp(head, 0, sizeof head) == 0) {
		frame_check_png(&fc);
	} else {
		const char *format = format_other(head, n, path);
		if (!format)
			frame_reject("the output is not a PNG image");
		say("%s is not decoded; only its size on disk was checked", format);
	}
	close(fc.fd);
	return EXIT_OK;
}
