/* sandboxtest.c - the render agent's way to confine, driven by t-confine: build a sandbox here (wrapper/sandbox.c),
 * vfork, enter it in the child, exec; show this process (and its other thread) stayed free; time it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

extern char **environ;

/* what a child that could not exec says, in memory it shares with us */
static volatile int child_errno;
static const char *volatile child_step;

static pid_t spawn(const struct sandbox *sb, char *const argv[], char *const env[], int errfd)
{
	child_step = NULL;
	pid_t pid = vfork();
	if (pid == 0) {
		const char *step = "execve";
		if (errfd >= 0)
			dup2(errfd, 2);
		if (!sb || sandbox_enter(sb, &step) == 0)
			execve(argv[0], argv, env);
		child_errno = errno;
		child_step = step;
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	if (child_step)
		fprintf(stderr, "sandboxtest: child: %s: %s\n", child_step, strerror(child_errno));
	return st;
}

static void build(const struct sandbox_request *req, struct sandbox *sb)
{
	char err[512];
	if (sandbox_build(req, sb, err, sizeof err) < 0) {
		fprintf(stderr, "sandboxtest: %s\n", err);
		exit(111);
	}
}

/* A second thread, as the agent has: it answers with its own uid and
 * whether it can write FILE (when not NULL), when asked through a pipe. */
static int ask[2], answer[2];
static void *helper(void *file)
{
	char c;
	while (read(ask[0], &c, 1) == 1) {
		int fd = file ? open(file, O_CREAT | O_WRONLY | O_TRUNC, 0644) : -1;
		long reply[2] = {(long)syscall(SYS_getuid), fd >= 0 && write(fd, "t", 1) == 1};
		if (fd >= 0)
			close(fd);
		if (write(answer[1], reply, sizeof reply) != sizeof reply)
			break;
	}
	return NULL;
}
static void helper_start(const char *file)
{
	pthread_t t;
	if (pipe(ask) < 0 || pipe(answer) < 0 || pthread_create(&t, NULL, helper, (void *)file) != 0)
		exit(2);
}
static void helper_ask(long reply[2])
{
	if (write(ask[1], "?", 1) != 1 || read(answer[0], reply, 2 * sizeof reply[0]) != 2 * sizeof reply[0])
		exit(2);
}

/* escape ROOT WRAPPER OUTSIDE-FILE [RO...] -- PROGRAM ARGS: PROGRAM confined
 * as the agent would; then what this process can still do. */
static int run_escape(int argc, char **argv)
{
	struct sandbox_request req = {.root = argv[2], .wrapper = argv[3]};
	const char *outside = argv[4];
	int i = 5;
	for (; i < argc && strcmp(argv[i], "--") != 0 && req.nro < SANDBOX_PATHS; i++)
		req.ro[req.nro++] = argv[i];
	if (i + 1 >= argc)
		return 100;
	char **program = argv + i + 1;
	req.program = program[0];
	char thread_file[4200];
	snprintf(thread_file, sizeof thread_file, "%s.thread", outside);
	helper_start(thread_file);
	struct sandbox sb;
	build(&req, &sb);
	char **env = sandbox_env(&sb, environ);
	fprintf(stderr, "%s\n", sandbox_said(&sb));
	fflush(NULL);
	int st = reap(spawn(&sb, program, env, -1));
	free(env);
	sandbox_free(&sb);
	printf("parent child-exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	int fd = open(outside, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	printf("parent wrote-outside %s\n", fd >= 0 && write(fd, "p", 1) == 1 ? "yes" : "no");
	if (fd >= 0)
		close(fd);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	printf("parent socket %s\n", s >= 0 ? "yes" : "no");
	if (s >= 0)
		close(s);
	printf("parent no-new-privs %d seccomp %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
	       prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	long reply[2];
	helper_ask(reply);
	printf("parent thread-wrote-outside %s\n", reply[1] ? "yes" : "no");
	return 0;
}

/* user ROOT NAME: `id -u` run as NAME; this process's threads stay who they were */
static int run_user(char **argv)
{
	helper_start(NULL);
	struct sandbox_request req = {.root = argv[2], .user = argv[3], .program = "id"};
	struct sandbox sb;
	build(&req, &sb);
	char *id[] = {"/usr/bin/id", "-u", NULL};
	fflush(NULL);
	int st = reap(spawn(&sb, id, environ, -1));
	sandbox_free(&sb);
	long reply[2];
	helper_ask(reply);
	printf("parent uid %ld thread %ld child-exit %d\n", (long)syscall(SYS_getuid), reply[0],
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

/* x32 ROOT: an x32 system call (socket) under the filter */
static int run_x32(char **argv)
{
	struct sandbox_request req = {.root = argv[2]};
	struct sandbox sb;
	build(&req, &sb);
	pid_t pid = fork();
	if (pid == 0) {
		if (sandbox_enter(&sb, NULL) < 0)
			_exit(126);
		long r = syscall(0x40000000L | SYS_socket, AF_INET, SOCK_DGRAM, 0);
		_exit(r >= 0 ? 0 : errno);
	}
	int st = reap(pid);
	sandbox_free(&sb);
	if (WIFSIGNALED(st))
		printf("x32 killed by SIG%s\n", sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
	else
		printf("x32 exit %d (%s)\n", WEXITSTATUS(st), strerror(WEXITSTATUS(st)));
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of the N times in T (sorted here), in ms: the machine is
 * shared, and a few slow starts should not make the figure. */
static double median_ms(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, by_value);
	return t[n / 2] * 1e3;
}

/* One start of ARGV, with a sandbox of REQ built first when REQ is not
 * NULL: its time in seconds, and the build's in *BUILT. */
static double start_once(const struct sandbox_request *req, char *const argv[], int devnull, double *built)
{
	double t0 = now();
	struct sandbox sb;
	char **env = environ;
	if (req) {
		build(req, &sb);
		env = sandbox_env(&sb, environ);
	}
	*built = now() - t0;
	reap(spawn(req ? &sb : NULL, argv, env, devnull));
	if (req) {
		free(env);
		sandbox_free(&sb);
	}
	return now() - t0;
}

/* bench ROOT WRAPPER HF-CONFINE N: starting /bin/true N times each way, the
 * median ms per start. The ways take turns, so that what else the machine
 * does weighs on each alike. */
static int run_bench(char **argv)
{
	const struct sandbox_request wrapped = {.root = argv[2], .wrapper = argv[3], .program = "true"};
	const struct sandbox_request bare = {.root = argv[2], .program = "true"};
	char *truev[] = {"/bin/true", NULL};
	char *confv[] = {argv[4], "--root", argv[2], "--", "/bin/true", NULL};
	const struct {
		const struct sandbox_request *req;
		char *const *argv;
	} way[] = {{NULL, truev}, {&wrapped, truev}, {&bare, truev}, {NULL, confv}};
	enum { WAYS = sizeof way / sizeof way[0] };
	int n = atoi(argv[5]), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	double *t = calloc((size_t)n * (WAYS + 1), sizeof *t), ms[WAYS + 1];
	if (n < 1 || devnull < 0 || !t)
		return 100;
	for (int i = 0; i < n; i++)
		for (int w = 0; w < WAYS; w++) {
			double built;
			t[w * n + i] = start_once(way[w].req, way[w].argv, devnull, &built);
			if (w == 1)
				t[WAYS * n + i] = built;
		}
	for (int w = 0; w <= WAYS; w++)
		ms[w] = median_ms(t + w * n, n);
	printf("starting /bin/true, median of %d each: vfork+exec %.2f ms; sandbox_build+vfork+sandbox_enter+exec "
	       "%.2f ms (sandbox_build %.2f ms of it; %.2f ms in all without the I/O wrapper); vfork+exec of "
	       "hf-confine %.2f ms\n",
	       n, ms[0], ms[1], ms[4], ms[2], ms[3]);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "escape") && argc > 6)
		return run_escape(argc, argv);
	if (!strcmp(mode, "user") && argc == 4)
		return run_user(argv);
	if (!strcmp(mode, "x32") && argc == 3)
		return run_x32(argv);
	if (!strcmp(mode, "bench") && argc == 6)
		return run_bench(argv);
	fprintf(stderr, "usage: sandboxtest escape ROOT WRAPPER OUTSIDE-FILE [RO...] -- PROGRAM ARGS...\n"
			"       sandboxtest user ROOT NAME | x32 ROOT | bench ROOT WRAPPER HF-CONFINE N\n");
	return 100;
}
