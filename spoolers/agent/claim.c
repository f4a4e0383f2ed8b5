/* claim.c - taking work for an idle slot: which job (queue order, fair
 * share), its limit tokens, then tickets renamed from todo/ into active/.
 * Distrusts the tickets: one unreadable or not as named goes elsewhere. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* S's limit tokens go back (none was used: S took no ticket). */
static void tokens_return(struct slot *s)
{
	for (size_t k = 0; k < s->tokens.n; k++) {
		char *tab = strchr(s->tokens.v[k], '\t');
		*tab = 0;
		limit_give(&agent.spool, s->tokens.v[k], tab + 1);
	}
	strlist_free(&s->tokens);
}

/* Add ticket T (claimed by S) to S's run: FRAMES are those still to render. */
static void run_add(struct slot *s, const char *t, const long *frames, size_t n, const struct ticket_seen *seen)
{
	s->tk = xrealloc(s->tk, (s->ntk + 1) * sizeof *s->tk);
	struct run_ticket *k = &s->tk[s->ntk];
	memset(k, 0, sizeof *k);
	snprintf(k->name, sizeof k->name, "%s", t);
	k->attempt = seen->attempt;
	k->licences = seen->licences;
	s->fr = xrealloc(s->fr, (s->nfr + n) * sizeof *s->fr);
	for (size_t i = 0; i < n; i++) {
		memset(&s->fr[s->nfr], 0, sizeof *s->fr);
		s->fr[s->nfr].frame = frames[i];
		s->fr[s->nfr].ticket = s->ntk;
		s->nfr++;
	}
	s->ntk++;
}

/* Claim the ticket of FRAME for S's run: its name (SEEN: what its notes
 * say), or NULL when it is not in todo/, another agent was first, or it
 * is no plain ticket of that one frame to render here now (it goes back,
 * for a run of its own or after its licence wait; to done/ when an
 * earlier holder published it). */
static const char *claim_frame(struct slot *s, long frame, struct ticket_seen *seen)
{
	struct job *j = s->job;
	const char *t = todo_find(j, frame);
	if (!t || ticket_claim(j->fd, t, s->owner) < 0)
		return NULL;
	long *frames = NULL;
	size_t n = 0;
	bool ok = ticket_read(j, t, s->owner, &frames, &n, seen);
	bool plain = ok && n == 1 && frames[0] == frame && !(seen->failed_here && others_can(j)) &&
		     !licence_waits(seen);
	if (!plain)
		ticket_finish(j->fd, t, s->owner, ok && n == 0 ? TICKET_DONE : TICKET_TODO);
	free(frames);
	return plain ? t : NULL;
}

/* After S took its first ticket (of one frame, F): claim the tickets of
 * the frames that follow, while they are in todo/, up to the run's length. */
static void run_extend(struct slot *s, long f, long want)
{
	struct job *j = s->job;
	/* a few frames left over between this run and the next claimed one
	 * would cost a process of their own: take them along */
	long more = 0;
	while (want > 1 && more <= want / 4 && todo_has(j, f + want + more))
		more++;
	if (more <= want / 4)
		want += more;
	for (long k = 1; k < want; k++) {
		struct ticket_seen seen;
		long frame = f + k;
		const char *t = claim_frame(s, frame, &seen);
		if (!t)
			break;
		run_add(s, t, &frame, 1, &seen);
	}
}

/* A token of J's owner's quota (POOL: this host's pool's; MAX its count,
 * -1: none applies) taken for S. False when all are held. */
static bool quota_token(struct slot *s, struct job *j, const char *pool, long max)
{
	char limit[160], held[256];
	if (max < 0 || !quota_limit_name(j->owner, pool, limit, sizeof limit))
		return true;
	if (limit_take_upto(&agent.spool, limit, max, s->owner, held) < 0)
		return false;
	strlist_take(&s->tokens, xasprintf("%s\t%s", limit, held));
	return true;
}

/* The limit tokens J needs, and its owner's quota tokens, each taken for S
 * (into s->tokens). False when one is all taken: those taken go back, and
 * J is looked at again soon. */
static bool tokens_take(struct slot *s, struct job *j)
{
	/* tokens first: without them the ticket would only go back */
	bool ok = true;
	for (size_t i = 0; ok && i < j->limits.n; i++) {
		char held[256];
		if ((ok = limit_take(&agent.spool, j->limits.v[i], s->owner, held) == 0))
			strlist_take(&s->tokens, xasprintf("%s\t%s", j->limits.v[i], held));
	}
	const struct site_conf *c = &agent.spool.conf;
	ok = ok && quota_token(s, j, NULL, quota_slots(c, j->owner));
	for (size_t i = 0; ok && i < agent.self.pools.n; i++)
		ok = quota_token(s, j, agent.self.pools.v[i], quota_pool_slots(c, agent.self.pools.v[i]));
	if (!ok) {
		/* all taken: look again soon (tokens come back as frames end) */
		j->retry_at = mono_us() + 200000;
		tokens_return(s);
	}
	return ok;
}

/* S took ticket T of J, FRAMES (N) still to render: the run it begins.
 * Past the first sample it starts where T's block of todo frames does,
 * and takes the tickets that follow up to the run's length. */
