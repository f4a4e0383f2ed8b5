/* siteload.c - the small summary every site sends each peer every few
 * seconds (its live hosts with their packages, and hosts it can reach
 * through its own links; its load), and the choice it feeds: can this
 * site render a job soon enough, and if not, which linked site should.
 * A summary from a peer is untrusted: read through the ini guard, each
 * host name and number checked. */
#define _GNU_SOURCE
#include "site.h"
#include "ini.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HOPS 4

/* ---- a job's route, sending, refusing, cancelling ----------------------------- */

int job_route_read(int jobfd, struct job_route *r)
{
	memset(r, 0, sizeof *r);
	char err[256];
	struct ini *ini = job_file_ini(jobfd, JOB_FILE_DESC, err, sizeof err);
	if (!ini)
		return -1;
	const char *v;
	if ((v = ini_get(ini, "route", "from")) && name_is_valid(v) && strlen(v) <= SITE_NAME_MAX)
		snprintf(r->from, sizeof r->from, "%s", v);
	if ((v = ini_get(ini, "route", "job")) && job_id_valid(v))
		snprintf(r->origin, sizeof r->origin, "%s", v);
	if ((v = ini_get(ini, "route", "hops"))) {
		char *copy = xstrdup(v), *save = NULL;
		for (char *h = strtok_r(copy, ", ", &save); h && r->hops.n < 32; h = strtok_r(NULL, ", ", &save))
			if (name_is_valid(h) && strlen(h) <= SITE_NAME_MAX)
				strlist_add(&r->hops, h);
		free(copy);
	}
	ini_free(ini);
	return 0;
}

void job_route_free(struct job_route *r) { strlist_free(&r->hops); }

void job_avoid(const struct spool *sp, int jobfd, struct strlist *avoid)
{
	struct job_route r;
	job_route_read(jobfd, &r);
	for (size_t i = 0; i < r.hops.n; i++)
		strlist_add(avoid, r.hops.v[i]);
	job_route_free(&r);
	strlist_add(avoid, sp->conf.name);
	char err[256];
	struct ini *o = job_file_ini(jobfd, JOB_FILE_OUTSOURCED, err, sizeof err);
	const char *refused = o ? ini_get(o, "outsourced", "refused") : NULL;
	if (refused) {
		char *copy = xstrdup(refused), *save = NULL;
		for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
			strlist_add(avoid, t);
		free(copy);
	}
	ini_free(o);
}

int site_outsource(const struct spool *sp, const char *id, const char *peer, char *err, size_t errsize)
{
	if (!site_link_find(sp, peer)) {
		snprintf(err, errsize, "site '%s' is not linked to this site (%s)", peer, sp->conf.name);
		return -1;
	}
	int jfd = job_dir_open(sp, id);
	if (jfd < 0) {
		snprintf(err, errsize, "no job folder for %s: %s", id, strerror(errno));
		return -1;
	}
	char e2[256], refused[600] = "", iso[32];
	struct ini *old = job_file_ini(jfd, JOB_FILE_OUTSOURCED, e2, sizeof e2);
	if (old && ini_get(old, "outsourced", "refused"))
		snprintf(refused, sizeof refused, "%s", ini_get(old, "outsourced", "refused"));
	ini_free(old);
	time_iso(now_us(), iso);
	struct buf b = {0};
	buf_printf(&b, "# where this job was sent to render\n[outsourced]\nsite = %s\nchosen = %s\n", peer, iso);
	if (*refused)
		buf_printf(&b, "refused = %s\n", refused);
	unlinkat(jfd, job_file_name(JOB_FILE_OUTSOURCED_SENT), 0);
	unlinkat(jfd, job_file_name(JOB_FILE_CANCEL_SENT), 0);
	int rc = job_file_write(jfd, JOB_FILE_OUTSOURCED, b.data, b.len);
	buf_free(&b);
	close(jfd);
	char why[200];
	snprintf(why, sizeof why, "going to site %s", peer);
	if (rc < 0 || job_change_state(sp, id, STATE_OUTSOURCED, why) < 0) {
		snprintf(err, errsize, "unable to send it to site %s: %s", peer, strerror(errno));
		return -1;
	}
	return 0;
}

