/* site.h - linked sites, seen from one site: packing a job for a peer and
 * its results back (sitepack.c), and the load summaries sites exchange and
 * the choice of where a job goes (siteload.c). */
#ifndef HOTFARM_SITE_H
#define HOTFARM_SITE_H

#include "host.h"
#include "jobdesc.h"
#include "layout.h"

/* Message files between sites, named after the sending side's job id. */
#define SITE_JOB ".job.tar"           /* a job to render */
#define SITE_RESULT ".result.tar"     /* its end: frames, logs, billing; or a refusal */
#define SITE_PROGRESS ".progress.tar" /* status and samples while it renders */
#define SITE_CANCEL ".cancel"         /* stop it */
#define SITE_REFUSED ".refused"       /* not taken, and why */
#define SITE_SUMMARY "site.summary"   /* the sender's capabilities and load */
#define SITE_RERENDER ".rerender"     /* render these frames again, from the copy kept */
#define SITE_MISSING ".missing"       /* that copy is gone: send the job again */
#define SITE_TRAFFIC "traffic"         /* sites/PEER/traffic: bytes on the wire with PEER, both ways */
#define SITE_TRAFFIC_LOCK "traffic.lock" 

/* ---- sitepack.c (libarchive) ---- */
/* Pack outsourced job ID (job.ini normalised, with its route, and its
 * files) into one uncompressed tar in sites/PEER/out/ (PEER from its
 * outsourced.ini), then mark it sent. Returns 0, or -1 with ERR. */
int site_pack_job(const struct spool *sp, const char *id, char *err, size_t errsize);
/* The answer for a job PEER sent us (its id there: ORIGIN), from our copy
 * JOBFD: STATE and REASON, its status and samples, and unless PROGRESS its
 * frames, logs, tickets and billing too. */
int site_reply(const struct spool *sp, const char *peer, const char *origin, int jobfd, const char *state,
	       const char *reason, bool progress);
/* What an answer may hold, NULL-terminated, as unpack_rules.allowed wants
 * it: result.ini and what site_reply packs ("status.ini", "output/", ...). */
const char *const *site_answer_holds(void);

/* ---- billing.c ---- */
/* The bytes on the wire sent to and received from PEER since counting
 * began, as hf-sync counted them after each session (both its pushes and
 * the sessions PEER pushed here). 0 and -1 when nothing is counted yet. */
int site_traffic_read(const struct spool *sp, const char *peer, unsigned long long *sent, unsigned long long *received);
/* Add one session's bytes to PEER's counters (atomically, under a lock). */
int site_traffic_add(const struct spool *sp, const char *peer, unsigned long long sent, unsigned long long received);

/* ---- siteload.c ---- */
/* Send job ID to linked site PEER: outsourced.ini says where (and keeps who
 * refused it before), the entry moves to outsourced/; hf-send packs it. */
int site_outsource(const struct spool *sp, const char *id, const char *peer, char *err, size_t errsize);
/* Tell PEER we do not take the job it knows as ORIGIN, and why. */
int site_refuse(const struct spool *sp, const char *peer, const char *origin, const char *reason);
/* Tell the site a job was outsourced to that it is cancelled (once). */
int site_forward_cancel(const struct spool *sp, const char *id);
/* A job's [route]: where it came from and the sites it passed. */
struct job_route {
	char from[SITE_NAME_MAX + 1]; /* "" for our own jobs */
	char origin[JOBID_MAX_LEN + 1]; /* its id at FROM */
	struct strlist hops;
};
int job_route_read(int jobfd, struct job_route *r);
void job_route_free(struct job_route *r);
/* The sites job JOBFD must not go to: those on its route, this one, and
 * those that refused it (outsourced.ini), added to AVOID. */
void job_avoid(const struct spool *sp, int jobfd, struct strlist *avoid);
/* What a linked site last published: its live hosts (and those it can reach
 * through its own links) and its load. */
struct site_summary {
	char site[SITE_NAME_MAX + 1];
	int64_t received_us; /* on our clock */
	long hosts, slots, busy, queued_jobs, frames_waiting;
	struct host_record *host; /* host[i].name is SITE/HOST */
	int *hops;                /* 1: the peer's own host */
	size_t nhost;
};
int site_summary_read(const struct spool *sp, const char *peer, struct site_summary *s);
void site_summary_free(struct site_summary *s);
/* Write this site's summary into every peer's out/ (hosts that PEER itself
 * published are not sent back to it). */
void site_summaries_write(const struct spool *sp);
/* Whether this site can render JD: NOW (a live host can; WAIT is roughly
 * how long it would wait here, in seconds), LATER (a host that is not
 * running now offered what it needs, or no host has registered yet: it
 * waits here, WHY says for what) or CANNOT (no host of this site ever
 * offered its package, version or minimum: WHY says what is missing). A
 * site briefly empty refuses nothing. */
enum site_can { SITE_CANNOT, SITE_LATER, SITE_NOW };
enum site_can site_local_can(const struct spool *sp, const struct job_desc *jd, char *why, size_t whysize,
			     long *wait);
/* Where a job that may not stay here goes: WANT is "auto" or a site's name;
 * sites in AVOID are skipped (its route, and sites that refused it). Returns
 * 0 with the linked site in PEER, or -1 with WHY. */
int site_choose(const struct spool *sp, const struct job_desc *jd, const char *want, const struct strlist *avoid,
		char peer[SITE_NAME_MAX + 1], char *why, size_t whysize);
/* Cancel job ID (REASON goes into its status) and tell the site it was sent
 * to. *WAS gets the state it was in: STATE_NONE when there is no such job
 * (-1, errno ENOENT), a final one when it had ended (0: nothing done).
 * Returns 0; 1 when it is cancelled but that site is not told yet (errno
 * says why; hf-send tries again); -1 with errno when it could not be moved
 * (ENOENT: it moved meanwhile). */
int job_cancel(const struct spool *sp, const char *id, const char *reason, enum job_state *was);
/* job_cancel for a person (hotfarm cancel, a file in cancel/): says what
 * happened on stdout, warns when the site it was sent to is not told yet,
 * and exits when it could not be moved. -1 when there is no such job. */
int job_cancel_say(const struct spool *sp, const char *id, const char *reason);

/* ---- siterender.c: re-rendering where the data already is ---- */
/* The linked site job JOBFD was sent to (outsourced.ini), into PEER. */
bool site_rendered_at(const struct spool *sp, int jobfd, char peer[SITE_NAME_MAX + 1]);
/* The frames the job's rerender.want asks that site for again (a checked
 * frame list), into FRAMES; false when there is none. */
bool site_rerender_wanted(int jobfd, char *frames, size_t size);
/* Ask that site, once (rerender.sent), for the frames rerender.want
 * names: a small request into sites/PEER/out/ID.rerender. 0 when asked,
 * 1 when there was nothing to ask, -1 with errno. */
int site_ask_rerender(const struct spool *sp, const char *id);
/* Tell PEER that the job it knows as ORIGIN is no longer kept here. */
int site_answer_missing(const struct spool *sp, const char *peer, const char *origin);
/* The re-render came back: its markers go. */
void site_rerender_done(int jobfd);

#endif
