/* audit.c - the farm's audit log, SPOOL/run/audit.log: each action appended
 * as one key=value line with one write, and read back. Distrusts the file:
 * a link or a FIFO in its place is refused, a malformed line is skipped. */
#define _GNU_SOURCE
#include "audit.h"
#include "access.h"
#include "layout_private.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- writing ---------------------------------------------------------------- */

/* Whether the LEN bytes at S can be written bare: printable ASCII, no
 * space, quote, backslash or '=' (or nothing: "job="). */
static bool value_is_bare(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			return false;
	}
	return true;
}

static size_t escaped_size(unsigned char c)
{
	return c == '"' || c == '\\' ? 2 : c < ' ' || c == 0x7f ? 4 : 1;
}

/* Append " KEY=" and the first MAX bytes of S (NULL: "") to OUT at *N as a
 * value: bare when it can be (and not QUOTE), else quoted and escaped, cut
 * short (at a character's start) to leave a byte for the newline. */
static void value_put(char *out, size_t *n, const char *key, const char *s, size_t max, bool quote)
{
	if (!s)
		s = "";
	size_t len = strnlen(s, max), at = *n;
	at += (size_t)snprintf(out + at, AUDIT_LINE_MAX - at, "%s%s=", at ? " " : "", key);
	if (!quote && value_is_bare(s, len)) {
		memcpy(out + at, s, len);
		*n = at + len;
		return;
	}
	size_t room = AUDIT_LINE_MAX - at - 3, cut = 0, need = 0; /* the quotes and the newline */
	while (cut < len && need + escaped_size((unsigned char)s[cut]) <= room)
		need += escaped_size((unsigned char)s[cut++]);
	for (int k = 0; k < 3 && cut < len && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80; k++)
		cut--; /* into a UTF-8 character: leave all of it out */
	out[at++] = '"';
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[at++] = '\\';
			out[at++] = (char)c;
		} else if (c < ' ' || c == 0x7f) {
			at += (size_t)snprintf(out + at, 5, "\\x%02x", c);
		} else {
			out[at++] = (char)c;
		}
	}
	out[at++] = '"';
	*n = at;
}

size_t audit_format(char out[AUDIT_LINE_MAX], int64_t us, uid_t uid, const char *action, const char *job,
		    const char *result, const char *reason)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	char when[32], user[AUDIT_FIELD_MAX + 1];
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	user_name(uid, user, sizeof user);
	size_t n = (size_t)snprintf(out, AUDIT_LINE_MAX, "time=%s.%03dZ uid=%lu", when, (int)(us % 1000000 / 1000),
				    (unsigned long)uid);
	value_put(out, &n, "user", user, AUDIT_FIELD_MAX, false);
	value_put(out, &n, "action", action, AUDIT_FIELD_MAX, false);
	value_put(out, &n, "job", job, AUDIT_FIELD_MAX, false);
	value_put(out, &n, "result", result, AUDIT_FIELD_MAX, false);
	value_put(out, &n, "reason", reason, AUDIT_LINE_MAX, true);
	out[n++] = '\n';
	return n;
}

/* A log just made (or of another group) goes to the [site] admins group,
 * mode 0640, so that they may read it; said once when that is not allowed
 * (the farm's user need not be in the group). One made by root goes to
 * the farm's user, whose daemons append to it. */
