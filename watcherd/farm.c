/* farm.c - the passes watcherd runs in a child (watcherd --farm-pass, --site-summaries): lost hosts' claims
 * back, queued jobs' status.ini, jobs whose last ticket is done finished, notices due printed for watcherd.
 * Distrusts each file it parses (host, job, notice, peer records): a bad one is skipped, a crash ends the pass. */
#define _GNU_SOURCE
#include "farm.h"
#include "../layout/host.h"
#include "../layout/quota.h"
#include "../layout/retain.h"
#include "../layout/ini.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"
#include "../layout/package.h"
#include "../layout/site.h"
#include "../layout/events.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The owners of the queued jobs this pass saw, for their quotas, and how
 * many of each one's quota tokens are held (-1: not counted yet; counted
 * once a pass, not once a job). */
static struct strlist owners;
static long *owners_held;

/* Why nothing of a job of OWNER renders though a host could: its quota is
 * used up ("" when not). */
static void quota_why(const struct spool *sp, const char *owner, char *why, size_t whysize)
{
	char limit[160];
	long q = quota_slots(&sp->conf, owner);
	if (q < 0 || !quota_limit_name(owner, NULL, limit, sizeof limit))
		return;
	size_t i = 0;
	while (i < owners.n && strcmp(owners.v[i], owner))
		i++;
	long held = i < owners.n && owners_held[i] >= 0 ? owners_held[i] : quota_held(sp, limit);
	if (i < owners.n)
		owners_held[i] = held;
	if (held >= q)
		snprintf(why, whysize, "waiting: %s already uses %ld of %ld slots ([quota] in conf/hotfarm.ini)", owner,
			 held, q);
}

/* The hosts not lost, for why_waiting. */
static struct host_record *hosts;
static bool *hosts_draining;
static size_t nhosts;

static void hosts_check(const struct spool *sp)
{
	for (size_t i = 0; i < nhosts; i++)
		host_free(&hosts[i]);
	nhosts = 0;
	struct strlist names = {0};
	host_list(sp, &names);
	hosts = xrealloc(hosts, (names.n ? names.n : 1) * sizeof *hosts);
	hosts_draining = xrealloc(hosts_draining, (names.n ? names.n : 1) * sizeof *hosts_draining);
	int64_t now = server_now_us(sp);
	for (size_t i = 0; i < names.n; i++) {
		struct host_record h;
		if (host_read(sp, names.v[i], &h) < 0)
			continue;
		int64_t age = now - h.heartbeat_us;
		if (!h.lost && h.heartbeat_us && age > sp->conf.host_timeout * 1000000LL) {
			int hfd = host_dir_open(sp, h.name, false);
			char text[200];
			char iso[32];
			time_iso(now_us(), iso);
			snprintf(text, sizeof text, "heartbeat %lld s old at %s; its frames were given back\n",
				 (long long)(age / 1000000), iso);
			if (hfd >= 0) {
				host_mark(hfd, HOST_LOST, text);
				close(hfd);
			}
			h.lost = true;
			events_record(sp, &(struct event){.kind = EVENT_HOST_LOST, .host = h.name, .reason = text});
			int n = host_release(sp, h.name);
			warn("host %s lost (heartbeat %lld s old, limit %ld s): %d claims given back", h.name,
			     (long long)(age / 1000000), sp->conf.host_timeout, n);
		}
		if (h.lost && !h.offline) {
			/* a lost host keeps nothing, also what it claims after */
			host_release(sp, h.name);
			host_free(&h);
			continue;
		}
		if (h.offline) {
			/* its agent stopped cleanly: it holds nothing, renders nothing */
			host_free(&h);
			continue;
		}
		hosts_draining[nhosts] = !strcmp(host_state(sp, &h, now), "draining");
		hosts[nhosts++] = h;
	}
	strlist_free(&names);
}

