/* collect.c - hf-collect: take in what linked site PEER delivered into
 * sites/PEER/in/. Distrusts all of it: names, paths, sizes, the archives, and
 * which job it may speak about (only one this site sent it). */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/unpack.h"
#include "../layout/site.h"
#include "../layout/steer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What comes in: jobs to render here (handed to hf-intake --from), the
 * answers for jobs this site sent there (frames, logs, tickets and billing
 * placed into the job, its entry moved from outsourced/ to done/ or failed/;
 * or a refusal, which re-routes an `auto` job), progress (status and
 * samples), cancels, and the peer's load summary. Each file leaves in/ only
 * once it is applied; an unknown or hostile one goes to sites/PEER/rejected/. */
extern char **environ;

static struct spool sp;
static const char *peer;
static int in_fd = -1;

static void refuse_file(const char *name, const char *why)
{
	char shown[300];
	text_escape(name, shown, sizeof shown);
	warn("site %s sent %s, which is refused: %s", peer, shown, why);
	if (site_in_reject(&sp, peer, name) < 0)
		unlinkat(in_fd, name, 0);
}

static bool strip(const char *name, const char *suffix, char out[JOBID_MAX_LEN + 1])
{
	size_t n = strlen(name), k = strlen(suffix);
	if (n <= k || strcmp(name + n - k, suffix) || n - k > JOBID_MAX_LEN)
		return false;
	snprintf(out, JOBID_MAX_LEN + 1, "%.*s", (int)(n - k), name);
	return job_id_valid(out);
}

/* ---- unpacking an answer ------------------------------------------------- */

/* Unpack the answer in FD beneath DIRFD: a plain tar of files and folders
 * only, each path checked as intake checks a dropped archive's, the total
 * size and count bounded. Returns 0, or -1 with WHY (1 when a system call
 * failed: the answer is not at fault). */
static int unpack(int fd, int dirfd, char *why, size_t whysize)
{
	/* refuse_file names the file: "site B sent X, which is refused: it holds ..." */
	struct unpack_rules rules = {.shown = "it",
				     .max_entries = sp.conf.max_entries,
				     .max_bytes = sp.conf.max_bytes,
				     .allowed = site_answer_holds(), /* folders may be anywhere; they are not placed */
				     .holder = "an answer"};
	struct unpack_report out = {0};
	enum unpack_result r = unpack_archive(fd, dirfd, &rules, &out);
	strlist_free(&out.files);
	snprintf(why, whysize, "%s", out.why);
	return r == UNPACK_OK ? 0 : r == UNPACK_FAILED ? 1 : -1;
}

/* Every file below SRC/REL goes to the job's DSTREL (same relative path). */
static void place_tree(int jobfd, int src, const char *rel, const char *dstrel)
{
	DIR *d = dir_open(src, rel);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char r[PATH_MAX], t[PATH_MAX];
		snprintf(r, sizeof r, "%s/%s", rel, e->d_name);
		snprintf(t, sizeof t, "%s/%s", dstrel, e->d_name);
		struct stat st;
		if (fstatat(src, r, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			place_tree(jobfd, src, r, t);
		else if (S_ISREG(st.st_mode) && job_file_place(jobfd, src, r, t) < 0)
			warn("unable to place %s: %s", t, strerror(errno));
	}
	if (d)
		closedir(d);
}

/* The ticket of TODO (RANK-FIRST[-LAST]) that covers the frames received
 * ticket NAME covers, else NAME itself. */
static const char *same_frames(const struct strlist *todo, const char *name)
{
	long first, last, f, l;
	if (!ticket_name_parse(name, NULL, &first, &last, NULL))
		return name;
	for (size_t i = 0; i < todo->n; i++)
		if (ticket_name_parse(todo->v[i], NULL, &f, &l, NULL) && f == first && l == last)
			return todo->v[i];
	return name;
}

/* The received tickets settle ours; tickets the peer did not send failed. */
static void place_tickets(int jobfd, int src)
{
	struct strlist todo = {0};
	ticket_list(jobfd, TICKET_TODO, &todo);
	enum ticket_state states[] = {TICKET_DONE, TICKET_FAILED};
	for (int k = 0; k < 2; k++) {
		char rel[32];
		snprintf(rel, sizeof rel, "%s/%s", job_dir_name(JOB_DIR_FRAMES), ticket_dir_name(states[k]));
		DIR *d = dir_open(src, rel);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.' || !name_is_valid(e->d_name))
				continue;
			char r[PATH_MAX];
			snprintf(r, sizeof r, "%s/%s", rel, e->d_name);
			/* under our name for the same frames: a job sent again for
			 * some frames only was cut into tickets of other ranks */
			const char *as = same_frames(&todo, e->d_name);
			if (ticket_place(jobfd, src, r, as, states[k]) < 0)
				warn("unable to settle ticket %s: %s", e->d_name, strerror(errno));
		}
		if (d)
			closedir(d);
	}
	strlist_free(&todo);
	struct strlist left = {0};
	ticket_list(jobfd, TICKET_TODO, &left);
	for (size_t i = 0; i < left.n; i++)
		ticket_settle(jobfd, left.v[i], TICKET_FAILED);
	strlist_free(&left);
}

