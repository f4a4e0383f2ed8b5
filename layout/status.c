/* status.c - jobs/NAME/status.ini, what scripts read: written atomically
 * under the status lock after each move; the entry's folder is the truth.
 * Also a job's dependencies ([job] after), read from the others' entries. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"
#include "events.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t get_i64(struct ini *ini, const char *key)
{
	const char *v = ini_get(ini, "status", key);
	long x;
	return (v && parse_long(v, 0, LONG_MAX, &x)) ? x : 0;
}

int job_status_read(int jobfd, struct job_status *st)
{
	memset(st, 0, sizeof *st);
	char err[256];
	struct ini *ini = ini_load(jobfd, "status.ini", "status.ini", err, sizeof err);
	if (!ini)
		return -1;
	const char *v;
	if ((v = ini_get(ini, "status", "state")))
		snprintf(st->state, sizeof st->state, "%s", v);
	if ((v = ini_get(ini, "status", "reason")))
		snprintf(st->reason, sizeof st->reason, "%s", v);
	if ((v = ini_get(ini, "status", "original_name")))
		snprintf(st->original, sizeof st->original, "%s", v);
	if ((v = ini_get(ini, "status", "owner")))
		snprintf(st->owner, sizeof st->owner, "%s", v);
	if ((v = ini_get(ini, "status", "owner_label")))
		snprintf(st->owner_label, sizeof st->owner_label, "%s", v);
	if ((v = ini_get(ini, "status", "preset")))
		snprintf(st->preset, sizeof st->preset, "%s", v);
	if ((v = ini_get(ini, "status", "described")))
		snprintf(st->described, sizeof st->described, "%s", v);
	st->priority = (int)get_i64(ini, "priority");
	st->frames_total = get_i64(ini, "frames_total");
	st->frames_done = get_i64(ini, "frames_done");
	st->frames_failed = get_i64(ini, "frames_failed");
	st->tickets = get_i64(ini, "tickets");
	st->submitted_us = get_i64(ini, "submitted_us");
	st->updated_us = get_i64(ini, "updated_us");
	st->started_us = get_i64(ini, "started_us");
	st->finished_us = get_i64(ini, "finished_us");
	long nw = (long)get_i64(ini, "warnings");
	for (long i = 1; i <= nw && i <= 100; i++) {
		char k[32];
		snprintf(k, sizeof k, "warning%ld", i);
		if ((v = ini_get(ini, "status", k)))
			strlist_add(&st->warnings, v);
	}
	ini_free(ini);
	return 0;
}

static void put(struct buf *b, const char *key, const char *value)
{
	char q[1100];
	char clean[1024];
	text_escape(value, clean, sizeof clean);
	/* a value never holds both quote kinds: drop double quotes then */
	if (strchr(clean, '"') && strchr(clean, '\''))
		for (char *c = clean; *c; c++)
			if (*c == '"')
				*c = '\'';
	buf_printf(b, "%s = %s\n", key, *clean ? ini_quote(clean, q, sizeof q) : "");
}

static void put_time(struct buf *b, const char *key, int64_t us)
{
	if (!us)
		return;
	char iso[32];
	time_iso(us, iso);
	buf_printf(b, "%s = %s\n%s_us = %lld\n", key, iso, key, (long long)us);
}

int job_status_write(int jobfd, const struct job_status *st)
{
	struct buf b = {0};
	buf_printf(&b, "# written by hotfarm; the job's entry folder is the truth\n[status]\n");
	put(&b, "state", st->state);
	put(&b, "reason", st->reason);
	put(&b, "original_name", st->original);
	put(&b, "owner", st->owner);
	if (*st->owner_label)
		put(&b, "owner_label", st->owner_label);
	if (*st->preset)
		put(&b, "preset", st->preset);
	if (*st->described)
		put(&b, "described", st->described);
	buf_printf(&b, "priority = %d\nframes_total = %ld\nframes_done = %ld\nframes_failed = %ld\ntickets = %ld\n",
		   st->priority, st->frames_total, st->frames_done, st->frames_failed, st->tickets);
	put_time(&b, "submitted", st->submitted_us);
	put_time(&b, "started", st->started_us);
	put_time(&b, "finished", st->finished_us);
	put_time(&b, "updated", st->updated_us ? st->updated_us : now_us());
	buf_printf(&b, "warnings = %zu\n", st->warnings.n);
	for (size_t i = 0; i < st->warnings.n && i < 100; i++) {
		char k[32];
		snprintf(k, sizeof k, "warning%zu", i + 1);
		put(&b, k, st->warnings.v[i]);
	}
	int rc = file_write_atomic(jobfd, "status.ini", b.data, b.len, 0644);
	buf_free(&b);
	return rc;
}

void job_status_free(struct job_status *st) { strlist_free(&st->warnings); }

int job_status_lock(int jobfd)
{
	/* held for a few file writes: ten seconds waited means someone
	 * else holds it, and the caller goes on without */
	return lock_open(jobfd, "status.lock", 10000);
}

