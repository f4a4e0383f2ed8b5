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

struct job {
	char name[JOBID_MAX_LEN + 1];
	char entry[ENTRY_MAX_LEN];
	char path[PATH_MAX]; /* SPOOL/jobs/NAME (or sites/SITE/jobs/NAME) */
	int priority;
	int fd; /* jobs/NAME */
	bool loaded, usable, queued;
	char why[300];
	struct job_desc jd;
	struct package pkg;
	struct strlist limits;
	struct strlist todo; /* a cached listing of frames/todo, in order */
	size_t next;
	int64_t retry_at; /* do not look for tickets again before this (mono) */
	int running;      /* our slots busy with it */
	int fails_in_row;
	long active_all;  /* fair share: its active tickets, all hosts */
	char program_name[256], program[PATH_MAX]; /* argv[0], found in $PATH */
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

static void job_free(struct job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->loaded) {
		job_desc_free(&j->jd);
		package_free(&j->pkg);
	}
	strlist_free(&j->limits);
	strlist_free(&j->todo);
	free(j);
}

static struct job *job_get(const char *name)
{
	struct job key;
	snprintf(key.name, sizeof key.name, "%s", name);
	void *r = tfind(&key, &job_tree, cmp_job);
	return r ? *(struct job **)r : NULL;
}

