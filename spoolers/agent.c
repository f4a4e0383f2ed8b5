/* agent.c - render-agent: one per render host. Publishes what the host is
 * (hosts/HOST/host.ini) and a heartbeat, takes frame tickets of queued jobs
 * by rename, renders them with the job's package (argv, never a shell),
 * checks each image in a separate process, publishes it, and bills it.
 * Distrusts the jobs: their files, argument words and renderer output.
 * Crash-only: a killed agent's claims go back to todo/ (by itself at
 * restart, or by watcherd when its heartbeat stops). */
#define _GNU_SOURCE
#include "../layout/host.h"
#include "../layout/ini.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"
#include "../layout/package.h"
#include "../layout/watch.h"
#include "probe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inotifytools/inotify.h>
#include <limits.h>
#include <poll.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOTFARM_LIBEXECDIR
#define HOTFARM_LIBEXECDIR "/usr/local/bin"
#endif

extern char **environ;

static struct spool sp;
static char host[64];
static int hostfd = -1; /* hosts/HOST */
static struct host_record self;
static char checker[PATH_MAX], confiner[PATH_MAX];
static bool stopping;

/* ---- jobs as this agent sees them ---------------------------------------- */

struct byframe {
	long frame;   /* a ticket's first frame */
	size_t index; /* its name in the job's todo listing */
};

/* Every queued job has one; a farm's queue may hold tens of thousands, so
 * what only a job this host works on needs (its description, package,
 * folder) is allocated when it is loaded, and let go again when the job
 * turns out not to be ours to serve. */
struct job {
	char *name;
	char *entry; /* its name in queue/ */
	char *path;  /* SPOOL/jobs/NAME (or sites/SITE/jobs/NAME), while loaded */
	int priority;
	int fd; /* jobs/NAME, while loaded and usable (or running) */
	bool loaded, usable, queued, blocked;
	struct job_desc *jd; /* while loaded and usable (or running) */
	struct package *pkg;
	struct strlist limits;
	struct strlist todo; /* a cached listing of frames/todo, in order */
	size_t next;
	struct byframe *byframe; /* todo by frame, for runs */
	double frame_seconds;    /* measured: a frame's render time, start-up not counted */
	long todo_left, todo_active; /* its tickets in todo/ and active/, counted at todo_at */
	int64_t contact_at;          /* when a check last rebuilt its contact sheet */
	int64_t todo_at;
	int64_t retry_at; /* do not look for tickets again before this (mono) */
	int running;      /* our slots busy with it */
	int fails_in_row;
	long active_all;  /* fair share: its active tickets, all hosts */
	char *program_name, *program; /* argv[0], found in $PATH */
	int64_t queued_seen; /* when its entry was last seen in queue/ */
	bool waiting_deps;   /* its [job] after jobs are not done yet */
	int64_t active_at;
};

static void *job_tree;
static struct job **queue; /* queue order */
static size_t nqueue;

static int cmp_job(const void *a, const void *b)
{
	return strcmp(((const struct job *)a)->name, ((const struct job *)b)->name);
}

/* Let go of what a loaded job holds (it stays loaded: known not to be
 * ours) or (job_unload) also forget that it was looked at. */
static void job_release(struct job *j)
{
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
	free(j->byframe);
	j->byframe = NULL;
	free(j->path);
	j->path = NULL;
}

static void job_unload(struct job *j)
{
	job_release(j);
	j->loaded = false;
}

static void job_free(struct job *j)
{
	job_release(j);
	free(j->name);
	free(j->entry);
	free(j->program_name);
	free(j->program);
	free(j);
}

static struct job *job_get(const char *name)
{
	struct job key = {.name = (char *)name};
	void *r = tfind(&key, &job_tree, cmp_job);
	return r ? *(struct job **)r : NULL;
}

/* Read the job's description and package, and see whether we can serve
 * it; when not, keep only that answer. */
