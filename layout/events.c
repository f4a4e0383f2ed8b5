/* events.c - the event stream, SPOOL/run/events.jsonl: events numbered under
 * a lock and appended as JSON lines, rotated by size, and read back across
 * rotations. Distrusts every value it writes (escaped) and every line it reads. */
#define _GNU_SOURCE
#include "events.h"
#include "layout_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const event_words[EVENT_KIND_COUNT] = {
	"arrived", "accepted",  "rejected", "queued",    "started", "frame_done",
	"frame_failed", "frame_stopped", "state", "host_up", "host_lost", "link_up", "link_down",
};

const char *event_word(enum event_kind k) { return k >= 0 && k < EVENT_KIND_COUNT ? event_words[k] : "unknown"; }

/* ---- JSON ------------------------------------------------------------------------ */

/* The length of the valid UTF-8 character at S (N bytes there), 0 when
 * it is not one (bad lead or follower, overlong, a surrogate, too high). */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned long cp, min;
	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : len;
}

void json_string_put(struct buf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), room = max - 2;
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		char esc[8];
		const char *out = esc;
		size_t len = utf8_char(p + i, n - i), outlen;
		if (len == 0) {
			out = "\\ufffd", outlen = 6, len = 1;
		} else if (p[i] == '"' || p[i] == '\\') {
			esc[0] = '\\', esc[1] = (char)p[i], outlen = 2;
		} else if (p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
			esc[0] = '\\', esc[1] = p[i] == '\n' ? 'n' : p[i] == '\t' ? 't' : 'r', outlen = 2;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			outlen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", p[i]);
		} else if (p[i] == 0xc2 && p[i + 1] < 0xa0) {
			/* U+0080 to U+009F: C1 controls (U+009B starts a terminal's CSI) */
			outlen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", p[i + 1]);
		} else {
			out = (const char *)p + i, outlen = len;
		}
		if (outlen > room)
			break;
		buf_add(b, out, outlen);
		room -= outlen;
		i += len;
	}
	buf_add(b, "\"", 1);
}

/* ,"KEY": and S as a JSON string of at most MAX bytes, when S is not NULL. */
static void field_string(struct buf *b, const char *key, const char *s, size_t max)
{
	if (!s)
		return;
	buf_printf(b, ",\"%s\":", key);
	json_string_put(b, s, max);
}

size_t events_format(char out[EVENTS_LINE_MAX], int64_t seq, int64_t us, const struct event *e)
{
	struct buf b = {0};
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char when[32];
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(&b, "{\"seq\":%lld,\"time\":\"%s.%06dZ\",\"event\":\"%s\"", (long long)seq, when,
		   (int)(us % 1000000), event_word(e->kind));
	/* the longest each value may be, escaped: their sum and the rest fit in a line */
	field_string(&b, "job", e->job, 400);
	if (e->kind == EVENT_FRAME_DONE || e->kind == EVENT_FRAME_FAILED)
		buf_printf(&b, ",\"frame\":%ld", e->frame);
	field_string(&b, "host", e->host, 200);
	if (e->kind == EVENT_FRAME_DONE || e->kind == EVENT_FRAME_FAILED)
		buf_printf(&b, ",\"attempt\":%d,\"seconds\":%.3f", e->attempt,
			   e->seconds >= 0 && e->seconds < 1e12 ? e->seconds : 0.0);
	field_string(&b, "state", e->state, 40);
	field_string(&b, "from", e->from, 40);
	field_string(&b, "site", e->site, 100);
	field_string(&b, "reason", e->reason, 2400);
	field_string(&b, "prog", progname, 100);
	buf_add(&b, "}\n", 2);
	size_t n = b.len < EVENTS_LINE_MAX ? b.len : EVENTS_LINE_MAX;
	memcpy(out, b.data, n);
	buf_free(&b);
	return n;
}

/* ---- writing ---------------------------------------------------------------------- */

/* The name of rotated file N (events.N.jsonl), or of the log itself (N = 0). */
static void events_file_name(int n, char out[64])
{
	if (n == 0)
		snprintf(out, 64, "%s", spool_file_name(SPOOL_FILE_EVENTS));
	else
		snprintf(out, 64, "events.%d.jsonl", n);
}

