/* movie.c - the preview movies: hf-movie for each rendering job, one at a time and at most every [previews]
 * movie_interval, and once more at its end. Of a job's it reads only its previews/ folder's stat data. */
#define _GNU_SOURCE
#include "watcherd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* hf-movie runs niced with ffmpeg on two threads: at most this many at once. */
enum { MOVIES_AT_ONCE = 2 };

/* A job watcherd builds movies for: one in queue/ or one that ended. */
struct movie {
	char id[JOBID_MAX_LEN + 1];
	bool queued;          /* in queue/ at the last look */
	bool final;           /* it left queue/ (ended): one more build is due */
	bool running;         /* its hf-movie runs */
	int64_t next;         /* no interval build before this (monotonic us) */
	int64_t started;
	struct timespec seen; /* its previews/ folder's mtime when its last hf-movie started */
	struct movie *link;
};
static struct movie *movies;
static int64_t next_look;  /* the next listing of queue/ (at each rescan) */
static bool told_missing;  /* the log said ffmpeg is missing (said again once it was back and went) */

static struct movie *movie_find(const char *id, bool add)
{
	for (struct movie *m = movies; m; m = m->link)
		if (!strcmp(m->id, id))
			return m;
	if (!add)
		return NULL;
	struct movie *m = xcalloc(1, sizeof *m);
	snprintf(m->id, sizeof m->id, "%s", id);
	m->link = movies;
	movies = m;
	return m;
}

/* Where ffmpeg is ($HOTFARM_FFMPEG, else ffmpeg along $PATH), into OUT;
 * false when there is none. */
