/* steer.c - hotfarm's steering: hold, release, priority, cancel, outsource,
 * retry, kill-frame, drain, undrain, each a rename or small file made through
 * layout/. Distrusts the names typed: checked before any path is made. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/site.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- one job ---------------------------------------------------------------- */

static const char *valid_name(const char *name)
{
	if (!job_id_valid(name)) {
		char typed[200];
		text_escape(name, typed, sizeof typed);
		die(EXIT_BADINPUT, "'%s' is not a job name", typed);
	}
	return name;
}

static enum job_state must_find(const struct spool *sp, const char *name, char entry[ENTRY_MAX_LEN])
{
	enum job_state s = job_find(sp, valid_name(name), entry);
	if (s == STATE_NONE)
		die(EXIT_BADINPUT, "no job named '%s' in %s", name, sp->path);
	return s;
}

static void change(const struct spool *sp, const char *name, enum job_state to, const char *reason)
{
	if (job_change_state(sp, name, to, reason) < 0)
		die_errno(errno == ENOENT ? EXIT_BADINPUT : EXIT_TEMPFAIL, "unable to move %s to %s/", name,
			  state_dir_name(to));
}

int cmd_hold(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const char *name = argv[1];
	char entry[ENTRY_MAX_LEN];
	enum job_state s = must_find(&cli->sp, name, entry);
	if (s == STATE_HELD) {
		printf("%s is already held\n", name);
		return EXIT_OK;
	}
	if (s != STATE_QUEUED && s != STATE_NEW)
		die(EXIT_BADINPUT, "%s is %s; only new or queued jobs can be held", name, state_word(s));
	char why[200];
	snprintf(why, sizeof why, "held by a user; run: hotfarm release %s", name);
	change(&cli->sp, name, STATE_HELD, why);
	printf("%s held\n", name);
	return EXIT_OK;
}

int cmd_release(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const char *name = argv[1];
	char entry[ENTRY_MAX_LEN];
	enum job_state s = must_find(&cli->sp, name, entry);
	if (s != STATE_HELD)
		die(EXIT_BADINPUT, "%s is %s, not held", name, state_word(s));
	change(&cli->sp, name, STATE_QUEUED, "queued; waiting for a free render slot");
	printf("%s released\n", name);
	return EXIT_OK;
}

