/* ticket.c - frame tickets: their names, their folders, the renames that
 * claim, settle, return and retry them, and the ticket file's lines
 * (frames, attempts, billing), which may be damaged and are parsed warily. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void ticket_format(char out[64], long rank, long first, long last)
{
	if (first == last)
		snprintf(out, 64, "%06ld-%07ld", rank, first);
	else
		snprintf(out, 64, "%06ld-%07ld-%07ld", rank, first, last);
}

long ticket_count(int jobfd, enum ticket_state s)
{
	char path[32];
	snprintf(path, sizeof path, "frames/%s", ticket_dir_name(s));
	DIR *d = dir_open(jobfd, path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int ticket_claim(int jobfd, const char *ticket, const char *owner)
{
	char from[128], to[256];
	snprintf(from, sizeof from, "frames/todo/%s", ticket);
	snprintf(to, sizeof to, "frames/active/%s@%s", ticket, owner);
	if (renameat(jobfd, from, jobfd, to) == 0)
		return 0;
	int e = errno;
	/* the target name is ours alone: if it is there, we won */
	if (faccessat(jobfd, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	errno = e;
	return -1;
}

int ticket_finish(int jobfd, const char *ticket, const char *owner, enum ticket_state to)
{
	char from[256], dest[128];
	snprintf(from, sizeof from, "frames/active/%s@%s", ticket, owner);
	snprintf(dest, sizeof dest, "frames/%s/%s", ticket_dir_name(to), ticket);
	if (renameat(jobfd, from, jobfd, dest) == 0)
		return 0;
	int e = errno;
	if (faccessat(jobfd, dest, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    faccessat(jobfd, from, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	errno = e;
	return -1;
}

size_t ticket_frames(const char *text, long **frames, bool **done, size_t *n)
{
	*frames = NULL;
	*n = 0;
	if (done)
		*done = NULL;
	const char *l = text;
	while (l && *l && strncmp(l, "frames =", 8))
		if ((l = strchr(l, '\n')))
			l++;
	if (l && *l) {
		const char *p = l + 8;
		char *end;
		while (*p && *p != '\n') {
			long f = strtol(p, &end, 10);
			if (end == p)
				break;
			*frames = xrealloc(*frames, (*n + 1) * sizeof **frames);
			(*frames)[(*n)++] = f;
			p = end;
		}
	}
	size_t published = 0;
	if (!done)
		return 0;
	*done = *n ? xmalloc(*n * sizeof **done) : NULL;
	for (size_t i = 0; i < *n; i++)
		(*done)[i] = false;
	for (l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		long f;
		int ok;
		if (strncmp(l, "billing = frame=", 16) || sscanf(l + 16, "%ld ok=%d", &f, &ok) != 2 || ok != 1)
			continue;
		for (size_t i = 0; i < *n; i++)
			if ((*frames)[i] == f && !(*done)[i]) {
				(*done)[i] = true;
				published++;
			}
	}
	return published;
}

int ticket_return(int jobfd, const char *active_name)
{
	char ticket[128], from[256], dest[160];
	snprintf(ticket, sizeof ticket, "%s", active_name);
	char *at = strchr(ticket, '@');
	if (!at) {
		errno = EINVAL;
		return -1;
	}
	*at = 0;
	snprintf(from, sizeof from, "frames/active/%s", active_name);
	/* one read: a ticket is a few lines */
	const char *to = "todo";
	int fd = openat(jobfd, from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		char *text = xmalloc(65536);
		ssize_t r = read(fd, text, 65535);
		close(fd);
		if (r > 0) {
			text[r] = 0;
			long *frames;
			bool *done;
			size_t n;
			if (ticket_frames(text, &frames, &done, &n) == n && n > 0)
				to = "done";
			free(frames);
			free(done);
		}
		free(text);
	}
	snprintf(dest, sizeof dest, "frames/%s/%s", to, ticket);
	return renameat(jobfd, from, jobfd, dest);
}

int tickets_none(int jobfd, enum ticket_state s)
{
	char path[32];
	snprintf(path, sizeof path, "frames/%s", ticket_dir_name(s));
	DIR *d = dir_open(jobfd, path);
	if (!d)
		return -1;
	struct dirent *e;
	int none = 1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			none = 0;
			break;
		}
	closedir(d);
	return none;
}

int job_counts(int jobfd, struct job_counts *c)
{
	c->todo = ticket_count(jobfd, TICKET_TODO);
	c->active = ticket_count(jobfd, TICKET_ACTIVE);
	c->done = ticket_count(jobfd, TICKET_DONE);
	c->failed = ticket_count(jobfd, TICKET_FAILED);
	return (c->todo < 0 || c->active < 0 || c->done < 0 || c->failed < 0) ? -1 : 0;
}

void billing_read(int jobfd, enum ticket_state s, struct billing *b)
{
	char path[32];
	snprintf(path, sizeof path, "frames/%s", ticket_dir_name(s));
	DIR *d = dir_open(jobfd, path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		size_t len;
		char *text = file_read_small(dirfd(d), e->d_name, 1 << 20, &len);
		if (!text)
			continue;
		char *save = NULL, *last_attempt = NULL;
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "attempt = ", 10))
				last_attempt = line + 10;
			if (strncmp(line, "billing = ", 10))
				continue;
			double wall = 0, user = 0, sys = 0;
			long rss = 0, frame = 0, ok = 0;
			unsigned long long bytes = 0;
			char host[80] = "";
			if (sscanf(line + 10, "frame=%ld ok=%ld host=%79s wall=%lf user=%lf sys=%lf rss_kb=%ld bytes=%llu",
				   &frame, &ok, host, &wall, &user, &sys, &rss, &bytes) < 7)
				continue;
			b->attempts++;
			b->frames += ok;
			b->wall += wall, b->user += user, b->sys += sys;
			b->bytes += bytes;
			if (rss > b->max_rss_kb)
				b->max_rss_kb = rss;
			char *dot = strrchr(host, '.');
			if (dot)
				*dot = 0; /* HOST.SLOT -> HOST */
			if (*host && !strlist_has(&b->hosts, host))
				strlist_add(&b->hosts, host);
		}
		if (s == TICKET_FAILED && b->reasons.n < 5) {
			char r[400];
			snprintf(r, sizeof r, "%s: %s", e->d_name, last_attempt ? last_attempt : "failed");
			strlist_add(&b->reasons, r);
		}
		free(text);
	}
	closedir(d);
}