static void job_load(struct job *j)
{
	if (j->loaded)
		return;
	j->loaded = true;
	j->usable = false;
	j->waiting_deps = false;
	char path[PATH_MAX];
	job_path(&sp, j->name, path, sizeof path);
	j->path = xstrdup(path);
	j->fd = job_dir_open(&sp, j->name);
	char err[1024];
	struct ini *ini = j->fd >= 0 ? ini_load(j->fd, "job.ini", "job.ini", err, sizeof err) : NULL;
	if (ini) {
		j->jd = xcalloc(1, sizeof *j->jd);
		j->pkg = xcalloc(1, sizeof *j->pkg);
		int rc = job_desc_parse(ini, "job.ini", 10000000, j->jd, err, sizeof err);
		ini_free(ini);
		if (rc < 0) {
			free(j->jd);
			j->jd = NULL;
		}
		if (!j->jd || package_load(spool_fd(&sp, DIR_CONF), j->jd->package, j->pkg, err, sizeof err) < 0) {
			free(j->pkg);
			j->pkg = NULL;
		}
	}
	if (j->pkg) {
		job_desc_limits(j->jd, &j->limits);
		j->usable = host_matches(&self, j->jd, err, sizeof err);
		if (j->usable && j->jd->after.n && job_deps_ready(&sp, &j->jd->after, err, sizeof err) != 1) {
			j->usable = false;
			j->waiting_deps = true;
		}
		char marker[128];
		snprintf(marker, sizeof marker, "blocked/%s", host);
		bool was = j->blocked;
		j->blocked = faccessat(j->fd, marker, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
		if (was && !j->blocked)
			j->fails_in_row = 0; /* an admin removed the marker */
		if (j->blocked)
			j->usable = false;
	}
	if (!j->usable)
		job_release(j);
}

/* Re-read queue/: the order of the jobs we may take frames of. On a
 * rescan, jobs waiting for others are looked at again too. */
static bool rescanning;

static void queue_refresh(void)
{
	struct strlist l = {0};
	state_list(&sp, STATE_QUEUED, &l);
	for (size_t i = 0; i < nqueue; i++)
		queue[i]->queued = false;
	queue = xrealloc(queue, (l.n ? l.n : 1) * sizeof *queue);
	nqueue = 0;
	for (size_t i = 0; i < l.n; i++) {
		char name[JOBID_MAX_LEN + 1];
		int prio;
		if (!entry_parse(l.v[i], &prio, NULL, name))
			continue;
		struct job *j = job_get(name);
		if (!j) {
			j = xcalloc(1, sizeof *j);
			j->name = xstrdup(name);
			j->fd = -1;
			tsearch(j, &job_tree, cmp_job);
		}
		if (!j->entry || strcmp(j->entry, l.v[i])) {
			free(j->entry);
			j->entry = xstrdup(l.v[i]);
		}
		/* on a rescan, look again at a job this host was blocked from
		 * (an admin may have removed the marker) or that waited for
		 * others (they may be done) */
		if (rescanning && j->loaded && !j->usable && (j->blocked || j->waiting_deps) && j->running == 0)
			job_unload(j);
		if (!j->queued) {
			j->fails_in_row = 0; /* back in the queue (retried): a clean slate */
			if (j->loaded && j->running == 0)
				job_unload(j);
		}
		j->priority = prio;
		j->queued = true;
		j->retry_at = 0;
		queue[nqueue++] = j;
	}
	strlist_free(&l);
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

static void jobs_tidy(void)
{
	twalk_r(job_tree, forget_walk, NULL);
	for (size_t i = 0; i < forget.n; i++) {
		struct job *j = job_get(forget.v[i]);
		tdelete(j, &job_tree, cmp_job);
		job_free(j);
	}
	strlist_free(&forget);
}

/* ---- slots ------------------------------------------------------------------------ */

enum kill_reason { KILL_NONE, KILL_TIMEOUT, KILL_HANG, KILL_CANCEL, KILL_LOST, KILL_STOP, KILL_USER, KILL_TRIM };

/* A slot works through a run: one or more tickets of one job, each of one
 * frame (older spools: several), rendered by one renderer process when
 * the package renders ranges of frames ([range]), else one process per
 * frame. Each frame is checked and published, and its ticket moved to
 * done/, as soon as its image is complete: when the renderer has begun
 * the next frame's file, or has exited 0. One checker runs at a time per
 * slot, beside the renderer. */
enum frame_state {
	F_TODO,  /* not rendered yet (or being rendered) */
	F_READY, /* its image is complete: to be checked */
	F_CHECK, /* being checked */
	F_DONE,  /* published */
	F_BACK,  /* settled otherwise: failed, or back to todo/ */
};

struct run_frame {
	long frame;
	size_t ticket; /* index into the slot's tickets */
	enum frame_state st;
	char image[NAME_MAX + 1]; /* its file in the slot's folder */
	bool maybe; /* the renderer failed with this file last: complete only if it passes the check */
	double wall, cpu_user, cpu_sys;
	long rss_kb;
};

struct run_ticket {
	char name[64];
	int attempt;  /* this try's number: 1 + earlier attempt lines */
	bool settled; /* moved out of active/ */
};

struct slot {
	int index;
	char owner[96]; /* HOST.N */
	struct job *job; /* NULL: idle */
	struct run_ticket *tk;
	size_t ntk;
	struct run_frame *fr;
	size_t nfr;
	size_t pos, end;       /* the renderer at work renders fr[pos..end) */
	bool range;            /* with the package's [range] argv */
	struct strlist tokens; /* "limit\ttoken@owner" */
	pid_t pid;             /* the renderer; 0 when none runs */
	pid_t check_pid;       /* the checker; 0 when none runs */
	size_t checking;       /* the frame it checks */
	bool check_hung;
	int64_t started, frame_started, last_progress, check_started;
	long ticks_user, ticks_sys; /* the renderer's CPU when the last frame was complete */
	off_t log_seen;
	long cpu_seen;
	char outdir[PATH_MAX], log[PATH_MAX];
	struct rusage ru;
	enum kill_reason killing;
	int64_t kill_at;
	char why[400]; /* the renderer failed: why */
	bool counted;  /* ... and it counts as an attempt of the frame it was at */
	bool charged;  /* ... and that frame was charged with it already */
	size_t trim;   /* nonzero: the run ends once fr[trim - 1] is complete (see run_trim) */
	bool shown;    /* its slot file says busy */
};

static struct slot *slots;
static int nslots;    /* allocated: the most this host may run */
static int nslots_on; /* taking work now: fixed, or sized as renders are measured */
static bool slots_auto;

/* The frame the renderer is at: the first of its frames not complete. */
static size_t slot_current(const struct slot *s)
{
	for (size_t i = s->pos; i < s->end; i++)
		if (s->fr[i].st == F_TODO)
			return i;
	return s->end ? s->end - 1 : 0;
}

static void slot_write(struct slot *s)
{
	char name[32], iso[32];
	s->shown = s->job != NULL;
	snprintf(name, sizeof name, "slot.%d", s->index);
	struct buf b = {0};
	if (!s->job) {
		buf_printf(&b, "[slot]\nstate = idle\n");
	} else {
		const struct run_frame *f = &s->fr[slot_current(s)];
		time_iso(now_us() - (mono_us() - s->frame_started), iso);
		buf_printf(&b, "[slot]\nstate = busy\njob = %s\nticket = %s\nframe = %ld\nattempt = %d\nsince = %s\npid = %ld\n",
			   s->job->name, s->tk[f->ticket].name, f->frame, s->tk[f->ticket].attempt, iso, (long)s->pid);
		if (s->end - s->pos > 1)
			buf_printf(&b, "run = %ld-%ld\n", s->fr[s->pos].frame, s->fr[s->end - 1].frame);
	}
	bool sync = sync_writes;
	sync_writes = false; /* a slot file is a picture, not state */
	if (file_write_atomic(hostfd, name, b.data, b.len, 0644) < 0)
		warn("unable to write hosts/%s/%s: %s", host, name, strerror(errno));
	sync_writes = sync;
	buf_free(&b);
}

/* Append a line to ticket T of the slot (in active/). */
static void ticket_note(struct slot *s, size_t t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ticket_note(struct slot *s, size_t t, const char *fmt, ...)
{
	char path[256], line[1024];
	snprintf(path, sizeof path, "frames/active/%s@%s", s->tk[t].name, s->owner);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	int fd = openat(s->job->fd, path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		warnj(s->job->name, -1, "unable to note on ticket %s of %s: %s", s->tk[t].name, s->job->name, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* A ticket we hold (active/NAME@OWNER): its frames still to render (those
 * an earlier holder published are left out: FRAMES, N), how often it was
 * tried (ATTEMPT: this try's number) and whether it failed on this host.
 * False when it cannot be read or lists no frame. */
static bool ticket_read(struct job *j, const char *name, const char *owner, long **frames, size_t *n, int *attempt,
			bool *failed_here)
{
	char path[256];
	snprintf(path, sizeof path, "frames/active/%s@%s", name, owner);
	/* one read: a ticket is a few lines */
	int fd = openat(j->fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	char *text = xmalloc(65536);
	ssize_t got = read(fd, text, 65535);
	close(fd);
	if (got <= 0) {
		free(text);
		return false;
	}
	text[got] = 0;
	bool *published;
	size_t all;
	ticket_frames(text, frames, &published, &all);
	*n = 0;
	for (size_t i = 0; i < all; i++)
		if (!published[i])
			(*frames)[(*n)++] = (*frames)[i];
	free(published);
	*attempt = 1;
	*failed_here = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "attempt = ", 10)) {
			(*attempt)++;
			char who[100];
			if (sscanf(line + 10, "%*d %99s", who) == 1) {
				char *dot = strrchr(who, '.');
				if (dot)
					*dot = 0;
				if (!strcmp(who, host))
					*failed_here = true;
			}
		}
	}
	free(text);
	return all > 0;
}

/* ---- processes ---------------------------------------------------------------------- */

/* Start ARGV[0] (a path) in DIR with its output going to OUTFD, in a
 * process group of its own so that it can be killed whole, dying with the
 * agent (PR_SET_PDEATHSIG), and marked with HOTFARM_SLOT=OWNER in its
 * environment so that a restarted agent finds what a killed one left. */
static volatile int spawn_errno;

static pid_t spawn_in(const char *dir, char *const argv[], int outfd, const char *owner)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xcalloc(n + 2, sizeof *envp);
	char *mark = xasprintf("HOTFARM_SLOT=%s", owner);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HOTFARM_SLOT=", 13))
			envp[k++] = environ[i];
	envp[k++] = mark;
	sigset_t none;
	sigemptyset(&none);
	spawn_errno = 0;
	/* vfork: the agent is paused until exec, and the child makes only
	 * system calls (as posix_spawn does); errors come back through
	 * spawn_errno, which the two share */
	pid_t pid = vfork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0);
		/* the agent ignores only SIGPIPE; everything else is default */
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0 ||
		    close_range(3, ~0U, 0) < 0 || (dir && chdir(dir) < 0)) {
			spawn_errno = errno;
			_exit(127);
		}
		execve(argv[0], argv, envp);
		spawn_errno = errno;
		_exit(127);
	}
	int e = pid < 0 ? errno : spawn_errno;
	free(mark);
	free(envp);
	if (pid > 0 && e) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	if (pid < 0) {
		errno = e;
		return -1;
	}
	return pid;
}

/* What a killed agent of this host left running: processes marked with
 * one of our slots. They would write into folders we are about to reuse. */
static void kill_leftovers(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char want[100];
	int n = snprintf(want, sizeof want, "HOTFARM_SLOT=%s.", host);
	int killed = 0;
	while (d && (e = readdir(d))) {
		long pid = atol(e->d_name);
		if (pid <= 1 || pid == (long)getpid())
			continue;
		char path[64], env[65536];
		snprintf(path, sizeof path, "/proc/%ld/environ", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, env, sizeof env - 1);
		close(fd);
		for (ssize_t i = 0; i < len;) {
			if (!strncmp(env + i, want, (size_t)n) && i + n <= len) {
				kill((pid_t)pid, SIGKILL);
				killed++;
				break;
			}
			i += (ssize_t)strnlen(env + i, (size_t)(len - i)) + 1;
		}
	}
	if (d)
		closedir(d);
	if (killed)
		say("killed %d processes an earlier run of %s left behind", killed, host);
}

/* Where a command lives: looked up in $PATH once per job and program. */
static bool find_program(const char *name, char *out, size_t outsize)
{
	if (strchr(name, '/')) {
		snprintf(out, outsize, "%s", name);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char *copy = xstrdup(path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	bool found = false;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, outsize, "%s/%s", *dir ? dir : ".", name);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* Stop the slot's renderer (SIGTERM to its group, SIGKILL after the
 * grace); for a cancel or a stop, its checker too. */
static void slot_kill(struct slot *s, enum kill_reason why)
{
	if (!s->job || s->killing)
		return;
	if (why == KILL_CANCEL || why == KILL_LOST || why == KILL_STOP) {
		if (s->check_pid > 0)
			kill(-s->check_pid, SIGKILL);
		if (s->pid <= 0) {
			s->killing = why; /* nothing renders: the checks' end settles it */
			return;
		}
	}
	if (s->pid <= 0)
		return;
	s->killing = why;
	kill(-s->pid, SIGTERM);
	s->kill_at = mono_us() + sp.conf.kill_grace_ms * 1000;
}

/* ---- the work of a slot -------------------------------------------------------------- */

static void slot_idle(struct slot *s)
{
	bool quiet = s->job && s->job->pkg->builtin_null;
	for (size_t i = 0; i < s->tokens.n; i++) {
		char *tab = strchr(s->tokens.v[i], '\t');
		*tab = 0;
		if (limit_give(&sp, s->tokens.v[i], tab + 1) < 0 && errno != ENOENT)
			warn("unable to give back token %s of limit %s: %s", tab + 1, s->tokens.v[i], strerror(errno));
	}
	strlist_free(&s->tokens);
	if (s->job)
		s->job->running--;
	s->job = NULL;
	s->pid = s->check_pid = 0;
	s->killing = KILL_NONE;
	free(s->fr);
	free(s->tk);
	s->fr = NULL;
	s->tk = NULL;
	s->nfr = s->ntk = s->pos = s->end = 0;
	s->why[0] = 0;
	s->charged = false;
	if (*s->outdir)
		tree_remove(AT_FDCWD, s->outdir);
	s->outdir[0] = 0;
	if (s->index >= nslots_on) {
		char name[32];
		snprintf(name, sizeof name, "slot.%d", s->index);
		unlinkat(hostfd, name, 0);
		s->shown = false;
	} else if (!quiet && s->shown) {
		slot_write(s);
	}
}

static void job_done_check(struct job *j)
{
	/* the last word on the contact sheet, before the job is done */
	if (j->fd >= 0 && !j->pkg->no_output && !j->pkg->builtin_null && tickets_none(j->fd, TICKET_TODO) == 1 &&
	    tickets_none(j->fd, TICKET_ACTIVE) == 1 && faccessat(j->fd, "previews/contact.png", F_OK, 0) == 0) {
		char previews[PATH_MAX];
		snprintf(previews, sizeof previews, "%s/previews", j->path);
		char *argv[] = {checker, "--contact-only", previews, NULL};
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
		pid_t pid = nul < 0 ? -1 : spawn_in(NULL, argv, nul, "sheet");
		if (nul >= 0)
			close(nul);
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	if (job_try_finish(&sp, j->name) == 1) {
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

/* The frame's output name: the job's pattern with its #### filled in. */
static void output_name(const struct job *j, long frame, char *out, size_t outsize)
{
	const char *pat = j->jd->output, *h = strchr(pat, '#');
	size_t nh = 0;
	while (h && h[nh] == '#')
		nh++;
	if (!h) {
		snprintf(out, outsize, "%s", pat);
		return;
	}
	snprintf(out, outsize, "%.*s%0*ld%s", (int)(h - pat), pat, (int)(nh < 4 ? 4 : nh), frame, h + nh);
}


/* ---- how long a run -------------------------------------------------------------------- */

/* What this agent measured of a package's renderer: the seconds a process
 * costs before its first frame (start-up, parsing the scene). */
static struct overhead {
	char package[64];
	double seconds;
} overheads[32];
static size_t noverheads;

static struct overhead *overhead_of(const char *package)
{
	for (size_t i = 0; i < noverheads; i++)
		if (!strcmp(overheads[i].package, package))
			return &overheads[i];
	if (noverheads == sizeof overheads / sizeof *overheads)
		return NULL;
	struct overhead *o = &overheads[noverheads++];
	snprintf(o->package, sizeof o->package, "%s", package);
	o->seconds = -1;
	return o;
}

/* The start-up cost of each package with a [probe] startup: timed once,
 * beside whatever else the agent does, when it starts. */
static struct startup_probe {
	char package[64];
	pid_t pid;
	int64_t started;
} startups[32];
static size_t nstartups;

static void startups_spawn(void)
{
	struct strlist names = {0};
	dir_names(spool_fd(&sp, DIR_CONF), "packages", &names);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	for (size_t i = 0; i < names.n && nul >= 0 && nstartups < sizeof startups / sizeof *startups; i++) {
		size_t n = strlen(names.v[i]);
		if (n < 5 || strcmp(names.v[i] + n - 4, ".ini"))
			continue;
		names.v[i][n - 4] = 0;
		struct package p;
		char err[512], program[PATH_MAX];
		if (package_load(spool_fd(&sp, DIR_CONF), names.v[i], &p, err, sizeof err) < 0)
			continue;
		if (p.startup_args.n && *p.probe_command && find_program(p.probe_command, program, sizeof program)) {
			struct strlist argv = {0};
			strlist_add(&argv, program);
			for (size_t k = 0; k < p.startup_args.n; k++)
				strlist_add(&argv, p.startup_args.v[k]);
			strlist_take(&argv, NULL);
			struct startup_probe *sp_ = &startups[nstartups];
			sp_->started = mono_us();
			sp_->pid = spawn_in("/", argv.v, nul, "startup");
			if (sp_->pid > 0) {
				snprintf(sp_->package, sizeof sp_->package, "%s", p.name);
				nstartups++;
			}
			argv.n--;
			strlist_free(&argv);
		}
		package_free(&p);
	}
	if (nul >= 0)
		close(nul);
	strlist_free(&names);
}

/* A startup probe ended: true when PID was one. */
static bool startup_exited(pid_t pid, int status)
{
	for (size_t i = 0; i < nstartups; i++)
		if (startups[i].pid == pid) {
			startups[i].pid = 0;
			struct overhead *o = overhead_of(startups[i].package);
			double t = (double)(mono_us() - startups[i].started) / 1e6;
			if (o && o->seconds < 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				o->seconds = t;
				say("%s takes %.2f s to start", startups[i].package, t);
			}
			return true;
		}
	return false;
}

/* The other live hosts (not lost, heartbeat within host_timeout), their
 * records read again at most every few seconds. */
static struct host_record *others;
static size_t nothers;

static void others_refresh(void)
{
	static int64_t at;
	int64_t now = mono_us();
	if (at && now - at < 3000000)
		return;
	at = now;
	for (size_t i = 0; i < nothers; i++)
		host_free(&others[i]);
	nothers = 0;
	struct strlist live = {0};
	host_list(&sp, &live);
	others = xrealloc(others, (live.n ? live.n : 1) * sizeof *others);
	int64_t server = server_now_us(&sp);
	for (size_t i = 0; i < live.n; i++) {
		struct host_record *h = &others[nothers];
		if (strcmp(live.v[i], host) && host_read(&sp, live.v[i], h) == 0) {
			if (!h->lost && server - h->heartbeat_us < sp.conf.host_timeout * 1000000LL)
				nothers++;
			else
				host_free(h);
		}
	}
	strlist_free(&live);
}

/* How many live hosts could share a job's frames, ours included. */
static long hosts_live(void)
{
	others_refresh();
	return 1 + (long)nothers;
}

/* The frames a run of job J should hold. chunk in job.ini says it; else
 * the shortest run that keeps the renderer's start-up under about 5% of
 * the run (start-up <= 0.05 * (start-up + n * frame time)), but no longer
 * than the frames left shared among the slots that could take them: a
 * long run at the end would leave the other slots idle. With the start-up
 * known (the package's [probe] startup) and the frame time not, single
 * frames: the first samples give it; with neither, runs of 2, which
 * measure both. */
static long run_length(struct job *j, long also)
{
	if (!j->pkg->range_argv.n || j->pkg->no_output)
		return 1;
	if (j->jd->chunk > 0)
		return j->jd->chunk;
	/* the frames left: in todo/ (counted again at most every 200 ms),
	 * ALSO more (those claimed by runs, all hosts, to see whether a run
	 * holds more than its share), and the one being claimed */
	if (mono_us() - j->todo_at > 200000) {
		j->todo_left = ticket_count(j->fd, TICKET_TODO);
		j->todo_active = ticket_count(j->fd, TICKET_ACTIVE);
		j->todo_at = mono_us();
	}
	long left = (j->todo_left > 0 ? j->todo_left : 0) + (also ? j->todo_active : 0) + 1;
	long share = (left + nslots_on * hosts_live() - 1) / (nslots_on * hosts_live());
	struct overhead *o = overhead_of(j->pkg->name);
	long n;
	if (o && o->seconds >= 0 && j->frame_seconds <= 0)
		return left > 10000 ? 10000 : left; /* all, until frames give the time (see run_trim) */
	else if (!o || o->seconds < 0 || j->frame_seconds <= 0)
		n = 2;
	else
		n = (long)(19.0 * o->seconds / j->frame_seconds) + 1;
	if (n > share)
		n = share;
	return n < 1 ? 1 : n > 10000 ? 10000 : n;
}

/* A process of S rendered its frames: learn the start-up and frame times
 * from when each was complete (FIRST: the first frame's, from the start;
 * EACH: the mean of the others', or -1 with one frame). */
static void run_learn(struct slot *s, double first, double each)
{
	struct job *j = s->job;
	struct overhead *o = overhead_of(j->pkg->name);
	if (each > 0) {
		double ov = first - each;
		if (o)
			o->seconds = o->seconds < 0 ? (ov > 0 ? ov : 0) : 0.5 * o->seconds + 0.5 * (ov > 0 ? ov : 0);
		j->frame_seconds = j->frame_seconds > 0 ? 0.5 * j->frame_seconds + 0.5 * each : each;
	} else if (o && o->seconds >= 0 && first > o->seconds) {
		double f = first - o->seconds;
		j->frame_seconds = j->frame_seconds > 0 ? 0.5 * j->frame_seconds + 0.5 * f : f;
	}
}

/* ---- slots = auto ------------------------------------------------------------------- */

static double util = -1;  /* a render's CPU time over its wall time, smoothed */
static long peak_rss_kb;  /* the largest render seen */

/* The share of the host's CPU time that was idle since the last call. */
static bool host_idle(double *idle)
{
	static unsigned long long last_total, last_idle;
	FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = {0};
	bool ok = f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
			      &v[5], &v[6], &v[7]) == 8;
	if (f)
		fclose(f);
	if (!ok)
		return false;
	unsigned long long total = 0, idl = v[3] + v[4];
	for (int i = 0; i < 8; i++)
		total += v[i];
	bool have = last_total && total > last_total;
	if (have)
		*idle = (double)(idl - last_idle) / (double)(total - last_total);
	last_total = total;
	last_idle = idl;
	return have;
}

static long mem_available_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "MemAvailable:", 13))
			kb = atol(line + 13);
	if (f)
		fclose(f);
	return kb;
}

static void slots_resize(int n)
{
	int old = nslots_on;
	nslots_on = n;
	for (int i = old; i < n; i++)
		slot_write(&slots[i]); /* a new idle slot */
	for (int i = n; i < old; i++)
		if (!slots[i].job) {
			char name[32];
			snprintf(name, sizeof name, "slot.%d", i);
			unlinkat(hostfd, name, 0);
		}
}

static char host_text[8192];

/* hosts/HOST/host.ini says the new number of slots: its slots line
 * changed in what was last written, without probing the host again (a
 * probe runs each package's version command). */
static void host_slots_update(void)
{
	char *line = strstr(host_text, "\nslots = ");
	if (!line)
		return;
	char *end = strchr(line + 1, '\n');
	struct buf b = {0};
	buf_add(&b, host_text, (size_t)(line - host_text));
	buf_printf(&b, "\nslots = %d", nslots_on);
	if (end)
		buf_add(&b, end, strlen(end));
	if (file_write_atomic(hostfd, "host.ini", b.data, b.len, 0644) < 0)
		warn("unable to write hosts/%s/host.ini: %s", host, strerror(errno));
	else
		snprintf(host_text, sizeof host_text, "%s", b.data);
	buf_free(&b);
}

/* Size the slots to the renders: as many as the CPUs can keep busy given
 * how much of their time renders use them (fewer than CPUs when each
 * uses several), never more than free RAM holds at the largest render's
 * peak, and grown only while a quarter of the CPU time is idle. */
static void slots_size(void)
{
	int running = 0;
	for (int i = 0; i < nslots; i++)
		running += slots[i].job != NULL;
	double u = util, idle = 1;
	bool measured = host_idle(&idle);
	long want = slots_want(sysconf(_SC_NPROCESSORS_ONLN), u, mem_available_kb(), peak_rss_kb, running, nslots);
	static long held_at; /* the size last held back, said once */
	if (want > nslots_on && (!measured || idle < 0.25)) {
		/* the CPUs are busy already (or not known yet): say so, with
		 * the figures, once for each size held back */
		if (measured && want != held_at)
			say("%d slot%s stay (renders use %.0f%% of a CPU over their time, so %ld would fit, but the "
			    "CPUs were only %.0f%% idle)",
			    nslots_on, nslots_on == 1 ? "" : "s", 100 * u, want, 100 * idle);
		held_at = measured ? want : held_at;
		return;
	}
	held_at = 0;
	if (want == nslots_on)
		return;
	char idle_text[40] = "";
	if (measured)
		snprintf(idle_text, sizeof idle_text, "; the CPUs were %.0f%% idle", 100 * idle);
	say("%ld slot%s now (renders use %.0f%% of a CPU over their time, up to %ld MB each%s)", want,
	    want == 1 ? "" : "s", 100 * u, peak_rss_kb / 1024, idle_text);
	slots_resize((int)want);
	host_slots_update();
}

/* A render process ended well: CPU and wall seconds, peak RSS. */
static void slots_learn(double cpu, double wall, long rss_kb)
{
	if (!slots_auto || wall < 0.05)
		return;
	if (rss_kb > peak_rss_kb)
		peak_rss_kb = rss_kb;
	/* beside the agent's own start-up probes (Blender's takes a CPU for a
	 * second or more) a render's share of a CPU says little of it */
	for (size_t i = 0; i < nstartups; i++)
		if (startups[i].pid > 0)
			return;
	double u = cpu / wall;
	util = util < 0 ? u : 0.6 * util + 0.4 * u;
	slots_size();
}

/* ---- starting a renderer ----------------------------------------------------------------- */

static void run_advance(struct slot *s);

/* Start the renderer for S's frames from s->pos: a range of consecutive
 * frames with the package's [range] argv, or the one frame. False (with
 * s->why) when it could not be started. */
static bool run_spawn(struct slot *s)
{
	struct job *j = s->job;
	s->end = s->pos + 1;
	if (j->pkg->range_argv.n && !j->pkg->no_output)
		while (s->end < s->nfr && s->fr[s->end].st == F_TODO && s->fr[s->end].frame == s->fr[s->end - 1].frame + 1)
			s->end++;
	/* one frame alone: the package's plain argv, its one image (POV-Ray
	 * does not number the file of a one-frame animation) */
	s->range = s->end - s->pos > 1;
	const struct run_frame *f = &s->fr[s->pos];
	int attempt = s->tk[f->ticket].attempt;
	s->counted = true;
	char outdir[PATH_MAX];
	/* a folder of its own per process: nothing left by an earlier one
	 * can land in it */
	static unsigned long attempts;
	snprintf(outdir, sizeof outdir, "%s/output/.%s.%ld.%lu", j->path, s->owner, (long)getpid(), ++attempts);
	if (*s->outdir)
		tree_remove(AT_FDCWD, s->outdir);
	s->outdir[0] = 0;
	if (!j->pkg->no_output) {
		snprintf(s->outdir, sizeof s->outdir, "%s", outdir);
		tree_remove(AT_FDCWD, s->outdir);
		if (mkdir(s->outdir, 0755) < 0) {
			snprintf(s->why, sizeof s->why, "cannot make a temporary folder for the image");
			return false;
		}
	}
	if (s->end - s->pos > 1)
		snprintf(s->log, sizeof s->log, "%s/logs/frame%04ld-%04ld.try%d.%s.log", j->path, f->frame,
			 s->fr[s->end - 1].frame, attempt, s->owner);
	else
		snprintf(s->log, sizeof s->log, "%s/logs/frame%04ld.try%d.%s.log", j->path, f->frame, attempt,
			 s->owner);
	char ext[16] = ".png";
	const char *dot = strrchr(j->jd->output, '.');
	if (dot && strlen(dot) < sizeof ext && !strchr(dot, '/'))
		snprintf(ext, sizeof ext, "%s", dot);
	char output[PATH_MAX], files[PATH_MAX], scene[PATH_MAX];
	snprintf(output, sizeof output, "%s/frame%s", outdir, ext);
	snprintf(files, sizeof files, "%s/files", j->path);
	snprintf(scene, sizeof scene, "%s/%s", files, j->jd->scene);
	struct render_vars v = {
		.scene = scene, .files = files, .output = output, .outdir = outdir, .job = j->name,
		.frame = f->frame, .first_frame = j->jd->frames[0], .last_frame = j->jd->frames[j->jd->nframes - 1],
		.run_first = f->frame, .run_last = s->fr[s->end - 1].frame,
		.width = j->jd->width, .height = j->jd->height, .args = &j->jd->argv,
	};
	struct strlist argv = {0};
	char err[512];
	if (package_argv(j->pkg, &v, s->range, &argv, err, sizeof err) < 0) {
		strlist_free(&argv);
		snprintf(s->why, sizeof s->why, "%s", err);
		return false;
	}
	/* the log starts with what was run, where and when */
	int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (logfd < 0) {
		strlist_free(&argv);
		snprintf(s->why, sizeof s->why, "cannot create the frame's log");
		return false;
	}
	struct buf head = {0};
	char iso[32];
	time_iso(now_us(), iso);
	if (s->end - s->pos > 1)
		buf_printf(&head, "# hotfarm: job %s frames %ld-%ld attempt %d on %s at %s\n# hotfarm: argv:", j->name,
			   f->frame, s->fr[s->end - 1].frame, attempt, s->owner, iso);
	else
		buf_printf(&head, "# hotfarm: job %s frame %ld attempt %d on %s at %s\n# hotfarm: argv:", j->name,
			   f->frame, attempt, s->owner, iso);
	for (size_t i = 0; i < argv.n; i++) {
		char w[600];
		text_escape(argv.v[i], w, sizeof w);
		buf_printf(&head, " [%s]", w);
	}
	buf_printf(&head, "\n");
	if (write(logfd, head.data, head.len) != (ssize_t)head.len)
		warn("unable to write %s: %s", s->log, strerror(errno));
	buf_free(&head);
	if (!j->program_name || strcmp(argv.v[0], j->program_name)) {
		char found[PATH_MAX];
		free(j->program_name);
		free(j->program);
		j->program_name = xstrdup(argv.v[0]);
		j->program = find_program(argv.v[0], found, sizeof found) ? xstrdup(found) : NULL;
	}
	if (!j->program) {
		char w[200];
		text_escape(argv.v[0], w, sizeof w);
		snprintf(s->why, sizeof s->why, "the renderer '%s' is not installed on %s", w, host);
		close(logfd);
		strlist_free(&argv);
		return false;
	}
	free(argv.v[0]);
	argv.v[0] = xstrdup(j->program);
	if (sp.conf.confine) {
		/* hf-confine --root JOB --ro PROGRAM --ro <package paths> [limits] -- argv */
		struct strlist full = {0};
		strlist_add(&full, confiner);
		strlist_add(&full, "--root");
		strlist_add(&full, j->path);
		strlist_add(&full, "--ro");
		strlist_add(&full, j->program);
		for (size_t i = 0; i < j->pkg->confine_read.n; i++) {
			strlist_add(&full, "--ro");
			strlist_add(&full, j->pkg->confine_read.v[i]);
		}
		char num[32];
		if (j->jd->timeout > 0) {
			/* a CPU-time ceiling the kernel holds even if the agent dies:
			 * the job's timeout for each frame of the run on every CPU,
			 * and a little more (the agent stops it at the timeout) */
			long cpus = sysconf(_SC_NPROCESSORS_ONLN);
			snprintf(num, sizeof num, "%ld", (j->jd->timeout * (long)(s->end - s->pos) + 5) * (cpus > 0 ? cpus : 1));
			strlist_add(&full, "--cpu");
			strlist_add(&full, num);
		}
		if (sp.conf.render_mem) {
			snprintf(num, sizeof num, "%llu", sp.conf.render_mem);
			strlist_add(&full, "--mem");
			strlist_add(&full, num);
		}
		if (sp.conf.render_fsize) {
			snprintf(num, sizeof num, "%llu", sp.conf.render_fsize);
			strlist_add(&full, "--fsize");
			strlist_add(&full, num);
		}
		if (*sp.conf.render_user && geteuid() == 0) {
			strlist_add(&full, "--user");
			strlist_add(&full, sp.conf.render_user);
		}
		strlist_add(&full, "--");
		for (size_t i = 0; i < argv.n; i++)
			strlist_add(&full, argv.v[i]);
		strlist_free(&argv);
		argv = full;
	}
	strlist_take(&argv, NULL);
	s->pid = spawn_in(files, argv.v, logfd, s->owner);
	int e = errno;
	close(logfd);
	argv.n--;
	strlist_free(&argv);
	if (s->pid < 0) {
		s->pid = 0;
		snprintf(s->why, sizeof s->why, "the renderer could not be started: %s", strerror(e));
		return false;
	}
	s->started = s->frame_started = s->last_progress = mono_us();
	s->log_seen = 0;
	s->cpu_seen = 0;
	s->ticks_user = s->ticks_sys = 0;
	s->killing = KILL_NONE;
	s->why[0] = 0;
	s->charged = false;
	s->trim = 0;
	/* the slot file says busy once the frame has run for a moment (see
	 * slots_show): a frame of a few ms costs no file writes */
	return true;
}

/* Whether another live host could render job J (for retrying a frame
 * elsewhere). */
static bool others_can(struct job *j)
{
	others_refresh();
	char why[200];
	for (size_t i = 0; i < nothers; i++)
		if (host_matches(&others[i], j->jd, why, sizeof why))
			return true;
	return false;
}

/* The frame a ticket name RANK-FIRST[-LAST] begins with, or -1. */
static long ticket_first_frame(const char *name)
{
	const char *dash = strchr(name, '-');
	return dash && dash[1] >= '0' && dash[1] <= '9' ? atol(dash + 1) : -1;
}

static int cmp_byframe(const void *a, const void *b)
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
	qsort(j->byframe, j->todo.n, sizeof *j->byframe, cmp_byframe);
}

