/* nimby.c - [agent] nimby on an artist's desktop: frames are taken only once its user has been idle for
 * nimby_idle, and given back within a second when they return. Reads only logind and /dev (or the admin's globs). */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

extern char **environ;

/* How often the user is looked for: while frames render, often enough
 * that a returning user has the machine back within a second (a look,
 * then a SIGTERM and at most 200 ms of grace); while waiting, less. */
#define NIMBY_BUSY_US 250000
#define NIMBY_WAIT_US 1000000
#define LOGIND_RETRY_US (60 * 1000000LL) /* logind did not answer: ask again after this */

/* A look found no sign of a user at all (no terminal of a login, no
 * input device, no logind session): the machine is nobody's desktop now. */
#define IDLE_NOBODY (-1)
#define IDLE_FAILED (-2)

static struct {
	bool on;                 /* nimby applies (as last looked) */
	bool known;              /* the user was looked for since it applies */
	bool away;               /* idle for nimby_idle (or nobody): frames may be taken */
	int64_t last;            /* the last look (mono us) */
	int64_t logind_retry;    /* logind did not answer: the devices until then (mono us) */
	bool logind_failed_said; /* ... and that was said */
	bool nothing_said;       /* the admin's nimby_devices matched nothing, and that was said */
	bool shown;              /* hosts/HOST/nimby was written */
	bool shown_away;         /* ... saying this */
	long shown_idle;
	long shown_wait;  /* ... and nimby_idle (SIGHUP may change it) */
	int64_t shown_at; /* (mono us) */
} nimby;

static bool nimby_wanted(void)
{
	return agent.nimby_opt >= 0 ? agent.nimby_opt == 1 : agent.spool.conf.nimby;
}

/* ---- logind ---------------------------------------------------------------- */

/* loginctl's answer (at most a second of it) about the manager, whose
 * IdleHint is the sessions' together: idle only when every session is.
 * Seconds idle, IDLE_NOBODY (no session), or IDLE_FAILED. */
static long idle_logind(void)
{
	/* sd_booted()'s test, and logind's own folder */
	if (access("/run/systemd/system", F_OK) < 0 || access("/run/systemd/seats", F_OK) < 0)
		return IDLE_FAILED;
	char *argv[] = {"loginctl", "show-session", "--property=IdleHint", "--property=IdleSinceHintMonotonic", NULL};
	char out[1024];
	int status = run_capture(argv, false, out, sizeof out, 1000000);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return IDLE_FAILED;
	const char *hint = strstr(out, "IdleHint=");
	const char *since = strstr(out, "IdleSinceHintMonotonic=");
	long long since_us = 0;
	if (!hint || !since || sscanf(since + 23, "%lld", &since_us) != 1)
		return IDLE_FAILED;
	if (!strncmp(hint + 9, "no", 2))
		return 0;
	if (since_us <= 0)
		return IDLE_NOBODY; /* idle without a time: no session at all */
	long long idle = (mono_us() - since_us) / 1000000;
	return idle < 0 ? 0 : (long)idle;
}

/* ---- terminals and input devices ------------------------------------------ */

/* What was used last, and when. */
struct sign {
	struct timespec at;
	char path[PATH_MAX];
	int seen; /* paths looked at */
};

/* PATH's atime, when it is the newest yet. CHARDEV: only a character
 * device counts (an admin's pattern may name regular files too). stat
 * follows links (/dev/input/by-id/...): these paths are root's or the
 * admin's, never the spool's. */
static void sign_of(const char *path, bool chardev, struct sign *g)
{
	struct stat st;
	if (stat(path, &st) < 0 || !(S_ISCHR(st.st_mode) || (!chardev && S_ISREG(st.st_mode))))
		return;
	g->seen++;
	if (st.st_atim.tv_sec > g->at.tv_sec || (st.st_atim.tv_sec == g->at.tv_sec && st.st_atim.tv_nsec > g->at.tv_nsec)) {
		g->at = st.st_atim;
		snprintf(g->path, sizeof g->path, "%s", path);
	}
}