/* The packages a rescan has looked at, each read once per rescan: the
 * reason it does not read, "" when it does. */
static struct strlist pkg_names, pkg_errors;

static const char *package_error(const struct spool *sp, const char *name)
{
	for (size_t i = 0; i < pkg_names.n; i++)
		if (!strcmp(pkg_names.v[i], name))
			return pkg_errors.v[i];
	struct package p;
	char err[300] = "";
	if (package_load(spool_fd(sp, DIR_CONF), name, &p, err, sizeof err) == 0) {
		package_free(&p);
		*err = 0;
	}
	strlist_add(&pkg_names, name);
	strlist_add(&pkg_errors, err);
	return pkg_errors.v[pkg_errors.n - 1];
}

/* Why no host takes the job: "" when some live host could. */
static void why_waiting(const struct spool *sp, int jfd, const struct job_desc *jd, char *why, size_t whysize)
{
	/* a limit with no token at all is never free: say so, not "a slot" */
	struct strlist limits = {0};
	job_desc_limits(jd, &limits);
	for (size_t i = 0; i < limits.n; i++)
		if (!limit_has_tokens(sp, limits.v[i])) {
			snprintf(why, whysize,
				 "waiting: limit '%.64s' has no tokens (an admin adds one per license: touch limits/%.64s/1)",
				 limits.v[i], limits.v[i]);
			strlist_free(&limits);
			return;
		}
	strlist_free(&limits);
	/* a package that no longer reads (edited since the job came in): no
	 * host takes its jobs until an admin mends it */
	const char *perr = package_error(sp, jd->package);
	if (*perr) {
		snprintf(why, whysize, "waiting: package '%.64s' cannot be read (%s)", jd->package, perr);
		return;
	}
	if (nhosts == 0) {
		snprintf(why, whysize, "waiting: no render host is running");
		return;
	}
	char first[300] = "", drained[64] = "";
	int blocked = 0;
	for (size_t i = 0; i < nhosts; i++) {
		char w[300];
		if (host_matches(&hosts[i], jd, w, sizeof w)) {
			if (hosts_draining[i]) {
				snprintf(drained, sizeof drained, "%s", hosts[i].name);
				continue;
			}
			if (!job_host_blocked(jfd, hosts[i].name)) {
				*why = 0;
				return;
			}
			blocked++;
			continue;
		}
		if (!*first)
			snprintf(first, sizeof first, "%s", w);
	}
	if (*drained)
		snprintf(why, whysize, "waiting: every host that could render it is draining (%s; hotfarm undrain %s)",
			 drained, drained);
	else if (blocked)
		snprintf(why, whysize,
			 "waiting: every host that could render it failed too many of its frames "
			 "(remove the markers in its blocked/ folder to let them try again)");
	else if (!strncmp(first, "pool ", 5))
		snprintf(why, whysize, "waiting: no host in %s", first);
	else
		snprintf(why, whysize, "waiting: no host has %s", first);
}

/* An `auto` job no host here can render goes back to route once a linked
 * site can take it (its summary may have come after the job). */
static bool maybe_elsewhere(const struct spool *sp, const char *name, int jfd, const struct job_desc *jd)
{
	struct strlist avoid = {0};
	job_avoid(sp, jfd, &avoid);
	char peer[SITE_NAME_MAX + 1], why[600];
	bool moved = false;
	if (site_choose(sp, jd, "auto", &avoid, peer, why, sizeof why) == 0 &&
	    job_change_state(sp, name, STATE_NEW, "no host here can render it; a linked site can") == 0) {
		sayj(name, -1, "%s: no host here can render it; routing it again (site %s can)", name, peer);
		moved = true;
	}
	strlist_free(&avoid);
	return moved;
}

/* the jobs queued jobs wait for, each looked at once a pass */
static void *deps_seen;

