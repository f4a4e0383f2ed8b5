/* spawnbox.c - the floor confinement sets for per-frame overhead: the bare
 * spawn loop (spawn.c), but each child enters the sandbox the agent gives
 * a render (wrapper/sandbox.c: Landlock, seccomp, rlimits, the I/O
 * wrapper preloaded) before it execs /bin/true. Built once, as the agent
 * does; no farm, no files, no cgroup.
 * spawnbox N ROOT FILES WRAPPER: prints the rate. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc != 5)
		return 100;
	int n = atoi(argv[1]);
	struct sandbox_request req = {.root = argv[2], .files = argv[3], .wrapper = argv[4], .program = "/bin/true",
				      .fsize = 16ULL << 30};
	req.ro[req.nro++] = "/bin/true";
	struct sandbox sb;
	char err[600];
	if (sandbox_build(&req, &sb, err, sizeof err) < 0) {
		fprintf(stderr, "spawnbox: %s\n", err);
		return 1;
	}
	char **envp = sandbox_env(&sb, environ);
	char *args[] = {"true", NULL};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		pid_t pid = vfork();
		if (pid == 0) {
			if (sandbox_enter(&sb, NULL) == 0)
				execve("/bin/true", args, envp);
			_exit(127);
		}
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0)
			return 1;
		/* the agent's sandbox serves 64 renderers, then is built again */
		if (i % 64 == 63) {
			free(envp);
			sandbox_free(&sb);
			if (sandbox_build(&req, &sb, err, sizeof err) < 0)
				return 1;
			envp = sandbox_env(&sb, environ);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.1f\n", n / ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9));
	free(envp);
	sandbox_free(&sb);
	return 0;
}
