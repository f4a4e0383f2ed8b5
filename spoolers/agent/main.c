/* main.c - render-agent's start-up and loop: options, spool, hosts/HOST,
 * signals, inotify, timers (agent.h maps the whole agent). Distrusts its
 * command line: --slots and --name are checked before use. */
#define _GNU_SOURCE
#include "agent.h"
#include "../../layout/perms.h"
#include "../../layout/watch.h"

#include <errno.h>
#include <getopt.h>
#include <inotifytools/inotify.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#ifndef HOTFARM_LIBEXECDIR
#define HOTFARM_LIBEXECDIR "/usr/local/bin"
#endif

struct agent agent = {.hostfd = -1, .nimby_opt = -1};

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: render-agent [--spool DIR] [--slots N] [--name HOST] [--nimby | --no-nimby] [--insecure]\n"
		"Render frames of queued jobs on this host.\n"
		"  --spool DIR  the spool (default $HOTFARM_SPOOL, else /var/spool/hotfarm)\n"
		"  --slots N    concurrent renders (default: [agent] slots, auto: sized to the renders)\n"
		"  --name HOST  this host's name in hosts/ (default: the host name); several\n"
		"               agents on one machine need distinct names\n"
		"  --nimby      an artist's desktop: take frames only while its user is idle\n"
		"               ([agent] nimby_idle), give them back when the user returns\n"
		"  --no-nimby   a render host whatever [agent] nimby says\n"
		"  --insecure   start even when others than the farm's user may change the\n"
		"               spool's conf/ (its packages) or state folders\n"
		"Messages are key=value lines on stderr (time, level, prog, job, frame, msg).\n"
		"SIGHUP re-reads conf/hotfarm.ini. SIGTERM stops it: running frames go back to\n"
		"todo/, hosts/HOST is removed.\n"
		"Exit: 0 stopped, 100 usage, 111 cannot run.\n");
	exit(code);
}

/* [agent] render_user takes root to switch to: without, renders run as
 * the agent's own user (rather than every frame failing). */
static void render_user_check(void)
{
	if (*agent.spool.conf.render_user && geteuid() != 0)
		warn("[agent] render_user = %s is ignored: the agent does not run as root, so renders run as its own user",
		     agent.spool.conf.render_user);
}

/* SIGHUP: read conf/hotfarm.ini again; its settings apply from now on,
 * but for the two fixed when the agent started. */
static void reload_conf(void)
{
	char err[1024];
	long slots_before = agent.spool.conf.slots;
	bool inotify_before = agent.spool.conf.use_inotify;
	if (spool_conf_reload(&agent.spool, err, sizeof err) < 0) {
		warn("conf/hotfarm.ini not re-read, the configuration in use stays: %s", err);
		return;
	}
	say("re-read conf/hotfarm.ini (heartbeat %ld s, confine %s)", agent.spool.conf.heartbeat,
	    agent.spool.conf.confine ? "yes" : "no");
	spool_conf_warn(&agent.spool);
	render_user_check();
	/* what idle slots keep was made with the old settings */
	area_forget(0);
	contain_stop();
	if (agent.spool.conf.slots != slots_before)
		warn("[agent] slots changed: it takes effect when the agent restarts");
	if (agent.spool.conf.use_inotify != inotify_before)
		warn("[watcherd] inotify changed: it takes effect when the agent restarts");
	publish_host(false); /* packages may have changed too */
}

/* The command line: SPOOL (--spool), WANT_SLOTS (--slots, else 0),
 * agent.host (--name) and agent.nimby_opt (--nimby, --no-nimby). */
static bool insecure; /* --insecure */

static void options(int argc, char **argv, const char **spool, long *want_slots)
{
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"slots", required_argument, 0, 'n'},
					     {"name", required_argument, 0, 'N'},
					     {"insecure", no_argument, 0, 'I'},
					     {"nimby", no_argument, 0, 'Y'},
					     {"no-nimby", no_argument, 0, 'y'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:n:N:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': *spool = optarg; break;
		case 'n':
			if (!parse_long(optarg, 1, 1024, want_slots))
				die(EXIT_BADINPUT, "--slots takes a number from 1 to 1024, not '%s'", optarg);
			break;
		case 'N':
			if (!name_is_valid(optarg) || strlen(optarg) >= sizeof agent.host || strchr(optarg, '@'))
				die(EXIT_BADINPUT, "'%s' is not a host name (letters, digits, '-', '_', '.')", optarg);
			snprintf(agent.host, sizeof agent.host, "%s", optarg);
			break;
		case 'I': insecure = true; break;
		case 'Y': agent.nimby_opt = 1; break;
		case 'y': agent.nimby_opt = 0; break;
		case 'h': usage(EXIT_OK);
		default: usage(EXIT_BADINPUT);
		}
	}
	if (optind != argc)
		usage(EXIT_BADINPUT);
}

