/* entries.c - new/ and cancel/: entries that appear in new/ go to hf-route in batches, and each request
 * dropped into cancel/ to one hf-cancel. Distrusts the names: a new/ name must parse as an entry,
 * a cancel/ name is only passed on (escaped when logged) for hf-cancel to check. */
#define _GNU_SOURCE
#include "watcherd.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct strlist route_pending; /* entries seen in new/, not yet routed */
static struct strlist cancel_pending;
static struct strlist cancel_waiting; /* requests whose job is not there yet */
static int64_t cancel_retry_at;
static bool cancel_recheck;
unsigned long new_arrivals;

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

static void route_start(void)
{
	if (child_count(CHILD_ROUTE) || route_pending.n == 0)
		return;
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

static void cancels_start(void)
{
	while (cancel_pending.n && child_count(CHILD_CANCEL) < 2) {
		char *req = cancel_pending.v[--cancel_pending.n];
		char *argv[] = {prog("hf-cancel"), "--spool", sp.path, "--", req, NULL};
		spawn(CHILD_CANCEL, req, argv);
		free(argv[0]);
		free(req);
	}
}

void entries_start(void)
{
	route_start();
	cancels_start();
}

void route_note(const char *entry)
{
	if (entry_parse(entry, NULL, NULL, NULL) && !strlist_has(&route_pending, entry)) {
		strlist_add(&route_pending, entry);
		new_arrivals++;
		/* a cancel request may have been waiting for this job */
		if (cancel_waiting.n)
			cancel_recheck = true;
	}
}

void cancel_note(const char *req)
{
	if (req[0] == '.' || strlist_has(&cancel_pending, req) || strlist_has(&cancel_waiting, req) ||
	    child_has_key(CHILD_CANCEL, req))
		return;
	char shown[600];
	text_escape(req, shown, sizeof shown);
	say("cancel: request %s", shown);
	strlist_add(&cancel_pending, req);
}

void entries_rescan(void)
{
	scan_dir(DIR_STATE_FIRST + STATE_NEW, route_note);
	if (mono_us() >= cancel_retry_at) {
		strlist_free(&cancel_waiting);
		cancel_retry_at = mono_us() + 30 * 1000000LL;
	}
	scan_dir(DIR_CANCEL, cancel_note);
}

void cancel_recheck_due(void)
{
	if (!cancel_recheck)
		return;
	cancel_recheck = false;
	strlist_free(&cancel_waiting);
	scan_dir(DIR_CANCEL, cancel_note);
}

void cancel_done(const char *request, int code, unsigned long arrivals)
{
	if (code != EXIT_WAIT)
		return;
	strlist_add(&cancel_waiting, request);
	if (arrivals != new_arrivals)
		cancel_recheck = true; /* its job may have come meanwhile */
}
