/* check.c - hf-check: is a rendered frame a complete PNG of the size asked, and not one flat colour? --thumb keeps
 * a small copy of it, --contact rebuilds the job's contact sheet. Distrusts the file entirely (a scene can make the
 * renderer write anything): a process of its own, so a hostile image can at worst crash it, never the agent. */
#define _GNU_SOURCE
#include "../layout/layout.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <getopt.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
	/* the thumbnail, summed while decoding (non-interlaced images) */
	unsigned long tw, th;
	unsigned long *sum;       /* tw*th*3 channel sums */
	unsigned long *count;     /* pixels summed into each cell */
	unsigned long y;          /* the row being decoded */
};

enum { THUMB_W = CONTACT_THUMB_W, THUMB_H = CONTACT_THUMB_H, CONTACT_MAX = 240 };

static void thumb_row(struct frame_check *fc, png_uint_32 width, png_uint_32 height, int channels, int bytes)
{
	if (!fc->sum)
		return;
	unsigned long ty = fc->y * fc->th / height;
	for (png_uint_32 x = 0; x < width; x++) {
		unsigned long tx = (unsigned long)x * fc->tw / width;
		const unsigned char *p = fc->row + (size_t)x * (size_t)channels * (size_t)bytes;
		size_t cell = ty * fc->tw + tx;
		for (int c = 0; c < 3; c++)
			fc->sum[cell * 3 + (size_t)c] += bytes == 2 ? p[c * 2] : p[c];
		fc->count[cell]++;
	}
	fc->y++;
}

/* Write an RGB image as NAME in DIRFD atomically (layout's temporary name,
 * then rename); PATH names it in messages. */
static void png_write_atomic(int dirfd, const char *name, const char *path, const unsigned char *rgb, unsigned long w,
			     unsigned long h)
{
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)w;
	img.height = (png_uint_32)h;
	img.format = PNG_FORMAT_RGB;
	img.flags = PNG_IMAGE_FLAG_FAST; /* samples: speed over size */
	png_alloc_size_t size = 0;
	if (!png_image_write_to_memory(&img, NULL, &size, 0, rgb, 0, NULL))
		die(EXIT_TEMPFAIL, "unable to encode %s: %s", path, img.message);
	void *mem = xmalloc(size);
	if (!png_image_write_to_memory(&img, mem, &size, 0, rgb, 0, NULL))
		die(EXIT_TEMPFAIL, "unable to encode %s: %s", path, img.message);
	bool sync = sync_writes;
	sync_writes = false; /* a sample, not state */
	if (dirfd < 0 || file_write_atomic(dirfd, name, mem, size, 0644) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", path);
	sync_writes = sync;
	free(mem);
}

/* Where relative paths are resolved: --at DIR (opened once; every path
 * given is then beneath it, through no link), or the current folder. */
static int at = AT_FDCWD;

/* The folder PATH names its file in (beneath --at, or an absolute path of
 * the agent's own with the last part not through a link), -1 with errno;
 * BASE: the file's name. */
static int parent_open(const char *path, const char **base)
{
	char dir[4200];
	const char *slash = strrchr(path, '/');
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	*base = slash ? slash + 1 : path;
	return open_beneath(at, dir, O_RDONLY | O_DIRECTORY, 0);
}

static void thumb_write(struct frame_check *fc, const char *path)
{
	unsigned char *rgb = xmalloc(fc->tw * fc->th * 3);
	for (size_t i = 0; i < fc->tw * fc->th; i++)
		for (int c = 0; c < 3; c++)
			rgb[i * 3 + (size_t)c] = (unsigned char)(fc->count[i] ? fc->sum[i * 3 + (size_t)c] / fc->count[i] : 0);
	const char *base;
	int dfd = parent_open(path, &base);
	png_write_atomic(dfd, base, path, rgb, fc->tw, fc->th);
	close(dfd);
	free(rgb);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in previews folder DFD that are thumbnails (frameNNNN.png),
 * at most CONTACT_MAX, sorted: the contact sheet's cells in frame order. */
static size_t thumb_names(int dfd, char ***names)
{
	DIR *d = dir_open(dfd, ".");
	struct dirent *e;
	size_t n = 0;
	*names = NULL;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "frame", 5) && has_suffix(e->d_name, ".png") && n < CONTACT_MAX) {
			*names = xrealloc(*names, (n + 1) * sizeof **names);
			(*names)[n++] = xstrdup(e->d_name);
		}
	if (d)
		closedir(d);
	if (n)
		qsort(*names, n, sizeof **names, cmp_name);
	return n;
}

/* Copy thumbnail NAME of folder DFD into cell I of the sheet (W wide);
 * one that cannot be read or is too large leaves its cell empty. */
static void contact_cell(int dfd, const char *name, size_t i, size_t cols, unsigned char *sheet, size_t W)
{
	size_t len;
	char *data = file_read_small(dfd, name, 16 << 20, &len);
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	if (!data || !png_image_begin_read_from_memory(&img, data, len)) {
		free(data);
		return;
	}
	img.format = PNG_FORMAT_RGB;
	if (img.width > THUMB_W || img.height > THUMB_H) {
		png_image_free(&img);
		free(data);
		return;
	}
	unsigned char *px = xmalloc(PNG_IMAGE_SIZE(img));
	if (png_image_finish_read(&img, NULL, px, 0, NULL)) {
		size_t x0 = (i % cols) * (THUMB_W + CONTACT_GAP) + CONTACT_GAP / 2 + (THUMB_W - img.width) / 2;
		size_t y0 = (i / cols) * (THUMB_H + CONTACT_GAP) + CONTACT_GAP / 2 + (THUMB_H - img.height) / 2;
		for (size_t y = 0; y < img.height; y++)
			memcpy(sheet + ((y0 + y) * W + x0) * 3, px + y * img.width * 3, img.width * 3);
	}
	free(px);
	png_image_free(&img);
	free(data);
}

