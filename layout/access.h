/* access.h - who may do what on a shared spool: a job's verified owner (a
 * Unix user, decided at intake), the farm's user and root, the admins group. */
#ifndef HOTFARM_ACCESS_H
#define HOTFARM_ACCESS_H

#include "layout.h"

/* A job's owner as intake decided it (job.ini's [owner] section). */
struct job_owner {
	char user[128];  /* the user name, "#UID" without one, or "site:PEER" */
	long uid;        /* -1: none (a peer's job, or a name without a user) */
	char label[128]; /* the owner job.ini claimed, when it differs */
	char by[16];     /* file | submitter | site: how USER was decided */
};

/* The name of UID ("#UID" when it has none). */
void user_name(uid_t uid, char *out, size_t outsize);
/* The farm's user (the owner of the spool's folder) or root. */
bool uid_is_farm(const struct spool *sp, uid_t uid);
/* The farm's user, root, or a member of [site] admins. */
bool uid_is_admin(const struct spool *sp, uid_t uid);

/* Decide a dropped job's owner from the owners of its N dropped files and
 * the owner its job.ini claims (CLAIMED, may be ""); PEER: a job a linked
 * site sent. 0, or -1 with one sentence in WHY (files of two users). */
int owner_decide(const struct spool *sp, const uid_t *uids, int n, const char *claimed, const char *peer,
		 struct job_owner *out, char *why, size_t whysize);
/* The [owner] section job.ini keeps it in, and reading it back (a job
 * without one: by submitter, the [job] owner). 0, or -1 with errno. */
void owner_format(const struct job_owner *o, struct buf *b);
int job_owner_read(int jobfd, struct job_owner *o);
/* "alice", or "alice (as Bob)" when job.ini claimed another owner. */
void owner_shown(const struct job_owner *o, char *out, size_t outsize);

/* Whether UID may steer job ID: its owner, or an admin. WHY says why not. */
bool may_steer(const struct spool *sp, uid_t uid, const char *id, char *why, size_t whysize);

#endif
