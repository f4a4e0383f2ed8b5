/* watch.c - one thread owns libinotifytools and writes each event of the
 * watched folders to a pipe that the main loop polls with everything else.
 * Event names are untrusted file names: passed on as they are, escaped by
 * whoever prints them. */
#define _GNU_SOURCE
#include "watch.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_MAX 16
static int wds[WATCH_MAX];
static int nwds;
static int pipefd[2] = {-1, -1};

static void *watch_thread(void *arg)
{
	(void)arg;
	for (;;) {
		struct inotify_event *ev = inotifytools_next_event(-1);
		struct watch_event m = {.dir = -1, .mask = IN_Q_OVERFLOW};
		if (!ev) {
			if (inotifytools_error() == EINTR)
				continue;
			(void)!write(pipefd[1], &m, sizeof m);
			return NULL;
		}
		m.mask = ev->mask;
		if (!(ev->mask & IN_Q_OVERFLOW)) {
			for (int i = 0; i < nwds; i++)
				if (wds[i] == ev->wd)
					m.dir = (int8_t)i;
			if (m.dir < 0)
				continue;
			if (ev->len)
				snprintf(m.name, sizeof m.name, "%s", ev->name);
		}
		if (write(pipefd[1], &m, sizeof m) != (ssize_t)sizeof m)
			return NULL;
	}
}

/* The library does not say which descriptor is its own; find it and keep
 * it from leaking into children. */
static void inotify_cloexec(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[64], link[64];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, link, sizeof link - 1);
		if (n > 0) {
			link[n] = 0;
			if (!strcmp(link, "anon_inode:inotify"))
				fcntl(atoi(e->d_name), F_SETFD, FD_CLOEXEC);
		}
	}
	if (d)
		closedir(d);
}

int watch_start(const char *root, const char *const dirs[], int n, uint32_t mask)
{
	if (n > WATCH_MAX)
		n = WATCH_MAX;
	if (!inotifytools_initialize()) {
		warn("inotify is not available (%s); relying on rescans", strerror(inotifytools_error()));
		return -1;
	}
	inotify_cloexec();
	for (int i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", root, dirs[i]);
		if (!inotifytools_watch_file(path, (int)mask)) {
			warn("unable to watch %s: %s; relying on rescans", path, strerror(inotifytools_error()));
			free(path);
			return -1;
		}
		/* the library files folders under "path/" */
		char *slashed = xasprintf("%s/", path);
		wds[i] = inotifytools_wd_from_filename(slashed);
		if (wds[i] < 0)
			wds[i] = inotifytools_wd_from_filename(path);
		free(slashed);
		free(path);
		if (wds[i] < 0) {
			warn("inotify: no watch descriptor for %s/%s; relying on rescans", root, dirs[i]);
			return -1;
		}
	}
	nwds = n;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		die_errno(EXIT_TEMPFAIL, "pipe");
	pthread_t t;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, watch_thread, NULL))
		die(EXIT_TEMPFAIL, "unable to start the inotify thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_detach(t);
	return pipefd[0];
}

int watch_read(int fd, struct watch_event *ev)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 0) <= 0)
		return 0;
	ssize_t n = read(fd, ev, sizeof *ev);
	if (n == (ssize_t)sizeof *ev)
		return 1;
	return -1;
}
