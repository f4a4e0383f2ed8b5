/* perms.c - the modes a spool shared by many artists needs: artists write
 * only the drop folders (sticky), everything else is the farm's user's
 * alone. Checks them, repairs them, and guards the daemons' start. */
#define _GNU_SOURCE
#include "perms.h"
#include "access.h"
#include "preset.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folders artists drop into: inbox/, cancel/, requests/. */
bool spool_dir_is_drop(enum spool_dir d) { return d == DIR_INBOX || d == DIR_CANCEL || d == DIR_REQUESTS; }

struct walk {
	const struct perm_plan *plan;
	struct strlist *problems, *fixed;
	int left;
};

/* Who may write, in words: "group artists", "everyone". */
static void writers(const struct stat *st, char *out, size_t outsize)
{
	struct group *gr = getgrgid(st->st_gid);
	char g[80];
	if (gr)
		snprintf(g, sizeof g, "group %s", gr->gr_name);
	else
		snprintf(g, sizeof g, "group %lu", (unsigned long)st->st_gid);
	if ((st->st_mode & 002) && (st->st_mode & 020))
		snprintf(out, outsize, "%s and everyone", g);
	else if (st->st_mode & 002)
		snprintf(out, outsize, "everyone");
	else
		snprintf(out, outsize, "%s", g);
}

/* What is wrong with node REL (ST): a sentence in WHY, or false. DROP: an
 * artists' drop folder, which may be shared when it is sticky. */
static bool node_unsafe(const struct walk *w, const char *rel, const struct stat *st, bool drop, bool owned,
			char *why, size_t whysize)
{
	char who[120], farm[128], shown[1100];
	unsigned mode = (unsigned)(st->st_mode & 07777);
	snprintf(shown, sizeof shown, "%s%s", rel, S_ISDIR(st->st_mode) && !has_suffix(rel, "/") ? "/" : "");
	rel = shown;
	if (owned && st->st_uid != 0 && st->st_uid != w->plan->farm) {
		char u[128];
		user_name(st->st_uid, u, sizeof u);
		user_name(w->plan->farm, farm, sizeof farm);
		snprintf(why, whysize, "%s belongs to %s, not to the farm's user (%s) or root", rel, u, farm);
		return true;
	}
	if (!(st->st_mode & 022))
		return false;
	writers(st, who, sizeof who);
	if (drop && (st->st_mode & S_ISVTX))
		return false;
	if (drop)
		snprintf(why, whysize, "%s is writable by %s but not sticky (mode %04o): anyone there may remove or replace another's file",
			 rel, who, mode);
	else
		snprintf(why, whysize, "%s is writable by %s (mode %04o): only the farm's user may change it", rel, who, mode);
	return true;
}

static bool farm_or_root(const struct walk *w, uid_t uid) { return uid == 0 || uid == w->plan->farm; }

/* Mend node NAME in DIRFD: the farm's, not writable by others (a drop
 * folder: the plan's group may write, sticky). Opened without following a
 * link, never blocking on a FIFO. 0, or -1 with errno. */
static int node_repair(const struct walk *w, int dirfd, const char *name, const struct stat *st, bool drop,
		       bool owned)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat now;
	int rc = -1;
	if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev) {
		errno = EAGAIN;
		goto out;
	}
	bool grouped = drop && w->plan->group != (gid_t)-1;
	bool take = owned && ((w->plan->flags & PERM_OWN) ? now.st_uid != w->plan->farm : !farm_or_root(w, now.st_uid));
	uid_t own = take ? w->plan->farm : (uid_t)-1;
	gid_t g = grouped ? w->plan->group : (gid_t)-1;
	if ((own != (uid_t)-1 || g != (gid_t)-1) && fchown(fd, own, g) < 0)
		goto out;
	mode_t m = now.st_mode & 07777 & ~(mode_t)022;
	if (grouped)
		m = 03770;
	else if (drop && (now.st_mode & 022))
		m = (now.st_mode & 07777) | S_ISVTX;
	rc = fchmod(fd, m);
out:;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* Look at (and maybe mend) DIRFD/NAME, shown as REL. */
static void node(struct walk *w, int dirfd, const char *name, const char *rel, const struct stat *st, bool drop,
		 bool owned)
{
	char why[600];
	bool bad = node_unsafe(w, rel, st, drop, owned, why, sizeof why);
	bool regroup = drop && w->plan->group != (gid_t)-1 &&
		       (st->st_gid != w->plan->group || (st->st_mode & 07777) != 03770);
	bool take = (w->plan->flags & PERM_OWN) && owned && st->st_uid != w->plan->farm;
	if (!bad && !((regroup || take) && (w->plan->flags & PERM_REPAIR)))
		return;
	if (!(w->plan->flags & PERM_REPAIR)) {
		strlist_add(w->problems, why);
		w->left++;
		return;
	}
	if (node_repair(w, dirfd, name, st, drop, owned) == 0) {
		if (!bad && regroup) {
			struct group *gr = getgrgid(w->plan->group);
			snprintf(why, sizeof why, "%s: group %s may drop files here (mode 3770: sticky, new files keep the group)",
				 rel, gr ? gr->gr_name : "?");
		}
		if (bad || regroup)
			strlist_add(w->fixed, why);
		return;
	}
	char msg[800];
	snprintf(msg, sizeof msg, "%s (not repaired: %s)", why, strerror(errno));
	strlist_add(w->problems, msg);
	w->left++;
}

