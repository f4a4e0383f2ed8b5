/* serve.c - hf-check --serve: libvips loaded once, then forked into a worker per job that checks its frames one
 * after another, warm (a fresh fork costs more than a small frame's check); one refused frame ends its worker. */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
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

/* At most WORKERS at once; a worker checks USES frames at most (its heap
 * stays small) and is stopped after IDLE_US without one. */
enum { WORKERS = 16, USES = 64 };
static const int64_t IDLE_US = 20 * 1000000LL;

/* A worker's answer to its server: the check's exit code, and whether
 * it leaves now (after its last use). */
struct worker_done {
	int status;
	int last;
};

static struct worker {
	pid_t pid;        /* 0: a free place */
	int sock;         /* to it */
	bool busy;        /* a check of the agent's request SEQ in it */
	bool gone;        /* its socket closed: only its reaping is left */
	unsigned seq;
	int64_t used_at;  /* its last check's end */
	char key[NAME_MAX + 32]; /* the job whose frames it checks */
} pool[WORKERS];

/* A check's exit: its words out, then gone, without the hundred
 * libraries' destructors (the server's, not the check's). */
static void exit_fast(int status, void *arg)
{
	(void)arg;
	fflush(NULL);
	_exit(status);
}

/* ---- the worker ----------------------------------------------------------- */

/* The check of the arguments in BUF (LEN bytes), its words to OUTFD:
 * its exit code. A refused frame exits from here (exit_fast). */
static int check_one(char *buf, size_t len, int outfd)
{
	char *argv[64];
	int argc = 0;
	argv[argc++] = "hf-check";
	for (size_t i = 0; i < len && argc < 63; i += strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	argv[argc] = NULL;
	if (dup2(outfd, STDOUT_FILENO) < 0 || dup2(outfd, STDERR_FILENO) < 0)
		_exit(EXIT_TEMPFAIL);
	close(outfd);
	optind = 0; /* getopt from the start again */
	check_at = AT_FDCWD;
	int status = check_run(argc, argv);
	alarm(0);
	fflush(NULL);
	if (check_at != AT_FDCWD)
		close(check_at);
	/* nothing more goes to the agent's file */
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul < 0 || dup2(nul, STDOUT_FILENO) < 0 || dup2(nul, STDERR_FILENO) < 0)
		_exit(EXIT_TEMPFAIL);
	close(nul);
	return status;
}

/* A worker's life: checks from SOCK until its last use, or until its
 * server closes the socket or dies. */
static _Noreturn void worker_loop(int sock)
{
	static char buf[65536];
	for (int uses = 1;; uses++) {
		int outfd = -1;
		ssize_t n = packet_recv_fd(sock, buf, sizeof buf - 1, &outfd);
		if (n <= 0 || outfd < 0)
			_exit(EXIT_TEMPFAIL);
		buf[n] = 0;
		struct worker_done d = {.status = check_one(buf, (size_t)n, outfd), .last = uses >= USES};
		if (send(sock, &d, sizeof d, MSG_NOSIGNAL) != (ssize_t)sizeof d || d.last)
			_exit(EXIT_TEMPFAIL);
	}
}

/* A new worker for KEY in W: a fork of the server (AGENT and SFD are its
 * own descriptors, closed in the child). 0, or -1 with errno. */
static int worker_fork(struct worker *w, const char *key, int agent, int sfd)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(nul, agent) < 0)
			_exit(EXIT_TEMPFAIL);
		close(nul);
		close(sfd);
		close(sv[0]);
		for (int i = 0; i < WORKERS; i++)
			if (pool[i].pid)
				close(pool[i].sock);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGCHLD, SIG_DFL);
		on_exit(exit_fast, NULL);
		worker_loop(sv[1]);
	}
	close(sv[1]);
	*w = (struct worker){.pid = pid, .sock = sv[0], .used_at = mono_us()};
	snprintf(w->key, sizeof w->key, "%s", key);
	return 0;
}

/* ---- the server ----------------------------------------------------------- */

