/* steer.c - the steering actions themselves (cancel, hold, release,
 * priority, retry, kill-frame) as renames through the layout: one place
 * for the CLI's direct path and hf-request's. Answers in words, never exits. */
#define _GNU_SOURCE
#include "steer.h"
#include "jobdesc.h"
#include "site.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const action_names[STEER_COUNT] = {"cancel",     "hold",    "release", "priority", "retry",
						      "kill-frame", "suspend", "resume",  "rerender"};

const char *steer_action_name(enum steer_action a) { return a >= 0 && a < STEER_COUNT ? action_names[a] : "?"; }

bool steer_action_parse(const char *word, enum steer_action *a)
{
	for (int i = 0; i < STEER_COUNT; i++)
		if (!strcmp(word, action_names[i])) {
			*a = (enum steer_action)i;
			return true;
		}
	return false;
}

bool steer_value_ok(enum steer_action a, long value)
{
	if (a == STEER_PRIORITY)
		return value >= 0 && value <= 999;
	if (a == STEER_KILL_FRAME)
		return value >= 0 && value <= 9999999;
	return true;
}

#define SAY(code, ...) (snprintf(msg, msgsize, __VA_ARGS__), (code))

static int move(const struct spool *sp, const char *id, enum job_state to, const char *reason, char *msg,
		size_t msgsize)
{
	if (job_change_state(sp, id, to, reason) == 0)
		return EXIT_OK;
	return SAY(errno == ENOENT ? EXIT_BADINPUT : EXIT_TEMPFAIL, "unable to move %s to %s/: %s", id,
		   state_dir_name(to), errno == ENOENT ? "it moved meanwhile; try again" : strerror(errno));
}

static int do_cancel(const struct spool *sp, const char *id, const char *who, char *msg, size_t msgsize)
{
	char why[200];
	snprintf(why, sizeof why, "cancelled by %s", who);
	enum job_state was;
	int rc = job_cancel(sp, id, why, &was);
	if (was == STATE_NONE)
		return SAY(EXIT_BADINPUT, "no job named %s", id);
	if (state_is_final(was))
		return SAY(EXIT_OK, "%s is already %s", id, state_word(was));
	if (rc < 0)
		return SAY(errno == ENOENT ? EXIT_BADINPUT : EXIT_TEMPFAIL, "unable to move %s to %s/: %s", id,
			   state_dir_name(STATE_CANCELLED), strerror(errno));
	if (rc > 0)
		return SAY(EXIT_OK, "%s cancelled (the site it was sent to is told when it can be reached)", id);
	return SAY(EXIT_OK, "%s cancelled", id);
}

static int do_hold(const struct spool *sp, const char *id, enum job_state s, int jfd, const char *who, char *msg,
		   size_t msgsize)
{
	if (s == STATE_HELD)
		return SAY(EXIT_OK, "%s is already held", id);
	if (s != STATE_QUEUED && s != STATE_NEW)
		return SAY(EXIT_BADINPUT, "%s is %s; only new or queued jobs can be held", id, state_word(s));
	char why[300];
	snprintf(why, sizeof why, "held by %s; run: hotfarm release %s", who, id);
	/* held, not suspended: what runs finishes (a suspend that stopped
	 * before its move left its marker) */
	if (job_file_remove(jfd, JOB_FILE_SUSPENDED) < 0)
		return SAY(EXIT_TEMPFAIL, "unable to hold %s: %s", id, strerror(errno));
	int rc = move(sp, id, STATE_HELD, why, msg, msgsize);
	return rc ? rc : SAY(EXIT_OK, "%s held", id);
}

/* Suspend: the marker first (agents stop the job's frames once it is not
 * queued and has it), then the entry into held/. */
