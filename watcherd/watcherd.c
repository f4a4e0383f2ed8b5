/* watcherd.c - the site daemon: watches inbox/, new/ and cancel/ with
 * inotify, rescans them as the safety net, and runs one spooler process per
 * step (intake, route, cancel). It reads only names and stat data from the
 * tree; everything a user dropped is handled by the spoolers, so a hostile
 * file can crash a spooler but never watcherd. */
#define _GNU_SOURCE
#include "../layout/layout.h"
#include "../layout/watch.h"
#include "../layout/site.h"
#include "farm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inotifytools/inotify.h>
#include <limits.h>
#include <poll.h>
#include <search.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HOTFARM_LIBEXECDIR
#define HOTFARM_LIBEXECDIR "/usr/local/bin"
#endif

extern char **environ;

static struct spool sp;
static char libexec[PATH_MAX];
static bool verbose;
static int64_t heartbeat_stale_us = 30 * 1000000LL;

/* ---- the lock: one watcherd per spool ----------------------------------- */

/* A POSIX record lock on run/watcherd.lock works locally and on NFS (the
 * lock manager); on filesystems that do not share locks between hosts
 * (sshfs, some SMB mounts) the file's heartbeat (its mtime, touched every
 * rescan) and host name stand in: a fresh heartbeat from another host
 * keeps a second watcherd out. */
static int lock_fd = -1;

