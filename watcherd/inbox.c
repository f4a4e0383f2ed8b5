/* inbox.c - watcherd's view of inbox/: each dropped file by name and stat data, grouped by stem (an archive
 * and its .ini), and when to start one hf-intake for a stem. Distrusts every name and file there: it opens
 * a file only to ask for a lease, never reads one, and escapes names it logs; the contents are intake's. */
#define _GNU_SOURCE
#include "watcherd.h"
#include "../layout/preset.h"
#include "../layout/events.h"

#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
	bool is_dir;      /* a folder dropped into a preset's folder */
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
static bool local_fs;
/* The presets: a drop into inbox/NAME/ is named "NAME/FILE" here, its
 * stem "NAME/STEM"; inbox/NAME itself is no drop. */
static struct strlist presets;

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

/* dirty stems, to look at in inbox_schedule() */
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

void inbox_forget(const char *name)
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

/* The part of NAME after its preset ("NAME" when in inbox/ itself), and
 * the length of "PRESET/" before it. */
static const char *base_name(const char *name, size_t *prefix)
{
	const char *slash = strchr(name, '/');
	*prefix = slash ? (size_t)(slash - name) + 1 : 0;
	return name + *prefix;
}

static struct file *file_new(const char *name, bool moved_in)
{
	struct file *f = xcalloc(1, sizeof *f);
	snprintf(f->name, sizeof f->name, "%s", name);
	size_t pre;
	const char *base = base_name(name, &pre);
	char st[256];
	drop_stem(base, st, sizeof st);
	snprintf(f->stem, sizeof f->stem, "%.*s%s", (int)pre, name, st);
	f->is_ini = has_suffix(name, ".ini");
	f->changed = mono_us();
	tsearch(f, &files_tree, cmp_name);
	nfiles++;
	struct stem *s = stem_get(f->stem, true);
	if (s->nfiles < 8)
		s->files[s->nfiles++] = f;
	if (s->nfiles == 1)
		events_record(&sp, &(struct event){.kind = EVENT_ARRIVED, .job = f->stem});
	if (verbose || nfiles < 1000) {
		char shown[600];
		text_escape(name, shown, sizeof shown);
		say("inbox: %s %s", shown, moved_in ? "landed" : "appeared");
	}
	return f;
}