static int do_suspend(const struct spool *sp, const char *id, enum job_state s, int jfd, const char *who, char *msg,
		      size_t msgsize)
{
	if (s != STATE_QUEUED && s != STATE_NEW && s != STATE_HELD)
		return SAY(EXIT_BADINPUT, "%s is %s; only new, queued or held jobs can be suspended", id,
			   s == STATE_OUTSOURCED ? "rendering at a linked site" : state_word(s));
	char iso[32], text[300], why[300];
	time_iso(now_us(), iso);
	snprintf(text, sizeof text, "suspended by %s at %s\n", who, iso);
	if (job_file_write(jfd, JOB_FILE_SUSPENDED, text, strlen(text)) < 0)
		return SAY(EXIT_TEMPFAIL, "unable to suspend %s: %s", id, strerror(errno));
	snprintf(why, sizeof why,
		 "suspended by %s: its running frames were stopped and go back uncounted; run: hotfarm resume %s", who,
		 id);
	int rc = move(sp, id, STATE_HELD, why, msg, msgsize);
	return rc ? rc : SAY(EXIT_OK, "%s suspended: its running frames stop now and go back uncounted", id);
}

/* Release and resume: the marker goes before the entry leaves held/. */
static int do_release(const struct spool *sp, const char *id, enum job_state s, int jfd, char *msg, size_t msgsize)
{
	if (s != STATE_HELD)
		return SAY(EXIT_BADINPUT, "%s is %s, not held or suspended", id, state_word(s));
	bool was = job_suspended(jfd);
	if (job_file_remove(jfd, JOB_FILE_SUSPENDED) < 0)
		return SAY(EXIT_TEMPFAIL, "unable to resume %s: %s", id, strerror(errno));
	int rc = move(sp, id, STATE_QUEUED, "queued; waiting for a free render slot", msg, msgsize);
	return rc ? rc : SAY(EXIT_OK, "%s %s", id, was ? "resumed" : "released");
}

static int do_priority(const struct spool *sp, const char *id, enum job_state s, long p, char *msg, size_t msgsize)
{
	if (state_is_final(s))
		return SAY(EXIT_BADINPUT, "%s is %s; its priority no longer matters", id, state_word(s));
	if (job_change_priority(sp, id, (int)p) < 0)
		return SAY(EXIT_TEMPFAIL, "unable to change the priority of %s: %s", id, strerror(errno));
	return SAY(EXIT_OK, "%s priority %ld", id, p);
}

static int do_retry(const struct spool *sp, const char *id, enum job_state st, int jfd, char *msg, size_t msgsize)
{
	struct strlist failed = {0};
	ticket_list(jfd, TICKET_FAILED, &failed);
	if (failed.n == 0) {
		strlist_free(&failed);
		return SAY(EXIT_OK, "%s has no failed frames", id);
	}
	if (st == STATE_CANCELLED) {
		strlist_free(&failed);
		return SAY(EXIT_BADINPUT, "%s is %s; it cannot be retried", id, state_word(st));
	}
	int n = 0;
	for (size_t i = 0; i < failed.n; i++)
		if (ticket_retry(jfd, failed.v[i]) == 0)
			n++;
	strlist_free(&failed);
	/* a retry is a clean slate: hosts that were blocked may try again */
	struct strlist markers = {0};
	job_blocked_hosts(jfd, &markers);
	for (size_t i = 0; i < markers.n; i++)
		job_unblock_host(jfd, markers.v[i]);
	strlist_free(&markers);
	if (st == STATE_FAILED || st == STATE_DONE) {
		char why[200];
		snprintf(why, sizeof why, "retrying %d failed ticket%s (hotfarm retry)", n, n == 1 ? "" : "s");
		int rc = move(sp, id, STATE_QUEUED, why, msg, msgsize);
		if (rc)
			return rc;
	}
	return SAY(EXIT_OK, "%s: %d failed ticket%s back in todo/", id, n, n == 1 ? "" : "s");
}

/* Whether ticket T (RANK-FIRST[-LAST]) covers one of FRAMES (sorted). */
static bool ticket_covers(const char *t, const long *frames, size_t n)
{
	long first, last;
	if (!ticket_name_parse(t, NULL, &first, &last, NULL))
		return false;
	for (size_t i = 0; i < n; i++)
		if (frames[i] >= first && frames[i] <= last)
			return true;
	return false;
}

/* The done tickets covering SPEC back to todo/ (each one rename, its old
 * images kept until new ones pass the check); how many in *MOVED. */