static void job_update(const struct spool *sp, const char *name, long ahead)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return;
	struct job_counts c;
	if (counts_get(jfd, name, &c) < 0) {
		close(jfd);
		return;
	}
	if (c.todo == 0 && c.active == 0) {
		close(jfd);
		if (job_try_finish(sp, name) == 1)
			sayj(name, -1, "%s finished (its last frame was done)", name);
		return;
	}
	struct job_status st;
	if (job_status_read(jfd, &st) < 0) {
		close(jfd);
		return;
	}
	if (*st.owner && !strlist_has(&owners, st.owner)) {
		strlist_add(&owners, st.owner);
		owners_held = xrealloc(owners_held, owners.n * sizeof *owners_held);
		owners_held[owners.n - 1] = -1;
	}
	char state[16], reason[512];
	if (c.active > 0) {
		snprintf(state, sizeof state, "rendering");
		snprintf(reason, sizeof reason, "rendering on %ld slot%s; %ld of %ld tickets done", c.active,
			 c.active == 1 ? "" : "s", c.done, c.todo + c.active + c.done + c.failed);
	} else {
		snprintf(state, sizeof state, "queued");
		char err[512];
		struct job_desc jd;
		char why[400] = "";
		if (job_desc_load(jfd, &jd, err, sizeof err) == 0) {
			int deps = jd.after.n ? job_deps_ready_memo(sp, &deps_seen, &jd.after, why, sizeof why) : 1;
			if (deps < 0) {
				/* what it waits for will never be done: neither will it */
				char reason2[600];
				snprintf(reason2, sizeof reason2, "%s", why);
				job_desc_free(&jd);
				job_status_free(&st);
				close(jfd);
				if (job_change_state(sp, name, STATE_FAILED, reason2) == 0)
					sayj(name, -1, "%s failed: %s", name, reason2);
				return;
			}
			bool later = deps == 1 && job_not_yet(&jd, why, sizeof why);
			if (deps == 1 && !later) {
				why_waiting(sp, jfd, &jd, why, sizeof why);
				if (!*why)
					quota_why(sp, st.owner, why, sizeof why);
			} else {
				snprintf(state, sizeof state, "waiting");
			}
			if (deps == 1 && !later && *why && !strcmp(jd.site, "auto") && sp->conf.nlinks && c.done == 0 &&
			    maybe_elsewhere(sp, name, jfd, &jd)) {
				job_desc_free(&jd);
				job_status_free(&st);
				close(jfd);
				return;
			}
			job_desc_free(&jd);
		}
		if (*why)
			snprintf(reason, sizeof reason, "%s", why);
		else if (ahead)
			snprintf(reason, sizeof reason, "queued; waiting for a free render slot (%ld job%s ahead)", ahead,
				 ahead == 1 ? "" : "s");
		else
			snprintf(reason, sizeof reason, "queued; waiting for a free render slot");
	}
	long done_frames = st.frames_total && c.todo + c.active + c.done + c.failed == st.tickets
				   ? c.done * st.frames_total / (st.tickets ? st.tickets : 1)
				   : c.done;
	if (strcmp(st.state, state) || strcmp(st.reason, reason) || st.frames_done != done_frames) {
		if (!strcmp(state, "rendering") && !st.started_us)
			st.started_us = now_us();
		snprintf(st.state, sizeof st.state, "%s", state);
		snprintf(st.reason, sizeof st.reason, "%s", reason);
		st.frames_done = done_frames;
		st.updated_us = now_us();
		/* only while it is still queued: its last ticket may have
		 * finished since we counted, and its final status be written */
		int lock = job_status_lock(jfd);
		char entry[ENTRY_MAX_LEN];
		if (job_find(sp, name, entry) == STATE_QUEUED)
			job_status_write(jfd, &st);
		if (lock >= 0)
			close(lock);
	}
	job_status_free(&st);
	close(jfd);
}

/* Mark hosts whose heartbeat stopped as lost and give their frames and
 * tokens back; bring each queued job's status.ini up to date (counts,
 * rendering or why it waits); finish jobs whose last ticket is done. */