int site_refuse(const struct spool *sp, const char *peer, const char *origin, const char *reason)
{
	char q[1100], name[JOBID_MAX_LEN + 16];
	struct buf b = {0};
	buf_printf(&b, "[refused]\nsite = %s\njob = %s\nreason = %s\n", sp->conf.name, origin,
		   ini_quote(reason, q, sizeof q));
	snprintf(name, sizeof name, "%s%s", origin, SITE_REFUSED);
	int rc = site_out_write(sp, peer, name, b.data, b.len);
	buf_free(&b);
	return rc;
}

int site_forward_cancel(const struct spool *sp, const char *id)
{
	int jfd = job_dir_open(sp, id);
	if (jfd < 0)
		return -1;
	char err[256];
	int rc = 0;
	struct ini *ini = job_file_ini(jfd, JOB_FILE_OUTSOURCED, err, sizeof err);
	const char *peer = ini ? ini_get(ini, "outsourced", "site") : NULL;
	struct stat st;
	if (peer && site_link_find(sp, peer) && job_file_stat(jfd, JOB_FILE_CANCEL_SENT, &st) < 0) {
		char name[JOBID_MAX_LEN + 16];
		snprintf(name, sizeof name, "%s%s", id, SITE_CANCEL);
		rc = site_out_write(sp, peer, name, "cancel\n", 7);
		if (rc == 0)
			rc = job_file_write(jfd, JOB_FILE_CANCEL_SENT, peer, strlen(peer));
	}
	ini_free(ini);
	close(jfd);
	return rc;
}

/* ---- this site's hosts ---------------------------------------------------- */

struct live {
	struct host_record *h;
	size_t n;
	long slots, busy;
};

static void live_hosts(const struct spool *sp, struct live *l)
{
	memset(l, 0, sizeof *l);
	struct strlist names = {0};
	host_list(sp, &names);
	l->h = xcalloc(names.n ? names.n : 1, sizeof *l->h);
	int64_t now = server_now_us(sp);
	for (size_t i = 0; i < names.n; i++) {
		struct host_record h;
		if (host_read(sp, names.v[i], &h) < 0)
			continue;
		/* a desktop whose user is at it ([agent] nimby) takes no frames */
		if (h.lost || now - h.heartbeat_us > sp->conf.host_timeout * 1000000LL || strcmp(host_state(sp, &h, now), "up") ||
		    (h.nimby && !h.nimby_away)) {
			host_free(&h);
			continue;
		}
		long slots = 0;
		const char *s = host_get(&h, "slots");
		if (!s || !parse_long(s, 0, 4096, &slots))
			slots = 1;
		l->slots += slots;
		int hfd = host_dir_open(sp, h.name, false);
		for (long k = 0; hfd >= 0 && k < slots; k++) {
			struct slot_view v;
			if (slot_read(hfd, (int)k, &v) == 0 && *v.state && strcmp(v.state, "idle"))
				l->busy++;
		}
		if (hfd >= 0)
			close(hfd);
		l->h[l->n++] = h;
	}
	strlist_free(&names);
}

static void live_free(struct live *l)
{
	for (size_t i = 0; i < l->n; i++)
		host_free(&l->h[i]);
	free(l->h);
}

/* Frames waiting in queue/ ahead of a job of PRIORITY (at most 2000 jobs
 * looked at), the jobs queued, and (MEAN not NULL) the mean seconds a
 * frame took here lately. */
static void queue_load(const struct spool *sp, int priority, long *frames, double *mean, size_t *queued)
{
	struct strlist q = {0};
	state_list(sp, STATE_QUEUED, &q);
	*queued = q.n;
	*frames = 0;
	double wall = 0;
	long timed = 0;
	for (size_t i = 0; i < q.n && i < 2000; i++) {
		int p;
		char id[JOBID_MAX_LEN + 1];
		if (!entry_parse(q.v[i], &p, NULL, id) || p > priority)
			continue;
		int jfd = job_dir_open(sp, id);
		if (jfd < 0)
			continue;
		*frames += ticket_count(jfd, TICKET_TODO) + ticket_count(jfd, TICKET_ACTIVE);
		/* the billing lines of a few done tickets say how long frames take
		 * (the first line of each; the folder read only as far as needed) */
		char done[32];
		snprintf(done, sizeof done, "%s/%s", job_dir_name(JOB_DIR_FRAMES), ticket_dir_name(TICKET_DONE));
		DIR *d = mean && timed < 50 ? dir_open(jfd, done) : NULL;
		struct dirent *e;
		while (d && (e = readdir(d)) && timed < 50) {
			struct ticket t;
			if (e->d_name[0] == '.' || ticket_load(jfd, TICKET_DONE, e->d_name, &t) < 0)
				continue;
			if (t.nbills) {
				wall += t.bills[0].wall;
				timed++;
			}
			ticket_free(&t);
		}
		if (d)
			closedir(d);
		close(jfd);
	}
	strlist_free(&q);
	if (mean)
		*mean = timed ? wall / (double)timed : 60.0;
}