static int rerender_tickets(const char *id, int jfd, const char *spec, const char *who, int *moved, char *msg,
			    size_t msgsize)
{
	long *frames = NULL;
	size_t n = 0;
	char err[300];
	if (!spec || !*spec || frames_parse(spec, 100000, &frames, &n, err, sizeof err) < 0) {
		free(frames);
		return SAY(EXIT_BADINPUT, "which frames? %s", spec && *spec ? err : "give them like 12,40-48");
	}
	struct strlist done = {0};
	ticket_list(jfd, TICKET_DONE, &done);
	int failed = 0;
	*moved = 0;
	for (size_t i = 0; i < done.n; i++)
		if (ticket_covers(done.v[i], frames, n))
			ticket_rerender(jfd, done.v[i], who) == 0 ? (*moved)++ : failed++;
	strlist_free(&done);
	free(frames);
	if (failed)
		return SAY(EXIT_TEMPFAIL, "%s: %d ticket%s could not be put back (%s); run it again", id, failed,
			   failed == 1 ? "" : "s", strerror(errno));
	if (!*moved && tickets_none(jfd, TICKET_TODO) == 1)
		return SAY(EXIT_BADINPUT, "%s has no done frame among %s", id, spec);
	return EXIT_OK;
}

/* A done or failed job that a linked site rendered: that site renders the
 * frames again from the copy it kept (hf-send asks it: a small request);
 * the job waits in outsourced/ for them. */
static int rerender_remote(const struct spool *sp, const char *id, int jfd, const char *peer, const char *spec,
			   const char *who, char *msg, size_t msgsize)
{
	int moved = 0, rc = rerender_tickets(id, jfd, spec, who, &moved, msg, msgsize);
	if (rc)
		return rc;
	if (job_file_remove(jfd, JOB_FILE_RERENDER_SENT) < 0 ||
	    job_file_write(jfd, JOB_FILE_RERENDER, spec, strlen(spec)) < 0)
		return SAY(EXIT_TEMPFAIL, "unable to note the frames for site %s: %s", peer, strerror(errno));
	char why[300];
	snprintf(why, sizeof why, "rendering frames %s again at site %s, from the copy it kept (hotfarm rerender by %s)",
		 spec, peer, who);
	if ((rc = move(sp, id, STATE_OUTSOURCED, why, msg, msgsize)))
		return rc;
	return SAY(EXIT_OK, "%s: site %s renders %d frame ticket%s again; the old images stay until the new ones come", id,
		   peer, moved, moved == 1 ? "" : "s");
}

/* Rerender: the done tickets of FRAMES back to todo/, then a done or
 * failed job's entry back to queue/ (or to outsourced/, when a linked site
 * rendered it). Frames rendering or still to render are left as they are.
 * A job a linked site sent here is re-rendered only when that site asks
 * (PEER_ASKS); when this site sent it on, the next site is asked in turn. */
static int do_rerender(const struct spool *sp, const char *id, enum job_state s, int jfd, const char *spec,
		       const char *who, bool peer_asks, char *msg, size_t msgsize)
{
	if (strchr(id, '@') && !peer_asks)
		return SAY(EXIT_BADINPUT, "%s came from a linked site; its frames are re-rendered from there", id);
	if (s != STATE_QUEUED && s != STATE_DONE && s != STATE_FAILED && s != STATE_HELD)
		return SAY(EXIT_BADINPUT, "%s is %s; only a done, failed, queued or held job's frames can be rendered again",
			   id, s == STATE_OUTSOURCED ? "rendering at a linked site" : state_word(s));
	char peer[SITE_NAME_MAX + 1];
	if ((s == STATE_DONE || s == STATE_FAILED) && site_rendered_at(sp, jfd, peer))
		return rerender_remote(sp, id, jfd, peer, spec, who, msg, msgsize);
	int moved = 0, rc = rerender_tickets(id, jfd, spec, who, &moved, msg, msgsize);
	if (rc)
		return rc;
	if (s == STATE_DONE || s == STATE_FAILED) {
		char why[300];
		snprintf(why, sizeof why, "rendering frames %s again (hotfarm rerender by %s)", spec, who);
		if ((rc = move(sp, id, STATE_QUEUED, why, msg, msgsize)))
			return rc;
	}
	return SAY(EXIT_OK, "%s: %d frame ticket%s back to render; the old images stay until the new ones pass", id,
		   moved, moved == 1 ? "" : "s");
}