/* Look at inbox/NAME (after an event or in a rescan). */
void inbox_update(const char *name, bool moved_in)
{
	size_t pre;
	if (is_temporary(base_name(name, &pre)))
		return;
	struct stat st;
	if (fstatat(spool_fd(&sp, DIR_INBOX), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		inbox_forget(name);
		return;
	}
	if (!pre && S_ISDIR(st.st_mode) && preset_exists(spool_fd(&sp, DIR_CONF), name))
		return; /* a preset's own folder (one hotfarm init just made too) */
	struct file *f = file_get(name);
	if (!f) {
		f = file_new(name, moved_in);
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
	f->is_dir = pre && S_ISDIR(st.st_mode);
	if (moved_in)
		f->landed = true;
	stem_touch(stem_get(f->stem, true));
}

/* Is somebody on this host still writing the file? A read lease is
 * granted only when nobody has it open for writing. Returns 1 busy, 0 not,
 * -1 cannot tell (another owner without CAP_LEASE, a network filesystem). */
static int being_written(const char *name)
{
	int fd = open_beneath(spool_fd(&sp, DIR_INBOX), name, O_RDONLY | O_NONBLOCK, 0);
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

bool inbox_init(void)
{
	local_fs = spool_is_local(&sp);
	return local_fs;
}

static bool file_ready(struct file *f)
{
	if (f->landed)
		return true;
	if (f->is_dir) /* its intake looks at everything in it */
		return mono_us() - f->changed >= sp.conf.settle * 1000000LL;
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
	char *argv[10];
	int n = 0;
	argv[n++] = prog("hf-intake");
	argv[n++] = "--spool";
	argv[n++] = sp.path;
	if (sf->archive && sf->archive->landed)
		argv[n++] = "--landed";
	size_t pre = 0;
	char preset[PRESET_NAME_MAX + 1];
	base_name(s->name, &pre);
	if (pre) {
		snprintf(preset, sizeof preset, "%.*s", (int)pre - 1, s->name);
		argv[n++] = "--preset";
		argv[n++] = preset;
	}
	if (sf->ini)
		argv[n++] = sf->ini->name + pre;
	if (sf->archive)
		argv[n++] = sf->archive->name + pre;
	argv[n] = NULL;
	if (spawn(CHILD_INTAKE, s->name, argv) > 0) {
		s->busy = true;
		s->wait_sig = stem_signature(sf);
	}
	free(argv[0]);
}

void intake_done(const char *stem, int status, double ms)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	struct stem *s = stem_get(stem, false);
	char shown[600];
	text_escape(stem, shown, sizeof shown);
	if (s) {
		s->busy = false;
		stem_touch(s);
	}
	if (code == EXIT_WAIT && s) {
		/* ask again when something changes, or in a while */
		long wait = sp.conf.orphan_grace < 30 ? sp.conf.orphan_grace : 30;
		if (strchr(stem, '/') && wait > sp.conf.settle)
			wait = sp.conf.settle; /* a folder still being filled */
		s->retry_at = mono_us() + (wait < 1 ? 1 : wait) * 1000000LL;
		if (verbose)
			say("intake %s: not complete yet (%.1f ms)", shown, ms);
	} else if (code == EXIT_OK || code == EXIT_BADINPUT) {
		if (verbose)
			say("intake %s: finished with %d (%.1f ms)", shown, code, ms);
	} else {
		warn("intake %s: %s %d after %.1f ms; trying again later", shown,
		     WIFEXITED(status) ? "exit" : "killed by signal", WIFEXITED(status) ? code : WTERMSIG(status), ms);
		if (s)
			s->retry_at = mono_us() + 5 * 1000000LL;
	}
}

/* ---- rescanning ----------------------------------------------------------- */

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

static void inbox_seen(const char *name) { inbox_update(name, false); }

/* Each drop in inbox/NAME/ for each preset. */
static void presets_scan(void)
{
	for (size_t i = 0; i < presets.n; i++) {
		struct strlist names = {0};
		dir_names(spool_fd(&sp, DIR_INBOX), presets.v[i], &names);
		for (size_t k = 0; k < names.n; k++) {
			char name[PRESET_NAME_MAX + 260];
			snprintf(name, sizeof name, "%s/%s", presets.v[i], names.v[k]);
			if (names.v[k][0] != '.')
				inbox_update(name, false);
		}
		strlist_free(&names);
	}
}

void inbox_presets(void)
{
	char err[600];
	strlist_free(&presets);
	preset_names(spool_fd(&sp, DIR_CONF), &presets);
	struct strlist made = {0};
	if (preset_folders_make(&sp, &made, err, sizeof err) < 0)
		warn("presets: %s", err);
	for (size_t i = 0; i < made.n; i++)
		say("made %s/, the folder of preset %s", made.v[i], made.v[i] + strlen(spool_dir_name(DIR_INBOX)) + 1);
	strlist_free(&made);
}

const struct strlist *inbox_preset_list(void) { return &presets; }

void inbox_rescan(void)
{
	twalk_r(files_tree, file_unseen, NULL);
	scan_dir(DIR_INBOX, inbox_seen);
	/* the presets as they are now: a folder hotfarm init made for a new
	 * one is looked at from the next rescan, before any SIGHUP */
	strlist_free(&presets);
	preset_names(spool_fd(&sp, DIR_CONF), &presets);
	presets_scan();
	twalk_r(files_tree, file_collect_gone, NULL);
	for (size_t i = 0; i < gone.n; i++)
		inbox_forget(gone.v[i]);
	strlist_free(&gone);
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

void inbox_retry(void) { twalk_r(stems_tree, waiting_walk, NULL); }

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

int64_t inbox_pair_due(void) { return pair_due; }

void inbox_pair_wake(void)
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
	if (child_count(CHILD_INTAKE) >= sp.conf.processes) {
		s->dirty = true; /* stays in the dirty list */
		return true;
	}
	s->retry_at = 0;
	start_intake(s, &sf);
	return false;
}

void inbox_schedule(void)
{
	size_t keep = 0;
	for (size_t i = 0; i < ndirty; i++) {
		if (stem_consider(dirty[i]) && child_count(CHILD_INTAKE) >= sp.conf.processes) {
			/* all intake slots busy: keep the rest for later */
			for (size_t j = i; j < ndirty; j++)
				dirty[keep++] = dirty[j];
			break;
		}
	}
	ndirty = keep;
}

bool inbox_ready(void) { return ndirty && child_count(CHILD_INTAKE) < sp.conf.processes; }
