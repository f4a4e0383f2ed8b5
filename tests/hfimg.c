/* tests/hfimg.c - the images tests/t-check-formats.sh gives hf-check (PNG, JPEG, TIFF, Radiance HDR by libvips;
 * OpenEXR by its C Core API), files cut short, and a digest and the band means of decoded pixels. */

/* Usage:
 * hfimg make KIND OUT W H         write a test image (hfimg with no arguments lists the kinds)
 * hfimg truncate IN OUT FRACTION  copy the first FRACTION (0 to 1) of IN's bytes
 * hfimg pixels FILE               "WxH BANDS FORMAT SHA256" of the decoded pixels: an EXR's first R,G,B(,A)
 *                                 layer (or its one channel) as float, any other image in its own sample format
 * hfimg stat FILE                 "WxH BANDS MEAN..." as libvips loads it, a mean for each band
 *
 * Exit 0 done, 100 usage, 111 any trouble. Build:
 * cc -O1 -Wall -Wextra -o hfimg tests/hfimg.c $(pkg-config --cflags --libs vips OpenEXR) */
#include <openexr.h>
#include <vips/vips.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_USAGE = 100, EXIT_TROUBLE = 111, EXR_TILE = 32, BOMB_SIDE = 60000 };

__attribute__((format(printf, 1, 2))) _Noreturn static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hfimg: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_TROUBLE);
}

_Noreturn static void die_vips(const char *what, const char *path)
{
	die("unable to %s %s: %s", what, path, vips_error_buffer());
}

static void exrfile_check(exr_result_t rv, const char *what, const char *path)
{
	if (rv != EXR_ERR_SUCCESS)
		die("unable to %s %s: %s", what, path, exr_get_default_error_message(rv));
}

static void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size);
	if (!p)
		die("out of memory");
	return p;
}

/* ---- what the images hold ---------------------------------------------------------------------------- */

/* Colour samples on a 0 to 1 scale (linear light for float images): red ramps across, green down, blue is a
 * dim constant (so a thumbnail shows colour, not grey), alpha varies. A flat kind is grey FLAT everywhere. */
static double sample_colour(char channel, double flat, int x, int y, int w, int h)
{
	double across = (double)x / (w > 1 ? w - 1 : 1), down = (double)y / (h > 1 ? h - 1 : 1);
	if (channel == 'A')
		return flat >= 0 ? 1.0 : 0.5 + 0.5 * across;
	if (flat >= 0)
		return flat;
	switch (channel) {
	case 'R': return across;
	case 'G': return down;
	case 'B': return 0.1;
	default: return (across + down) / 2; /* a lone channel: a grey ramp */
	}
}

/* ---- PNG, JPEG, TIFF, Radiance through libvips ---------------------------------------------------------- */

enum vips_saver { SAVE_PNG, SAVE_JPEG, SAVE_TIFF, SAVE_RAD, SAVE_PPM, SAVE_VIPS };

struct vips_kind {
	const char *name;
	enum vips_saver saver;
	int bands;
	VipsBandFormat format;
	double flat;     /* < 0: a gradient */
	int extra_width; /* written this much wider than asked */
	bool dark;       /* samples x + y of 65535: a dark ramp that 8 bits would flatten */
};

