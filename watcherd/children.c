/* children.c - the stage programs watcherd runs: each started in a process group of its own with nothing of
 * ours, their table, reaping them, and the farm pass's notices. Takes from a child its exit status and, from the
 * farm pass alone, lines "NAME\tEVENT", each checked (a valid job id, one of four events) before use. */
#define _GNU_SOURCE
#include "watcherd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HOTFARM_LIBEXECDIR
#define HOTFARM_LIBEXECDIR "/usr/local/bin"
#endif

extern char **environ;

struct child {
	pid_t pid;
	enum child_kind kind;
	char key[300]; /* the stem, or the request (FOLDER/NAME) */
	int64_t started;
	struct child *next;
};
static struct child *children;
static int running[CHILD_KINDS];
static char libexec[PATH_MAX];

void children_init(void)
{
	const char *env = getenv("HOTFARM_LIBEXECDIR");
	snprintf(libexec, sizeof libexec, "%s", env ? env : HOTFARM_LIBEXECDIR);
}

char *prog(const char *name) { return xasprintf("%s/%s", libexec, name); }

/* Start program PATH with ARGV; its stdout is OUT, else /dev/null. */
static pid_t spawn_with(enum child_kind kind, const char *key, const char *path, char *const argv[], int out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	spawn_attr_child(&at);
	/* children get no inotify descriptor, no lock, no pipes of ours */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	pid_t pid;
	int e = posix_spawn(&pid, path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e) {
		errno = e;
		warn("unable to start %s: %s", path, strerror(e));
		return -1;
	}
	struct child *c = xcalloc(1, sizeof *c);
	c->pid = pid;
	c->kind = kind;
	snprintf(c->key, sizeof c->key, "%s", key);
	c->started = mono_us();
	c->next = children;
	children = c;
	running[kind]++;
	return pid;
}

pid_t spawn(enum child_kind kind, const char *key, char *const argv[])
{
	return spawn_with(kind, key, argv[0], argv, -1);
}

bool child_has_key(enum child_kind kind, const char *key)
{
	for (struct child *c = children; c; c = c->next)
		if (c->kind == kind && !strcmp(c->key, key))
			return true;
	return false;
}

int child_count(enum child_kind kind) { return running[kind]; }

bool children_left(void) { return children != NULL; }

/* Take child PID out of the table; NULL if it is not ours. */
static struct child *child_remove(pid_t pid)
{
	for (struct child **pp = &children; *pp; pp = &(*pp)->next)
		if ((*pp)->pid == pid) {
			struct child *c = *pp;
			*pp = c->next;
			running[c->kind]--;
			return c;
		}
	return NULL;
}

/* ---- the status page ------------------------------------------------------ */

static bool status_dirty = true; /* the status page should be written again */
static int64_t status_last;         /* when the last hf-status started */
static int64_t status_next;         /* not before this does the next */

void status_page_changed(void) { status_dirty = true; }

/* The pages are written again at most once a second, and a big farm's
 * (a thousand hosts, thousands of jobs) that take long to build at most a
 * fifth of the time: the next starts 5 times its build time after the
 * last started. (bench/scale.sh: watcherd's CPU with 1,000 agents.) */
static void status_built(void)
{
	int64_t took = mono_us() - status_last;
	status_next = status_last + (5 * took > 1000000 ? 5 * took : 1000000);
}

void status_page(void)
{
	if (!status_dirty || running[CHILD_STATUS] || mono_us() < status_next)
		return;
	char *argv[] = {prog("hf-status"), "--spool", sp.path, NULL};
	if (spawn(CHILD_STATUS, "", argv) > 0) {
		status_dirty = false;
		status_last = mono_us();
		status_next = status_last + 1000000;
	}
	free(argv[0]);
}

int status_page_wait(int64_t now)
{
	if (!status_dirty || running[CHILD_STATUS])
		return -1;
	int t = (int)((status_next - now) / 1000) + 1;
	return t < 0 ? 0 : t;
}

/* ---- the farm pass and notices ------------------------------------------- */