enum site_can site_local_can(const struct spool *sp, const struct job_desc *jd, char *why, size_t whysize,
			     long *wait)
{
	struct live l;
	live_hosts(sp, &l);
	long slots = 0;
	for (size_t i = 0; i < l.n; i++) {
		char w[300];
		if (host_matches(&l.h[i], jd, w, sizeof w)) {
			long s = 1;
			const char *v = host_get(&l.h[i], "slots");
			if (v)
				parse_long(v, 1, 4096, &s);
			slots += s;
		}
	}
	live_free(&l);
	if (slots) {
		if (wait) {
			long frames;
			double mean;
			size_t queued;
			queue_load(sp, jd->priority, &frames, &mean, &queued);
			*wait = (long)((double)frames * mean / (double)slots);
		}
		*why = 0;
		return SITE_NOW;
	}
	/* none live can: has any host of this site ever offered what it
	 * needs? (an agent that stopped keeps its record) */
	struct strlist names = {0};
	host_list(sp, &names);
	enum site_can can = SITE_LATER;
	size_t known = 0;
	char first[300] = "", able[80] = "";
	for (size_t i = 0; i < names.n; i++) {
		struct host_record h;
		if (host_read(sp, names.v[i], &h) < 0)
			continue;
		known++;
		char w[300];
		if (host_matches(&h, jd, w, sizeof w)) {
			if (!*able)
				snprintf(able, sizeof able, "%s", h.name);
		} else if (!*first) {
			snprintf(first, sizeof first, "%s", w);
		}
		host_free(&h);
	}
	strlist_free(&names);
	if (!known)
		snprintf(why, whysize, "no render host has registered here yet");
	else if (*able)
		snprintf(why, whysize, "no host that can render it is running here now (%s could)", able);
	else {
		snprintf(why, whysize, "no host here has %s", first);
		can = SITE_CANNOT;
	}
	return can;
}

/* ---- summaries ----------------------------------------------------------------- */

static void host_section(struct buf *b, const char *site, const struct host_record *h, int hops)
{
	char q[600];
	buf_printf(b, "\n[host %s %s]\nsite = %s\nhops = %d\n", site, h->name, site, hops);
	for (size_t k = 0; k < h->keys.n; k++)
		if (strcmp(h->keys.v[k], "site") && strcmp(h->keys.v[k], "hops") && strncmp(h->keys.v[k], "package.", 8))
			buf_printf(b, "%s = %s\n", h->keys.v[k], ini_quote(h->values.v[k], q, sizeof q));
	for (size_t k = 0; k < h->packages.n; k++)
		buf_printf(b, "package.%s = %s\n", h->packages.v[k], ini_quote(h->versions.v[k], q, sizeof q));
}

