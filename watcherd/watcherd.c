/* watcherd.c - the site daemon: holds the spool's lock, watches inbox/, new/, cancel/ and the linked sites'
 * folders with inotify, rescans them as the safety net, and runs one stage program per step (children.c).
 * Distrusts every name it sees, and leaves the contents of files to the stages and to its passes (farm.c). */

/* What watcherd reads, and who can write it.
 *
 * In its own process: names and stat data (inbox/, new/, queue/, cancel/, sites/ and each sites/PEER/in/ and
 * out/, the heartbeat of its lock, and a queued or ended job's previews/ folder itself: whether hf-movie has
 * anything new to see there), and of file contents only these three:
 *   conf/hotfarm.ini   at start and on SIGHUP. Written by the admin. Read through the ini guard (O_NOFOLLOW,
 *                      non-blocking, a regular file, at most 1 MiB), each value range-checked; steering
 *                      watcherd is what it is for.
 *   run/watcherd.lock  its first 255 bytes, at start. Written by watcherd (this one, or one on another host
 *                      of a shared spool). Opened O_NOFOLLOW and non-blocking, a regular file or watcherd
 *                      stops; it decides only whether to refuse to start (a fresh heartbeat from elsewhere).
 *   the farm pass's stdout  lines "NAME\tEVENT" from watcherd's own child, through a pipe: at most 8 MiB, a
 *                      line used only when NAME is a valid job id and EVENT one of four words. It chooses
 *                      which hf-notify to start; hf-notify looks at the job again itself.
 * (The README's install recipe, chmod g+ws on every folder of the spool, lets the artists' group replace
 * any file in it, conf/, run/, hosts/ and sites/ included: each "written by" here holds only where the
 * folder is kept to the hotfarm user.)
 * Files in inbox/ (an artist's) are opened, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, but never read: only to ask
 * for a read lease, which says whether someone still writes them.
 *
 * In its passes (farm.c), each a child of its own: `watcherd --farm-pass` at each rescan (one at a time; one
 * stuck for 5 minutes is killed) and `watcherd --site-summaries` every [site] summary seconds. A hostile or
 * broken file ends the pass, not watcherd. Every file through file_read_small: O_NOFOLLOW, non-blocking, a
 * regular file, at most 1 MiB (an .ini, a ticket) or 64 MiB (notifications.log).
 *   hosts/HOST/host.ini, slot.N    the render agent of HOST. Decide which hosts are lost (their claims
 *                                  go back to todo/ and limits/) and what a queued job waits for.
 *   sites/PEER/summary.ini         hf-collect, from what PEER sent: PEER decides its content. Host names
 *                                  and numbers checked; decides where an auto job goes and what this site
 *                                  tells its other peers it reaches.
 *   jobs/NAME/job.ini, status.ini, outsourced.ini, notifications.log, frames/{todo,active,done,failed}/,
 *   blocked/, previews/            intake, route, the agents, hf-notify -- and the job's own render, which
 *                                  hf-confine gives the whole job folder read-write. What a render can
 *                                  steer there (for the next issue, which moves these out of its reach):
 *     job.ini            email (where its notices go), site = auto and [route] (whether and where it is
 *                        rerouted to a linked site), after (it can fail itself), [requires] (its reason);
 *     status.ini         owner, frames_total, tickets, times, warnings: kept and written back; the samples
 *                        and progress notices follow its frames_done and state;
 *     notifications.log  which notices went out: emptied, they go out again, a mail per pass;
 *     frames/            no ticket in todo/ or active/ finishes the job (done, or failed if any in
 *                        failed/), and the billing lines in its tickets become billing.ini;
 *     status.lock        held with flock, it delays the pass at that job by 10 s at most (then
 *                        the update goes without it: job_status_lock gives up);
 *     outsourced.ini, blocked/HOST, previews/contact.png   only narrow where it may go, its reason, and
 *                        when the samples notice goes. */
#define _GNU_SOURCE
#include "watcherd.h"
#include "../layout/perms.h"
#include "../layout/watch.h"
#include "farm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inotifytools/inotify.h>
#include "../layout/preset.h"
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct spool sp;
bool verbose;
static int64_t heartbeat_stale_us = 30 * 1000000LL;

/* ---- the lock: one watcherd per spool ----------------------------------- */

