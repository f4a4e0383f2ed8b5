/* manifest.c - a job package's members (its files of MEMBER_MIN_BYTES or
 * more: their place in the tar, size and SHA-256) as the sender finds them
 * and sends them with its offer, and as the receiver takes them: checked
 * against the size offered, in order and apart, every field bounded. */
#define _GNU_SOURCE
#include "sync.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* A member's path as one file name the receiver can index it by: bytes
 * other than letters, digits, '_', '-' and a '.' not first as %XX ('/' is
 * %2F); "-" when that is longer than a name may be. */
static char *member_key(const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	while (*path == '/')
		path++;
	char out[256];
	size_t j = 0;
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if (j + 4 >= sizeof out)
			return xstrdup("-");
		if (isascii(*c) && (isalnum(*c) || *c == '_' || *c == '-' || (*c == '.' && j > 0)))
			out[j++] = (char)*c;
		else
			j += (size_t)snprintf(out + j, sizeof out - j, "%%%02X", *c);
	}
	out[j] = 0;
	return xstrdup(j ? out : "-");
}

/* The tar's regular members big enough to offer, by libarchive; their
 * data's place is where its reader stands after each header. */
static void members_find(int fd, unsigned long long fsize, struct manifest *m)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	lseek(fd, 0, SEEK_SET);
	size_t cap = 0;
	unsigned long long end = 0;
	struct archive_entry *e;
	if (archive_read_open_fd(a, fd, 1 << 16) == ARCHIVE_OK)
		while (m->n < MEMBERS_MAX && archive_read_next_header(a, &e) == ARCHIVE_OK) {
			la_int64_t at = archive_filter_bytes(a, 0), size = archive_entry_size(e);
			const char *path = archive_entry_pathname(e);
			if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size_is_set(e) && path &&
			    size >= MEMBER_MIN_BYTES && at >= 0 && (unsigned long long)at >= end &&
			    (unsigned long long)(at + size) <= fsize) {
				if (m->n == cap)
					m->v = xrealloc(m->v, (cap = cap ? 2 * cap : 64) * sizeof *m->v);
				m->v[m->n++] = (struct member){.offset = (unsigned long long)at,
							       .size = (unsigned long long)size,
							       .path = member_key(path)};
				end = (unsigned long long)(at + size);
			}
			if (archive_read_data_skip(a) != ARCHIVE_OK)
				break;
		}
	archive_read_free(a);
}

/* One read of F: the whole file's SHA-256 and each member's. */
static int members_hash(int fd, struct manifest *m, char hex[65])
{
	struct sha256_ctx all, one;
	sha256_init(&all);
	static uint8_t buf[1 << 20];
	uint8_t md[SHA256_DIGEST_SIZE];
	unsigned long long pos = 0;
	size_t i = 0;
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		sha256_update(&all, (size_t)n, buf);
		unsigned long long end = pos + (unsigned long long)n;
		while (i < m->n && m->v[i].offset < end) {
			struct member *e = &m->v[i];
			unsigned long long from = e->offset > pos ? e->offset : pos;
			unsigned long long to = e->offset + e->size < end ? e->offset + e->size : end;
			if (from == e->offset)
				sha256_init(&one);
			sha256_update(&one, (size_t)(to - from), buf + (from - pos));
			if (to < e->offset + e->size)
				break; /* it goes on in the next read */
			sha256_digest(&one, sizeof md, md);
			sha256_hex(md, e->hex);
			i++;
		}
		pos = end;
	}
	if (n < 0 || i < m->n)
		return -1;
	sha256_digest(&all, sizeof md, md);
	sha256_hex(md, hex);
	return 0;
}

int manifest_build(FILE *f, const char *name, struct manifest *m, char hex[65])
{
	memset(m, 0, sizeof *m);
	struct stat st;
	int fd = fileno(f);
	if (fstat(fd, &st) < 0)
		return -1;
	if (name)
		members_find(fd, (unsigned long long)st.st_size, m);
	int rc = members_hash(fd, m, hex);
	rewind(f);
	if (rc < 0)
		manifest_free(m);
	return rc;
}

int manifest_send(struct wire *w, const struct manifest *m, char *buf)
{
	size_t len = 0;
	for (size_t i = 0; i < m->n; i++) {
		char line[400];
		int n = snprintf(line, sizeof line, "%llu %llu %s %s\n", m->v[i].offset, m->v[i].size, m->v[i].hex,
				 m->v[i].path);
		if (len + (size_t)n > FRAME_MAX) {
			if (frame_send(w, F_MANIFEST, buf, len) < 0)
				return -1;
			len = 0;
		}
		memcpy(buf + len, line, (size_t)n);
		len += (size_t)n;
	}
	if (len && frame_send(w, F_MANIFEST, buf, len) < 0)
		return -1;
	return frame_send(w, F_MANIFEST_END, NULL, 0);
}

static bool key_ok(const char *k)
{
	size_t n = strlen(k);
	if (!strcmp(k, "-"))
		return true;
	if (n == 0 || n > 255 || k[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c == '%') {
			if (i + 2 >= n || !strchr("0123456789ABCDEF", k[i + 1]) || !strchr("0123456789ABCDEF", k[i + 2]))
				return false;
			i += 2;
		} else if (!(isascii(c) && (isalnum(c) || c == '_' || c == '-' || c == '.'))) {
			return false;
		}
	}
	return true;
}

/* One line of the manifest: "OFFSET SIZE SHA256 KEY", after END. */
static int member_parse(char *line, unsigned long long end, unsigned long long size, struct member *e)
{
	char hex[65], key[256];
	int used = 0;
	if (sscanf(line, "%llu %llu %64s %255s%n", &e->offset, &e->size, hex, key, &used) != 4 || line[used] ||
	    !isdigit((unsigned char)line[0]))
		return -1;
	if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64 || !key_ok(key))
		return -1;
	if (e->size == 0 || e->offset < end || e->offset > size || e->size > size - e->offset)
		return -1;
	memcpy(e->hex, hex, sizeof hex);
	e->path = xstrdup(key);
	return 0;
}

int manifest_recv(struct wire *w, struct manifest *m, unsigned long long size, char *buf, char *err, size_t errsize)
{
	memset(m, 0, sizeof *m);
	size_t cap = 0;
	unsigned long long end = 0;
	for (;;) {
		char type;
		size_t n;
		if (frame_recv(w, &type, buf, &n) < 0) {
			snprintf(err, errsize, "the link ended in a manifest");
			return -1;
		}
		if (type == F_MANIFEST_END)
			return 0;
		if (type != F_MANIFEST || (n && buf[n - 1] != '\n') || strlen(buf) != n) {
			snprintf(err, errsize, "a manifest frame of '%c' and %zu bytes", type, n);
			return -1;
		}
		char *save = NULL;
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			struct member e;
			if (m->n == MEMBERS_MAX || member_parse(line, end, size, &e) < 0) {
				char shown[120];
				text_escape(line, shown, sizeof shown);
				snprintf(err, errsize, "manifest line %zu: '%s'%s", m->n + 1, shown,
					 m->n == MEMBERS_MAX ? " (too many members)" : "");
				return -1;
			}
			if (m->n == cap)
				m->v = xrealloc(m->v, (cap = cap ? 2 * cap : 64) * sizeof *m->v);
			m->v[m->n++] = e;
			end = e.offset + e.size;
		}
	}
}
