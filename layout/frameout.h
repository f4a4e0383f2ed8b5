/* frameout.h - the files a frame is: its image format ([render] format),
 * the name it is published under, and the extra outputs beside it. */
#ifndef HOTFARM_FRAMEOUT_H
#define HOTFARM_FRAMEOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* [render] format: what a package is told to write. FORMAT_SCENE: nothing
 * is said (Blender keeps the scene's own settings). */
enum frame_format {
	FORMAT_SCENE,
	FORMAT_PNG,
	FORMAT_PNG16,
	FORMAT_JPEG,
	FORMAT_TIFF,
	FORMAT_EXR,
	FORMAT_EXR_MULTILAYER,
	FORMAT_HDR,
	FORMAT_COUNT,
};
/* "png", "exr-multilayer" ... ("" for FORMAT_SCENE); the file extension
 * (".png", ".exr" ...); the format a name names, or -1. */
const char *frame_format_name(enum frame_format f);
const char *frame_format_ext(enum frame_format f);
int frame_format_parse(const char *name);
/* The format an output name's extension implies (shot_####.exr: EXR), or
 * -1 when it is none of them. */
int frame_format_of_name(const char *name);
/* The words of "png, png16, ..." for messages. */
const char *frame_format_list(void);

/* PATTERN with its #### (or longer run of #) filled in with FRAME, padded
 * to at least four digits. */
void frame_name(const char *pattern, long frame, char *out, size_t outsize);
/* The same with PATTERN's extension replaced by EXT (".exr": the one the
 * renderer gave its file; ignored unless a dot and 1 to 5 letters or
 * digits): a job that left the format to its scene. */
void frame_name_as(const char *pattern, const char *ext, long frame, char *out, size_t outsize);
/* Whether NAME is what PATTERN gives for FRAME (the extra outputs a
 * renderer's folder holds). */
bool frame_name_is(const char *pattern, long frame, const char *name);
/* A pattern of [render] extra_outputs is a plain file name (no '/') with
 * one run of #: 0, or -1 with a sentence in ERR. */
int frame_pattern_check(const char *pattern, char *err, size_t errsize);

#endif