/* A POSIX record lock on run/watcherd.lock works locally and on NFS (the
 * lock manager); on filesystems that do not share locks between hosts
 * (sshfs, some SMB mounts) the file's heartbeat (its mtime, touched every
 * rescan) and host name stand in: a fresh heartbeat from another host
 * keeps a second watcherd out. */
static int lock_fd = -1;

/* Locked. Does a heartbeat in HOLDER (the lock file's text) say another
 * host runs one anyway? */
static void lock_check_heartbeat(const char *holder)
{
	char host[HOST_NAME_MAX + 1] = "";
	gethostname(host, sizeof host);
	char theirs[HOST_NAME_MAX + 1] = "";
	long pid = 0;
	const char *h = strstr(holder, "host=");
	const char *p = strstr(holder, "pid=");
	if (h)
		sscanf(h + 5, "%255s", theirs);
	if (p)
		pid = atol(p + 4);
	struct stat st;
	if (*theirs && fstat(lock_fd, &st) == 0) {
		int64_t age = now_us() - ((int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000);
		bool same_host = !strcmp(theirs, host);
		bool alive = same_host ? (pid > 0 && kill((pid_t)pid, 0) == 0 && pid != getpid()) : true;
		if (alive && !same_host && age < heartbeat_stale_us)
			die(EXIT_TEMPFAIL,
			    "another watcherd is running on %s (%s; heartbeat %lld s ago). If that host is down, "
			    "wait %lld s and start again",
			    sp.path, holder, (long long)(age / 1000000), (long long)(heartbeat_stale_us / 1000000));
	}
}

static void lock_spool(void)
{
	lock_fd = open_beneath(spool_fd(&sp, DIR_RUN), spool_file_name(SPOOL_FILE_WATCHERD_LOCK),
			       O_RDWR | O_CREAT | O_NONBLOCK, 0644);
	struct stat st;
	if (lock_fd < 0 || fstat(lock_fd, &st) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open %s/run/watcherd.lock", sp.path);
	if (!S_ISREG(st.st_mode))
		die(EXIT_TEMPFAIL, "%s/run/watcherd.lock is not a regular file", sp.path);
	char holder[256] = "";
	ssize_t n = pread(lock_fd, holder, sizeof holder - 1, 0);
	if (n > 0)
		holder[n] = 0;
	for (char *c = holder; *c; c++)
		if (*c == '\n')
			*c = ' ';
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(lock_fd, F_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			die(EXIT_TEMPFAIL, "another watcherd is running on %s (%s)", sp.path,
			    *holder ? holder : "holder unknown");
		die_errno(EXIT_TEMPFAIL, "unable to lock %s/run/watcherd.lock", sp.path);
	}
	lock_check_heartbeat(holder);
	char host[HOST_NAME_MAX + 1] = "";
	gethostname(host, sizeof host);
	char iso[32], text[512];
	time_iso(now_us(), iso);
	int len = snprintf(text, sizeof text, "pid=%ld host=%s since=%s\n", (long)getpid(), host, iso);
	if (ftruncate(lock_fd, 0) < 0 || pwrite(lock_fd, text, (size_t)len, 0) != len)
		die_errno(EXIT_TEMPFAIL, "unable to write run/watcherd.lock");
}

static void heartbeat(void)
{
	if (lock_fd >= 0)
		futimens(lock_fd, NULL);
}

/* ---- scanning ----------------------------------------------------------------- */

void scan_dir(enum spool_dir d, void (*each)(const char *name))
{
	DIR *dir = dir_open(spool_fd(&sp, d), ".");
	if (!dir) {
		warn("unable to list %s/: %s", spool_dir_name(d), strerror(errno));
		return;
	}
	struct dirent *e;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			each(e->d_name);
	closedir(dir);
}

static void rescan(void)
{
	inbox_rescan();
	entries_rescan();
	heartbeat();
	farm_pass_start(); /* hosts, queued jobs, notices due: in a child */
	status_page_changed(); /* agents change things watcherd sees only here */
	sync_due();
	sites_tick(true);
}

/* Start what can start now. */
static void schedule(void)
{
	inbox_schedule();
	entries_start();
	status_page();
	sites_tick(false);
	movies_schedule();
}

/* ---- inotify -------------------------------------------------------------------- */

/* (a job's end, by an agent: done/, failed/, cancelled/, for the pages) */
static const enum spool_dir watched[] = {DIR_INBOX,
					 DIR_CANCEL,
					 DIR_REQUESTS,
					 DIR_STATE_FIRST + STATE_NEW,
					 DIR_STATE_FIRST + STATE_DONE,
					 DIR_STATE_FIRST + STATE_FAILED,
					 DIR_STATE_FIRST + STATE_CANCELLED};
#define NWATCHED 7 /* then sites/PEER/in and sites/PEER/out for each link, then inbox/PRESET */
static int event_fd = -1;
static int watched_links;        /* the links when the watches were set */
static struct strlist watched_presets; /* and the presets */

static bool start_inotify(void)
{
	const char *dirs[NWATCHED + 2 * 16 + PRESET_MAX];
	char *paths[2 * 16 + PRESET_MAX];
	int n = 0;
	for (int i = 0; i < NWATCHED; i++)
		dirs[n++] = spool_dir_name(watched[i]);
	for (int i = 0; i < sp.conf.nlinks; i++)
		for (int k = 0; k < 2; k++) {
			int fd = site_dir_open(&sp, sp.conf.links[i].name, k ? SITE_OUT : SITE_IN);
			if (fd >= 0)
				close(fd);
			char rel[PATH_MAX];
			site_dir_relpath(sp.conf.links[i].name, k ? SITE_OUT : SITE_IN, rel, sizeof rel);
			paths[2 * i + k] = xstrdup(rel);
			dirs[n++] = paths[2 * i + k];
		}
	watched_links = sp.conf.nlinks;
	const struct strlist *pl = inbox_preset_list();
	for (size_t i = 0; i < pl->n && i < PRESET_MAX; i++) {
		char rel[PRESET_NAME_MAX + 16];
		preset_folder_relpath(pl->v[i], rel, sizeof rel);
		paths[2 * watched_links + (int)i] = xstrdup(rel);
		dirs[n++] = paths[2 * watched_links + (int)i];
		strlist_add(&watched_presets, pl->v[i]);
	}
	event_fd = watch_start(sp.path, dirs, n,
			       IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_ATTRIB);
	for (int i = 0; i < 2 * watched_links + (int)watched_presets.n; i++)
		free(paths[i]);
	return event_fd >= 0;
}

static bool want_rescan;
/* The housekeeping pass ([retain]): at start, on SIGHUP and every hour,
 * one at a time, in a child (`watcherd --clean-pass`). */
#define CLEAN_EVERY_US (3600 * 1000000LL)
static bool want_clean = true;
static int64_t next_clean;

static void clean_tick(void)
{
	if ((!want_clean && mono_us() < next_clean) || child_count(CHILD_CLEAN))
		return;
	if (spawn_pass(CHILD_CLEAN, "--clean-pass", -1) > 0) {
		want_clean = false;
		next_clean = mono_us() + CLEAN_EVERY_US;
	}
}

/* SIGHUP: read conf/hotfarm.ini again. The stages read it each time they
 * run; watcherd's own settings apply from now on, but for the two that
 * set up its watches. */
static bool conf_inotify; /* [watcherd] inotify when it started */

static void reload_conf(void)
{
	char err[1024], before[16 * (SITE_NAME_MAX + 1)] = "", after[sizeof before] = "";
	for (int i = 0; i < sp.conf.nlinks; i++)
		snprintf(before + strlen(before), sizeof before - strlen(before), "%s ", sp.conf.links[i].name);
	if (spool_conf_reload(&sp, err, sizeof err) < 0) {
		warn("conf/hotfarm.ini not re-read, the configuration in use stays: %s", err);
		return;
	}
	for (int i = 0; i < sp.conf.nlinks; i++)
		snprintf(after + strlen(after), sizeof after - strlen(after), "%s ", sp.conf.links[i].name);
	say("re-read conf/hotfarm.ini (site %s, rescan every %ld ms)", sp.conf.name, sp.conf.rescan_ms);
	spool_conf_warn(&sp);
	if (sp.conf.use_inotify != conf_inotify)
		warn("[watcherd] inotify changed: it takes effect when watcherd restarts");
	inbox_presets(); /* a new preset's folder: the rescans look at it until a restart */
	if (strcmp(before, after))
		warn("the linked sites changed (%s-> %s): their folders are looked at by the rescans until watcherd "
		     "restarts", *before ? before : "none ", *after ? after : "none ");
}

static void handle_event(struct watch_event *m)
{
	if (m->mask & IN_Q_OVERFLOW) {
		warn("inotify queue overflowed; rescanning everything");
		want_rescan = true;
		return;
	}
	if (m->dir >= NWATCHED + 2 * watched_links) {
		/* a drop into a preset's folder */
		size_t k = (size_t)(m->dir - NWATCHED - 2 * watched_links);
		char name[PRESET_NAME_MAX + 260];
		if (k >= watched_presets.n || !*m->name)
			return;
		snprintf(name, sizeof name, "%s/%s", watched_presets.v[k], m->name);
		if (m->mask & (IN_MOVED_FROM | IN_DELETE))
			inbox_forget(name);
		else
			inbox_update(name, (m->mask & IN_MOVED_TO) != 0);
		return;
	}
	if (m->dir >= NWATCHED) {
		/* a linked site's in/ (something to collect) or out/ (to push) */
		int link = (m->dir - NWATCHED) / 2;
		if (link < sp.conf.nlinks && (m->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) && m->name[0] != '.') {
			if ((m->dir - NWATCHED) % 2 == 0)
				collect_due(sp.conf.links[link].name);
			else
				sync_due();
		}
		return;
	}
	m->dir = (int8_t)watched[m->dir];
	if (m->mask & IN_ISDIR && m->dir != DIR_INBOX)
		return;
	switch (m->dir) {
	case DIR_INBOX:
		if (m->mask & (IN_MOVED_FROM | IN_DELETE))
			inbox_forget(m->name);
		else
			inbox_update(m->name, (m->mask & IN_MOVED_TO) != 0);
		break;
	case DIR_CANCEL:
	case DIR_REQUESTS:
		/* a request renamed in, or written in place and closed */
		if (m->mask & (IN_MOVED_TO | IN_CLOSE_WRITE | (m->dir == DIR_CANCEL ? IN_CREATE : 0)))
			request_note((enum spool_dir)m->dir, m->name);
		break;
	default:
		if (m->dir == DIR_STATE_FIRST + STATE_NEW && (m->mask & (IN_MOVED_TO | IN_CREATE)))
			route_note(m->name);
		else if (m->dir != DIR_STATE_FIRST + STATE_NEW && (m->mask & IN_MOVED_TO)) {
			status_page_changed(); /* a job ended: its page says so */
			movie_job_ended(m->name); /* and once its movie is made, shows it */
		}
		break;
	}
}

/* ---- the loop ------------------------------------------------------------------- */

/* How long poll may sleep: until the next rescan, a lone archive's wait,
 * or the status page; not at all when intakes can start. */
static int poll_timeout(int64_t next_rescan)
{
	int64_t now = mono_us();
	int timeout = (int)((next_rescan - now) / 1000);
	if (timeout < 0)
		timeout = 0;
	int64_t pair_due = inbox_pair_due();
	if (pair_due) {
		int t = (int)((pair_due - now + 999) / 1000);
		if (t < timeout)
			timeout = t < 0 ? 0 : t;
	}
	if (inbox_ready())
		timeout = 0;
	int t = status_page_wait(now);
	if (t >= 0 && t < timeout)
		timeout = t;
	return timeout;
}

/* Read the signals that came; returns true when told to stop. */
static bool signals_read(int sfd)
{
	bool stop = false;
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			say("stopping on signal %u", si.ssi_signo);
			stop = true;
		} else if (si.ssi_signo == SIGHUP) {
			reload_conf();
			want_rescan = true;
			want_clean = true;
		}
	}
	return stop;
}