static const struct vips_kind vips_kinds[] = {
	{"png8", SAVE_PNG, 3, VIPS_FORMAT_UCHAR, -1, 0, false},
	{"png16", SAVE_PNG, 3, VIPS_FORMAT_USHORT, -1, 0, false},
	{"png-gray16", SAVE_PNG, 1, VIPS_FORMAT_USHORT, -1, 0, true},
	{"png-rgba", SAVE_PNG, 4, VIPS_FORMAT_UCHAR, -1, 0, false},
	{"jpeg", SAVE_JPEG, 3, VIPS_FORMAT_UCHAR, -1, 0, false},
	{"jpeg-flat", SAVE_JPEG, 3, VIPS_FORMAT_UCHAR, 128.0 / 255, 0, false},
	{"tiff8", SAVE_TIFF, 3, VIPS_FORMAT_UCHAR, -1, 0, false},
	{"tiff16", SAVE_TIFF, 3, VIPS_FORMAT_USHORT, -1, 0, false},
	{"tiff-float", SAVE_TIFF, 3, VIPS_FORMAT_FLOAT, -1, 0, false},
	{"tiff-float-flat", SAVE_TIFF, 3, VIPS_FORMAT_FLOAT, 0.18, 0, false},
	{"tiff-wrongsize", SAVE_TIFF, 3, VIPS_FORMAT_UCHAR, -1, 1, false},
	{"hdr", SAVE_RAD, 3, VIPS_FORMAT_FLOAT, -1, 0, false},
	{"hdr-flat", SAVE_RAD, 3, VIPS_FORMAT_FLOAT, 0.18, 0, false},
	/* images libvips reads that hotfarm does not take */
	{"ppm", SAVE_PPM, 3, VIPS_FORMAT_UCHAR, -1, 0, false},
	{"vips", SAVE_VIPS, 3, VIPS_FORMAT_UCHAR, -1, 0, false},
};

static VipsInterpretation vips_kind_interpretation(const struct vips_kind *k)
{
	if (k->format == VIPS_FORMAT_FLOAT)
		return VIPS_INTERPRETATION_scRGB;
	if (k->format == VIPS_FORMAT_USHORT)
		return k->bands < 3 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_RGB16;
	return k->bands < 3 ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
}

/* The kind's pixels as a libvips image of W x H */
static VipsImage *vips_kind_image(const struct vips_kind *k, int w, int h)
{
	static const char letters[] = "RGBA";
	size_t count = (size_t)w * (size_t)h * (size_t)k->bands;
	size_t size = count * vips_format_sizeof(k->format);
	unsigned char *data = xcalloc(1, size);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int b = 0; b < k->bands; b++) {
				size_t i = ((size_t)y * (size_t)w + (size_t)x) * (size_t)k->bands + (size_t)b;
				char channel = k->bands == 1 ? 'Y' : letters[b];
				double v = sample_colour(channel, k->flat, x, y, w, h);
				if (k->format == VIPS_FORMAT_FLOAT)
					((float *)data)[i] = (float)v;
				else if (k->format == VIPS_FORMAT_USHORT)
					((uint16_t *)data)[i] = (uint16_t)(k->dark ? x + y : v * 65535 + 0.5);
				else
					data[i] = (unsigned char)(v * 255 + 0.5);
			}
	VipsImage *raw = vips_image_new_from_memory_copy(data, size, w, h, k->bands, k->format);
	free(data);
	VipsImage *image;
	if (!raw || vips_copy(raw, &image, "interpretation", vips_kind_interpretation(k), NULL))
		die_vips("make the pixels for", k->name);
	g_object_unref(raw);
	return image;
}

static void vips_kind_write(const struct vips_kind *k, const char *out, int w, int h)
{
	VipsImage *image = vips_kind_image(k, w + k->extra_width, h);
	int rc;
	switch (k->saver) {
	case SAVE_PNG:
		rc = vips_pngsave(image, out, "bitdepth", k->format == VIPS_FORMAT_USHORT ? 16 : 8, NULL);
		break;
	case SAVE_JPEG:
		rc = vips_jpegsave(image, out, "Q", 95, NULL);
		break;
	case SAVE_TIFF:
		rc = vips_tiffsave(image, out, "compression",
				   k->format == VIPS_FORMAT_UCHAR ? VIPS_FOREIGN_TIFF_COMPRESSION_DEFLATE
								  : VIPS_FOREIGN_TIFF_COMPRESSION_NONE, NULL);
		break;
	case SAVE_RAD:
		rc = vips_radsave(image, out, NULL);
		break;
	case SAVE_PPM:
		rc = vips_ppmsave(image, out, NULL);
		break;
	default:
		rc = vips_vipssave(image, out, NULL);
		break;
	}
	if (rc)
		die_vips("write", out);
	g_object_unref(image);
}

