/* entries.c - new/, requests/ and cancel/: entries that appear in new/ go to hf-route in batches, and
 * each request dropped into requests/ or cancel/ to one hf-request. Distrusts the names: a new/ name
 * must parse as an entry, a request's is only passed on (escaped when logged) for hf-request to check. */
#define _GNU_SOURCE
#include "watcherd.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct strlist route_pending; /* entries seen in new/, not yet routed */
static struct strlist request_pending; /* FOLDER/NAME: requests/NAME or cancel/NAME */

/* Forget pending entries that left new/ meanwhile. A rescan that lists new/
 * while hf-route runs notes again what that hf-route is routing; given to
 * the next one, the job would be routed twice (hf-route finds a job by its
 * name wherever it is: a queued auto job could be sent away). */
static void route_pending_check(void)
{
	size_t keep = 0;
	for (size_t i = 0; i < route_pending.n; i++) {
		if (faccessat(state_fd(&sp, STATE_NEW), route_pending.v[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			route_pending.v[keep++] = route_pending.v[i];
		else
			free(route_pending.v[i]);
	}
	route_pending.n = keep;
}

/* While hf-intakes run, the entries they made are theirs to route (each
 * routes the job it took in, at once): an hf-route started beside them
 * would race them for it. It routes what is left once none runs (a
 * killed intake's job, a job sent back to new/), or, in a stream of
 * intakes that never stops, what waited a second. */
#define ROUTE_DEFER_US 1000000
static int64_t route_deferred; /* since when pending entries wait for intakes (0: none do) */

static void route_start(void)
{
	if (child_count(CHILD_ROUTE))
		return;
	if (route_pending.n && child_count(CHILD_INTAKE))
		route_pending_check(); /* those the intakes routed meanwhile */
	if (route_pending.n == 0) {
		route_deferred = 0;
		return;
	}
	if (child_count(CHILD_INTAKE)) {
		if (!route_deferred)
			route_deferred = mono_us();
		if (mono_us() - route_deferred < ROUTE_DEFER_US)
			return;
	}
	route_deferred = 0;
	route_pending_check();
	if (route_pending.n == 0)
		return;
	size_t n = route_pending.n < 200 ? route_pending.n : 200;
	char **argv = xcalloc(n + 4, sizeof *argv);
	argv[0] = prog("hf-route");
	argv[1] = "--spool";
	argv[2] = sp.path;
	for (size_t i = 0; i < n; i++)
		argv[3 + i] = route_pending.v[i];
	spawn(CHILD_ROUTE, "", argv);
	free(argv[0]);
	free(argv);
	for (size_t i = 0; i < n; i++)
		free(route_pending.v[i]);
	memmove(route_pending.v, route_pending.v + n, (route_pending.n - n) * sizeof *route_pending.v);
	route_pending.n -= n;
}

static void requests_start(void)
{
	while (request_pending.n && child_count(CHILD_REQUEST) < 2) {
		char *key = request_pending.v[--request_pending.n];
		char folder[64];
		const char *slash = strchr(key, '/');
		snprintf(folder, sizeof folder, "%.*s", (int)(slash - key), key);
		char *argv[] = {prog("hf-request"), "--spool", sp.path, folder, "--", (char *)slash + 1, NULL};
		spawn(CHILD_REQUEST, key, argv);
		free(argv[0]);
		free(key);
	}
}

void entries_start(void)
{
	route_start();
	requests_start();
}

void route_note(const char *entry)
{
	if (entry_parse(entry, NULL, NULL, NULL) && !strlist_has(&route_pending, entry)) {
		strlist_add(&route_pending, entry);
	}
}

void request_note(enum spool_dir dir, const char *name)
{
	if (name[0] == '.' || strchr(name, '/'))
		return;
	char *key = xasprintf("%s/%s", spool_dir_name(dir), name);
	if (strlist_has(&request_pending, key) || child_has_key(CHILD_REQUEST, key)) {
		free(key);
		return;
	}
	char shown[600];
	text_escape(key, shown, sizeof shown);
	say("request %s", shown);
	strlist_take(&request_pending, key);
}

static void cancel_note(const char *name) { request_note(DIR_CANCEL, name); }
static void requests_note(const char *name) { request_note(DIR_REQUESTS, name); }

void entries_rescan(void)
{
	scan_dir(DIR_STATE_FIRST + STATE_NEW, route_note);
	scan_dir(DIR_CANCEL, cancel_note);
	scan_dir(DIR_REQUESTS, requests_note);
}
