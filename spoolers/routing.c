/* routing.c - where a job in new/ goes: queue/, outsourced/ (a linked site: the job names it, or `auto`
 * finds no host here able or free soon enough) or failed/ with the reason; a peer's job refused back.
 * Trusts job.ini (intake normalised it); checks the entry names it reads from new/. */
#define _GNU_SOURCE
#include "routing.h"

#include "../layout/jobdesc.h"
#include "../layout/site.h"
#include "../layout/events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool any_host(const struct spool *sp) { return dir_has_names(spool_fd(sp, DIR_HOSTS), "."); }

/* Where job ID (described by JD) goes; TO and REASON, or PEER when it
 * goes to a site. */
static enum job_state decide(const struct spool *sp, const char *id, int job, const struct job_desc *jd, char peer[SITE_NAME_MAX + 1],
			     char *reason, size_t rsize)
{
	bool remote = strchr(id, '@') != NULL;
	struct strlist avoid = {0};
	job_avoid(sp, job, &avoid);
	enum job_state to = STATE_QUEUED;
	const char *site = jd->site;
	char why[400] = "";
	*peer = 0;
	bool here = !strcmp(site, "local") || !strcmp(site, sp->conf.name);
	enum site_can can = SITE_NOW;
	if (here && !remote) {
		/* this site's own job stays here whatever its hosts: why it
		 * waits is the farm pass's to say, which reads the hosts once a
		 * pass for every queued job, not once a job (hundreds of host
		 * records on a farm of hundreds of hosts) */
	} else if (here || !strcmp(site, "auto")) {
		long wait = -1;
		/* a site refuses only what none of its hosts ever offered: one
		 * that fits waits here while no host runs, as a local job does */
		can = site_local_can(sp, jd, why, sizeof why, here ? NULL : &wait);
		if (!here && (can != SITE_NOW || wait > sp->conf.auto_wait)) {
			char w2[600];
			if (site_choose(sp, jd, "auto", &avoid, peer, w2, sizeof w2) == 0)
				to = STATE_OUTSOURCED;
			else if (can != SITE_NOW && remote) {
				/* an auto job goes where it renders soonest: its sender
				 * may know a site with a host running now */
				snprintf(reason, rsize, "site %s cannot render it (%s) nor pass it on (%s)", sp->conf.name, why, w2);
				to = STATE_FAILED;
			}
		} else if (can == SITE_CANNOT && remote) {
			snprintf(reason, rsize, "site %s cannot render it: %s", sp->conf.name, why);
			to = STATE_FAILED;
		}
	} else if (strlist_has(&avoid, site) && strcmp(site, sp->conf.name)) {
		snprintf(reason, rsize, "it asks for site '%s', which it has passed already (a loop)", site);
		to = STATE_FAILED;
	} else if (site_link_find(sp, site)) {
		snprintf(peer, SITE_NAME_MAX + 1, "%s", site);
		to = STATE_OUTSOURCED;
	} else {
		char w2[600];
		if (site_choose(sp, jd, site, &avoid, peer, w2, sizeof w2) == 0) {
			to = STATE_OUTSOURCED;
		} else {
			snprintf(reason, rsize, "it asks for site '%s', which is not linked to this site (%s)%s%s", site,
				 sp->conf.name, sp->conf.nlinks ? " nor reached through a linked one: " : "",
				 sp->conf.nlinks ? w2 : "");
			to = STATE_FAILED;
		}
	}
	if (to == STATE_QUEUED) {
		if (jd->after.n && job_deps_ready(sp, &jd->after, reason, rsize) == 0)
			; /* reason says what it waits for */
		else if (!any_host(sp))
			snprintf(reason, rsize, "queued; no render host has registered yet (start render-agent on one)");
		else if (can == SITE_LATER)
			snprintf(reason, rsize, "queued; %s", why);
		else
			snprintf(reason, rsize, "queued; waiting for a free render slot");
	}
	strlist_free(&avoid);
	return to;
}

/* ENTRY of new/, under the route lock: routed by whoever comes first. */
static void route_locked(const struct spool *sp, const char *entry, const char *name)
{
	if (faccessat(state_fd(sp, STATE_NEW), entry, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return; /* routed already (by hf-intake, or another hf-route) */
	int job = job_dir_open(sp, name);
	if (job < 0) {
		warn("new/%s has no job folder: %s", entry, strerror(errno));
		return;
	}
	char err[512], peer[SITE_NAME_MAX + 1] = "";
	/* job_desc_load, not the site's max_frames: intake checked the
	 * description against it (and a lower limit set since then is for
	 * jobs still to come) */
	struct job_desc jd;
	enum job_state to = STATE_FAILED;
	char reason[1024];
	if (job_desc_load(job, &jd, err, sizeof err) < 0) {
		snprintf(reason, sizeof reason, "its %s cannot be read: %s", job_file_name(JOB_FILE_DESC), err);
	} else {
		to = decide(sp, name, job, &jd, peer, reason, sizeof reason);
		job_desc_free(&jd);
	}
	if (to == STATE_OUTSOURCED) {
		if (site_outsource(sp, name, peer, reason, sizeof reason) == 0) {
			close(job);
			sayj(name, -1, "%s goes to site %s", name, peer);
			return;
		}
		to = STATE_FAILED;
	}
	if (to == STATE_FAILED && strchr(name, '@')) {
		/* a peer's job: it hears why, and may try elsewhere */
		struct job_route r;
		job_route_read(job, &r);
		if (*r.from && *r.origin && site_refuse(sp, r.from, r.origin, reason) < 0)
			warnj(name, -1, "unable to answer site %s about %s: %s", r.from, name, strerror(errno));
		job_route_free(&r);
		job_file_write(job, JOB_FILE_RETURNED, "refused\n", 8);
	}
	close(job);
	if (entry_move(sp, STATE_NEW, entry, to, NULL) < 0) {
		if (errno != ENOENT)
			warn("unable to move new/%s to %s/: %s", entry, state_dir_name(to), strerror(errno));
		return;
	}
	if (to == STATE_QUEUED)
		events_record(sp, &(struct event){.kind = EVENT_QUEUED, .job = name});
	if (job_status_update(sp, name, to, reason, -1) < 0)
		warnj(name, -1, "unable to update the status of %s: %s", name, strerror(errno));
	sayj(name, -1, "%s %s", name, to == STATE_QUEUED ? "queued" : reason);
}

void route_entry(const struct spool *sp, const char *entry)
{
	char name[JOBID_MAX_LEN + 1];
	if (!entry_parse(entry, NULL, NULL, name)) {
		warn("skipping new/%s: not a job entry", entry);
		return;
	}
	int lock = lock_open_brief(spool_fd(sp, DIR_RUN), spool_file_name(SPOOL_FILE_ROUTE_LOCK), 30000);
	if (lock < 0) {
		warn("unable to take run/%s to route new/%s: %s", spool_file_name(SPOOL_FILE_ROUTE_LOCK), entry,
		     strerror(errno));
		return;
	}
	route_locked(sp, entry, name);
	close(lock);
}
