/* cgfile.c - the small cgroup files of wrapper/cgroup.c and cgtree.c: read,
 * written and listed beneath directory descriptors, names checked. */
#define _GNU_SOURCE
#include "cgfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small files beneath a folder ----------------------------------------- */

int cg_dir_at(int at, const char *name)
{
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

bool cg_file_has(int dir, const char *name)
{
	struct stat st;
	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* NAME beneath DIR into BUF, NUL-terminated (cgroup files are small; a
 * longer one is cut); its length, or -1 with errno. */
ssize_t cg_file_get(int dir, const char *name, char *buf, size_t size)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	return (ssize_t)n;
}

/* Write TEXT to NAME beneath DIR in one write, as cgroup files want it. */
int cg_file_put(int dir, const char *name, const char *text)
{
	int fd = openat(dir, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t len = strlen(text);
	ssize_t w = write(fd, text, len);
	int e = w < 0 ? errno : EIO;
	if (close(fd) < 0 && w == (ssize_t)len)
		return -1;
	if (w != (ssize_t)len) {
		errno = e;
		return -1;
	}
	return 0;
}

/* The one number in NAME ("max" is not one). */
int cg_file_number(int dir, const char *name, unsigned long long *v)
{
	char buf[64], *end;
	if (cg_file_get(dir, name, buf, sizeof buf) < 0)
		return -1;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (end == buf || errno || (*end && *end != '\n')) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* The number of the line "KEY N" in TEXT (cpu.stat, memory.events, ...). */
bool cg_key_number(const char *text, const char *key, unsigned long long *v)
{
	size_t k = strlen(key);
	for (const char *p = text; *p;) {
		if (!strncmp(p, key, k) && p[k] == ' ') {
			char *end;
			errno = 0;
			*v = strtoull(p + k + 1, &end, 10);
			return end != p + k + 1 && !errno && (*end == '\n' || !*end);
		}
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

/* WORD is one of the words of LIST, split at SEP (and at white space). */
bool cg_word_in(const char *list, const char *word, char sep)
{
	size_t k = strlen(word);
	for (const char *p = list; *p;) {
		size_t n = 0;
		while (p[n] && p[n] != sep && p[n] != ' ' && p[n] != '\n')
			n++;
		if (n == k && !strncmp(p, word, k))
			return true;
		p += n;
		if (*p)
			p++;
	}
	return false;
}

/* A group's name: a fixed alphabet, so it is one path component and
 * never ".", "..", a control file's name or a hidden name. */
bool cg_name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || s[0] == '.' || !strcmp(s, "agent"))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

/* Append a note to WHY ("; " between notes). */
void cg_note(char *why, size_t size, const char *fmt, ...)
{
	size_t n = strlen(why);
	if (n && n + 2 < size) {
		memcpy(why + n, "; ", 3);
		n += 2;
	}
	if (n + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why + n, size - n, fmt, ap);
	va_end(ap);
}

/* ---- pids listed in cgroup.procs ------------------------------------------ */

/* Call FN(PID, ARG) for each pid in DIR's cgroup.procs (FN may be NULL:
 * counting), read in pieces: the listing may be long. How many there
 * were, or -1 with errno (FN's failure stops it). */
long cg_procs_each(int dir, int (*fn)(long pid, void *arg), void *arg)
{
	int fd = openat(dir, "cgroup.procs", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	char buf[4096];
	size_t have = 0;
	long n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		have += (size_t)r;
		if (r == 0 && have && buf[have - 1] != '\n')
			buf[have++] = '\n'; /* a last line without its newline */
		char *p = buf, *nl;
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf)))) {
			*nl = 0;
			char *end;
			long pid = strtol(p, &end, 10);
			if (end != p && !*end && pid > 0) {
				n++;
				if (fn && fn(pid, arg) < 0)
					goto fail;
			}
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (r == 0)
			break;
		if (have >= sizeof buf - 2) {
			errno = EIO;
			goto fail;
		}
	}
	close(fd);
	return n;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}