/* Take the events that are there, without blocking; false when the
 * inotify thread stopped. */
static bool events_read(void)
{
	struct watch_event m;
	int r = 0;
	for (int k = 0; k < 256 && (r = watch_read(event_fd, &m)) > 0; k++)
		handle_event(&m);
	if (r < 0) {
		warn("the inotify thread stopped; relying on rescans");
		return false;
	}
	return true;
}

static void loop(int sfd, bool use_inotify)
{
	int64_t next_rescan = mono_us() + sp.conf.rescan_ms * 1000;
	int64_t next_recovery = mono_us() + 60 * 1000000LL;
	bool stop = false;
	while (!stop) {
		schedule();
		struct pollfd pfd[3] = {{.fd = sfd, .events = POLLIN},
					{.fd = use_inotify ? event_fd : -1, .events = POLLIN},
					{.fd = farm_pass_fd(), .events = POLLIN}};
		int n = poll(pfd, 3, poll_timeout(next_rescan));
		if (n < 0 && errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "poll");
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			stop = signals_read(sfd);
			reap();
		}
		if (use_inotify && n > 0 && (pfd[1].revents & POLLIN))
			use_inotify = events_read();
		if (n > 0 && pfd[2].fd >= 0 && pfd[2].revents)
			farm_pass_read();
		inbox_pair_wake();
		if (want_rescan || mono_us() >= next_rescan) {
			want_rescan = false;
			rescan();
			inbox_retry();
			clean_tick();
			next_rescan = mono_us() + sp.conf.rescan_ms * 1000;
		}
		if (mono_us() >= next_recovery) {
			run_recovery(false);
			next_recovery = mono_us() + 60 * 1000000LL;
		}
	}
}