/* Each owner of a queued job has its quotas' tokens, as many as the
 * quotas say: this pass is their one maker (quota.h). */
static void quotas_keep(const struct spool *sp)
{
	const struct site_conf *c = &sp->conf;
	for (size_t i = 0; i < owners.n; i++) {
		char limit[160];
		long q = quota_slots(c, owners.v[i]);
		if (q >= 0 && quota_limit_name(owners.v[i], NULL, limit, sizeof limit))
			quota_keep(sp, limit, q);
		for (int k = 0; k < c->nquotas; k++)
			if (!strncmp(c->quotas[k].who, "pool:", 5) &&
			    quota_limit_name(owners.v[i], c->quotas[k].who + 5, limit, sizeof limit))
				quota_keep(sp, limit, c->quotas[k].slots);
	}
	strlist_free(&owners);
}

static void farm_rescan(const struct spool *sp)
{
	hosts_check(sp);
	counts_load(sp);
	strlist_free(&pkg_names);
	strlist_free(&pkg_errors);
	struct strlist l = {0};
	state_list(sp, STATE_QUEUED, &l);
	for (size_t i = 0; i < l.n; i++) {
		char name[JOBID_MAX_LEN + 1];
		if (entry_parse(l.v[i], NULL, NULL, name))
			job_update(sp, name, (long)i);
	}
	strlist_free(&l);
	deps_memo_free(&deps_seen);
	counts_save(sp);
	quotas_keep(sp);
}

/* What the log says went out: a bit per event, and the last time. */
enum { SENT_ACCEPTED = 1, SENT_SAMPLES = 2, SENT_FINAL = 4 };

static int sent_events(int jfd, int64_t *last_us)
{
	size_t len;
	char *text = job_file_read(jfd, JOB_FILE_NOTICES, 64 << 20, &len);
	int sent = 0;
	*last_us = 0;
	if (!text)
		return 0;
	for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "=== ", 4))
			continue;
		if (!strncmp(p + 4, "accepted ", 9))
			sent |= SENT_ACCEPTED;
		else if (!strncmp(p + 4, "samples ", 8))
			sent |= SENT_SAMPLES;
		else if (!strncmp(p + 4, "final ", 6))
			sent |= SENT_FINAL;
	}
	free(text);
	struct stat st;
	if (job_file_stat(jfd, JOB_FILE_NOTICES, &st) == 0)
		*last_us = (int64_t)st.st_mtim.tv_sec * 1000000;
	return sent;
}

static void notices_for(const struct spool *sp, const char *name, enum job_state state, struct strlist *out)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return;
	struct stat sst;
	if (state_is_final(state) &&
	    (job_file_stat(jfd, JOB_FILE_STATUS, &sst) < 0 || now_us() / 1000000 - sst.st_mtim.tv_sec > 3600)) {
		close(jfd); /* long over: told, or never to be */
		return;
	}
	char err[256];
	struct job_desc jd;
	if (job_desc_load(jfd, &jd, err, sizeof err) < 0) {
		close(jfd);
		return;
	}
	/* an address in job.ini, or one the site knows for every owner */
	bool mailed = *jd.email || *sp->conf.notify_address || sp->conf.naddresses;
	job_desc_free(&jd);
	if (!mailed) {
		close(jfd);
		return;
	}
	int64_t last;
	int sent = sent_events(jfd, &last);
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	const char *event = NULL;
	long samples = st.frames_total < CONTACT_SAMPLES ? st.frames_total : CONTACT_SAMPLES;
	/* the samples go once the contact sheet shows them all (it is made
	 * at most twice a second, and may lag the frames done) */
	bool sheet = job_contact_holds(jfd) >= samples;
	if (!(sent & SENT_ACCEPTED))
		event = "accepted";
	else if (state_is_final(state) && !(sent & SENT_FINAL))
		event = "final";
	else if (!(sent & SENT_SAMPLES) && sheet && st.frames_done >= samples && samples > 0)
		event = "samples";
	else if (!state_is_final(state) && sp->conf.notify_progress && (sent & SENT_SAMPLES) &&
		 !strcmp(st.state, "rendering") && now_us() - last > sp->conf.notify_progress * 1000000LL)
		event = "progress";
	if (event)
		strlist_take(out, xasprintf("%s\t%s", name, event));
	job_status_free(&st);
	close(jfd);
}

