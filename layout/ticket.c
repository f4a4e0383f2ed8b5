/* ticket.c - frame tickets: their names, their folders, the renames that
 * claim, settle, return and retry them, and the ticket file's lines
 * (frames, attempts, billing), which may be damaged and are parsed warily. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"

#include <ctype.h>
#include <stdarg.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
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

/* One "key = value" line of a ticket: the value when KEY matches. */
static const char *ticket_line(const char *line, const char *key)
{
	size_t k = strlen(key);
	return strncmp(line, key, k) || strncmp(line + k, " = ", 3) ? NULL : line + k + 3;
}

static void ticket_parse_frames(const char *v, struct ticket *t)
{
	char *end;
	while (*v) {
		long f = strtol(v, &end, 10);
		if (end == v)
			break;
		t->frames = xrealloc(t->frames, (t->nframes + 1) * sizeof *t->frames);
		t->frames[t->nframes++] = f;
		v = end;
	}
	t->published = t->nframes ? xcalloc(t->nframes, sizeof *t->published) : NULL;
}

/* A figure a peer or a damaged line may have made absurd: not finite or
 * negative counts 0, more than CAP counts CAP. */
static double bill_figure(double v, double cap) { return !isfinite(v) || v < 0 ? 0 : v > cap ? cap : v; }

static void ticket_parse_bill(const char *v, struct ticket *t)
{
	struct ticket_bill b = {0};
	long ok = 0;
	char bytes[32] = "";
	int got = sscanf(v, "frame=%ld ok=%ld host=%79s wall=%lf user=%lf sys=%lf rss_kb=%ld bytes=%31s", &b.frame, &ok,
			 b.owner, &b.wall, &b.user, &b.sys, &b.rss_kb, bytes);
	if (got < 2)
		return;
	b.ok = ok == 1;
	/* the frame and ok say what is published; billing needs the figures */
	if (got >= 7) {
		/* a year of wall or CPU per attempt, a TiB of memory, a PiB of output at most */
		b.wall = bill_figure(b.wall, BILL_SECONDS_MAX);
		b.user = bill_figure(b.user, BILL_SECONDS_MAX);
		b.sys = bill_figure(b.sys, BILL_SECONDS_MAX);
		b.rss_kb = b.rss_kb < 0 ? 0 : b.rss_kb > (1L << 30) ? (1L << 30) : b.rss_kb;
		b.bytes = isdigit((unsigned char)*bytes) ? strtoull(bytes, NULL, 10) : 0;
		if (b.bytes > BILL_BYTES_MAX)
			b.bytes = BILL_BYTES_MAX;
		const char *p = strstr(v, " pool=");
		size_t n = 0;
		for (p = p ? p + 6 : ""; *p && n + 1 < sizeof b.pool && (isalnum((unsigned char)*p) || strchr("._,-", *p));
		     p++)
			b.pool[n++] = *p;
		b.pool[n] = 0;
		if (t->nbills < BILL_LINES_MAX) {
			t->bills = xrealloc(t->bills, (t->nbills + 1) * sizeof *t->bills);
			t->bills[t->nbills++] = b;
		}
	}
	for (size_t i = 0; b.ok && i < t->nframes; i++)
		if (t->frames[i] == b.frame && !t->published[i]) {
			t->published[i] = true;
			t->npublished++;
		}
}

static void ticket_parse_attempt(const char *v, struct ticket *t)
{
	struct ticket_attempt a = {0};
	a.n = atoi(v);
	sscanf(v, "%*d %79s", a.owner);
	snprintf(a.text, sizeof a.text, "%s", v);
	t->attempts = xrealloc(t->attempts, (t->nattempts + 1) * sizeof *t->attempts);
	t->attempts[t->nattempts++] = a;
}

/* UNTIL OWNER REASON: a damaged time is no wait (the try is still counted
 * as waited, so the next wait is longer) */
static void ticket_parse_licence(const char *v, struct ticket *t)
{
	long long until = 0;
	if (sscanf(v, "%lld", &until) != 1 || until < 0)
		until = 0;
	t->nlicences++;
	if (until > t->licence_until)
		t->licence_until = until;
}

void ticket_parse(const char *text, struct ticket *t)
{
	memset(t, 0, sizeof *t);
	char *copy = xstrdup(text), *save = NULL;
	bool have_frames = false;
	/* frames first: billing lines mark them published */
	for (char *l = strtok_r(copy, "\n", &save); l && !have_frames; l = strtok_r(NULL, "\n", &save)) {
		const char *v = ticket_line(l, "frames");
		if (v) {
			ticket_parse_frames(v, t);
			have_frames = true;
		}
	}
	free(copy);
	if (!have_frames)
		ticket_parse_frames("", t);
	copy = xstrdup(text);
	save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *v;
		if ((v = ticket_line(l, "billing")))
			ticket_parse_bill(v, t);
		else if ((v = ticket_line(l, "attempt")))
			ticket_parse_attempt(v, t);
		else if ((v = ticket_line(l, "licence")))
			ticket_parse_licence(v, t);
		else if (ticket_line(l, "rerender")) {
			/* rendered again: what was published before is not done
			 * (its bills still count) */
			memset(t->published, 0, t->nframes * sizeof *t->published);
			t->npublished = 0;
		}
	}
	free(copy);
}