static void sign_glob(const char *pattern, bool chardev, struct sign *g)
{
	glob_t gl;
	memset(&gl, 0, sizeof gl);
	if (glob(pattern, GLOB_NOSORT, NULL, &gl) == 0)
		for (size_t i = 0; i < gl.gl_pathc; i++)
			sign_of(gl.gl_pathv[i], chardev, g);
	globfree(&gl);
}

/* The terminals of the logins utmp lists (the kernel moves a terminal's
 * atime when it is read from: the user typed). */
static void sign_terminals(struct sign *g)
{
	struct utmpx *u;
	setutxent();
	while ((u = getutxent())) {
		if (u->ut_type != USER_PROCESS)
			continue;
		char line[sizeof u->ut_line + 1], path[sizeof line + 8];
		memcpy(line, u->ut_line, sizeof u->ut_line);
		line[sizeof u->ut_line] = 0;
		/* "pts/3", "tty1"; an X display (":0") is no file */
		if (!*line || line[0] == '/' || strstr(line, ".."))
			continue;
		snprintf(path, sizeof path, "/dev/%s", line);
		sign_of(path, true, g);
	}
	endutxent();
}

/* Seconds since the newest sign of the user in [agent] nimby_devices (or
 * the terminals of logins and the input devices), or IDLE_NOBODY. */
static long idle_devices(char *sign, size_t signsize)
{
	struct sign g = {.seen = 0};
	const char *named = agent.spool.conf.nimby_devices;
	if (*named) {
		char copy[sizeof agent.spool.conf.nimby_devices], *save = NULL;
		snprintf(copy, sizeof copy, "%s", named);
		for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			sign_glob(w, false, &g);
		if (!g.seen && !nimby.nothing_said)
			warn("nimby: [agent] nimby_devices (%s) names nothing there is: no sign of a user, frames are taken", named);
		nimby.nothing_said = !g.seen;
	} else {
		sign_terminals(&g);
		sign_glob("/dev/input/event*", true, &g);
	}
	if (!g.seen)
		return IDLE_NOBODY;
	snprintf(sign, signsize, "%s", g.path);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long idle = (long)(now.tv_sec - g.at.tv_sec) - (now.tv_nsec < g.at.tv_nsec);
	return idle < 0 ? 0 : idle; /* a time to come: in use now */
}

/* How long the user has been idle (seconds, or IDLE_NOBODY) and the sign
 * it is read from: the devices the admin named, else logind where it
 * answers, else the terminals of logins and the input devices. */
static long idle_now(char *sign, size_t signsize)
{
	snprintf(sign, signsize, "logind");
	int64_t now = mono_us();
	if (!*agent.spool.conf.nimby_devices && now >= nimby.logind_retry) {
		long idle = idle_logind();
		if (idle != IDLE_FAILED)
			return idle;
		nimby.logind_retry = now + LOGIND_RETRY_US;
		if (!nimby.logind_failed_said)
			say("nimby: logind does not answer here; the user's idle time comes from the atime of their "
			    "terminals and of /dev/input/event*");
		nimby.logind_failed_said = true;
	}
	snprintf(sign, signsize, "no device");
	return idle_devices(sign, signsize);
}

/* ---- what the agent does about it ------------------------------------------ */

/* hosts/HOST/nimby says whether the user is AWAY and how long they have
 * been IDLE: written when that changes, or when the idle time a reader
 * would work out from the file's age is half a minute off. */