/* What needs the contents of files (host records, job descriptions and
 * status, notices sent, peers' summaries) is read by a pass in a child of
 * its own, `watcherd --farm-pass` (farm.c), started at each rescan, one at
 * a time. It prints one "NAME\tEVENT" line per notice due, read here as it
 * comes and checked; watcherd starts the hf-notify processes itself. */
#define FARM_PASS_MAX_US (300 * 1000000LL) /* a pass this old is stuck: killed */
#define FARM_OUT_MAX (8 << 20)
static int farm_fd = -1; /* the read end of the running pass's stdout */
static struct buf farm_out;
static bool farm_out_full;
static struct strlist notified; /* jobs whose hf-notify ended while the pass ran */
static int64_t farm_next;       /* no pass before this (after a failed one) */

void notices_start(struct strlist *due)
{
	for (size_t i = 0; i < due->n; i++) {
		char *tab = strchr(due->v[i], '\t');
		*tab = 0;
		if (child_has_key(CHILD_NOTIFY, due->v[i]) || running[CHILD_NOTIFY] >= 4)
			continue;
		char *argv[] = {prog("hf-notify"), "--spool", sp.path, due->v[i], tab + 1, NULL};
		spawn(CHILD_NOTIFY, due->v[i], argv);
		free(argv[0]);
	}
}

pid_t spawn_pass(enum child_kind kind, const char *pass, int out)
{
	/* this very program: the binary running, also if a newer one was
	 * installed meanwhile */
	char *argv[] = {"watcherd", (char *)pass, "--spool", sp.path, NULL};
	return spawn_with(kind, "", "/proc/self/exe", argv, out);
}

void farm_pass_start(void)
{
	struct child *c = children;
	while (c && c->kind != CHILD_FARM)
		c = c->next;
	if (c && mono_us() - c->started > FARM_PASS_MAX_US) {
		warn("the farm pass (pid %ld) has run for %lld s: stopping it", (long)c->pid,
		     (long long)((mono_us() - c->started) / 1000000));
		kill(-c->pid, SIGKILL);
	}
	if (c || farm_fd >= 0 || mono_us() < farm_next)
		return;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		warn("unable to make a pipe for the farm pass: %s", strerror(errno));
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	pid_t pid = spawn_pass(CHILD_FARM, "--farm-pass", p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return;
	}
	farm_fd = p[0];
	strlist_free(&notified);
}

int farm_pass_fd(void) { return farm_fd; }

static bool notice_event_valid(const char *event)
{
	return !strcmp(event, "accepted") || !strcmp(event, "samples") || !strcmp(event, "progress") ||
	       !strcmp(event, "final");
}

/* The pass ended: the notices it found due, but for jobs whose notice
 * went out while it looked. */