/* ---- OpenEXR through its Core API ---------------------------------------------------------------------- */

struct exrfile_kind {
	const char *name;
	exr_pixel_type_t type;
	exr_storage_t storage;
	exr_compression_t compression;
	double flat;                 /* < 0: a gradient */
	const char *channels[6];     /* NULL-terminated */
};

static const struct exrfile_kind exrfile_kinds[] = {
	{"exr-half", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, -1, {"R", "G", "B", NULL}},
	{"exr-float", EXR_PIXEL_FLOAT, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_NONE, -1, {"R", "G", "B", NULL}},
	{"exr-half-rgba", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, -1, {"R", "G", "B", "A", NULL}},
	{"exr-tiled", EXR_PIXEL_HALF, EXR_STORAGE_TILED, EXR_COMPRESSION_ZIP, -1, {"R", "G", "B", NULL}},
	{"exr-multilayer", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, -1,
	 {"ViewLayer.Combined.R", "ViewLayer.Combined.G", "ViewLayer.Combined.B", "ViewLayer.Combined.A",
	  "ViewLayer.Depth.Z", NULL}},
	/* Blender's "Z buffer" option beside the colour: a depth channel in the unnamed layer */
	{"exr-rgbz", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, -1, {"R", "G", "B", "Z", NULL}},
	{"exr-rgbaz", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, -1, {"R", "G", "B", "A", "Z", NULL}},
	{"exr-zonly", EXR_PIXEL_FLOAT, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, -1, {"Z", NULL}},
	{"exr-flat", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, 0.18, {"R", "G", "B", NULL}},
	{"exr-rgba-black", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP, 0, {"R", "G", "B", "A", NULL}},
};

/* One channel's samples, W x H floats. Alpha is opaque, as in most renders (a thumbnail shows the colours
 * whatever it makes of alpha); a depth channel beside colour holds distances in scene units (10 and more: shown
 * as colour it would be white); a channel ALONE holds a grey ramp. */
static float *exrfile_channel_plane(const char *name, double flat, int w, int h, bool alone)
{
	const char *dot = strrchr(name, '.');
	char letter = dot ? dot[1] : name[0];
	bool depth = letter == 'Z' && !alone;
	float *plane = xcalloc((size_t)w * (size_t)h, sizeof *plane);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			plane[(size_t)y * (size_t)w + (size_t)x] = depth ? (float)(10 + x + y)
								   : letter == 'A' ? 1.0f
								   : (float)sample_colour(letter, flat, x, y, w, h);
	return plane;
}

struct exrfile_writer {
	exr_context_t ctx;
	int part;
	const char *path;
	exr_encode_pipeline_t encode;
	bool started;
	const char *const *names;
	float **planes;
	int width;
};

/* Encode and write the chunk CINFO (X0, Y0: its first pixel): every channel from its plane, as floats the
 * library converts to the file's type. */
static void exrfile_write_chunk(struct exrfile_writer *wr, const exr_chunk_info_t *cinfo, int x0, int y0)
{
	exr_result_t rv = wr->started ? exr_encoding_update(wr->ctx, wr->part, cinfo, &wr->encode)
				      : exr_encoding_initialize(wr->ctx, wr->part, cinfo, &wr->encode);
	exrfile_check(rv, "start a chunk of", wr->path);
	for (int c = 0; c < wr->encode.channel_count; c++) {
		exr_coding_channel_info_t *ch = &wr->encode.channels[c];
		int i = 0;
		while (wr->names[i] && strcmp(wr->names[i], ch->channel_name) != 0)
			i++;
		if (!wr->names[i])
			die("%s: the library made up a channel %s", wr->path, ch->channel_name);
		ch->user_bytes_per_element = sizeof(float);
		ch->user_data_type = EXR_PIXEL_FLOAT;
		ch->user_pixel_stride = sizeof(float);
		ch->user_line_stride = (int32_t)sizeof(float) * wr->width;
		ch->encode_from_ptr = (const uint8_t *)(wr->planes[i] + (size_t)y0 * (size_t)wr->width + (size_t)x0);
	}
	if (!wr->started)
		exrfile_check(exr_encoding_choose_default_routines(wr->ctx, wr->part, &wr->encode), "encode", wr->path);
	wr->started = true;
	exrfile_check(exr_encoding_run(wr->ctx, wr->part, &wr->encode), "write a chunk of", wr->path);
}

