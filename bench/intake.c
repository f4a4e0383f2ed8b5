/* bench/intake.c - intake latency and throughput, measured on a real spool
 * with the real watcherd: from the last file of a job landing in inbox/
 * (the careful writer's rename of its .ini) to the job's entry appearing in
 * queue/. Prints one line per figure: name value unit. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int ino = -1;
static char *spool, *stage;

static void move_in(const char *name)
{
	char from[4096], to[4096];
	snprintf(from, sizeof from, "%s/%s", stage, name);
	snprintf(to, sizeof to, "%s/inbox/%s", spool, name);
	if (rename(from, to) < 0) {
		perror(from);
		exit(1);
	}
}

/* wait for queue/ entries; returns how many of the wanted names arrived */
static int wait_queued(const char *prefix, int want, double deadline_ms, double *last)
{
	char buf[1 << 16];
	int got = 0;
	while (got < want) {
		double left = deadline_ms - now_ms();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = ino, .events = POLLIN};
		if (poll(&p, 1, (int)left + 1) <= 0)
			continue;
		ssize_t n = read(ino, buf, sizeof buf);
		double t = now_ms();
		for (char *c = buf; n > 0 && c < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)c;
			if (ev->len && strstr(ev->name, prefix)) {
				got++;
				*last = t;
			}
			c += sizeof *ev + ev->len;
		}
	}
	return got;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: intake SPOOL STAGE JOBS BURST\n");
		return 100;
	}
	spool = argv[1];
	stage = argv[2];
	int jobs = atoi(argv[3]), burst = atoi(argv[4]);
	char path[4096];
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	snprintf(path, sizeof path, "%s/queue", spool);
	if (inotify_add_watch(ino, path, IN_MOVED_TO | IN_CREATE) < 0) {
		perror(path);
		return 1;
	}
	double *lat = calloc((size_t)jobs, sizeof *lat);
	int missed = 0;
	for (int i = 0; i < jobs; i++) {
		char tar[64], ini[64], want[64];
		snprintf(tar, sizeof tar, "lat%d.tar", i);
		snprintf(ini, sizeof ini, "lat%d.ini", i);
		snprintf(want, sizeof want, "-lat%d", i);
		move_in(tar);
		move_in(ini);
		double t0 = now_ms(), t1 = t0;
		/* exact match: "-lat1" must not match "-lat12" */
		char buf[1 << 12];
		int found = 0;
		while (!found && now_ms() - t0 < 5000) {
			struct pollfd p = {.fd = ino, .events = POLLIN};
			if (poll(&p, 1, 100) <= 0)
				continue;
			ssize_t n = read(ino, buf, sizeof buf);
			t1 = now_ms();
			for (char *c = buf; n > 0 && c < buf + n;) {
				struct inotify_event *ev = (struct inotify_event *)c;
				size_t l = strlen(ev->name), w = strlen(want);
				if (ev->len && l >= w && !strcmp(ev->name + l - w, want))
					found = 1;
				c += sizeof *ev + ev->len;
			}
		}
		if (!found)
			missed++;
		lat[i] = t1 - t0;
	}
	qsort(lat, (size_t)jobs, sizeof *lat, cmp_double);
	printf("latency_p50_ms %.2f\n", lat[jobs / 2]);
	printf("latency_p99_ms %.2f\n", lat[(jobs * 99) / 100]);
	printf("latency_max_ms %.2f\n", lat[jobs - 1]);
	printf("latency_missed %d\n", missed);

	/* throughput: a burst of jobs dropped at once */
	double t0 = now_ms(), last = t0;
	for (int i = 0; i < burst; i++) {
		char tar[64], ini[64];
		snprintf(tar, sizeof tar, "burst%d.tar", i);
		snprintf(ini, sizeof ini, "burst%d.ini", i);
		move_in(tar);
		move_in(ini);
	}
	int got = wait_queued("-burst", burst, t0 + 120000, &last);
	/* cross-check the events against the folder itself */
	char qpath[4096];
	snprintf(qpath, sizeof qpath, "%s/queue", spool);
	DIR *d = opendir(qpath);
	struct dirent *e;
	int listed = 0;
	while (d && (e = readdir(d)))
		if (strstr(e->d_name, "-burst"))
			listed++;
	if (d)
		closedir(d);
	printf("burst_listed %d\n", listed);
	printf("burst_jobs %d\n", got);
	printf("burst_seconds %.3f\n", (last - t0) / 1e3);
	printf("jobs_per_second %.1f\n", got / ((last - t0) / 1e3));
	free(lat);
	return 0;
}
