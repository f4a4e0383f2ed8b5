/* serve.c - hf-check --serve: libvips loaded once, then a fresh fork for each frame the agent sends, so a check
 * costs a fork rather than the start of a hundred libraries, and each frame still meets a process of its own. */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* One request: the arguments of a check, NUL-separated, with the
 * descriptor its words go to. */
static int request_read(int sock, char *buf, size_t size, int *outfd)
{
	ssize_t n = packet_recv_fd(sock, buf, size - 1, outfd);
	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	buf[n] = 0;
	return (int)n;
}

/* A check's exit: its words out, then gone, without the hundred
 * libraries' destructors (the server's, not the check's). */
static void exit_fast(int status, void *arg)
{
	(void)arg;
	fflush(NULL);
	_exit(status);
}

/* The check of the request in BUF (LEN bytes) in a child of its own. */
static pid_t worker_start(int sock, int sfd, char *buf, size_t len, int outfd)
{
	char *argv[64];
	int argc = 0;
	argv[argc++] = "hf-check";
	for (size_t i = 0; i < len && argc < 63; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	close(sock);
	close(sfd);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	if (dup2(outfd, STDOUT_FILENO) < 0 || dup2(outfd, STDERR_FILENO) < 0)
		_exit(EXIT_TEMPFAIL);
	close(outfd);
	on_exit(exit_fast, NULL);
	exit(check_run(argc, argv));
}

/* Every libvips class made here once, before the forks, which then only
 * read them (a fork that makes one pays for every page it writes). Made,
 * not run: running one would start libvips's threads, which a fork does
 * not take along, and the child would wait for them for ever. */
static void *class_make(GType type, void *a)
{
	(void)a;
	if (!G_TYPE_IS_ABSTRACT(type))
		g_type_class_ref(type);
	return NULL;
}

static void warm_up(void)
{
	vips_type_map_all(g_type_from_name("VipsObject"), class_make, NULL);
}

static void reply(int sock, char kind, pid_t pid, int status)
{
	struct check_reply r = {.kind = kind, .pid = pid, .status = status};
	while (send(sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

int check_serve(int sock, char **argv)
{
	/* every library's symbols bound once here, not again in each fork */
	if (!getenv("LD_BIND_NOW")) {
		setenv("LD_BIND_NOW", "1", 1);
		execv("/proc/self/exe", argv);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* it lives as long as its agent */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	warm_up();
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die_errno(EXIT_TEMPFAIL, "signalfd");
	static char buf[65536];
	for (;;) {
		struct pollfd p[2] = {{.fd = sock, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "poll");
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0)
				;
			int status;
			pid_t pid;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				reply(sock, 'S', pid, status);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int outfd = -1;
			int n = request_read(sock, buf, sizeof buf, &outfd);
			if (n < 0)
				return EXIT_OK; /* the agent is gone */
			if (n == 0)
				continue;
			pid_t pid = outfd < 0 ? -1 : worker_start(sock, sfd, buf, (size_t)n, outfd);
			if (outfd >= 0)
				close(outfd);
			reply(sock, 'P', pid < 0 ? 0 : pid, pid < 0 ? errno : 0);
		}
	}
}
