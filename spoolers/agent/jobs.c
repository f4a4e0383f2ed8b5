/* jobs.c - the queued jobs as this agent sees them: queue/ read, each job
 * loaded when a slot looks at it (can this host serve it?), its todo/
 * listing, its end. Distrusts job.ini: parsed by layout/ into a job_desc. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void *job_tree; /* every job seen in queue/ (or still running here), by name */

static int cmp_job(const void *a, const void *b)
{
	return strcmp(((const struct job *)a)->name, ((const struct job *)b)->name);
}

/* Let go of what a loaded job holds (it stays loaded: known not to be
 * ours) or (job_unload) also forget that it was looked at. */
static void job_release(struct job *j)
{
	area_forget(j->serial);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	if (j->jd)
		job_desc_free(j->jd);
	if (j->pkg)
		package_free(j->pkg);
	free(j->jd);
	free(j->pkg);
	j->jd = NULL;
	j->pkg = NULL;
	strlist_free(&j->limits);
	strlist_free(&j->todo);
	j->next = 0;
	j->lost = false;
	free(j->byframe);
	j->byframe = NULL;
	free(j->path);
	j->path = NULL;
}

static void job_unload(struct job *j)
{
	job_release(j);
	strlist_free(&j->after);
	j->loaded = false;
}

static void job_free(struct job *j)
{
	job_release(j);
	strlist_free(&j->after);
	free(j->name);
	free(j->entry);
	free(j->program_name);
	free(j->program);
	free(j);
}

struct job *job_get(const char *name)
{
	struct job key = {.name = (char *)name};
	void *r = tfind(&key, &job_tree, cmp_job);
	return r ? *(struct job **)r : NULL;
}

/* The job NAME as this agent knows it, made known when it is new. */
static struct job *job_find_or_add(const char *name)
{
	struct job *j = job_get(name);
	if (!j) {
		j = xcalloc(1, sizeof *j);
		j->name = xstrdup(name);
		j->fd = -1;
		tsearch(j, &job_tree, cmp_job);
	}
	return j;
}

/* Where each job some queued job waits for stood when last looked at:
 * forgotten at each rescan (layout's job_deps_ready_memo). */
static void *dep_memo;

static int deps_ready(const struct strlist *after, char *why, size_t whysize)
{
	return job_deps_ready_memo(&agent.spool, &dep_memo, after, why, whysize);
}

/* Read the job's description and package, and see whether we can serve
 * it; when not, keep only that answer. */
void job_load(struct job *j)
{
	if (j->loaded)
		return;
	j->loaded = true;
	j->usable = false;
	j->waiting_deps = false;
	j->pkg_broken = false;
	char path[PATH_MAX];
	job_path(&agent.spool, j->name, path, sizeof path);
	j->path = xstrdup(path);
	j->fd = job_dir_open(&agent.spool, j->name);
	static unsigned long serials;
	j->serial = ++serials;
	char err[1024];
	if (j->fd >= 0) {
		j->jd = xcalloc(1, sizeof *j->jd);
		if (job_desc_load(j->fd, j->jd, err, sizeof err) < 0) {
			free(j->jd);
			j->jd = NULL;
		}
	}
	if (j->jd && j->jd->after.n && deps_ready(&j->jd->after, err, sizeof err) != 1) {
		/* kept: the names it waits for, looked at again on each rescan
		 * (deps_moved), not the job: a queue of thousands of jobs waiting
		 * for one costs a look at that one */
		for (size_t i = 0; i < j->jd->after.n; i++)
			strlist_add(&j->after, j->jd->after.v[i]);
		j->waiting_deps = true;
		job_release(j);
		return;
	}
	if (j->jd) {
		/* the verified owner, which intake wrote (job.ini's owner is a label) */
		struct job_status st;
		if (job_status_read(j->fd, &st) == 0) {
			snprintf(j->owner, sizeof j->owner, "%s", st.owner);
			job_status_free(&st);
		}
		j->pkg = xcalloc(1, sizeof *j->pkg);
		if (package_load(spool_fd(&agent.spool, DIR_CONF), j->jd->package, j->pkg, err, sizeof err) < 0) {
			free(j->pkg);
			j->pkg = NULL;
			j->pkg_broken = true;
		}
	}
	if (j->pkg) {
		job_desc_limits(j->jd, &j->limits);
		j->usable = host_matches(&agent.self, j->jd, err, sizeof err);
		if (j->usable && job_not_yet(j->jd, err, sizeof err)) {
			/* looked at again on a rescan, as a job waiting for others */
			j->usable = false;
			j->waiting_deps = true;
		}
		bool was = j->blocked;
		j->blocked = job_host_blocked(j->fd, agent.host);
		if (was && !j->blocked)
			j->fails_in_row = 0; /* an admin removed the marker */
		if (j->blocked)
			j->usable = false;
	}
	if (!j->usable)
		job_release(j);
}