/* ---- starting and stopping ------------------------------------------------------ */

static char *pidfile;

static void write_pidfile(void)
{
	char text[32];
	int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
	char *dir = xstrdup(pidfile), *slash = strrchr(dir, '/');
	const char *base = pidfile;
	int dfd = AT_FDCWD;
	if (slash) {
		*slash = 0;
		base = slash + 1;
		dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd < 0 || file_write_atomic(dfd, base, text, (size_t)n, 0644) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", pidfile);
	if (dfd != AT_FDCWD)
		close(dfd);
	free(dir);
}

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: watcherd [--spool DIR] [-d] [--pidfile FILE] [--log FILE] [-v] [--insecure]\n"
		"The site daemon: takes dropped jobs in, queues them, acts on requests/ and cancel/.\n"
		"  --spool DIR     the spool (default $HOTFARM_SPOOL, else /var/spool/hotfarm)\n"
		"  -d, --daemon    run in the background, the messages going to --log\n"
		"                  (default SPOOL/run/watcherd.log)\n"
		"  --log FILE      the messages go to FILE (default: stderr, or as -d says)\n"
		"  --pidfile FILE  where the pid goes (default SPOOL/run/watcherd.pid)\n"
		"  -v, --verbose   log every event, also in busy inboxes\n"
		"  --insecure      start even when others than the farm's user may change the\n"
		"                  spool's conf/ or state folders (a farm only one user uses)\n"
		"  --farm-pass, --site-summaries, --clean-pass\n"
		"                  one pass over the farm, this site's summaries for its linked\n"
		"                  sites, or one housekeeping pass ([retain]), as watcherd runs\n"
		"                  them in a child (see watcherd(8))\n"
		"Messages are key=value lines (time, level, prog, job, frame, msg).\n"
		"SIGHUP re-reads conf/hotfarm.ini and rescans; SIGTERM or SIGINT stop it cleanly.\n"
		"Exit: 0 stopped, 100 usage, 111 cannot run\n"
		"(another watcherd holds the spool, or the spool is missing).\n");
	exit(code);
}