bool events_parse(const char *line, size_t len, int64_t *seq, const char **job, size_t *joblen)
{
	static const char head[] = "{\"seq\":";
	if (len < sizeof head || memcmp(line, head, sizeof head - 1) || line[len - 1] != '}')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20)
			return false;
	const char *p = line + sizeof head - 1, *end = line + len;
	int64_t n = 0;
	if (p >= end || *p < '0' || *p > '9')
		return false;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (*p - '0')) > (int64_t)1 << 60)
			return false;
	*seq = n;
	/* ,"time":"...","event":"WORD" then maybe ,"job":"ID" (a quote in a
	 * value is always escaped, so these cannot be found inside one) */
	static const char key[] = ",\"job\":\"";
	*job = NULL, *joblen = 0;
	const char *ev = memmem(line, len, ",\"event\":\"", 10);
	const char *evend = ev ? memchr(ev + 10, '"', (size_t)(end - ev - 10)) : NULL;
	if (!evend)
		return false;
	if ((size_t)(end - evend) > sizeof key && !memcmp(evend + 1, key, sizeof key - 1)) {
		*job = evend + sizeof key;
		const char *q = *job;
		while (q < end && *q != '"')
			q += *q == '\\' ? 2 : 1;
		*joblen = (size_t)(q - *job);
	}
	return true;
}

/* The number of the last line of run file NAME, 0 when it has none
 * (missing, empty); -1 with errno. *NEWLINE: whether it ends in one. */