/* ---- applying an answer ----------------------------------------------------- */

static void status_note(const char *id, int jobfd, int src, const char *state, const char *reason)
{
	struct job_status mine, theirs;
	char entry[ENTRY_MAX_LEN];
	/* under the status lock, and only while it is still out there (a
	 * cancel here may have ended it meanwhile) */
	int lock = job_status_lock(jobfd);
	if (job_find(&sp, id, entry) != STATE_OUTSOURCED || job_status_read(jobfd, &mine) < 0) {
		if (lock >= 0)
			close(lock);
		return;
	}
	if (job_status_read(src, &theirs) == 0) {
		mine.frames_done = theirs.frames_done;
		mine.frames_failed = theirs.frames_failed;
		if (theirs.started_us && !mine.started_us)
			mine.started_us = theirs.started_us;
		job_status_free(&theirs);
	}
	if (!strcmp(state, "rendering") || !strcmp(state, "queued") || !strcmp(state, "waiting"))
		snprintf(mine.reason, sizeof mine.reason, "%s at site %s: %ld of %ld frames done%s%s", state, peer,
			 mine.frames_done, mine.frames_total, *reason ? "; " : "", reason);
	mine.updated_us = now_us();
	job_status_write(jobfd, &mine);
	job_status_free(&mine);
	if (lock >= 0)
		close(lock);
}

/* The job this site sent PEER as ID, when it is still out there: its
 * folder (and what outsourced.ini says about who refused it), else -1 and
 * the answer is dropped. */
static int sent_job(const char *name, const char *id, char refused_before[600])
{
	char entry[ENTRY_MAX_LEN], err[512];
	enum job_state s = job_find(&sp, id, entry);
	int jobfd = s == STATE_NONE ? -1 : job_dir_open(&sp, id);
	struct ini *o = jobfd < 0 ? NULL : job_file_ini(jobfd, JOB_FILE_OUTSOURCED, err, sizeof err);
	const char *to = o ? ini_get(o, "outsourced", "site") : NULL;
	if (s != STATE_OUTSOURCED || !to || strcmp(to, peer)) {
		/* late (the job ended or went elsewhere), or not ours to speak of */
		if (s == STATE_NONE || !to || strcmp(to, peer))
			warnj(id, -1, "site %s answered about %s, which this site did not send it; ignored", peer, id);
		unlinkat(in_fd, name, 0);
		ini_free(o);
		if (jobfd >= 0)
			close(jobfd);
		return -1;
	}
	snprintf(refused_before, 600, "%s", ini_get(o, "outsourced", "refused") ? ini_get(o, "outsourced", "refused") : "");
	ini_free(o);
	return jobfd;
}