static void exrfile_write_chunks(struct exrfile_writer *wr, exr_storage_t storage, int w, int h)
{
	exr_chunk_info_t cinfo;
	if (storage == EXR_STORAGE_TILED) {
		for (int ty = 0; ty * EXR_TILE < h; ty++)
			for (int tx = 0; tx * EXR_TILE < w; tx++) {
				exrfile_check(exr_write_tile_chunk_info(wr->ctx, wr->part, tx, ty, 0, 0, &cinfo), "tile", wr->path);
				exrfile_write_chunk(wr, &cinfo, tx * EXR_TILE, ty * EXR_TILE);
			}
		return;
	}
	int32_t lines = 1;
	exrfile_check(exr_get_scanlines_per_chunk(wr->ctx, wr->part, &lines), "query", wr->path);
	for (int y = 0; y < h; y += lines) {
		exrfile_check(exr_write_scanline_chunk_info(wr->ctx, wr->part, y, &cinfo), "place a chunk in", wr->path);
		exrfile_write_chunk(wr, &cinfo, 0, y);
	}
}

/* Start writing an EXR of W x H (one part) with NAMES as channels of TYPE; the header is left to the caller */
static void exrfile_begin(struct exrfile_writer *wr, const char *out, const struct exrfile_kind *k, int w, int h)
{
	exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
	memset(wr, 0, sizeof *wr);
	wr->path = out;
	wr->names = k->channels;
	wr->width = w;
	exrfile_check(exr_start_write(&wr->ctx, out, EXR_WRITE_FILE_DIRECTLY, &init), "create", out);
	exrfile_check(exr_add_part(wr->ctx, NULL, k->storage, &wr->part), "add a part to", out);
	exrfile_check(exr_initialize_required_attr_simple(wr->ctx, wr->part, w, h, k->compression), "describe", out);
	for (int i = 0; k->channels[i]; i++) {
		bool colour = strchr("RGB", k->channels[i][strlen(k->channels[i]) - 1]) != NULL;
		if (exr_add_channel(wr->ctx, wr->part, k->channels[i], k->type,
				    colour ? EXR_PERCEPTUALLY_LOGARITHMIC : EXR_PERCEPTUALLY_LINEAR, 1, 1) != EXR_ERR_SUCCESS)
			die("unable to add channel %s to %s", k->channels[i], out);
	}
	if (k->storage == EXR_STORAGE_TILED)
		exrfile_check(exr_set_tile_descriptor(wr->ctx, wr->part, EXR_TILE, EXR_TILE, EXR_TILE_ONE_LEVEL,
						  EXR_TILE_ROUND_DOWN), "tile", out);
}

static void exrfile_kind_write(const struct exrfile_kind *k, const char *out, int w, int h)
{
	struct exrfile_writer wr;
	int n = 0;
	while (k->channels[n])
		n++;
	exrfile_begin(&wr, out, k, w, h);
	exrfile_check(exr_write_header(wr.ctx), "write the header of", out);
	wr.planes = xcalloc((size_t)n, sizeof *wr.planes);
	for (int i = 0; i < n; i++)
		wr.planes[i] = exrfile_channel_plane(k->channels[i], k->flat, w, h, n == 1);
	exrfile_write_chunks(&wr, k->storage, w, h);
	if (wr.started)
		exrfile_check(exr_encoding_destroy(wr.ctx, &wr.encode), "finish encoding", out);
	exrfile_check(exr_finish(&wr.ctx), "finish", out);
	for (int i = 0; i < n; i++)
		free(wr.planes[i]);
	free(wr.planes);
}