int ticket_retry(int jobfd, const char *ticket)
{
	char path[160], dest[160];
	snprintf(path, sizeof path, "frames/failed/%s", ticket);
	snprintf(dest, sizeof dest, "frames/todo/%s", ticket);
	size_t len;
	char *text = file_read_small(jobfd, path, 1 << 20, &len);
	if (!text)
		return -1;
	struct buf b = {0};
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "attempt = ", 10))
			buf_printf(&b, "retried = %s\n", line + 10);
		else
			buf_printf(&b, "%s\n", line);
	}
	free(text);
	/* rewritten in place under its failed/ name, then moved: one rename */
	int ffd = openat(jobfd, "frames/failed", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = ffd < 0 ? -1 : file_write_atomic(ffd, ticket, b.data, b.len, 0644);
	if (ffd >= 0)
		close(ffd);
	buf_free(&b);
	if (rc < 0)
		return -1;
	return renameat(jobfd, path, jobfd, dest);
}

int ticket_place(int jobfd, int srcdir, const char *src, const char *ticket, enum ticket_state to)
{
	char path[128];
	snprintf(path, sizeof path, "frames/%s/%s", ticket_dir_name(to), ticket);
	if (strchr(ticket, '/') || ticket[0] == '.' || renameat(srcdir, src, jobfd, path) < 0)
		return -1;
	snprintf(path, sizeof path, "frames/todo/%s", ticket);
	if (unlinkat(jobfd, path, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int ticket_settle(int jobfd, const char *ticket, enum ticket_state to)
{
	char from[128], dst[128];
	snprintf(from, sizeof from, "frames/todo/%s", ticket);
	snprintf(dst, sizeof dst, "frames/%s/%s", ticket_dir_name(to), ticket);
	return renameat(jobfd, from, jobfd, dst);
}
