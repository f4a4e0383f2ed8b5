/* runlog.c - a renderer's output: a pipe whose other end the agent copies
 * into the attempt's log in logs/, up to [agent] log_max; past it the rest
 * is dropped, once noted, and no longer counts as the render's progress. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The pipe for S's renderer: its write end (for the renderer's stdout and
 * stderr, blocking), or -1. The read end, non-blocking, is s->logpipe. */
int runlog_open(struct slot *s)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	/* room for a burst: the agent drains it every 20 ms */
	fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	s->logpipe = p[0];
	s->log_bytes = 0;
	s->log_capped = false;
	s->tail_len = 0;
	return p[1];
}

/* Copy what the renderer wrote since the last call into its log (up to
 * log_max). True when something new was kept (progress). */
bool runlog_drain(struct slot *s)
{
	char buf[65536];
	bool kept = false;
	unsigned long long max = agent.spool.conf.log_max;
	ssize_t n;
	while (s->logpipe >= 0 && (n = read(s->logpipe, buf, sizeof buf)) >= 0) {
		if (n == 0) {
			/* every writer is gone: nothing more can come */
			close(s->logpipe);
			s->logpipe = -1;
			break;
		}
		errors_keep(s, buf, (size_t)n); /* also past log_max: a renderer says why at its end */
		if (s->log_capped)
			continue;
		size_t take = (size_t)n;
		if (max && s->log_bytes + take > max)
			take = (size_t)(max - s->log_bytes);
		if (take && s->logfd >= 0 && write(s->logfd, buf, take) < 0 && errno != EAGAIN)
			warn("unable to write %s: %s", s->log, strerror(errno));
		s->log_bytes += take;
		kept |= take > 0;
		if (take < (size_t)n) {
			char note[200];
			int k = snprintf(note, sizeof note,
					 "\n# hotfarm: the log reached [agent] log_max (%llu bytes); the rest of the renderer's "
					 "output is dropped\n",
					 max);
			if (s->logfd >= 0 && write(s->logfd, note, (size_t)k) < 0)
				warn("unable to write %s: %s", s->log, strerror(errno));
			s->log_capped = true;
		}
	}
	return kept;
}

/* The renderer is over: what it left in the pipe goes into the log, and
 * the pipe is closed (its children, killed, write no more). */
void runlog_close(struct slot *s)
{
	runlog_drain(s);
	if (s->logpipe >= 0)
		close(s->logpipe);
	s->logpipe = -1;
}