/* A decompression bomb: a valid header claiming BOMB_SIDE x BOMB_SIDE, then a table of chunk offsets that
 * point nowhere and no pixels. The library refuses to finish such a file, so it is written to memory and
 * saved whatever the library thinks of it. */
struct memory_file {
	unsigned char *data;
	size_t size;
};

static int64_t memory_write(exr_const_context_t ctx, void *user, const void *buffer, uint64_t size, uint64_t offset,
			    exr_stream_error_func_ptr_t error)
{
	(void)ctx;
	(void)error;
	struct memory_file *mf = user;
	if (offset + size > (uint64_t)1 << 24)
		return -1;
	if (offset + size > mf->size) {
		unsigned char *grown = realloc(mf->data, offset + size);
		if (!grown)
			return -1;
		memset(grown + mf->size, 0, offset + size - mf->size);
		mf->data = grown;
		mf->size = offset + size;
	}
	memcpy(mf->data + offset, buffer, size);
	return (int64_t)size;
}

static void exrfile_bomb_write(const char *out)
{
	static const struct exrfile_kind bomb = {"exr-bomb", EXR_PIXEL_HALF, EXR_STORAGE_SCANLINE, EXR_COMPRESSION_ZIP,
					     -1, {"R", "G", "B", NULL}};
	struct memory_file mf = {NULL, 0};
	exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
	init.user_data = &mf;
	init.write_fn = memory_write;
	exr_context_t ctx;
	int part;
	exrfile_check(exr_start_write(&ctx, out, EXR_WRITE_FILE_DIRECTLY, &init), "create", out);
	exrfile_check(exr_add_part(ctx, NULL, bomb.storage, &part), "add a part to", out);
	exrfile_check(exr_initialize_required_attr_simple(ctx, part, BOMB_SIDE, BOMB_SIDE, bomb.compression), "describe", out);
	for (int i = 0; bomb.channels[i]; i++)
		if (exr_add_channel(ctx, part, bomb.channels[i], bomb.type, EXR_PERCEPTUALLY_LOGARITHMIC, 1, 1))
			die("unable to add a channel to %s", out);
	exrfile_check(exr_write_header(ctx), "write the header of", out);
	exr_finish(&ctx); /* fails: no chunk was written; the header and offset table are in memory */
	FILE *f = fopen(out, "wb");
	if (!f || fwrite(mf.data, 1, mf.size, f) != mf.size || fclose(f) != 0)
		die("unable to write %s: %s", out, strerror(errno));
	free(mf.data);
}

/* ---- reading pixels back ------------------------------------------------------------------------------- */

struct exrfile_layer {
	int part;
	int bands;
	char names[4][256]; /* R, G, B(, A) or the one channel */
};

static bool chlist_has(const exr_attr_chlist_t *cl, const char *name)
{
	for (int i = 0; i < cl->num_channels; i++)
		if (strcmp(cl->entries[i].name.str, name) == 0)
			return true;
	return false;
}

/* The first layer (in any part, in channel order) with R, G and B channels, with its A if it has one; or,
 * in a file of one channel, that channel as grey */
