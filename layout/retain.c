/* retain.c - the clean pass: which ended jobs and rejected/ entries are due
 * to go, kept while a job still to run waits for them, each handed to
 * retire.c. Names read from the tree are checked; job.ini via its loader. */
#define _GNU_SOURCE
#include "retain.h"
#include "jobdesc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY_US (86400LL * 1000000LL)

static int64_t mtime_us(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000 + st->st_mtim.tv_nsec / 1000;
}

/* The jobs that jobs still to run wait for ([job] after): kept. */
static void waited_for(const struct spool *sp, struct strlist *keep)
{
	enum job_state waiting[] = {STATE_NEW, STATE_QUEUED, STATE_HELD, STATE_OUTSOURCED};
	for (int k = 0; k < 4; k++) {
		struct strlist l = {0};
		state_list(sp, waiting[k], &l);
		for (size_t i = 0; i < l.n; i++) {
			char id[JOBID_MAX_LEN + 1], err[256];
			struct job_desc jd;
			if (!entry_parse(l.v[i], NULL, NULL, id))
				continue;
			int jfd = job_dir_open(sp, id);
			if (jfd < 0)
				continue;
			if (job_desc_load(jfd, &jd, err, sizeof err) == 0) {
				for (size_t a = 0; a < jd.after.n; a++)
					if (!strlist_has(keep, jd.after.v[a]))
						strlist_add(keep, jd.after.v[a]);
				job_desc_free(&jd);
			}
			close(jfd);
		}
		strlist_free(&l);
	}
}

struct pass {
	const struct spool *sp;
	const struct retain_opts *o;
	retain_each *each;
	void *arg;
	int64_t local_cut, peer_cut; /* what ended before these goes; -1: nothing */
	struct strlist keep;
	long acted;
};

/* Act on IT (a job whose entry is ENTRY, or a rejected/ entry) found due. */
static void pass_act(struct pass *p, struct retain_item *it, const char *entry)
{
	const char *archive = it->rejected || strchr(it->id, '@') ? NULL : p->sp->conf.archive;
	int rc = 0;
	if (!p->o->dry_run)
		rc = it->rejected ? rejected_retire(p->sp, it->id, p->sp->conf.archive, it->archived, sizeof it->archived)
				  : job_retire_entry(p->sp, it->id, it->state, entry, archive, it->archived,
						     sizeof it->archived);
	if (rc < 0 && errno == ENOENT)
		return; /* gone meanwhile: another pass, or a peer's repeat */
	p->acted++;
	if (p->each)
		p->each(it, rc, p->arg);
}

/* The ended job of entry ENTRY in state S, when it is due. */
static void pass_job(struct pass *p, enum job_state s, const char *entry)
{
	struct retain_item it = {.state = s};
	if (!entry_parse(entry, NULL, NULL, it.id) || strlist_has(&p->keep, it.id))
		return;
	bool peer = strchr(it.id, '@') != NULL;
	int64_t cut = peer ? p->peer_cut : p->local_cut;
	if (cut < 0)
		return;
	int jfd = job_dir_open(p->sp, it.id);
	struct stat st;
	/* a linked site's job: from when its result went back (none: not yet) */
	if (jfd >= 0 && job_file_stat(jfd, peer ? JOB_FILE_RETURNED : JOB_FILE_STATUS, &st) == 0)
		it.ended_us = mtime_us(&st);
	else if (!peer && fstatat(state_fd(p->sp, s), entry, &st, AT_SYMLINK_NOFOLLOW) == 0)
		it.ended_us = mtime_us(&st);
	bool due = it.ended_us && it.ended_us < cut;
	if (due && jfd >= 0 && p->o->measure)
		it.bytes = tree_bytes(jfd, ".");
	if (jfd >= 0)
		close(jfd);
	if (due)
		pass_act(p, &it, entry);
}

/* rejected/NAME, when due: from when its reason.txt was written. */
static void pass_rejected(struct pass *p, const char *name)
{
	struct retain_item it = {.rejected = true, .state = STATE_NONE};
	if (!name_is_valid(name) || strlen(name) > NAME_MAX_LEN || p->local_cut < 0)
		return;
	snprintf(it.id, sizeof it.id, "%s", name);
	char path[NAME_MAX_LEN + 32];
	snprintf(path, sizeof path, "%s/%s", name, spool_file_name(SPOOL_FILE_REASON));
	struct stat st;
	int r = spool_fd(p->sp, DIR_REJECTED);
	if (fstatat(r, path, &st, AT_SYMLINK_NOFOLLOW) == 0 || fstatat(r, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		it.ended_us = mtime_us(&st);
	if (!it.ended_us || it.ended_us >= p->local_cut)
		return;
	if (p->o->measure)
		it.bytes = tree_bytes(r, name);
	pass_act(p, &it, NULL);
}

long retain_run(const struct spool *sp, const struct retain_opts *o, retain_each *each, void *arg)
{
	int lock = o->dry_run ? -2 : lock_open(spool_fd(sp, DIR_RUN), spool_file_name(SPOOL_FILE_RETAIN_LOCK), o->lock_ms);
	if (lock == -1) {
		if (errno == ETIMEDOUT)
			errno = EAGAIN;
		return -1;
	}
	/* an archive that cannot be reached: nothing leaves its listing */
	const char *archive = sp->conf.archive;
	int afd = !o->dry_run && o->local && *archive ? open_beneath(AT_FDCWD, archive, O_RDONLY | O_DIRECTORY, 0) : -2;
	if (afd == -1) {
		int e = errno;
		if (lock >= 0)
			close(lock);
		errno = e;
		return -1;
	}
	if (afd >= 0)
		close(afd);
	if (!o->dry_run)
		retain_recover(sp);
	int64_t now = now_us();
	struct pass p = {.sp = sp, .o = o, .each = each, .arg = arg, .local_cut = -1, .peer_cut = -1};
	if (o->local && o->older_than_us >= 0)
		p.local_cut = now - o->older_than_us;
	else if (o->local && sp->conf.keep_days > 0)
		p.local_cut = now - sp->conf.keep_days * DAY_US;
	if (o->peers)
		p.peer_cut = now - sp->conf.retain_days * DAY_US;
	waited_for(sp, &p.keep);
	enum job_state fin[] = {STATE_DONE, STATE_FAILED, STATE_CANCELLED};
	for (int k = 0; k < 3; k++) {
		struct strlist l = {0};
		state_list(sp, fin[k], &l);
		for (size_t i = 0; i < l.n; i++)
			pass_job(&p, fin[k], l.v[i]);
		strlist_free(&l);
	}
	if (p.local_cut >= 0) {
		struct strlist l = {0};
		dir_names(spool_fd(sp, DIR_REJECTED), ".", &l);
		strlist_sort(&l);
		for (size_t i = 0; i < l.n; i++)
			pass_rejected(&p, l.v[i]);
		strlist_free(&l);
	}
	strlist_free(&p.keep);
	if (o->store && store_gc(sp, o->dry_run, o->store) < 0)
		warn("unable to look through %s/ for contents no job holds: %s", spool_file_name(SPOOL_FILE_STORE),
		     strerror(errno));
	if (lock >= 0)
		close(lock);
	return p.acted;
}