static void lock_spool(void)
{
	lock_fd = openat(spool_fd(&sp, DIR_RUN), "watcherd.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open %s/run/watcherd.lock", sp.path);
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
	/* Locked. Does a heartbeat say another host runs one anyway? */
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

/* ---- children ------------------------------------------------------------- */

enum child_kind {
	CHILD_INTAKE, CHILD_ROUTE, CHILD_CANCEL, CHILD_RECOVER, CHILD_STATUS, CHILD_NOTIFY, CHILD_SYNC, CHILD_COLLECT,
	CHILD_SEND, CHILD_KINDS
};

struct child {
	pid_t pid;
	enum child_kind kind;
	char key[300]; /* the stem or the cancel request */
	int64_t started;
	unsigned long arrivals; /* jobs seen in new/ when it started */
	struct child *next;
};
static struct child *children;
static bool status_dirty = true; /* the status page should be written again */
static int64_t status_last;
static unsigned long arrivals; /* entries seen in new/ so far */
static int running[CHILD_KINDS];

static pid_t spawn(enum child_kind kind, const char *key, char *const argv[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	spawn_attr_child(&at);
	/* children get no inotify descriptor, no lock, no pipes of ours */
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	pid_t pid;
	int e = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e) {
		errno = e;
		warn("unable to start %s: %s", argv[0], strerror(e));
		return -1;
	}
	struct child *c = xcalloc(1, sizeof *c);
	c->pid = pid;
	c->kind = kind;
	snprintf(c->key, sizeof c->key, "%s", key);
	c->started = mono_us();
	c->arrivals = arrivals;
	c->next = children;
	children = c;
	running[kind]++;
	return pid;
}

static char *prog(const char *name) { return xasprintf("%s/%s", libexec, name); }

/* ---- the inbox -------------------------------------------------------------- */

/* One dropped file, as last seen. */
struct file {
	char name[256];
	char stem[256];
	bool is_ini;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int64_t changed;  /* monotonic time the signature last changed */
	bool landed;      /* arrived by rename */
	bool seen;        /* present in the current rescan */
};

/* A group of files with one stem: an archive and its .ini. */
struct stem {
	char name[256];
	bool busy;          /* an intake runs for it */
	bool dirty;         /* look at it again */
	uint64_t wait_sig;  /* what it looked like when intake said "wait" */
	int64_t retry_at;   /* monotonic; 0: no wait pending */
	int64_t first_seen;
	struct file *files[8]; /* its files; more with one stem wait */
	int nfiles;
};

static void *files_tree, *stems_tree;
static size_t nfiles;

static int cmp_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static struct stem *stem_get(const char *name, bool create)
{
	struct stem key;
	snprintf(key.name, sizeof key.name, "%s", name);
	void *r = tfind(&key, &stems_tree, cmp_name);
	if (r)
		return *(struct stem **)r;
	if (!create)
		return NULL;
	struct stem *s = xcalloc(1, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->first_seen = mono_us();
	tsearch(s, &stems_tree, cmp_name);
	return s;
}

/* dirty stems, to look at in schedule() */
static struct stem **dirty;
static size_t ndirty, dirty_cap;

static void stem_touch(struct stem *s)
{
	if (s->dirty)
		return;
	s->dirty = true;
	if (ndirty == dirty_cap) {
		dirty_cap = dirty_cap ? dirty_cap * 2 : 64;
		dirty = xrealloc(dirty, dirty_cap * sizeof *dirty);
	}
	dirty[ndirty++] = s;
}


/* Names a careful writer or a file browser uses while a file is still
 * being written; the final rename brings the real name. */
static bool is_temporary(const char *name)
{
	static const char *const sufs[] = {".part", ".partial", ".crdownload", ".tmp", ".temp", "~",
					   ".swp",  ".filepart", ".download", ".!qb", NULL};
	if (name[0] == '.' || !strcasecmp(name, "desktop.ini") || !strcasecmp(name, "thumbs.db") ||
	    !strncmp(name, "~$", 2))
		return true;
	for (const char *const *s = sufs; *s; s++)
		if (has_suffix(name, *s))
			return true;
	return false;
}


static struct file *file_get(const char *name)
{
	void *r = tfind(name, &files_tree, cmp_name);
	return r ? *(struct file **)r : NULL;
}

static void file_forget(const char *name)
{
	struct file *f = file_get(name);
	if (!f)
		return;
	tdelete(f, &files_tree, cmp_name);
	nfiles--;
	struct stem *s = stem_get(f->stem, false);
	if (s) {
		for (int i = 0; i < s->nfiles; i++)
			if (s->files[i] == f) {
				s->files[i] = s->files[--s->nfiles];
				break;
			}
		stem_touch(s);
	}
	free(f);
}

/* Look at inbox/NAME (after an event or in a rescan). */
static void file_update(const char *name, bool moved_in)
{
	if (is_temporary(name))
		return;
	struct stat st;
	if (fstatat(spool_fd(&sp, DIR_INBOX), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		file_forget(name);
		return;
	}
	struct file *f = file_get(name);
	if (!f) {
		f = xcalloc(1, sizeof *f);
		snprintf(f->name, sizeof f->name, "%s", name);
		drop_stem(name, f->stem, sizeof f->stem);
		f->is_ini = has_suffix(name, ".ini");
		f->changed = mono_us();
		tsearch(f, &files_tree, cmp_name);
		nfiles++;
		struct stem *s = stem_get(f->stem, true);
		if (s->nfiles < 8)
			s->files[s->nfiles++] = f;
		if (verbose || nfiles < 1000) {
			char shown[600];
			text_escape(name, shown, sizeof shown);
			say("inbox: %s %s", shown, moved_in ? "landed" : "appeared");
		}
	} else if (f->dev != st.st_dev || f->ino != st.st_ino || f->size != st.st_size ||
		   f->mtime.tv_sec != st.st_mtim.tv_sec || f->mtime.tv_nsec != st.st_mtim.tv_nsec) {
		f->changed = mono_us();
		f->landed = false;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->ctime = st.st_ctim;
	f->seen = true;
	if (moved_in)
		f->landed = true;
	stem_touch(stem_get(f->stem, true));
}

/* Is somebody on this host still writing the file? A read lease is
 * granted only when nobody has it open for writing. Returns 1 busy, 0 not,
 * -1 cannot tell (another owner without CAP_LEASE, a network filesystem). */
static int being_written(const char *name)
{
	int fd = openat(spool_fd(&sp, DIR_INBOX), name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = -1;
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		r = 0;
	} else if (errno == EAGAIN) {
		r = 1;
	}
	close(fd);
	return r;
}

static bool local_fs;

static bool file_ready(struct file *f)
{
	if (f->landed)
		return true;
	int w = being_written(f->name);
	if (w == 1)
		return false;
	if (w == 0 && local_fs)
		return true;
	return mono_us() - f->changed >= sp.conf.settle * 1000000LL;
}

struct stem_files {
	struct file *ini, *archive;
	int count;
};

/* The files of one stem: its .ini and one archive. */
static struct stem_files stem_files(const struct stem *s)
{
	struct stem_files sf = {.count = s->nfiles};
	for (int i = 0; i < s->nfiles; i++) {
		struct file *f = s->files[i];
		if (f->is_ini && !sf.ini)
			sf.ini = f;
		else if (!f->is_ini && (!sf.archive || strcmp(f->name, sf.archive->name) < 0))
			sf.archive = f;
	}
	return sf;
}

static uint64_t stem_signature(const struct stem_files *sf)
{
	uint64_t h = 1469598103934665603ULL;
	const struct file *fs[2] = {sf->ini, sf->archive};
	for (int i = 0; i < 2; i++) {
		if (!fs[i])
			continue;
		uint64_t v[4] = {(uint64_t)fs[i]->ino, (uint64_t)fs[i]->size, (uint64_t)fs[i]->mtime.tv_sec,
				 (uint64_t)fs[i]->mtime.tv_nsec};
		for (int k = 0; k < 4; k++)
			h = (h ^ v[k]) * 1099511628211ULL;
		h = (h ^ (uint64_t)(i + 1)) * 1099511628211ULL;
	}
	return h;
}

static void start_intake(struct stem *s, const struct stem_files *sf)
{
	char *argv[8];
	int n = 0;
	argv[n++] = prog("hf-intake");
	argv[n++] = "--spool";
	argv[n++] = sp.path;
	if (sf->archive && sf->archive->landed)
		argv[n++] = "--landed";
	if (sf->ini)
		argv[n++] = sf->ini->name;
	if (sf->archive)
		argv[n++] = sf->archive->name;
	argv[n] = NULL;
	if (spawn(CHILD_INTAKE, s->name, argv) > 0) {
		s->busy = true;
		s->wait_sig = stem_signature(sf);
	}
	free(argv[0]);
}

/* ---- new/ and cancel/ ------------------------------------------------------ */

static struct strlist route_pending; /* entries seen in new/, not yet routed */
static struct strlist cancel_pending;
static struct strlist cancel_waiting; /* requests whose job is not there yet */
static int64_t cancel_retry_at;

static void start_route(void)
{
	if (running[CHILD_ROUTE] || route_pending.n == 0)
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

static void start_cancels(void)
{
	while (cancel_pending.n && running[CHILD_CANCEL] < 2) {
		char *req = cancel_pending.v[--cancel_pending.n];
		char *argv[] = {prog("hf-cancel"), "--spool", sp.path, "--", req, NULL};
		spawn(CHILD_CANCEL, req, argv);
		free(argv[0]);
		free(req);
	}
}

static bool cancel_recheck;

static void note_new(const char *entry)
{
	if (entry_parse(entry, NULL, NULL, NULL) && !strlist_has(&route_pending, entry)) {
		strlist_add(&route_pending, entry);
		arrivals++;
		/* a cancel request may have been waiting for this job */
		if (cancel_waiting.n)
			cancel_recheck = true;
	}
}

static bool child_has_key(enum child_kind k, const char *key)
{
	for (struct child *c = children; c; c = c->next)
		if (c->kind == k && !strcmp(c->key, key))
			return true;
	return false;
}

static void note_cancel(const char *req)
{
	if (req[0] == '.' || strlist_has(&cancel_pending, req) || strlist_has(&cancel_waiting, req) ||
	    child_has_key(CHILD_CANCEL, req))
		return;
	char shown[600];
	text_escape(req, shown, sizeof shown);
	say("cancel: request %s", shown);
	strlist_add(&cancel_pending, req);
}

/* ---- scanning ----------------------------------------------------------------- */

static void file_unseen(const void *node, VISIT v, void *closure)
{
	(void)closure;
	if (v == postorder || v == leaf)
		(*(struct file *const *)node)->seen = false;
}

static struct strlist gone;
static void file_collect_gone(const void *node, VISIT v, void *closure)
{
	(void)closure;
	if (v != postorder && v != leaf)
		return;
	const struct file *f = *(struct file *const *)node;
	if (!f->seen)
		strlist_add(&gone, f->name);
}

static void scan_dir(enum spool_dir d, void (*each)(const char *name))
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

static void inbox_seen(const char *name) { file_update(name, false); }

static void sync_due(void);
static void sites_tick(bool rescanning);

static void rescan(void)
{
	twalk_r(files_tree, file_unseen, NULL);
	scan_dir(DIR_INBOX, inbox_seen);
	twalk_r(files_tree, file_collect_gone, NULL);
	for (size_t i = 0; i < gone.n; i++)
		file_forget(gone.v[i]);
	strlist_free(&gone);
	scan_dir(DIR_STATE_FIRST + STATE_NEW, note_new);
	if (mono_us() >= cancel_retry_at) {
		strlist_free(&cancel_waiting);
		cancel_retry_at = mono_us() + 30 * 1000000LL;
	}
	scan_dir(DIR_CANCEL, note_cancel);
	heartbeat();
	farm_rescan(&sp);
	status_dirty = true; /* agents change things watcherd sees only here */
	/* notices due: one hf-notify per job at a time */
	struct strlist due = {0};
	farm_notices(&sp, &due);
	for (size_t i = 0; i < due.n; i++) {
		char *tab = strchr(due.v[i], '\t');
		*tab = 0;
		if (child_has_key(CHILD_NOTIFY, due.v[i]) || running[CHILD_NOTIFY] >= 4)
			continue;
		char *argv[] = {prog("hf-notify"), "--spool", sp.path, due.v[i], tab + 1, NULL};
		spawn(CHILD_NOTIFY, due.v[i], argv);
		free(argv[0]);
	}
	strlist_free(&due);
	sync_due();
	sites_tick(true);
}

/* ---- linked sites ------------------------------------------------------------------- */

/* Each peer with files waiting in sites/PEER/out/ gets a `hotfarm sync
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

static void sync_due(void)
{
	DIR *d = dir_open(spool_fd(&sp, DIR_SITES), ".");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!name_is_valid(e->d_name) || strlen(e->d_name) >= 64)
			continue;
		char out[128];
		snprintf(out, sizeof out, "%s/out", e->d_name);
		struct peer_sync *p = dir_has_names(dirfd(d), out) ? peer_get(e->d_name) : NULL;
		if (!p || mono_us() < p->next || child_has_key(CHILD_SYNC, p->name))
			continue;
		char *argv[] = {prog("hf-sync"), "--spool", sp.path, p->name, NULL};
		spawn(CHILD_SYNC, p->name, argv);
		free(argv[0]);
	}
	if (d)
		closedir(d);
}

/* What linked sites delivered (sites/PEER/in/) is taken in by one
 * hf-collect per peer; hf-send packs jobs routed away and answers peers,
 * after each routing or collecting and at each rescan; this site's
 * summary goes to every peer every [site] summary seconds. */
static bool send_due;
static int64_t summary_next;

static void collect_due(const char *peer)
{
	if (child_has_key(CHILD_COLLECT, peer))
		return;
	char path[SITE_NAME_MAX + 8];
	snprintf(path, sizeof path, "%s/in", peer);
	if (!dir_has_names(spool_fd(&sp, DIR_SITES), path))
		return;
	char *argv[] = {prog("hf-collect"), "--spool", sp.path, (char *)peer, NULL};
	spawn(CHILD_COLLECT, peer, argv);
	free(argv[0]);
}

static void sites_tick(bool rescanning)
{
	if (!sp.conf.nlinks)
		return;
	if (mono_us() >= summary_next) {
		site_summaries_write(&sp);
		summary_next = mono_us() + sp.conf.summary_interval * 1000000LL;
		rescanning = true;
	}
	if (rescanning)
		for (int i = 0; i < sp.conf.nlinks; i++)
			collect_due(sp.conf.links[i].name);
	if ((send_due || rescanning) && !running[CHILD_SEND]) {
		char *argv[] = {prog("hf-send"), "--spool", sp.path, NULL};
		if (spawn(CHILD_SEND, "", argv) > 0)
			send_due = false;
		free(argv[0]);
	}
	if (rescanning)
		sync_due();
}

static void sync_done(const char *name, int code)
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

/* ---- deciding what to start ------------------------------------------------------ */

/* How long a lone archive that arrived by rename waits for its .ini. */
#define PAIR_WAIT_US 15000
static struct stem *pairing[64];
static size_t npairing;
static int64_t pair_due; /* the earliest wake-up for them, 0: none */

static void pair_wait(struct stem *s, int64_t due)
{
	for (size_t i = 0; i < npairing; i++)
		if (pairing[i] == s)
			goto set;
	if (npairing == sizeof pairing / sizeof *pairing)
		return; /* a flood of lone archives: the rescan brings them */
	pairing[npairing++] = s;
set:
	if (!pair_due || due < pair_due)
		pair_due = due;
}

static void pair_wake(void)
{
	if (!pair_due || mono_us() < pair_due)
		return;
	pair_due = 0;
	size_t n = npairing;
	npairing = 0;
	for (size_t i = 0; i < n; i++)
		stem_touch(pairing[i]);
}

/* Returns true when s waits for a free intake slot (and still exists:
 * a stem whose files are gone is freed here). */
static bool stem_consider(struct stem *s)
{
	s->dirty = false;
	if (s->busy)
		return false;
	struct stem_files sf = stem_files(s);
	if (sf.count == 0) {
		for (size_t i = 0; i < npairing; i++)
			if (pairing[i] == s)
				pairing[i] = pairing[--npairing];
		tdelete(s, &stems_tree, cmp_name);
		free(s);
		return false;
	}
	if (s->retry_at && stem_signature(&sf) == s->wait_sig && mono_us() < s->retry_at)
		return false; /* intake said wait, and nothing changed */
	if ((sf.ini && !file_ready(sf.ini)) || (sf.archive && !file_ready(sf.archive)))
		return false; /* the rescan or a close event brings it back */
	if (sf.archive && !sf.ini && sf.archive->landed && mono_us() < sf.archive->changed + PAIR_WAIT_US) {
		/* Careful writers rename the archive in, then its .ini: give
		 * the .ini a moment rather than open the archive twice. */
		pair_wait(s, sf.archive->changed + PAIR_WAIT_US);
		return false;
	}
	if (running[CHILD_INTAKE] >= sp.conf.processes) {
		s->dirty = true; /* stays in the dirty list */
		return true;
	}
	s->retry_at = 0;
	start_intake(s, &sf);
	return false;
}

/* The status page: after changes, at most about once a second. */
static void status_page(void)
{
	if (!status_dirty || running[CHILD_STATUS] || mono_us() - status_last < 1000000)
		return;
	char *argv[] = {prog("hf-status"), "--spool", sp.path, NULL};
	if (spawn(CHILD_STATUS, "", argv) > 0) {
		status_dirty = false;
		status_last = mono_us();
	}
	free(argv[0]);
}

static void schedule(void)
{
	size_t keep = 0;
	for (size_t i = 0; i < ndirty; i++) {
		if (stem_consider(dirty[i]) && running[CHILD_INTAKE] >= sp.conf.processes) {
			/* all intake slots busy: keep the rest for later */
			for (size_t j = i; j < ndirty; j++)
				dirty[keep++] = dirty[j];
			break;
		}
	}
	ndirty = keep;
	start_route();
	start_cancels();
	status_page();
	sites_tick(false);
}

static void waiting_walk(const void *node, VISIT v, void *closure)
{
	(void)closure;
	if (v != postorder && v != leaf)
		return;
	struct stem *s = *(struct stem *const *)node;
	if (s->retry_at && mono_us() >= s->retry_at)
		stem_touch(s);
	else if (!s->busy && !s->retry_at)
		stem_touch(s); /* not ready before: maybe now */
}

/* ---- reaping --------------------------------------------------------------------- */

static void reap(void)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct child **pp = &children, *c = NULL;
		for (; *pp; pp = &(*pp)->next)
			if ((*pp)->pid == pid) {
				c = *pp;
				*pp = c->next;
				break;
			}
		if (!c)
			continue;
		running[c->kind]--;
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		double ms = (double)(mono_us() - c->started) / 1000.0;
		if (c->kind == CHILD_INTAKE) {
			struct stem *s = stem_get(c->key, false);
			char shown[600];
			text_escape(c->key, shown, sizeof shown);
			if (s) {
				s->busy = false;
				stem_touch(s);
			}
			if (code == EXIT_WAIT && s) {
				/* ask again when something changes, or in a while */
				long wait = sp.conf.orphan_grace < 30 ? sp.conf.orphan_grace : 30;
				s->retry_at = mono_us() + (wait < 1 ? 1 : wait) * 1000000LL;
				if (verbose)
					say("intake %s: not complete yet (%.1f ms)", shown, ms);
			} else if (code == EXIT_OK || code == EXIT_BADINPUT) {
				if (verbose)
					say("intake %s: finished with %d (%.1f ms)", shown, code, ms);
			} else {
				warn("intake %s: %s %d after %.1f ms; trying again later", shown,
				     WIFEXITED(status) ? "exit" : "killed by signal",
				     WIFEXITED(status) ? code : WTERMSIG(status), ms);
				if (s)
					s->retry_at = mono_us() + 5 * 1000000LL;
			}
		} else if (c->kind == CHILD_SYNC) {
			sync_done(c->key, code);
		} else if (c->kind == CHILD_COLLECT) {
			send_due = true;
			if (code == 0)
				collect_due(c->key); /* more may have come meanwhile */
		} else if (c->kind == CHILD_SEND) {
			sync_due();
		} else if (c->kind == CHILD_CANCEL) {
			if (code == EXIT_WAIT) {
				strlist_add(&cancel_waiting, c->key);
				if (c->arrivals != arrivals)
					cancel_recheck = true; /* its job may have come meanwhile */
			}
		} else if (code != 0) {
			warn("%s exited %d", c->kind == CHILD_ROUTE ? "hf-route"
					     : c->kind == CHILD_STATUS ? "hf-status"
					     : c->kind == CHILD_NOTIFY ? "hf-notify"
								       : "hf-intake --recover",
			     code);
		}
		if (c->kind == CHILD_ROUTE && sp.conf.nlinks)
			send_due = true;
		if (c->kind != CHILD_STATUS)
			status_dirty = true;
		free(c);
	}
}

/* ---- inotify -------------------------------------------------------------------- */

static const enum spool_dir watched[] = {DIR_INBOX, DIR_CANCEL, DIR_STATE_FIRST + STATE_NEW};
#define NWATCHED 3 /* then sites/PEER/in and sites/PEER/out for each link */
static int event_fd = -1;

static bool start_inotify(void)
{
	const char *dirs[NWATCHED + 2 * 16];
	char *paths[2 * 16];
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
	event_fd = watch_start(sp.path, dirs, n,
			       IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_ATTRIB);
	for (int i = 0; i < 2 * sp.conf.nlinks; i++)
		free(paths[i]);
	return event_fd >= 0;
}

static bool want_rescan;

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
			file_forget(m->name);
		else
			file_update(m->name, (m->mask & IN_MOVED_TO) != 0);
		break;
	case DIR_CANCEL:
		if (m->mask & (IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE))
			note_cancel(m->name);
		break;
	default:
		if (m->dir == DIR_STATE_FIRST + STATE_NEW && (m->mask & (IN_MOVED_TO | IN_CREATE)))
			note_new(m->name);
		break;
	}
}

/* ---- main ---------------------------------------------------------------------- */

/* Recovery runs at start, before anything else, and then now and then in
 * the background for spoolers run by hand that died half way. */
static void run_recovery(bool wait)
{
	if (running[CHILD_RECOVER])
		return;
	char *argv[] = {prog("hf-intake"), "--spool", sp.path, wait ? "--recover=start" : "--recover", NULL};
	pid_t pid = spawn(CHILD_RECOVER, "", argv);
	free(argv[0]);
	if (pid < 0 || !wait)
		return;
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	struct child **pp = &children;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->pid == pid) {
			struct child *c = *pp;
			*pp = c->next;
			running[c->kind]--;
			free(c);
			break;
		}
}

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
		"usage: watcherd [--spool DIR] [-d] [--pidfile FILE] [--log FILE] [-v]\n"
		"The site daemon: takes dropped jobs in, queues them, acts on cancel/.\n"
		"  --spool DIR     the spool (default $HOTFARM_SPOOL, else /var/spool/hotfarm)\n"
		"  -d, --daemon    run in the background, the messages going to --log\n"
		"                  (default SPOOL/run/watcherd.log)\n"
		"  --log FILE      the messages go to FILE (default: stderr, or as -d says)\n"
		"  --pidfile FILE  where the pid goes (default SPOOL/run/watcherd.pid)\n"
		"  -v, --verbose   log every event, also in busy inboxes\n"
		"Messages are key=value lines (time, level, prog, job, frame, msg).\n"
		"SIGHUP re-reads conf/hotfarm.ini and rescans; SIGTERM or SIGINT stop it cleanly.\n"
		"Exit: 0 stopped, 100 usage, 111 cannot run\n"
		"(another watcherd holds the spool, or the spool is missing).\n");
	exit(code);
}

