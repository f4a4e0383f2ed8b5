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
	if (j->next < j->todo.n && j->todo.v[j->next] == t)
		j->next++; /* the walk need not try it again */
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
	/* the first render of this agent: its slots sized by what the
	 * renderer's start-up probe used of a CPU, before its run is */
	struct overhead *o = overhead_of(j->pkg->name);
	if (o)
		slots_seed(o->util);
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
	TAKE_LOST, /* another agent was first */
	TAKE_STOP, /* the job left the queue: no more of its listing */
	TAKE_DONE, /* S works on it now */
};

/* Claim ticket T of J for S and, when it is one to render here, begin
 * S's run with it. */
static enum take ticket_take(struct slot *s, struct job *j, const char *t)
{
	if (ticket_claim(j->fd, t, s->owner) < 0)
		return TAKE_LOST;
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

/* A random number below N (N > 0), for spreading the walk. */
static size_t spread(size_t n)
{
	static uint64_t x;
	if (!x)
		x = ((uint64_t)getpid() << 32) ^ (uint64_t)mono_us() ^ 0x9e3779b97f4a7c15ULL;
	x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return (size_t)(x % n);
}

/* The walk over J's cached todo listing (j->todo, from j->next on).
 * Every agent lists todo/ in the same samples-first order. Stepping
 * through it one by one, N agents would each try every ticket at the
 * front, N - 1 of them in vain, and one that fell behind would try every
 * ticket the others took since it listed. So:
 *   - after a lost claim the walk first finds the front, the first
 *     ticket of its listing still in todo/, by looks (no claim):
 *     doubling steps from where it is, then halving (walk_front);
 *   - it claims one of the W tickets from there at random, W adapting to
 *     how many agents compete: twice as wide after a lost claim, an
 *     eighth narrower after a won one (walk_pick, walk_after). The ones
 *     not picked stay in the listing, so none is passed over: the order
 *     holds within W, and the samples, first in the listing, go first.
 * (bench/scale.sh: claims per second and fairness with up to 1,000
 * agents; t-claims: every ticket once, the order.) */
#define WALK_WIDEST 4096

static bool listed_free(const struct job *j, size_t i)
{
	return ticket_exists(j->fd, TICKET_TODO, j->todo.v[i]);
}

static void walk_front(struct job *j)
{
	size_t n = j->todo.n, lo = j->next;
	if (lo >= n || listed_free(j, lo))
		return;
	/* LO was taken: look further, twice as far each time, until one
	 * is free (HI), then halve the distance to the first free one */
	size_t step = 1, hi = lo + 1;
	while (hi < n && !listed_free(j, hi)) {
		lo = hi;
		step *= 2;
		hi = lo + step;
	}
	if (hi > n)
		hi = n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (listed_free(j, mid))
			hi = mid;
		else
			lo = mid;
	}
	j->next = hi;
}

/* Listing entries I and K change places (and so do their places in the
 * by-frame index of a job rendered in runs). */
static void listing_swap(struct job *j, size_t i, size_t k)
{
	char *t = j->todo.v[i];
	j->todo.v[i] = j->todo.v[k];
	j->todo.v[k] = t;
	if (!j->byframe)
		return;
	struct byframe *bi = byframe_of(j, ticket_first_frame(j->todo.v[i]));
	struct byframe *bk = byframe_of(j, ticket_first_frame(j->todo.v[k]));
	if (bi && bk)
		bi->index = i, bk->index = k;
}

/* The next ticket of J's listing to try, or NULL when it is used up. */
static const char *walk_pick(struct job *j)
{
	if (j->lost) /* the listing is behind: others took what is next in it */
		walk_front(j);
	if (j->next >= j->todo.n)
		return NULL;
	size_t w = j->width > 1 ? j->width : 1, left = j->todo.n - j->next;
	if (w > left)
		w = left;
	if (w > 1)
		listing_swap(j, j->next, j->next + spread(w));
	return j->todo.v[j->next++];
}

static void walk_after(struct job *j, enum take r)
{
	j->lost = r == TAKE_LOST;
	if (r == TAKE_LOST)
		j->width = j->width ? (2 * j->width > WALK_WIDEST ? WALK_WIDEST : 2 * j->width) : 2;
	else if (r == TAKE_DONE)
		j->width -= j->width / 8;
}

/* Take the first ticket we can of job J, and those that follow it for a
 * run. */
static bool slot_take(struct slot *s, struct job *j)
{
	if (!tokens_take(s, j))
		return false;
	for (int round = 0; round < 2; round++) {
		enum take r = TAKE_NEXT;
		const char *t;
		while ((r == TAKE_NEXT || r == TAKE_LOST) && (t = walk_pick(j))) {
			r = ticket_take(s, j, t);
			walk_after(j, r);
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
