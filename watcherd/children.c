/* children.c - the stage programs watcherd runs: starting each in a
 * process group of its own with nothing of ours, the table of those
 * running, and reaping them. Trusts nothing from a child but its exit
 * status; a child's key is a name watcherd chose or checked. */
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
#include <unistd.h>

#ifndef HOTFARM_LIBEXECDIR
#define HOTFARM_LIBEXECDIR "/usr/local/bin"
#endif

extern char **environ;

struct child {
	pid_t pid;
	enum child_kind kind;
	char key[300]; /* the stem or the cancel request */
	int64_t started;
	unsigned long arrivals; /* jobs seen in new/ when it started */
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

pid_t spawn(enum child_kind kind, const char *key, char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	spawn_attr_child(&at);
	/* children get no inotify descriptor, no lock, no pipes of ours */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	pid_t pid;
	int e = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e) {
		errno = e;
		warn("unable to start %s: %s", argv[0], strerror(e));
		return -1;
	}
	struct child *c = xcalloc(1, sizeof *c);
	c->pid = pid;
	c->kind = kind;
	snprintf(c->key, sizeof c->key, "%s", key);
	c->started = mono_us();
	c->arrivals = new_arrivals;
	c->next = children;
	children = c;
	running[kind]++;
	return pid;
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
static int64_t status_last;

void status_page_changed(void) { status_dirty = true; }

void status_page(void)
{
	if (!status_dirty || running[CHILD_STATUS] || mono_us() - status_last < 1000000)
		return;
	char *argv[] = {prog("hf-status"), "--spool", sp.path, NULL};
	if (spawn(CHILD_STATUS, "", argv) > 0) {
		status_dirty = false;
		status_last = mono_us();
	}
	free(argv[0]);
}

int status_page_wait(int64_t now)
{
	if (!status_dirty || running[CHILD_STATUS])
		return -1;
	int t = (int)((status_last + 1000000 - now) / 1000) + 1;
	return t < 0 ? 0 : t;
}

/* ---- notices and recovery ------------------------------------------------- */

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
	if (c->kind == CHILD_INTAKE) {
		intake_done(c->key, status, ms);
	} else if (c->kind == CHILD_SYNC) {
		sync_done(c->key, code);
	} else if (c->kind == CHILD_COLLECT) {
		collect_done(c->key, code);
	} else if (c->kind == CHILD_SEND) {
		sync_due();
	} else if (c->kind == CHILD_CANCEL) {
		cancel_done(c->key, code, c->arrivals);
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
}
