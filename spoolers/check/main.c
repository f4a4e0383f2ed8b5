/* main.c - hf-check: is a rendered frame (and each extra output of it) a complete image of the size asked, and
 * not one flat colour? --thumb and --view keep samples of it, --contact rebuilds the job's contact sheet.
 * Distrusts the files entirely (a scene can make the renderer write anything): a process of its own under a
 * memory ceiling and a time limit, so a hostile image can at worst stop it, never harm the agent. */
#define _GNU_SOURCE
#include "check.h"

#include <vips/vector.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int check_at = AT_FDCWD;

/* The seconds a check may take: the agent gives up on it at 60. */
enum { CHECK_SECONDS = 50 };

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

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "the image took more than 50 seconds to check (is it a decompression bomb?)\n";
	ssize_t n = write(STDOUT_FILENO, msg, sizeof msg - 1);
	(void)n;
	_exit(EXIT_BADINPUT);
}

/* Open PATH (WHAT names it in messages: "the output", "the extra output
 * depth_0001.exr") as a regular file, never through a symlink and without
 * blocking on a FIFO; reject what is not one. */
static int frame_open(const char *path, const char *what)
{
	int fd = open_beneath(check_at, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			frame_reject("%s does not exist", what);
		if (errno == ELOOP)
			frame_reject("%s is a symbolic link, not a file", what);
		die_errno(EXIT_TEMPFAIL, "unable to open %s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to stat %s", path);
	if (!S_ISREG(st.st_mode))
		frame_reject("%s is not a regular file", what);
	if (st.st_size == 0)
		frame_reject("%s is empty", what);
	return fd;
}

/* Decode PATH whole, refusing it (naming it WHAT) unless it is an image
 * of WANT_W x WANT_H that decodes completely. */
static void frame_read(const char *path, const char *what, long want_w, long want_h, struct frame_image *img)
{
	int fd = frame_open(path, what);
	char why[400] = "";
	long w = 0, h = 0;
	int rc = frame_decode(fd, want_w, want_h, img, &w, &h, why, sizeof why);
	close(fd);
	if (rc > 0)
		frame_reject("%s is %ldx%ld, not the %ldx%ld the job asks for", what, w, h, want_w, want_h);
	if (rc < 0 && !strcmp(why, "not an image"))
		frame_reject("%s is not an image hotfarm reads (PNG, JPEG, TIFF, OpenEXR or Radiance HDR)", what);
	if (rc < 0 && !img->format)
		frame_reject("%s is not usable: %s", what, why);
	if (rc < 0)
		frame_reject("%s is damaged or incomplete (%s)", what, why);
}

/* Refuse an image that is one colour (or all transparent) throughout. */
static void flat_check(const struct frame_image *img, VipsImage *srgb)
{
	VipsImage *in = img->image, *pm = NULL, *stats = NULL;
	bool alpha = vips_image_hasalpha(in);
	if (alpha ? vips_premultiply(in, &pm, NULL) : vips_copy(in, &pm, NULL))
		die(EXIT_TEMPFAIL, "unable to look at the output: %s", vips_error_buffer());
	if (vips_stats(pm, &stats, NULL))
		die(EXIT_TEMPFAIL, "unable to look at the output: %s", vips_error_buffer());
	int bands = vips_image_get_bands(in);
	double amax = 0, amin = 0;
	for (int b = 0; b < bands; b++) {
		double lo = *VIPS_MATRIX(stats, 0, b + 1), hi = *VIPS_MATRIX(stats, 1, b + 1);
		if (lo != hi) {
			g_object_unref(stats);
			g_object_unref(pm);
			return;
		}
		amin = lo, amax = hi;
	}
	g_object_unref(stats);
	g_object_unref(pm);
	const char *hint = "set [render] allow_blank = yes in job.ini if that is intended";
	if (alpha && amax == 0)
		frame_reject("the output is fully transparent (every pixel has alpha 0); %s", hint);
	double *px = NULL;
	int n = 0;
	if (vips_getpoint(srgb, &px, &n, 0, 0, NULL) || n < 3)
		die(EXIT_TEMPFAIL, "unable to look at the output: %s", vips_error_buffer());
	unsigned r = (unsigned)px[0], g = (unsigned)px[1], b = (unsigned)px[2];
	g_free(px);
	VipsBandFormat bf = vips_image_get_format(in);
	double full = img->linear ? 1.0 : bf == VIPS_FORMAT_USHORT ? 65535 : 255;
	if (alpha && amin < full)
		frame_reject("the output is a single colour (every pixel is rgba %u %u %u %u); %s", r, g, b,
			     (unsigned)(amin * 255 / full + 0.5), hint);
	frame_reject("the output is a single colour (every pixel is rgb %u %u %u); %s", r, g, b, hint);
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
	    "usage: hf-check [--at DIR] [--allow-blank] [--thumb OUT.png] [--view OUT.jpg] [--contact DIR]\n"
	    "                FILE WIDTH HEIGHT (each 1 to %d) [EXTRA...]\n"
	    "       hf-check [--at DIR] --contact-only DIR\n"
	    "       hf-check --serve (checks asked for on standard input, a socket: serve.h)\n"
	    "--at DIR: the other paths are beneath DIR, resolved through no link\n"
	    "EXTRA: the frame's other files (passes), [NAME=]PATH: decoded and sized, never refused as blank",
	    FRAME_MAX_SIDE);
}

