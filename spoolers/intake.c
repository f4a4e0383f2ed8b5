/* intake.c - hf-intake: take one dropped job from inbox/ into jobs/NAME/ and
 * new/, or into rejected/NAME/ with a reason a person can act on. Distrusts
 * everything it reads: the dropped files, their names, the archive, the .ini. */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/package.h"
#include "../layout/unpack.h"
#include "intake.h"
#include "routing.h"
#include "intakedrop.h"
#include "../layout/audit.h"
#include "../layout/events.h"
#include "../layout/site.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Crash-only: it unpacks into work/ while the dropped files stay in inbox/,
 * claims them by rename only once the job is whole, and commits with two
 * renames that --recover completes (intakejob.c). */
struct spool sp;
bool landed;        /* the archive arrived by rename: it is complete */
static int work_fd = -1;   /* work/in.XXXXXX */
static int work_lock = -1; /* its lock, held while the folder is ours */
char work_name[96];
static const char *from_peer; /* --from PEER: a job a linked site sent */
static const char *preset_name; /* --preset NAME: a drop into inbox/NAME/ */
static struct preset preset;

static struct dropped drop[2];
static int ndrop;
static struct dropped *ini_drop;
struct dropped *archive_drop;

struct strlist warnings;
struct strlist extracted; /* the archive's regular files, as unpacked */
char stem[256]; /* the dropped job's name, before it is made safe */

static char reason[1024];
static const char *reason_kind = "description";

enum verdict reject(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	reason_kind = "description";
	return REJECT;
}

enum verdict reject_as(const char *kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	reason_kind = kind;
	return REJECT;
}

long age_seconds(const struct stat *st)
{
	int64_t t = st->st_mtim.tv_sec > st->st_ctim.tv_sec ? st->st_mtim.tv_sec : st->st_ctim.tv_sec;
	return (long)(now_us() / 1000000 - t);
}

/* A damaged-looking file is judged only when it cannot still be arriving:
 * it arrived by rename, or nobody has touched it for the orphan grace. */
enum verdict maybe_incomplete(const struct dropped *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	reason_kind = "archive";
	if (landed || age_seconds(&d->st) >= sp.conf.orphan_grace)
		return REJECT;
	return WAIT;
}


/* ---- the work folder ---------------------------------------------------- */

/* work/in.X holds the job being built (job/, the archive unpacked into
 * job/files/), the files claimed from inbox/ (dropped/) and the lock. Open
 * STAGE (job/ or dropped/), or with FILES job/files/. */
int stage_open(enum spool_file stage, bool files)
{
	int fd = dir_walk(work_fd, spool_file_name(stage), false);
	if (fd < 0 || !files)
		return fd;
	int sub = job_subdir_open(fd, JOB_DIR_FILES, false);
	int e = errno;
	close(fd);
	errno = e;
	return sub;
}

