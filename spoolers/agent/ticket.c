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
 * an earlier holder published are left out: FRAMES, N), and in SEEN how
 * often it was tried, whether it failed on this host and how often it
 * found no licence. False when it cannot be read or lists no frame. */
bool ticket_read(struct job *j, const char *name, const char *owner, long **frames, size_t *n,
		 struct ticket_seen *seen)
{
	char held[256];
	ticket_held_name(held, sizeof held, name, owner);
	struct ticket t;
	memset(seen, 0, sizeof *seen);
	if (ticket_load(j->fd, TICKET_ACTIVE, held, &t) < 0)
		return false;
	*frames = xcalloc(t.nframes ? t.nframes : 1, sizeof **frames);
	*n = 0;
	for (size_t i = 0; i < t.nframes; i++)
		if (!t.published[i])
			(*frames)[(*n)++] = t.frames[i];
	seen->attempt = 1 + (int)t.nattempts;
	for (size_t i = 0; i < t.nattempts; i++) {
		/* OWNER is HOST.SLOT */
		char *dot = strrchr(t.attempts[i].owner, '.');
		if (dot)
			*dot = 0;
		if (!strcmp(t.attempts[i].owner, agent.host))
			seen->failed_here = true;
	}
	seen->licences = t.nlicences;
	seen->licence_until = t.licence_until;
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
	/* the pools of the host that ran it, for billing by pool */
	for (size_t k = 0; k < agent.self.pools.n; k++) {
		size_t n = strlen(b.pool);
		snprintf(b.pool + n, sizeof b.pool - n, "%s%s", n ? "," : "", agent.self.pools.v[k]);
	}
	enum event_kind kind = ok ? EVENT_FRAME_DONE : kill_bills(s->killing) ? EVENT_FRAME_STOPPED : EVENT_FRAME_FAILED;
	events_record(&agent.spool, &(struct event){.kind = kind, .job = s->job->name,
						    .frame = f->frame, .host = s->owner, .attempt = s->tk[f->ticket].attempt,
						    .seconds = f->wall});
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

/* Ticket T found no licence ([errors] licence): back to todo/, not
 * counted, with a note that no agent takes it before its wait is over;
 * this host takes no frame of the job before then either. */
static void settle_licence(struct slot *s, size_t t, long frame, const char *label, const char *clean)
{
	struct job *j = s->job;
	struct run_ticket *k = &s->tk[t];
	long wait = package_licence_wait(j->pkg, k->licences);
	/* rounded up: it waits at least WAIT whole seconds */
	long long until = (long long)((now_us() + 999999) / 1000000) + wait;
	char noted[900];
	snprintf(noted, sizeof noted, "(%s) %s", label, clean);
	if (ticket_note_licence(j->fd, k->name, s->owner, until, noted) < 0)
		ticket_note_failed(s, t);
	if (ticket_finish(j->fd, k->name, s->owner, TICKET_TODO) < 0 && errno != ENOENT)
		warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
	sayj(j->name, frame, "%s frame %ld failed (%s; not counted, tried again in %ld s): %s", j->name, frame, label,
	     wait, clean);
	j->licence_until = mono_us() + wait * 1000000LL;
}

/* Ticket T is over on this try: FAILED (counted, REASON; RULE: the
 * [errors] rule its renderer's output matched), or not (back to todo/ as
 * it was). Its frames not published are settled with it. */
static void settle(struct slot *s, size_t t, bool failed, const char *reason, enum package_rule rule)
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
	/* the rule, as the log, the ticket and the status say it */
	char label[300] = "", clean[600], noted[900];
	if (rule != RULE_NONE)
		snprintf(label, sizeof label, "rule %s: \"%s\"", package_rule_name(rule), s->rule_pattern);
	text_escape(reason, clean, sizeof clean);
	if (rule == RULE_LICENCE) {
		settle_licence(s, t, frame, label, clean);
		return;
	}
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
	snprintf(noted, sizeof noted, "%s%s%s%s", *label ? "(" : "", label, *label ? ") " : "", clean);
	if (ticket_note_attempt(j->fd, k->name, s->owner, k->attempt, noted) < 0)
		ticket_note_failed(s, t);
	/* a scene error (rule fail) fails once, whatever retries are left */
	enum ticket_state to = k->attempt > j->jd->retries || rule == RULE_FAIL ? TICKET_FAILED : TICKET_TODO;
	if (ticket_finish(j->fd, k->name, s->owner, to) < 0 && errno != ENOENT)
		warnj(j->name, -1, "unable to move ticket %s of %s: %s", k->name, j->name, strerror(errno));
	sayj(j->name, frame, "%s frame %ld failed (%s%sattempt %d%s): %s", j->name, frame, label, *label ? "; " : "",
	     k->attempt,
	     rule == RULE_FAIL	    ? ", not retried"
	     : to == TICKET_FAILED ? ", no retries left"
	     : rule == RULE_RETRY  ? ", will be retried, on another host if one can"
				   : ", will be retried",
	     clean);
	/* the scene's fault, not the host's: it is not blocked for it */
	if (rule != RULE_FAIL && ++j->fails_in_row >= agent.spool.conf.fail_limit && j->fd >= 0 && j->usable)
		job_block_here(j, clean);
	if (to == TICKET_TODO)
		j->retry_at = 0;
}

void run_settle(struct slot *s, size_t t, bool failed, const char *reason)
{
	settle(s, t, failed, reason, RULE_NONE);
}

/* Ticket T is charged with the renderer's failure (s->why, counted or
 * not), and with the [errors] rule its output matched. */
void run_settle_why(struct slot *s, size_t t)
{
	settle(s, t, s->counted, s->why, s->rule);
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
