/* cgtest.c - drives wrapper/cgroup.c for tests/t-cgroup.sh: one call of the
 * module per command, and the processes the test puts into groups. */
#define _GNU_SOURCE
#include "../wrapper/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static _Noreturn void usage(void)
{
	fputs("usage: cgtest open|where|clear|drop HOST\n"
	      "       cgtest make HOST NAME [PIDS [MEM]]\n"
	      "       cgtest spawn|run HOST NAME PATH [ARG...]\n"
	      "       cgtest kill|empty|usage|peak|oom|remove HOST NAME\n"
	      "       cgtest burn SECONDS | hog MIB | forks N | delegate DIR\n"
	      "CGTEST_V1=1: the tree without the v2 hierarchy (CG_TREE_NO_V2).\n"
	      "Exit: 0 yes/done, 1 no/failed, 100 usage.\n",
	      stderr);
	exit(100);
}

/* Start PATH ARGV in A's groups the way the agent does: vfork, join,
 * a process group of its own, exec. OUTPUT false: to /dev/null. */
static pid_t spawn(const struct cg_attempt *a, char **argv, bool output)
{
	static volatile int failed;
	failed = 0;
	pid_t pid = vfork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		if (cg_attempt_join(a) < 0 || nul < 0 || setpgid(0, 0) < 0 || dup2(nul, 0) < 0 ||
		    (!output && (dup2(nul, 1) < 0 || dup2(nul, 2) < 0))) {
			failed = errno;
			_exit(127);
		}
		execv(argv[0], argv);
		failed = errno;
		_exit(127);
	}
	if (pid > 0 && failed) {
		waitpid(pid, NULL, 0);
		errno = failed;
		return -1;
	}
	return pid;
}

static int run(const struct cg_attempt *a, char **argv, bool wait)
{
	pid_t pid = spawn(a, argv, wait);
	if (pid < 0) {
		fprintf(stderr, "cgtest: cannot start %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	if (!wait) {
		printf("%ld\n", (long)pid);
		return 0;
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return 1;
	if (WIFSIGNALED(st))
		printf("signal %d\n", WTERMSIG(st));
	else
		printf("exit %d\n", WEXITSTATUS(st));
	return 0;
}

/* the processes a test puts into a group */
static int burn(double seconds)
{
	struct timespec ts;
	do
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	while (ts.tv_sec + ts.tv_nsec / 1e9 < seconds);
	return 0;
}

static int hog(long mib)
{
	size_t size = (size_t)mib << 20;
	char *p = malloc(size);
	if (!p)
		return 1;
	for (size_t i = 0; i < size; i += 4096)
		p[i] = 1;
	printf("survived %ld MiB\n", mib);
	free(p);
	return 0;
}

static int forks(long n)
{
	long made = 0;
	int e = 0;
	for (; made < n; made++) {
		pid_t p = fork();
		if (p < 0) {
			e = errno;
			break;
		}
		if (p == 0) {
			close(0);
			close(1);
			close(2);
			pause();
			_exit(0);
		}
	}
	printf("made %ld (%s)\n", made, e ? strerror(e) : "all");
	/* no exit handlers: the group has no pids left for a sanitizer's thread */
	fflush(stdout);
	_exit(0);
}

static int helper(int argc, char **argv)
{
	if (argc != 3)
		usage();
	if (!strcmp(argv[1], "burn"))
		return burn(atof(argv[2]));
	if (!strcmp(argv[1], "hog"))
		return hog(atol(argv[2]));
	if (!strcmp(argv[1], "forks"))
		return forks(atol(argv[2]));
	if (setxattr(argv[2], "trusted.delegate", "1", 1, 0) < 0) {
		fprintf(stderr, "cgtest: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	return 0;
}

/* the commands on the tree alone */
static int tree_command(const char *cmd, struct cg_tree *t)
{
	if (!strcmp(cmd, "where")) {
		for (int h = 0; h < CG_NHIER; h++)
			if (t->base[h] >= 0)
				printf("%s\n", t->path[h]);
		return 0;
	}
	if (!strcmp(cmd, "clear") || !strcmp(cmd, "drop")) {
		int left = cg_tree_clear(t);
		printf("%d left\n", left);
		if (!strcmp(cmd, "drop") && cg_tree_close(t, true) < 0) {
			fprintf(stderr, "cgtest: cannot remove the subtree: %s\n", strerror(errno));
			return 1;
		}
		return left != 0;
	}
	return 0; /* open: said it */
}

static int attempt_command(const char *cmd, struct cg_attempt *a, int argc, char **argv)
{
	if (!strcmp(cmd, "spawn") || !strcmp(cmd, "run"))
		return argc < 5 ? (usage(), 1) : run(a, argv + 4, !strcmp(cmd, "run"));
	if (!strcmp(cmd, "kill"))
		return cg_attempt_kill(a) < 0;
	if (!strcmp(cmd, "empty"))
		return !cg_attempt_empty(a);
	if (!strcmp(cmd, "oom"))
		return !cg_attempt_oom(a);
	if (!strcmp(cmd, "peak"))
		return printf("%ld\n", cg_attempt_peak_kb(a)) < 0;
	if (!strcmp(cmd, "usage")) {
		double user, sys;
		if (cg_attempt_usage(a, &user, &sys) < 0)
			return 1;
		printf("%.3f %.3f\n", user, sys);
		return 0;
	}
	if (!strcmp(cmd, "remove")) {
		if (cg_attempt_remove(a) == 0)
			return 0;
		fprintf(stderr, "cgtest: remove: %s\n", strerror(errno));
		return 1;
	}
	usage();
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	if (!strcmp(argv[1], "burn") || !strcmp(argv[1], "hog") || !strcmp(argv[1], "forks") ||
	    !strcmp(argv[1], "delegate"))
		return helper(argc, argv);
	const char *cmd = argv[1], *v1 = getenv("CGTEST_V1");
	struct cg_tree t;
	char said[1024];
	if (cg_tree_open(&t, argv[2], v1 && *v1 ? CG_TREE_NO_V2 : 0, said, sizeof said) < 0) {
		fprintf(stderr, "cgtest: %s\n", said);
		return 1;
	}
	if (!strcmp(cmd, "open"))
		printf("%s\n", said);
	if (argc == 3)
		return tree_command(cmd, &t);
	struct cg_attempt a;
	int r;
	if (!strcmp(cmd, "make")) {
		r = cg_attempt_make(&t, argv[3], argc > 4 ? atol(argv[4]) : 0,
		                    argc > 5 ? strtoull(argv[5], NULL, 10) : 0, &a);
		if (r < 0)
			fprintf(stderr, "cgtest: make %s: %s\n", argv[3], strerror(errno));
		return r < 0;
	}
	if (cg_attempt_open(&t, argv[3], &a) < 0) {
		fprintf(stderr, "cgtest: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	/* the groups stay as they are when it exits: as after a killed agent */
	return attempt_command(cmd, &a, argc, argv);
}
