/* send.c - hf-send: what this site sends its linked sites. Jobs routed to
 * a site (outsourced/, not yet sent) are packed into sites/PEER/out/. A job
 * from PEER (entry NAME@PEER) that ended goes back as one result package
 * (frames, logs, tickets, billing) into sites/PEER/out/; one still
 * rendering sends its status and samples when they change (at most every
 * 2 s). Cancels of jobs this site sent away are forwarded, and what was
 * received longer ago than [site] retain_days is cleared. Markers in the
 * job folder (returned, progress.sent) make every step happen once. */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/retain.h"
#include "../layout/site.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct spool sp;

static int64_t age_of(const struct stat *st)
{
	return now_us() - ((int64_t)st->st_mtim.tv_sec * 1000000 + st->st_mtim.tv_nsec / 1000);
}

static int64_t age_us(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -1 : age_of(&st);
}

/* How long ago the job's marker F was written; -1 when there is none. */
static int64_t marker_age_us(int jfd, enum job_file f)
{
	struct stat st;
	return job_file_stat(jfd, f, &st) < 0 ? -1 : age_of(&st);
}

static void pack(const char *id)
{
	int jfd = job_dir_open(&sp, id);
	if (jfd < 0)
		return;
	bool sent = marker_age_us(jfd, JOB_FILE_OUTSOURCED_SENT) >= 0;
	close(jfd);
	char err[600];
	if (sent) {
		/* hotfarm rerender: the site renders frames again from its copy */
		int rc = site_ask_rerender(&sp, id);
		if (rc == 0)
			sayj(id, -1, "%s: its site is asked to render frames again", id);
		else if (rc < 0)
			warnj(id, -1, "unable to ask the site of %s to render frames again: %s", id, strerror(errno));
		return;
	}
	if (site_pack_job(&sp, id, err, sizeof err) < 0) {
		warnj(id, -1, "%s: %s", id, err);
		if (job_change_state(&sp, id, STATE_FAILED, err) == 0)
			sayj(id, -1, "%s failed: %s", id, err);
	} else {
		sayj(id, -1, "%s packed for its site", id);
	}
}

static void answer(const char *id, enum job_state s)
{
	int jfd = job_dir_open(&sp, id);
	if (jfd < 0)
		return;
	struct job_route r;
	struct job_status st;
	if (job_route_read(jfd, &r) < 0 || !*r.from || !*r.origin) {
		close(jfd);
		return;
	}
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	if (state_is_final(s)) {
		/* once for each end: a re-render the sender asked for ends again */
		char now[64], *was;
		size_t len;
		snprintf(now, sizeof now, "%s %lld", state_word(s), (long long)st.finished_us);
		was = job_file_read(jfd, JOB_FILE_RETURNED, sizeof now, &len);
		bool sent = was && !strcmp(was, now), old = was && !strchr(was, ' ');
		free(was);
		if (old) /* an earlier version's marker: this end went back */
			job_file_write(jfd, JOB_FILE_RETURNED, now, strlen(now));
		else if (!sent) {
			if (site_reply(&sp, r.from, r.origin, jfd, state_word(s), st.reason, false) == 0) {
				job_file_write(jfd, JOB_FILE_RETURNED, now, strlen(now));
				sayj(id, -1, "%s %s: the result goes back to site %s", id, state_word(s), r.from);
			} else {
				warnj(id, -1, "unable to pack the result of %s for site %s: %s", id, r.from, strerror(errno));
			}
		}
	} else if (s == STATE_QUEUED) {
		char now[700], *was;
		size_t len;
		/* and why it waits, while it does: the sender says so too */
		snprintf(now, sizeof now, "%s %ld %ld%s%s", st.state, st.frames_done, st.frames_failed,
			 strcmp(st.state, "rendering") ? " " : "", strcmp(st.state, "rendering") ? st.reason : "");
		was = job_file_read(jfd, JOB_FILE_PROGRESS_SENT, sizeof now, &len);
		int64_t age = marker_age_us(jfd, JOB_FILE_PROGRESS_SENT);
		if ((!was || strcmp(was, now)) && (age < 0 || age > 2000000)) {
			if (site_reply(&sp, r.from, r.origin, jfd, st.state, st.reason, true) == 0)
				job_file_write(jfd, JOB_FILE_PROGRESS_SENT, now, strlen(now));
		}
		free(was);
	}
	job_status_free(&st);
	job_route_free(&r);
	close(jfd);
}

/* What a killed hf-collect or hf-send left in work/ (collect.PID.TIME/,
 * site.PID.TIME.tar): its process is gone and it is a minute old. */