static void work_create(void)
{
	if (from_peer)
		snprintf(work_name, sizeof work_name, "from.%s.%ld.%lld", from_peer, (long)getpid(), (long long)now_us());
	else if (preset_name)
		snprintf(work_name, sizeof work_name, "pre.%s.%ld.%lld", preset_name, (long)getpid(), (long long)now_us());
	else
		snprintf(work_name, sizeof work_name, "in.%ld.%lld", (long)getpid(), (long long)now_us());
	int wfd = spool_fd(&sp, DIR_WORK);
	if (mkdirat(wfd, work_name, 0755) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to create work/%s", work_name);
	work_fd = dir_walk(wfd, work_name, false);
	if (work_fd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open work/%s", work_name);
	work_lock = lock_open(work_fd, spool_file_name(SPOOL_FILE_STAGE_LOCK), 30000);
	if (work_lock < 0)
		die_errno(EXIT_TEMPFAIL, "unable to lock work/%s", work_name);
	/* held until the folder is gone (work_remove) or we exit */
	const char *job = spool_file_name(SPOOL_FILE_STAGE_JOB);
	int jfd = -1;
	if (mkdirat(work_fd, job, 0755) < 0 || (jfd = stage_open(SPOOL_FILE_STAGE_JOB, false)) < 0 ||
	    mkdirat(jfd, job_dir_name(JOB_DIR_FILES), 0755) < 0 ||
	    mkdirat(work_fd, spool_file_name(SPOOL_FILE_STAGE_DROPPED), 0755) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to create work/%s/%s", work_name, job);
	close(jfd);
}

static void work_remove(void)
{
	if (work_fd < 0)
		return;
	/* A file removed while open stays behind as .fuse_hidden* on sshfs
	 * (.nfsXXXX on NFS), and the folder with it: close the dropped files,
	 * empty the folder holding the lock, then let the lock go. */
	for (int i = 0; i < ndrop; i++)
		if (drop[i].fd >= 0) {
			close(drop[i].fd);
			drop[i].fd = -1;
		}
	struct strlist names = {0};
	dir_names(work_fd, ".", &names);
	for (size_t i = 0; i < names.n; i++)
		if (strcmp(names.v[i], spool_file_name(SPOOL_FILE_STAGE_LOCK)))
			tree_remove(work_fd, names.v[i]);
	strlist_free(&names);
	close(work_fd);
	work_fd = -1;
	close(work_lock);
	work_lock = -1;
	if (tree_remove(spool_fd(&sp, DIR_WORK), work_name) < 0)
		warn("unable to remove work/%s: %s", work_name, strerror(errno));
}

/* ---- names --------------------------------------------------------------- */


/* ---- claiming and finishing --------------------------------------------- */

/* Move the dropped files into work/.../dropped. Returns false when somebody
 * else took them first (everything claimed is put back). */
static bool claim(void)
{
	int dfd = stage_open(SPOOL_FILE_STAGE_DROPPED, false);
	if (dfd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open work/%s/%s", work_name, spool_file_name(SPOOL_FILE_STAGE_DROPPED));
	const char *names[2];
	for (int i = 0; i < ndrop; i++)
		names[i] = drop[i].name;
	int rc = drop_claim(&sp, dfd, names, ndrop);
	int e = errno;
	close(dfd);
	if (rc == 0)
		return true;
	if (e == ENOENT)
		return false;
	errno = e;
	die_errno(EXIT_TEMPFAIL, "unable to claim the dropped files from inbox/");
}

static _Noreturn void finish_rejected(void)
{
	if (work_fd < 0)
		work_create();
	if (!claim()) {
		work_remove();
		say("inbox/%s was taken by another intake", stem);
		exit(EXIT_OK);
	}
	/* what was unpacked goes first: on a full disk the reason needs room */
	const char *job = spool_file_name(SPOOL_FILE_STAGE_JOB);
	if (tree_remove(work_fd, job) < 0 && errno != ENOENT)
		warn("unable to clear work/%s/%s: %s", work_name, job, strerror(errno));
	int dfd = stage_open(SPOOL_FILE_STAGE_DROPPED, false);
	struct buf b = {0};
	buf_printf(&b, "%s\n\n", reason);
	buf_printf(&b, "What was dropped:");
	for (int i = 0; i < ndrop; i++)
		buf_printf(&b, " %s", drop[i].shown);
	char iso[32];
	time_iso(now_us(), iso);
	buf_printf(&b, "\nRejected by hotfarm intake on site %s at %s.\n", sp.conf.name, iso);
	buf_printf(&b, "%s%s\n", REJECT_KIND_LINE, reason_kind);
	buf_printf(&b, "Fix the problem and drop the job into inbox/%s%s again; nothing of it was kept elsewhere.\n",
		   preset_name ? preset_name : "", preset_name ? "/" : "");
	if (dfd < 0 || file_write_atomic(dfd, spool_file_name(SPOOL_FILE_REASON), b.data, b.len, 0644) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write the rejection reason");
	close(dfd);
	buf_free(&b);
	if (from_peer && site_refuse(&sp, from_peer, stem, reason) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to answer site %s", from_peer);
	char name[NAME_MAX_LEN + 1], used[NAME_MAX_LEN + 1];
	name_sanitize(stem, name, sizeof name);
	if (rename_unique(work_fd, spool_file_name(SPOOL_FILE_STAGE_DROPPED), spool_fd(&sp, DIR_REJECTED), name, used) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to move the rejected job into rejected/");
	work_remove();
	events_record(&sp, &(struct event){.kind = EVENT_REJECTED, .job = used, .site = from_peer, .reason = reason});
	char shown[1100];
	text_escape(reason, shown, sizeof shown);
	if (!from_peer)
		audit_record(&sp, drop[0].st.st_uid, "drop", used, "rejected", reason);
	sayj(used, -1, "rejected %s: %s", used, shown);
	printf("rejected %s\n", used);
	exit(EXIT_BADINPUT);
}

/* ---- building the job ----------------------------------------------------- */

/* What of the job's files the store shares (intakestore.c). */
static struct intake_shared shared;

/* Write the job into work/.../job (intakejob.c). */
static void build_job(const struct job_desc *jd, const struct job_owner *owner, const char *original, int64_t seq,
		      const char *described)
{
	int job = stage_open(SPOOL_FILE_STAGE_JOB, false);
	if (job < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open work/%s/%s", work_name, spool_file_name(SPOOL_FILE_STAGE_JOB));
	struct intake_job ij = {.jd = jd, .original = original, .seq = seq, .ndropped = ndrop,
				.from_peer = from_peer, .origin = stem, .hops = &peer_route.hops, .owner = owner, .warnings = warnings,
				.preset = described ? preset_name : NULL, .described = described, .only = peer_route.only,
				.nonly = peer_route.nonly, .shared = &shared};
	for (int i = 0; i < ndrop; i++)
		ij.dropped[i] = drop[i].name;
	/* for billing: the archive as it was dropped (or as a peer packed it) */
	struct stat ast;
	if (archive_drop && fstat(archive_drop->fd, &ast) == 0 && S_ISREG(ast.st_mode))
		ij.submitted_bytes = (unsigned long long)ast.st_size;
	intake_job_write(&sp, job, &ij);
	close(job);
}

/* ---- the main path ------------------------------------------------------- */

static void open_dropped(const char *name)
{
	struct dropped *d = &drop[ndrop++];
	snprintf(d->name, sizeof d->name, "%s", name);
	text_escape(name, d->shown, sizeof d->shown);
	if (strchr(name, '/') || !*name || name[0] == '.')
		die(EXIT_BADINPUT, "'%s' is not a file name in inbox/", d->shown);
	d->fd = open_beneath(spool_fd(&sp, DIR_INBOX), name, O_RDONLY | O_NONBLOCK, 0);
	if (d->fd < 0) {
		if (errno == ENOENT)
			exit(EXIT_OK); /* already taken */
		if (errno == ELOOP || errno == EACCES) {
			/* a symlink (rejected without following it), or a file
			 * the farm may not read */
			d->unreadable = errno == EACCES;
			if (fstatat(spool_fd(&sp, DIR_INBOX), name, &d->st, AT_SYMLINK_NOFOLLOW) < 0)
				exit(EXIT_OK);
			return;
		}
		die_errno(EXIT_TEMPFAIL, "unable to open inbox/%s", d->shown);
	}
	if (fstat(d->fd, &d->st) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to stat inbox/%s", d->shown);
}

static void check_kind(struct dropped *d)
{
	/* (a file from a peer has more links: the sync's bases, ours) */
	if (S_ISREG(d->st.st_mode) && !d->unreadable && (d->st.st_nlink == 1 || from_peer))
		return;
	/* a preset's folder takes a folder of a scene and its files */
	if (preset_name && S_ISDIR(d->st.st_mode) && !d->unreadable && d != ini_drop)
		return;
	if (d->unreadable && S_ISREG(d->st.st_mode))
		reject_as("file", "%s cannot be read by the farm (its mode is %04o): make it readable (chmod g+r, or o+r) and drop it again",
		       d->shown, (unsigned)(d->st.st_mode & 07777));
	else if (S_ISLNK(d->st.st_mode))
		reject_as("file", "%s is a symbolic link; drop the file itself, not a link to it", d->shown);
	else if (S_ISDIR(d->st.st_mode) && d->unreadable)
		reject_as("file", "%s cannot be read by the farm (its mode is %04o): make it readable (chmod g+rx, or o+rx) and drop it again",
		       d->shown, (unsigned)(d->st.st_mode & 07777));
	else if (S_ISDIR(d->st.st_mode))
		reject_as("file", "%s is a folder; drop an archive of it (tar or zip) with its job.ini, drop it into a preset's "
		       "folder (hotfarm presets lists them), or use: hotfarm submit", d->shown);
	else if (S_ISREG(d->st.st_mode))
		reject_as("file", "%s has other hard links; drop a copy of the file, not a link to it", d->shown);
	else
		reject_as("file", "%s is not a regular file (a device, FIFO or socket)", d->shown);
	finish_rejected();
}

static enum verdict judge_description(const struct ini *ini, struct job_desc *jd, const char *display)
{
	char err[1024];
	if (job_desc_parse(ini, display, sp.conf.max_frames, jd, err, sizeof err) < 0)
		return reject("%s", err);
	for (size_t i = 0; i < jd->warnings.n; i++)
		strlist_add(&warnings, jd->warnings.v[i]);
	return OK;
}

/* A description read (from FD, else NAME below DIRFD) through the .ini
 * guard into *INIP; judged by nothing yet. */
static enum verdict read_description(struct ini **inip, const char *display, int dirfd, const char *name, int fd)
{
	char err[1024];
	struct ini *ini;
	if (fd >= 0) {
		char text[1 << 16];
		ssize_t n = pread(fd, text, sizeof text, 0);
		if (n < 0)
			die_errno(EXIT_TEMPFAIL, "unable to read %s", display);
		if (n == (ssize_t)sizeof text)
			return reject("%s is larger than 64 KiB; a description is a few lines of text", display);
		ini = ini_parse(text, (size_t)n, display, err, sizeof err);
	} else {
		ini = ini_load(dirfd, name, display, err, sizeof err);
	}
	if (!ini)
		return reject("%s", err);
	*inip = ini;
	return OK;
}

static enum verdict parse_description(struct ini **inip, struct job_desc *jd, const char *display,
				      int dirfd, const char *name, int fd)
{
	enum verdict v = read_description(inip, display, dirfd, name, fd);
	return v == OK ? judge_description(*inip, jd, display) : v;
}

/* --from: a job already here under this id is either still at work (this
 * is a repeat: drop it) or over (its folder makes way; the sync basis keeps
 * its bytes for deltas). */
static void from_existing(void)
{
	char name[NAME_MAX_LEN + 1], id[JOBID_MAX_LEN + 1], entry[ENTRY_MAX_LEN];
	name_sanitize(stem, name, sizeof name);
	snprintf(id, sizeof id, "%s@%s", name, from_peer);
	enum job_state s = job_find(&sp, id, entry);
	if (s == STATE_NONE)
		return;
	if (!state_is_final(s)) {
		say("%s from site %s is here already (%s); the repeat is dropped", stem, from_peer, state_word(s));
		unlinkat(spool_fd(&sp, DIR_INBOX), drop[0].name, 0);
		exit(EXIT_OK);
	}
	if (job_remove(&sp, id) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to clear the earlier %s", id);
}

/* Which dropped file is the archive and which the .ini (one job, named
 * STEM); from a peer, the one job tar it sent. */
static void sort_dropped(void)
{
	drop_stem(drop[0].name, stem, sizeof stem);
	for (int i = 0; i < ndrop; i++) {
		char s[256];
		drop_stem(drop[i].name, s, sizeof s);
		if (strcmp(s, stem))
			die(EXIT_BADINPUT, "inbox/%s and inbox/%s are not one job", drop[0].shown, drop[i].shown);
		if (has_suffix(drop[i].name, ".ini") && !ini_drop)
			ini_drop = &drop[i];
		else if (!archive_drop)
			archive_drop = &drop[i];
		else
			die(EXIT_BADINPUT, "give at most one archive and one .ini");
	}
	if (from_peer) {
		size_t n = strlen(drop[0].name), k = strlen(SITE_JOB);
		if (ndrop != 1 || n <= k || strcmp(drop[0].name + n - k, SITE_JOB))
			die(EXIT_BADINPUT, "--from takes one NAME%s", SITE_JOB);
		snprintf(stem, sizeof stem, "%.*s", (int)(n - k), drop[0].name);
		if (!job_id_valid(stem))
			die(EXIT_BADINPUT, "'%s' does not name a job", drop[0].shown);
		from_existing();
	}
}

/* One intake per drop: whoever holds the lock on the first file, and
 * finds the files still there, as they were, and of a kind it takes. */
static void lock_dropped(void)
{
	struct dropped *primary = ini_drop ? ini_drop : archive_drop;
	if (primary->fd >= 0 && flock(primary->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			exit(EXIT_WAIT);
		die_errno(EXIT_TEMPFAIL, "unable to lock inbox/%s", primary->shown);
	}
	for (int i = 0; i < ndrop; i++) {
		struct stat now;
		if (fstatat(spool_fd(&sp, DIR_INBOX), drop[i].name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
		    now.st_ino != drop[i].st.st_ino || now.st_dev != drop[i].st.st_dev)
			exit(EXIT_OK); /* somebody took it while we waited */
	}
	for (int i = 0; i < ndrop; i++)
		check_kind(&drop[i]);
}

/* Claim the dropped files, then commit: work/job -> jobs/NAME, and
 * jobs/NAME/intake.pending -> new/ENTRY. Recovery finishes either. */
static void commit(const char *name, const struct job_desc *jd)
{
	int job = stage_open(SPOOL_FILE_STAGE_JOB, false);
	int pending = job < 0 ? -1 : open_regular(job, INTAKE_PENDING, O_RDONLY);
	if (job >= 0)
		close(job);
	if (pending < 0 || lock_take(pending, 30000) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to lock the pending entry");
	if (!claim()) {
		work_remove();
		exit(EXIT_OK);
	}
	char used[NAME_MAX_LEN + 1];
	if (rename_unique(work_fd, spool_file_name(SPOOL_FILE_STAGE_JOB), spool_fd(&sp, DIR_JOBS), name, used) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to move the job into jobs/");
	fsync_dir(spool_fd(&sp, DIR_JOBS));
	char entry[ENTRY_MAX_LEN];
	if (intake_entry_commit(&sp, used, from_peer, pending, entry) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to queue jobs/%s (recovery will finish it)", used);
	close(pending);
	work_remove();
	events_record(&sp, &(struct event){.kind = EVENT_ACCEPTED, .job = used, .site = from_peer});
	if (!from_peer) {
		char what[300];
		snprintf(what, sizeof what, "accepted: %zu frames, priority %d, owner %s", jd->nframes, jd->priority,
			 jd->owner);
		audit_record(&sp, drop[0].st.st_uid, "drop", used, "accepted", what);
	}
	sayj(used, -1, "accepted %s: %zu frames, priority %d", used, jd->nframes, jd->priority);
	if (shared.shared)
		sayj(used, -1, "%ld of its files (%.1f MB) were here already: one copy in %s/ serves them all", shared.shared,
		     (double)shared.shared_bytes / 1e6, spool_file_name(SPOOL_FILE_STORE));
	printf("accepted %s\n", used);
	/* route it here and now: an hf-route of its own would cost a process
	 * and watcherd's turn (killed before, hf-route does it) */
	route_entry(&sp, entry);
}

/* The job belongs to the user who owned the dropped files (not to the
 * owner its job.ini claims: that stays as a label); one from a peer to
 * that site. */
static void decide_owner(struct job_desc *jd, struct job_owner *o)
{
	uid_t uids[2];
	for (int i = 0; i < ndrop; i++)
		uids[i] = drop[i].st.st_uid;
	char why[400];
	if (owner_decide(&sp, uids, ndrop, jd->owner, from_peer, o, why, sizeof why) < 0) {
		reject_as("owner", "%s", why);
		finish_rejected();
	}
	if (*o->label && strcmp(o->by, "site")) {
		char msg[600];
		snprintf(msg, sizeof msg, "the job is %s's (whose files were dropped); its owner '%s' is kept as a label",
			 o->user, o->label);
		strlist_add(&warnings, msg);
	}
	snprintf(jd->owner, sizeof jd->owner, "%s", o->user);
}

/* A job whose description and files passed: its name, its owner, its
 * folder, its commit. DESCRIBED: where a preset drop's keys came from. */
static int finish_job(struct job_desc *jd, struct ini *ini, const char *described)
{
	char name[NAME_MAX_LEN + 1];
	name_sanitize(*jd->name && !from_peer ? jd->name : stem, name, sizeof name);
	if (!from_peer && strcmp(name, *jd->name ? jd->name : stem)) {
		char msg[800], o[500];
		text_escape(*jd->name ? jd->name : stem, o, sizeof o);
		snprintf(msg, sizeof msg, "the job's name '%s' was made safe as '%s'", o, name);
		strlist_add(&warnings, msg);
	}
	struct job_owner owner;
	decide_owner(jd, &owner);
	/* its place among jobs of its priority: when it landed (the last of
	 * its files, by the inode's change time, which renames set and no
	 * user can set back), so two intakes at once keep the drops' order;
	 * never more than 10 minutes back (a filesystem whose renames keep
	 * the change time must not let a drop jump the queue by hours) */
	int64_t seq = 0;
	for (int i = 0; i < ndrop; i++) {
		int64_t t = (int64_t)drop[i].st.st_ctim.tv_sec * 1000000 + drop[i].st.st_ctim.tv_nsec / 1000;
		if (t > seq)
			seq = t;
	}
	int64_t now = now_us();
	if (seq > now)
		seq = now;
	if (seq < now - 600 * 1000000LL)
		seq = now - 600 * 1000000LL;
	build_job(jd, &owner, *jd->name ? jd->name : stem, seq, described);
	commit(name, jd);
	job_desc_free(jd);
	ini_free(ini);
	return EXIT_OK;
}

static int take(void)
{
	sort_dropped();
	lock_dropped();
	struct ini *ini = NULL;
	struct job_desc jd;
	memset(&jd, 0, sizeof jd);
	enum verdict v = OK;
	char inishown[600];
	if (ini_drop) {
		snprintf(inishown, sizeof inishown, "%s", ini_drop->shown);
		v = parse_description(&ini, &jd, inishown, -1, NULL, ini_drop->fd);
		if (v == OK && !archive_drop) {
			if (age_seconds(&ini_drop->st) < sp.conf.orphan_grace)
				exit(EXIT_WAIT);
			v = reject_as("incomplete", "%s arrived but its archive never did (waited %ld s); drop %s.tar (or .zip, .7z…) next to it",
				   ini_drop->shown, sp.conf.orphan_grace, stem);
		}
		if (v == OK)
			v = check_digest(&jd);
	} else {
		v = probe_embedded();
		char path[1100];
		embedded_ini_path(path, sizeof path);
		snprintf(inishown, sizeof inishown, "%s:%s", archive_drop->shown, path);
	}
	if (v == WAIT)
		exit(EXIT_WAIT);
	if (v == REJECT)
		finish_rejected();

	work_create();
	v = extract();
	if (v == OK && !ini_drop) {
		char path[1100];
		embedded_ini_path(path, sizeof path);
		int files = stage_open(SPOOL_FILE_STAGE_JOB, true);
		if (files < 0)
			die_errno(EXIT_TEMPFAIL, "unable to enter work/%s/%s/%s", work_name,
				  spool_file_name(SPOOL_FILE_STAGE_JOB), job_dir_name(JOB_DIR_FILES));
		v = parse_description(&ini, &jd, inishown, files, path, -1);
		close(files);
	}
	if (v == OK && from_peer)
		v = intake_route_check(ini, &jd, from_peer);
	if (v == OK)
		v = check_job(&jd, inishown);
	if (v == WAIT) {
		work_remove();
		exit(EXIT_WAIT);
	}
	if (v == REJECT)
		finish_rejected();
	return finish_job(&jd, ini, NULL);
}

/* ---- a drop into a preset's folder (intakepreset.c does the work) ----------------- */

static enum verdict copy_verdict(enum drop_copy r, const char *why)
{
	switch (r) {
	case COPY_OK: return OK;
	case COPY_BUSY: return WAIT;
	case COPY_REFUSED: return reject_as("file", "%s", why);
	case COPY_NO_SPACE: return reject_as("disk", "the farm's disk is full; ask an admin to free space, then drop it again");
	case COPY_FAILED: break;
	}
	die_errno(EXIT_TEMPFAIL, "unable to copy inbox/%s/%s", preset_name, archive_drop->shown);
}

/* The drop's files into work/.../job/files: a folder copied, a bare scene
 * copied under its name (BARE set), an archive unpacked. */
static enum verdict preset_files(int files, const char **bare)
{
	struct drop_copy_rules rules = {.shown = archive_drop->shown, .name = archive_drop->name,
					.max_entries = sp.conf.max_entries, .max_bytes = sp.conf.max_bytes,
					.settle = sp.conf.settle, .landed = landed};
	char why[1024] = "", pkg[64];
	if (S_ISDIR(archive_drop->st.st_mode))
		return copy_verdict(drop_folder_copy(archive_drop->fd, files, &rules, why, sizeof why), why);
	if (!package_for_scene(spool_fd(&sp, DIR_CONF), archive_drop->name, pkg, sizeof pkg))
		return extract();
	if (!scene_looks_whole(archive_drop->fd, archive_drop->shown, why, sizeof why))
		return maybe_incomplete(archive_drop, "%s", why);
	*bare = archive_drop->name;
	return copy_verdict(drop_file_copy(archive_drop->fd, files, archive_drop->name, &rules, why, sizeof why), why);
}

/* The drop's own description: a .ini beside it, or a job.ini inside at
 * the top of its files (or of the one folder that holds them). */
static enum verdict preset_own(int files, const char *top, struct ini **own, char *shown, size_t shownsize)
{
	char path[1100];
	if (ini_drop) {
		snprintf(shown, shownsize, "%s", ini_drop->shown);
		return read_description(own, shown, -1, NULL, ini_drop->fd);
	}
	snprintf(path, sizeof path, "%s%s%s", top, *top ? "/" : "", job_file_name(JOB_FILE_DESC));
	snprintf(shown, shownsize, "%s:%s", archive_drop->shown, path);
	if (!unpack_has_file(files, path))
		return OK;
	return read_description(own, shown, files, path, -1);
}

/* The absolute path of work/.../NAME (the scene run's folders). */
static char *work_path(enum spool_file stage, bool files)
{
	char *real = realpath(sp.path, NULL);
	if (!real)
		die_errno(EXIT_TEMPFAIL, "unable to resolve %s", sp.path);
	char *p = xasprintf("%s/%s/%s/%s%s%s", real, spool_dir_name(DIR_WORK), work_name, spool_file_name(stage),
			    files ? "/" : "", files ? job_dir_name(JOB_DIR_FILES) : "");
	free(real);
	return p;
}

/* Described by the preset, its own job.ini, and its scene. */
static enum verdict preset_describe_drop(int files, const char *bare, struct job_desc *jd, struct ini **merged,
					 struct buf *from)
{
	char top[256] = "", ownshown[1200];
	struct ini *own = NULL;
	if (!bare)
		drop_top_folder(files, top, sizeof top);
	enum verdict v = preset_own(files, top, &own, ownshown, sizeof ownshown);
	if (v != OK)
		return v;
	if (mkdirat(work_fd, spool_file_name(SPOOL_FILE_STAGE_PROBE), 0700) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to create work/%s/%s", work_name, spool_file_name(SPOOL_FILE_STAGE_PROBE));
	struct passwd *pw = *sp.conf.render_user && geteuid() == 0 ? getpwnam(sp.conf.render_user) : NULL;
	if (pw && fchownat(work_fd, spool_file_name(SPOOL_FILE_STAGE_PROBE), pw->pw_uid, pw->pw_gid, AT_SYMLINK_NOFOLLOW) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to hand %s/%s/%s to %s", spool_dir_name(DIR_WORK), work_name,
			  spool_file_name(SPOOL_FILE_STAGE_PROBE), sp.conf.render_user);
	char *fpath = work_path(SPOOL_FILE_STAGE_JOB, true), *ppath = work_path(SPOOL_FILE_STAGE_PROBE, false);
	char display[700];
	snprintf(display, sizeof display, "%s (preset %s)", archive_drop->shown, preset_name);
	struct preset_drop d = {.preset = &preset, .confdir = spool_fd(&sp, DIR_CONF), .filesfd = files,
				.files_path = fpath, .probe_path = ppath, .render_user = sp.conf.render_user, .top = top,
				.bare = bare, .stem = stem, .shown = display};
	struct buf text = {0};
	char why[1024];
	if (preset_describe(&d, own, &text, from, why, sizeof why) < 0)
		v = reject("%s", why);
	free(fpath);
	free(ppath);
	ini_free(own);
	char err[1024];
	if (v == OK && !(*merged = ini_parse(text.data, text.len, display, err, sizeof err)))
		v = reject("%s", err);
	if (v == OK)
		v = judge_description(*merged, jd, display);
	buf_free(&text);
	return v;
}

static int take_preset(void)
{
	sort_dropped();
	lock_dropped();
	if (!archive_drop) {
		if (age_seconds(&ini_drop->st) < sp.conf.orphan_grace)
			exit(EXIT_WAIT);
		reject_as("incomplete", "%s arrived alone (waited %ld s); drop the scene, folder or archive %s next to it", ini_drop->shown,
		       sp.conf.orphan_grace, stem);
		finish_rejected();
	}
	work_create();
	int files = stage_open(SPOOL_FILE_STAGE_JOB, true);
	if (files < 0)
		die_errno(EXIT_TEMPFAIL, "unable to enter work/%s/%s/%s", work_name, spool_file_name(SPOOL_FILE_STAGE_JOB),
			  job_dir_name(JOB_DIR_FILES));
	const char *bare = NULL;
	struct job_desc jd;
	memset(&jd, 0, sizeof jd);
	struct ini *merged = NULL;
	struct buf from = {0};
	enum verdict v = preset_files(files, &bare);
	if (v == OK)
		v = preset_describe_drop(files, bare, &jd, &merged, &from);
	close(files);
	if (v == OK)
		v = check_job(&jd, archive_drop->shown);
	if (v == WAIT) {
		work_remove();
		exit(EXIT_WAIT);
	}
	if (v == REJECT)
		finish_rejected();
	int rc = finish_job(&jd, merged, from.data ? from.data : "");
	buf_free(&from);
	return rc;
}

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: hf-intake --spool DIR [--landed] FILE [FILE]\n"
		"       hf-intake --spool DIR --from PEER NAME.job.tar\n"
		"       hf-intake --spool DIR --preset NAME [--landed] FILE [FILE]\n"
		"       hf-intake --spool DIR --recover[=start]\n"
		"Take one dropped job (an archive and/or its .ini, by their names in\n"
		"inbox/) into jobs/ and new/, or into rejected/ with reason.txt.\n"
		"--landed says the archive arrived by rename and is complete.\n"
		"--preset takes a drop from inbox/NAME/ (a scene, a folder or an archive)\n"
		"described by conf/presets/NAME.ini, its own job.ini winning key by key.\n"
		"--from takes a job linked site PEER sent (in sites/PEER/in/) into\n"
		"sites/PEER/jobs/, or refuses it back to PEER with the reason.\n"
		"--recover finishes or undoes intakes that were interrupted (=start: no\n"
		"intake runs now, so even the youngest leftovers are cleared).\n"
		"Exit: 0 accepted (or already taken), 100 rejected or usage, 101 not\n"
		"complete yet (ask again later), 111 temporary failure.\n");
	exit(code);
}

int main(int argc, char **argv)
{
	msg_init("hf-intake");
	const char *spool = NULL;
	bool do_recover = false, recover_all = false;
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"landed", no_argument, 0, 'l'},
					     {"recover", optional_argument, 0, 'r'},
					     {"from", required_argument, 0, 'f'},
					     {"preset", required_argument, 0, 'p'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:lrh", opts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'l': landed = true; break;
		case 'f': from_peer = optarg; break;
		case 'p': preset_name = optarg; break;
		case 'r':
			do_recover = true;
			recover_all = optarg && !strcmp(optarg, "start");
			break;
		case 'h': usage(EXIT_OK);
		default: usage(EXIT_BADINPUT);
		}
	}
	/* started by watcherd: die with it (crash-only, recovery cleans up) */
	spooler_start();
	char err[1024];
	if (spool_open(spool ? spool : spool_default(), &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	umask(022);
	if (from_peer) {
		if (!site_link_find(&sp, from_peer))
			die(EXIT_BADINPUT, "site '%s' is not linked to this site", from_peer);
		if (spool_view_site(&sp, from_peer) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to open sites/%s", from_peer);
		landed = true; /* the sync spooler renames whole files in */
	}
	if (preset_name) {
		/* a preset made unreadable leaves the drop waiting, not rejected */
		if (from_peer || preset_load(spool_fd(&sp, DIR_CONF), preset_name, &preset, err, sizeof err) < 0)
			die(from_peer ? EXIT_BADINPUT : EXIT_TEMPFAIL, "%s", from_peer ? "--preset and --from do not go together" : err);
		if (spool_view_preset(&sp, preset_name) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to open inbox/%s", preset_name);
	}
	if (do_recover) {
		if (optind != argc)
			usage(EXIT_BADINPUT);
		return intake_recover(&sp, recover_all);
	}
	if (argc - optind < 1 || argc - optind > 2)
		usage(EXIT_BADINPUT);
	for (int i = optind; i < argc; i++)
		open_dropped(argv[i]);
	return preset_name ? take_preset() : take();
}
