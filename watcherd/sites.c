/* sites.c - watcherd and the linked sites: when to run `hf-sync PEER`
 * (backing off after failures), hf-collect for sites/PEER/in/, hf-send, and
 * the pass that writes this site's summary. Uses only names in sites/ (checked). */
#define _GNU_SOURCE
#include "watcherd.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each peer with files waiting in sites/PEER/out/ gets an `hf-sync
 * PEER`; a failed one is tried again after a growing pause (2 s, 4 s ...
 * at most a minute). */
struct peer_sync {
	char name[64];
	int failures;
	int64_t next;
};
static struct peer_sync peers[32];
static int npeers;

static struct peer_sync *peer_get(const char *name)
{
	for (int i = 0; i < npeers; i++)
		if (!strcmp(peers[i].name, name))
			return &peers[i];
	if (npeers == 32)
		return NULL;
	struct peer_sync *p = &peers[npeers++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	return p;
}

void sync_due(void)
{
	DIR *d = dir_open(spool_fd(&sp, DIR_SITES), ".");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!name_is_valid(e->d_name) || strlen(e->d_name) >= 64)
			continue;
		char out[PATH_MAX];
		site_dir_relpath(e->d_name, SITE_OUT, out, sizeof out);
		struct peer_sync *p = dir_has_names(sp.root, out) ? peer_get(e->d_name) : NULL;
		if (!p || mono_us() < p->next || child_has_key(CHILD_SYNC, p->name))
			continue;
		char *argv[] = {prog("hf-sync"), "--spool", sp.path, p->name, NULL};
		spawn(CHILD_SYNC, p->name, argv);
		free(argv[0]);
	}
	if (d)
		closedir(d);
}

void sync_done(const char *name, int code)
{
	struct peer_sync *p = peer_get(name);
	if (!p)
		return;
	if (code == 0) {
		p->failures = 0;
		p->next = 0;
		return;
	}
	int64_t pause = 2000000LL << (p->failures < 5 ? p->failures : 5);
	if (pause > 60000000LL)
		pause = 60000000LL;
	p->failures++;
	p->next = mono_us() + pause;
	warn("sync to %s failed (%d in a row); trying again in %lld s", name, p->failures, (long long)(pause / 1000000));
}

/* What linked sites delivered (sites/PEER/in/) is taken in by one
 * hf-collect per peer; hf-send packs jobs routed away and answers peers,
 * after each routing or collecting and at each rescan; this site's
 * summary goes to every peer every [site] summary seconds. */
static bool send_due;
static int64_t summary_next;

void send_wanted(void) { send_due = true; }

void collect_due(const char *peer)
{
	if (child_has_key(CHILD_COLLECT, peer))
		return;
	char path[PATH_MAX];
	site_dir_relpath(peer, SITE_IN, path, sizeof path);
	if (!dir_has_names(sp.root, path))
		return;
	char *argv[] = {prog("hf-collect"), "--spool", sp.path, (char *)peer, NULL};
	spawn(CHILD_COLLECT, peer, argv);
	free(argv[0]);
}

void collect_done(const char *peer, int code)
{
	send_due = true;
	if (code == 0)
		collect_due(peer); /* more may have come meanwhile */
}

void summaries_done(int code)
{
	if (code != 0)
		warn("watcherd --site-summaries exited %d", code);
	sync_due();
}

void sites_tick(bool rescanning)
{
	if (!sp.conf.nlinks)
		return;
	if (mono_us() >= summary_next) {
		/* written by a child: it reads the peers' summaries */
		if (!child_count(CHILD_SUMMARY))
			spawn_pass(CHILD_SUMMARY, "--site-summaries", -1);
		summary_next = mono_us() + sp.conf.summary_interval * 1000000LL;
		rescanning = true;
	}
	if (rescanning)
		for (int i = 0; i < sp.conf.nlinks; i++)
			collect_due(sp.conf.links[i].name);
	if ((send_due || rescanning) && !child_count(CHILD_SEND)) {
		char *argv[] = {prog("hf-send"), "--spool", sp.path, NULL};
		if (spawn(CHILD_SEND, "", argv) > 0)
			send_due = false;
		free(argv[0]);
	}
	if (rescanning)
		sync_due();
}