void ticket_free(struct ticket *t)
{
	free(t->frames);
	free(t->published);
	free(t->attempts);
	free(t->bills);
	memset(t, 0, sizeof *t);
}

int ticket_load(int jobfd, enum ticket_state s, const char *name, struct ticket *t)
{
	char path[256];
	snprintf(path, sizeof path, "frames/%s/%s", ticket_dir_name(s), name);
	size_t len;
	char *text = file_read_small(jobfd, path, 1 << 20, &len);
	if (!text)
		return -1;
	ticket_parse(text, t);
	free(text);
	return 0;
}

bool ticket_name_parse(const char *name, long *rank, long *first, long *last, char owner[128])
{
	long r, f, l = -1;
	int n = 0;
	if (sscanf(name, "%ld-%ld%n", &r, &f, &n) != 2 || r < 0 || f < 0 || !isdigit((unsigned char)name[0]))
		return false;
	const char *p = name + n;
	if (*p == '-') {
		int m = 0;
		if (sscanf(p + 1, "%ld%n", &l, &m) != 1 || !isdigit((unsigned char)p[1]))
			return false;
		p += 1 + m;
	}
	if (*p && *p != '@')
		return false;
	if (owner)
		snprintf(owner, 128, "%s", *p ? p + 1 : "");
	if (rank)
		*rank = r;
	if (first)
		*first = f;
	if (last)
		*last = l < 0 ? f : l;
	return true;
}

int ticket_create(int jobfd, const char *name, const long *frames, size_t n)
{
	struct buf b = {0};
	buf_printf(&b, "frames =");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, " %ld", frames[i]);
	buf_printf(&b, "\n");
	char path[128];
	snprintf(path, sizeof path, "frames/todo/%s", name);
	int fd = openat(jobfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	int rc = fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len ? -1 : 0;
	if (fd >= 0 && close(fd) < 0)
		rc = -1;
	buf_free(&b);
	return rc;
}

