/* exr.c - an OpenEXR frame's pixels through OpenEXR's own C library: the
 * first RGB(A) layer (multilayer files too) or its one grey channel, as floats. */
#define _GNU_SOURCE
#include "check.h"

#include <openexr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct exr_stream {
	int fd;
	char error[300]; /* the library's last message */
};

static int64_t exr_pread(exr_const_context_t ctx, void *user, void *buf, uint64_t sz, uint64_t off,
			 exr_stream_error_func_ptr_t error_cb)
{
	(void)ctx;
	(void)error_cb;
	struct exr_stream *s = user;
	uint64_t got = 0;
	while (got < sz) {
		ssize_t n = pread(s->fd, (char *)buf + got, sz - got, (off_t)(off + got));
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	return (int64_t)got;
}

static int64_t exr_size(exr_const_context_t ctx, void *user)
{
	(void)ctx;
	struct stat st;
	return fstat(((struct exr_stream *)user)->fd, &st) < 0 ? -1 : (int64_t)st.st_size;
}

static void exr_on_error(exr_const_context_t ctx, exr_result_t code, const char *msg)
{
	struct exr_stream *s = NULL;
	if (exr_get_user_data(ctx, (void **)&s) != EXR_ERR_SUCCESS || !s)
		return;
	char clean[240];
	text_escape(msg ? msg : exr_get_error_code_as_string(code), clean, sizeof clean);
	snprintf(s->error, sizeof s->error, "%s", clean);
}

/* The layer of a channel name: what comes before its last dot. */
static size_t layer_len(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? (size_t)(dot - name) : 0;
}

static int channel_find(const exr_attr_chlist_t *ch, const char *layer, size_t n, const char *suffix)
{
	for (int i = 0; i < ch->num_channels; i++) {
		const char *name = ch->entries[i].name.str;
		if (layer_len(name) == n && !strncmp(name, layer, n) && !strcmp(name + n + (n ? 1 : 0), suffix))
			return i;
	}
	return -1;
}

/* Which channels make the picture, in IDX (R, G, B[, A] or one grey);
 * the number of them, 0 when none. Preferred: the unnamed layer, then one
 * named ...Combined (Blender's beauty), then the first with R, G and B. */
static int channels_pick(const exr_attr_chlist_t *ch, int idx[4], char *layer, size_t layersize)
{
	int best = -1, rank = 0;
	for (int i = 0; i < ch->num_channels; i++) {
		const char *name = ch->entries[i].name.str;
		size_t n = layer_len(name);
		if (strcmp(name + n + (n ? 1 : 0), "R") || channel_find(ch, name, n, "G") < 0 ||
		    channel_find(ch, name, n, "B") < 0)
			continue;
		int r = n == 0 ? 3 : (n >= 8 && !strncmp(name + n - 8, "Combined", 8)) ? 2 : 1;
		if (r > rank)
			best = i, rank = r;
	}
	if (best >= 0) {
		const char *name = ch->entries[best].name.str;
		size_t n = layer_len(name);
		snprintf(layer, layersize, "%.*s", (int)n, name);
		idx[0] = best;
		idx[1] = channel_find(ch, name, n, "G");
		idx[2] = channel_find(ch, name, n, "B");
		idx[3] = channel_find(ch, name, n, "A");
		return idx[3] >= 0 ? 4 : 3;
	}
	/* no colour: the grey channel Y, or else the first there is */
	int y = channel_find(ch, "", 0, "Y");
	idx[0] = y >= 0 ? y : 0;
	snprintf(layer, layersize, "%s", ch->num_channels ? ch->entries[idx[0]].name.str : "");
	return ch->num_channels ? 1 : 0;
}

/* Decode the chunk CI into F's rows from ROW, columns from COL. */
static exr_result_t chunk_decode(exr_context_t ctx, int part, const exr_chunk_info_t *ci, exr_decode_pipeline_t *dec,
				 bool *started, struct exr_frame *f, long row, long col)
{
	exr_result_t rc = *started ? exr_decoding_update(ctx, part, ci, dec) : exr_decoding_initialize(ctx, part, ci, dec);
	if (rc != EXR_ERR_SUCCESS)
		return rc;
	*started = true;
	size_t px = (size_t)f->stride * sizeof(float);
	for (int c = 0; c < dec->channel_count; c++) {
		exr_coding_channel_info_t *o = &dec->channels[c];
		o->decode_to_ptr = NULL;
		for (int b = 0; b < f->bands; b++)
			if (!strcmp(o->channel_name, f->names[b])) {
				o->decode_to_ptr = (uint8_t *)(f->px + ((size_t)row * (size_t)f->width + (size_t)col) * (size_t)f->stride + (size_t)b);
				o->user_pixel_stride = (int32_t)px;
				o->user_line_stride = (int32_t)(px * (size_t)f->width);
				o->user_bytes_per_element = 4;
				o->user_data_type = EXR_PIXEL_FLOAT;
			}
	}
	rc = exr_decoding_choose_default_routines(ctx, part, dec);
	return rc != EXR_ERR_SUCCESS ? rc : exr_decoding_run(ctx, part, dec);
}

/* Every chunk of PART at its full resolution. */
static exr_result_t part_decode(exr_context_t ctx, int part, struct exr_frame *f, int miny)
{
	exr_storage_t storage;
	exr_result_t rc = exr_get_storage(ctx, part, &storage);
	exr_decode_pipeline_t dec = EXR_DECODE_PIPELINE_INITIALIZER;
	bool started = false;
	exr_chunk_info_t ci;
	if (rc == EXR_ERR_SUCCESS && storage == EXR_STORAGE_SCANLINE) {
		int32_t lines = 1;
		rc = exr_get_scanlines_per_chunk(ctx, part, &lines);
		for (long y = 0; rc == EXR_ERR_SUCCESS && y < f->height; y += lines > 0 ? lines : 1) {
			rc = exr_read_scanline_chunk_info(ctx, part, (int)(miny + y), &ci);
			if (rc == EXR_ERR_SUCCESS)
				rc = chunk_decode(ctx, part, &ci, &dec, &started, f, y, 0);
		}
	} else if (rc == EXR_ERR_SUCCESS && storage == EXR_STORAGE_TILED) {
		uint32_t tw = 0, th = 0;
		rc = exr_get_tile_descriptor(ctx, part, &tw, &th, NULL, NULL);
		if (rc == EXR_ERR_SUCCESS && (tw == 0 || th == 0))
			rc = EXR_ERR_INVALID_ATTR;
		for (long ty = 0; rc == EXR_ERR_SUCCESS && ty * (long)th < f->height; ty++)
			for (long tx = 0; rc == EXR_ERR_SUCCESS && tx * (long)tw < f->width; tx++) {
				rc = exr_read_tile_chunk_info(ctx, part, (int)tx, (int)ty, 0, 0, &ci);
				if (rc == EXR_ERR_SUCCESS)
					rc = chunk_decode(ctx, part, &ci, &dec, &started, f, ty * (long)th,
							  tx * (long)tw);
			}
	} else if (rc == EXR_ERR_SUCCESS) {
		rc = EXR_ERR_FEATURE_NOT_IMPLEMENTED;
	}
	if (started)
		exr_decoding_destroy(ctx, &dec);
	return rc;
}

/* The part and channels to read: the first part with a colour layer, or
 * the first part's grey. */
static int part_pick(exr_context_t ctx, int *part, int idx[4], char *layer, size_t layersize)
{
	int parts = 0, bands = 0;
	if (exr_get_count(ctx, &parts) != EXR_ERR_SUCCESS || parts < 1)
		return 0;
	for (int p = parts - 1; p >= 0; p--) {
		const exr_attr_chlist_t *ch = NULL;
		int pidx[4], b;
		char l[128];
		if (exr_get_channels(ctx, p, &ch) != EXR_ERR_SUCCESS || !ch || !(b = channels_pick(ch, pidx, l, sizeof l)))
			continue;
		if (b >= 3 || bands < 3) {
			*part = p, bands = b;
			memcpy(idx, pidx, sizeof pidx);
			snprintf(layer, layersize, "%s", l);
		}
	}
	return bands;
}

int exr_read(int fd, long want_w, long want_h, struct exr_frame *f, char *why, size_t whysize)
{
	memset(f, 0, sizeof *f);
	struct exr_stream s = {.fd = fd};
	exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
	init.user_data = &s;
	init.read_fn = exr_pread;
	init.size_fn = exr_size;
	init.error_handler_fn = exr_on_error;
	init.max_image_width = init.max_image_height = 1 << 20;
	init.max_tile_width = init.max_tile_height = 1 << 16;
	exr_context_t ctx = NULL;
	int part = 0, idx[4] = {0};
	exr_attr_box2i_t box;
	int rc = -1;
	if (exr_start_read(&ctx, "frame", &init) != EXR_ERR_SUCCESS)
		goto damaged;
	if (!(f->bands = part_pick(ctx, &part, idx, f->layer, sizeof f->layer))) {
		snprintf(why, whysize, "it holds no channel to look at");
		goto out;
	}
	if (exr_get_data_window(ctx, part, &box) != EXR_ERR_SUCCESS)
		goto damaged;
	f->width = (long)box.max.x - box.min.x + 1;
	f->height = (long)box.max.y - box.min.y + 1;
	if (f->width != want_w || f->height != want_h) {
		rc = 1; /* the size alone says no: no pixel is read */
		goto out;
	}
	const exr_attr_chlist_t *ch = NULL;
	exr_get_channels(ctx, part, &ch);
	for (int b = 0; b < f->bands; b++) {
		const exr_attr_chlist_entry_t *e = &ch->entries[idx[b]];
		if (e->x_sampling != 1 || e->y_sampling != 1) {
			snprintf(why, whysize, "its channel %.100s is subsampled, which hotfarm does not read", e->name.str);
			goto out;
		}
		snprintf(f->names[b], sizeof f->names[b], "%s", e->name.str);
	}
	/* a pixel's floats: padded, so that the stride is neither one float a
	 * channel of the file nor four floats, where OpenEXR 3.1's fast paths
	 * write every channel of the file in its order (A, B, G, R; Z too),
	 * not where each channel's pointer says */
	f->stride = f->bands + 1;
	while (f->stride == ch->num_channels || f->stride == 4)
		f->stride++;
	f->px = calloc((size_t)f->width * (size_t)f->height * (size_t)f->stride, sizeof(float));
	if (!f->px)
		die(EXIT_TEMPFAIL, "out of memory decoding the output");
	exr_result_t r = part_decode(ctx, part, f, box.min.y);
	if (r == EXR_ERR_FEATURE_NOT_IMPLEMENTED) {
		snprintf(why, whysize, "it is a deep OpenEXR image, not a frame");
		goto out;
	}
	if (r != EXR_ERR_SUCCESS)
		goto damaged;
	/* the padding out: BANDS floats a pixel */
	size_t n = (size_t)f->width * (size_t)f->height;
	for (size_t i = 0; i < n; i++)
		memmove(f->px + i * (size_t)f->bands, f->px + i * (size_t)f->stride, (size_t)f->bands * sizeof(float));
	rc = 0;
	goto out;
damaged:
	snprintf(why, whysize, "OpenEXR: %s", *s.error ? s.error : "unreadable header");
out:
	if (ctx)
		exr_finish(&ctx);
	if (rc != 0) {
		free(f->px);
		f->px = NULL;
	}
	return rc;
}