static const char *todo_find(const struct job *j, long frame)
{
	if (!j->byframe)
		return NULL;
	struct byframe key = {frame, 0};
	const struct byframe *b = bsearch(&key, j->byframe, j->todo.n, sizeof *j->byframe, cmp_byframe);
	return b ? j->todo.v[b->index] : NULL;
}

/* Whether FRAME's ticket is in J's todo/ now (the cached listing may be
 * old): its name, or NULL. */
static const char *todo_has(const struct job *j, long frame)
{
	const char *t = todo_find(j, frame);
	char path[128];
	if (t)
		snprintf(path, sizeof path, "frames/todo/%s", t);
	return t && faccessat(j->fd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? t : NULL;
}

/* Add ticket T (claimed by S) to S's run: FRAMES are those still to render. */
static void run_add(struct slot *s, const char *t, const long *frames, size_t n, int attempt)
{
	s->tk = xrealloc(s->tk, (s->ntk + 1) * sizeof *s->tk);
	struct run_ticket *k = &s->tk[s->ntk];
	memset(k, 0, sizeof *k);
	snprintf(k->name, sizeof k->name, "%s", t);
	k->attempt = attempt;
	s->fr = xrealloc(s->fr, (s->nfr + n) * sizeof *s->fr);
	for (size_t i = 0; i < n; i++) {
		memset(&s->fr[s->nfr], 0, sizeof *s->fr);
		s->fr[s->nfr].frame = frames[i];
		s->fr[s->nfr].ticket = s->ntk;
		s->nfr++;
	}
	s->ntk++;
}

/* After S took its first ticket (of one frame, F): claim the tickets of
 * the frames that follow, while they are in todo/, up to the run's length. */
/* Claim the ticket of FRAME for S's run: its name (ATTEMPT: its try's
 * number), or NULL when it is not in todo/, another agent was first, or
 * it is no plain ticket of that one frame to render here (it goes back,
 * for a run of its own; to done/ when an earlier holder published it). */
static const char *claim_frame(struct slot *s, long frame, int *attempt)
{
	struct job *j = s->job;
	const char *t = todo_find(j, frame);
	if (!t || ticket_claim(j->fd, t, s->owner) < 0)
		return NULL;
	long *frames = NULL;
	size_t n = 0;
	bool failed_here = false;
	bool ok = ticket_read(j, t, s->owner, &frames, &n, attempt, &failed_here);
	bool plain = ok && n == 1 && frames[0] == frame && !(failed_here && others_can(j));
	if (!plain)
		ticket_finish(j->fd, t, s->owner, ok && n == 0 ? TICKET_DONE : TICKET_TODO);
	free(frames);
	return plain ? t : NULL;
}

static void run_extend(struct slot *s, long f, long want)
{
	struct job *j = s->job;
	/* a few frames left over between this run and the next claimed one
	 * would cost a process of their own: take them along */
	long more = 0;
	while (want > 1 && more <= want / 4 && todo_has(j, f + want + more))
		more++;
	if (more <= want / 4)
		want += more;
	for (long k = 1; k < want; k++) {
		int attempt;
		long frame = f + k;
		const char *t = claim_frame(s, frame, &attempt);
		if (!t)
			break;
		run_add(s, t, &frame, 1, attempt);
	}
}

/* Take the first ticket we can of job J, and those that follow it for a
 * run. */
static bool slot_take(struct slot *s, struct job *j)
{
	/* tokens first: without them the ticket would only go back */
	for (size_t i = 0; i < j->limits.n; i++) {
		char held[256];
		if (limit_take(&sp, j->limits.v[i], s->owner, held) < 0) {
			/* all taken: look again soon (tokens come back as frames end) */
			j->retry_at = mono_us() + 200000;
			for (size_t k = 0; k < s->tokens.n; k++) {
				char *tab = strchr(s->tokens.v[k], '\t');
				*tab = 0;
				limit_give(&sp, s->tokens.v[k], tab + 1);
			}
			strlist_free(&s->tokens);
			return false;
		}
		char *t = xasprintf("%s\t%s", j->limits.v[i], held);
		strlist_take(&s->tokens, t);
	}
	for (int round = 0; round < 2; round++) {
		while (j->next < j->todo.n) {
			const char *t = j->todo.v[j->next++];
			if (ticket_claim(j->fd, t, s->owner) < 0)
				continue; /* another agent was first */
			if (j->pkg->builtin_null) {
				/* benchmarking: the claim path alone */
				if (ticket_finish(j->fd, t, s->owner, TICKET_DONE) < 0 && errno != ENOENT)
					warn("unable to finish ticket %s: %s", t, strerror(errno));
				s->job = j;
				j->running++;
				slot_idle(s);
				return true;
			}
			long *frames = NULL;
			size_t n = 0;
			int attempt;
			bool failed_here = false;
			if (!ticket_read(j, t, s->owner, &frames, &n, &attempt, &failed_here)) {
				warnj(j->name, -1, "ticket %s of %s is unreadable; it goes to failed/", t, j->name);
				ticket_finish(j->fd, t, s->owner, TICKET_FAILED);
				free(frames);
				continue;
			}
			if (n == 0) {
				/* an earlier holder published every frame of it */
				ticket_finish(j->fd, t, s->owner, TICKET_DONE);
				free(frames);
				continue;
			}
			/* still queued? (a cancel or hold may have come meanwhile;
			 * inotify tells us too, so looking every 50 ms is enough) */
			int64_t now = mono_us();
			if (now - j->queued_seen > 50000 &&
			    faccessat(state_fd(&sp, STATE_QUEUED), j->entry, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
				ticket_finish(j->fd, t, s->owner, TICKET_TODO);
				free(frames);
				j->retry_at = INT64_MAX;
				break;
			}
			j->queued_seen = now;
			if (failed_here && others_can(j)) {
				/* it failed here before: let another host try it */
				ticket_finish(j->fd, t, s->owner, TICKET_TODO);
				free(frames);
				continue;
			}
			s->job = j;
			j->running++;
			long want = n == 1 ? run_length(j, 0) : 1;
			if (want > 1 && atol(t) >= 1 && todo_has(j, frames[0] - 1)) {
				/* past the first sample (the first frame): the run
				 * starts where this ticket's block of todo frames
				 * does, so that no short piece is left before it */
				long b = frames[0];
				while (frames[0] - b + 1 < want && todo_has(j, b - 1))
					b--;
				int battempt;
				const char *bt = claim_frame(s, b, &battempt);
				if (bt) {
					/* this ticket goes back: the run takes it in order */
					ticket_finish(j->fd, t, s->owner, TICKET_TODO);
					t = bt, frames[0] = b, attempt = battempt;
				}
			}
			run_add(s, t, frames, n, attempt);
			if (n == 1)
				run_extend(s, frames[0], want);
			free(frames);
			s->pos = 0;
			run_advance(s);
			return true;
		}
		if (round == 0) {
			/* the cached listing is used up: list todo/ again */
			strlist_free(&j->todo);
			j->next = 0;
			DIR *d = dir_open(j->fd, "frames/todo");
			struct dirent *e;
			while (d && (e = readdir(d)))
				if (e->d_name[0] != '.')
					strlist_add(&j->todo, e->d_name);
			if (d)
				closedir(d);
			strlist_sort(&j->todo);
			if (j->pkg->range_argv.n)
				todo_index(j);
			j->todo_left = (long)j->todo.n;
			j->todo_at = mono_us();
			if (j->todo.n == 0)
				break;
		}
	}
	/* nothing to take now: look again on the next event or rescan; and
	 * if nothing runs either, the job is over */
	j->retry_at = mono_us() + 1000000LL * sp.conf.heartbeat;
	job_done_check(j);
	for (size_t k = 0; k < s->tokens.n; k++) {
		char *tab = strchr(s->tokens.v[k], '\t');
		*tab = 0;
		limit_give(&sp, s->tokens.v[k], tab + 1);
	}
	strlist_free(&s->tokens);
	return false;
}

static long active_all(struct job *j)
{
	if (mono_us() - j->active_at > 500000) {
		j->active_all = ticket_count(j->fd, TICKET_ACTIVE);
		j->active_at = mono_us();
	}
	return j->active_all;
}

/* Give slot S a ticket: queue order; in fair-share mode, among the jobs of
 * the best priority the one with the fewest running frames first. */
static bool slot_fill(struct slot *s)
{
	int64_t now = mono_us();
	for (size_t q = 0; q < nqueue;) {
		size_t end = q;
		while (end < nqueue && queue[end]->priority == queue[q]->priority)
			end++;
		struct job *best = NULL;
		for (size_t k = q; k < end; k++) {
			struct job *j = queue[k];
			if (j->retry_at > now)
				continue;
			job_load(j);
			if (!j->usable)
				continue;
			if (!sp.conf.fair_share) {
				if (slot_take(s, j))
					return true;
			} else if (!best || active_all(j) < active_all(best)) {
				best = j;
			}
		}
		if (best) {
			if (slot_take(s, best)) {
				best->active_at = 0;
				return true;
			}
			continue; /* best had nothing after all: this priority again without it */
		}
		q = end;
	}
	return false;
}

/* ---- a full disk: frames wait, and what failed for it is not counted ---------------------- */

static int64_t full_until;   /* while the disk is short, take no frames before this (mono us) */
static int64_t full_backoff; /* how long to wait next: 1 s, doubling to a minute */

/* Whether the disk of FD has less than [agent] min_free free (AVAIL). */
static bool disk_short(int fd, unsigned long long *avail)
{
	struct statvfs v;
	*avail = 0;
	if (fstatvfs(fd, &v) < 0)
		return false;
	*avail = (unsigned long long)v.f_bavail * v.f_frsize;
	return *avail < sp.conf.min_free;
}

static void disk_wait(unsigned long long avail)
{
	if (!full_backoff) {
		char a[32], m[32];
		human_bytes(avail, a);
		human_bytes(sp.conf.min_free, m);
		warn("the spool's disk has %s free, less than [agent] min_free %s: taking no frames until space is freed",
		     a, m);
	}
	full_backoff = full_backoff ? full_backoff * 2 : 1000000;
	if (full_backoff > 60000000)
		full_backoff = 60000000;
	full_until = mono_us() + full_backoff;
}

/* Whether frames may be taken now (the disk has space). */
static bool disk_ok(void)
{
	if (full_until && mono_us() < full_until)
		return false;
	unsigned long long avail = 0;
	if (disk_short(spool_fd(&sp, DIR_JOBS), &avail)) {
		disk_wait(avail);
		return false;
	}
	if (full_backoff) {
		char a[32];
		human_bytes(avail, a);
		say("the spool's disk has %s free again: taking frames", a);
	}
	full_until = full_backoff = 0;
	return true;
}

static bool draining; /* hosts/HOST/drain: finish what runs, take nothing new */

static void fill_slots(void)
{
	/* hosts/HOST/drain: one look before taking anything new */
	draining = faccessat(hostfd, "drain", F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (stopping || draining || !disk_ok())
		return;
	for (int i = 0; i < nslots_on; i++) {
		struct slot *s = &slots[i];
		/* a frame of the null package is over at once: take the next */
		while (!s->job)
			if (!slot_fill(s))
				return; /* nothing to do for any slot */
	}
}


/* ---- finishing frames ------------------------------------------------------------------ */

static void bill(struct slot *s, size_t i, bool ok, unsigned long long bytes)
{
	const struct run_frame *f = &s->fr[i];
	ticket_note(s, f->ticket, "billing = frame=%ld ok=%d host=%s wall=%.3f user=%.3f sys=%.3f rss_kb=%ld bytes=%llu",
		    f->frame, ok, s->owner, f->wall, f->cpu_user, f->cpu_sys, f->rss_kb, bytes);
}

/* The renderer's CPU seconds (user and system, its waited-for children
 * included) and peak RSS, from /proc while it runs. */
static bool proc_usage(pid_t pid, long *user, long *sys, long *rss_kb)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	long cut = 0, cst = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ut, &st, &cut,
			 &cst) != 4)
		return false;
	*user = (long)ut + cut;
	*sys = (long)st + cst;
	if (rss_kb) {
		*rss_kb = 0;
		snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
		FILE *f = fopen(path, "re");
		char line[256];
		while (f && fgets(line, sizeof line, f))
			if (!strncmp(line, "VmHWM:", 6))
				*rss_kb = atol(line + 6);
		if (f)
			fclose(f);
	}
	return true;
}