/* Append one line to frames/active/T@OWNER: newlines in it become spaces. */
static int ticket_note(int jobfd, const char *ticket, const char *owner, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int ticket_note(int jobfd, const char *ticket, const char *owner, const char *fmt, ...)
{
	char path[256], line[1024];
	snprintf(path, sizeof path, "frames/active/%s@%s", ticket, owner);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	int fd = open_regular(jobfd, path, O_WRONLY | O_APPEND);
	int rc = fd < 0 || write(fd, line, (size_t)n) != n ? -1 : 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

int ticket_note_attempt(int jobfd, const char *ticket, const char *owner, int attempt, const char *reason)
{
	/* marked in failures/ first: the job's page lists those tickets
	 * alone, never the million that did not fail */
	int dir = job_subdir_open(jobfd, JOB_DIR_FAILURES, true);
	if (dir >= 0) {
		int fd = openat(dir, ticket, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		close(dir);
	}
	return ticket_note(jobfd, ticket, owner, "attempt = %d %s %s", attempt, owner, reason);
}

int ticket_note_nospace(int jobfd, const char *ticket, const char *owner, const char *reason)
{
	return ticket_note(jobfd, ticket, owner, "nospace = %s %s (the disk was full; not counted as an attempt)", owner,
			   reason);
}

int ticket_note_licence(int jobfd, const char *ticket, const char *owner, long long until, const char *reason)
{
	return ticket_note(jobfd, ticket, owner, "licence = %lld %s %s (no licence; not counted as an attempt)", until,
			   owner, reason);
}

int ticket_note_billing(int jobfd, const char *ticket, const struct ticket_bill *b)
{
	return ticket_note(jobfd, ticket, b->owner,
			   "billing = frame=%ld ok=%d host=%s wall=%.3f user=%.3f sys=%.3f rss_kb=%ld bytes=%llu pool=%s",
			   b->frame, b->ok, b->owner, b->wall, b->user, b->sys, b->rss_kb, b->bytes,
			   *b->pool ? b->pool : "-");
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
	const char *to = "todo";
	struct ticket t;
	if (ticket_load(jobfd, TICKET_ACTIVE, active_name, &t) == 0) {
		if (t.nframes > 0 && t.npublished == t.nframes)
			to = "done";
		ticket_free(&t);
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

void ticket_walk(int jobfd, enum ticket_state s, void (*fn)(const struct ticket *t, const char *name, void *arg),
		 void *arg)
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
		struct ticket t;
		if (ticket_load(jobfd, s, e->d_name, &t) < 0)
			continue;
		fn(&t, e->d_name, arg);
		ticket_free(&t);
	}
	closedir(d);
}

struct bills_each {
	void (*fn)(const struct ticket_bill *b, void *arg);
	void *arg;
};

static void bills_of_ticket(const struct ticket *t, const char *name, void *arg)
{
	(void)name;
	const struct bills_each *e = arg;
	for (size_t i = 0; i < t->nbills; i++)
		e->fn(&t->bills[i], e->arg);
}

void job_bills_each(int jobfd, void (*fn)(const struct ticket_bill *b, void *arg), void *arg)
{
	struct bills_each e = {fn, arg};
	enum ticket_state all[] = {TICKET_TODO, TICKET_ACTIVE, TICKET_DONE, TICKET_FAILED};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		ticket_walk(jobfd, all[i], bills_of_ticket, &e);
}

static void billing_add(const struct ticket_bill *k, void *arg)
{
	struct billing *b = arg;
	b->attempts++;
	b->frames += k->ok;
	b->wall += k->wall, b->user += k->user, b->sys += k->sys;
	b->bytes += k->bytes;
	if (k->rss_kb > b->max_rss_kb)
		b->max_rss_kb = k->rss_kb;
	char host[80];
	snprintf(host, sizeof host, "%s", k->owner);
	char *dot = strrchr(host, '.');
	if (dot)
		*dot = 0; /* HOST.SLOT -> HOST */
	if (*host && b->hosts.n < 1000 && !strlist_has(&b->hosts, host))
		strlist_add(&b->hosts, host);
}

static void billing_reason(const struct ticket *t, const char *name, void *arg)
{
	struct billing *b = arg;
	if (b->reasons.n >= 5)
		return;
	char r[400];
	snprintf(r, sizeof r, "%s: %s", name, t->nattempts ? t->attempts[t->nattempts - 1].text : "failed");
	strlist_add(&b->reasons, r);
}

static void billing_published(const struct ticket *t, const char *name, void *arg)
{
	(void)name;
	((struct billing *)arg)->published += (long)t->npublished;
}

void billing_sum(int jobfd, struct billing *b)
{
	job_bills_each(jobfd, billing_add, b);
	ticket_walk(jobfd, TICKET_FAILED, billing_reason, b);
	ticket_walk(jobfd, TICKET_DONE, billing_published, b);
	ticket_walk(jobfd, TICKET_FAILED, billing_published, b);
}

/* Ticket T of FROM/ to todo/ for another go: its attempt lines set aside
 * as "retried" lines, NOTE (when not NULL) added, rewritten in place under
 * its FROM/ name, then moved: one rename. */
static int ticket_again(int jobfd, enum ticket_state from, const char *ticket, const char *note)
{
	char dir[64], path[160], dest[160];
	snprintf(dir, sizeof dir, "frames/%s", ticket_dir_name(from));
	snprintf(path, sizeof path, "%s/%s", dir, ticket);
	snprintf(dest, sizeof dest, "frames/%s/%s", ticket_dir_name(TICKET_TODO), ticket);
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
	if (note)
		buf_printf(&b, "%s\n", note);
	int dfd = dir_walk(jobfd, dir, false);
	int rc = dfd < 0 ? -1 : file_write_atomic(dfd, ticket, b.data, b.len, 0644);
	if (dfd >= 0)
		close(dfd);
	buf_free(&b);
	if (rc < 0)
		return -1;
	return renameat(jobfd, path, jobfd, dest);
}

int ticket_retry(int jobfd, const char *ticket)
{
	return ticket_again(jobfd, TICKET_FAILED, ticket, NULL);
}

int ticket_rerender(int jobfd, const char *ticket, const char *who)
{
	char iso[32], note[200];
	time_iso(now_us(), iso);
	snprintf(note, sizeof note, "rerender = %s %s", iso, who);
	return ticket_again(jobfd, TICKET_DONE, ticket, note);
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

void ticket_held_name(char *out, size_t outsize, const char *ticket, const char *owner)
{
	snprintf(out, outsize, "%s@%s", ticket, owner);
}

int ticket_list(int jobfd, enum ticket_state s, struct strlist *out)
{
	char path[32];
	snprintf(path, sizeof path, "frames/%s", ticket_dir_name(s));
	int rc = dir_names(jobfd, path, out);
	strlist_sort(out);
	return rc;
}

bool ticket_exists(int jobfd, enum ticket_state s, const char *name)
{
	char path[160];
	snprintf(path, sizeof path, "frames/%s/%s", ticket_dir_name(s), name);
	return faccessat(jobfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}