int steer_rerender_for_peer(const struct spool *sp, const char *id, const char *frames, const char *peer, char *msg,
			    size_t msgsize)
{
	char entry[ENTRY_MAX_LEN], who[SITE_NAME_MAX + 8];
	enum job_state s = job_find(sp, id, entry);
	int jfd = s == STATE_NONE ? -1 : job_dir_open(sp, id);
	if (jfd < 0)
		return SAY(EXIT_BADINPUT, "no job named %s", id);
	snprintf(who, sizeof who, "site:%s", peer);
	int rc = do_rerender(sp, id, s, jfd, frames, who, true, msg, msgsize);
	close(jfd);
	return rc;
}

/* Ask the slot that renders frame F of job ID (its active ticket TICKET,
 * RANK-FIRST[-LAST]@HOST.SLOT) to stop it. 1 when asked, 0 when the ticket
 * is not F's, -1 with errno. */
static int kill_ask(const struct spool *sp, const char *id, long f, const char *ticket, char *where, size_t wsize)
{
	long first, last, slot;
	char owner[128];
	if (!ticket_name_parse(ticket, NULL, &first, &last, owner) || !*owner || f < first || f > last)
		return 0;
	char *dot = strrchr(owner, '.');
	if (!dot || !name_is_valid(owner) || !parse_long(dot + 1, 0, INT_MAX, &slot))
		return 0;
	*dot = 0;
	char text[200];
	snprintf(text, sizeof text, "job = %s\nframe = %ld\n", id, f);
	if (host_kill_request(sp, owner, (int)slot, text) < 0)
		return -1;
	snprintf(where, wsize, "%s (slot %s)", owner, dot + 1);
	return 1;
}

static int do_kill_frame(const struct spool *sp, const char *id, int jfd, long f, char *msg, size_t msgsize)
{
	struct strlist active = {0};
	ticket_list(jfd, TICKET_ACTIVE, &active);
	char where[300] = "";
	int asked = 0, rc = 0;
	for (size_t i = 0; i < active.n && rc >= 0; i++)
		if ((rc = kill_ask(sp, id, f, active.v[i], where, sizeof where)) > 0)
			asked++;
	strlist_free(&active);
	if (rc < 0)
		return SAY(EXIT_TEMPFAIL, "unable to ask the host rendering frame %ld of %s to stop it: %s", f, id,
			   strerror(errno));
	if (!asked)
		return SAY(EXIT_BADINPUT, "frame %ld of %s is not rendering now", f, id);
	return SAY(EXIT_OK, "asked %s to stop frame %ld of %s", where, f, id);
}

int steer_do(const struct spool *sp, enum steer_action a, const char *id, long value, const char *frames,
	     const char *who, char *msg, size_t msgsize)
{
	if (!job_id_valid(id))
		return SAY(EXIT_BADINPUT, "that is not a job name");
	if (!steer_value_ok(a, value))
		return SAY(EXIT_BADINPUT, a == STEER_PRIORITY ? "a priority is a whole number from 0 (runs first) to 999"
							  : "that is not a frame number");
	if (a == STEER_CANCEL)
		return do_cancel(sp, id, who, msg, msgsize);
	char entry[ENTRY_MAX_LEN];
	enum job_state s = job_find(sp, id, entry);
	int jfd = s == STATE_NONE ? -1 : job_dir_open(sp, id);
	if (jfd < 0)
		return SAY(EXIT_BADINPUT, "no job named %s", id);
	int rc = EXIT_BADINPUT;
	switch (a) {
	case STEER_HOLD: rc = do_hold(sp, id, s, jfd, who, msg, msgsize); break;
	case STEER_SUSPEND: rc = do_suspend(sp, id, s, jfd, who, msg, msgsize); break;
	case STEER_RELEASE:
	case STEER_RESUME: rc = do_release(sp, id, s, jfd, msg, msgsize); break;
	case STEER_PRIORITY: rc = do_priority(sp, id, s, value, msg, msgsize); break;
	case STEER_RETRY: rc = do_retry(sp, id, s, jfd, msg, msgsize); break;
	case STEER_KILL_FRAME: rc = do_kill_frame(sp, id, jfd, value, msg, msgsize); break;
	case STEER_RERENDER: rc = do_rerender(sp, id, s, jfd, frames, who, false, msg, msgsize); break;
	default: break;
	}
	close(jfd);
	return rc;
}