/* Frame I's image is complete (or its renderer is over): what it cost
 * since the one before, for its bill. */
static void frame_measure(struct slot *s, size_t i, bool exited)
{
	struct run_frame *f = &s->fr[i];
	int64_t now = mono_us();
	f->wall = (double)(now - s->frame_started) / 1e6;
	s->frame_started = now;
	double tick = (double)sysconf(_SC_CLK_TCK);
	long u = s->ticks_user, y = s->ticks_sys, rss = 0;
	if (exited) {
		u = (long)(((double)s->ru.ru_utime.tv_sec + (double)s->ru.ru_utime.tv_usec / 1e6) * tick + 0.5);
		y = (long)(((double)s->ru.ru_stime.tv_sec + (double)s->ru.ru_stime.tv_usec / 1e6) * tick + 0.5);
		rss = s->ru.ru_maxrss;
	} else if (s->pid > 0) {
		proc_usage(s->pid, &u, &y, &rss);
	}
	f->cpu_user = (double)(u > s->ticks_user ? u - s->ticks_user : 0) / tick;
	f->cpu_sys = (double)(y > s->ticks_sys ? y - s->ticks_sys : 0) / tick;
	f->rss_kb = rss;
	s->ticks_user = u > s->ticks_user ? u : s->ticks_user;
	s->ticks_sys = y > s->ticks_sys ? y : s->ticks_sys;
}