static void reply(int agent, char kind, pid_t pid, int status, unsigned seq)
{
	struct check_reply r = {.kind = kind, .pid = pid, .status = status, .seq = seq};
	while (send(agent, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* W stopped and its place free (its pid is reaped as a stranger's). */
static void worker_drop(struct worker *w)
{
	kill(w->pid, SIGKILL);
	close(w->sock);
	w->pid = 0;
}

/* An idle worker of KEY's, else a new one (in a free place, or the place
 * of an idle worker of another job); NULL when all are busy. */
static struct worker *worker_for(const char *key, int agent, int sfd)
{
	struct worker *free_place = NULL, *other = NULL;
	for (int i = 0; i < WORKERS; i++) {
		struct worker *w = &pool[i];
		if (!w->pid) {
			free_place = free_place ? free_place : w;
			continue;
		}
		if (w->busy || w->gone)
			continue;
		if (!strcmp(w->key, key))
			return w;
		if (!other || w->used_at < other->used_at)
			other = w;
	}
	if (!free_place && other) {
		worker_drop(other);
		free_place = other;
	}
	if (!free_place)
		errno = EAGAIN;
	return free_place && worker_fork(free_place, key, agent, sfd) == 0 ? free_place : NULL;
}

/* A request from the agent in BUF (LEN bytes, with OUTFD): SEQ, KEY, then
 * the check's arguments, sent on to a worker. */
static void request(int agent, int sfd, char *buf, size_t len, int outfd)
{
	char *seqw = buf, *key = memchr(buf, 0, len);
	key = key && key + 1 < buf + len ? key + 1 : NULL;
	char *args = key ? memchr(key, 0, len - (size_t)(key - buf)) : NULL;
	unsigned seq = (unsigned)strtoul(seqw, NULL, 10);
	if (!args || args + 1 >= buf + len || outfd < 0) {
		reply(agent, 'P', 0, EINVAL, seq);
		return;
	}
	args++;
	struct worker *w = worker_for(key, agent, sfd);
	if (!w || packet_send_fd(w->sock, args, len - (size_t)(args - buf), outfd) < 0) {
		int e = errno;
		if (w)
			worker_drop(w);
		reply(agent, 'P', 0, e ? e : EAGAIN, seq);
		return;
	}
	w->busy = true;
	w->seq = seq;
	reply(agent, 'P', w->pid, 0, seq);
}

/* What a worker says: its check ended (or its socket closed). */
static void worker_said(int agent, struct worker *w)
{
	struct worker_done d;
	ssize_t n = recv(w->sock, &d, sizeof d, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != (ssize_t)sizeof d) {
		w->gone = true; /* its death says the rest */
		return;
	}
	if (w->busy)
		reply(agent, 'S', w->pid, W_EXITCODE(d.status & 0xff, 0), w->seq);
	w->busy = false;
	w->gone = d.last;
	w->used_at = mono_us();
}

/* Workers that ended: a check in one ends with its wait status (unless
 * it said how its check ended first). */
static void reap(int agent)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < WORKERS; i++) {
			struct worker *w = &pool[i];
			if (w->pid != pid)
				continue;
			if (!w->gone)
				worker_said(agent, w);
			if (w->busy)
				reply(agent, 'S', pid, status, w->seq);
			close(w->sock);
			w->pid = 0;
		}
	}
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

/* The server's loop: requests from AGENT, answers from workers, their
 * ends (SFD, a signalfd for SIGCHLD), idle ones stopped. */
static int serve_loop(int agent, int sfd)
{
	static char buf[65536];
	for (;;) {
		struct pollfd p[2 + WORKERS] = {{.fd = agent, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
		bool any = false; /* (idle ones are looked at each second) */
		for (int i = 0; i < WORKERS; i++) {
			p[2 + i] = (struct pollfd){.fd = pool[i].pid && !pool[i].gone ? pool[i].sock : -1, .events = POLLIN};
			any = any || pool[i].pid;
		}
		if (poll(p, 2 + WORKERS, any ? 1000 : -1) < 0 && errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "poll");
		for (int i = 0; i < WORKERS; i++)
			if (pool[i].pid && !pool[i].gone && p[2 + i].revents)
				worker_said(agent, &pool[i]);
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0)
				;
			reap(agent);
		}
		int64_t now = mono_us();
		for (int i = 0; i < WORKERS; i++)
			if (pool[i].pid && !pool[i].busy && !pool[i].gone && now - pool[i].used_at > IDLE_US)
				worker_drop(&pool[i]);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int outfd = -1;
			ssize_t n = packet_recv_fd(agent, buf, sizeof buf - 1, &outfd);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return EXIT_OK; /* the agent is gone (the workers die with us) */
			buf[n] = 0;
			request(agent, sfd, buf, (size_t)n, outfd);
			if (outfd >= 0)
				close(outfd);
		}
	}
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
	vips_type_map_all(g_type_from_name("VipsObject"), class_make, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die_errno(EXIT_TEMPFAIL, "signalfd");
	return serve_loop(sock, sfd);
}