static void run_begin(struct slot *s, struct job *j, const char *t, long *frames, size_t n, struct ticket_seen *seen)
{
	s->job = j;
	j->running++;
	long want = n == 1 ? run_length(j, 0) : 1;
	if (want > 1 && atol(t) >= 1 && todo_has(j, frames[0] - 1)) {
		/* past the first sample (the first frame): the run
		 * starts where this ticket's block of todo frames
		 * does, so that no short piece is left before it */
		long b = frames[0];
		while (frames[0] - b + 1 < want && todo_has(j, b - 1))
			b--;
		struct ticket_seen bseen;
		const char *bt = claim_frame(s, b, &bseen);
		if (bt) {
			/* this ticket goes back: the run takes it in order */
			ticket_finish(j->fd, t, s->owner, TICKET_TODO);
			t = bt, frames[0] = b, *seen = bseen;
		}
	}
	run_add(s, t, frames, n, seen);
	events_job_started(&agent.spool, j->fd, j->name, s->owner);
	if (n == 1)
		run_extend(s, frames[0], want);
	s->pos = 0;
	run_advance(s);
	dispatch_note(s, j);
}

/* What became of one ticket of the listing (ticket_take). */
enum take {
	TAKE_NEXT, /* not ours to render: try the next one */
	TAKE_STOP, /* the job left the queue: no more of its listing */
	TAKE_DONE, /* S works on it now */
};

/* Claim ticket T of J for S and, when it is one to render here, begin
 * S's run with it. */
static enum take ticket_take(struct slot *s, struct job *j, const char *t)
{
	if (ticket_claim(j->fd, t, s->owner) < 0)
		return TAKE_NEXT; /* another agent was first */
	if (j->pkg->builtin_null) {
		/* benchmarking: the claim path alone */
		dispatch_note(s, j);
		if (ticket_finish(j->fd, t, s->owner, TICKET_DONE) < 0 && errno != ENOENT)
			warn("unable to finish ticket %s: %s", t, strerror(errno));
		s->job = j;
		j->running++;
		slot_idle(s);
		return TAKE_DONE;
	}
	long *frames = NULL;
	size_t n = 0;
	struct ticket_seen seen;
	if (!ticket_read(j, t, s->owner, &frames, &n, &seen)) {
		warnj(j->name, -1, "ticket %s of %s is unreadable; it goes to failed/", t, j->name);
		ticket_finish(j->fd, t, s->owner, TICKET_FAILED);
		free(frames);
		return TAKE_NEXT;
	}
	if (n == 0) {
		/* an earlier holder published every frame of it */
		ticket_finish(j->fd, t, s->owner, TICKET_DONE);
		free(frames);
		return TAKE_NEXT;
	}
	/* still queued? (a cancel or hold may have come meanwhile;
	 * inotify tells us too, so looking every 50 ms is enough) */
	int64_t now = mono_us();
	if (now - j->queued_seen > 50000 &&
	    faccessat(state_fd(&agent.spool, STATE_QUEUED), j->entry, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		ticket_finish(j->fd, t, s->owner, TICKET_TODO);
		free(frames);
		j->retry_at = INT64_MAX;
		return TAKE_STOP;
	}
	j->queued_seen = now;
	if ((seen.failed_here && others_can(j)) || licence_waits(&seen)) {
		/* it failed here before: let another host try it; or it
		 * found no licence lately: not before its wait is over */
		ticket_finish(j->fd, t, s->owner, TICKET_TODO);
		free(frames);
		return TAKE_NEXT;
	}
	run_begin(s, j, t, frames, n, &seen);
	free(frames);
	return TAKE_DONE;
}

/* Take the first ticket we can of job J, and those that follow it for a
 * run. */
static bool slot_take(struct slot *s, struct job *j)
{
	if (!tokens_take(s, j))
		return false;
	for (int round = 0; round < 2; round++) {
		enum take r = TAKE_NEXT;
		while (j->next < j->todo.n && r == TAKE_NEXT) {
			r = ticket_take(s, j, j->todo.v[j->next++]);
			if (r == TAKE_DONE)
				return true;
		}
		if (round == 0) {
			/* the cached listing is used up: list todo/ again */
			todo_relist(j);
			if (j->todo.n == 0)
				break;
		}
	}
	/* nothing to take now: look again on the next event or rescan; and
	 * if nothing runs either, the job is over */
	j->retry_at = mono_us() + 1000000LL * agent.spool.conf.heartbeat;
	j->ready_at = mono_us(); /* work that turns up later counts from now */
	job_done_check(j);
	tokens_return(s);
	return false;
}

/* Give slot S a ticket: queue order; in fair-share mode, among the jobs of
 * the best priority the one with the fewest running frames first. */
static bool slot_fill(struct slot *s)
{
	int64_t now = mono_us();
	for (size_t q = 0; q < agent.nqueue;) {
		size_t end = q;
		while (end < agent.nqueue && agent.queue[end]->priority == agent.queue[q]->priority)
			end++;
		struct job *best = NULL;
		for (size_t k = q; k < end; k++) {
			struct job *j = agent.queue[k];
			if (j->retry_at > now || j->licence_until > now)
				continue;
			job_load(j);
			if (!j->usable)
				continue;
			if (!agent.spool.conf.fair_share) {
				if (slot_take(s, j))
					return true;
			} else if (!best || active_all(j) < active_all(best)) {
				best = j;
			}
		}
		if (best) {
			if (slot_take(s, best)) {
				best->active_at = 0;
				return true;
			}
			continue; /* best had nothing after all: this priority again without it */
		}
		q = end;
	}
	return false;
}

/* Give every slot that is on and idle a run, while there is work, the
 * host is not draining or stopping, the disk has room and, on a desktop
 * ([agent] nimby), its user is away. */
void fill_slots(void)
{
	/* hosts/HOST/drain: one look before taking anything new */
	agent.draining = host_marked(agent.hostfd, HOST_DRAIN);
	if (agent.stopping || agent.draining || !disk_ok() || !nimby_allows())
		return;
	for (int i = 0; i < agent.nslots_on; i++) {
		struct slot *s = &agent.slots[i];
		/* a frame of the null package is over at once: take the next */
		while (!s->job)
			if (!slot_fill(s))
				return; /* nothing to do for any slot */
	}
}