static bool exrfile_find_layer(exr_context_t ctx, struct exrfile_layer *layer)
{
	int parts = 0;
	const exr_attr_chlist_t *cl;
	exr_get_count(ctx, &parts);
	for (int p = 0; p < parts; p++) {
		if (exr_get_channels(ctx, p, &cl) != EXR_ERR_SUCCESS)
			continue;
		for (int i = 0; i < cl->num_channels; i++) {
			const char *name = cl->entries[i].name.str;
			size_t len = strlen(name);
			if (len == 0 || len >= 250 || name[len - 1] != 'R' || (len > 1 && name[len - 2] != '.'))
				continue;
			int prefix = (int)len - 1;
			for (int b = 0; b < 4; b++)
				snprintf(layer->names[b], sizeof layer->names[b], "%.*s%c", prefix, name, "RGBA"[b]);
			if (chlist_has(cl, layer->names[1]) && chlist_has(cl, layer->names[2])) {
				layer->part = p;
				layer->bands = chlist_has(cl, layer->names[3]) ? 4 : 3;
				return true;
			}
		}
	}
	if (parts < 1 || exr_get_channels(ctx, 0, &cl) != EXR_ERR_SUCCESS || cl->num_channels != 1)
		return false;
	layer->part = 0;
	layer->bands = 1;
	snprintf(layer->names[0], sizeof layer->names[0], "%s", cl->entries[0].name.str);
	return true;
}

struct exrfile_reader {
	exr_context_t ctx;
	const char *path;
	struct exrfile_layer layer;
	exr_attr_box2i_t window;
	float *pixels; /* interleaved, stride floats a pixel: the layer's bands, then padding */
	int stride;
	exr_decode_pipeline_t decode;
	bool started;
};

/* Decode chunk CINFO whose first pixel is (X0, Y0) in the data window into the pixel buffer. The stride (one
 * float more than the part has channels) keeps OpenEXR 3.1 to its generic unpacker: its special one for 4 half
 * channels into 16-byte pixels puts A, B, G where R, G, B belong. */
static void exrfile_read_chunk(struct exrfile_reader *rd, const exr_chunk_info_t *cinfo, int x0, int y0)
{
	int part = rd->layer.part, w = rd->window.max.x - rd->window.min.x + 1, bands = rd->layer.bands;
	int stride = rd->stride;
	exr_result_t rv = rd->started ? exr_decoding_update(rd->ctx, part, cinfo, &rd->decode)
				      : exr_decoding_initialize(rd->ctx, part, cinfo, &rd->decode);
	exrfile_check(rv, "start decoding", rd->path);
	rd->started = true;
	for (int c = 0; c < rd->decode.channel_count; c++) {
		exr_coding_channel_info_t *ch = &rd->decode.channels[c];
		ch->decode_to_ptr = NULL;
		for (int b = 0; b < bands; b++)
			if (strcmp(ch->channel_name, rd->layer.names[b]) == 0) {
				size_t first = ((size_t)y0 * (size_t)w + (size_t)x0) * (size_t)stride + (size_t)b;
				ch->decode_to_ptr = (uint8_t *)(rd->pixels + first);
				ch->user_bytes_per_element = sizeof(float);
				ch->user_data_type = EXR_PIXEL_FLOAT;
				ch->user_pixel_stride = (int32_t)sizeof(float) * stride;
				ch->user_line_stride = (int32_t)sizeof(float) * stride * w;
			}
	}
	exrfile_check(exr_decoding_choose_default_routines(rd->ctx, part, &rd->decode), "decode", rd->path);
	exrfile_check(exr_decoding_run(rd->ctx, part, &rd->decode), "decode", rd->path);
}

static void exrfile_read_chunks(struct exrfile_reader *rd, int w, int h)
{
	int part = rd->layer.part;
	exr_storage_t storage;
	exr_chunk_info_t cinfo;
	exrfile_check(exr_get_storage(rd->ctx, part, &storage), "query", rd->path);
	if (storage == EXR_STORAGE_TILED) {
		int32_t tw, th;
		exrfile_check(exr_get_tile_sizes(rd->ctx, part, 0, 0, &tw, &th), "query the tiles of", rd->path);
		for (int ty = 0; ty * th < h; ty++)
			for (int tx = 0; tx * tw < w; tx++) {
				exrfile_check(exr_read_tile_chunk_info(rd->ctx, part, tx, ty, 0, 0, &cinfo), "find a tile in",
					  rd->path);
				exrfile_read_chunk(rd, &cinfo, tx * tw, ty * th);
			}
		return;
	}
	if (storage != EXR_STORAGE_SCANLINE)
		die("%s: deep data is not an image here", rd->path);
	int32_t lines = 1;
	exrfile_check(exr_get_scanlines_per_chunk(rd->ctx, part, &lines), "query", rd->path);
	for (int y = rd->window.min.y; y <= rd->window.max.y; y += lines) {
		exrfile_check(exr_read_scanline_chunk_info(rd->ctx, part, y, &cinfo), "find a chunk in", rd->path);
		exrfile_read_chunk(rd, &cinfo, 0, cinfo.start_y - rd->window.min.y);
	}
}