static void run_log_share(const struct spool *sp, int fd, const struct stat *st, bool created, enum spool_file f)
{
	static bool warned;
	const char *group = sp->conf.admins;
	if (created && fchmod(fd, 0640) < 0 && errno != EPERM)
		warn("unable to make %s/%s mode 0640: %s", spool_dir_name(DIR_RUN), spool_file_name(f), strerror(errno));
	if (created && geteuid() == 0 && sp->farm_uid != 0 && fchown(fd, sp->farm_uid, (gid_t)-1) < 0)
		warn("unable to give %s/%s to the farm's user: %s", spool_dir_name(DIR_RUN), spool_file_name(f),
		     strerror(errno));
	if (!*group || warned)
		return;
	struct group *gr = getgrnam(group);
	if (!gr) {
		warned = true;
		warn("[site] admins: there is no group %s; %s/%s stays the farm's own", group, spool_dir_name(DIR_RUN),
		     spool_file_name(f));
		return;
	}
	if (!created && st->st_gid == gr->gr_gid)
		return;
	if (fchown(fd, (uid_t)-1, gr->gr_gid) < 0 || fchmod(fd, 0640) < 0) {
		warned = true;
		warn("unable to give %s/%s to group %s ([site] admins): %s", spool_dir_name(DIR_RUN), spool_file_name(f),
		     group, strerror(errno));
	}
}

int run_log_open(const struct spool *sp, enum spool_file f)
{
	const char *name = spool_file_name(f);
	const int flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	bool created = false;
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 3; tries++) {
		fd = open_beneath(spool_fd(sp, DIR_RUN), name, flags, 0);
		if (fd >= 0 || errno != ENOENT)
			break;
		fd = open_beneath(spool_fd(sp, DIR_RUN), name, flags | O_CREAT | O_EXCL, 0640);
		created = fd >= 0;
		if (fd < 0 && errno != EEXIST)
			break;
	}
	struct stat st;
	if ((fd = fd_regular(fd, &st)) < 0)
		return -1;
	run_log_share(sp, fd, &st, created, f);
	return fd;
}

void audit_record(const struct spool *sp, uid_t uid, const char *action, const char *job, const char *result,
		  const char *reason)
{
	char line[AUDIT_LINE_MAX];
	size_t len = audit_format(line, now_us(), uid, action, job, result, reason);
	int fd = run_log_open(sp, SPOOL_FILE_AUDIT), e = fd < 0 ? errno : 0;
	ssize_t n = 0;
	while (fd >= 0 && (n = write(fd, line, len)) < 0 && errno == EINTR)
		;
	if (fd >= 0)
		e = n < 0 ? errno : (size_t)n < len ? ENOSPC : 0;
	if (fd >= 0 && close(fd) < 0 && !e)
		e = errno;
	if (e) {
		char what[300];
		text_escape(action ? action : "", what, 100);
		size_t w = strlen(what);
		if (job && *job) {
			what[w] = ' ';
			text_escape(job, what + w + 1, sizeof what - w - 1);
		}
		warn("unable to record %s in %s/%s: %s", what, spool_dir_name(DIR_RUN), spool_file_name(SPOOL_FILE_AUDIT),
		     strerror(e));
	}
}

/* ---- reading ------------------------------------------------------------------ */

/* One value at S into OUT (OUTSIZE bytes): bare up to a space, or quoted
 * and unescaped. Where it ends, or NULL when it is not as written. */
static const char *value_get(const char *s, char *out, size_t outsize)
{
	size_t n = 0;
	bool quoted = *s == '"';
	for (s += quoted; quoted ? *s != '"' : *s && *s != ' '; s++) {
		unsigned char c = (unsigned char)*s;
		if (!c || c < ' ' || c == 0x7f || (!quoted && (c == '"' || c == '\\')))
			return NULL;
		if (c == '\\') {
			c = (unsigned char)*++s;
			if (c == 'x' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
				char hex[3] = {s[1], s[2], 0};
				c = (unsigned char)strtoul(hex, NULL, 16);
				s += 2;
				if (!c)
					return NULL;
			} else if (c != '"' && c != '\\') {
				return NULL;
			}
		}
		if (n + 1 >= outsize)
			return NULL;
		out[n++] = (char)c;
	}
	out[n] = 0;
	return s + quoted;
}

/* TEXT, 2026-12-06T21:40:01.123Z (the fraction optional, to 9 digits), in
 * microseconds: false when it is not such a time. */