/* Ticket T is over on this try: FAILED (counted, REASON), or not (back to
 * todo/ as it was). Its frames not published are settled with it. */
static void run_settle(struct slot *s, size_t t, bool failed, const char *reason)
{
	struct job *j = s->job;
	struct run_ticket *k = &s->tk[t];
	if (k->settled)
		return;
	k->settled = true;
	long frame = -1;
	for (size_t i = 0; i < s->nfr; i++)
		if (s->fr[i].ticket == t && s->fr[i].st != F_DONE) {
			if (frame < 0)
				frame = s->fr[i].frame;
			s->fr[i].st = F_BACK;
		}
	if (!failed) {
		if (ticket_finish(j->fd, k->name, s->owner, TICKET_TODO) < 0 && errno != ENOENT)
			warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
		j->retry_at = 0;
		return;
	}
	char clean[600];
	text_escape(reason, clean, sizeof clean);
	unsigned long long avail;
	if (s->killing != KILL_USER && s->killing != KILL_TIMEOUT && disk_short(j->fd, &avail)) {
		/* most likely it failed for want of space: not the frame's
		 * fault; it goes back as it was, to be done once there is room */
		ticket_note(s, t, "nospace = %s %s (the disk was full; not counted as an attempt)", s->owner, clean);
		if (ticket_finish(j->fd, k->name, s->owner, TICKET_TODO) < 0 && errno != ENOENT)
			warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
		sayj(j->name, frame, "%s frame %ld failed on a full disk; it goes back: %s", j->name, frame, clean);
		disk_wait(avail);
		j->retry_at = 0;
		return;
	}
	ticket_note(s, t, "attempt = %d %s %s", k->attempt, s->owner, clean);
	enum ticket_state to = k->attempt > j->jd->retries ? TICKET_FAILED : TICKET_TODO;
	if (ticket_finish(j->fd, k->name, s->owner, to) < 0 && errno != ENOENT)
		warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
	sayj(j->name, frame, "%s frame %ld failed (attempt %d%s): %s", j->name, frame, k->attempt,
	    to == TICKET_FAILED ? ", no retries left" : ", will be retried", clean);
	if (++j->fails_in_row >= sp.conf.fail_limit && j->fd >= 0 && j->usable) {
		/* a marker admins can see and remove */
		mkdirat(j->fd, "blocked", 0755);
		char text[900];
		int n = snprintf(text, sizeof text,
				 "%s failed %d frames of this job in a row and takes no more of them.\n"
				 "Last: %s\nRemove this file to let it try again.\n",
				 host, j->fails_in_row, clean);
		int bfd = openat(j->fd, "blocked", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (bfd < 0 || file_write_atomic(bfd, host, text, (size_t)n, 0644) < 0)
			warnj(j->name, -1, "unable to write jobs/%s/blocked/%s: %s", j->name, host, strerror(errno));
		if (bfd >= 0)
			close(bfd);
		j->usable = false;
		j->blocked = true;
		warnj(j->name, -1, "%s: this host stops taking frames of %s after %d failures in a row", host, j->name,
		     j->fails_in_row);
	}
	if (to == TICKET_TODO)
		j->retry_at = 0;
}

/* Frame I passed its check: into output/ under the job's pattern, and its
 * ticket to done/ when it has no other frame left. */
static void frame_publish(struct slot *s, size_t i)
{
	struct job *j = s->job;
	struct run_frame *f = &s->fr[i];
	char name[PATH_MAX], image[PATH_MAX * 2];
	output_name(j, f->frame, name, sizeof name);
	unsigned long long bytes = 0;
	if (!j->pkg->no_output) {
		snprintf(image, sizeof image, "%s/%s", s->outdir, f->image);
		struct stat st;
		bytes = stat(image, &st) == 0 ? (unsigned long long)st.st_size : 0;
		if (output_publish(j->fd, image, name) < 0) {
			char why[400];
			snprintf(why, sizeof why, "the image could not be put into output/: %s", strerror(errno));
			bill(s, i, false, 0);
			run_settle(s, f->ticket, true, why);
			return;
		}
	}
	bill(s, i, true, bytes);
	sayj(j->name, f->frame, "%s frame %ld rendered on %s in %.2f s (%.2f s of CPU)", j->name, f->frame, s->owner, f->wall,
	     f->cpu_user + f->cpu_sys);
	f->st = F_DONE;
	j->fails_in_row = 0;
	for (size_t k = 0; k < s->nfr; k++)
		if (s->fr[k].ticket == f->ticket && s->fr[k].st != F_DONE)
			return;
	s->tk[f->ticket].settled = true;
	if (ticket_finish(j->fd, s->tk[f->ticket].name, s->owner, TICKET_DONE) < 0 && errno != ENOENT)
		warnj(j->name, -1, "unable to finish ticket %s of %s: %s", s->tk[f->ticket].name, j->name, strerror(errno));
}

/* Check a complete image, when the slot's checker is free. */
static void check_next(struct slot *s)
{
	if (s->check_pid > 0)
		return;
	struct job *j = s->job;
	for (size_t i = 0; i < s->nfr; i++) {
		struct run_frame *f = &s->fr[i];
		if (f->st != F_READY)
			continue;
		if (j->pkg->no_output) {
			/* a package that makes no image: its exit status is all */
			frame_publish(s, i);
			continue;
		}
		char w[32], h[32], out[PATH_MAX], image[PATH_MAX * 2];
		snprintf(w, sizeof w, "%ld", j->jd->width);
		snprintf(h, sizeof h, "%ld", j->jd->height);
		snprintf(out, sizeof out, "%s/.check", s->outdir);
		snprintf(image, sizeof image, "%s/%s", s->outdir, f->image);
		/* a sample of each frame for previews/ and its contact sheet */
		char thumb[PATH_MAX], previews[PATH_MAX];
		snprintf(previews, sizeof previews, "%s/previews", j->path);
		snprintf(thumb, sizeof thumb, "%s/frame%07ld.png", previews, f->frame);
		char *argv[10];
		int k = 0;
		argv[k++] = checker;
		if (j->jd->allow_blank)
			argv[k++] = "--allow-blank";
		argv[k++] = "--thumb";
		argv[k++] = thumb;
		/* the contact sheet is rebuilt from every thumbnail: at most
		 * twice a second per job (the first at once; the job's end
		 * makes the last, complete one) */
		if (mono_us() - j->contact_at > 500000) {
			argv[k++] = "--contact";
			argv[k++] = previews;
			j->contact_at = mono_us();
		}
		argv[k++] = image;
		argv[k++] = w;
		argv[k++] = h;
		argv[k] = NULL;
		int outfd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		pid_t pid = outfd < 0 ? -1 : spawn_in(NULL, argv, outfd, s->owner);
		if (outfd >= 0)
			close(outfd);
		if (pid < 0) {
			bill(s, i, false, 0);
			run_settle(s, f->ticket, true, "the image checker could not be started");
			continue;
		}
		f->st = F_CHECK;
		s->check_pid = pid;
		s->checking = i;
		s->check_hung = false;
		s->check_started = mono_us();
		return;
	}
}

static void check_exited(struct slot *s, int status)
{
	struct job *j = s->job;
	size_t i = s->checking;
	struct run_frame *f = &s->fr[i];
	s->check_pid = 0;
	if (f->st != F_CHECK)
		return;
	f->st = F_READY;
	if (s->killing == KILL_CANCEL || s->killing == KILL_LOST || s->killing == KILL_STOP) {
		return; /* settled with the others when the run ends */
	} else if (s->check_hung) {
		bill(s, i, false, 0);
		run_settle(s, f->ticket, true, "the image took more than a minute to check");
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEMPFAIL) {
		/* the checker's own trouble (memory): not the frame's fault */
		bill(s, i, false, 0);
		warnj(j->name, f->frame, "%s frame %ld: the image checker failed for want of resources; the frame goes back", j->name,
		     f->frame);
		run_settle(s, f->ticket, false, NULL);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char why[600] = "the image did not pass the check";
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/.check", s->outdir);
		FILE *cf = fopen(path, "re");
		if (cf) {
			char line[500];
			if (fgets(line, sizeof line, cf)) {
				line[strcspn(line, "\n")] = 0;
				if (*line)
					snprintf(why, sizeof why, "%s", line);
			}
			fclose(cf);
		}
		if (WIFSIGNALED(status))
			snprintf(why, sizeof why, "the image could not be checked (the checker died of signal %d)",
				 WTERMSIG(status));
		bill(s, i, false, 0);
		if (f->maybe && *s->why && !s->charged) {
			/* the renderer died writing it: the frame it was at */
			s->charged = true;
			run_settle(s, f->ticket, s->counted, s->why);
		} else {
			run_settle(s, f->ticket, true, why);
		}
	} else {
		frame_publish(s, i);
	}
}

/* The images in the renderer's folder: which frames of fr[pos..end) are
 * complete. A frame's file is complete once the renderer has begun the
 * next one's, or has exited 0 (EXITED_OK). Without [range], the frame's
 * image is the one file there, once the renderer exited 0. */
static void frames_complete(struct slot *s, bool exited_ok, bool died)
{
	struct job *j = s->job;
	if (j->pkg->no_output) {
		if (exited_ok)
			for (size_t i = s->pos; i < s->end; i++)
				if (s->fr[i].st == F_TODO) {
					frame_measure(s, i, true);
					s->fr[i].st = F_READY;
				}
		return;
	}
	DIR *d = opendir(s->outdir);
	if (!d)
		return;
	struct dirent *e;
	size_t n = s->end - s->pos, files = 0;
	bool *seen = xcalloc(n, sizeof *seen);
	char one[NAME_MAX + 1] = "";
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		files++;
		snprintf(one, sizeof one, "%s", e->d_name);
		if (!s->range)
			continue;
		long f = package_range_frame(j->pkg, e->d_name);
		/* a frame given back (see run_trim) still shows that the one
		 * before it is complete */
		for (size_t i = s->pos; f >= 0 && i < s->end; i++)
			if (s->fr[i].frame == f && (s->fr[i].st == F_TODO || s->fr[i].st == F_BACK)) {
				seen[i - s->pos] = true;
				if (s->fr[i].st == F_TODO)
					snprintf(s->fr[i].image, sizeof s->fr[i].image, "%s", e->d_name);
			}
	}
	closedir(d);
	if (!s->range) {
		if (exited_ok && files == 1 && s->fr[s->pos].st == F_TODO) {
			snprintf(s->fr[s->pos].image, sizeof s->fr[s->pos].image, "%s", one);
			seen[0] = true;
		}
	}
	/* complete: every seen frame before the last one seen; all seen
	 * ones once the renderer exited 0 */
	size_t last = n, newly = SIZE_MAX;
	for (size_t i = n; i-- > 0;)
		if (seen[i]) {
			last = i;
			break;
		}
	for (size_t i = 0; last < n && i <= last; i++) {
		struct run_frame *f = &s->fr[s->pos + i];
		if (f->st != F_TODO || !seen[i])
			continue;
		if (i == last && !exited_ok) {
			/* the renderer failed after writing it: finished, or
			 * cut off while writing? The check tells. */
			if (!died || !s->range)
				continue;
			f->maybe = true;
		}
		frame_measure(s, s->pos + i, (exited_ok || died) && i == last);
		f->st = F_READY;
		newly = s->pos + i;
		/* a frame after the first took its own time: what a frame costs */
		if (i > 0 && !exited_ok && !died && f->wall > 0.002)
			j->frame_seconds = j->frame_seconds > 0 ? 0.7 * j->frame_seconds + 0.3 * f->wall : f->wall;
	}
	free(seen);
	double wall = (double)(mono_us() - s->started) / 1e6;
	if (!exited_ok && !died && newly != SIZE_MAX && s->pid > 0 && wall > 0.3) {
		/* how the renderer used the CPU so far (measured as the frame
		 * was complete): slots may grow mid-run */
		double tick = (double)sysconf(_SC_CLK_TCK);
		slots_learn((double)(s->ticks_user + s->ticks_sys) / tick, wall, s->fr[newly].rss_kb);
	}
}