static void nimby_show(bool away, long idle)
{
	int64_t now = mono_us();
	long guess = nimby.shown_idle + (long)((now - nimby.shown_at) / 1000000);
	if (nimby.shown && away == nimby.shown_away && (idle < 0) == (nimby.shown_idle < 0) &&
	    (idle < 0 || labs(guess - idle) <= 30) && nimby.shown_wait == agent.spool.conf.nimby_idle)
		return;
	char text[200];
	host_nimby_format(away, idle, agent.spool.conf.nimby_idle, text, sizeof text);
	bool sync = sync_writes;
	sync_writes = false; /* a picture, like the slot files */
	if (host_mark(agent.hostfd, HOST_NIMBY, text) < 0) {
		warn("unable to write hosts/%s/nimby: %s", agent.host, strerror(errno));
	} else {
		nimby.shown = true;
		nimby.shown_away = away;
		nimby.shown_idle = idle;
		nimby.shown_wait = agent.spool.conf.nimby_idle;
		nimby.shown_at = now;
	}
	sync_writes = sync;
}

/* The user came back (SIGN used IDLE s ago): every render stops; the
 * frames go back to todo/ as they were (render.c, KILL_NIMBY). */
static void nimby_return(const char *sign, long idle, bool said)
{
	int stopping = 0;
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (s->job && !s->killing) {
			slot_kill(s, KILL_NIMBY);
			stopping += s->killing == KILL_NIMBY;
		}
	}
	if (stopping)
		say("nimby: the user is back (%s used %ld s ago): stopping %d render%s; their frames go back to todo/, "
		    "not counted as attempts", sign, idle, stopping, stopping == 1 ? "" : "s");
	else if (!said)
		say("nimby: the user is active (%s used %ld s ago): taking frames once they are idle for %ld s", sign,
		    idle, agent.spool.conf.nimby_idle);
}

/* Look for the user (when nimby applies): frames stop when they are back,
 * may be taken once they are away; hosts/HOST/nimby says which. */
void nimby_check(void)
{
	if (agent.stopping)
		return; /* what runs is stopping anyway */
	bool on = nimby_wanted();
	if (on != nimby.on || !nimby.known) {
		if (!on && (nimby.on || !nimby.known)) {
			host_unmark(agent.hostfd, HOST_NIMBY); /* also one left by an earlier run */
			if (nimby.on)
				say("nimby: off; frames are taken whoever uses the machine");
		} else if (on) {
			say("nimby: on; frames are taken only once the desktop's user has been idle for %ld s",
			    agent.spool.conf.nimby_idle);
		}
		nimby.shown = false;
	}
	if (!on) {
		nimby.on = false;
		nimby.known = true;
		return;
	}
	char sign[PATH_MAX];
	long idle = idle_now(sign, sizeof sign);
	bool away = idle < 0 || idle >= agent.spool.conf.nimby_idle;
	bool was_known = nimby.known && nimby.on;
	if (!away) {
		nimby_return(sign, idle, was_known && !nimby.away);
	} else if (!was_known || !nimby.away) {
		if (idle < 0)
			say("nimby: no sign of a user (no logind session, terminal of a login or input device): taking frames");
		else
			say("nimby: the user has been idle for %ld s (last sign: %s): taking frames", idle, sign);
	}
	nimby.on = nimby.known = true;
	nimby.away = away;
	nimby_show(away, idle);
	nimby.last = mono_us();
}

/* When the user is to be looked for next (mono us; INT64_MAX: never):
 * soon after the last look while frames render (they may have begun
 * since), later while waiting. */
int64_t nimby_due(void)
{
	if (agent.stopping)
		return INT64_MAX;
	if (nimby_wanted() != nimby.on)
		return 0; /* [agent] nimby changed (SIGHUP) */
	return nimby.on ? nimby.last + (slots_busy() ? NIMBY_BUSY_US : NIMBY_WAIT_US) : INT64_MAX;
}

/* Whether frames may be taken: nimby does not apply, or the user is away. */
bool nimby_allows(void)
{
	if (!nimby.known || nimby_wanted() != nimby.on)
		nimby_check();
	return !nimby.on || nimby.away;
}