static bool time_parse(const char *text, int64_t *us)
{
	struct tm tm = {0};
	for (const char *c = text; *c; c++)
		if (!isdigit((unsigned char)*c) && !strchr("-T:.Z", *c))
			return false;
	const char *end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return false;
	int64_t frac = 0, scale = 1000000;
	if (*end == '.') {
		int digits = 0;
		for (end++; isdigit((unsigned char)*end); end++, digits++)
			if (digits < 6)
				frac += (*end - '0') * (scale /= 10);
		if (digits < 1 || digits > 9)
			return false;
	}
	if (strcmp(end, "Z"))
		return false;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return true;
}

bool audit_parse(const char *line, struct audit_line *l)
{
	static const char *const keys[] = {"time", "uid", "user", "action", "job", "result", "reason"};
	char uid[24], other[AUDIT_LINE_MAX];
	char *to[] = {l->time, uid, l->user, l->action, l->job, l->result, l->reason};
	size_t size[] = {sizeof l->time, sizeof uid, sizeof l->user, sizeof l->action, sizeof l->job,
			 sizeof l->result, sizeof l->reason};
	unsigned seen = 0;
	memset(l, 0, sizeof *l);
	for (const char *s = line; *s;) {
		const char *eq = strchr(s, '=');
		if (!eq || eq == s)
			return false;
		int k = 6;
		while (k >= 0 && (strlen(keys[k]) != (size_t)(eq - s) || strncmp(keys[k], s, (size_t)(eq - s))))
			k--;
		if (k >= 0 && (seen & 1u << k))
			return false;
		if (k >= 0)
			seen |= 1u << k;
		s = value_get(eq + 1, k >= 0 ? to[k] : other, k >= 0 ? size[k] : sizeof other);
		if (!s || (*s && *s != ' '))
			return false;
		s += *s == ' ';
	}
	long u;
	if ((seen & 0x2f) != 0x2f || !isdigit((unsigned char)*uid) || !parse_long(uid, 0, 4294967295L, &u) ||
	    !time_parse(l->time, &l->us))
		return false;
	l->uid = (uid_t)u;
	return true;
}

static bool audit_match(const struct audit_filter *f, const struct audit_line *l)
{
	if (!f)
		return true;
	if ((f->job && strcmp(f->job, l->job)) || l->us < f->since_us)
		return false;
	long u;
	return !f->user || !strcmp(f->user, l->user) ||
	       (isdigit((unsigned char)*f->user) && parse_long(f->user, 0, 4294967295L, &u) && (uid_t)u == l->uid);
}

/* One line of the file, LEN bytes at S (no newline): to EACH, or counted
 * in *SKIPPED when it is malformed. */
static void audit_line_take(const char *s, size_t len, const struct audit_filter *f, audit_each *each, void *arg,
			    long *skipped)
{
	char text[AUDIT_LINE_MAX];
	struct audit_line l;
	if (len >= sizeof text || memchr(s, 0, len)) {
		++*skipped;
		return;
	}
	memcpy(text, s, len);
	text[len] = 0;
	if (!audit_parse(text, &l))
		++*skipped;
	else if (audit_match(f, &l))
		each(&l, arg);
}

long audit_read(const struct spool *sp, const struct audit_filter *f, audit_each *each, void *arg)
{
	int fd = open_regular(spool_fd(sp, DIR_RUN), spool_file_name(SPOOL_FILE_AUDIT), O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	size_t cap = 16 * AUDIT_LINE_MAX, len = 0;
	char *buf = xmalloc(cap);
	long skipped = 0;
	bool too_long = false; /* passing over the rest of a line longer than the buffer */
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		size_t start = 0;
		char *nl;
		while ((nl = memchr(buf + start, '\n', len - start))) {
			if (!too_long)
				audit_line_take(buf + start, (size_t)(nl - buf) - start, f, each, arg, &skipped);
			too_long = false;
			start = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == cap) {
			skipped += !too_long;
			too_long = true;
			len = 0;
		}
	}
	if (len && !too_long) /* a last line without its newline */
		audit_line_take(buf, len, f, each, arg, &skipped);
	free(buf);
	close(fd);
	return skipped;
}