static int64_t events_tail_seq(int runfd, const char *name, bool *newline)
{
	*newline = true;
	int fd = open_regular(runfd, name, O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	char buf[2 * EVENTS_LINE_MAX];
	int64_t seq = 0;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	off_t at = st.st_size > (off_t)sizeof buf ? st.st_size - (off_t)sizeof buf : 0;
	ssize_t n = st.st_size ? pread(fd, buf, (size_t)(st.st_size - at), at) : 0;
	close(fd);
	if (n < 0)
		return -1;
	*newline = n == 0 || buf[n - 1] == '\n';
	/* back from the end: the last whole line that parses */
	size_t end = (size_t)n;
	while (end > 0) {
		if (buf[end - 1] != '\n') {
			end--;
			continue;
		}
		size_t start = end - 1;
		while (start > 0 && buf[start - 1] != '\n')
			start--;
		const char *job;
		size_t joblen;
		if ((start > 0 || at == 0) && events_parse(buf + start, end - 1 - start, &seq, &job, &joblen))
			return seq;
		end = start;
	}
	return 0;
}

/* Rotate: events.(K-1) -> events.K, ..., events.jsonl -> events.1 (the
 * oldest replaced). Under the lock. */
static int events_rotate(const struct spool *sp)
{
	int run = spool_fd(sp, DIR_RUN);
	char from[64], to[64];
	for (int i = (int)sp->conf.events_keep; i >= 1; i--) {
		events_file_name(i - 1, from);
		events_file_name(i, to);
		if (renameat(run, from, run, to) < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

/* The number the lock file LOCK keeps (the last one given), 0 when none. */
static int64_t events_lock_seq(int lock)
{
	char text[32];
	ssize_t n = pread(lock, text, sizeof text - 1, 0);
	long v;
	if (n <= 0)
		return 0;
	text[n] = 0;
	text[strcspn(text, "\n")] = 0;
	return parse_long(text, 1, LONG_MAX, &v) ? v : 0;
}

/* Numbered, maybe rotated, appended: under the lock (LOCK, which also
 * keeps the last number given). */
static int events_append(const struct spool *sp, int lock, const struct event *e)
{
	int run = spool_fd(sp, DIR_RUN);
	char name[64], line[EVENTS_LINE_MAX + 1];
	bool newline, nl1;
	events_file_name(0, name);
	/* the larger of the log's last and the lock file's: the log may have
	 * been removed, the lock file's number not written (a crash) */
	int64_t seq = events_tail_seq(run, name, &newline), kept;
	if (seq < 0)
		return -1;
	if ((kept = events_lock_seq(lock)) > seq)
		seq = kept;
	/* neither (the lock file made anew, the log just rotated or never
	 * written): the newest rotated file's last, so that none comes twice */
	for (int i = 1; seq == 0 && i <= sp->conf.events_keep; i++) {
		events_file_name(i, name);
		seq = events_tail_seq(run, name, &nl1);
	}
	if (seq < 0)
		return -1;
	/* a line cut short (a crash of the host) ends before ours begins */
	line[0] = '\n';
	size_t len = events_format(line + !newline, seq + 1, now_us(), e) + !newline;
	int fd = run_log_open(sp, SPOOL_FILE_EVENTS);
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 &&
	    (unsigned long long)st.st_size + len > sp->conf.events_max_bytes) {
		close(fd);
		if (events_rotate(sp) < 0)
			return -1;
		len -= !newline;
		memmove(line, line + !newline, len);
		fd = run_log_open(sp, SPOOL_FILE_EVENTS);
	}
	if (fd < 0)
		return -1;
	ssize_t n;
	while ((n = write(fd, line, len)) < 0 && errno == EINTR)
		;
	int e2 = n < 0 ? errno : (size_t)n < len ? ENOSPC : 0;
	if (close(fd) < 0 && !e2)
		e2 = errno;
	char text[32];
	int tn = snprintf(text, sizeof text, "%lld\n", (long long)(seq + 1));
	if (!e2 && (pwrite(lock, text, (size_t)tn, 0) != tn || ftruncate(lock, tn) < 0))
		warn("unable to keep the events' number in %s/%s: %s", spool_dir_name(DIR_RUN),
		     spool_file_name(SPOOL_FILE_EVENTS_LOCK), strerror(errno));
	errno = e2;
	return e2 ? -1 : 0;
}

/* The lock, opened (made when missing: the farm user's when root makes it). */
static int events_lock(const struct spool *sp)
{
	int fd = lock_open_brief(spool_fd(sp, DIR_RUN), spool_file_name(SPOOL_FILE_EVENTS_LOCK), EVENTS_LOCK_MS);
	struct stat st;
	if (fd >= 0 && geteuid() == 0 && sp->farm_uid != 0 && fstat(fd, &st) == 0 && st.st_uid != sp->farm_uid &&
	    fchown(fd, sp->farm_uid, (gid_t)-1) < 0)
		warn("unable to give %s/%s to the farm's user: %s", spool_dir_name(DIR_RUN),
		     spool_file_name(SPOOL_FILE_EVENTS_LOCK), strerror(errno));
	return fd;
}

void events_record(const struct spool *sp, const struct event *e)
{
	int lock = events_lock(sp);
	int rc = lock < 0 ? -1 : events_append(sp, lock, e), err = errno;
	if (lock >= 0)
		close(lock);
	if (rc < 0) {
		char job[200] = "";
		if (e->job)
			text_escape(e->job, job, sizeof job);
		warn("unable to record the event %s%s%s in %s/%s: %s", event_word(e->kind), *job ? " of " : "", job,
		     spool_dir_name(DIR_RUN), spool_file_name(SPOOL_FILE_EVENTS), strerror(err));
	}
}

void events_job_started(const struct spool *sp, int jobfd, const char *job, const char *host)
{
	int fd = job_file_open(jobfd, JOB_FILE_STARTED, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK, 0644);
	if (fd < 0)
		return; /* there already: said before */
	close(fd);
	events_record(sp, &(struct event){.kind = EVENT_STARTED, .job = job, .host = host});
}

void events_link(const struct spool *sp, const char *peer, bool up, const char *why)
{
	int dir = site_dir_open(sp, peer, SITE_TOP);
	if (dir < 0)
		return;
	const char *name = spool_file_name(SPOOL_FILE_LINK_STATE), *word = up ? "up\n" : "down\n";
	char *was = file_read_small(dir, name, 64, NULL);
	if (!was || strcmp(was, word)) {
		if (file_write_atomic(dir, name, word, strlen(word), 0644) < 0)
			warn("unable to write sites/%s/%s: %s", peer, name, strerror(errno));
		events_record(sp, &(struct event){.kind = up ? EVENT_LINK_UP : EVENT_LINK_DOWN, .site = peer,
						  .reason = why});
	}
	free(was);
	close(dir);
}

/* ---- reading ---------------------------------------------------------------------- */

/* One line (no newline) of the stream: handed on when well formed, new
 * and of the job asked for. */
static void events_take(struct events_reader *r, const char *line, size_t len)
{
	int64_t seq;
	const char *job;
	size_t joblen;
	if (!events_parse(line, len, &seq, &job, &joblen)) {
		r->skipped++;
		return;
	}
	if (seq <= r->since)
		return;
	r->since = seq;
	if (!r->job || (job && joblen == strlen(r->job) && !memcmp(job, r->job, joblen)))
		r->each(line, len, r->arg);
}

/* Read FD from where it is to its end, handing on each whole line; a
 * line read in part waits in R for its end. */
static int events_drain(struct events_reader *r, int fd)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		const char *p = buf, *end = buf + n, *nl;
		while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
			size_t len = (size_t)(nl - p);
			if (r->partlen) {
				if (r->partlen + len <= sizeof r->part) {
					memcpy(r->part + r->partlen, p, len);
					events_take(r, r->part, r->partlen + len);
				} else {
					r->skipped++;
				}
				r->partlen = 0;
			} else {
				events_take(r, p, len);
			}
			p = nl + 1;
		}
		size_t rest = (size_t)(end - p);
		if (r->partlen + rest <= sizeof r->part)
			memcpy(r->part + r->partlen, p, rest);
		r->partlen += rest; /* past the buffer: skipped at its end */
	}
}