static void clear_work(void)
{
	int wfd = spool_fd(&sp, DIR_WORK);
	DIR *d = dir_open(wfd, ".");
	struct dirent *e;
	struct strlist stale = {0};
	while (d && (e = readdir(d))) {
		long pid = 0;
		const char *p = !strncmp(e->d_name, "collect.", 8) ? e->d_name + 8
				: !strncmp(e->d_name, "site.", 5)  ? e->d_name + 5
								   : NULL;
		if (!p || sscanf(p, "%ld.", &pid) != 1 || pid <= 0)
			continue;
		if ((kill((pid_t)pid, 0) == 0 || errno != ESRCH) || age_us(wfd, e->d_name) < 60000000LL)
			continue;
		strlist_add(&stale, e->d_name);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < stale.n; i++)
		if (tree_remove(wfd, stale.v[i]) == 0)
			say("cleared work/%s, left by a site spooler that was stopped", stale.v[i]);
	strlist_free(&stale);
}

static void retained(const struct retain_item *it, int rc, void *arg)
{
	(void)arg;
	if (rc == 0)
		sayj(it->id, -1, "%s removed: its result went back %lld days ago", it->id,
		     (long long)((now_us() - it->ended_us) / 86400000000LL));
	else
		warnj(it->id, -1, "unable to remove %s: %s", it->id, strerror(errno));
}

/* Jobs received from peers whose result went back long enough ago (the
 * housekeeping pass of retain.h, for them alone), and what hf-sync keeps
 * of each peer (sync bases, the contents it sent, their paths and names)
 * that nobody used for as long. */
static void retain(void)
{
	int64_t keep = sp.conf.retain_days * 86400LL * 1000000LL;
	struct retain_opts o = {.older_than_us = -1, .peers = true};
	if (retain_run(&sp, &o, retained, NULL) < 0 && errno != EAGAIN)
		warn("unable to clear the jobs received from linked sites: %s", strerror(errno));
	const enum site_sub kept[] = {SITE_BASIS, SITE_BASIS_SHA, SITE_BASIS_KNOWN, SITE_BASIS_PATHS, SITE_BASIS_NAMES};
	for (int p = 0; p < sp.conf.nlinks; p++)
		for (size_t k = 0; k < sizeof kept / sizeof *kept; k++) {
			int b = site_dir_open(&sp, sp.conf.links[p].name, kept[k]);
			DIR *d = b < 0 ? NULL : dir_open(b, ".");
			struct dirent *e;
			while (d && (e = readdir(d)))
				/* (a crash's leftover .NAME.PID.tmp too; a folder is no file to unlink) */
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && age_us(b, e->d_name) > keep)
					unlinkat(b, e->d_name, 0);
			if (d)
				closedir(d);
			if (b >= 0)
				close(b);
		}
}

int main(int argc, char **argv)
{
	int first = spooler_main(argc, argv, "hf-send",
				  "usage: hf-send --spool DIR [ID...]\n"
				  "Pack the jobs routed to linked sites; send those sites the results\n"
				  "and progress of the jobs they sent here; forward cancels of jobs\n"
				  "sent away; clear what is older than [site] retain_days. Without ID,\n"
				  "all that is due.\n",
				  &sp);
	if (first < argc) {
		for (int i = first; i < argc; i++) {
			char entry[ENTRY_MAX_LEN];
			enum job_state s = job_id_valid(argv[i]) ? job_find(&sp, argv[i], entry) : STATE_NONE;
			if (s == STATE_NONE)
				die(EXIT_BADINPUT, "no job '%s'", argv[i]);
			if (s == STATE_OUTSOURCED)
				pack(argv[i]);
			else
				answer(argv[i], s);
		}
		spool_close(&sp);
		return EXIT_OK;
	}
	enum job_state states[] = {STATE_OUTSOURCED, STATE_QUEUED, STATE_DONE, STATE_FAILED, STATE_CANCELLED};
	for (int k = 0; k < 5; k++) {
		struct strlist l = {0};
		state_list(&sp, states[k], &l);
		for (size_t i = 0; i < l.n; i++) {
			char id[JOBID_MAX_LEN + 1];
			if (!entry_parse(l.v[i], NULL, NULL, id))
				continue;
			if (states[k] == STATE_OUTSOURCED)
				pack(id);
			else if (strchr(id, '@'))
				answer(id, states[k]);
			if (states[k] == STATE_CANCELLED)
				site_forward_cancel(&sp, id);
		}
		strlist_free(&l);
	}
	retain();
	clear_work();
	spool_close(&sp);
	return EXIT_OK;
}