/* Re-read queue/: the order of the jobs we may take frames of. On a
 * RESCAN, jobs waiting for others are looked at again too. */
void queue_refresh(bool rescan)
{
	struct strlist l = {0};
	char why[512];
	if (rescan)
		deps_memo_free(&dep_memo);
	state_list(&agent.spool, STATE_QUEUED, &l);
	/* which listed jobs come back to the queue (new, or retried after
	 * leaving it), seen before the flags of the last listing are cleared:
	 * a job that stayed queued keeps its count of failures in a row */
	struct job **listed = xcalloc(l.n ? l.n : 1, sizeof *listed);
	bool *back = xcalloc(l.n ? l.n : 1, sizeof *back);
	for (size_t i = 0; i < l.n; i++) {
		char name[JOBID_MAX_LEN + 1];
		int prio;
		if (!entry_parse(l.v[i], &prio, NULL, name))
			continue;
		struct job *j = job_find_or_add(name);
		listed[i] = j;
		back[i] = !j->queued;
		if (back[i])
			j->ready_at = mono_us();
		j->priority = prio;
	}
	for (size_t i = 0; i < agent.nqueue; i++)
		agent.queue[i]->queued = false;
	agent.queue = xrealloc(agent.queue, (l.n ? l.n : 1) * sizeof *agent.queue);
	agent.nqueue = 0;
	for (size_t i = 0; i < l.n; i++) {
		struct job *j = listed[i];
		if (!j || j->queued)
			continue; /* not an entry, or listed twice */
		if (!j->entry || strcmp(j->entry, l.v[i])) {
			free(j->entry);
			j->entry = xstrdup(l.v[i]);
		}
		/* on a rescan, look again at a job this host was blocked from
		 * (an admin may have removed the marker), that waited for
		 * others (they may be done) or whose package did not read (it
		 * may be mended) */
		if (rescan && j->loaded && !j->usable && (j->blocked || j->waiting_deps || j->pkg_broken) &&
		    j->running == 0 && (!j->after.n || deps_ready(&j->after, why, sizeof why) != 0))
			job_unload(j);
		if (back[i]) {
			j->fails_in_row = 0; /* back in the queue (retried): a clean slate */
			if (j->loaded && j->running == 0)
				job_unload(j);
		}
		j->queued = true;
		j->retry_at = 0;
		agent.queue[agent.nqueue++] = j;
	}
	free(listed);
	free(back);
	strlist_free(&l);
}

/* ---- the queue, one entry at a time (inotify) ------------------------------ */