/* libvips once: one thread (renders run beside it), no cache, no
 * temporary files; no plugin modules (ImageMagick, PDF, slides: libvips
 * looks for them under VIPSHOME): fewer libraries to load, none a frame
 * may reach. */
static void vips_start(void)
{
	setenv("VIPS_DISC_THRESHOLD", "0", 1);
	setenv("VIPSHOME", "/nonexistent/hotfarm", 1);
	if (VIPS_INIT("hf-check"))
		die(EXIT_TEMPFAIL, "unable to start libvips: %s", vips_error_buffer());
	decoders_quiet();
	vips_concurrency_set(1);
	vips_vector_set_enabled(FALSE); /* no run-time code generation (orc) in each fork */
	vips_cache_set_max(0);
	vips_leak_set(FALSE);
}

/* Limits first: a hostile image meets them before any byte is read. */
static void limits_set(void)
{
	/* (not under AddressSanitizer, whose shadow memory is terabytes of
	 * address space: make san's builds have no ceiling) */
#ifndef __SANITIZE_ADDRESS__
	struct rlimit rl = {.rlim_cur = 1ULL << 30, .rlim_max = RLIM_INFINITY};
	if (getrlimit(RLIMIT_AS, &rl) == 0 && (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1ULL << 30))) {
		rl.rlim_cur = 1ULL << 30;
		setrlimit(RLIMIT_AS, &rl);
	}
#endif
	signal(SIGALRM, on_alarm);
	alarm(CHECK_SECONDS);
}

int main(int argc, char **argv)
{
	msg_init(argv[0]);
	vips_start();
	/* hf-check --serve: on standard input, the agent's socket */
	if (argc == 2 && !strcmp(argv[1], "--serve"))
		return check_serve(STDIN_FILENO, argv);
	return check_run(argc, argv);
}

int check_run(int argc, char **argv)
{
	static const struct option options[] = {
		{"allow-blank", no_argument, NULL, 'b'}, {"thumb", required_argument, NULL, 't'},
		{"view", required_argument, NULL, 'v'},  {"contact", required_argument, NULL, 'c'},
		{"contact-only", required_argument, NULL, 'C'}, {"at", required_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	const char *thumb = NULL, *view = NULL, *contact = NULL, *final_sheet = NULL;
	bool allow_blank = false;
	int c;
	decoders_forget(); /* what a worker's last check left */
	while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		if (c == 'b')
			allow_blank = true;
		else if (c == 't')
			thumb = optarg;
		else if (c == 'v')
			view = optarg;
		else if (c == 'c')
			contact = optarg;
		else if (c == 'C')
			final_sheet = optarg;
		else if (c == 'a')
			check_at = at_open(optarg);
		else
			usage();
	}
	limits_set();
	if (final_sheet) {
		contact_sheet(final_sheet, true);
		return EXIT_OK;
	}
	long width, height;
	if (argc - optind < 3 || !parse_long(argv[optind + 1], 1, FRAME_MAX_SIDE, &width) ||
	    !parse_long(argv[optind + 2], 1, FRAME_MAX_SIDE, &height))
		usage();
	struct frame_image img;
	frame_read(argv[optind], "the output", width, height, &img);
	VipsImage *srgb = frame_srgb(&img);
	if (!srgb)
		die(EXIT_TEMPFAIL, "unable to convert the output for viewing: %s", vips_error_buffer());
	if (!allow_blank)
		flat_check(&img, srgb);
	/* the passes: whole and of the frame's size (a blank mask is fine) */
	for (int i = optind + 3; i < argc; i++) {
		/* NAME=PATH: named as the artist knows it, not by its staged name */
		const char *path = argv[i], *eq = strchr(path, '='), *base = strrchr(path, '/');
		char what[300];
		if (eq && (!base || eq < base)) {
			snprintf(what, sizeof what, "the extra output %.*s", (int)(eq - path > 200 ? 200 : eq - path), path);
			path = eq + 1;
		} else {
			snprintf(what, sizeof what, "the extra output %.200s", base ? base + 1 : path);
		}
		struct frame_image pass;
		frame_read(path, what, width, height, &pass);
		g_object_unref(pass.image);
	}
	preview_write(srgb, thumb, view);
	if (contact)
		contact_sheet(contact, false);
	g_object_unref(srgb);
	g_object_unref(img.image);
	return EXIT_OK;
}