/* A run was sized before the job's frame time was known (or before the
 * slots grew): once a frame is complete, look again. When the frames it
 * has still to render are many more than a run should now hold, it ends
 * after the ones it should, and the rest go back to todo/ for the other
 * slots. It ends the moment the next frame's file appears (the frame
 * before is complete, the next only begun), so nothing much is lost. */
static void run_trim(struct slot *s)
{
	struct job *j = s->job;
	if (!s->range || s->killing || j->jd->chunk > 0)
		return;
	size_t cur = slot_current(s); /* begun, not complete */
	if (s->trim) {
		if (cur >= s->trim && cur < s->end) {
			s->killing = KILL_TRIM;
			kill(-s->pid, SIGKILL);
			s->kill_at = mono_us();
		}
		return;
	}
	struct overhead *o = overhead_of(j->pkg->name);
	double startup = o && o->seconds > 0 ? o->seconds : 0;
	if (cur == s->pos && j->frame_seconds <= 0 && startup > 0) {
		/* the first frame is not done after three start-ups: frames take
		 * at least the time past the start-up; the other hosts should
		 * not wait for it to know */
		double ran = (double)(mono_us() - s->started) / 1e6;
		if (ran < 3 * startup)
			return;
		j->frame_seconds = ran - startup;
	}
	if (cur >= s->end || j->frame_seconds <= 0)
		return;
	size_t left = s->end - cur;
	long want = run_length(j, 1);
	/* worth it only when what goes back outweighs the processes it costs */
	if ((long)left > want + want / 4 + 1 && (double)((long)left - want) * j->frame_seconds > 2 * startup) {
		s->trim = cur + (size_t)want;
		j->todo_at = 0; /* they will be in todo/ */
		sayj(j->name, -1, "%s: frames %ld-%ld go back for other slots (runs of %ld now)", j->name, s->fr[s->trim].frame,
		    s->fr[s->end - 1].frame, want);
		/* at once: the renderer is stopped before it reaches them */
		for (size_t i = s->trim; i < s->end; i++)
			if (s->fr[i].st == F_TODO)
				run_settle(s, s->fr[i].ticket, false, NULL);
	}
}

