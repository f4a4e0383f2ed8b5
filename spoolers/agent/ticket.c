/* ticket.c - a run's ticket files in frames/active/: read when claimed,
 * noted (attempts, bills), settled to todo/, done/ or failed/. Distrusts
 * the ticket's text: one bounded read, parsed as fixed-format lines. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Append a line to ticket T of the slot (in active/). */
static void ticket_note(struct slot *s, size_t t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ticket_note(struct slot *s, size_t t, const char *fmt, ...)
{
	char path[256], line[1024];
	snprintf(path, sizeof path, "frames/active/%s@%s", s->tk[t].name, s->owner);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	int fd = openat(s->job->fd, path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || write(fd, line, (size_t)n) != n)
		warnj(s->job->name, -1, "unable to note on ticket %s of %s: %s", s->tk[t].name, s->job->name, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* A ticket we hold (active/NAME@OWNER): its frames still to render (those
 * an earlier holder published are left out: FRAMES, N), how often it was
 * tried (ATTEMPT: this try's number) and whether it failed on this host.
 * False when it cannot be read or lists no frame. */
bool ticket_read(struct job *j, const char *name, const char *owner, long **frames, size_t *n, int *attempt,
		 bool *failed_here)
{
	char path[256];
	snprintf(path, sizeof path, "frames/active/%s@%s", name, owner);
	/* one read: a ticket is a few lines */
	int fd = openat(j->fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	char *text = xmalloc(65536);
	ssize_t got = read(fd, text, 65535);
	close(fd);
	if (got <= 0) {
		free(text);
		return false;
	}
	text[got] = 0;
	bool *published;
	size_t all;
	ticket_frames(text, frames, &published, &all);
	*n = 0;
	for (size_t i = 0; i < all; i++)
		if (!published[i])
			(*frames)[(*n)++] = (*frames)[i];
	free(published);
	*attempt = 1;
	*failed_here = false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "attempt = ", 10)) {
			(*attempt)++;
			char who[100];
			if (sscanf(line + 10, "%*d %99s", who) == 1) {
				char *dot = strrchr(who, '.');
				if (dot)
					*dot = 0;
				if (!strcmp(who, agent.host))
					*failed_here = true;
			}
		}
	}
	free(text);
	return all > 0;
}

/* The frame a ticket name RANK-FIRST[-LAST] begins with, or -1. */
long ticket_first_frame(const char *name)
{
	const char *dash = strchr(name, '-');
	return dash && dash[1] >= '0' && dash[1] <= '9' ? atol(dash + 1) : -1;
}

/* Frame I's bill, on its ticket: what it cost, whether it was published. */
void bill(struct slot *s, size_t i, bool ok, unsigned long long bytes)
{
	const struct run_frame *f = &s->fr[i];
	ticket_note(s, f->ticket, "billing = frame=%ld ok=%d host=%s wall=%.3f user=%.3f sys=%.3f rss_kb=%ld bytes=%llu",
		    f->frame, ok, s->owner, f->wall, f->cpu_user, f->cpu_sys, f->rss_kb, bytes);
}

/* This host failed too many frames of J in a row: jobs/NAME/blocked/HOST,
 * a marker admins can see and remove, and J is not taken any more. */
static void job_block_here(struct job *j, const char *clean)
{
	mkdirat(j->fd, "blocked", 0755);
	char text[900];
	int n = snprintf(text, sizeof text,
			 "%s failed %d frames of this job in a row and takes no more of them.\n"
			 "Last: %s\nRemove this file to let it try again.\n",
			 agent.host, j->fails_in_row, clean);
	int bfd = openat(j->fd, "blocked", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (bfd < 0 || file_write_atomic(bfd, agent.host, text, (size_t)n, 0644) < 0)
		warnj(j->name, -1, "unable to write jobs/%s/blocked/%s: %s", j->name, agent.host, strerror(errno));
	if (bfd >= 0)
		close(bfd);
	j->usable = false;
	j->blocked = true;
	warnj(j->name, -1, "%s: this host stops taking frames of %s after %d failures in a row", agent.host, j->name,
	     j->fails_in_row);
}

/* Ticket T is over on this try: FAILED (counted, REASON), or not (back to
 * todo/ as it was). Its frames not published are settled with it. */
void run_settle(struct slot *s, size_t t, bool failed, const char *reason)
{
	struct job *j = s->job;
	struct run_ticket *k = &s->tk[t];
	if (k->settled)
		return;
	k->settled = true;
	long frame = -1;
	for (size_t i = 0; i < s->nfr; i++)
		if (s->fr[i].ticket == t && s->fr[i].st != F_DONE) {
			if (frame < 0)
				frame = s->fr[i].frame;
			s->fr[i].st = F_BACK;
		}
	if (!failed) {
		if (ticket_finish(j->fd, k->name, s->owner, TICKET_TODO) < 0 && errno != ENOENT)
			warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
		j->retry_at = 0;
		return;
	}
	char clean[600];
	text_escape(reason, clean, sizeof clean);
	unsigned long long avail;
	if (s->killing != KILL_USER && s->killing != KILL_TIMEOUT && disk_short(j->fd, &avail)) {
		/* most likely it failed for want of space: not the frame's
		 * fault; it goes back as it was, to be done once there is room */
		ticket_note(s, t, "nospace = %s %s (the disk was full; not counted as an attempt)", s->owner, clean);
		if (ticket_finish(j->fd, k->name, s->owner, TICKET_TODO) < 0 && errno != ENOENT)
			warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
		sayj(j->name, frame, "%s frame %ld failed on a full disk; it goes back: %s", j->name, frame, clean);
		disk_wait(avail);
		j->retry_at = 0;
		return;
	}
	ticket_note(s, t, "attempt = %d %s %s", k->attempt, s->owner, clean);
	enum ticket_state to = k->attempt > j->jd->retries ? TICKET_FAILED : TICKET_TODO;
	if (ticket_finish(j->fd, k->name, s->owner, to) < 0 && errno != ENOENT)
		warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
	sayj(j->name, frame, "%s frame %ld failed (attempt %d%s): %s", j->name, frame, k->attempt,
	    to == TICKET_FAILED ? ", no retries left" : ", will be retried", clean);
	if (++j->fails_in_row >= agent.spool.conf.fail_limit && j->fd >= 0 && j->usable)
		job_block_here(j, clean);
	if (to == TICKET_TODO)
		j->retry_at = 0;
}

/* A frame of ticket T was published: when it was the ticket's last one,
 * the ticket moves to done/. */
void run_ticket_done(struct slot *s, size_t t)
{
	struct job *j = s->job;
	for (size_t k = 0; k < s->nfr; k++)
		if (s->fr[k].ticket == t && s->fr[k].st != F_DONE)
			return;
	s->tk[t].settled = true;
	if (ticket_finish(j->fd, s->tk[t].name, s->owner, TICKET_DONE) < 0 && errno != ENOENT)
		warnj(j->name, -1, "unable to finish ticket %s of %s: %s", s->tk[t].name, j->name, strerror(errno));
}
