/* checker.c - the frame checks: one hf-check --serve started once and asked over a socket, each job's checks in
 * a worker of it with libvips loaded and warm; when it cannot be had, an hf-check process per frame as before. */
#define _GNU_SOURCE
#include "agent.h"
#include "../check/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int sock = -1;  /* to the server; -1: none */
static pid_t server;   /* its pid; 0: none */
static int64_t retry_at; /* after a failure, no new server before this */
static unsigned last_seq; /* the last request's number */
/* 'S' replies read while waiting for a 'P', handed on at the next look */
static struct check_reply *stash;
static size_t nstash, stash_cap;

static void sheets_lost(void);

static bool server_start(void)
{
	int sv[2];
	if (mono_us() < retry_at || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	char *argv[] = {agent.checker, "--serve", NULL};
	struct spawn_extra x = {.stdin_fd = sv[1]};
	/* marked as this host's: a restarted agent kills what is left of it */
	char owner[sizeof agent.host + 16];
	snprintf(owner, sizeof owner, "%s.checker", agent.host);
	pid_t pid = spawn_in(NULL, argv, STDERR_FILENO, owner, &x);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		retry_at = mono_us() + 60 * 1000000LL;
		return false;
	}
	sock = sv[0];
	server = pid;
	return true;
}

/* The server is gone (or useless): its checks in flight end as the
 * checker's own trouble, and their frames go back. */
static void server_lost(void)
{
	if (sock >= 0)
		close(sock);
	sock = -1;
	if (server > 0)
		kill(server, SIGKILL);
	retry_at = mono_us() + 1000000LL;
	sheets_lost();
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (s->job && s->check_pid > 0 && s->check_served) {
			kill(-s->check_pid, SIGKILL);
			check_exited(s, W_EXITCODE(EXIT_TEMPFAIL, 0));
			run_advance(s);
		}
	}
}

bool checker_reaped(pid_t pid)
{
	if (pid <= 0 || pid != server)
		return false;
	server = 0;
	server_lost();
	return true;
}

/* The 'P' for the request SEQ just sent: the checking process, or -1. */
static pid_t started_wait(unsigned seq)
{
	for (;;) {
		struct pollfd p = {.fd = sock, .events = POLLIN};
		struct check_reply r;
		/* the server answers at once: a second is trouble */
		if (poll(&p, 1, 1000) <= 0 || recv(sock, &r, sizeof r, 0) != (ssize_t)sizeof r)
			return -1;
		if (r.kind == 'P' && r.seq == seq)
			return r.pid > 0 ? r.pid : -1;
		if (r.kind == 'S') {
			/* (one a check in flight at most: never more than the slots) */
			if (nstash == stash_cap) {
				stash_cap = stash_cap ? 2 * stash_cap : 8;
				stash = xrealloc(stash, stash_cap * sizeof *stash);
			}
			stash[nstash++] = r;
		}
	}
}

/* Ask the server for the check ARGV (hf-check's) of job J, its words to
 * OUTFD: its number (in a packet: the number, the job, whose checks share
 * a worker, and the arguments) into *SEQ; the checking process, or -1. */
static pid_t server_ask(const struct job *j, char *const argv[], int outfd, unsigned *seq)
{
	*seq = ++last_seq ? last_seq : ++last_seq;
	char head[NAME_MAX + 32];
	int n = snprintf(head, sizeof head, "%u", *seq);
	struct buf b = {0};
	buf_add(&b, head, (size_t)n + 1);
	n = snprintf(head, sizeof head, "%s.%lu", j->name, j->serial);
	buf_add(&b, head, (size_t)n + 1);
	for (size_t i = 1; argv[i]; i++)
		buf_add(&b, argv[i], strlen(argv[i]) + 1);
	pid_t pid = packet_send_fd(sock, b.data, b.len, outfd) == 0 ? started_wait(*seq) : -1;
	buf_free(&b);
	return pid;
}

pid_t checker_spawn(struct slot *s, char *const argv[], int outfd)
{
	s->check_served = false;
	if (sock >= 0 || server_start()) {
		unsigned seq;
		pid_t pid = server_ask(s->job, argv, outfd, &seq);
		if (pid > 0) {
			s->check_served = true;
			s->check_seq = seq;
			return pid;
		}
		warn("the frame checker's server does not answer; checking with a process a frame");
		server_lost();
	}
	return spawn_in(NULL, argv, outfd, s->owner, NULL);
}

/* ---- a job's last contact sheet ---------------------------------------------- */

/* Sheets asked of the server: the request's number and its job (by name:
 * the job may be forgotten before it answers). */
struct sheet_asked {
	unsigned seq;
	char name[JOBID_MAX_LEN + 1];
};
static struct sheet_asked *sheets;
static size_t nsheets, sheets_cap;

bool checker_sheet(const struct job *j, char *const argv[])
{
	if (sock < 0 && !server_start())
		return false;
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul < 0)
		return false;
	unsigned seq;
	pid_t pid = server_ask(j, argv, nul, &seq); /* the job's warm worker */
	close(nul);
	if (pid <= 0) {
		server_lost();
		return false;
	}
	if (nsheets == sheets_cap) {
		sheets_cap = sheets_cap ? 2 * sheets_cap : 4;
		sheets = xrealloc(sheets, sheets_cap * sizeof *sheets);
	}
	sheets[nsheets].seq = seq;
	snprintf(sheets[nsheets].name, sizeof sheets[nsheets].name, "%s", j->name);
	nsheets++;
	return true;
}

/* The sheet of request SEQ is made (or failed: it is a picture, not a
 * frame): its job may end now. False: not a sheet's. */
static bool sheet_ended(unsigned seq)
{
	for (size_t i = 0; i < nsheets; i++)
		if (sheets[i].seq == seq) {
			char name[JOBID_MAX_LEN + 1];
			snprintf(name, sizeof name, "%s", sheets[i].name);
			sheets[i] = sheets[--nsheets];
			job_sheet_made(name);
			return true;
		}
	return false;
}

/* The server went: the sheets it was making are given up (made or not). */
static void sheets_lost(void)
{
	while (nsheets) {
		char name[JOBID_MAX_LEN + 1];
		snprintf(name, sizeof name, "%s", sheets[nsheets - 1].name);
		nsheets--;
		job_sheet_made(name);
	}
}

/* A check that ended: its slot's frame is judged. */
static void check_ended(const struct check_reply *r)
{
	if (sheet_ended(r->seq))
		return;
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (s->job && s->check_served && s->check_pid == r->pid && s->check_seq == r->seq) {
			check_exited(s, r->status);
			run_advance(s);
			return;
		}
	}
}

int checker_fd(void) { return sock; }

void checker_events(void)
{
	while (nstash) {
		struct check_reply r = stash[--nstash];
		check_ended(&r);
	}
	for (;;) {
		if (sock < 0)
			return;
		struct check_reply r;
		ssize_t n = recv(sock, &r, sizeof r, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n != (ssize_t)sizeof r) {
			warn("the frame checker's server stopped; its checks go back");
			server_lost();
			return;
		}
		if (r.kind == 'S')
			check_ended(&r);
	}
}