static bool ffmpeg_find(char *out, size_t outsize)
{
	const char *name = getenv("HOTFARM_FFMPEG");
	if (!name || !*name)
		name = "ffmpeg";
	struct stat st;
	if (strchr(name, '/')) {
		snprintf(out, outsize, "%s", name);
		return stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	for (const char *p = path && *path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		snprintf(out, outsize, "%.*s/%s", (int)n, n ? p : ".", name);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* Whether folder NAME of JFD holds anything: a look at its first entries. */
static bool dir_has_entries(int jfd, const char *name)
{
	DIR *d = dir_open(jfd, name);
	struct dirent *e;
	bool any = false;
	while (d && !any && (e = readdir(d)))
		any = e->d_name[0] != '.';
	if (d)
		closedir(d);
	return any;
}

/* Job M's previews/ folder holds something (a job that ended before any
 * frame was rendered has no movie to make). */
static bool previews_any(const struct movie *m)
{
	int jfd = job_dir_open(&sp, m->id);
	bool any = jfd >= 0 && dir_has_entries(jfd, job_dir_name(JOB_DIR_PREVIEWS));
	if (jfd >= 0)
		close(jfd);
	return any;
}

/* Job M's previews/ folder changed since its last hf-movie started (or
 * none did), and holds something to make a movie of; its mtime into
 * *NOW_SEEN. An empty one (a job queued, nothing rendered yet) counts as
 * seen: a queue of thousands costs a look each, not a process each. */
static bool previews_changed(struct movie *m, struct timespec *now_seen)
{
	int jfd = job_dir_open(&sp, m->id);
	struct stat st;
	bool ok = jfd >= 0 && fstatat(jfd, job_dir_name(JOB_DIR_PREVIEWS), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		  S_ISDIR(st.st_mode);
	bool changed = ok && (st.st_mtim.tv_sec != m->seen.tv_sec || st.st_mtim.tv_nsec != m->seen.tv_nsec);
	if (changed && !dir_has_entries(jfd, job_dir_name(JOB_DIR_PREVIEWS))) {
		m->seen = st.st_mtim;
		changed = false;
	}
	if (jfd >= 0)
		close(jfd);
	if (!ok)
		return false;
	*now_seen = st.st_mtim;
	return changed;
}

/* Start hf-movie for job M, unless there is no ffmpeg (said once). */
static void movie_start(struct movie *m, const struct timespec *seen)
{
	char ffmpeg[PATH_MAX];
	if (!ffmpeg_find(ffmpeg, sizeof ffmpeg)) {
		if (!told_missing)
			warn("no preview movie: ffmpeg is not installed on this host (apt-get install ffmpeg)%s%s",
			     getenv("HOTFARM_FFMPEG") ? "; HOTFARM_FFMPEG names " : "",
			     getenv("HOTFARM_FFMPEG") ? getenv("HOTFARM_FFMPEG") : "");
		told_missing = true;
		return;
	}
	told_missing = false;
	char rel[PATH_MAX], previews[PATH_MAX];
	job_relpath(m->id, rel, sizeof rel);
	snprintf(previews, sizeof previews, "%s/%s", rel, job_dir_name(JOB_DIR_PREVIEWS));
	char *argv[] = {prog("hf-movie"), "--at", sp.path, "--ffmpeg", ffmpeg, previews, NULL};
	pid_t pid = spawn(CHILD_MOVIE, m->id, argv);
	free(argv[0]);
	if (pid < 0)
		return;
	m->running = true;
	m->started = mono_us();
	m->seen = *seen;
}

/* Note what queue/ holds now: jobs new to it are followed, those that
 * left it have one build more due. */
static void movies_look(void)
{
	struct strlist l = {0};
	state_list(&sp, STATE_QUEUED, &l);
	for (struct movie *m = movies; m; m = m->link) {
		if (m->queued)
			m->final = true; /* unless it is still there */
		m->queued = false;
	}
	for (size_t i = 0; i < l.n; i++) {
		char id[JOBID_MAX_LEN + 1];
		if (!entry_parse(l.v[i], NULL, NULL, id))
			continue;
		struct movie *m = movie_find(id, true);
		m->queued = true;
		m->final = false;
	}
	strlist_free(&l);
}

/* Forget jobs that are over: no longer queued, their last build done. */
static void movies_forget(void)
{
	for (struct movie **pp = &movies; *pp;) {
		struct movie *m = *pp;
		if (!m->queued && !m->final && !m->running) {
			*pp = m->link;
			free(m);
		} else {
			pp = &m->link;
		}
	}
}

void movie_job_ended(const char *entry)
{
	char id[JOBID_MAX_LEN + 1];
	if (!entry_parse(entry, NULL, NULL, id))
		return;
	struct movie *m = movie_find(id, true);
	m->queued = false;
	m->final = true;
}

void movies_schedule(void)
{
	int64_t now = mono_us();
	if (now >= next_look) {
		movies_look();
		next_look = now + sp.conf.rescan_ms * 1000;
	}
	/* the ended jobs' last movies first, then the rendering ones' */
	for (int pass = 0; pass < 2; pass++)
		for (struct movie *m = movies; m && child_count(CHILD_MOVIE) < MOVIES_AT_ONCE; m = m->link) {
			struct timespec seen = m->seen;
			if (m->running || (pass == 0 ? !m->final : !m->queued))
				continue;
			if (pass == 0) {
				if (previews_any(m))
					movie_start(m, &seen); /* (one that cannot start said why) */
				m->final = false;
			} else if (sp.conf.movie_interval > 0 && now >= m->next) {
				m->next = now + sp.conf.movie_interval * 1000000LL;
				if (previews_changed(m, &seen))
					movie_start(m, &seen);
			}
		}
	movies_forget();
}

void movie_done(const char *id, int code)
{
	struct movie *m = movie_find(id, false);
	if (code != 0)
		warnj(id, -1, "hf-movie for %s exited %d (it said why above)", id, code);
	if (!m)
		return;
	m->running = false;
	/* ffmpeg runs at most half the time: a build that took long waits
	 * as long again before the next */
	int64_t now = mono_us();
	if (m->next < now + (now - m->started))
		m->next = now + (now - m->started);
}
