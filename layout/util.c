/* util.c - messages, memory, clocks, atomic writes, names and number parsing
 * shared by every hotfarm program. Trusts nothing it is given as text. */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <iconv.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *progname = "hotfarm";
static bool stamps;
bool sync_writes = true;

void msg_init(const char *name)
{
	const char *s = strrchr(name, '/');
	progname = s ? s + 1 : name;
}

void msg_timestamps(bool on) { stamps = on; }

void spooler_start(void)
{
	const char *parent = getenv("HOTFARM_PARENT");
	if (!parent)
		return;
	stamps = true;
	if (atol(parent) == (long)getppid())
		prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* One message. With stamps (the daemons, and the stages they start) a
 * line of key=value fields for the journal or a log file:
 *   time=2026-11-30T15:11:49.021Z level=info prog=hf-intake job=shot42 msg="accepted shot42: 48 frames"
 * (job= and frame= where there is one; msg= quoted, its " and \ escaped
 * and control characters shown as \xNN). Else, for a person at a
 * terminal: "PROG: warning: text". */
static void vmsg(const char *level, int err, const char *job, long frame, const char *fmt, va_list ap)
{
	char text[1536], line[2048];
	int t = vsnprintf(text, sizeof text, fmt, ap);
	size_t tn = t < 0 ? 0 : (size_t)t < sizeof text ? (size_t)t : sizeof text - 1;
	if (err && tn < sizeof text)
		tn += (size_t)snprintf(text + tn, sizeof text - tn, ": %s", strerror(err));
	if (tn >= sizeof text)
		tn = sizeof text - 1;
	size_t n = 0;
	if (job && !*job)
		job = NULL;
	if (stamps) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n += strftime(line, sizeof line, "time=%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ level=%s prog=%s", ts.tv_nsec / 1000000, level,
				      progname);
		if (job && n < sizeof line) {
			/* a job's name holds no space, quote or control character (intake
			 * makes it so); a peer's may: show those as _ */
			n += (size_t)snprintf(line + n, sizeof line - n, " job=");
			for (const char *c = job; *c && n < sizeof line - 1; c++)
				line[n++] = (unsigned char)*c <= ' ' || *c == '"' || *c == '=' || *c == 0x7f ? '_' : *c;
		}
		if (frame >= 0 && n < sizeof line)
			n += (size_t)snprintf(line + n, sizeof line - n, " frame=%ld", frame);
		if (n < sizeof line)
			n += (size_t)snprintf(line + n, sizeof line - n, " msg=\"");
		for (size_t i = 0; i < tn && n < sizeof line - 6; i++) {
			unsigned char c = (unsigned char)text[i];
			if (c == '"' || c == '\\') {
				line[n++] = '\\';
				line[n++] = (char)c;
			} else if (c < ' ' || c == 0x7f) {
				n += (size_t)snprintf(line + n, sizeof line - n, "\\x%02x", c);
			} else {
				line[n++] = (char)c;
			}
		}
		if (n < sizeof line - 1)
			line[n++] = '"';
	} else {
		const char *kind = !strcmp(level, "info") ? "" : !strcmp(level, "warning") ? "warning: " : "fatal: ";
		n += (size_t)snprintf(line, sizeof line, "%s: %s%.*s", progname, kind, (int)tn, text);
	}
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)!write(2, line, n);
}

void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("info", 0, NULL, -1, fmt, ap);
	va_end(ap);
}

void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning", 0, NULL, -1, fmt, ap);
	va_end(ap);
}

void sayj(const char *job, long frame, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("info", 0, job, frame, fmt, ap);
	va_end(ap);
}

void warnj(const char *job, long frame, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning", 0, job, frame, fmt, ap);
	va_end(ap);
}

void die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("fatal", 0, NULL, -1, fmt, ap);
	va_end(ap);
	exit(code);
}

void die_errno(int code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vmsg("fatal", e, NULL, -1, fmt, ap);
	va_end(ap);
	exit(code);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die(EXIT_TEMPFAIL, "out of memory");
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		die(EXIT_TEMPFAIL, "out of memory");
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die(EXIT_TEMPFAIL, "out of memory");
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die(EXIT_TEMPFAIL, "out of memory");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	char *p;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(EXIT_TEMPFAIL, "out of memory");
	return p;
}

void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(EXIT_TEMPFAIL, "out of memory");
	buf_add(b, s, (size_t)n);
	free(s);
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void strlist_take(struct strlist *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = s;
}

void strlist_add(struct strlist *l, const char *s) { strlist_take(l, xstrdup(s)); }

bool strlist_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

void strlist_remove(struct strlist *l, const char *s)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->v[i], s))
			free(l->v[i]);
		else
			l->v[k++] = l->v[i];
	}
	l->n = k;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strlist_sort(struct strlist *l)
{
	if (l->n)
		qsort(l->v, l->n, sizeof *l->v, cmp_str);
}

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_iso(int64_t us, char out[32])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void str_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static bool name_char_ok(unsigned char c)
{
	return isascii(c) && (isalnum(c) || c == '.' || c == '_' || c == '-');
}