/* Read the job's description and package, and see whether we can serve it. */
static void job_load(struct job *j)
{
	if (j->loaded)
		return;
	j->loaded = true;
	j->usable = false;
	j->fd = job_dir_open(&sp, j->name);
	char err[1024];
	struct ini *ini = j->fd >= 0 ? ini_load(j->fd, "job.ini", "job.ini", err, sizeof err) : NULL;
	if (!ini) {
		snprintf(j->why, sizeof j->why, "its job.ini cannot be read");
		memset(&j->jd, 0, sizeof j->jd);
		memset(&j->pkg, 0, sizeof j->pkg);
		return;
	}
	int rc = job_desc_parse(ini, "job.ini", 10000000, &j->jd, err, sizeof err);
	ini_free(ini);
	if (rc < 0) {
		snprintf(j->why, sizeof j->why, "%s", err);
		memset(&j->pkg, 0, sizeof j->pkg);
		return;
	}
	if (package_load(spool_fd(&sp, DIR_CONF), j->jd.package, &j->pkg, err, sizeof err) < 0) {
		snprintf(j->why, sizeof j->why, "%s", err);
		return;
	}
	char *save = NULL, *copy = xstrdup(j->jd.limits);
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		strlist_add(&j->limits, t);
	free(copy);
	j->usable = host_matches(&self, &j->jd, j->why, sizeof j->why);
	if (j->usable && j->jd.after.n && job_deps_ready(&sp, &j->jd.after, j->why, sizeof j->why) != 1) {
		j->usable = false;
		j->waiting_deps = true;
	}
	char marker[128];
	snprintf(marker, sizeof marker, "blocked/%s", host);
	if (j->usable && faccessat(j->fd, marker, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		j->usable = false;
		snprintf(j->why, sizeof j->why, "blocked: this host failed too many of its frames (jobs/%s/%s)",
			 j->name, marker);
	}
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
			snprintf(j->name, sizeof j->name, "%s", name);
			job_path(&sp, name, j->path, sizeof j->path);
			j->fd = -1;
			tsearch(j, &job_tree, cmp_job);
		}
		snprintf(j->entry, sizeof j->entry, "%s", l.v[i]);
		if (j->loaded && !j->usable && strstr(j->why, "blocked") && j->running == 0) {
			/* an admin may have removed the marker: look again */
			char marker[128];
			snprintf(marker, sizeof marker, "blocked/%s", host);
			if (faccessat(j->fd, marker, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
				j->usable = host_matches(&self, &j->jd, j->why, sizeof j->why);
				j->fails_in_row = 0;
			}
		}
		if (j->loaded && j->waiting_deps && rescanning &&
		    job_deps_ready(&sp, &j->jd.after, j->why, sizeof j->why) == 1) {
			j->waiting_deps = false;
			j->usable = host_matches(&self, &j->jd, j->why, sizeof j->why);
		}
		if (!j->queued)
			j->fails_in_row = 0; /* back in the queue (retried): a clean slate */
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

enum slot_state { SLOT_IDLE, SLOT_RENDER, SLOT_CHECK };
enum kill_reason { KILL_NONE, KILL_TIMEOUT, KILL_HANG, KILL_CANCEL, KILL_LOST, KILL_STOP, KILL_USER };

struct slot {
	int index;
	char owner[96]; /* HOST.N */
	enum slot_state state;
	struct job *job;
	char ticket[64];
	long *frames;
	size_t nframes, cur;
	int attempt;
	struct strlist tokens; /* "limit\ttoken@owner" */
	pid_t pid;
	int64_t started, frame_started, last_progress;
	off_t log_seen;
	long cpu_seen;
	char outdir[PATH_MAX], log[PATH_MAX], image[PATH_MAX];
	struct rusage ru;
	double wall;
	enum kill_reason killing;
	int64_t kill_at;
	bool shown; /* its slot file says busy */
};

static struct slot *slots;
static int nslots;

static void slot_write(struct slot *s)
{
	char name[32], iso[32];
	s->shown = s->state != SLOT_IDLE;
	snprintf(name, sizeof name, "slot.%d", s->index);
	struct buf b = {0};
	if (s->state == SLOT_IDLE) {
		buf_printf(&b, "[slot]\nstate = idle\n");
	} else {
		time_iso(now_us() - (mono_us() - s->frame_started), iso);
		buf_printf(&b, "[slot]\nstate = busy\njob = %s\nticket = %s\nframe = %ld\nattempt = %d\nsince = %s\npid = %ld\n",
			   s->job->name, s->ticket, s->frames ? s->frames[s->cur] : -1L, s->attempt, iso,
			   (long)s->pid);
	}
	bool sync = sync_writes;
	sync_writes = false; /* a slot file is a picture, not state */
	if (file_write_atomic(hostfd, name, b.data, b.len, 0644) < 0)
		warn("unable to write hosts/%s/%s: %s", host, name, strerror(errno));
	sync_writes = sync;
	buf_free(&b);
}

/* Append a line to our active ticket. */
static void ticket_note(struct slot *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ticket_note(struct slot *s, const char *fmt, ...)
{
	char path[256], line[1024];
	snprintf(path, sizeof path, "frames/active/%s@%s", s->ticket, s->owner);
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
		warn("unable to note on ticket %s of %s: %s", s->ticket, s->job->name, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* The ticket's frames still to render (those an earlier holder published
 * are left out) and how often it was tried. */
static bool ticket_read(struct slot *s, bool *failed_here)
{
	char path[256];
	snprintf(path, sizeof path, "frames/active/%s@%s", s->ticket, s->owner);
	/* one read: a ticket is a few lines */
	int fd = openat(s->job->fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	char *text = xmalloc(65536);
	ssize_t n = read(fd, text, 65535);
	close(fd);
	if (n <= 0) {
		free(text);
		return false;
	}
	text[n] = 0;
	free(s->frames);
	bool *published;
	size_t all;
	ticket_frames(text, &s->frames, &published, &all);
	s->nframes = s->cur = 0;
	for (size_t i = 0; i < all; i++)
		if (!published[i])
			s->frames[s->nframes++] = s->frames[i];
	free(published);
	s->attempt = 1;
	*failed_here = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "attempt = ", 10)) {
			s->attempt++;
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

static void slot_kill(struct slot *s, enum kill_reason why)
{
	if (s->state == SLOT_IDLE || s->pid <= 0 || s->killing)
		return;
	s->killing = why;
	kill(-s->pid, SIGTERM);
	s->kill_at = mono_us() + sp.conf.kill_grace_ms * 1000;
}

/* ---- the work of a slot -------------------------------------------------------------- */

static void slot_idle(struct slot *s)
{
	bool quiet = s->job && s->job->pkg.builtin_null;
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
	s->state = SLOT_IDLE;
	s->pid = 0;
	s->killing = KILL_NONE;
	free(s->frames);
	s->frames = NULL;
	s->nframes = s->cur = 0;
	if (*s->outdir)
		tree_remove(AT_FDCWD, s->outdir);
	s->outdir[0] = 0;
	if (!quiet && s->shown)
		slot_write(s);
}

static void job_done_check(struct job *j)
{
	/* the last word on the contact sheet, before the job is done */
	if (j->fd >= 0 && !j->pkg.no_output && !j->pkg.builtin_null && tickets_none(j->fd, TICKET_TODO) == 1 &&
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
		say("%s finished", j->name);
		j->retry_at = INT64_MAX;
	}
}

/* The frame's output name: the job's pattern with its #### filled in. */
static void output_name(const struct job *j, long frame, char *out, size_t outsize)
{
	const char *pat = j->jd.output, *h = strchr(pat, '#');
	size_t nh = 0;
	while (h && h[nh] == '#')
		nh++;
	if (!h) {
		snprintf(out, outsize, "%s", pat);
		return;
	}
	snprintf(out, outsize, "%.*s%0*ld%s", (int)(h - pat), pat, (int)(nh < 4 ? 4 : nh), frame, h + nh);
}

static void ticket_failed(struct slot *s, const char *reason);

static void frame_start(struct slot *s)
{
	struct job *j = s->job;
	long frame = s->frames[s->cur];
	if (j->pkg.builtin_null) {
		/* benchmarking: the claim path alone */
		if (ticket_finish(j->fd, s->ticket, s->owner, TICKET_DONE) < 0 && errno != ENOENT)
			warn("unable to finish ticket %s: %s", s->ticket, strerror(errno));
		slot_idle(s);
		return;
	}
	char outdir[PATH_MAX];
	/* a folder of its own per attempt: nothing left by an earlier one
	 * can land in it */
	static unsigned long attempts;
	snprintf(outdir, sizeof outdir, "%s/output/.%s.%ld.%lu", j->path, s->owner, (long)getpid(),
		 ++attempts);
	if (!j->pkg.no_output) {
		/* the render writes into a folder of its own, then we look */
		snprintf(s->outdir, sizeof s->outdir, "%s", outdir);
		tree_remove(AT_FDCWD, s->outdir);
		if (mkdir(s->outdir, 0755) < 0) {
			ticket_failed(s, "cannot make a temporary folder for the image");
			return;
		}
	}
	snprintf(s->log, sizeof s->log, "%s/logs/frame%04ld.try%d.%s.log", j->path, frame,
		 s->attempt, s->owner);
	char ext[16] = ".png";
	const char *dot = strrchr(j->jd.output, '.');
	if (dot && strlen(dot) < sizeof ext && !strchr(dot, '/'))
		snprintf(ext, sizeof ext, "%s", dot);
	char output[PATH_MAX], files[PATH_MAX], scene[PATH_MAX];
	snprintf(output, sizeof output, "%s/frame%s", outdir, ext);
	snprintf(files, sizeof files, "%s/files", j->path);
	snprintf(scene, sizeof scene, "%s/%s", files, j->jd.scene);
	struct render_vars v = {
		.scene = scene, .files = files, .output = output, .outdir = outdir, .job = j->name,
		.frame = frame, .first_frame = j->jd.frames[0], .last_frame = j->jd.frames[j->jd.nframes - 1],
		.width = j->jd.width, .height = j->jd.height, .args = &j->jd.argv,
	};
	struct strlist argv = {0};
	char err[512];
	if (package_argv(&j->pkg, &v, &argv, err, sizeof err) < 0) {
		strlist_free(&argv);
		ticket_failed(s, err);
		return;
	}
	/* the log starts with what was run, where and when */
	int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (logfd < 0) {
		strlist_free(&argv);
		ticket_failed(s, "cannot create the frame's log");
		return;
	}
	struct buf head = {0};
	char iso[32];
	time_iso(now_us(), iso);
	buf_printf(&head, "# hotfarm: job %s frame %ld attempt %d on %s at %s\n# hotfarm: argv:", j->name, frame,
		   s->attempt, s->owner, iso);
	for (size_t i = 0; i < argv.n; i++) {
		char w[600];
		text_escape(argv.v[i], w, sizeof w);
		buf_printf(&head, " [%s]", w);
	}
	buf_printf(&head, "\n");
	if (write(logfd, head.data, head.len) != (ssize_t)head.len)
		warn("unable to write %s: %s", s->log, strerror(errno));
	buf_free(&head);
	if (strcmp(argv.v[0], j->program_name)) {
		snprintf(j->program_name, sizeof j->program_name, "%s", argv.v[0]);
		if (!find_program(argv.v[0], j->program, sizeof j->program))
			j->program[0] = 0;
	}
	if (!j->program[0]) {
		char why[400], w[200];
		text_escape(argv.v[0], w, sizeof w);
		snprintf(why, sizeof why, "the renderer '%s' is not installed on %s", w, host);
		close(logfd);
		strlist_free(&argv);
		ticket_failed(s, why);
		return;
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
		for (size_t i = 0; i < j->pkg.confine_read.n; i++) {
			strlist_add(&full, "--ro");
			strlist_add(&full, j->pkg.confine_read.v[i]);
		}
		char num[32];
		if (j->jd.timeout > 0) {
			/* a CPU-time ceiling the kernel holds even if the agent dies:
			 * the job's timeout on every CPU, and a little more (the agent
			 * stops it at the timeout itself) */
			long cpus = sysconf(_SC_NPROCESSORS_ONLN);
			snprintf(num, sizeof num, "%ld", (j->jd.timeout + 5) * (cpus > 0 ? cpus : 1));
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
		if (*sp.conf.render_user) {
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
		char why[300];
		snprintf(why, sizeof why, "the renderer could not be started: %s", strerror(e));
		ticket_failed(s, why);
		return;
	}
	s->state = SLOT_RENDER;
	s->frame_started = s->last_progress = mono_us();
	s->log_seen = 0;
	s->cpu_seen = 0;
	s->killing = KILL_NONE;
	/* the slot file says busy once the frame has run for a moment (see
	 * slots_show): a frame of a few ms costs no file writes */
}

/* Whether another live host could render job J (for retrying a frame
 * elsewhere). Asked again at most every few seconds. */
static bool others_can(struct job *j)
{
	static int64_t at;
	static struct strlist live;
	int64_t now = mono_us();
	if (!at || now - at > 3000000) {
		strlist_free(&live);
		host_list(&sp, &live);
		at = now;
	}
	int64_t server = server_now_us(&sp);
	for (size_t i = 0; i < live.n; i++) {
		if (!strcmp(live.v[i], host))
			continue;
		struct host_record h;
		if (host_read(&sp, live.v[i], &h) < 0)
			continue;
		char why[200];
		bool ok = !h.lost && server - h.heartbeat_us < sp.conf.host_timeout * 1000000LL &&
			  host_matches(&h, &j->jd, why, sizeof why);
		host_free(&h);
		if (ok)
			return true;
	}
	return false;
}

/* Take the first ticket we can of job J. */
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
			snprintf(s->ticket, sizeof s->ticket, "%s", t);
			s->job = j;
			j->running++;
			bool failed_here = false;
			if (!ticket_read(s, &failed_here)) {
				warn("ticket %s of %s is unreadable; it goes to failed/", t, j->name);
				ticket_finish(j->fd, t, s->owner, TICKET_FAILED);
				s->job = NULL;
				j->running--;
				continue;
			}
			if (s->nframes == 0) {
				/* an earlier holder published every frame of it */
				ticket_finish(j->fd, t, s->owner, TICKET_DONE);
				s->job = NULL;
				j->running--;
				continue;
			}
			/* still queued? (a cancel or hold may have come meanwhile;
			 * inotify tells us too, so looking every 50 ms is enough) */
			int64_t now = mono_us();
			if (now - j->queued_seen > 50000 &&
			    faccessat(state_fd(&sp, STATE_QUEUED), j->entry, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
				ticket_finish(j->fd, t, s->owner, TICKET_TODO);
				s->job = NULL;
				j->running--;
				j->retry_at = INT64_MAX;
				break;
			}
			j->queued_seen = now;
			if (failed_here && others_can(j)) {
				/* it failed here before: let another host try it */
				ticket_finish(j->fd, t, s->owner, TICKET_TODO);
				s->job = NULL;
				j->running--;
				continue;
			}
			s->cur = 0;
			frame_start(s);
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
	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		/* a frame of the null package is over at once: take the next */
		while (s->state == SLOT_IDLE)
			if (!slot_fill(s))
				return; /* nothing to do for any slot */
	}
}

/* ---- finishing a frame ------------------------------------------------------------------ */

static void bill(struct slot *s, bool ok, unsigned long long bytes)
{
	ticket_note(s, "billing = frame=%ld ok=%d host=%s wall=%.3f user=%.3f sys=%.3f rss_kb=%ld bytes=%llu",
		    s->frames[s->cur], ok, s->owner, s->wall,
		    (double)s->ru.ru_utime.tv_sec + (double)s->ru.ru_utime.tv_usec / 1e6,
		    (double)s->ru.ru_stime.tv_sec + (double)s->ru.ru_stime.tv_usec / 1e6, s->ru.ru_maxrss, bytes);
}

static void ticket_failed(struct slot *s, const char *reason)
{
	struct job *j = s->job;
	char clean[600];
	text_escape(reason, clean, sizeof clean);
	unsigned long long avail;
	if (s->killing != KILL_USER && s->killing != KILL_TIMEOUT && disk_short(j->fd, &avail)) {
		/* most likely it failed for want of space: not the frame's
		 * fault; it goes back as it was, to be done once there is room */
		ticket_note(s, "nospace = %s %s (the disk was full; not counted as an attempt)", s->owner, clean);
		if (ticket_finish(j->fd, s->ticket, s->owner, TICKET_TODO) < 0 && errno != ENOENT)
			warn("unable to move ticket %s of %s: %s", s->ticket, j->name, strerror(errno));
		say("%s frame %ld failed on a full disk; it goes back: %s", j->name, s->frames[s->cur], clean);
		disk_wait(avail);
		slot_idle(s);
		j->retry_at = 0;
		return;
	}
	ticket_note(s, "attempt = %d %s %s", s->attempt, s->owner, clean);
	enum ticket_state to = s->attempt > j->jd.retries ? TICKET_FAILED : TICKET_TODO;
	if (ticket_finish(j->fd, s->ticket, s->owner, to) < 0 && errno != ENOENT)
		warn("unable to move ticket %s of %s: %s", s->ticket, j->name, strerror(errno));
	say("%s frame %ld failed (attempt %d%s): %s", j->name, s->frames ? s->frames[s->cur] : -1L, s->attempt,
	    to == TICKET_FAILED ? ", no retries left" : ", will be retried", clean);
	if (++j->fails_in_row >= sp.conf.fail_limit && j->fd >= 0) {
		/* a marker admins can see and remove */
		mkdirat(j->fd, "blocked", 0755);
		char text[900];
		int n = snprintf(text, sizeof text,
				 "%s failed %d frames of this job in a row and takes no more of them.\n"
				 "Last: %s\nRemove this file to let it try again.\n",
				 host, j->fails_in_row, clean);
		int bfd = openat(j->fd, "blocked", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (bfd < 0 || file_write_atomic(bfd, host, text, (size_t)n, 0644) < 0)
			warn("unable to write jobs/%s/blocked/%s: %s", j->name, host, strerror(errno));
		if (bfd >= 0)
			close(bfd);
		j->usable = false;
		snprintf(j->why, sizeof j->why, "blocked after %d failures in a row", j->fails_in_row);
		warn("%s: this host stops taking frames of %s after %d failures in a row", host, j->name,
		     j->fails_in_row);
	}
	slot_idle(s);
	if (to == TICKET_FAILED)
		job_done_check(j);
	else
		j->retry_at = 0;
}

static void frame_published(struct slot *s)
{
	struct job *j = s->job;
	j->fails_in_row = 0;
	if (++s->cur < s->nframes) {
		frame_start(s);
		return;
	}
	if (ticket_finish(j->fd, s->ticket, s->owner, TICKET_DONE) < 0 && errno != ENOENT)
		warn("unable to finish ticket %s of %s: %s", s->ticket, j->name, strerror(errno));
	slot_idle(s);
	/* the next look for a ticket finds the job over, if it is */
	j->retry_at = 0;
}

/* The renderer exited: find its image and have it checked. */
static void render_exited(struct slot *s, int status)
{
	struct job *j = s->job;
	s->wall = (double)(mono_us() - s->frame_started) / 1e6;
	if (s->killing == KILL_CANCEL || s->killing == KILL_LOST || s->killing == KILL_STOP) {
		/* not the frame's fault: it goes back as it was */
		bill(s, false, 0);
		ticket_finish(j->fd, s->ticket, s->owner, TICKET_TODO);
		say("%s frame %ld stopped (%s)", j->name, s->frames[s->cur],
		    s->killing == KILL_CANCEL ? "cancelled" : s->killing == KILL_LOST ? "host was lost" : "agent stopping");
		slot_idle(s);
		return;
	}
	char why[400];
	if (s->killing == KILL_TIMEOUT) {
		bill(s, false, 0);
		snprintf(why, sizeof why, "timed out after %ld s (the job's timeout)", j->jd.timeout);
		ticket_failed(s, why);
		return;
	}
	if (s->killing == KILL_USER) {
		bill(s, false, 0);
		ticket_failed(s, "stopped by a user (hotfarm kill-frame)");
		return;
	}
	if (s->killing == KILL_HANG) {
		bill(s, false, 0);
		if (s->state == SLOT_CHECK)
			snprintf(why, sizeof why, "the image took more than a minute to check");
		else
			snprintf(why, sizeof why, "hung: no log output and no CPU progress for %ld s",
				 sp.conf.hang_timeout);
		ticket_failed(s, why);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		bill(s, false, 0);
		if (WIFSIGNALED(status))
			snprintf(why, sizeof why, "the renderer was killed by signal %d (see logs/%s)", WTERMSIG(status),
				 strrchr(s->log, '/') + 1);
		else
			snprintf(why, sizeof why, "the renderer exited with status %d (see logs/%s)", WEXITSTATUS(status),
				 strrchr(s->log, '/') + 1);
		ticket_failed(s, why);
		return;
	}
	/* whatever the renderer left running goes now, before its image is
	 * checked: nothing may touch it between the check and publishing */
	kill(-s->pid, SIGKILL);
	if (j->pkg.no_output) {
		/* a package that makes no image: its exit status is all */
		bill(s, true, 0);
		frame_published(s);
		return;
	}
	/* exactly one image in the slot's folder */
	DIR *d = opendir(s->outdir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			n++;
			snprintf(s->image, sizeof s->image, "%s/%s", s->outdir, e->d_name);
		}
	if (d)
		closedir(d);
	if (n != 1) {
		bill(s, false, 0);
		snprintf(why, sizeof why, "the renderer exited 0 but wrote %s (see logs/%s)",
			 n ? "more than one file" : "no image", strrchr(s->log, '/') + 1);
		ticket_failed(s, why);
		return;
	}
	char w[32], h[32], out[PATH_MAX];
	snprintf(w, sizeof w, "%ld", j->jd.width);
	snprintf(h, sizeof h, "%ld", j->jd.height);
	snprintf(out, sizeof out, "%s/.check", s->outdir);
	/* a sample of each frame for previews/ and its contact sheet */
	char thumb[PATH_MAX], previews[PATH_MAX];
	snprintf(previews, sizeof previews, "%s/previews", j->path);
	snprintf(thumb, sizeof thumb, "%s/frame%07ld.png", previews, s->frames[s->cur]);
	char *argv[10];
	int k = 0;
	argv[k++] = checker;
	if (j->jd.allow_blank)
		argv[k++] = "--allow-blank";
	argv[k++] = "--thumb";
	argv[k++] = thumb;
	argv[k++] = "--contact";
	argv[k++] = previews;
	argv[k++] = s->image;
	argv[k++] = w;
	argv[k++] = h;
	argv[k] = NULL;
	int outfd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	s->pid = outfd < 0 ? -1 : spawn_in(NULL, argv, outfd, s->owner);
	if (outfd >= 0)
		close(outfd);
	if (s->pid < 0) {
		bill(s, false, 0);
		ticket_failed(s, "the image checker could not be started");
		return;
	}
	s->state = SLOT_CHECK;
	s->frame_started = mono_us();
}

static void check_exited(struct slot *s, int status)
{
	struct job *j = s->job;
	if (s->killing) {
		render_exited(s, status);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEMPFAIL) {
		/* the checker's own trouble (memory): not the frame's fault */
		bill(s, false, 0);
		ticket_finish(j->fd, s->ticket, s->owner, TICKET_TODO);
		warn("%s frame %ld: the image checker failed for want of resources; the frame goes back", j->name,
		     s->frames[s->cur]);
		slot_idle(s);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char why[600] = "the image did not pass the check";
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/.check", s->outdir);
		FILE *f = fopen(path, "re");
		if (f) {
			char line[500];
			if (fgets(line, sizeof line, f)) {
				line[strcspn(line, "\n")] = 0;
				if (*line)
					snprintf(why, sizeof why, "%s", line);
			}
			fclose(f);
		}
		if (WIFSIGNALED(status))
			snprintf(why, sizeof why, "the image could not be checked (the checker died of signal %d)",
				 WTERMSIG(status));
		bill(s, false, 0);
		ticket_failed(s, why);
		return;
	}
	/* publish: the complete image, renamed into output/ */
	char name[PATH_MAX];
	output_name(j, s->frames[s->cur], name, sizeof name);
	struct stat st;
	unsigned long long bytes = stat(s->image, &st) == 0 ? (unsigned long long)st.st_size : 0;
	if (output_publish(j->fd, s->image, name) < 0) {
		char why[400];
		snprintf(why, sizeof why, "the image could not be put into output/: %s", strerror(errno));
		bill(s, false, 0);
		ticket_failed(s, why);
		return;
	}
	bill(s, true, bytes);
	frame_published(s);
}

static void reap(void)
{
	int status;
	struct rusage ru;
	pid_t pid;
	while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
		for (int i = 0; i < nslots; i++) {
			struct slot *s = &slots[i];
			if (s->pid != pid || s->state == SLOT_IDLE)
				continue;
			if (s->state == SLOT_RENDER) {
				s->ru = ru;
				render_exited(s, status);
			} else {
				check_exited(s, status);
			}
			break;
		}
	}
}

/* Timeouts, hangs, and the SIGKILL after a SIGTERM's grace. */
static long proc_cpu(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	long cut = 0, cst = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ut, &st, &cut,
			 &cst) != 4)
		return -1;
	return (long)(ut + st) + cut + cst;
}

static void watch_slots(void)
{
	int64_t now = mono_us();
	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		if (s->state == SLOT_IDLE || s->pid <= 0)
			continue;
		if (s->killing) {
			if (now >= s->kill_at)
				kill(-s->pid, SIGKILL);
			continue;
		}
		char req[32];
		snprintf(req, sizeof req, "kill.%d", s->index);
		if (unlinkat(hostfd, req, 0) == 0) {
			say("%s frame %ld: stopped on request (hotfarm kill-frame)", s->job->name, s->frames[s->cur]);
			slot_kill(s, KILL_USER);
			continue;
		}
		if (s->state == SLOT_CHECK) {
			/* a hostile image may be slow to decode: the checker gets a minute */
			if (now - s->frame_started > 60 * 1000000LL)
				slot_kill(s, KILL_HANG);
			continue;
		}
		if (s->job->jd.timeout && now - s->frame_started > s->job->jd.timeout * 1000000LL) {
			say("%s frame %ld: timeout after %ld s, stopping it", s->job->name, s->frames[s->cur],
			    s->job->jd.timeout);
			slot_kill(s, KILL_TIMEOUT);
			continue;
		}
		struct stat st;
		long cpu = proc_cpu(s->pid);
		off_t size = stat(s->log, &st) == 0 ? st.st_size : 0;
		if (size != s->log_seen || cpu != s->cpu_seen) {
			s->log_seen = size;
			s->cpu_seen = cpu;
			s->last_progress = now;
		} else if (now - s->last_progress > sp.conf.hang_timeout * 1000000LL) {
			say("%s frame %ld: no output and no CPU for %ld s, stopping it", s->job->name,
			    s->frames[s->cur], sp.conf.hang_timeout);
			slot_kill(s, KILL_HANG);
		}
	}
}

/* Slot files catch up with frames that have run for a moment. */
static void slots_show(void)
{
	int64_t now = mono_us();
	for (int i = 0; i < nslots; i++) {
		struct slot *s = &slots[i];
		if (s->state != SLOT_IDLE && !s->shown && now - s->frame_started > 20000)
			slot_write(s);
	}
}

static bool busy(void)
{
	for (int i = 0; i < nslots; i++)
		if (slots[i].state != SLOT_IDLE)
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
		if (slots[i].state != SLOT_IDLE && !strcmp(slots[i].job->name, name)) {
			say("%s was cancelled: stopping frame %ld", name, slots[i].frames[slots[i].cur]);
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
		if (s->state == SLOT_IDLE || s->killing)
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

static char host_text[8192];

static void publish_host(bool force)
{
	struct buf b = {0};
	probe_host(&sp, host, nslots, &b);
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
			if (queue[i]->loaded && !queue[i]->running) {
				struct job *j = queue[i];
				job_desc_free(&j->jd);
				package_free(&j->pkg);
				strlist_free(&j->limits);
				if (j->fd >= 0)
					close(j->fd);
				j->fd = -1;
				j->loaded = false;
			}
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

/* ---- main -------------------------------------------------------------------------------- */

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: render-agent [--spool DIR] [--slots N] [--name HOST]\n"
		"Render frames of queued jobs on this host.\n"
		"  --spool DIR  the spool (default $HOTFARM_SPOOL, else /var/spool/hotfarm)\n"
		"  --slots N    concurrent renders (default: one per CPU)\n"
		"  --name HOST  this host's name in hosts/ (default: the host name); several\n"
		"               agents on one machine need distinct names\n"
		"SIGTERM stops it: running frames go back to todo/, hosts/HOST is removed.\n"
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
	nslots = want_slots ? (int)want_slots : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nslots < 1)
		nslots = 1;
	slots = xcalloc((size_t)nslots, sizeof *slots);
	for (int i = 0; i < nslots; i++) {
		slots[i].index = i;
		snprintf(slots[i].owner, sizeof slots[i].owner, "%s.%d", host, i);
		slot_write(&slots[i]);
		char req[32];
		snprintf(req, sizeof req, "kill.%d", i);
		unlinkat(hostfd, req, 0); /* a request for an earlier run */
	}
	heartbeat();
	kill_leftovers();
	publish_host(true);
	return_stale();

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
	say("%s renders with %d slot%s on %s (%s)", host, nslots, nslots == 1 ? "" : "s", sp.path,
	    efd >= 0 ? "inotify" : "rescans only");

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
				if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !stopping) {
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
