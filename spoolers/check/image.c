/* image.c - a frame's file decoded whole with libvips (PNG, JPEG, TIFF,
 * Radiance) or OpenEXR's library, after its header showed the job's size. */
#define _GNU_SOURCE
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The loaders a frame may go through, known by the file's first bytes:
 * nothing else libvips knows (its "untrusted" loaders, ImageMagick,
 * matrix, CSV ...) ever sees a frame, and a cut file still goes to its
 * own loader to be called damaged. */
typedef int (*source_loader)(VipsSource *source, VipsImage **out, ...);
static const struct {
	const char *magic;
	size_t len;
	const char *format;
	source_loader load;
} loaders[] = {
	{"\x89PNG\r\n\x1a\n", 8, "PNG", vips_pngload_source},
	{"\xff\xd8\xff", 3, "JPEG", vips_jpegload_source},
	{"II*\0", 4, "TIFF", vips_tiffload_source},
	{"MM\0*", 4, "TIFF", vips_tiffload_source},
	{"II+\0", 4, "TIFF", vips_tiffload_source},
	{"MM\0+", 4, "TIFF", vips_tiffload_source},
	{"#?RADIANCE", 10, "Radiance HDR", vips_radload_source},
	{"#?RGBE", 6, "Radiance HDR", vips_radload_source},
};

/* The decoders' last warning: it says why the error that follows it came
 * ("not enough data" before "libpng read error"). Not printed. */
static char last_warning[300];

static void on_vips_log(const char *domain, GLogLevelFlags level, const char *message, void *data)
{
	(void)domain;
	(void)level;
	(void)data;
	if (message && strncmp(message, "error in tile", 13))
		snprintf(last_warning, sizeof last_warning, "%s", message);
}

void decoders_quiet(void)
{
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, on_vips_log, NULL);
}

void decoders_forget(void)
{
	*last_warning = 0;
	vips_error_clear();
}

/* libvips's last error (or the warning before it), one line, escaped,
 * into WHY; the buffer cleared. */
static void vips_why(const char *format, char *why, size_t whysize)
{
	char clean[300];
	const char *e = *last_warning ? last_warning : vips_error_buffer();
	char line[300];
	snprintf(line, sizeof line, "%.*s", (int)strcspn(e, "\n"), e);
	text_escape(*line ? line : "unreadable", clean, sizeof clean);
	snprintf(why, whysize, "%s: %s", format, clean);
	vips_error_clear();
}

/* The memory ceiling, now that the size is known: what the decode, its
 * previews and libvips need, never what a file claims. */
static void memory_allow(unsigned long long pixels_bytes)
{
	(void)pixels_bytes;
#ifndef __SANITIZE_ADDRESS__ /* (its shadow memory needs no ceiling: main.c) */
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) < 0)
		return;
	unsigned long long want = (1ULL << 30) + 4 * pixels_bytes;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	rl.rlim_cur = want;
	setrlimit(RLIMIT_AS, &rl);
#endif
}

static void pixels_free(VipsImage *image, void *px)
{
	(void)image;
	free(px);
}

static int exr_decode(int fd, long want_w, long want_h, struct frame_image *out, long *w, long *h, char *why,
		      size_t whysize)
{
	struct exr_frame f;
	out->format = "OpenEXR";
	/* a frame of the job's size at four floats a pixel, before the header
	 * is read: the header cannot make the checker allocate more */
	memory_allow((unsigned long long)want_w * (unsigned long long)want_h * 16);
	int rc = exr_read(fd, want_w, want_h, &f, why, whysize);
	*w = f.width;
	*h = f.height;
	if (rc != 0)
		return rc;
	out->image = vips_image_new_from_memory(f.px, (size_t)f.width * (size_t)f.height * (size_t)f.bands * sizeof(float),
						(int)f.width, (int)f.height, f.bands, VIPS_FORMAT_FLOAT);
	if (!out->image)
		die(EXIT_TEMPFAIL, "out of memory decoding the output");
	/* its pixels live as long as the image */
	g_signal_connect(out->image, "postclose", G_CALLBACK(pixels_free), f.px);
	out->image->Type = f.bands >= 3 ? VIPS_INTERPRETATION_scRGB : VIPS_INTERPRETATION_B_W;
	out->linear = true;
	return 0;
}