/* PEER did not take the job: choose again (auto) or fail, with its reason. */
static void apply_refused(const char *name, const char *id)
{
	char refused_before[600], err[512];
	int jobfd = sent_job(name, id, refused_before);
	if (jobfd < 0)
		return;
	struct ini *r = ini_load(in_fd, name, "refusal", err, sizeof err);
	const char *job = r ? ini_get(r, "refused", "job") : NULL, *reason = r ? ini_get(r, "refused", "reason") : NULL;
	if (!job || strcmp(job, id)) {
		refuse_file(name, r ? "it names another job" : err);
		ini_free(r);
		close(jobfd);
		return;
	}
	char reasonbuf[700], line[1024];
	text_escape(reason ? reason : "no reason given", reasonbuf, sizeof reasonbuf);
	struct job_desc jd;
	memset(&jd, 0, sizeof jd);
	bool again = job_desc_load(jobfd, &jd, err, sizeof err) == 0 && !strcmp(jd.site, "auto");
	job_desc_free(&jd);
	if (again) {
		struct buf b = {0};
		buf_printf(&b, "[outsourced]\nrefused = %s%s%s\n", refused_before, *refused_before ? ", " : "", peer);
		job_file_write(jobfd, JOB_FILE_OUTSOURCED, b.data, b.len);
		buf_free(&b);
		snprintf(line, sizeof line, "site %s refused it (%s); choosing again", peer, reasonbuf);
		if (job_change_state(&sp, id, STATE_NEW, line) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to re-route %s", id);
	} else {
		snprintf(line, sizeof line, "site %s refused it: %s", peer, reasonbuf);
		if (job_change_state(&sp, id, STATE_FAILED, line) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to fail %s", id);
	}
	sayj(id, -1, "%s: %s", id, line);
	unlinkat(in_fd, name, 0);
	ini_free(r);
	close(jobfd);
}

/* EXIT_TEMPFAIL when the answer could not be unpacked for want of a
 * system call (it stays in in/), else EXIT_OK. */
static int apply_answer(const char *name, const char *id, bool progress)
{
	char refused_before[600], err[512];
	int jobfd = sent_job(name, id, refused_before), rc = EXIT_OK;
	if (jobfd < 0)
		return EXIT_OK;
	/* unpack into work/ */
	char wname[96];
	snprintf(wname, sizeof wname, "collect.%ld.%lld", (long)getpid(), (long long)now_us());
	int wfd = spool_fd(&sp, DIR_WORK);
	if (mkdirat(wfd, wname, 0755) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to make work/%s", wname);
	int src = open_beneath(wfd, wname, O_RDONLY | O_DIRECTORY, 0);
	int fd = open_regular(in_fd, name, O_RDONLY);
	char why[1024];
	int unpacked = -1;
	if (src < 0 || fd < 0)
		snprintf(why, sizeof why, "%s", strerror(errno));
	else
		unpacked = unpack(fd, src, why, sizeof why);
	struct stat fst;
	struct job_sizes got = {0};
	if (fd >= 0 && fstat(fd, &fst) == 0)
		got.site_received = (unsigned long long)fst.st_size;
	if (fd >= 0)
		close(fd);
	if (unpacked > 0) {
		warn("unable to unpack %s from site %s; it is tried again: %s", name, peer, why);
		rc = EXIT_TEMPFAIL;
		goto done;
	}
	if (unpacked < 0) {
		refuse_file(name, why);
		goto done;
	}
	/* the answer is laid out as a job's folder is */
	struct ini *r = job_file_ini(src, JOB_FILE_RESULT, err, sizeof err);
	const char *state = r ? ini_get(r, "result", "state") : NULL, *reason = r ? ini_get(r, "result", "reason") : NULL,
		   *job = r ? ini_get(r, "result", "job") : NULL;
	if (!state || !job || strcmp(job, id)) {
		ini_free(r);
		char why2[200];
		snprintf(why2, sizeof why2, "its %s is missing or names another job", job_file_name(JOB_FILE_RESULT));
		refuse_file(name, why2);
		goto done;
	}
	/* an answer taken: its size is billed to the job, before its end's
	 * billing.ini is written */
	if (job_sizes_add(jobfd, &got) < 0)
		warn("unable to note the size of %s from site %s: %s", name, peer, strerror(errno));
	char reasonbuf[700];
	text_escape(reason ? reason : "", reasonbuf, sizeof reasonbuf);
	char line[1024];
	if (progress) {
		place_tree(jobfd, src, job_dir_name(JOB_DIR_PREVIEWS), job_dir_name(JOB_DIR_PREVIEWS));
		status_note(id, jobfd, src, state, strcmp(state, "rendering") ? reasonbuf : "");
		unlinkat(in_fd, name, 0);
	} else {
		/* its end: frames, logs, samples, tickets, then the entry */
		place_tree(jobfd, src, job_dir_name(JOB_DIR_OUTPUT), job_dir_name(JOB_DIR_OUTPUT));
		char logs[64];
		snprintf(logs, sizeof logs, "%s/site-%s", job_dir_name(JOB_DIR_LOGS), peer);
		place_tree(jobfd, src, job_dir_name(JOB_DIR_LOGS), logs);
		place_tree(jobfd, src, job_dir_name(JOB_DIR_PREVIEWS), job_dir_name(JOB_DIR_PREVIEWS));
		place_tickets(jobfd, src);
		site_rerender_done(jobfd);
		if (!strcmp(state, "cancelled")) {
			snprintf(line, sizeof line, "cancelled at site %s: %s", peer, reasonbuf);
			job_change_state(&sp, id, STATE_CANCELLED, line);
		} else {
			if (job_try_finish(&sp, id) == 1) {
				struct job_status st;
				if (job_status_read(jobfd, &st) == 0) {
					snprintf(line, sizeof line, "at site %s: %s", peer, st.reason);
					snprintf(st.reason, sizeof st.reason, "%s", line);
					job_status_write(jobfd, &st);
					job_status_free(&st);
				}
			}
		}
		sayj(id, -1, "%s came back from site %s: %s", id, peer, state);
		unlinkat(in_fd, name, 0);
	}
	ini_free(r);
done:
	if (src >= 0)
		close(src);
	tree_remove(wfd, wname);
	close(jobfd);
	return rc;
}

/* ---- the other kinds ----------------------------------------------------------- */

/* Our copy of the job PEER knows as ORIGIN, or -1. */
static int peer_job(const char *origin, char id[JOBID_MAX_LEN + 1])
{
	char name[NAME_MAX_LEN + 1];
	name_sanitize(origin, name, sizeof name);
	snprintf(id, JOBID_MAX_LEN + 1, "%s@%s", name, peer);
	int jfd = job_dir_open(&sp, id);
	if (jfd < 0)
		return -1;
	struct job_route r;
	bool ours = job_route_read(jfd, &r) == 0 && !strcmp(r.origin, origin) && !strcmp(r.from, peer);
	job_route_free(&r);
	if (!ours) {
		close(jfd);
		return -1;
	}
	return jfd;
}

static void apply_cancel(const char *name, const char *origin)
{
	char id[JOBID_MAX_LEN + 1];
	int jfd = peer_job(origin, id);
	if (jfd >= 0) {
		close(jfd);
		char why[200];
		snprintf(why, sizeof why, "cancelled at site %s, which sent it", peer);
		enum job_state was;
		/* a site it went on to that is not told yet: hf-send tries again */
		if (job_cancel(&sp, id, why, &was) < 0 && was != STATE_NONE)
			die_errno(EXIT_TEMPFAIL, "unable to cancel %s", id);
		if (was != STATE_NONE && !state_is_final(was))
			sayj(id, -1, "%s cancelled (site %s asked)", id, peer);
	} else {
		warn("site %s cancelled %s, which it never sent here (or which is gone)", peer, origin);
	}
	unlinkat(in_fd, name, 0);
}

/* PEER asks for frames of a job it sent here again: from our copy, or,
 * when we no longer hold it, PEER is told so and sends the job again. */
static int apply_rerender(const char *name, const char *origin)
{
	char err[512], id[JOBID_MAX_LEN + 1], msg[600];
	struct ini *r = ini_load(in_fd, name, "rerender request", err, sizeof err);
	const char *job = r ? ini_get(r, "rerender", "job") : NULL, *frames = r ? ini_get(r, "rerender", "frames") : NULL;
	if (!job || !frames || strcmp(job, origin)) {
		refuse_file(name, r ? "it names another job, or no frames" : err);
		ini_free(r);
		return EXIT_OK;
	}
	int jfd = peer_job(origin, id), rc = EXIT_BADINPUT;
	if (jfd >= 0) {
		close(jfd);
		rc = steer_rerender_for_peer(&sp, id, frames, peer, msg, sizeof msg);
	} else {
		snprintf(msg, sizeof msg, "%s is not kept here any more", origin);
	}
	ini_free(r);
	char shown[700];
	text_escape(msg, shown, sizeof shown);
	if (rc == EXIT_TEMPFAIL) {
		warn("site %s asks for frames of %s again, not done yet: %s", peer, origin, shown);
		return EXIT_TEMPFAIL;
	}
	if (rc == EXIT_OK)
		sayj(id, -1, "site %s asks for frames again: %s", peer, shown);
	else if (site_answer_missing(&sp, peer, origin) < 0)
		return EXIT_TEMPFAIL;
	else
		say("site %s asks for frames of %s again; it is sent back whole: %s", peer, origin, shown);
	unlinkat(in_fd, name, 0);
	return EXIT_OK;
}

/* PEER no longer holds a job we asked it to render frames of again: the
 * job goes to it again (a delta against what it last received), for those
 * frames only. */
static void apply_missing(const char *name, const char *id)
{
	char refused_before[600], frames[1024], err[600] = "";
	int jobfd = sent_job(name, id, refused_before);
	if (jobfd < 0)
		return;
	if (!site_rerender_wanted(jobfd, frames, sizeof frames)) {
		refuse_file(name, "no re-render of it was asked for");
		close(jobfd);
		return;
	}
	/* (rerender.sent stays: the request is answered by sending the job) */
	if (job_file_remove(jobfd, JOB_FILE_OUTSOURCED_SENT) < 0)
		snprintf(err, sizeof err, "%s", strerror(errno));
	if (*err || site_pack_job(&sp, id, err, sizeof err) < 0) {
		warnj(id, -1, "%s: site %s no longer holds it, and it could not be sent again: %s", id, peer, err);
		close(jobfd);
		return; /* stays in in/: tried again */
	}
	sayj(id, -1, "%s: site %s no longer holds it; sent again for frames %s", id, peer, frames);
	unlinkat(in_fd, name, 0);
	close(jobfd);
}

static void apply_summary(const char *name)
{
	char err[512];
	struct ini *ini = ini_load(in_fd, name, "site.summary", err, sizeof err);
	const char *site = ini ? ini_get(ini, "summary", "site") : NULL;
	bool ok = site && !strcmp(site, peer);
	ini_free(ini);
	if (!ok) {
		refuse_file(name, ini ? "it names another site" : err);
		return;
	}
	if (site_in_keep_summary(&sp, peer, name) < 0)
		warn("unable to keep the summary of %s: %s", peer, strerror(errno));
}

static int run_intake(const char *name)
{
	const char *lx = getenv("HOTFARM_LIBEXECDIR");
	char *prog = xasprintf("%s/hf-intake", lx ? lx : HOTFARM_LIBEXECDIR);
	char *argv[] = {prog, "--spool", sp.path, "--from", (char *)peer, (char *)name, NULL};
	pid_t pid;
	int status = 0;
	int e = posix_spawn(&pid, prog, NULL, NULL, argv, environ);
	free(prog);
	if (e) {
		errno = e;
		die_errno(EXIT_TEMPFAIL, "unable to run hf-intake");
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_TEMPFAIL;
}

int main(int argc, char **argv)
{
	int first = spooler_main(argc, argv, "hf-collect",
				  "usage: hf-collect --spool DIR PEER\n"
				  "Take in what linked site PEER delivered into sites/PEER/in/: jobs to\n"
				  "render, answers for jobs sent there, progress, cancels, its summary.\n",
				  &sp);
	if (first != argc - 1)
		die(EXIT_BADINPUT, "usage: hf-collect --spool DIR PEER");
	peer = argv[first];
	if (!site_link_find(&sp, peer))
		die(EXIT_BADINPUT, "site '%s' is not linked to this site", peer);
	in_fd = site_dir_open(&sp, peer, SITE_IN);
	if (in_fd < 0) {
		char rel[PATH_MAX];
		site_dir_relpath(peer, SITE_IN, rel, sizeof rel);
		die_errno(EXIT_TEMPFAIL, "unable to open %s", rel);
	}
	struct strlist names = {0};
	dir_names(in_fd, ".", &names);
	strlist_sort(&names);
	int rc = EXIT_OK;
	for (size_t i = 0; i < names.n; i++) {
		const char *name = names.v[i];
		char id[JOBID_MAX_LEN + 1];
		struct stat st;
		if (fstatat(in_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode) || !site_file_name_ok(name))
			refuse_file(name, "not a regular file with a plain name");
		else if (!strcmp(name, SITE_SUMMARY))
			apply_summary(name);
		else if (strip(name, SITE_JOB, id)) {
			int r = run_intake(name);
			bool left = faccessat(in_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
			if (left && r == EXIT_BADINPUT)
				refuse_file(name, "hf-intake would not take it");
			else if (left)
				rc = EXIT_TEMPFAIL; /* the next rescan tries again */
		} else if (strip(name, SITE_RESULT, id))
			rc = apply_answer(name, id, false) == EXIT_OK ? rc : EXIT_TEMPFAIL;
		else if (strip(name, SITE_PROGRESS, id))
			rc = apply_answer(name, id, true) == EXIT_OK ? rc : EXIT_TEMPFAIL;
		else if (strip(name, SITE_REFUSED, id))
			apply_refused(name, id);
		else if (strip(name, SITE_CANCEL, id))
			apply_cancel(name, id);
		else if (strip(name, SITE_RERENDER, id))
			rc = apply_rerender(name, id) == EXIT_OK ? rc : EXIT_TEMPFAIL;
		else if (strip(name, SITE_MISSING, id))
			apply_missing(name, id);
		else
			refuse_file(name, "not a kind of file sites exchange");
	}
	strlist_free(&names);
	close(in_fd);
	spool_close(&sp);
	return rc;
}