/* Notices due ("NAME\tEVENT": accepted, samples, progress, final) for jobs
 * with an email, judged from what jobs/NAME/notifications.log says went out. */
static void farm_notices(const struct spool *sp, struct strlist *out)
{
	if (!*sp->conf.notify_command)
		return;
	enum job_state states[] = {STATE_QUEUED, STATE_HELD, STATE_OUTSOURCED, STATE_DONE, STATE_FAILED, STATE_CANCELLED};
	for (size_t k = 0; k < 6; k++) {
		struct strlist l = {0};
		state_list(sp, states[k], &l);
		for (size_t i = 0; i < l.n; i++) {
			char name[JOBID_MAX_LEN + 1];
			if (entry_parse(l.v[i], NULL, NULL, name))
				notices_for(sp, name, states[k], out);
		}
		strlist_free(&l);
	}
}

static void retained(const struct retain_item *it, int rc, void *arg)
{
	(void)arg;
	const char *what = spool_dir_name(it->rejected ? DIR_REJECTED : DIR_JOBS);
	char ended[32];
	time_iso(it->ended_us, ended);
	if (rc < 0)
		warnj(it->id, -1, "unable to remove %s/%s: %s", what, it->id, strerror(errno));
	else if (*it->archived)
		sayj(it->id, -1, "%s/%s (ended %s) archived as %s", what, it->id, ended, it->archived);
	else
		sayj(it->id, -1, "%s/%s (ended %s) removed: its [retain] days are over", what, it->id, ended);
}

int clean_main(const char *spool)
{
	spooler_start(); /* dies with watcherd */
	struct spool sp;
	char err[1024];
	if (spool_open(spool ? spool : spool_default(), &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	/* no wait: a clean by hand that runs does the same */
	struct store_gc gc;
	struct retain_opts o = {.older_than_us = -1, .local = true, .store = &gc};
	long n = retain_run(&sp, &o, retained, NULL);
	if (n >= 0 && gc.removed)
		say("%s/: removed %ld content%s no job holds any more (%.1f MB)", spool_file_name(SPOOL_FILE_STORE),
		    gc.removed, gc.removed == 1 ? "" : "s", (double)gc.removed_bytes / 1e6);
	if (n < 0 && errno != EAGAIN)
		die_errno(EXIT_TEMPFAIL, "unable to clean %s%s%s", sp.path, *sp.conf.archive ? " into [retain] archive = " : "",
			  sp.conf.archive);
	spool_close(&sp);
	return EXIT_OK;
}

int farm_main(const char *spool, bool summaries)
{
	spooler_start(); /* dies with watcherd */
	struct spool sp;
	char err[1024];
	if (spool_open(spool ? spool : spool_default(), &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	if (summaries) {
		site_summaries_write(&sp);
	} else {
		farm_rescan(&sp);
		struct strlist due = {0};
		farm_notices(&sp, &due);
		for (size_t i = 0; i < due.n; i++)
			printf("%s\n", due.v[i]);
		strlist_free(&due);
		if (fflush(stdout) == EOF || ferror(stdout))
			die_errno(EXIT_TEMPFAIL, "unable to write the notices due");
	}
	for (size_t i = 0; i < nhosts; i++)
		host_free(&hosts[i]);
	free(hosts);
	spool_close(&sp);
	return EXIT_OK;
}
