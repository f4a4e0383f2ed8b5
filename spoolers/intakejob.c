/* intakejob.c - hf-intake's job folder (job.ini, tickets, status, pending
 * entry), its commit to new/, and --recover after a crash. Trusts the checked
 * description; distrusts the leftovers it recovers (names checked, no links). */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "intake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- building the job ----------------------------------------------------- */

static void write_or_die(int dirfd, const char *name, struct buf *b)
{
	if (file_write_atomic(dirfd, name, b->data ? b->data : "", b->len, 0644) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", name);
}

/* A name for one line of job.ini: escaped, and quotable (when it holds
 * both kinds of quote, '"' becomes '\''). */
static void ini_safe(const char *in, char *out, size_t outsize)
{
	text_escape(in, out, outsize);
	if (strchr(out, '"') && strchr(out, '\''))
		for (char *c = out; *c; c++)
			if (*c == '"')
				*c = '\'';
}

/* job.ini: the description, normalised, then what intake adds. --from:
 * where the job came from (this link, never what the package claims), its
 * id there, and the sites it passed (checked names). */
static void job_ini_write(const struct spool *sp, int jobfd, const struct intake_job *job, const char *orig)
{
	struct buf b = {0};
	job_desc_format(job->jd, &b);
	char iso[32];
	time_iso(job->seq, iso);
	char q[600];
	buf_printf(&b, "\n[intake]\nsubmitted = %s\nsubmitted_us = %lld\nsite = %s\noriginal_name = %s\n", iso,
		   (long long)job->seq, sp->conf.name, ini_quote(orig, q, sizeof q));
	if (job->preset) {
		char v[560];
		ini_safe(job->described, v, sizeof v);
		buf_printf(&b, "preset = %s\ndescribed = %s\n", job->preset, ini_quote(v, q, sizeof q));
	}
	for (int i = 0; i < job->ndropped; i++) {
		char k[16], v[600];
		snprintf(k, sizeof k, "dropped%d", i + 1);
		ini_safe(job->dropped[i], v, sizeof v);
		buf_printf(&b, "%s = %s\n", k, ini_quote(v, q, sizeof q));
	}
	if (job->from_peer) {
		buf_printf(&b, "\n[route]\nfrom = %s\njob = %s\nhops =", job->from_peer, job->origin);
		for (size_t i = 0; i < job->hops->n; i++)
			buf_printf(&b, "%s %s", i ? "," : "", job->hops->v[i]);
		buf_printf(&b, "\n");
		for (size_t i = 0; i < job->nonly; i++)
			buf_printf(&b, "%s%ld%s", i ? "," : "only = ", job->only[i], i + 1 == job->nonly ? "\n" : "");
	}
	owner_format(job->owner, &b);
	if (job_file_write(jobfd, JOB_FILE_DESC, b.data ? b.data : "", b.len) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", job_file_name(JOB_FILE_DESC));
	buf_free(&b);
}

static bool wanted_frame(const struct intake_job *job, long frame)
{
	if (!job->only)
		return true;
	for (size_t i = 0; i < job->nonly; i++)
		if (job->only[i] == frame)
			return true;
	return false;
}

/* Tickets: one per frame, ranked samples-first (agents take runs of
 * adjacent ones; chunk only says how long); only those a peer wants, each
 * with the name it has at that peer. How many. */
static long tickets_write(int jobfd, const struct intake_job *job)
{
	const struct job_desc *jd = job->jd;
	size_t *order = samples_order(jd->nframes);
	long n = 0;
	for (size_t rank = 0; rank < jd->nframes; rank++) {
		long frame = jd->frames[order[rank]];
		char tname[64];
		if (!wanted_frame(job, frame))
			continue;
		ticket_format(tname, (long)rank, frame, frame);
		if (ticket_create(jobfd, tname, &frame, 1) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to write ticket %s", tname);
		n++;
	}
	free(order);
	return n;
}

void intake_job_write(const struct spool *sp, int jobfd, const struct intake_job *job)
{
	const struct job_desc *jd = job->jd;
	/* one syncfs at the end flushes everything written here */
	bool flush = sync_writes;
	sync_writes = false;
	const char *failed = "";
	if (job_tree_make(jobfd, &failed) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to create %s", failed);
	char orig[400];
	ini_safe(job->original, orig, sizeof orig);
	job_ini_write(sp, jobfd, job, orig);
	long ntickets = tickets_write(jobfd, job);

	struct job_status st = {0};
	snprintf(st.state, sizeof st.state, "new");
	snprintf(st.reason, sizeof st.reason, "taken in; waiting to be queued");
	snprintf(st.original, sizeof st.original, "%s", orig);
	snprintf(st.owner, sizeof st.owner, "%s", jd->owner);
	snprintf(st.owner_label, sizeof st.owner_label, "%s", job->owner->label);
	st.priority = jd->priority;
	st.frames_total = ntickets;
	st.tickets = ntickets;
	st.submitted_us = job->seq;
	st.updated_us = job->seq;
	st.warnings = job->warnings;
	if (job->preset) {
		snprintf(st.preset, sizeof st.preset, "%s", job->preset);
		snprintf(st.described, sizeof st.described, "%s", job->described);
	}
	if (job_status_write(jobfd, &st) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", job_file_name(JOB_FILE_STATUS));
	/* what was submitted (a peer's job came as that package), and what of
	 * it this site holds once for several jobs */
	intake_share(sp, jobfd, job->shared);
	struct job_sizes z = {.submitted = job->submitted_bytes,
			      .site_received = job->from_peer ? job->submitted_bytes : 0,
			      .shared = job->shared->shared_bytes};
	if (job_sizes_add(jobfd, &z) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", job_file_name(JOB_FILE_SIZES));

	/* The pending entry: priority and sequence; the name is the folder's. */
	struct buf p = {0};
	buf_printf(&p, "%03d-%016lld\n", jd->priority, (long long)job->seq);
	write_or_die(jobfd, INTAKE_PENDING, &p);
	buf_free(&p);
	sync_writes = flush;
	if (sync_writes && syncfs(jobfd) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to flush the job to disk");
}

int intake_entry_commit(const struct spool *sp, const char *name, const char *peer, int pending_fd,
			char entry_out[ENTRY_MAX_LEN])
{
	char text[64] = "";
	ssize_t n = pread(pending_fd, text, sizeof text - 1, 0);
	if (n < 0)
		return -1;
	text[n] = 0;
	long prio;
	long long seq;
	char entry[ENTRY_MAX_LEN];
	if (sscanf(text, "%3ld-%16lld", &prio, &seq) != 2 || prio < 0 || prio > 999) {
		errno = EINVAL;
		return -1;
	}
	char id[JOBID_MAX_LEN + 1];
	snprintf(id, sizeof id, "%s%s%s", name, peer ? "@" : "", peer ? peer : "");
	entry_format(entry, (int)prio, seq, id);
	if (intake_commit(sp, id, entry) < 0)
		return -1;
	fsync_dir(state_fd(sp, STATE_NEW));
	if (entry_out)
		snprintf(entry_out, ENTRY_MAX_LEN, "%s", entry);
	return 0;
}

/* ---- recovery ------------------------------------------------------------ */

/* Put the dropped files of an abandoned work folder back into inbox/. */
static void recover_work(const struct spool *s, const char *wname, bool all)
{
	int wfd = spool_fd(s, DIR_WORK);
	int w = dir_walk(wfd, wname, false);
	if (w < 0)
		return;
	int lfd = open_beneath(w, spool_file_name(SPOOL_FILE_STAGE_LOCK), O_RDONLY, 0);
	if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		close(lfd);
		close(w);
		return; /* its intake is alive */
	}
	/* Without a lock file its intake died before it could claim anything
	 * (the lock comes first), or is just making it: clear it when old
	 * enough, or at once when watcherd starts (no intake of its runs). */
	struct stat st;
	if (lfd < 0 && !all && fstat(w, &st) == 0 && now_us() / 1000000 - st.st_mtim.tv_sec < 60) {
		close(w);
		return;
	}
	bool committed = faccessat(w, spool_file_name(SPOOL_FILE_STAGE_JOB), F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	int dfd = dir_walk(w, spool_file_name(SPOOL_FILE_STAGE_DROPPED), false);
	bool keep = false;
	if (dfd >= 0 && !committed) {
		DIR *d = dir_open(dfd, ".");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.' || !strcmp(e->d_name, spool_file_name(SPOOL_FILE_REASON)))
				continue;
			const char *back = drop_return(s, dfd, e->d_name);
			if (!back) {
				warn("unable to put work/%s/dropped/%s back into inbox/: %s", wname, e->d_name,
				     strerror(errno));
				keep = true;
			} else {
				say("recovered inbox/%s from an interrupted intake", back);
			}
		}
		if (d)
			closedir(d);
	}
	if (dfd >= 0)
		close(dfd);
	if (lfd >= 0)
		close(lfd);
	close(w);
	if (!keep)
		tree_remove(wfd, wname);
}

static void recover_pending(const struct spool *sp, const char *name, const char *peer)
{
	char id[JOBID_MAX_LEN + 1];
	snprintf(id, sizeof id, "%s%s%s", name, peer ? "@" : "", peer ? peer : "");
	int job = job_dir_open(sp, id);
	if (job < 0)
		return;
	int p = open_regular(job, INTAKE_PENDING, O_RDONLY);
	close(job);
	if (p < 0)
		return;
	if (flock(p, LOCK_EX | LOCK_NB) == 0) {
		if (intake_entry_commit(sp, name, peer, p, NULL) == 0)
			sayj(id, -1, "recovered %s: its interrupted intake is finished", id);
		else if (errno != ENOENT)
			warnj(id, -1, "unable to finish the intake of %s: %s", id, strerror(errno));
	}
	close(p);
}

/* The pending intakes in one jobs/ folder (this site's, or a peer's). */
static void recover_jobs(const struct spool *sp, int jobsfd, const char *peer)
{
	DIR *d = dir_open(jobsfd, ".");
	struct dirent *e;
	struct strlist names = {0};
	while (d && (e = readdir(d))) {
		if (!name_is_valid(e->d_name))
			continue;
		char path[NAME_MAX_LEN + 32];
		snprintf(path, sizeof path, "%s/%s", e->d_name, INTAKE_PENDING);
		if (faccessat(jobsfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			strlist_add(&names, e->d_name);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.n; i++)
		recover_pending(sp, names.v[i], peer);
	strlist_free(&names);
}

/* The work folders of intakes that died: in.* (this site's inbox/),
 * from.PEER.PID.TIME, whose files go back to sites/PEER/in/, and
 * pre.PRESET.PID.TIME, whose files go back to inbox/PRESET/. */
static void recover_works(const struct spool *sp, bool all)
{
	DIR *d = dir_open(spool_fd(sp, DIR_WORK), ".");
	struct dirent *e;
	struct strlist names = {0};
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "in.", 3) || !strncmp(e->d_name, "from.", 5) || !strncmp(e->d_name, "pre.", 4))
			strlist_add(&names, e->d_name);
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.n; i++) {
		if (names.v[i][0] == 'i') {
			recover_work(sp, names.v[i], all);
			continue;
		}
		/* from.PEER.X: back to sites/PEER/in/; pre.PRESET.X: inbox/PRESET/ */
		bool pre = names.v[i][0] == 'p';
		char who[PRESET_NAME_MAX + SITE_NAME_MAX + 1];
		const char *p = names.v[i] + (pre ? 4 : 5), *dot = strchr(p, '.');
		struct spool v;
		char err[512];
		if (!dot || dot - p > (pre ? PRESET_NAME_MAX : SITE_NAME_MAX))
			continue;
		snprintf(who, sizeof who, "%.*s", (int)(dot - p), p);
		if (spool_open(sp->path, &v, err, sizeof err) < 0)
			continue;
		if ((pre ? spool_view_preset(&v, who) : spool_view_site(&v, who)) == 0)
			recover_work(&v, names.v[i], all);
		spool_close(&v);
	}
	strlist_free(&names);
}

int intake_recover(const struct spool *sp, bool all)
{
	recover_works(sp, all);
	recover_jobs(sp, spool_fd(sp, DIR_JOBS), NULL);
	DIR *d = dir_open(spool_fd(sp, DIR_SITES), ".");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!name_is_valid(e->d_name) || strlen(e->d_name) > SITE_NAME_MAX)
			continue;
		char path[SITE_NAME_MAX + 64];
		site_dir_relpath(e->d_name, SITE_JOBS, path, sizeof path);
		int j = dir_walk(sp->root, path, false);
		if (j >= 0) {
			recover_jobs(sp, j, e->d_name);
			close(j);
		}
	}
	if (d)
		closedir(d);
	return EXIT_OK;
}
