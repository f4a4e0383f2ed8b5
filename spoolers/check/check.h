/* check.h - hf-check's parts: reading a frame of any format the farm
 * renders (image.c, exr.c), and the previews made from it (preview.c). */
#ifndef HOTFARM_CHECK_H
#define HOTFARM_CHECK_H

#include "../../layout/layout.h"

#include <vips/vips.h>

/* No frame is larger than this on a side; the job's size is checked
 * against it and so is the image's before any pixel is decoded. */
enum { FRAME_MAX_SIDE = 16384 };

#include "serve.h"

/* hf-check's work for one frame (or one contact sheet): its exit code.
 * libvips is started already. */
int check_run(int argc, char **argv);
/* --serve: checks requested on SOCK, in a worker per job (serve.h). */
int check_serve(int sock, char **argv);

/* Where relative paths are resolved: --at DIR, or the current folder. */
extern int check_at;

/* An OpenEXR frame's picture: BANDS (1, 3 or 4) floats a pixel. */
struct exr_frame {
	long width, height;
	int bands;
	int stride; /* floats a pixel while decoding (bands and padding) */
	float *px;
	char layer[128];    /* the layer read ("" for the unnamed one) */
	char names[4][256]; /* its channels */
};
/* Read the picture of the OpenEXR file FD: 0 (F->px filled), 1 when its
 * size is not WANT_W x WANT_H (F->width/height say what it is; nothing
 * decoded), -1 with a phrase in WHY when it is damaged or unusable. */
int exr_read(int fd, long want_w, long want_h, struct exr_frame *f, char *why, size_t whysize);

/* A frame decoded whole: IMAGE in memory, LINEAR when its values are
 * scene-linear light (OpenEXR, Radiance, float TIFF). */
struct frame_image {
	VipsImage *image;
	bool linear;
	const char *format; /* "PNG", "OpenEXR" ... for messages */
};
/* Open and decode the file FD for a frame of WANT_W x WANT_H. 0; 1 with
 * *W x *H when the size is wrong (no pixel decoded); -1 with a phrase in
 * WHY (not an image, damaged). Dies 111 for want of memory. */
int frame_decode(int fd, long want_w, long want_h, struct frame_image *out, long *w, long *h, char *why,
		 size_t whysize);

/* The decoders' warnings kept (for the reason a file fails), not printed. */
void decoders_quiet(void);
/* ... and forgotten, with libvips's errors, before the next check. */
void decoders_forget(void);
/* The frame as 8-bit sRGB (3 bands, alpha flattened onto black): linear
 * light through the sRGB transfer curve (IEC 61966-2-1), clipped. */
VipsImage *frame_srgb(const struct frame_image *f);
/* Write IMAGE's thumbnail (at most CONTACT_THUMB_W x _H) as PNG to PATH,
 * and its view (at most VIEW_MAX_W wide) as JPEG to VIEW; NULL: not. */
void preview_write(VipsImage *srgb, const char *thumb, const char *view);
/* Rebuild DIR/contact.png from its thumbnails (ALWAYS: even when fresh). */
void contact_sheet(const char *dir, bool always);
/* The folder PATH names its file in, beneath check_at; BASE: the name. */
int parent_open(const char *path, const char **base);

#endif