void site_summaries_write(const struct spool *sp)
{
	if (!sp->conf.nlinks)
		return;
	struct live l;
	live_hosts(sp, &l);
	long frames;
	size_t queued;
	queue_load(sp, 999, &frames, NULL, &queued);
	/* what this site reaches through its other links: each peer's last
	 * summary, read once */
	struct site_summary *other = xcalloc((size_t)sp->conf.nlinks, sizeof *other);
	bool *have = xcalloc((size_t)sp->conf.nlinks, sizeof *have);
	for (int o = 0; o < sp->conf.nlinks; o++)
		have[o] = site_summary_read(sp, sp->conf.links[o].name, &other[o]) == 0;
	for (int p = 0; p < sp->conf.nlinks; p++) {
		const char *peer = sp->conf.links[p].name;
		struct buf b = {0};
		buf_printf(&b, "# what site %s can render, and how busy it is\n[summary]\nsite = %s\ntime_us = %lld\n"
			       "hosts = %zu\nslots = %ld\nbusy = %ld\nqueued_jobs = %zu\nframes_waiting = %ld\n",
			   sp->conf.name, sp->conf.name, (long long)now_us(), l.n, l.slots, l.busy, queued, frames);
		for (size_t i = 0; i < l.n && i < 500; i++)
			host_section(&b, sp->conf.name, &l.h[i], 1);
		for (int o = 0; o < sp->conf.nlinks; o++) {
			if (o == p || !have[o])
				continue;
			const struct site_summary *s = &other[o];
			for (size_t i = 0; i < s->nhost && i < 500; i++) {
				char site[SITE_NAME_MAX + 1];
				const char *slash = strchr(s->host[i].name, '/');
				snprintf(site, sizeof site, "%.*s", slash ? (int)(slash - s->host[i].name) : 0, s->host[i].name);
				if (s->hops[i] >= MAX_HOPS || !strcmp(site, peer) || !strcmp(site, sp->conf.name))
					continue;
				/* the same record, named HOST (its section names the site) */
				struct host_record h = s->host[i];
				snprintf(h.name, sizeof h.name, "%s", slash + 1);
				host_section(&b, site, &h, s->hops[i] + 1);
			}
		}
		if (site_out_write(sp, peer, SITE_SUMMARY, b.data, b.len) < 0)
			warn("unable to write sites/%s/out/%s: %s", peer, SITE_SUMMARY, strerror(errno));
		buf_free(&b);
	}
	for (int o = 0; o < sp->conf.nlinks; o++)
		if (have[o])
			site_summary_free(&other[o]);
	free(other);
	free(have);
	live_free(&l);
}

int site_summary_read(const struct spool *sp, const char *peer, struct site_summary *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->site, sizeof s->site, "%s", peer);
	struct stat st;
	struct ini *ini = site_summary_ini(sp, peer, &st);
	if (!ini)
		return -1;
	s->received_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	const char *v;
	long *nums[] = {&s->hosts, &s->slots, &s->busy, &s->queued_jobs, &s->frames_waiting};
	const char *numkeys[] = {"hosts", "slots", "busy", "queued_jobs", "frames_waiting"};
	for (int i = 0; i < 5; i++)
		if ((v = ini_get(ini, "summary", numkeys[i])))
			parse_long(v, 0, 1000000000, nums[i]);
	const char **secs;
	size_t ns = ini_sections(ini, &secs);
	s->host = xcalloc(ns ? ns : 1, sizeof *s->host);
	s->hops = xcalloc(ns ? ns : 1, sizeof *s->hops);
	for (size_t i = 0; i < ns && s->nhost < 2000; i++) {
		if (strncmp(secs[i], "host ", 5))
			continue;
		const char *full = secs[i] + 5, *slash = strchr(full, ' ');
		if (!slash || slash == full || (size_t)(slash - full) > SITE_NAME_MAX || !name_is_valid(slash + 1) ||
		    strlen(full) >= sizeof s->host[0].name)
			continue;
		char site[SITE_NAME_MAX + 1];
		snprintf(site, sizeof site, "%.*s", (int)(slash - full), full);
		long hops = 0;
		if (!name_is_valid(site) || !(v = ini_get(ini, secs[i], "hops")) || !parse_long(v, 1, MAX_HOPS, &hops))
			continue;
		struct host_record *h = &s->host[s->nhost];
		memset(h, 0, sizeof *h);
		snprintf(h->name, sizeof h->name, "%.*s/%s", (int)(slash - full), full, slash + 1);
		const char **keys;
		size_t nk = ini_keys(ini, secs[i], &keys);
		for (size_t k = 0; k < nk; k++) {
			const char *val = ini_get(ini, secs[i], keys[k]);
			if (!strncmp(keys[k], "package.", 8)) {
				strlist_add(&h->packages, keys[k] + 8);
				strlist_add(&h->versions, val);
			} else if (strcmp(keys[k], "hops")) {
				strlist_add(&h->keys, keys[k]);
				strlist_add(&h->values, val);
			}
		}
		s->hops[s->nhost++] = (int)hops;
	}
	ini_free(ini);
	return 0;
}

void site_summary_free(struct site_summary *s)
{
	for (size_t i = 0; i < s->nhost; i++)
		host_free(&s->host[i]);
	free(s->host);
	free(s->hops);
	memset(s, 0, sizeof *s);
}