int main(int argc, char **argv)
{
	msg_init("watcherd");
	msg_timestamps(true);
	const char *spool = NULL, *logfile = NULL;
	bool daemonize = false;
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"daemon", no_argument, 0, 'd'},
					     {"pidfile", required_argument, 0, 'p'},
					     {"log", required_argument, 0, 'l'},
					     {"verbose", no_argument, 0, 'v'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:dp:l:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'd': daemonize = true; break;
		case 'p': pidfile = xstrdup(optarg); break;
		case 'l': logfile = optarg; break;
		case 'v': verbose = true; break;
		case 'h': usage(EXIT_OK);
		default: usage(EXIT_BADINPUT);
		}
	}
	if (optind != argc)
		usage(EXIT_BADINPUT);
	const char *env = getenv("HOTFARM_LIBEXECDIR");
	snprintf(libexec, sizeof libexec, "%s", env ? env : HOTFARM_LIBEXECDIR);
	char err[1024];
	char *abs = realpath(spool ? spool : spool_default(), NULL);
	if (!abs)
		die_errno(EXIT_TEMPFAIL, "no spool at %s (create one with: hotfarm init DIR)",
			  spool ? spool : spool_default());
	if (spool_open(abs, &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	free(abs);
	if (!pidfile)
		pidfile = xasprintf("%s/run/watcherd.pid", sp.path);

	int ready[2] = {-1, -1};
	if (daemonize) {
		if (pipe2(ready, O_CLOEXEC) < 0)
			die_errno(EXIT_TEMPFAIL, "pipe");
		pid_t pid = fork();
		if (pid < 0)
			die_errno(EXIT_TEMPFAIL, "fork");
		if (pid > 0) {
			/* wait until the daemon holds the lock, so that our
			 * exit code says whether it runs */
			close(ready[1]);
			char ok = 0;
			ssize_t n = read(ready[0], &ok, 1);
			if (n == 1 && ok == 'y')
				return EXIT_OK;
			int status;
			waitpid(pid, &status, 0);
			return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_TEMPFAIL;
		}
		close(ready[0]);
		setsid();
	}
	lock_spool();
	/* the messages go to --log FILE (in the foreground too), and with -d
	 * by default to SPOOL/run/watcherd.log */
	char *log = logfile ? xstrdup(logfile) : daemonize ? xasprintf("%s/run/watcherd.log", sp.path) : NULL;
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

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGIO, SIG_IGN); /* a lease break would otherwise kill us */
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die_errno(EXIT_TEMPFAIL, "signalfd");

	struct statfs fs;
	local_fs = fstatfs(sp.root, &fs) == 0 && fs.f_type != 0x6969 /* NFS */ && fs.f_type != 0xFF534D42 /* CIFS */ &&
		   fs.f_type != 0xFE534D42 /* SMB2 */ && fs.f_type != 0x65735546 /* FUSE */ &&
		   fs.f_type != 0x517B /* SMB */;
	conf_inotify = sp.conf.use_inotify;
	bool use_inotify = sp.conf.use_inotify && start_inotify();
	run_recovery(true);
	say("watching %s (site %s, rescan every %ld ms%s%s)", sp.path, sp.conf.name, sp.conf.rescan_ms,
	    use_inotify ? ", inotify" : ", no inotify", local_fs ? "" : ", network filesystem");
	spool_conf_warn(&sp);
	rescan();
	write_pidfile();
	if (daemonize) {
		(void)!write(ready[1], "y", 1);
		close(ready[1]);
	}

	int64_t next_rescan = mono_us() + sp.conf.rescan_ms * 1000;
	int64_t next_recovery = mono_us() + 60 * 1000000LL;
	bool stop = false;
	while (!stop) {
		schedule();
		int64_t now = mono_us();
		int timeout = (int)((next_rescan - now) / 1000);
		if (timeout < 0)
			timeout = 0;
		if (pair_due) {
			int t = (int)((pair_due - now + 999) / 1000);
			if (t < timeout)
				timeout = t < 0 ? 0 : t;
		}
		if (ndirty && running[CHILD_INTAKE] < sp.conf.processes)
			timeout = 0;
		if (status_dirty && !running[CHILD_STATUS]) {
			int t = (int)((status_last + 1000000 - now) / 1000) + 1;
			if (t < timeout)
				timeout = t < 0 ? 0 : t;
		}
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = event_fd, .events = POLLIN}};
		int n = poll(pfd, use_inotify ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "poll");
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
					say("stopping on signal %u", si.ssi_signo);
					stop = true;
				} else if (si.ssi_signo == SIGHUP) {
					reload_conf();
					want_rescan = true;
				}
			}
			reap();
		}
		if (use_inotify && n > 0 && (pfd[1].revents & POLLIN)) {
			struct watch_event m;
			int r = 0;
			/* take what is there, without blocking */
			for (int k = 0; k < 256 && (r = watch_read(event_fd, &m)) > 0; k++)
				handle_event(&m);
			if (r < 0) {
				warn("the inotify thread stopped; relying on rescans");
				use_inotify = false;
			}
		}
		pair_wake();
		if (cancel_recheck) {
			cancel_recheck = false;
			strlist_free(&cancel_waiting);
			scan_dir(DIR_CANCEL, note_cancel);
		}
		if (want_rescan || mono_us() >= next_rescan) {
			want_rescan = false;
			rescan();
			twalk_r(stems_tree, waiting_walk, NULL);
			next_rescan = mono_us() + sp.conf.rescan_ms * 1000;
		}
		if (mono_us() >= next_recovery) {
			run_recovery(false);
			next_recovery = mono_us() + 60 * 1000000LL;
		}
	}
	/* Children are spoolers: each is crash-safe, but let the running ones
	 * finish their step rather than leave work for recovery. */
	int64_t deadline = mono_us() + 10 * 1000000LL;
	while (children && mono_us() < deadline) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		poll(&pfd, 1, 100);
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
			;
		reap();
	}
	for (struct child *k = children; k; k = k->next)
		kill(-k->pid, SIGKILL);
	unlink(pidfile);
	if (lock_fd >= 0 && ftruncate(lock_fd, 0) < 0)
		warn("unable to clear run/watcherd.lock");
	say("stopped");
	return EXIT_OK;
}
