/* access.c - who may do what: the owner intake gives a job (the uid of the
 * dropped files, never a value the job claims), the farm's user and root,
 * the [site] admins group, and the rule a steering request is judged by. */
#define _GNU_SOURCE
#include "access.h"
#include "ini.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void user_name(uid_t uid, char *out, size_t outsize)
{
	struct passwd *pw = getpwuid(uid);
	if (pw && pw->pw_name && *pw->pw_name && strlen(pw->pw_name) < outsize)
		snprintf(out, outsize, "%s", pw->pw_name);
	else
		snprintf(out, outsize, "#%lu", (unsigned long)uid);
}

bool uid_is_farm(const struct spool *sp, uid_t uid) { return uid == 0 || uid == sp->farm_uid; }

/* Whether UID is in group GID (its first group or one of its others). */
static bool uid_in_group(uid_t uid, gid_t gid)
{
	struct passwd *pw = getpwuid(uid);
	if (!pw)
		return false;
	if (pw->pw_gid == gid)
		return true;
	gid_t groups[256];
	int n = 256;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

bool uid_is_admin(const struct spool *sp, uid_t uid)
{
	if (uid_is_farm(sp, uid))
		return true;
	if (!*sp->conf.admins)
		return false;
	struct group *gr = getgrnam(sp->conf.admins);
	return gr && uid_in_group(uid, gr->gr_gid);
}

/* The owner a trusted submitter (the farm's user, root) names: believed. */
static void owner_named(const char *claimed, uid_t submitter, struct job_owner *o)
{
	if (*claimed)
		snprintf(o->user, sizeof o->user, "%s", claimed);
	else
		user_name(submitter, o->user, sizeof o->user);
	struct passwd *pw = getpwnam(o->user);
	o->uid = pw ? (long)pw->pw_uid : -1;
	snprintf(o->by, sizeof o->by, "submitter");
}

int owner_decide(const struct spool *sp, const uid_t *uids, int n, const char *claimed, const char *peer,
		 struct job_owner *o, char *why, size_t whysize)
{
	memset(o, 0, sizeof *o);
	o->uid = -1;
	if (peer) {
		snprintf(o->user, sizeof o->user, "site:%s", peer);
		snprintf(o->label, sizeof o->label, "%s", claimed);
		snprintf(o->by, sizeof o->by, "site");
		return 0;
	}
	int found = -1;
	for (int i = 0; i < n; i++) {
		if (uid_is_farm(sp, uids[i]))
			continue;
		if (found >= 0 && uids[i] != uids[found]) {
			char a[128], b[128];
			user_name(uids[found], a, sizeof a);
			user_name(uids[i], b, sizeof b);
			snprintf(why, whysize, "its files belong to two users (%s and %s); one user drops a job's archive and its .ini",
				 a, b);
			return -1;
		}
		found = i;
	}
	if (found < 0) {
		owner_named(claimed, n ? uids[0] : 0, o);
		return 0;
	}
	user_name(uids[found], o->user, sizeof o->user);
	o->uid = (long)uids[found];
	if (*claimed && strcmp(claimed, o->user))
		snprintf(o->label, sizeof o->label, "%s", claimed);
	snprintf(o->by, sizeof o->by, "file");
	return 0;
}

void owner_format(const struct job_owner *o, struct buf *b)
{
	char u[300], l[300];
	buf_printf(b, "\n[owner]\nuser = %s\nuid = %ld\n", ini_quote(o->user, u, sizeof u), o->uid);
	if (*o->label)
		buf_printf(b, "label = %s\n", ini_quote(o->label, l, sizeof l));
	buf_printf(b, "by = %s\n", o->by);
}

int job_owner_read(int jobfd, struct job_owner *o)
{
	memset(o, 0, sizeof *o);
	o->uid = -1;
	char err[600];
	struct ini *ini = job_file_ini(jobfd, JOB_FILE_DESC, err, sizeof err);
	if (!ini)
		return -1;
	const char *user = ini_get(ini, "owner", "user"), *v;
	long uid;
	if (!user) {
		/* a job taken in before owners were verified: as a submitter's */
		owner_named((v = ini_get(ini, "job", "owner")) ? v : "", 0, o);
		if (!*o->user || !strcmp(o->user, "root"))
			o->uid = -1;
		ini_free(ini);
		return 0;
	}
	snprintf(o->user, sizeof o->user, "%s", user);
	if ((v = ini_get(ini, "owner", "uid")) && parse_long(v, 0, (long)0x7fffffff, &uid))
		o->uid = uid;
	if ((v = ini_get(ini, "owner", "label")))
		snprintf(o->label, sizeof o->label, "%s", v);
	snprintf(o->by, sizeof o->by, "%s", (v = ini_get(ini, "owner", "by")) ? v : "file");
	ini_free(ini);
	return 0;
}

void owner_shown(const struct job_owner *o, char *out, size_t outsize)
{
	if (!*o->label)
		snprintf(out, outsize, "%s", o->user);
	else if (!strcmp(o->by, "site"))
		snprintf(out, outsize, "%s (%s)", o->user, o->label);
	else
		snprintf(out, outsize, "%s (label: %s)", o->user, o->label);
}

bool may_steer(const struct spool *sp, uid_t uid, const char *id, char *why, size_t whysize)
{
	if (uid_is_admin(sp, uid))
		return true;
	int jfd = job_dir_open(sp, id);
	struct job_owner o;
	int rc = jfd < 0 ? -1 : job_owner_read(jfd, &o);
	if (jfd >= 0)
		close(jfd);
	if (rc < 0) {
		snprintf(why, whysize, "no job named %s", id);
		return false;
	}
	if (o.uid >= 0 && (uid_t)o.uid == uid)
		return true;
	char me[128];
	user_name(uid, me, sizeof me);
	if (*sp->conf.admins)
		snprintf(why, whysize, "%s belongs to %s; only %s or an admin (group %s) may change it, not %s", id,
			 o.user, o.user, sp->conf.admins, me);
	else
		snprintf(why, whysize, "%s belongs to %s; only %s or the farm's user may change it, not %s", id, o.user,
			 o.user, me);
	return false;
}
