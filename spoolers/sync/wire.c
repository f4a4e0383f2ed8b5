/* wire.c - hf-sync's wire: frames of a 4-byte length and a type, streams
 * of frames with an end, the hello, and the SHA-256 both sides check every
 * file by. Every length from the other side is checked before it is read. */
#define _GNU_SOURCE
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w, n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r, n -= (size_t)r;
	}
	return 0;
}

int frame_send(struct wire *w, char type, const void *data, size_t len)
{
	unsigned char head[5] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
				 (unsigned char)len, (unsigned char)type};
	if (write_all(w->out, head, 5) < 0 || (len && write_all(w->out, data, len) < 0))
		return -1;
	w->sent += 5 + len;
	return 0;
}

int frame_recv(struct wire *w, char *type, char *buf, size_t *len)
{
	unsigned char head[5];
	if (read_all(w->in, head, 5) < 0)
		return -1;
	size_t n = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
	if (n > FRAME_MAX) {
		warn("the peer sent a frame of %zu bytes (at most %u)", n, FRAME_MAX);
		return -1;
	}
	if (n && read_all(w->in, buf, n) < 0)
		return -1;
	buf[n] = 0;
	*type = (char)head[4];
	*len = n;
	w->received += 5 + n;
	return 0;
}

int stream_send(struct wire *w, FILE *f, char type, char end)
{
	char buf[65536];
	size_t n;
	rewind(f);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (frame_send(w, type, buf, n) < 0)
			return -1;
	return frame_send(w, end, NULL, 0);
}

int stream_recv(struct wire *w, FILE *f, char type, char end, unsigned long long limit, char *buf)
{
	unsigned long long total = 0;
	for (;;) {
		char t;
		size_t n;
		if (frame_recv(w, &t, buf, &n) < 0)
			return -1;
		if (t == end)
			break;
		if (t != type) {
			warn("the peer sent frame '%c' inside a stream of '%c'", t, type);
			return -1;
		}
		total += n;
		if (total > limit) {
			warn("the peer sent more than %llu bytes", limit);
			return -1;
		}
		if (fwrite(buf, 1, n, f) != n)
			return -1;
	}
	return fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0 ? 0 : -1;
}

int capped_put(struct capped *c, const void *data, size_t n)
{
	if (n > c->left) {
		c->over = true;
		errno = EFBIG;
		return -1;
	}
	if (fwrite(data, 1, n, c->out) != n)
		return -1;
	c->left -= n;
	return 0;
}

int hello_parse(const char *buf, const char **name)
{
	const char *const versions[] = {SYNC_VERSION_1, SYNC_VERSION};
	for (int v = 0; v < 2; v++) {
		size_t n = strlen(versions[v]);
		if (!strncmp(buf, versions[v], n) && buf[n] == ' ') {
			*name = buf + n + 1;
			return v + 1;
		}
	}
	return 0;
}

void sha256_hex(const uint8_t md[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++)
		hex[2 * i] = digits[md[i] >> 4], hex[2 * i + 1] = digits[md[i] & 15];
	hex[64] = 0;
}

int sha256_file(FILE *f, char hex[65])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	char buf[65536];
	size_t n;
	rewind(f);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sha256_update(&ctx, n, (const uint8_t *)buf);
	if (ferror(f))
		return -1;
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_digest(&ctx, sizeof md, md);
	sha256_hex(md, hex);
	rewind(f);
	return 0;
}

FILE *file_open_at(int dirfd, const char *name)
{
	int fd = open_regular(dirfd, name, O_RDONLY);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
	if (fd >= 0 && !f)
		close(fd);
	return f;
}