/* Rebuild DIR/contact.png from the thumbnails in DIR (frameNNNN.png), one
 * cell each in frame order, under a lock so that the last one to rebuild
 * sees every thumbnail written before it. */
static void contact_sheet(const char *dir, bool always)
{
	const char *contact = spool_file_name(SPOOL_FILE_CONTACT);
	char path[4200];
	int dfd = open_beneath(at, dir, O_RDONLY | O_DIRECTORY, 0);
	/* Rebuilding costs a decode of every sample: do it for the first
	 * samples, then at most every few seconds; the agent asks for a
	 * last one when the job ends. */
	struct stat st;
	if (!always && dfd >= 0 && fstatat(dfd, contact, &st, 0) == 0 && time(NULL) - st.st_mtime < 5 &&
	    contact_file_holds(dfd) >= CONTACT_SAMPLES) {
		/* it shows the first samples already (the mail waits for that) */
		close(dfd);
		return;
	}
	snprintf(path, sizeof path, "%s/%s", dir, spool_file_name(SPOOL_FILE_CONTACT_LOCK));
	int lock = dfd < 0 ? -1 : lock_open(dfd, spool_file_name(SPOOL_FILE_CONTACT_LOCK), 30000);
	if (lock < 0)
		die_errno(EXIT_TEMPFAIL, "unable to lock %s", path);
	char **names;
	size_t n = thumb_names(dfd, &names);
	if (n) {
		size_t cols = n < CONTACT_COLS ? n : CONTACT_COLS, rows = (n + cols - 1) / cols;
		size_t W = cols * (THUMB_W + CONTACT_GAP), H = rows * (THUMB_H + CONTACT_GAP);
		unsigned char *sheet = xcalloc(W * H * 3, 1);
		memset(sheet, 40, W * H * 3);
		for (size_t i = 0; i < n; i++)
			contact_cell(dfd, names[i], i, cols, sheet, W);
		snprintf(path, sizeof path, "%s/%s", dir, contact);
		png_write_atomic(dfd, contact, path, sheet, W, H);
		free(sheet);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(lock);
	close(dfd);
}

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
			if (!interlaced)
				thumb_row(fc, *width, *height, *channels, *bytes);
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
	int fd = open_beneath(at, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
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

/* --at DIR: the farm's own path (the spool), opened as it is given. */
static int at_open(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open %s", dir);
	return fd;
}

static _Noreturn void usage(void)
{
	die(EXIT_BADINPUT,
	    "usage: hf-check [--at DIR] [--allow-blank] [--thumb OUT.png [--contact DIR]] FILE WIDTH HEIGHT (each 1 to %d)\n"
	    "       hf-check [--at DIR] --contact-only DIR\n"
	    "--at DIR: the other paths are beneath DIR, resolved through no link",
	    FRAME_MAX_SIDE);
}

int main(int argc, char **argv)
{
	msg_init(argv[0]);
	struct frame_check fc = {.fd = -1};
	static const struct option options[] = {
		{"allow-blank", no_argument, NULL, 'b'},
		{"thumb", required_argument, NULL, 't'},
		{"contact", required_argument, NULL, 'c'},
		{"contact-only", required_argument, NULL, 'C'},
		{"at", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	const char *thumb = NULL, *contact = NULL, *final_sheet = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		if (c == 'b')
			fc.allow_blank = true;
		else if (c == 't')
			thumb = optarg;
		else if (c == 'c')
			contact = optarg;
		else if (c == 'C')
			final_sheet = optarg;
		else if (c == 'a')
			at = at_open(optarg);
		else
			usage();
	}
	if (final_sheet) {
		contact_sheet(final_sheet, true);
		return EXIT_OK;
	}
	long width, height;
	if (argc - optind != 3 || !parse_long(argv[optind + 1], 1, FRAME_MAX_SIDE, &width) ||
		!parse_long(argv[optind + 2], 1, FRAME_MAX_SIDE, &height))
		usage();
	const char *path = argv[optind];
	fc.want_width = (unsigned long)width;
	fc.want_height = (unsigned long)height;

	if (thumb) {
		/* fit THUMB_W x THUMB_H, keeping the frame's shape */
		fc.tw = THUMB_W;
		fc.th = (unsigned long)height * THUMB_W / (unsigned long)width;
		if (fc.th > THUMB_H) {
			fc.th = THUMB_H;
			fc.tw = (unsigned long)width * THUMB_H / (unsigned long)height;
		}
		if (fc.tw < 1)
			fc.tw = 1;
		if (fc.th < 1)
			fc.th = 1;
		fc.sum = xcalloc(fc.tw * fc.th * 3, sizeof *fc.sum);
		fc.count = xcalloc(fc.tw * fc.th, sizeof *fc.count);
	}
	fc.fd = frame_open(path);
	unsigned char head[8];
	size_t n = read_head(fc.fd, head, sizeof head);
	if (n == sizeof head && png_sig_cmp(head, 0, sizeof head) == 0) {
		frame_check_png(&fc);
		/* it passed: keep its sample */
		if (thumb && fc.y == (unsigned long)height)
			thumb_write(&fc, thumb);
		if (contact)
			contact_sheet(contact, false);
	} else {
		const char *format = format_other(head, n, path);
		if (!format)
			frame_reject("the output is not a PNG image");
		say("%s is not decoded; only its size on disk was checked", format);
	}
	close(fc.fd);
	free(fc.sum);
	free(fc.count);
	return EXIT_OK;
}
