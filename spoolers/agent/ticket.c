/* ticket.c - a run's ticket files in frames/active/: read when claimed,
 * noted (attempts, bills), settled to todo/, done/ or failed/. Distrusts
 * the ticket's text: read and parsed warily by layout/ (ticket_load). */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A line noted on ticket T of the slot (in active/) could not be written. */
static void ticket_note_failed(struct slot *s, size_t t)
{
	warnj(s->job->name, -1, "unable to note on ticket %s of %s: %s", s->tk[t].name, s->job->name, strerror(errno));
}

/* A ticket we hold (active/NAME@OWNER): its frames still to render (those
 * an earlier holder published are left out: FRAMES, N), how often it was
 * tried (ATTEMPT: this try's number) and whether it failed on this host.
 * False when it cannot be read or lists no frame. */
bool ticket_read(struct job *j, const char *name, const char *owner, long **frames, size_t *n, int *attempt,
		 bool *failed_here)
{
	char held[256];
	ticket_held_name(held, sizeof held, name, owner);
	struct ticket t;
	if (ticket_load(j->fd, TICKET_ACTIVE, held, &t) < 0)
		return false;
	*frames = xcalloc(t.nframes ? t.nframes : 1, sizeof **frames);
	*n = 0;
	for (size_t i = 0; i < t.nframes; i++)
		if (!t.published[i])
			(*frames)[(*n)++] = t.frames[i];
	*attempt = 1 + (int)t.nattempts;
	*failed_here = false;
	for (size_t i = 0; i < t.nattempts; i++) {
		/* OWNER is HOST.SLOT */
		char *dot = strrchr(t.attempts[i].owner, '.');
		if (dot)
			*dot = 0;
		if (!strcmp(t.attempts[i].owner, agent.host))
			*failed_here = true;
	}
	bool any = t.nframes > 0;
	ticket_free(&t);
	return any;
}

/* The frame a ticket name RANK-FIRST[-LAST] begins with, or -1. */
long ticket_first_frame(const char *name)
{
	long first;
	return ticket_name_parse(name, NULL, &first, NULL, NULL) ? first : -1;
}

/* Frame I's bill, on its ticket: what it cost, whether it was published. */
void bill(struct slot *s, size_t i, bool ok, unsigned long long bytes)
{
	const struct run_frame *f = &s->fr[i];
	struct ticket_bill b = {.frame = f->frame, .ok = ok, .wall = f->wall, .user = f->cpu_user, .sys = f->cpu_sys,
				.rss_kb = f->rss_kb, .bytes = bytes};
	snprintf(b.owner, sizeof b.owner, "%s", s->owner);
	if (ticket_note_billing(s->job->fd, s->tk[f->ticket].name, &b) < 0)
		ticket_note_failed(s, f->ticket);
}

/* This host failed too many frames of J in a row: jobs/NAME/blocked/HOST,
 * a marker admins can see and remove, and J is not taken any more. */
static void job_block_here(struct job *j, const char *clean)
{
	char text[900];
	snprintf(text, sizeof text,
		 "%s failed %d frames of this job in a row and takes no more of them.\n"
		 "Last: %s\nRemove this file to let it try again.\n",
		 agent.host, j->fails_in_row, clean);
	if (job_block_host(j->fd, agent.host, text) < 0)
		warnj(j->name, -1, "unable to write jobs/%s/blocked/%s: %s", j->name, agent.host, strerror(errno));
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
		if (ticket_note_nospace(j->fd, k->name, s->owner, clean) < 0)
			ticket_note_failed(s, t);
		if (ticket_finish(j->fd, k->name, s->owner, TICKET_TODO) < 0 && errno != ENOENT)
			warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
		sayj(j->name, frame, "%s frame %ld failed on a full disk; it goes back: %s", j->name, frame, clean);
		disk_wait(avail);
		j->retry_at = 0;
		return;
	}
	if (ticket_note_attempt(j->fd, k->name, s->owner, k->attempt, clean) < 0)
		ticket_note_failed(s, t);
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