static void print_digest(int w, int h, int bands, const char *format, const void *data, size_t size)
{
	gchar *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size);
	printf("%dx%d %d %s %s\n", w, h, bands, format, sum);
	g_free(sum);
}

static void exrfile_pixels(const char *path)
{
	struct exrfile_reader rd;
	exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
	memset(&rd, 0, sizeof rd);
	rd.path = path;
	exrfile_check(exr_start_read(&rd.ctx, path, &init), "read", path);
	if (!exrfile_find_layer(rd.ctx, &rd.layer))
		die("%s has no R, G, B layer and more than one channel", path);
	exrfile_check(exr_get_data_window(rd.ctx, rd.layer.part, &rd.window), "query", path);
	int w = rd.window.max.x - rd.window.min.x + 1, h = rd.window.max.y - rd.window.min.y + 1;
	if (w < 1 || h < 1 || (int64_t)w * h > (int64_t)1 << 26)
		die("%s claims %dx%d pixels: not decoding that", path, w, h);
	const exr_attr_chlist_t *cl;
	exrfile_check(exr_get_channels(rd.ctx, rd.layer.part, &cl), "query", path);
	rd.stride = cl->num_channels + 1;
	size_t pixels = (size_t)w * (size_t)h, bands = (size_t)rd.layer.bands;
	rd.pixels = xcalloc(pixels * (size_t)rd.stride, sizeof(float));
	exrfile_read_chunks(&rd, w, h);
	if (rd.started)
		exr_decoding_destroy(rd.ctx, &rd.decode);
	exr_finish(&rd.ctx);
	for (size_t i = 0; i < pixels; i++) /* the padding out */
		memmove(rd.pixels + i * bands, rd.pixels + i * (size_t)rd.stride, bands * sizeof(float));
	print_digest(w, h, rd.layer.bands, "float", rd.pixels, pixels * bands * sizeof(float));
	free(rd.pixels);
}

static bool is_exr(const char *path)
{
	unsigned char magic[4] = {0};
	FILE *f = fopen(path, "rb");
	if (!f)
		die("unable to open %s: %s", path, strerror(errno));
	size_t got = fread(magic, 1, sizeof magic, f);
	fclose(f);
	return got == 4 && magic[0] == 0x76 && magic[1] == 0x2f && magic[2] == 0x31 && magic[3] == 0x01;
}

/* PATH as libvips decodes it, any warning an error; Radiance's packed RGBE as floats */
static VipsImage *vips_open(const char *path)
{
	VipsImage *image = vips_image_new_from_file(path, "fail_on", VIPS_FAIL_ON_WARNING, NULL);
	if (!image)
		die_vips("decode", path);
	if (image->Coding == VIPS_CODING_RAD) {
		VipsImage *floats;
		if (vips_rad2float(image, &floats, NULL))
			die_vips("decode", path);
		g_object_unref(image);
		image = floats;
	}
	return image;
}

static void vips_pixels(const char *path)
{
	VipsImage *image = vips_open(path);
	size_t size = 0;
	void *data = vips_image_write_to_memory(image, &size);
	if (!data)
		die_vips("decode", path);
	print_digest(image->Xsize, image->Ysize, image->Bands, vips_enum_nick(VIPS_TYPE_BAND_FORMAT, image->BandFmt),
		     data, size);
	g_free(data);
	g_object_unref(image);
}