/* ---- choosing -------------------------------------------------------------------- */

int site_choose(const struct spool *sp, const struct job_desc *jd, const char *want, const struct strlist *avoid,
		char peer[SITE_NAME_MAX + 1], char *why, size_t whysize)
{
	bool any = !strcmp(want, "auto");
	double best = 0;
	int found = 0;
	struct buf reasons = {0};
	int64_t fresh = (sp->conf.summary_interval * 4 > 30 ? sp->conf.summary_interval * 4 : 30) * 1000000LL;
	for (int p = 0; p < sp->conf.nlinks; p++) {
		const char *name = sp->conf.links[p].name;
		if (strlist_has(avoid, name)) {
			buf_printf(&reasons, "%s%s has had it already", reasons.len ? "; " : "", name);
			continue;
		}
		struct site_summary s;
		if (site_summary_read(sp, name, &s) < 0) {
			buf_printf(&reasons, "%s%s has sent no summary yet", reasons.len ? "; " : "", name);
			continue;
		}
		if (now_us() - s.received_us > fresh) {
			buf_printf(&reasons, "%s%s has been silent for %lld s", reasons.len ? "; " : "", name,
				   (long long)((now_us() - s.received_us) / 1000000));
			site_summary_free(&s);
			continue;
		}
		int hops = 0;
		char lack[300] = "";
		for (size_t i = 0; i < s.nhost; i++) {
			char site[SITE_NAME_MAX + 1], w[300];
			const char *slash = strchr(s.host[i].name, '/');
			snprintf(site, sizeof site, "%.*s", (int)(slash - s.host[i].name), s.host[i].name);
			if (strlist_has(avoid, site) || !strcmp(site, sp->conf.name) || (!any && strcmp(site, want)))
				continue;
			if (host_matches(&s.host[i], jd, w, sizeof w)) {
				if (!hops || s.hops[i] < hops)
					hops = s.hops[i];
			} else if (!*lack) {
				snprintf(lack, sizeof lack, "%s", w);
			}
		}
		if (!hops) {
			if (any)
				buf_printf(&reasons, "%s%s has no host with %s", reasons.len ? "; " : "", name,
					   *lack ? lack : "anything to render with");
			else
				buf_printf(&reasons, "%s%s does not reach site %s", reasons.len ? "; " : "", name, want);
			site_summary_free(&s);
			continue;
		}
		/* fewer hops first, then the shortest wait per free slot */
		double score = hops * 1e9 + (double)s.frames_waiting / (double)(s.slots > 0 ? s.slots : 1) -
			       (double)(s.slots - s.busy) * 1e-3;
		if (!found || score < best) {
			best = score;
			snprintf(peer, SITE_NAME_MAX + 1, "%s", name);
			found = 1;
		}
		site_summary_free(&s);
	}
	if (!found)
		snprintf(why, whysize, "%s", reasons.len ? reasons.data : "this site has no linked sites");
	buf_free(&reasons);
	return found ? 0 : -1;
}

int job_cancel(const struct spool *sp, const char *id, const char *reason, enum job_state *was)
{
	char entry[ENTRY_MAX_LEN];
	*was = job_find(sp, id, entry);
	if (*was == STATE_NONE) {
		errno = ENOENT;
		return -1;
	}
	if (state_is_final(*was))
		return 0;
	if (job_change_state(sp, id, STATE_CANCELLED, reason) < 0)
		return -1;
	return *was == STATE_OUTSOURCED && site_forward_cancel(sp, id) < 0 ? 1 : 0;
}

int job_cancel_say(const struct spool *sp, const char *id, const char *reason)
{
	enum job_state was;
	int rc = job_cancel(sp, id, reason, &was);
	if (was == STATE_NONE)
		return -1;
	if (state_is_final(was)) {
		printf("%s is already %s\n", id, state_word(was));
		return 0;
	}
	if (rc < 0)
		die_errno(errno == ENOENT ? EXIT_BADINPUT : EXIT_TEMPFAIL, "unable to move %s to %s/", id,
			  state_dir_name(STATE_CANCELLED));
	if (rc > 0)
		warn("the site %s was sent to is not told yet (%s); hf-send will try again", id, strerror(errno));
	printf("%s cancelled\n", id);
	return 0;
}