/* Where ENTRY belongs in agent.queue (sorted as a listing of queue/ is). */
static size_t queue_place(const char *entry)
{
	size_t lo = 0, hi = agent.nqueue;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(agent.queue[mid]->entry, entry) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void queue_drop(struct job *j)
{
	size_t i = queue_place(j->entry);
	if (i < agent.nqueue && agent.queue[i] == j) {
		memmove(&agent.queue[i], &agent.queue[i + 1], (agent.nqueue - i - 1) * sizeof *agent.queue);
		agent.nqueue--;
	}
	j->queued = false;
}

/* ENTRY came into queue/: its job takes its place in the cached queue as
 * a listing would put it, back in the queue as queue_refresh says. A farm's
 * queue holds thousands of jobs and each change wakes every agent: one
 * entry costs a look and a binary search, not a listing of them all. */
void queue_entry_added(const char *entry)
{
	char name[JOBID_MAX_LEN + 1];
	int prio;
	if (!entry_parse(entry, &prio, NULL, name) ||
	    faccessat(state_fd(&agent.spool, STATE_QUEUED), entry, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return; /* no entry, or gone again: what the next event says */
	struct job *j = job_find_or_add(name);
	if (j->queued)
		queue_drop(j); /* listed under another entry (its priority changed) */
	j->ready_at = mono_us();
	j->fails_in_row = 0; /* back in the queue (retried): a clean slate */
	if (j->loaded && j->running == 0)
		job_unload(j);
	j->priority = prio;
	free(j->entry);
	j->entry = xstrdup(entry);
	j->queued = true;
	j->retry_at = 0;
	size_t at = queue_place(entry);
	agent.queue = xrealloc(agent.queue, (agent.nqueue + 1) * sizeof *agent.queue);
	memmove(&agent.queue[at + 1], &agent.queue[at], (agent.nqueue - at) * sizeof *agent.queue);
	agent.queue[at] = j;
	agent.nqueue++;
}

/* Job NAME left queue/ (done, most likely): the jobs here waiting for it
 * are looked at again now rather than at the next rescan. */
static void deps_moved(const char *name)
{
	if (!deps_memo_has(&dep_memo, name))
		return; /* no job here waits for it */
	deps_memo_free(&dep_memo);
	char why[512];
	for (size_t i = 0; i < agent.nqueue; i++) {
		struct job *j = agent.queue[i];
		if (j->loaded && j->waiting_deps && j->after.n && j->running == 0 &&
		    strlist_has(&j->after, name) && deps_ready(&j->after, why, sizeof why) != 0)
			job_unload(j);
	}
}

/* ENTRY left queue/: its job leaves the cached queue. */
void queue_entry_removed(const char *entry)
{
	char name[JOBID_MAX_LEN + 1];
	if (!entry_parse(entry, NULL, NULL, name))
		return;
	struct job *j = job_get(name);
	if (j && j->queued && j->entry && !strcmp(j->entry, entry))
		queue_drop(j);
	deps_moved(name);
}

/* What a slot could serve may have changed (the host record did): jobs
 * no slot works on are loaded afresh when next looked at. */
void queue_unload_idle(void)
{
	for (size_t i = 0; i < agent.nqueue; i++)
		if (agent.queue[i]->loaded && !agent.queue[i]->running)
			job_unload(agent.queue[i]);
}

/* Forget jobs that left the queue and that no slot works on. */
static struct strlist forget;
static void forget_walk(const void *node, VISIT v, void *closure)
{
	(void)closure;
	if (v != postorder && v != leaf)
		return;
	struct job *j = *(struct job *const *)node;
	if (!j->queued && j->running == 0)
		strlist_add(&forget, j->name);
}

void jobs_tidy(void)
{
	twalk_r(job_tree, forget_walk, NULL);
	for (size_t i = 0; i < forget.n; i++) {
		struct job *j = job_get(forget.v[i]);
		tdelete(j, &job_tree, cmp_job);
		job_free(j);
	}
	strlist_free(&forget);
}

/* Nothing of J is left to take: when no ticket is in todo/ or active/,
 * the job is finished (job_try_finish) and this agent lets it go. */
void job_done_check(struct job *j)
{
	/* the last word on the contact sheet, before the job is done: made by
	 * the checker's server (its worker for the job is warm) while the
	 * agent goes on, else by a process of its own, waited for */
	struct stat st;
	bool at_end = j->fd >= 0 && !j->pkg->no_output && !j->pkg->builtin_null &&
		      tickets_none(j->fd, TICKET_TODO) == 1 && tickets_none(j->fd, TICKET_ACTIVE) == 1;
	if (j->sheet == SHEET_ASKED)
		return;
	if (!at_end)
		j->sheet = SHEET_NONE; /* frames to come (a retry): a sheet after them */
	if (at_end && j->sheet == SHEET_NONE && job_file_stat(j->fd, JOB_FILE_CONTACT, &st) == 0) {
		char rel[PATH_MAX], previews[PATH_MAX + 16];
		job_relpath(j->name, rel, sizeof rel);
		snprintf(previews, sizeof previews, "%s/%s", rel, job_dir_name(JOB_DIR_PREVIEWS));
		char *argv[] = {agent.checker, "--at", agent.spool.path, "--contact-only", previews, NULL};
		if (checker_sheet(j, argv)) {
			j->sheet = SHEET_ASKED;
			return;
		}
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		pid_t pid = nul < 0 ? -1 : spawn_in(NULL, argv, nul, "sheet", NULL);
		if (nul >= 0)
			close(nul);
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	j->sheet = SHEET_NONE;
	if (job_try_finish(&agent.spool, j->name) == 1) {
		sayj(j->name, -1, "%s finished", j->name);
		j->retry_at = INT64_MAX;
		if (j->running == 0) {
			/* nothing more to do here: keep only that (a queue can
			 * hold thousands of finished jobs not yet moved on) */
			job_release(j);
			j->usable = false;
		}
	}
}

void job_sheet_made(const char *name)
{
	struct job *j = job_get(name);
	if (!j || j->sheet != SHEET_ASKED)
		return;
	j->sheet = SHEET_MADE;
	if (j->fd >= 0 && j->pkg)
		job_done_check(j);
	else
		j->sheet = SHEET_NONE;
}

/* ---- a job's todo/ listing ----------------------------------------------- */

static int byframe_cmp(const void *a, const void *b)
{
	const struct byframe *x = a, *y = b;
	return x->frame < y->frame ? -1 : x->frame > y->frame;
}

/* J's cached todo/ listing by first frame, for finding a run's next ticket. */
static void todo_index(struct job *j)
{
	free(j->byframe);
	j->byframe = xcalloc(j->todo.n ? j->todo.n : 1, sizeof *j->byframe);
	for (size_t i = 0; i < j->todo.n; i++)
		j->byframe[i] = (struct byframe){ticket_first_frame(j->todo.v[i]), i};
	qsort(j->byframe, j->todo.n, sizeof *j->byframe, byframe_cmp);
}

/* List J's todo/ again (the cached listing is used up), in order. */
void todo_relist(struct job *j)
{
	strlist_free(&j->todo);
	j->next = 0;
	j->lost = false;
	ticket_list(j->fd, TICKET_TODO, &j->todo);
	if (j->pkg->range_argv.n)
		todo_index(j);
	j->todo_left = (long)j->todo.n;
	j->todo_at = mono_us();
}

struct byframe *byframe_of(const struct job *j, long frame)
{
	if (!j->byframe)
		return NULL;
	struct byframe key = {frame, 0};
	return bsearch(&key, j->byframe, j->todo.n, sizeof *j->byframe, byframe_cmp);
}

const char *todo_find(const struct job *j, long frame)
{
	const struct byframe *b = byframe_of(j, frame);
	return b ? j->todo.v[b->index] : NULL;
}

/* Whether FRAME's ticket is in J's todo/ now (the cached listing may be
 * old): its name, or NULL. */
const char *todo_has(const struct job *j, long frame)
{
	const char *t = todo_find(j, frame);
	return t && ticket_exists(j->fd, TICKET_TODO, t) ? t : NULL;
}

/* Fair share: J's tickets in active/ on all hosts, counted again at most
 * every 500 ms. */
long active_all(struct job *j)
{
	if (mono_us() - j->active_at > 500000) {
		j->active_all = ticket_count(j->fd, TICKET_ACTIVE);
		j->active_at = mono_us();
	}
	return j->active_all;
}
