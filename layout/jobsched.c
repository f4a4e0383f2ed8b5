/* jobsched.c - the [job] keys that say where and when a job may render:
 * pool (host labels, wildcards) and not_before (a start time). */
#define _GNU_SOURCE
#include "host.h"
#include "ini.h"
#include "jobdesc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOLS_PER_JOB 16

int when_parse(const char *s, int64_t *out)
{
	/* 2026-12-07T02:00[:SS][Z], T or a blank between date and time */
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	if (!p || (*p != 'T' && *p != ' '))
		return -1;
	const char *q = strptime(p + 1, "%H:%M:%S", &tm);
	if (!q)
		q = strptime(p + 1, "%H:%M", &tm);
	if (!q)
		return -1;
	bool utc = *q == 'Z';
	if (q[utc] || tm.tm_year < 100 || tm.tm_year > 1100)
		return -1;
	tm.tm_isdst = -1;
	time_t t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = (int64_t)t;
	return 0;
}

void when_format(int64_t t, char out[32])
{
	time_iso(t * 1000000, out);
}

void when_local(int64_t t, char *out, size_t outsize)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, outsize, "%Y-%m-%d %H:%M %Z", &tm);
}

#define BAD(...)                                                                     \
	do {                                                                         \
		snprintf(err, errsize, __VA_ARGS__);                                 \
		return -1;                                                           \
	} while (0)

int job_desc_read_sched(const struct ini *ini, const char *display, struct job_desc *jd, char *err, size_t errsize)
{
	const char *s = ini_get(ini, "job", "pool");
	if (s) {
		char *copy = xstrdup(s), *save = NULL;
		for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
			if (!pool_pattern_valid(t) || jd->pools.n >= POOLS_PER_JOB) {
				free(copy);
				BAD("%s line %d: pool must list up to %d pool names like 'lighting, fx*' (letters, "
				    "digits, . _ - and the wildcards * ? [ ]), not '%s'",
				    display, ini_line(ini, "job", "pool"), POOLS_PER_JOB, s);
			}
			if (!strlist_has(&jd->pools, t))
				strlist_add(&jd->pools, t);
		}
		free(copy);
	}
	s = ini_get(ini, "job", "not_before");
	if (s && *s && when_parse(s, &jd->not_before) < 0)
		BAD("%s line %d: not_before must be a time like 2026-12-07T02:00 (local time) or "
		    "2026-12-07T02:00Z (UTC), not '%s'",
		    display, ini_line(ini, "job", "not_before"), s);
	return 0;
}

void job_desc_format_sched(const struct job_desc *jd, struct buf *b)
{
	buf_printf(b, "pool =");
	for (size_t i = 0; i < jd->pools.n; i++)
		buf_printf(b, "%s%s", i ? ", " : " ", jd->pools.v[i]);
	buf_printf(b, "\n");
	if (jd->not_before) {
		char iso[32];
		when_format(jd->not_before, iso);
		buf_printf(b, "not_before = %s\n", iso);
	} else {
		buf_printf(b, "not_before =\n");
	}
}

bool job_not_yet(const struct job_desc *jd, char *why, size_t whysize)
{
	int64_t now = now_us() / 1000000;
	if (!jd->not_before || jd->not_before <= now)
		return false;
	char local[64];
	when_local(jd->not_before, local, sizeof local);
	snprintf(why, whysize, "waiting: starts at %s (not_before)", local);
	return true;
}