/* The contents of folder DIRFD (REL), DEPTH deep: what a job's renders or
 * an artist's drop hold is theirs and left alone. */
static void walk_dir(struct walk *w, int dirfd, const char *rel, int depth, bool owned)
{
	struct strlist names = {0};
	if (depth > 12 || dir_entries(dirfd, &names) < 0) {
		strlist_free(&names);
		return;
	}
	for (size_t i = 0; i < names.n; i++) {
		struct stat st;
		if (fstatat(dirfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(st.st_mode))
			continue;
		char *sub = xasprintf("%s/%s", rel, names.v[i]);
		node(w, dirfd, names.v[i], sub, &st, false, owned);
		/* a render's folder is the render user's; a rejected drop is the artist's */
		bool skip = !strcmp(names.v[i], job_dir_name(JOB_DIR_WORK));
		if (S_ISDIR(st.st_mode) && !skip) {
			int fd = openat(dirfd, names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				walk_dir(w, fd, sub, depth + 1, owned);
				close(fd);
			}
		}
		free(sub);
	}
	strlist_free(&names);
}

/* The presets' folders, inbox/NAME/: drop folders as inbox/ is. */
static void preset_folders_check(struct walk *w, int rootfd)
{
	int conf = openat(rootfd, spool_dir_name(DIR_CONF), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int in = openat(rootfd, spool_dir_name(DIR_INBOX), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct strlist names = {0};
	if (conf >= 0 && in >= 0)
		preset_names(conf, &names);
	for (size_t i = 0; i < names.n; i++) {
		struct stat st;
		if (fstatat(in, names.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		char *rel = xasprintf("%s/%s", spool_dir_name(DIR_INBOX), names.v[i]);
		node(w, in, names.v[i], rel, &st, true, true);
		free(rel);
	}
	strlist_free(&names);
	if (conf >= 0)
		close(conf);
	if (in >= 0)
		close(in);
}

int spool_perms(int rootfd, const char *path, const struct perm_plan *plan, struct strlist *problems,
		struct strlist *fixed)
{
	struct walk w = {.plan = plan, .problems = problems, .fixed = fixed};
	struct stat st;
	if (fstat(rootfd, &st) < 0)
		return -1;
	node(&w, rootfd, ".", path, &st, false, true);
	for (int d = 0; d < DIR_COUNT; d++) {
		const char *n = spool_dir_name((enum spool_dir)d);
		if (fstatat(rootfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		bool drop = spool_dir_is_drop((enum spool_dir)d);
		node(&w, rootfd, n, n, &st, drop, true);
		if (d == DIR_INBOX)
			preset_folders_check(&w, rootfd);
		bool deep = d == DIR_CONF || ((plan->flags & PERM_DEEP) && !drop);
		if (!deep)
			continue;
		int fd = openat(rootfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			/* a rejected drop keeps the files as the artist dropped them */
			walk_dir(&w, fd, n, 1, d != DIR_REJECTED);
			close(fd);
		}
	}
	return w.left;
}

int spool_perm_guard(const struct spool *sp, char *err, size_t errsize)
{
	struct perm_plan plan = {.farm = sp->farm_uid, .group = (gid_t)-1, .flags = 0};
	struct strlist problems = {0}, fixed = {0};
	int left = spool_perms(sp->root, sp->path, &plan, &problems, &fixed);
	int rc = 0;
	if (left < 0) {
		snprintf(err, errsize, "unable to check the modes of %s: %s", sp->path, strerror(errno));
		rc = -1;
	} else if (left > 0) {
		char more[64] = "";
		if (left > 1)
			snprintf(more, sizeof more, " (and %d more)", left - 1);
		snprintf(err, errsize,
			 "%s is not safe to share: %s%s. Whoever can write there can steer the farm or run code as it. "
			 "Repair it with: hotfarm init --repair %s (as root or the farm's user); "
			 "a farm only its own user uses may start with --insecure",
			 sp->path, problems.v[0], more, sp->path);
		rc = -1;
	}
	strlist_free(&problems);
	strlist_free(&fixed);
	return rc;
}