static void farm_pass_notices(void)
{
	struct strlist due = {0};
	char *save = NULL;
	for (char *line = farm_out.data ? strtok_r(farm_out.data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = 0;
		if (job_id_valid(line) && notice_event_valid(tab + 1) && !strlist_has(&notified, line)) {
			*tab = '\t';
			strlist_add(&due, line);
		}
	}
	notices_start(&due);
	strlist_free(&due);
}

void farm_pass_read(void)
{
	char chunk[16384];
	ssize_t n;
	while ((n = read(farm_fd, chunk, sizeof chunk)) > 0) {
		if (farm_out.len + (size_t)n > FARM_OUT_MAX)
			farm_out_full = true;
		else
			buf_add(&farm_out, chunk, (size_t)n);
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	close(farm_fd);
	farm_fd = -1;
	if (farm_out_full)
		warn("the farm pass found more than %d MiB of notices due; the rest wait for the next pass",
		     FARM_OUT_MAX >> 20);
	farm_pass_notices();
	buf_free(&farm_out);
	farm_out_full = false;
}

/* ---- recovery ----------------------------------------------------------------- */

void run_recovery(bool wait)
{
	if (running[CHILD_RECOVER])
		return;
	char *argv[] = {prog("hf-intake"), "--spool", sp.path, wait ? "--recover=start" : "--recover", NULL};
	pid_t pid = spawn(CHILD_RECOVER, "", argv);
	free(argv[0]);
	if (pid < 0 || !wait)
		return;
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	free(child_remove(pid));
}

/* ---- reaping ----------------------------------------------------------------- */

static void child_ended(const struct child *c, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	double ms = (double)(mono_us() - c->started) / 1000.0;
	if (c->kind == CHILD_NOTIFY && (running[CHILD_FARM] || farm_fd >= 0))
		strlist_add(&notified, c->key); /* the pass may have looked before it wrote */
	if (c->kind == CHILD_INTAKE) {
		intake_done(c->key, status, ms);
	} else if (c->kind == CHILD_SYNC) {
		sync_done(c->key, code);
	} else if (c->kind == CHILD_COLLECT) {
		collect_done(c->key, code);
	} else if (c->kind == CHILD_SEND) {
		sync_due();
	} else if (c->kind == CHILD_FARM) {
		if (code != 0) {
			warn("watcherd --farm-pass exited %d; the next one in 10 s", code);
			farm_next = mono_us() + 10 * 1000000LL;
		} else if (mono_us() - c->started > 100000) {
			/* a quarter of a CPU at most: a queue of tens of thousands
			 * of jobs makes passes seconds long, and rarer (a pass of a
			 * small farm, under 0.1 s, keeps to every rescan) */
			farm_next = mono_us() + 3 * (mono_us() - c->started);
		}
	} else if (c->kind == CHILD_SUMMARY) {
		summaries_done(code);
	} else if (c->kind == CHILD_MOVIE) {
		movie_done(c->key, code); /* and the pages again: they show it */
	} else if (c->kind == CHILD_CLEAN) {
		if (code != 0)
			warn("watcherd --clean-pass exited %d; the next one in an hour", code);
	} else if (c->kind == CHILD_REQUEST) {
		/* refused (100) is an answer, said by hf-request itself; a
		 * request it could not carry out yet stays for the next rescan */
	} else if (code != 0) {
		warn("%s exited %d", c->kind == CHILD_ROUTE ? "hf-route"
				     : c->kind == CHILD_STATUS ? "hf-status"
				     : c->kind == CHILD_NOTIFY ? "hf-notify"
							       : "hf-intake --recover",
		     code);
	}
	if (c->kind == CHILD_ROUTE && sp.conf.nlinks)
		send_wanted();
	if (c->kind != CHILD_STATUS)
		status_dirty = true;
	else
		status_built();
}

void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child *c = child_remove(pid);
		if (!c)
			continue;
		child_ended(c, status);
		free(c);
	}
}

/* Children are spoolers: each is crash-safe, but let the running ones
 * finish their step rather than leave work for recovery. */
void children_stop(int sfd)
{
	if (farm_fd >= 0) {
		close(farm_fd); /* a pass still writing ends on EPIPE */
		farm_fd = -1;
		buf_free(&farm_out);
	}
	int64_t deadline = mono_us() + 10 * 1000000LL;
	while (children && mono_us() < deadline) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		poll(&pfd, 1, 100);
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
			;
		reap();
	}
	for (struct child *k = children; k; k = k->next)
		kill(-k->pid, SIGKILL);
	while (children) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0 && errno != EINTR)
			break;
		if (p > 0)
			free(child_remove(p));
	}
	/* the pages once more, after the last change: nobody rewrites them
	 * while watcherd is down */
	char *argv[] = {prog("hf-status"), "--spool", sp.path, NULL};
	pid_t pid = spawn(CHILD_STATUS, "", argv);
	free(argv[0]);
	int status;
	int64_t end = mono_us() + 10 * 1000000LL;
	while (pid > 0 && waitpid(pid, &status, WNOHANG) == 0) {
		if (mono_us() >= end) {
			warn("hf-status took over 10 s as watcherd stopped; the pages may be behind");
			kill(-pid, SIGKILL);
			end = INT64_MAX;
		}
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (pid > 0)
		free(child_remove(pid));
}