/* Where the slot's run goes next: check what is complete; when the
 * renderer is over and nothing is being checked, settle what failed and
 * start the next renderer, or end the run. */
static void run_advance(struct slot *s)
{
	struct job *j = s->job;
	if (!j)
		return;
	if (s->killing != KILL_CANCEL && s->killing != KILL_LOST && s->killing != KILL_STOP)
		check_next(s);
	if (s->pid > 0 || s->check_pid > 0)
		return;
	bool over = s->killing == KILL_CANCEL || s->killing == KILL_LOST || s->killing == KILL_STOP ||
		    s->killing == KILL_TRIM;
	for (;;) {
		if (!over && *s->why) {
			/* the renderer failed: the frame it was at, when it
			 * counts, and the rest back as they were */
			for (size_t i = s->pos; i < s->end && !s->charged; i++)
				if (s->fr[i].st == F_TODO) {
					if (s->counted)
						bill(s, i, false, 0);
					run_settle(s, s->fr[i].ticket, s->counted, s->why);
					break;
				}
			over = true;
		}
		if (over)
			break;
		/* the next frames not rendered yet */
		s->pos = 0;
		while (s->pos < s->nfr && s->fr[s->pos].st != F_TODO)
			s->pos++;
		if (s->pos == s->nfr)
			break;
		if (run_spawn(s))
			return;
	}
	/* the run is over: what is not settled goes back as it was */
	for (size_t t = 0; t < s->ntk; t++)
		run_settle(s, t, false, NULL);
	if (s->killing == KILL_CANCEL || s->killing == KILL_LOST || s->killing == KILL_STOP)
		sayj(j->name, -1, "%s frame%s %ld%s stopped (%s)", j->name, s->nfr > 1 ? "s" : "", s->fr[0].frame,
		    s->nfr > 1 ? "..." : "",
		    s->killing == KILL_CANCEL ? "cancelled" : s->killing == KILL_LOST ? "host was lost" : "agent stopping");
	slot_idle(s);
	/* the next look for a ticket finds the job over, if it is */
	j->retry_at = 0;
	job_done_check(j);
}

/* The renderer exited: which frames it completed, and why it failed. */
static void render_exited(struct slot *s, int status)
{
	struct job *j = s->job;
	pid_t pid = s->pid;
	s->pid = 0;
	/* whatever the renderer left running goes now, before its images
	 * are checked: nothing may touch them between the check and
	 * publishing */
	kill(-pid, SIGKILL);
	bool ok = !s->killing && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	bool stopped = s->killing == KILL_CANCEL || s->killing == KILL_LOST || s->killing == KILL_STOP ||
		       s->killing == KILL_TRIM;
	frames_complete(s, ok, !ok && !stopped);
	/* learn from what it did: the first frame's time holds the start-up,
	 * the rest of the process's time is the other frames' */
	size_t n = s->end - s->pos;
	enum frame_state fs = s->fr[s->pos].st;
	if (ok && (fs == F_READY || fs == F_CHECK || fs == F_DONE)) {
		double first = s->fr[s->pos].wall, all = (double)(mono_us() - s->started) / 1e6;
		run_learn(s, first, n > 1 && all > first ? (all - first) / (double)(n - 1) : -1);
		double cpu = (double)s->ru.ru_utime.tv_sec + (double)s->ru.ru_utime.tv_usec / 1e6 +
			     (double)s->ru.ru_stime.tv_sec + (double)s->ru.ru_stime.tv_usec / 1e6;
		slots_learn(cpu, all, s->ru.ru_maxrss);
	}
	s->counted = true;
	char *why = s->why;
	size_t wsize = sizeof s->why;
	const char *logname = strrchr(s->log, '/') + 1;
	if (s->killing == KILL_CANCEL || s->killing == KILL_LOST || s->killing == KILL_STOP || s->killing == KILL_TRIM) {
		/* not the frames' fault: they go back as they were */
	} else if (s->killing == KILL_TIMEOUT) {
		snprintf(why, wsize, "timed out after %ld s (the job's timeout)", j->jd->timeout);
	} else if (s->killing == KILL_USER) {
		snprintf(why, wsize, "stopped by a user (hotfarm kill-frame)");
	} else if (s->killing == KILL_HANG) {
		snprintf(why, wsize, "hung: no log output and no CPU progress for %ld s", sp.conf.hang_timeout);
	} else if (WIFSIGNALED(status)) {
		snprintf(why, wsize, "the renderer was killed by signal %d (see logs/%s)", WTERMSIG(status), logname);
	} else if (!ok) {
		snprintf(why, wsize, "the renderer exited with status %d (see logs/%s)", WEXITSTATUS(status), logname);
	} else {
		/* exited 0: a frame without its image fails */
		for (size_t i = s->pos; i < s->end; i++)
			if (s->fr[i].st == F_TODO) {
				int files = 0;
				DIR *d = opendir(s->outdir);
				struct dirent *e;
				while (d && (e = readdir(d)))
					if (e->d_name[0] != '.')
						files++;
				if (d)
					closedir(d);
				if (s->range)
					snprintf(why, wsize, "the renderer exited 0 but wrote no image for frame %ld (see logs/%s)",
						 s->fr[i].frame, logname);
				else
					snprintf(why, wsize, "the renderer exited 0 but wrote %s (see logs/%s)",
						 files ? "more than one file" : "no image", logname);
				frame_measure(s, i, true);
				break;
			}
	}
	if (*why) {
		/* what the failed frame cost, for its bill */
		size_t cur = slot_current(s);
		if (s->fr[cur].st == F_TODO && s->fr[cur].wall == 0)
			frame_measure(s, cur, true);
	}
	run_advance(s);
}

static void reap(void)
{
	int status;
	struct rusage ru;
	pid_t pid;
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		if (startup_exited(pid, status))
			continue;
		for (int i = 0; i < nslots; i++) {
			struct slot *s = &slots[i];
			if (!s->job)
				continue;
			if (s->pid == pid) {
				s->ru = ru;
				render_exited(s, status);
			} else if (s->check_pid == pid) {
				check_exited(s, status);
				run_advance(s);
			} else {
				continue;
			}
			break;
		}
	}
}

/* Every 20 ms while busy: images complete, timeouts, hangs, and the
 * SIGKILL after a SIGTERM's grace. */
static void watch_slots(void)
{
	int64_t now = mono_us();
	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		if (!s->job)
			continue;
		if (s->check_pid > 0 && !s->check_hung && now - s->check_started > 60 * 1000000LL) {
			/* a hostile image may be slow to decode: the checker gets a minute */
			s->check_hung = true;
			kill(-s->check_pid, SIGKILL);
		}
		if (s->pid <= 0)
			continue;
		if (s->killing) {
			if (now >= s->kill_at)
				kill(-s->pid, SIGKILL);
			continue;
		}
		size_t cur = slot_current(s);
		char req[32];
		snprintf(req, sizeof req, "kill.%d", s->index);
		if (unlinkat(hostfd, req, 0) == 0) {
			sayj(s->job->name, s->fr[cur].frame, "%s frame %ld: stopped on request (hotfarm kill-frame)", s->job->name, s->fr[cur].frame);
			slot_kill(s, KILL_USER);
			continue;
		}
		if (s->range) {
			frames_complete(s, false, false);
			check_next(s);
			run_trim(s);
			if (s->killing)
				continue;
			cur = slot_current(s);
		}
		/* the timeout is per frame: from the start, or the last frame's end */
		if (s->job->jd->timeout && now - s->frame_started > s->job->jd->timeout * 1000000LL) {
			sayj(s->job->name, s->fr[cur].frame, "%s frame %ld: timeout after %ld s, stopping it", s->job->name, s->fr[cur].frame,
			    s->job->jd->timeout);
			slot_kill(s, KILL_TIMEOUT);
			continue;
		}
		struct stat st;
		long u = 0, y = 0;
		long cpu = proc_usage(s->pid, &u, &y, NULL) ? u + y : -1;
		off_t size = stat(s->log, &st) == 0 ? st.st_size : 0;
		if (size != s->log_seen || cpu != s->cpu_seen) {
			s->log_seen = size;
			s->cpu_seen = cpu;
			s->last_progress = now;
		} else if (now - s->last_progress > sp.conf.hang_timeout * 1000000LL) {
			sayj(s->job->name, s->fr[cur].frame, "%s frame %ld: no output and no CPU for %ld s, stopping it", s->job->name, s->fr[cur].frame,
			    sp.conf.hang_timeout);
			slot_kill(s, KILL_HANG);
		}
	}
}

static void slots_show(void)
{
	int64_t now = mono_us();
	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		if (s->job && !s->shown && now - s->frame_started > 20000)
			slot_write(s);
	}
}

static bool busy(void)
{
	for (int i = 0; i < nslots; i++)
		if (slots[i].job)
			return true;
	return false;
}

/* ---- cancel, lost, heartbeat ------------------------------------------------------------ */

static void cancelled(const char *entry)
{
	char name[JOBID_MAX_LEN + 1];
	if (!entry_parse(entry, NULL, NULL, name))
		return;
	for (int i = 0; i < nslots; i++)
		if (slots[i].job && !strcmp(slots[i].job->name, name)) {
			sayj(name, slots[i].fr[slot_current(&slots[i])].frame, "%s was cancelled: stopping frame %ld", name,
			     slots[i].fr[slot_current(&slots[i])].frame);
			slot_kill(&slots[i], KILL_CANCEL);
		}
	struct job *j = job_get(name);
	if (j)
		j->retry_at = INT64_MAX;
}

/* Cancels we may have missed (a rescan): a job we render that is no longer
 * queued or held was cancelled (or finished by someone else). */
static void check_running_jobs(void)
{
	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		if (!s->job || s->killing)
			continue;
		char entry[ENTRY_MAX_LEN];
		enum job_state st = job_find(&sp, s->job->name, entry);
		if (st == STATE_CANCELLED || st == STATE_NONE)
			slot_kill(s, KILL_CANCEL);
	}
}

