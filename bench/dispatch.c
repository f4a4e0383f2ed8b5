/* bench/dispatch.c - dispatch latency on a real spool with the real
 * watcherd and render agent: from the last file of a job landing in
 * inbox/ (the rename of its .ini) to its frame's render process starting
 * (bench/stamp, the job's renderer, prints the time it started into its
 * log in logs/: a render writes nothing else of the job's). One job at a time, each to its end; with JITTER-MS, each
 * after a random pause below it. Prints name value lines; with
 * DISPATCH_TIMES=FILE, each job's landing and start into FILE. */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include "copy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* When job NAME's renderer started: the "started NS" line of a log of
 * its in logs/, or 0. */
static long long started(const char *spool, const char *name)
{
	char dir[4096], path[8192], line[256];
	snprintf(dir, sizeof dir, "%s/jobs/%s/logs", spool, name);
	DIR *d = opendir(dir);
	struct dirent *e;
	long long t = 0;
	while (d && !t && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		while (f && !t && fgets(line, sizeof line, f))
			if (sscanf(line, "started %lld", &t) != 1)
				t = 0;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return t;
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* wait (at most LIMIT_MS) until done/ has an entry ending in WANT */
static int wait_done(int ino, const char *want, int limit_ms)
{
	char buf[1 << 12];
	long long end = now_ns() + limit_ms * 1000000LL;
	size_t w = strlen(want);
	while (now_ns() < end) {
		struct pollfd p = {.fd = ino, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(ino, buf, sizeof buf);
		for (char *c = buf; n > 0 && c < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)c;
			size_t l = strlen(ev->name);
			if (ev->len && l >= w && !strcmp(ev->name + l - w, want))
				return 1;
			c += sizeof *ev + ev->len;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: dispatch SPOOL STAGE-DIR JOB.tar JOB.ini N PREFIX [JITTER-MS]\n");
		return 100;
	}
	const char *spool = argv[1], *stage = argv[2], *prefix = argv[6];
	int jobs = atoi(argv[5]), jitter = argc == 8 ? atoi(argv[7]) : 0;
	srand((unsigned)getpid());
	char a[4096], b[4096];
	mkdir(stage, 0755);
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	snprintf(a, sizeof a, "%s/done", spool);
	if (inotify_add_watch(ino, a, IN_MOVED_TO | IN_CREATE) < 0) {
		perror(a);
		return 1;
	}
	double *lat = calloc((size_t)jobs, sizeof *lat), first = -1;
	/* $DISPATCH_TIMES: each job's name, landing and start (ns), a line each */
	FILE *times = getenv("DISPATCH_TIMES") ? fopen(getenv("DISPATCH_TIMES"), "w") : NULL;
	int got = 0, missed = 0;
	/* job -1, the first after the farm started, is reported apart: the
	 * figures are of a farm that has been running */
	for (int i = -1; i < jobs; i++) {
		char name[64], want[72];
		if (i < 0)
			snprintf(name, sizeof name, "%sfirst", prefix);
		else
			snprintf(name, sizeof name, "%s%d", prefix, i);
		snprintf(want, sizeof want, "-%s", name);
		for (int k = 0; k < 2; k++) {
			snprintf(a, sizeof a, "%s/%s.%s", stage, name, k ? "ini" : "tar");
			if (copy(argv[3 + k], a) < 0) {
				perror(a);
				return 1;
			}
		}
		if (jitter > 0) /* arrive at a random moment, not in step with a poll */
			usleep((useconds_t)(rand() % jitter) * 1000);
		snprintf(a, sizeof a, "%s/%s.tar", stage, name);
		snprintf(b, sizeof b, "%s/inbox/%s.tar", spool, name);
		if (rename(a, b) < 0) {
			perror(b);
			return 1;
		}
		snprintf(a, sizeof a, "%s/%s.ini", stage, name);
		snprintf(b, sizeof b, "%s/inbox/%s.ini", spool, name);
		long long t0 = now_ns();
		if (rename(a, b) < 0) {
			perror(b);
			return 1;
		}
		if (!wait_done(ino, want, 30000)) {
			missed++;
			continue;
		}
		long long t1 = started(spool, name);
		if (times && t1 && i >= 0)
			fprintf(times, "%s %lld %lld\n", name, t0, t1);
		if (!t1)
			missed++;
		else if (i < 0)
			first = (double)(t1 - t0) / 1e6;
		else
			lat[got++] = (double)(t1 - t0) / 1e6;
	}
	if (got) {
		qsort(lat, (size_t)got, sizeof *lat, cmp_double);
		printf("dispatch_p50_ms %.2f\n", lat[got / 2]);
		printf("dispatch_p99_ms %.2f\n", lat[(got * 99) / 100]);
		printf("dispatch_max_ms %.2f\n", lat[got - 1]);
	}
	printf("dispatch_first_ms %.2f\n", first);
	printf("dispatch_jobs %d\n", got);
	printf("dispatch_missed %d\n", missed);
	free(lat);
	if (times)
		fclose(times);
	return 0;
}
