/* checkserve.c - make bench: frames checked the way a render agent checks them, by one hf-check --serve
 * (spoolers/check/serve.h), all of one job (one warm worker) or, with "cold", each of a job of its own (a new
 * worker forked for each); prints the median milliseconds per frame. */
#define _GNU_SOURCE
#include "../layout/util.h"
#include "../spoolers/check/serve.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One check of REQ (LEN bytes): its wait status, or -1. */
static int check_once(int sock, const char *req, size_t len, int outfd)
{
	if (packet_send_fd(sock, req, len, outfd) < 0)
		return -1;
	struct check_reply r;
	while (recv(sock, &r, sizeof r, 0) == (ssize_t)sizeof r)
		if (r.kind == 'S')
			return r.status;
	return -1;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: checkserve HF-CHECK N FILE WIDTH HEIGHT [DIR [cold]]\n");
		return 100;
	}
	int n = atoi(argv[2]), sv[2];
	const char *dir = argc > 6 ? argv[6] : "/tmp";
	int cold = argc > 7 && !strcmp(argv[7], "cold");
	if (n < 1 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return 111;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
	char *sargv[] = {argv[1], "--serve", NULL};
	pid_t server;
	if (posix_spawn(&server, argv[1], &fa, NULL, sargv, environ) != 0)
		return 111;
	close(sv[1]);
	char req[8192];
	size_t len = 9; /* "1", the job ("j00000"), then the arguments */
	memcpy(req, "1\0j00000", 9);
	char thumb[4200], view[4200];
	snprintf(thumb, sizeof thumb, "%s/thumb.png", dir);
	snprintf(view, sizeof view, "%s/view.jpg", dir);
	const char *words[] = {"--thumb", thumb, "--view", view, argv[3], argv[4], argv[5]};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
		size_t w = strlen(words[i]) + 1;
		memcpy(req + len, words[i], w);
		len += w;
	}
	int out = memfd_create("checkserve", MFD_CLOEXEC);
	double *ms = calloc((size_t)n, sizeof *ms);
	for (int i = 0; i < n; i++) {
		char key[8];
		snprintf(key, sizeof key, "j%05d", cold ? i % 100000 : 0); /* cold: a new job, a new worker */
		memcpy(req + 2, key, 6);
		double t0 = now_ms();
		int st = check_once(sv[0], req, len, out);
		ms[i] = now_ms() - t0;
		if (st != 0) {
			char said[600];
			ssize_t k = pread(out, said, sizeof said - 1, 0);
			said[k > 0 ? k : 0] = 0;
			fprintf(stderr, "checkserve: the check failed (status %d): %s\n", st, said);
			return 111;
		}
	}
	qsort(ms, (size_t)n, sizeof *ms, cmp);
	printf("%.1f\n", ms[n / 2]);
	close(sv[0]);
	waitpid(server, NULL, 0);
	return 0;
}
