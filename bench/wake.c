/* bench/wake.c - wake-up of an idle render agent: from a job's entry
 * being renamed into queue/ to its first ticket being claimed (the rename
 * into frames/active/), for each held job named on the command line.
 * Prints p50 and max in ms. */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 100;
	const char *spool = argv[1];
	int n = argc - 2;
	double *lat = calloc((size_t)n, sizeof *lat);
	for (int i = 0; i < n; i++) {
		const char *job = argv[i + 2];
		char path[4096], entry[512] = "", from[4096], to[4096];
		DIR *d = opendir(strcat(strcpy(path, spool), "/held"));
		struct dirent *e;
		size_t jl = strlen(job);
		while (d && (e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l > jl && e->d_name[l - jl - 1] == '-' && !strcmp(e->d_name + l - jl, job))
				snprintf(entry, sizeof entry, "%s", e->d_name);
		}
		if (d)
			closedir(d);
		if (!*entry)
			return 1;
		int ino = inotify_init1(IN_CLOEXEC);
		snprintf(path, sizeof path, "%s/jobs/%s/frames/active", spool, job);
		inotify_add_watch(ino, path, IN_MOVED_TO | IN_CREATE);
		snprintf(from, sizeof from, "%s/held/%s", spool, entry);
		snprintf(to, sizeof to, "%s/queue/%s", spool, entry);
		double t0 = now_ms();
		if (rename(from, to) < 0)
			return 1;
		struct pollfd p = {.fd = ino, .events = POLLIN};
		poll(&p, 1, 10000);
		lat[i] = now_ms() - t0;
		close(ino);
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp);
	printf("wake_p50_ms %.2f\nwake_max_ms %.2f\n", lat[n / 2], lat[n - 1]);
	return 0;
}