struct options {
	const char *spool, *logfile;
	bool daemonize, insecure;
	int pass; /* 'F' --farm-pass, 'S' --site-summaries, 'C' --clean-pass, 0: the daemon */
};

static void options_parse(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"daemon", no_argument, 0, 'd'},
					     {"pidfile", required_argument, 0, 'p'},
					     {"log", required_argument, 0, 'l'},
					     {"verbose", no_argument, 0, 'v'},
					     {"help", no_argument, 0, 'h'},
					     {"farm-pass", no_argument, 0, 'F'},
					     {"site-summaries", no_argument, 0, 'S'},
					     {"clean-pass", no_argument, 0, 'C'},
					     {"insecure", no_argument, 0, 'I'},
					     {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:dp:l:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->spool = optarg; break;
		case 'd': o->daemonize = true; break;
		case 'p': pidfile = xstrdup(optarg); break;
		case 'l': o->logfile = optarg; break;
		case 'v': verbose = true; break;
		case 'I': o->insecure = true; break;
		case 'h': usage(EXIT_OK);
		case 'F':
		case 'S':
		case 'C': o->pass = c; break;
		default: usage(EXIT_BADINPUT);
		}
	}
	if (optind != argc)
		usage(EXIT_BADINPUT);
}

static void spool_start(const char *spool, bool insecure)
{
	char err[1024];
	char *abs = realpath(spool ? spool : spool_default(), NULL);
	if (!abs)
		die_errno(EXIT_TEMPFAIL, "no spool at %s (create one with: hotfarm init DIR)",
			  spool ? spool : spool_default());
	if (spool_open(abs, &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	free(abs);
	if (spool_perm_guard(&sp, err, sizeof err) < 0) {
		if (!insecure)
			die(EXIT_BADINPUT, "%s", err);
		warn("--insecure: %s", err);
	}
	if (!pidfile)
		pidfile = xasprintf("%s/%s/%s", sp.path, spool_dir_name(DIR_RUN), spool_file_name(SPOOL_FILE_WATCHERD_PID));
}

/* -d: fork; the parent waits until the daemon holds the lock, so that its
 * exit code says whether it runs, and exits. Returns (in the daemon) the
 * pipe to say so through. */
static int daemon_fork(void)
{
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		die_errno(EXIT_TEMPFAIL, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		die_errno(EXIT_TEMPFAIL, "fork");
	if (pid > 0) {
		close(ready[1]);
		char ok = 0;
		ssize_t n = read(ready[0], &ok, 1);
		if (n == 1 && ok == 'y')
			exit(EXIT_OK);
		int status;
		waitpid(pid, &status, 0);
		exit(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_TEMPFAIL);
	}
	close(ready[0]);
	setsid();
	return ready[1];
}

/* The messages go to --log FILE (in the foreground too), and with -d by
 * default to SPOOL/run/watcherd.log; a daemon lets go of the terminal. */
static void output_start(const char *logfile, bool daemonize)
{
	char *log = logfile    ? xstrdup(logfile)
		    : daemonize ? xasprintf("%s/%s/%s", sp.path, spool_dir_name(DIR_RUN),
					    spool_file_name(SPOOL_FILE_WATCHERD_LOG))
				: NULL;
	if (log) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			die_errno(EXIT_TEMPFAIL, "unable to open %s", log);
		dup2(fd, 2);
		close(fd);
		free(log);
	}
	if (daemonize) {
		int nul = open("/dev/null", O_RDWR);
		dup2(nul, 0);
		dup2(nul, 1);
		close(nul);
		if (chdir("/") < 0)
			die_errno(EXIT_TEMPFAIL, "chdir /");
	}
	char *pidenv = xasprintf("%ld", (long)getpid());
	setenv("HOTFARM_PARENT", pidenv, 1);
	free(pidenv);
}


int main(int argc, char **argv)
{
	msg_init("watcherd");
	msg_timestamps(true);
	struct options o = {0};
	options_parse(argc, argv, &o);
	if (o.pass == 'C')
		return clean_main(o.spool);
	if (o.pass)
		return farm_main(o.spool, o.pass == 'S');
	children_init();
	spool_start(o.spool, o.insecure);
	int ready = o.daemonize ? daemon_fork() : -1;
	lock_spool();
	output_start(o.logfile, o.daemonize);
	int sfd = signals_fd();

	bool local_fs = inbox_init();
	inbox_presets();
	conf_inotify = sp.conf.use_inotify;
	bool use_inotify = sp.conf.use_inotify && start_inotify();
	run_recovery(true);
	say("watching %s (site %s, rescan every %ld ms%s%s)", sp.path, sp.conf.name, sp.conf.rescan_ms,
	    use_inotify ? ", inotify" : ", no inotify", local_fs ? "" : ", network filesystem");
	spool_conf_warn(&sp);
	rescan();
	write_pidfile();
	if (ready >= 0) {
		(void)!write(ready, "y", 1);
		close(ready);
	}
	loop(sfd, use_inotify);
	children_stop(sfd);
	unlink(pidfile);
	if (lock_fd >= 0 && ftruncate(lock_fd, 0) < 0)
		warn("unable to clear run/watcherd.lock");
	say("stopped");
	return EXIT_OK;
}
