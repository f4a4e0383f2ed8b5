/* held.c - the receiver's side of an offer's members: which of them it
 * holds already (the store's copy of bytes this same peer sent before:
 * they do not cross), a basis for the rest (what the peer last sent at the
 * same path, else under the same file name), the package put together
 * from the patched rest and the held copies, and the index learnt. */
#define _GNU_SOURCE
#include "held.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool known(const struct held *h, const char *hex)
{
	struct stat st;
	return fstatat(h->known, hex, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* The content the peer last sent under KEY in DIRFD (.paths or .names),
 * if it is one it sent (.known), into HEX. */
static bool index_get(const struct held *h, int dirfd, const char *key, char hex[65])
{
	FILE *f = *key && strcmp(key, "-") ? file_open_at(dirfd, key) : NULL;
	size_t n = f ? fread(hex, 1, 64, f) : 0;
	if (f)
		fclose(f);
	hex[n == 64 ? 64 : 0] = 0;
	return n == 64 && strspn(hex, "0123456789abcdef") == 64 && known(h, hex);
}

/* A path key's file name: what follows its last "%2F" ("" when that
 * starts with '.': no name to go by). */
static const char *key_name(const char *key)
{
	const char *name = key;
	for (const char *s = key; (s = strstr(s, "%2F")); s += 3)
		name = s + 3;
	return *name == '.' ? "" : name;
}

/* Member I: held ('h') when the peer sent its bytes before and the store
 * has them; else 'b' with the store's copy of the most similar file the
 * peer sent; else '-'. */
static char member_plan(struct held *h, size_t i)
{
	const struct member *e = &h->m->v[i];
	char entry[STORE_NAME_MAX + 1], hex[65];
	struct stat st;
	int fd;
	if (known(h, e->hex) && (fd = store_copy_open(h->storefd, e->hex, (long long)e->size, entry)) >= 0) {
		close(fd);
		return 'h';
	}
	const char *name = key_name(e->path);
	if (!index_get(h, h->paths, e->path, hex) && !index_get(h, h->names, name, hex))
		return '-';
	if ((fd = store_copy_open(h->storefd, hex, -1, entry)) < 0)
		return '-';
	bool ok = fstat(fd, &st) == 0 && st.st_size > 0;
	close(fd);
	if (!ok)
		return '-';
	struct held_part *p = &h->part[h->nparts++];
	*p = (struct held_part){.start = h->total, .size = (unsigned long long)st.st_size};
	memcpy(p->hex, hex, sizeof p->hex);
	h->total += p->size;
	return 'b';
}

size_t held_plan(struct held *h, const struct spool *sp, const char *peer, const struct manifest *m)
{
	memset(h, 0, sizeof *h);
	h->m = m;
	h->bad = m->n;
	h->cur_fd = -1;
	h->storefd = store_open(sp, false);
	h->known = site_dir_open(sp, peer, SITE_BASIS_KNOWN);
	h->paths = site_dir_open(sp, peer, SITE_BASIS_PATHS);
	h->names = site_dir_open(sp, peer, SITE_BASIS_NAMES);
	h->have = xmalloc(m->n + 1);
	h->part = xcalloc(m->n ? m->n : 1, sizeof *h->part);
	bool can = h->storefd >= 0 && h->known >= 0 && h->paths >= 0 && h->names >= 0;
	size_t useful = 0;
	for (size_t i = 0; i < m->n; i++) {
		h->have[i] = can ? member_plan(h, i) : '-';
		useful += h->have[i] != '-';
	}
	h->have[m->n] = 0;
	return useful;
}

void held_free(struct held *h)
{
	int *fds[] = {&h->cur_fd, &h->storefd, &h->known, &h->paths, &h->names};
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(h->have), free(h->part);
	memset(h, 0, sizeof *h);
	h->cur_fd = h->storefd = h->known = h->paths = h->names = -1;
}

/* ---- the basis: the similar files one after the other ----------------------- */

/* Up to N bytes of the basis at POS into BUF: 0 at its end, -1. */
static ssize_t basis_pread(struct held *h, void *buf, size_t n, unsigned long long pos)
{
	if (pos >= h->total)
		return 0;
	size_t at = h->cur;
	if (h->cur_fd < 0 || pos < h->part[at].start || pos >= h->part[at].start + h->part[at].size) {
		size_t lo = 0, hi = h->nparts; /* the last part starting at or before POS */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (h->part[mid].start <= pos)
				lo = mid;
			else
				hi = mid;
		}
		at = lo;
		if (h->cur_fd >= 0)
			close(h->cur_fd);
		char entry[STORE_NAME_MAX + 1];
		h->cur = at;
		h->cur_fd = store_copy_open(h->storefd, h->part[at].hex, (long long)h->part[at].size, entry);
		if (h->cur_fd < 0)
			return -1;
	}
	unsigned long long off = pos - h->part[at].start, left = h->part[at].size - off;
	return pread(h->cur_fd, buf, n < left ? n : (size_t)left, (off_t)off);
}

struct basis_stream {
	struct held *h;
	unsigned long long pos;
};

static ssize_t basis_read(void *cookie, char *buf, size_t n)
{
	struct basis_stream *s = cookie;
	ssize_t got = basis_pread(s->h, buf, n, s->pos);
	if (got > 0)
		s->pos += (unsigned long long)got;
	return got;
}

static int basis_close(void *cookie)
{
	free(cookie);
	return 0;
}

FILE *held_basis(struct held *h)
{
	struct basis_stream *s = xcalloc(1, sizeof *s);
	s->h = h;
	FILE *f = fopencookie(s, "r", (cookie_io_functions_t){.read = basis_read, .close = basis_close});
	if (!f)
		free(s);
	return f;
}

/* librsync's copy command: the basis at POS (a delta that points past its
 * end does not apply). */
static rs_result basis_copy(void *arg, rs_long_t pos, size_t *len, void **buf)
{
	ssize_t got = pos < 0 ? -1 : basis_pread(arg, *buf, *len, (unsigned long long)pos);
	if (got <= 0)
		return RS_CORRUPT;
	*len = (size_t)got;
	return RS_DONE;
}

/* ---- the package put together again ------------------------------------------- */

struct assembly {
	struct held *h;
	struct capped cap;
	unsigned long long pos;
	size_t next; /* the next member that may be held */
	bool failed;
};

static int put(struct assembly *a, const void *data, size_t n)
{
	if (capped_put(&a->cap, data, n) < 0)
		return -1;
	a->pos += n;
	return 0;
}

/* Held member I from the store's copy, checked against its hash on the way. */
static int put_held(struct assembly *a, size_t i)
{
	const struct member *e = &a->h->m->v[i];
	char entry[STORE_NAME_MAX + 1], hex[65];
	int fd = store_copy_open(a->h->storefd, e->hex, (long long)e->size, entry);
	if (fd < 0) {
		a->h->bad = i;
		return -1;
	}
	static uint8_t buf[1 << 20];
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	unsigned long long left = e->size;
	ssize_t n = 0;
	while (left && (n = read(fd, buf, left < sizeof buf ? left : sizeof buf)) > 0) {
		sha256_update(&ctx, (size_t)n, buf);
		if (put(a, buf, (size_t)n) < 0)
			break;
		left -= (unsigned long long)n;
	}
	close(fd);
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_digest(&ctx, sizeof md, md);
	sha256_hex(md, hex);
	if (left == 0 && !strcmp(hex, e->hex))
		return 0;
	if (!a->cap.over) {
		a->h->bad = i;
		if (left == 0) /* bytes that are not their name's: not shared again */
			store_copy_forget(a->h->storefd, entry);
		unlinkat(a->h->known, e->hex, 0);
	}
	return -1;
}

/* Every held member due at the assembly's place. */
static int put_due(struct assembly *a)
{
	const struct manifest *m = a->h->m;
	for (; a->next < m->n; a->next++) {
		if (a->h->have[a->next] != 'h')
			continue;
		if (m->v[a->next].offset != a->pos)
			break;
		if (put_held(a, a->next) < 0)
			return -1;
	}
	return 0;
}

static ssize_t assembly_write(void *cookie, const char *data, size_t n)
{
	struct assembly *a = cookie;
	size_t done = 0;
	while (done < n) {
		if (put_due(a) < 0) {
			a->failed = true;
			return -1;
		}
		size_t chunk = n - done;
		if (a->next < a->h->m->n && a->h->m->v[a->next].offset - a->pos < chunk)
			chunk = (size_t)(a->h->m->v[a->next].offset - a->pos);
		if (put(a, data + done, chunk) < 0) {
			a->failed = true;
			return -1;
		}
		done += chunk;
	}
	return (ssize_t)n;
}

/* The patch job run over DELTA into the assembly, buffer by buffer. */
static rs_result patch_run(struct held *h, FILE *delta, struct assembly *a)
{
	rs_job_t *job = rs_patch_begin(basis_copy, h);
	static char in[1 << 16], out[1 << 16];
	rs_buffers_t b = {.next_in = in, .next_out = out, .avail_out = sizeof out};
	rs_result r = RS_RUNNING;
	while (job && r == RS_RUNNING) {
		if (!b.eof_in && b.avail_in < sizeof in / 2) {
			memmove(in, b.next_in, b.avail_in);
			b.next_in = in;
			size_t n = fread(in + b.avail_in, 1, sizeof in - b.avail_in, delta);
			b.avail_in += n;
			b.eof_in = n == 0 && feof(delta);
			if (n == 0 && ferror(delta))
				r = RS_IO_ERROR;
		}
		if (r == RS_RUNNING && (r = rs_job_iter(job, &b)) == RS_BLOCKED)
			r = RS_RUNNING;
		size_t made = (size_t)(b.next_out - out);
		if (made && (assembly_write(a, out, made) < 0))
			r = RS_IO_ERROR;
		b.next_out = out, b.avail_out = sizeof out;
	}
	if (job)
		rs_job_free(job);
	return job ? r : RS_MEM_ERROR;
}

int held_patch(struct held *h, FILE *delta, FILE *out, unsigned long long size, bool *over)
{
	struct assembly a = {.h = h, .cap = {.out = out, .left = size}};
	rewind(delta);
	rs_result r = patch_run(h, delta, &a);
	if (r == RS_DONE && !a.failed && put_due(&a) < 0)
		r = RS_IO_ERROR;
	*over = a.cap.over;
	h->assembled = true;
	return r == RS_DONE && !a.failed && fflush(out) == 0 ? 0 : -1;
}

/* ---- what the peer is known to have sent ---------------------------------------- */

static bool range_is(int fd, const struct member *e)
{
	static uint8_t buf[1 << 20];
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	unsigned long long pos = e->offset, end = e->offset + e->size;
	while (pos < end) {
		ssize_t n = pread(fd, buf, end - pos < sizeof buf ? (size_t)(end - pos) : sizeof buf, (off_t)pos);
		if (n <= 0)
			return false;
		sha256_update(&ctx, (size_t)n, buf);
		pos += (unsigned long long)n;
	}
	uint8_t md[SHA256_DIGEST_SIZE];
	char hex[65];
	sha256_digest(&ctx, sizeof md, md);
	sha256_hex(md, hex);
	return !strcmp(hex, e->hex);
}

/* DIRFD/KEY says HEX (written aside and renamed: never half). */
static void index_put(const struct held *h, int dirfd, const char *key, const char *hex)
{
	char was[65];
	if (*key && strcmp(key, "-") && !(index_get(h, dirfd, key, was) && !strcmp(was, hex)))
		file_write_atomic(dirfd, key, hex, 64, 0644);
}

void held_learn(struct held *h, int outfd)
{
	for (size_t i = 0; h->known >= 0 && h->paths >= 0 && h->names >= 0 && i < h->m->n; i++) {
		const struct member *e = &h->m->v[i];
		if (!(h->assembled && h->have[i] == 'h') && !range_is(outfd, e))
			continue;
		int fd = open_beneath(h->known, e->hex, O_WRONLY | O_CREAT, 0644);
		if (fd >= 0) {
			futimens(fd, NULL); /* in use: kept [site] retain_days from now */
			close(fd);
		}
		index_put(h, h->paths, e->path, e->hex);
		index_put(h, h->names, key_name(e->path), e->hex);
	}
}