int frame_decode(int fd, long want_w, long want_h, struct frame_image *out, long *w, long *h, char *why,
		 size_t whysize)
{
	memset(out, 0, sizeof *out);
	unsigned char magic[16];
	ssize_t got = pread(fd, magic, sizeof magic, 0);
	if (got >= 4 && !memcmp(magic, "\x76\x2f\x31\x01", 4))
		return exr_decode(fd, want_w, want_h, out, w, h, why, whysize);
	size_t k = 0;
	while (k < sizeof loaders / sizeof *loaders &&
	       (got < (ssize_t)loaders[k].len || memcmp(magic, loaders[k].magic, loaders[k].len)))
		k++;
	if (k == sizeof loaders / sizeof *loaders) {
		snprintf(why, whysize, "not an image");
		return -1;
	}
	VipsSource *src = vips_source_new_from_descriptor(fd);
	if (!src)
		die(EXIT_TEMPFAIL, "unable to read the output: %s", vips_error_buffer());
	out->format = loaders[k].format;
	VipsImage *im = NULL;
	/* the header only: nothing is decoded before its size is known */
	if (loaders[k].load(src, &im, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_ERROR, NULL)) {
		g_object_unref(src);
		vips_why(out->format, why, whysize);
		return -1;
	}
	*w = vips_image_get_width(im);
	*h = vips_image_get_height(im);
	if (*w != want_w || *h != want_h) {
		g_object_unref(im);
		g_object_unref(src);
		return 1;
	}
	memory_allow((unsigned long long)VIPS_IMAGE_SIZEOF_IMAGE(im));
	/* every pixel, into memory: a truncated or damaged file fails here */
	VipsImage *mem = im->Coding == VIPS_CODING_RAD ? NULL : vips_image_copy_memory(im);
	if (im->Coding == VIPS_CODING_RAD) {
		VipsImage *f = NULL;
		if (!vips_rad2float(im, &f, NULL)) {
			mem = vips_image_copy_memory(f);
			g_object_unref(f);
		}
	}
	g_object_unref(im);
	g_object_unref(src);
	if (!mem) {
		vips_why(out->format, why, whysize);
		return -1;
	}
	out->image = mem;
	VipsBandFormat bf = vips_image_get_format(mem);
	out->linear = bf == VIPS_FORMAT_FLOAT || bf == VIPS_FORMAT_DOUBLE;
	return 0;
}

/* IN with its colour bands only: alpha and whatever follows it dropped,
 * grey made three bands. A new reference. */
static VipsImage *colour_bands(VipsImage *in)
{
	int bands = vips_image_get_bands(in);
	VipsImage *t = NULL;
	if (bands >= 3) {
		if (vips_extract_band(in, &t, 0, "n", 3, NULL))
			return NULL;
	} else {
		VipsImage *g = NULL, *arr[3];
		if (vips_extract_band(in, &g, 0, NULL))
			return NULL;
		arr[0] = arr[1] = arr[2] = g;
		int rc = vips_bandjoin(arr, &t, 3, NULL);
		g_object_unref(g);
		if (rc)
			return NULL;
	}
	return t;
}

VipsImage *frame_srgb(const struct frame_image *f)
{
	VipsImage *in = f->image, *a = NULL, *b = NULL, *c = NULL;
	if (f->linear) {
		/* scene-linear light, associated alpha (OpenEXR's rule): the
		 * colour is already over black; the plain sRGB curve, clipped */
		if (!(a = colour_bands(in)))
			return NULL;
		if (vips_cast(a, &b, VIPS_FORMAT_FLOAT, NULL) ||
		    vips_copy(b, &c, "interpretation", VIPS_INTERPRETATION_scRGB, NULL)) {
			VIPS_UNREF(a);
			VIPS_UNREF(b);
			return NULL;
		}
		VIPS_UNREF(a);
		VIPS_UNREF(b);
		if (vips_colourspace(c, &a, VIPS_INTERPRETATION_sRGB, NULL))
			a = NULL;
		VIPS_UNREF(c);
		return a;
	}
	/* display-referred: 16 bits to 8, grey to colour, alpha over black */
	VipsInterpretation from = vips_image_guess_interpretation(in);
	if (vips_colourspace(in, &a, VIPS_INTERPRETATION_sRGB, "source_space", from, NULL))
		return NULL;
	if (vips_image_hasalpha(a)) {
		if (vips_flatten(a, &b, NULL)) {
			g_object_unref(a);
			return NULL;
		}
		g_object_unref(a);
		a = b;
	}
	b = colour_bands(a);
	g_object_unref(a);
	if (!b || vips_cast(b, &c, VIPS_FORMAT_UCHAR, NULL))
		c = NULL;
	VIPS_UNREF(b);
	return c;
}