static void heartbeat(void)
{
	struct timespec now[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_NOW}};
	if (utimensat(hostfd, "heartbeat", now, 0) < 0) {
		int fd = openat(hostfd, "heartbeat", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	static bool said_drain;
	if (draining != said_drain)
		say(draining ? "draining: finishing what runs, taking no new frames" : "no longer draining");
	said_drain = draining;
	if (faccessat(hostfd, "lost", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		warn("watcherd marked this host lost (its heartbeat was late) and gave its frames away; "
		     "stopping what runs here and starting afresh");
		for (int i = 0; i < nslots; i++)
			slot_kill(&slots[i], KILL_LOST);
		unlinkat(hostfd, "lost", 0);
	}
}

static void publish_host(bool force)
{
	struct buf b = {0};
	probe_host(&sp, host, nslots_on, &b);
	if (force || strcmp(b.data, host_text)) {
		if (file_write_atomic(hostfd, "host.ini", b.data, b.len, 0644) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to write hosts/%s/host.ini", host);
		snprintf(host_text, sizeof host_text, "%s", b.data);
		host_free(&self);
		if (host_read(&sp, host, &self) < 0)
			die(EXIT_TEMPFAIL, "unable to read back hosts/%s/host.ini", host);
		if (!force)
			say("host record changed; rewrote hosts/%s/host.ini", host);
		/* what we can serve may have changed */
		for (size_t i = 0; i < nqueue; i++)
			if (queue[i]->loaded && !queue[i]->running)
				job_unload(queue[i]);
	}
	buf_free(&b);
}

/* Our own claims from before a crash go back at once. */
static void return_stale(void)
{
	int returned = host_release(&sp, host);
	if (returned)
		say("returned %d claims left from an earlier run of %s", returned, host);
}

static int lock_fd = -1;

static void lock_host(void)
{
	lock_fd = openat(hostfd, "agent.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open hosts/%s/agent.lock", host);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(lock_fd, F_SETLK, &fl) < 0) {
		char holder[200] = "";
		ssize_t n = pread(lock_fd, holder, sizeof holder - 1, 0);
		if (n > 0)
			holder[n] = 0;
		holder[strcspn(holder, "\n")] = 0;
		die(EXIT_TEMPFAIL, "another render-agent named %s is running (%s); give this one --name", host, holder);
	}
	char text[200], hn[100] = "";
	gethostname(hn, sizeof hn);
	int n = snprintf(text, sizeof text, "pid=%ld host=%s\n", (long)getpid(), hn);
	if (ftruncate(lock_fd, 0) < 0 || pwrite(lock_fd, text, (size_t)n, 0) != n)
		die_errno(EXIT_TEMPFAIL, "unable to write hosts/%s/agent.lock", host);
}

/* [agent] render_user takes root to switch to: without, renders run as
 * the agent's own user (rather than every frame failing). */
static void render_user_check(void)
{
	if (*sp.conf.render_user && geteuid() != 0)
		warn("[agent] render_user = %s is ignored: the agent does not run as root, so renders run as its own user",
		     sp.conf.render_user);
}

/* SIGHUP: read conf/hotfarm.ini again; its settings apply from now on,
 * but for the two fixed when the agent started. */
static void reload_conf(void)
{
	char err[1024];
	long slots_before = sp.conf.slots;
	bool inotify_before = sp.conf.use_inotify;
	if (spool_conf_reload(&sp, err, sizeof err) < 0) {
		warn("conf/hotfarm.ini not re-read, the configuration in use stays: %s", err);
		return;
	}
	say("re-read conf/hotfarm.ini (heartbeat %ld s, confine %s)", sp.conf.heartbeat, sp.conf.confine ? "yes" : "no");
	spool_conf_warn(&sp);
	render_user_check();
	if (sp.conf.slots != slots_before)
		warn("[agent] slots changed: it takes effect when the agent restarts");
	if (sp.conf.use_inotify != inotify_before)
		warn("[watcherd] inotify changed: it takes effect when the agent restarts");
	publish_host(false); /* packages may have changed too */
}

/* ---- main -------------------------------------------------------------------------------- */

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: render-agent [--spool DIR] [--slots N] [--name HOST]\n"
		"Render frames of queued jobs on this host.\n"
		"  --spool DIR  the spool (default $HOTFARM_SPOOL, else /var/spool/hotfarm)\n"
		"  --slots N    concurrent renders (default: [agent] slots, auto: sized to the renders)\n"
		"  --name HOST  this host's name in hosts/ (default: the host name); several\n"
		"               agents on one machine need distinct names\n"
		"Messages are key=value lines on stderr (time, level, prog, job, frame, msg).\n"
		"SIGHUP re-reads conf/hotfarm.ini. SIGTERM stops it: running frames go back to\n"
		"todo/, hosts/HOST is removed.\n"
		"Exit: 0 stopped, 100 usage, 111 cannot run.\n");
	exit(code);
}

int main(int argc, char **argv)
{
	msg_init("render-agent");
	msg_timestamps(true);
	const char *spool = NULL;
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"slots", required_argument, 0, 'n'},
					     {"name", required_argument, 0, 'N'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	long want_slots = 0;
	while ((c = getopt_long(argc, argv, "s:n:N:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'n':
			if (!parse_long(optarg, 1, 1024, &want_slots))
				die(EXIT_BADINPUT, "--slots takes a number from 1 to 1024, not '%s'", optarg);
			break;
		case 'N':
			if (!name_is_valid(optarg) || strlen(optarg) >= sizeof host || strchr(optarg, '@'))
				die(EXIT_BADINPUT, "'%s' is not a host name (letters, digits, '-', '_', '.')", optarg);
			snprintf(host, sizeof host, "%s", optarg);
			break;
		case 'h': usage(EXIT_OK);
		default: usage(EXIT_BADINPUT);
		}
	}
	if (optind != argc)
		usage(EXIT_BADINPUT);
	if (!*host) {
		char hn[256];
		gethostname(hn, sizeof hn);
		hn[sizeof hn - 1] = 0;
		name_sanitize(hn, host, sizeof host);
	}
	for (char *p = host; *p; p++)
		if (*p == '.')
			*p = '-'; /* HOST.SLOT must split at the last dot */
	char err[1024];
	char *abs = realpath(spool ? spool : spool_default(), NULL);
	if (!abs)
		die_errno(EXIT_TEMPFAIL, "no spool at %s", spool ? spool : spool_default());
	if (spool_open(abs, &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	free(abs);
	const char *lx = getenv("HOTFARM_LIBEXECDIR");
	snprintf(checker, sizeof checker, "%s/hf-check", lx ? lx : HOTFARM_LIBEXECDIR);
	snprintf(confiner, sizeof confiner, "%s/hf-confine", lx ? lx : HOTFARM_LIBEXECDIR);
	if (access(checker, X_OK) < 0)
		die_errno(EXIT_TEMPFAIL, "the image checker %s is missing", checker);

	mkdirat(spool_fd(&sp, DIR_HOSTS), host, 0755);
	hostfd = openat(spool_fd(&sp, DIR_HOSTS), host, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (hostfd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open hosts/%s", host);
	lock_host();
	unlinkat(hostfd, "lost", 0);
	/* --slots N or [agent] slots = N fix it; auto starts with a slot per
	 * CPU and sizes them as renders are measured (up to 4 per CPU) */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	long fixed = want_slots ? want_slots : sp.conf.slots;
	slots_auto = fixed == 0;
	nslots = fixed ? (int)fixed : (int)(4 * cpus > 256 ? 256 : 4 * cpus);
	nslots_on = fixed ? (int)fixed : (int)cpus;
	slots = xcalloc((size_t)nslots, sizeof *slots);
	for (int i = 0; i < nslots; i++) {
		slots[i].index = i;
		snprintf(slots[i].owner, sizeof slots[i].owner, "%s.%d", host, i);
		if (i < nslots_on)
			slot_write(&slots[i]);
		char req[32];
		snprintf(req, sizeof req, "kill.%d", i);
		unlinkat(hostfd, req, 0); /* a request for an earlier run */
	}
	heartbeat();
	kill_leftovers();
	/* before the probe, which runs each package's version command (a
	 * second or more for some): the claims are others' to take meanwhile */
	return_stale();
	publish_host(true);
	heartbeat(); /* the probe may have taken longer than host_timeout */

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die_errno(EXIT_TEMPFAIL, "signalfd");
	const char *dirs[] = {"queue", "cancelled"};
	int efd = sp.conf.use_inotify ? watch_start(sp.path, dirs, 2, IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)
				      : -1;
	say("%s renders with %d slot%s%s on %s (%s)", host, nslots_on, nslots_on == 1 ? "" : "s",
	    slots_auto ? " (auto: sized to the renders)" : "", sp.path,
	    efd >= 0 ? "inotify" : "rescans only");
	spool_conf_warn(&sp);
	render_user_check();

	startups_spawn(); /* after the signal mask: their SIGCHLD must reach sfd */
	queue_refresh();
	int64_t next_beat = mono_us() + sp.conf.heartbeat * 1000000LL;
	int64_t next_rescan = mono_us() + sp.conf.rescan_ms * 1000LL;
	int64_t next_probe = mono_us() + sp.conf.probe_interval * 1000000LL;
	int64_t stop_deadline = 0, next_watch = 0;
	for (;;) {
		fill_slots();
		if (stopping && !busy())
			break;
		int64_t now = mono_us();
		int64_t wake = next_beat < next_rescan ? next_beat : next_rescan;
		if (busy() && wake > next_watch)
			wake = next_watch > now ? next_watch : now + 20000;
		int timeout = wake > now ? (int)((wake - now) / 1000) + 1 : 0;
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = efd, .events = POLLIN}};
		int n = poll(pfd, efd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "poll");
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				if (si.ssi_signo == SIGHUP) {
					reload_conf();
					next_beat = next_rescan = 0; /* new intervals from now */
				} else if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !stopping) {
					say("stopping on signal %u: running frames go back to todo/", si.ssi_signo);
					stopping = true;
					stop_deadline = mono_us() + sp.conf.kill_grace_ms * 1000LL + 5000000;
					for (int i = 0; i < nslots; i++)
						slot_kill(&slots[i], KILL_STOP);
				}
			reap();
		}
		if (efd >= 0 && n > 0 && (pfd[1].revents & POLLIN)) {
			struct watch_event ev;
			bool refresh = false;
			int r;
			while ((r = watch_read(efd, &ev)) > 0) {
				if (ev.dir == 1 && (ev.mask & (IN_MOVED_TO | IN_CREATE)))
					cancelled(ev.name);
				else
					refresh = true;
			}
			if (r < 0) {
				warn("the inotify thread stopped; relying on rescans");
				efd = -1;
			}
			if (refresh)
				queue_refresh();
		}
		now = mono_us();
		if (busy() && now >= next_watch) {
			watch_slots();
			slots_show();
			next_watch = now + 20000;
		}
		if (now >= next_beat) {
			heartbeat();
			next_beat = now + sp.conf.heartbeat * 1000000LL;
		}
		if (now >= next_rescan) {
			rescanning = true;
			queue_refresh();
			rescanning = false;
			check_running_jobs();
			jobs_tidy();
			next_rescan = now + sp.conf.rescan_ms * 1000LL;
		}
		if (now >= next_probe) {
			publish_host(false);
			next_probe = now + sp.conf.probe_interval * 1000000LL;
		}
		if (stopping && now > stop_deadline)
			break;
	}
	/* a clean exit: nothing of ours stays in hosts/ */
	for (int i = 0; i < nslots; i++) {
		char name[32];
		snprintf(name, sizeof name, "slot.%d", i);
		unlinkat(hostfd, name, 0);
	}
	unlinkat(hostfd, "host.ini", 0);
	unlinkat(hostfd, "heartbeat", 0);
	/* closed first: a network filesystem keeps a file unlinked while open
	 * under a hidden name (.nfsXXXX, .fuse_hiddenXXXX) until it is
	 * closed, and the folder could not go */
	close(lock_fd);
	unlinkat(hostfd, "agent.lock", 0);
	tree_remove(spool_fd(&sp, DIR_HOSTS), host);
	say("stopped");
	return EXIT_OK;
}