void name_sanitize(const char *in, char *out, size_t outsize)
{
	/* Transliterate to ASCII first so that "Müller" reads "Muller". */
	char ascii[512];
	size_t inlen = strnlen(in, 400);
	bool plain = true;
	for (size_t i = 0; i < inlen; i++)
		if ((unsigned char)in[i] >= 0x80)
			plain = false;
	if (plain) {
		/* the common case needs no transliteration (nor its locale) */
		memcpy(ascii, in, inlen);
		ascii[inlen] = 0;
		goto filter;
	}
	char *ip = (char *)in, *op = ascii;
	size_t il = inlen, ol = sizeof ascii - 1;
	locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t old = loc ? uselocale(loc) : (locale_t)0;
	iconv_t cd = iconv_open("ASCII//TRANSLIT", "UTF-8");
	if (cd != (iconv_t)-1) {
		while (il > 0) {
			if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) {
				if (errno == E2BIG)
					break;
				/* invalid byte: skip it */
				ip++, il--;
				if (ol) {
					*op++ = '_';
					ol--;
				}
			}
		}
		iconv_close(cd);
	} else {
		size_t n = inlen < ol ? inlen : ol;
		memcpy(op, in, n);
		op += n;
	}
	*op = 0;
	if (loc) {
		uselocale(old);
		freelocale(loc);
	}
filter:;
	size_t n = 0;
	for (const char *p = ascii; *p && n + 1 < outsize && n < 64; p++) {
		unsigned char c = (unsigned char)*p;
		char o = name_char_ok(c) ? (char)c : '_';
		if (o == '_' && n > 0 && out[n - 1] == '_')
			continue;
		if (n == 0 && (o == '.' || o == '-' || o == '_'))
			continue;
		out[n++] = o;
	}
	while (n > 0 && (out[n - 1] == '_' || out[n - 1] == '.'))
		n--;
	out[n] = 0;
	if (n == 0)
		snprintf(out, outsize, "job");
}

bool name_is_valid(const char *s)
{
	size_t n = 0;
	if (!*s || *s == '.' || *s == '-')
		return false;
	for (; s[n]; n++)
		if (!name_char_ok((unsigned char)s[n]) || n >= 80)
			return false;
	return true;
}

void text_escape(const char *in, char *out, size_t outsize)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && n + 5 < outsize; p++) {
		if (*p < 0x20 || *p == 0x7f)
			n += (size_t)snprintf(out + n, outsize - n, "\\x%02x", *p);
		else
			out[n++] = (char)*p;
	}
	out[n] = 0;
}

bool parse_long(const char *s, long min, long max, long *out)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return false;
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10); /* base 10: "0010" is ten, not eight */
	if (errno == ERANGE)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool parse_bytes(const char *s, unsigned long long *out)
{
	while (*s == ' ')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return false;
	int shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (shift && (*end == 'B' || *end == 'b'))
		end++;
	while (*end == ' ')
		end++;
	if (*end || (shift && v > (~0ULL >> shift)))
		return false;
	*out = v << shift;
	return true;
}

bool parse_seconds(const char *s, long max, long *out)
{
	while (*s == ' ')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno == ERANGE)
		return false;
	long mul = 1;
	switch (*end) {
	case 's': end++; break;
	case 'm': mul = 60; end++; break;
	case 'h': mul = 3600; end++; break;
	case 'd': mul = 86400; end++; break;
	}
	while (*end == ' ')
		end++;
	if (*end || v > max / mul)
		return false;
	*out = v * mul;
	return *out <= max;
}

bool path_is_inside(const char *path)
{
	if (!*path || *path == '/' || strlen(path) > 4000)
		return false;
	const char *p = path;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n > 255 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return false;
		p += n;
		if (*p == '/')
			p++;
		if (slash && !*p)
			return false; /* trailing slash */
	}
	return true;
}

void human_bytes(unsigned long long n, char out[32])
{
	const char *u[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	int i = 0;
	double v = (double)n;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, 32, "%llu bytes", n);
	else
		snprintf(out, 32, "%.1f %s", v, u[i]);
}

uint64_t text_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcasecmp(s + a - b, suf);
}

void spawn_attr_child(posix_spawnattr_t *at)
{
	posix_spawnattr_init(at);
	sigset_t none, dflt;
	sigemptyset(&none);
	sigfillset(&dflt);
	posix_spawnattr_setsigmask(at, &none);
	posix_spawnattr_setsigdefault(at, &dflt);
	posix_spawnattr_setpgroup(at, 0);
	posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
}

int signals_fd(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGIO, SIG_IGN); /* a lease break would otherwise kill us */
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die_errno(EXIT_TEMPFAIL, "signalfd");
	return sfd;
}