static void vips_stat(const char *path)
{
	VipsImage *image = vips_open(path);
	GString *line = g_string_new(NULL);
	g_string_printf(line, "%dx%d %d", image->Xsize, image->Ysize, image->Bands);
	for (int b = 0; b < image->Bands; b++) {
		VipsImage *band;
		double mean;
		if (vips_extract_band(image, &band, b, NULL) || vips_avg(band, &mean, NULL))
			die_vips("measure", path);
		g_string_append_printf(line, " %.3f", mean);
		g_object_unref(band);
	}
	printf("%s\n", line->str);
	g_string_free(line, TRUE);
	g_object_unref(image);
}

/* ---- the commands -------------------------------------------------------------------------------------- */

static void truncate_copy(const char *in, const char *out, const char *fraction)
{
	char *end;
	double keep = strtod(fraction, &end);
	if (*end || !(keep >= 0 && keep <= 1))
		die("the fraction %s is not a number from 0 to 1", fraction);
	gchar *data;
	gsize size;
	GError *error = NULL;
	if (!g_file_get_contents(in, &data, &size, &error))
		die("unable to read %s: %s", in, error->message);
	if (!g_file_set_contents(out, data, (gssize)(size * keep), &error))
		die("unable to write %s: %s", out, error->message);
	g_free(data);
}

static int side(const char *arg)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (*end || v < 1 || v > 65536)
		die("the size %s is not a number from 1 to 65536", arg);
	return (int)v;
}

static void make(const char *kind, const char *out, int w, int h)
{
	if (strcmp(kind, "exr-bomb") == 0) {
		exrfile_bomb_write(out);
		return;
	}
	for (size_t i = 0; i < sizeof vips_kinds / sizeof vips_kinds[0]; i++)
		if (strcmp(kind, vips_kinds[i].name) == 0) {
			vips_kind_write(&vips_kinds[i], out, w, h);
			return;
		}
	for (size_t i = 0; i < sizeof exrfile_kinds / sizeof exrfile_kinds[0]; i++)
		if (strcmp(kind, exrfile_kinds[i].name) == 0) {
			exrfile_kind_write(&exrfile_kinds[i], out, w, h);
			return;
		}
	die("unknown kind %s (hfimg with no arguments lists them)", kind);
}

_Noreturn static void usage(void)
{
	fputs("usage: hfimg make KIND OUT W H | truncate IN OUT FRACTION | pixels FILE | stat FILE\nkinds: exr-bomb",
	      stderr);
	for (size_t i = 0; i < sizeof vips_kinds / sizeof vips_kinds[0]; i++)
		fprintf(stderr, " %s", vips_kinds[i].name);
	for (size_t i = 0; i < sizeof exrfile_kinds / sizeof exrfile_kinds[0]; i++)
		fprintf(stderr, " %s", exrfile_kinds[i].name);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	if (VIPS_INIT(argv[0]))
		die("unable to start libvips: %s", vips_error_buffer());
	const char *command = argc > 1 ? argv[1] : "";
	if (strcmp(command, "make") == 0 && argc == 6)
		make(argv[2], argv[3], side(argv[4]), side(argv[5]));
	else if (strcmp(command, "truncate") == 0 && argc == 5)
		truncate_copy(argv[2], argv[3], argv[4]);
	else if (strcmp(command, "pixels") == 0 && argc == 3)
		is_exr(argv[2]) ? exrfile_pixels(argv[2]) : vips_pixels(argv[2]);
	else if (strcmp(command, "stat") == 0 && argc == 3)
		vips_stat(argv[2]);
	else
		usage();
	if (fflush(stdout) != 0 || ferror(stdout))
		die("unable to write the answer: %s", strerror(errno));
	vips_shutdown();
	return 0;
}
