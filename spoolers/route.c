/* route.c - move jobs from new/ to the state their description asks for:
 * queue/ for this site (priority order is the entry's name), failed/ when
 * they name a site this one is not linked to. Trusts job.ini: intake wrote
 * it normalised; checks entry names it reads from new/. */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct spool sp;

static bool site_linked(const char *site)
{
	char err[512];
	struct ini *ini = ini_load(spool_fd(&sp, DIR_CONF), "hotfarm.ini", "conf/hotfarm.ini", err, sizeof err);
	if (!ini)
		return false;
	char sec[128];
	snprintf(sec, sizeof sec, "site %s", site);
	const char **secs;
	size_t n = ini_sections(ini, &secs);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(secs[i], sec))
			found = true;
	ini_free(ini);
	return found;
}

static bool any_host(void)
{
	DIR *d = dir_open(spool_fd(&sp, DIR_HOSTS), ".");
	struct dirent *e;
	bool found = false;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			found = true;
	if (d)
		closedir(d);
	return found;
}

/* Whether the jobs listed in AFTER are not all done yet (WHY says). */
static bool waits_for(const char *after, char *why, size_t whysize)
{
	struct strlist names = {0};
	char *copy = xstrdup(after), *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		strlist_add(&names, t);
	free(copy);
	int r = job_deps_ready(&sp, &names, why, whysize);
	strlist_free(&names);
	return r == 0;
}

static void route(const char *entry)
{
	char name[NAME_MAX_LEN + 1];
	if (!entry_parse(entry, NULL, NULL, name)) {
		warn("skipping new/%s: not a job entry", entry);
		return;
	}
	int job = job_dir_open(&sp, name);
	if (job < 0) {
		warn("new/%s has no job folder jobs/%s: %s", entry, name, strerror(errno));
		return;
	}
	char err[512];
	struct ini *ini = ini_load(job, "job.ini", "job.ini", err, sizeof err);
	close(job);
	const char *site = ini ? ini_get(ini, "job", "site") : NULL;
	enum job_state to = STATE_QUEUED;
	char reason[512];
	if (!ini) {
		to = STATE_FAILED;
		snprintf(reason, sizeof reason, "its job.ini cannot be read: %s", err);
	} else if (site && *site && strcmp(site, "local") && strcmp(site, "auto") && strcmp(site, sp.conf.name) &&
		   !site_linked(site)) {
		to = STATE_FAILED;
		snprintf(reason, sizeof reason, "it asks for site '%s', which is not linked to this site (%s)", site,
			 sp.conf.name);
	} else if (ini_get(ini, "job", "after") && *ini_get(ini, "job", "after") &&
		   waits_for(ini_get(ini, "job", "after"), reason, sizeof reason)) {
		/* reason says what it waits for */
	} else if (!any_host()) {
		snprintf(reason, sizeof reason, "queued; no render host has registered yet (start render-agent on one)");
	} else {
		snprintf(reason, sizeof reason, "queued; waiting for a free render slot");
	}
	ini_free(ini);
	if (entry_move(&sp, STATE_NEW, entry, to, NULL) < 0) {
		if (errno != ENOENT)
			warn("unable to move new/%s to %s/: %s", entry, state_dir_name(to), strerror(errno));
		return;
	}
	if (job_status_update(&sp, name, to, reason, -1) < 0)
		warn("unable to update jobs/%s/status.ini: %s", name, strerror(errno));
	say("%s %s", name, to == STATE_QUEUED ? "queued" : reason);
}

int main(int argc, char **argv)
{
	int first = spooler_main(argc, argv, "hf-route",
				  "usage: hf-route --spool DIR [ENTRY...]\n"
				  "Move job entries from new/ to queue/ (or failed/, with the reason).\n"
				  "Without ENTRY, routes everything in new/.\n",
				  &sp);
	if (first < argc) {
		for (int i = first; i < argc; i++)
			route(argv[i]);
	} else {
		struct strlist l = {0};
		state_list(&sp, STATE_NEW, &l);
		for (size_t i = 0; i < l.n; i++)
			route(l.v[i]);
		strlist_free(&l);
	}
	spool_close(&sp);
	return EXIT_OK;
}