int job_status_update(const struct spool *sp, const char *name, enum job_state to, const char *reason,
		      int priority)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return -1;
	int lock = job_status_lock(jfd);
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	char from[sizeof st.state];
	snprintf(from, sizeof from, "%s", st.state);
	if ((int)to != STATE_NONE)
		snprintf(st.state, sizeof st.state, "%s", state_word(to));
	if (reason)
		snprintf(st.reason, sizeof st.reason, "%s", reason);
	if (priority >= 0)
		st.priority = priority;
	st.updated_us = now_us();
	if (state_is_final(to) && !st.finished_us)
		st.finished_us = st.updated_us;
	int rc = job_status_write(jfd, &st);
	if ((int)to != STATE_NONE && strcmp(from, st.state))
		events_record(sp, &(struct event){.kind = EVENT_STATE, .job = name, .state = st.state, .from = from,
						  .reason = reason});
	job_status_free(&st);
	if (lock >= 0)
		close(lock);
	close(jfd);
	return rc;
}

int job_change_state(const struct spool *sp, const char *name, enum job_state to, const char *reason)
{
	char entry[ENTRY_MAX_LEN];
	/* An entry may move while we look for it: try a few times. */
	for (int tries = 0; tries < 5; tries++) {
		enum job_state from = job_find(sp, name, entry);
		if (from == STATE_NONE) {
			errno = ENOENT;
			return -1;
		}
		if (from == to)
			return job_status_update(sp, name, to, reason, -1);
		if (entry_move(sp, from, entry, to, NULL) == 0) {
			int rc = job_status_update(sp, name, to, reason, -1);
			/* a cancelled job is billed for what ran; the agents
			 * bill it again once its renders have stopped */
			if (to == STATE_CANCELLED)
				job_bill(sp, name);
			return rc;
		}
		if (errno != ENOENT)
			return -1;
	}
	errno = EAGAIN;
	return -1;
}

int job_change_priority(const struct spool *sp, const char *name, int priority)
{
	char entry[ENTRY_MAX_LEN], newentry[ENTRY_MAX_LEN];
	for (int tries = 0; tries < 5; tries++) {
		enum job_state s = job_find(sp, name, entry);
		if (s == STATE_NONE) {
			errno = ENOENT;
			return -1;
		}
		int64_t seq;
		entry_parse(entry, NULL, &seq, NULL);
		entry_format(newentry, priority, seq, name);
		if (!strcmp(entry, newentry) || entry_move(sp, s, entry, s, newentry) == 0)
			return job_status_update(sp, name, STATE_NONE, NULL, priority);
		if (errno != ENOENT)
			return -1;
	}
	errno = EAGAIN;
	return -1;
}

int job_deps_ready(const struct spool *sp, const struct strlist *after, char *why, size_t whysize)
{
	for (size_t i = 0; i < after->n; i++) {
		char entry[ENTRY_MAX_LEN];
		enum job_state st = job_find(sp, after->v[i], entry);
		if (st == STATE_DONE)
			continue;
		if (st == STATE_FAILED || st == STATE_CANCELLED) {
			snprintf(why, whysize, "%s, which it waits for, %s", after->v[i], state_word(st));
			return -1;
		}
		if (st == STATE_NONE) {
			/* maybe still being taken in: a rejected one never comes */
			char path[NAME_MAX_LEN + 16];
			snprintf(path, sizeof path, "%s/reason.txt", after->v[i]);
			if (faccessat(spool_fd(sp, DIR_REJECTED), path, F_OK, 0) == 0) {
				snprintf(why, whysize, "%s, which it waits for, was rejected", after->v[i]);
				return -1;
			}
			snprintf(why, whysize, "waiting for %s, which is not in the farm (yet)", after->v[i]);
			return 0;
		}
		snprintf(why, whysize, "waiting for %s (%s)", after->v[i], state_word(st));
		return 0;
	}
	return 1;
}

struct dep_seen {
	char *name;
	int ready;
	char why[300];
};

static int cmp_dep(const void *a, const void *b)
{
	return strcmp(((const struct dep_seen *)a)->name, ((const struct dep_seen *)b)->name);
}

static void dep_free(void *p)
{
	struct dep_seen *d = p;
	free(d->name);
	free(d);
}

int job_deps_ready_memo(const struct spool *sp, void **memo, const struct strlist *after, char *why,
			size_t whysize)
{
	for (size_t i = 0; i < after->n; i++) {
		struct dep_seen key = {.name = after->v[i]}, **found = tfind(&key, memo, cmp_dep);
		if (!found) {
			struct dep_seen *d = xcalloc(1, sizeof *d);
			d->name = xstrdup(after->v[i]);
			struct strlist one = {.v = &after->v[i], .n = 1};
			d->ready = job_deps_ready(sp, &one, d->why, sizeof d->why);
			found = tsearch(d, memo, cmp_dep);
		}
		if ((*found)->ready != 1) {
			snprintf(why, whysize, "%s", (*found)->why);
			return (*found)->ready;
		}
	}
	return 1;
}

bool deps_memo_has(void *const *memo, const char *name)
{
	struct dep_seen key = {.name = (char *)name};
	return tfind(&key, memo, cmp_dep) != NULL;
}

void deps_memo_free(void **memo)
{
	tdestroy(*memo, dep_free);
	*memo = NULL;
}

void job_status_owner(const struct job_status *st, char *out, size_t outsize)
{
	if (!*st->owner_label)
		snprintf(out, outsize, "%s", st->owner);
	else if (!strncmp(st->owner, "site:", 5))
		snprintf(out, outsize, "%s (%s)", st->owner, st->owner_label);
	else
		snprintf(out, outsize, "%s (label: %s)", st->owner, st->owner_label);
}