/* The end of a file: a last line without its newline was cut short. */
static void events_file_end(struct events_reader *r)
{
	if (r->partlen)
		r->skipped++;
	r->partlen = 0;
}

/* The stream's files, oldest first, opened under the lock (when this
 * user may take it: else a rotation meanwhile may hide a file, and the
 * numbers keep what is handed on from coming twice). */
static int events_open_all(const struct spool *sp, int fds[], struct stat sts[])
{
	int run = spool_fd(sp, DIR_RUN), n = 0;
	int lock = open_regular(run, spool_file_name(SPOOL_FILE_EVENTS_LOCK), O_RDONLY);
	if (lock >= 0 && lock_take(lock, EVENTS_LOCK_MS) < 0) {
		close(lock);
		lock = -1;
	}
	for (int i = (int)sp->conf.events_keep; i >= 0; i--) {
		char name[64];
		events_file_name(i, name);
		int fd = open_regular(run, name, O_RDONLY);
		if (fd < 0 && errno != ENOENT) {
			int e = errno;
			while (n > 0)
				close(fds[--n]);
			if (lock >= 0)
				close(lock);
			errno = e;
			return -1;
		}
		if (fd >= 0 && fstat(fd, &sts[n]) == 0)
			fds[n++] = fd;
		else if (fd >= 0)
			close(fd);
	}
	if (lock >= 0)
		close(lock);
	return n;
}

int events_read(const struct spool *sp, struct events_reader *r)
{
	struct stat st;
	if (r->fd >= 0) {
		if (events_drain(r, r->fd) < 0)
			return -1;
		char name[64];
		events_file_name(0, name);
		if (fstatat(spool_fd(sp, DIR_RUN), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == r->dev &&
		    st.st_ino == r->ino)
			return 0; /* still the current log: all read */
		/* rotated: every write to it ended before it was renamed */
		if (events_drain(r, r->fd) < 0)
			return -1;
		events_file_end(r);
	}
	int keep = (int)sp->conf.events_keep + 1;
	int *fds = xcalloc((size_t)keep, sizeof *fds);
	struct stat *sts = xcalloc((size_t)keep, sizeof *sts);
	int n = events_open_all(sp, fds, sts), first = 0, rc = 0;
	for (int i = 0; r->fd >= 0 && i < n; i++)
		if (sts[i].st_dev == r->dev && sts[i].st_ino == r->ino)
			first = i + 1; /* read already: from the one after it on */
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	for (int i = 0; i < n; i++) {
		if (i < first || rc < 0) {
			close(fds[i]);
			continue;
		}
		rc = events_drain(r, fds[i]);
		if (i < n - 1) {
			events_file_end(r);
			close(fds[i]);
		} else {
			r->fd = fds[i], r->dev = sts[i].st_dev, r->ino = sts[i].st_ino;
		}
	}
	int e = errno;
	free(fds);
	free(sts);
	errno = e;
	return n < 0 || rc < 0 ? -1 : 0;
}
