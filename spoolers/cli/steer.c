/* steer.c - hotfarm's steering: hold, release, priority, cancel, retry and
 * kill-frame (the farm's user directly, artists by a request watcherd judges),
 * outsource, drain, undrain. Distrusts the names typed: checked before use. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/access.h"
#include "../../layout/audit.h"
#include "../../layout/site.h"
#include "../../layout/steer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* How long an artist's hotfarm waits for watcherd's answer. */
static long answer_wait_ms(void)
{
	const char *e = getenv("HOTFARM_ANSWER_WAIT");
	long ms;
	return e && parse_long(e, 1, 3600000, &ms) ? ms : 10000;
}

/* An artist's way: a request in requests/, watcherd's answer awaited. */
static int steer_request(const struct spool *sp, enum steer_action a, const char *name, long value,
			 const char *frames)
{
	struct steer_request r = {.action = a, .value = value, .uid = geteuid()};
	snprintf(r.job, sizeof r.job, "%s", name);
	if (frames && strlen(frames) >= sizeof r.frames)
		die(EXIT_BADINPUT, "the frames '%.40s...' are too long to ask for; give fewer ranges", frames);
	snprintf(r.frames, sizeof r.frames, "%s", frames ? frames : "");
	char req[64], msg[1200];
	if (request_drop(sp, &r, req) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to drop a request into %s/%s", sp->path, spool_dir_name(DIR_REQUESTS));
	int64_t end = mono_us() + answer_wait_ms() * 1000;
	int code = 0, got;
	while ((got = answer_read(sp, req, &code, msg, sizeof msg)) == 0 && mono_us() < end) {
		struct timespec ts = {0, 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (got < 0)
		die_errno(EXIT_TEMPFAIL, "unable to read the answer to request %s", req);
	if (got == 0)
		die(EXIT_TEMPFAIL, "no answer from watcherd in %.1f s (is it running?); request %s/%s is carried out when it reads it",
		    (double)answer_wait_ms() / 1000, spool_dir_name(DIR_REQUESTS), req);
	if (code != EXIT_OK)
		die(code == EXIT_BADINPUT ? EXIT_BADINPUT : EXIT_TEMPFAIL, "%s", msg);
	printf("%s\n", msg);
	return EXIT_OK;
}

/* Only the farm's user and root may do WHAT (sending jobs away, draining). */
void farm_only(const struct spool *sp, const char *what)
{
	if (uid_is_farm(sp, geteuid()))
		return;
	char farm[128];
	user_name(sp->farm_uid, farm, sizeof farm);
	die(EXIT_BADINPUT, "only the farm's user (%s) or root may %s", farm, what);
}

/* Steer job NAME: the farm's user and root directly (recorded in the audit
 * log), anybody else through a request that watcherd judges. FRAMES: a
 * rerender's. */
static int steer_frames(struct cli *cli, enum steer_action a, const char *name, long value, const char *frames)
{
	const struct spool *sp = &cli->sp;
	valid_name(name);
	if (!uid_is_farm(sp, geteuid()))
		return steer_request(sp, a, name, value, frames);
	char who[128], msg[1200];
	user_name(geteuid(), who, sizeof who);
	int rc = steer_do(sp, a, name, value, frames, who, msg, sizeof msg);
	audit_record(sp, geteuid(), steer_action_name(a), name,
		     rc == EXIT_OK ? "done" : rc == EXIT_BADINPUT ? "refused" : "failed", msg);
	if (rc != EXIT_OK)
		die(rc, "%s", msg);
	printf("%s\n", msg);
	return EXIT_OK;
}

static int steer(struct cli *cli, enum steer_action a, const char *name, long value)
{
	return steer_frames(cli, a, name, value, NULL);
}

int cmd_hold(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return steer(cli, STEER_HOLD, argv[1], 0);
}

int cmd_release(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return steer(cli, STEER_RELEASE, argv[1], 0);
}

int cmd_priority(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	long p;
	if (!parse_long(argv[2], 0, 999, &p))
		die(EXIT_BADINPUT, "a priority is a whole number from 0 (runs first) to 999, not '%s'", argv[2]);
	return steer(cli, STEER_PRIORITY, argv[1], p);
}

/* A file dropped into cancel/ does the same through hf-request. */
int cmd_rerender(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return steer_frames(cli, STEER_RERENDER, argv[1], 0, argv[2]);
}

int cmd_suspend(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return steer(cli, STEER_SUSPEND, argv[1], 0);
}

int cmd_resume(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return steer(cli, STEER_RESUME, argv[1], 0);
}

int cmd_cancel(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	return steer(cli, STEER_CANCEL, argv[1], 0);
}

int cmd_outsource(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const struct spool *sp = &cli->sp;
	const char *name = argv[1];
	farm_only(sp, "send a job to another site");
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
	return steer(cli, STEER_RETRY, argv[1], 0);
}

int cmd_kill_frame(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	long f;
	if (!parse_long(argv[2], 0, 9999999, &f))
		die(EXIT_BADINPUT, "'%s' is not a frame number", argv[2]);
	return steer(cli, STEER_KILL_FRAME, argv[1], f);
}

/* ---- hosts ------------------------------------------------------------------------ */

static int host_drain(const struct spool *sp, const char *host, bool on)
{
	farm_only(sp, on ? "drain a host" : "undrain a host");
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