int cmd_priority(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const char *name = argv[1], *prio = argv[2];
	long p;
	if (!parse_long(prio, 0, 999, &p))
		die(EXIT_BADINPUT, "a priority is a whole number from 0 (runs first) to 999, not '%s'", prio);
	char entry[ENTRY_MAX_LEN];
	enum job_state s = must_find(&cli->sp, name, entry);
	if (state_is_final(s))
		die(EXIT_BADINPUT, "%s is %s; its priority no longer matters", name, state_word(s));
	if (job_change_priority(&cli->sp, name, (int)p) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to change the priority of %s", name);
	printf("%s priority %ld\n", name, p);
	return EXIT_OK;
}

/* A file dropped into cancel/ does the same through hf-cancel. */
int cmd_cancel(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const struct spool *sp = &cli->sp;
	const char *name = valid_name(argv[1]);
	if (job_cancel_say(sp, name, "cancelled by a user (hotfarm cancel)") < 0)
		die(EXIT_BADINPUT, "no job named '%s' in %s", name, sp->path);
	return EXIT_OK;
}

int cmd_outsource(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const struct spool *sp = &cli->sp;
	const char *name = argv[1];
	char entry[ENTRY_MAX_LEN], err[600], site[SITE_NAME_MAX + 1];
	snprintf(site, sizeof site, "%s", argv[2]);
	str_lower(site); /* site names are case-blind */
	enum job_state s = must_find(sp, name, entry);
	if (s != STATE_QUEUED && s != STATE_HELD && s != STATE_NEW)
		die(EXIT_BADINPUT, "%s is %s; only a new, queued or held job can be sent to another site", name,
		    state_word(s));
	int jfd = job_dir_open(sp, name);
	long active = jfd < 0 ? 0 : ticket_count(jfd, TICKET_ACTIVE);
	if (jfd >= 0)
		close(jfd);
	if (active > 0)
		die(EXIT_BADINPUT, "%s has %ld frame%s rendering here; hold it and let them finish first", name, active,
		    active == 1 ? "" : "s");
	if (site_outsource(sp, name, site, err, sizeof err) < 0 || site_pack_job(sp, name, err, sizeof err) < 0)
		die(EXIT_BADINPUT, "%s", err);
	printf("%s sent to site %s\n", name, site);
	return EXIT_OK;
}

/* ---- its frames ---------------------------------------------------------------- */

int cmd_retry(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const struct spool *sp = &cli->sp;
	const char *name = argv[1];
	int jfd = cli_job_open(sp, name);
	struct strlist failed = {0};
	ticket_list(jfd, TICKET_FAILED, &failed);
	if (failed.n == 0) {
		printf("%s has no failed frames\n", name);
		close(jfd);
		return EXIT_OK;
	}
	char entry[ENTRY_MAX_LEN];
	enum job_state st = job_find(sp, name, entry);
	if (st == STATE_CANCELLED || st == STATE_NONE)
		die(EXIT_BADINPUT, "%s is %s; it cannot be retried", name, state_word(st));
	int n = 0;
	for (size_t i = 0; i < failed.n; i++)
		if (ticket_retry(jfd, failed.v[i]) == 0)
			n++;
	/* a retry is a clean slate: hosts that were blocked may try again */
	struct strlist markers = {0};
	job_blocked_hosts(jfd, &markers);
	for (size_t i = 0; i < markers.n; i++)
		job_unblock_host(jfd, markers.v[i]);
	strlist_free(&markers);
	strlist_free(&failed);
	close(jfd);
	if (st == STATE_FAILED || st == STATE_DONE) {
		char why[200];
		snprintf(why, sizeof why, "retrying %d failed ticket%s (hotfarm retry)", n, n == 1 ? "" : "s");
		if (job_change_state(sp, name, STATE_QUEUED, why) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to queue %s again", name);
	}
	printf("%s: %d failed ticket%s back in todo/\n", name, n, n == 1 ? "" : "s");
	return EXIT_OK;
}

/* Ask the slot that renders frame F of job NAME (its active ticket TICKET,
 * RANK-FIRST[-LAST]@HOST.SLOT) to stop it. Returns whether it was asked. */
static bool kill_ask(const struct spool *sp, const char *name, long f, const char *ticket)
{
	long first, last, slot;
	char owner[128];
	if (!ticket_name_parse(ticket, NULL, &first, &last, owner) || !*owner)
		return false;
	if (f < first || f > last)
		return false;
	char *dot = strrchr(owner, '.');
	if (!dot || !name_is_valid(owner) || !parse_long(dot + 1, 0, INT_MAX, &slot))
		return false;
	*dot = 0;
	char text[200];
	snprintf(text, sizeof text, "job = %s\nframe = %ld\n", name, f);
	if (host_kill_request(sp, owner, (int)slot, text) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to ask %s to stop it", owner);
	printf("asked %s (slot %s) to stop frame %ld of %s\n", owner, dot + 1, f, name);
	return true;
}

int cmd_kill_frame(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const char *name = argv[1], *frame = argv[2];
	long f;
	if (!parse_long(frame, 0, 9999999, &f))
		die(EXIT_BADINPUT, "'%s' is not a frame number", frame);
	int jfd = cli_job_open(&cli->sp, name);
	struct strlist active = {0};
	ticket_list(jfd, TICKET_ACTIVE, &active);
	int asked = 0;
	for (size_t i = 0; i < active.n; i++)
		if (kill_ask(&cli->sp, name, f, active.v[i]))
			asked++;
	strlist_free(&active);
	close(jfd);
	if (!asked)
		die(EXIT_BADINPUT, "frame %ld of %s is not rendering now", f, name);
	return EXIT_OK;
}

/* ---- hosts ------------------------------------------------------------------------ */

static int host_drain(const struct spool *sp, const char *host, bool on)
{
	if (!name_is_valid(host))
		die(EXIT_BADINPUT, "'%s' is not a host name", host);
	int hfd = host_dir_open(sp, host, false);
	if (hfd < 0)
		die(EXIT_BADINPUT, "no render host named %s in %s/%s", host, sp->path, spool_dir_name(DIR_HOSTS));
	if (on) {
		char iso[32], text[100];
		time_iso(now_us(), iso);
		snprintf(text, sizeof text, "draining since %s\n", iso);
		if (host_mark(hfd, HOST_DRAIN, text) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to drain %s", host);
		printf("%s drains: it finishes what runs and takes no new frames (hotfarm undrain %s)\n", host, host);
	} else {
		if (host_unmark(hfd, HOST_DRAIN) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to undrain %s", host);
		printf("%s takes frames again\n", host);
	}
	close(hfd);
	return EXIT_OK;
}

int cmd_drain(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return host_drain(&cli->sp, argv[1], true);
}

int cmd_undrain(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return host_drain(&cli->sp, argv[1], false);
}