/* Without --name, the host name, made safe; either way without dots. */
static void host_name(void)
{
	if (!*agent.host) {
		char hn[256];
		gethostname(hn, sizeof hn);
		hn[sizeof hn - 1] = 0;
		name_sanitize(hn, agent.host, sizeof agent.host);
	}
	for (char *p = agent.host; *p; p++)
		if (*p == '.')
			*p = '-'; /* HOST.SLOT must split at the last dot */
}

/* The spool (SPOOL, or the default) opened, and the helper programs
 * found: hf-check must be there. */
static void spool_setup(const char *spool)
{
	char err[1024];
	char *abs = realpath(spool ? spool : spool_default(), NULL);
	if (!abs)
		die_errno(EXIT_TEMPFAIL, "no spool at %s", spool ? spool : spool_default());
	if (spool_open(abs, &agent.spool, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	free(abs);
	if (spool_perm_guard(&agent.spool, err, sizeof err) < 0) {
		if (!insecure)
			die(EXIT_BADINPUT, "%s", err);
		warn("--insecure: %s", err);
	}
	const char *lx = getenv("HOTFARM_LIBEXECDIR");
	snprintf(agent.checker, sizeof agent.checker, "%s/hf-check", lx ? lx : HOTFARM_LIBEXECDIR);
	if (access(agent.checker, X_OK) < 0)
		die_errno(EXIT_TEMPFAIL, "the image checker %s is missing", agent.checker);
}


/* ---- the loop -------------------------------------------------------------- */

/* When the loop does its periodic work next (mono us). */
struct timers {
	int64_t beat, rescan, probe;
	bool inotify;          /* queue/ and cancelled/ watched: a rescan is only the safety net */
	int64_t watch;         /* while busy: watch_slots, every 20 ms */
	int64_t stop_deadline; /* stopping: the renders have until then */
};

/* How long poll may sleep (ms): until the next heartbeat or rescan, and
 * while busy the next look at the slots. */
static int poll_timeout(const struct timers *t)
{
	int64_t now = mono_us();
	int64_t wake = t->beat < t->rescan ? t->beat : t->rescan;
	if ((slots_busy() || contain_pending()) && wake > t->watch)
		wake = t->watch > now ? t->watch : now + 20000;
	if (wake > nimby_due())
		wake = nimby_due();
	return wake > now ? (int)((wake - now) / 1000) + 1 : 0;
}

/* SIGHUP re-reads the configuration; SIGTERM and SIGINT stop the agent
 * (what runs goes back to todo/); SIGCHLD: children are reaped. */
static void on_signal(const struct signalfd_siginfo *si, struct timers *t)
{
	if (si->ssi_signo == SIGHUP) {
		reload_conf();
		t->beat = t->rescan = 0; /* new intervals from now */
	} else if ((si->ssi_signo == SIGTERM || si->ssi_signo == SIGINT) && !agent.stopping) {
		say("stopping on signal %u: running frames go back to todo/", si->ssi_signo);
		agent.stopping = true;
		t->stop_deadline = mono_us() + agent.spool.conf.kill_grace_ms * 1000LL + 5000000;
		for (int i = 0; i < agent.nslots; i++)
			slot_kill(&agent.slots[i], KILL_STOP);
	}
}

static void on_signals(int sfd, struct timers *t)
{
	struct signalfd_siginfo sis[16];
	ssize_t got;
	/* all that are pending in one read (a full one: read again) */
	do {
		got = read(sfd, sis, sizeof sis);
		for (ssize_t k = 0; k < got / (ssize_t)sizeof sis[0]; k++)
			on_signal(&sis[k], t);
	} while (got == (ssize_t)sizeof sis);
	reap();
}

/* inotify: an entry in cancelled/ stops its job's frames; one coming into
 * or leaving queue/ changes the cached queue; an overflow re-reads queue/.
 * EFD, or -1 once the inotify thread stopped. */
static int on_events(int efd)
{
	struct watch_event ev;
	bool refresh = false, left = false;
	int r;
	while ((r = watch_read(efd, &ev)) > 0) {
		bool in = ev.mask & (IN_MOVED_TO | IN_CREATE), out = ev.mask & (IN_MOVED_FROM | IN_DELETE);
		if (ev.dir == 1 && in) {
			job_cancelled(ev.name);
		} else if (ev.dir == 0 && !refresh && (in || out) && *ev.name) {
			if (in)
				queue_entry_added(ev.name);
			else
				queue_entry_removed(ev.name);
			left = left || out;
		} else if (ev.dir != 1) {
			refresh = true;
		}
	}
	if (r < 0) {
		warn("the inotify thread stopped; relying on rescans");
		efd = -1;
	}
	if (refresh)
		queue_refresh(false);
	if (refresh || left)
		check_left_queue(); /* an entry that left queue/ may be suspended */
	return efd;
}

/* Until the next rescan: [watcherd] rescan_ms, or with inotify on a local
 * spool (every change in queue/ and cancelled/ comes as an event; on a
 * network filesystem only this host's own) at least 10 s, the safety net: a queue of 10,000 jobs listed every 2 s by each of 1,000
 * agents is five million entries a second for the spool's filesystem. */
static int64_t rescan_us(const struct timers *t)
{
	long ms = agent.spool.conf.rescan_ms;
	if (t->inotify && ms < 10000)
		ms = 10000;
	return ms * 1000LL;
}

/* What is due at NOW: the desktop's user looked for ([agent] nimby), the
 * slots watched, the heartbeat, a rescan (the truth when inotify missed
 * something), a new probe of the host. */
static void on_timers(struct timers *t, int64_t now)
{
	if (now >= nimby_due())
		nimby_check(); /* a desktop's user came back: the renders stop */
	if ((slots_busy() || contain_pending()) && now >= t->watch) {
		watch_slots();
		slots_show();
		contain_tidy();
		t->watch = now + 20000;
	}
	if (now >= t->beat) {
		heartbeat();
		t->beat = now + agent.spool.conf.heartbeat * 1000000LL;
	}
	if (now >= t->rescan) {
		queue_refresh(true);
		check_running_jobs();
		jobs_tidy();
		t->rescan = now + rescan_us(t);
	}
	if (now >= t->probe) {
		publish_host(false);
		t->probe = now + agent.spool.conf.probe_interval * 1000000LL;
	}
}

/* Until stopped: fill the slots, wait for a signal, an event or a timer. */
static void main_loop(int sfd, int efd)
{
	bool local = spool_is_local(&agent.spool);
	struct timers t = {
		.beat = mono_us() + agent.spool.conf.heartbeat * 1000000LL,
		.probe = mono_us() + agent.spool.conf.probe_interval * 1000000LL,
		.inotify = efd >= 0 && local,
	};
	t.rescan = mono_us() + rescan_us(&t);
	for (;;) {
		fill_slots();
		if (agent.stopping && !slots_busy())
			break;
		int timeout = poll_timeout(&t);
		struct pollfd pfd[3] = {{.fd = sfd, .events = POLLIN}, {.fd = efd, .events = POLLIN},
					{.fd = checker_fd(), .events = POLLIN}};
		int n = poll(pfd, 3, timeout);
		if (n < 0 && errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "poll");
		if (n > 0 && (pfd[0].revents & POLLIN))
			on_signals(sfd, &t);
		if (efd >= 0 && n > 0 && (pfd[1].revents & POLLIN))
			efd = on_events(efd);
		t.inotify = efd >= 0 && local;
		/* checks that ended (and those read while one was started) */
		checker_events();
		int64_t now = mono_us();
		on_timers(&t, now);
		if (agent.stopping && now > t.stop_deadline)
			break;
	}
}

int main(int argc, char **argv)
{
	msg_init("render-agent");
	msg_timestamps(true);
	const char *spool = NULL;
	long want_slots = 0;
	options(argc, argv, &spool, &want_slots);
	host_name();
	spool_setup(spool);
	spool_key(&agent.spool, agent.key);
	host_enter();
	slots_init(want_slots);
	heartbeat();
	kill_leftovers();
	contain_start();
	/* before the probe, which runs each package's version command (a
	 * second or more for some): the claims are others' to take meanwhile */
	return_stale();
	publish_host(true);
	heartbeat(); /* the probe may have taken longer than host_timeout */
	nimby_check(); /* its state said (and hosts/HOST/nimby written) before any frame is taken */

	int sfd = signals_fd();
	const char *dirs[] = {state_dir_name(STATE_QUEUED), state_dir_name(STATE_CANCELLED)};
	int efd = agent.spool.conf.use_inotify
			  ? watch_start(agent.spool.path, dirs, 2, IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE)
			  : -1;
	say("%s renders with %d slot%s%s on %s (%s)", agent.host, agent.nslots_on, agent.nslots_on == 1 ? "" : "s",
	    agent.slots_auto ? " (auto: sized to the renders)" : "", agent.spool.path,
	    efd >= 0 ? "inotify" : "rescans only");
	spool_conf_warn(&agent.spool);
	render_user_check();

	startups_spawn(); /* after the signal mask: their SIGCHLD must reach sfd */
	queue_refresh(false);
	main_loop(sfd, efd);
	area_forget(0);
	contain_end();
	host_leave();
	say("stopped");
	return EXIT_OK;
}
