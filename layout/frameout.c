/* frameout.c - the files a frame is: the formats a job may ask for, the
 * names its frame and extra outputs are published under. */
#define _GNU_SOURCE
#include "frameout.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name, *ext;
} formats[FORMAT_COUNT] = {
	[FORMAT_SCENE] = {"", ""},
	[FORMAT_PNG] = {"png", ".png"},
	[FORMAT_PNG16] = {"png16", ".png"},
	[FORMAT_JPEG] = {"jpeg", ".jpg"},
	[FORMAT_TIFF] = {"tiff", ".tif"},
	[FORMAT_EXR] = {"exr", ".exr"},
	[FORMAT_EXR_MULTILAYER] = {"exr-multilayer", ".exr"},
	[FORMAT_HDR] = {"hdr", ".hdr"},
};

const char *frame_format_name(enum frame_format f) { return formats[f].name; }
const char *frame_format_ext(enum frame_format f) { return formats[f].ext; }
const char *frame_format_list(void) { return "png, png16, jpeg, tiff, exr, exr-multilayer or hdr"; }

int frame_format_parse(const char *name)
{
	for (int f = FORMAT_PNG; f < FORMAT_COUNT; f++)
		if (!strcasecmp(name, formats[f].name))
			return f;
	return -1;
}

int frame_format_of_name(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot || strchr(dot, '/'))
		return -1;
	static const struct {
		const char *ext;
		enum frame_format f;
	} exts[] = {{".png", FORMAT_PNG}, {".jpg", FORMAT_JPEG}, {".jpeg", FORMAT_JPEG}, {".tif", FORMAT_TIFF},
		    {".tiff", FORMAT_TIFF}, {".exr", FORMAT_EXR}, {".hdr", FORMAT_HDR}};
	for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
		if (!strcasecmp(dot, exts[i].ext))
			return (int)exts[i].f;
	return -1;
}

/* Where PATTERN's run of # is: its start and length (0 when none). */
static const char *hashes(const char *pattern, size_t *n)
{
	const char *h = strchr(pattern, '#');
	*n = 0;
	while (h && h[*n] == '#')
		(*n)++;
	return h;
}

void frame_name(const char *pattern, long frame, char *out, size_t outsize)
{
	size_t nh;
	const char *h = hashes(pattern, &nh);
	if (!h)
		snprintf(out, outsize, "%s", pattern);
	else
		snprintf(out, outsize, "%.*s%0*ld%s", (int)(h - pattern), pattern, (int)(nh < 4 ? 4 : nh), frame,
			 h + nh);
}

void frame_name_as(const char *pattern, const char *ext, long frame, char *out, size_t outsize)
{
	char name[4200];
	frame_name(pattern, frame, name, sizeof name);
	char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
	if (dot && (!slash || dot > slash) && dot > (slash ? slash + 1 : name))
		*dot = 0;
	/* an extension is a dot and a few letters or digits, nothing else */
	bool ok = ext[0] == '.' && strlen(ext) >= 2 && strlen(ext) <= 6;
	for (const char *c = ext + 1; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
	snprintf(out, outsize, "%s%s", name, ok ? ext : "");
}

bool frame_name_is(const char *pattern, long frame, const char *name)
{
	char want[4200];
	frame_name(pattern, frame, want, sizeof want);
	return !strcmp(want, name);
}

int frame_pattern_check(const char *pattern, char *err, size_t errsize)
{
	size_t nh;
	const char *h = hashes(pattern, &nh);
	if (!*pattern || strchr(pattern, '/') || !strcmp(pattern, ".") || !strcmp(pattern, "..") || *pattern == '.' ||
	    strlen(pattern) > 200) {
		snprintf(err, errsize, "'%.200s' is not a file name in the frame's folder (no '/', not hidden)",
			 pattern);
		return -1;
	}
	for (const char *c = pattern; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			snprintf(err, errsize, "'%.200s' holds a control character", pattern);
			return -1;
		}
	if (!h || strchr(h + nh, '#')) {
		snprintf(err, errsize, "'%.200s' needs one run of # for the frame number, like depth_####.exr",
			 pattern);
		return -1;
	}
	return 0;
}
