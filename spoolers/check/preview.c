/* preview.c - what an artist sees of a frame before the job ends: its
 * thumbnail, its view (the preview movie's frame), the contact sheet. */
#define _GNU_SOURCE
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { THUMB_W = CONTACT_THUMB_W, THUMB_H = CONTACT_THUMB_H, CONTACT_MAX = 240, SHEET_GREY = 40 };

int parent_open(const char *path, const char **base)
{
	char dir[4200];
	const char *slash = strrchr(path, '/');
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
	*base = slash ? slash + 1 : path;
	return open_beneath(check_at, dir, O_RDONLY | O_DIRECTORY, 0);
}

/* Write DATA as PATH's file atomically (a temporary name, then rename):
 * a sample, not state, so not synced. */
static void sample_write(const char *path, const void *data, size_t len)
{
	const char *base;
	int dfd = parent_open(path, &base);
	bool sync = sync_writes;
	sync_writes = false;
	if (dfd < 0 || file_write_atomic(dfd, base, data, len, 0644) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", path);
	sync_writes = sync;
	close(dfd);
}

/* IN fitted into W x H (never enlarged), in memory, and saved as PNG or
 * JPEG to PATH when given. A new reference. */
static VipsImage *sample_save(VipsImage *in, int w, int h, bool jpeg, const char *path)
{
	VipsImage *t = NULL, *m = NULL;
	void *buf = NULL;
	size_t len = 0;
	if (vips_thumbnail_image(in, &t, w, "height", h, "size", VIPS_SIZE_DOWN, NULL) || !(m = vips_image_copy_memory(t)) ||
	    (path && (jpeg ? vips_jpegsave_buffer(m, &buf, &len, "Q", 85, "strip", TRUE, NULL)
			   : vips_pngsave_buffer(m, &buf, &len, "compression", 1, "strip", TRUE, NULL))))
		die(EXIT_TEMPFAIL, "unable to make %s: %s", path ? path : "a sample", vips_error_buffer());
	if (path)
		sample_write(path, buf, len);
	g_free(buf);
	g_object_unref(t);
	return m;
}

void preview_write(VipsImage *srgb, const char *thumb, const char *view)
{
	/* the frame is converted once: the view, then the thumbnail from it */
	VipsImage *v = view || thumb ? sample_save(srgb, VIEW_MAX_W, FRAME_MAX_SIDE, true, view) : NULL;
	if (thumb)
		g_object_unref(sample_save(v, THUMB_W, THUMB_H, false, thumb));
	if (v)
		g_object_unref(v);
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

/* Thumbnail NAME of folder DFD centred in a cell of the sheet's grey; one
 * that cannot be read or is too large leaves its cell empty. */
static VipsImage *contact_cell(int dfd, const char *name)
{
	int cw = THUMB_W + CONTACT_GAP, ch = THUMB_H + CONTACT_GAP;
	double grey[3] = {SHEET_GREY, SHEET_GREY, SHEET_GREY};
	VipsArrayDouble *background = vips_array_double_new(grey, 3);
	size_t len = 0;
	char *data = file_read_small(dfd, name, 16 << 20, &len);
	VipsImage *t = NULL, *rgb = NULL, *cell = NULL;
	if (data && !vips_pngload_buffer(data, len, &t, "access", VIPS_ACCESS_SEQUENTIAL, NULL) &&
	    vips_image_get_width(t) <= THUMB_W && vips_image_get_height(t) <= THUMB_H &&
	    !vips_colourspace(t, &rgb, VIPS_INTERPRETATION_sRGB, NULL) &&
	    !vips_gravity(rgb, &cell, VIPS_COMPASS_DIRECTION_CENTRE, cw, ch, "extend", VIPS_EXTEND_BACKGROUND,
			  "background", background, NULL)) {
		VipsImage *m = vips_image_copy_memory(cell);
		g_object_unref(cell);
		cell = m;
	}
	vips_area_unref(VIPS_AREA(background));
	VIPS_UNREF(t);
	VIPS_UNREF(rgb);
	free(data);
	vips_error_clear();
	if (cell)
		return cell;
	VipsImage *black = NULL;
	if (vips_black(&black, cw, ch, "bands", 3, NULL) || vips_linear1(black, &t, 1, SHEET_GREY, "uchar", TRUE, NULL))
		die(EXIT_TEMPFAIL, "unable to make a contact sheet cell: %s", vips_error_buffer());
	g_object_unref(black);
	return t;
}

/* The sheet of the N thumbnails NAMES in folder DFD, PNG-encoded. */
static void *sheet_make(int dfd, char **names, size_t n, size_t *len)
{
	VipsImage **cells = xcalloc(n, sizeof *cells), *sheet = NULL;
	double grey[3] = {SHEET_GREY, SHEET_GREY, SHEET_GREY};
	for (size_t i = 0; i < n; i++)
		cells[i] = contact_cell(dfd, names[i]);
	void *buf = NULL;
	VipsArrayDouble *background = vips_array_double_new(grey, 3);
	if (vips_arrayjoin(cells, &sheet, (int)n, "across", (int)(n < CONTACT_COLS ? n : CONTACT_COLS), "background",
			   background, NULL) ||
	    vips_pngsave_buffer(sheet, &buf, len, "compression", 1, "strip", TRUE, NULL))
		die(EXIT_TEMPFAIL, "unable to make the contact sheet: %s", vips_error_buffer());
	vips_area_unref(VIPS_AREA(background));
	g_object_unref(sheet);
	for (size_t i = 0; i < n; i++)
		g_object_unref(cells[i]);
	free(cells);
	return buf;
}

/* Rebuild DIR/contact.png from the thumbnails in DIR, one cell each in
 * frame order, under a lock so that the last one to rebuild sees every
 * thumbnail written before it. */
void contact_sheet(const char *dir, bool always)
{
	const char *contact = spool_file_name(SPOOL_FILE_CONTACT);
	char path[4200];
	int dfd = open_beneath(check_at, dir, O_RDONLY | O_DIRECTORY, 0);
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
		size_t len = 0;
		void *png = sheet_make(dfd, names, n, &len);
		snprintf(path, sizeof path, "%s/%s", dir, contact);
		sample_write(path, png, len);
		g_free(png);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(lock);
	close(dfd);
}
