/* events.c - make bench: what an event costs its writer (events_record:
 * the lock, the last number, one append) beside an audit line (one append,
 * no lock), alone and with WRITERS processes at once; prints key values. */
#define _GNU_SOURCE
#include "../layout/audit.h"
#include "../layout/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* N events (or audit lines) by each of W processes at once: microseconds
 * per record, as the writers see it (wall time of the slowest / N). */
static double run(struct spool *sp, int w, long n, bool audit)
{
	int64_t t0 = mono_us();
	for (int k = 0; k < w; k++)
		if (fork() == 0) {
			for (long i = 0; i < n; i++) {
				if (audit)
					audit_record(sp, 0, "render", "shot42", "done", "frame 7 on h1.0, attempt 1");
				else
					events_record(sp, &(struct event){.kind = EVENT_FRAME_DONE, .job = "shot42", .frame = i,
									  .host = "h1.0", .attempt = 1, .seconds = 2.31});
			}
			_exit(0);
		}
	while (wait(NULL) > 0)
		;
	return (double)(mono_us() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: events SPOOL N WRITERS\n");
		return 100;
	}
	msg_init("bench-events");
	struct spool sp;
	char err[512];
	if (spool_open(argv[1], &sp, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 111;
	}
	long n = atol(argv[2]);
	int w = atoi(argv[3]);
	printf("event_us %.1f\n", run(&sp, 1, n, false));
	printf("audit_us %.1f\n", run(&sp, 1, n, true));
	printf("events_w_us %.1f\n", run(&sp, w, n, false));
	printf("audit_w_us %.1f\n", run(&sp, w, n, true));
	spool_close(&sp);
	return 0;
}
