/* retire.c - removing or archiving one ended job or rejected/ entry so that a
 * kill at any instant leaves it whole and listed, or not listed at all; and
 * finishing what such a kill left. Never follows a link inside a job. */
#define _GNU_SOURCE
#include "retain.h"
#include "layout_private.h"
#include "ini.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The protocol, for a job (jobs/NAME and its entry E in done/, failed/ or
 * cancelled/):
 *   1. (archiving) jobs/NAME/ended.ini says how it ended.
 *   2. E moves into the folder as jobs/NAME/retired: one rename. Before it
 *      the job is whole and listed; after it no listing shows it (status,
 *      pages, queue and job_find read the state folders), and the folder
 *      keeps its name, so that intake gives a new job of that name NAME-2.
 *   3. jobs/NAME moves into the archive (one rename on its filesystem; on
 *      another, a copy under a temporary name renamed into place), or into
 *      work/trash/PID.N: one rename, the name is free.
 *   4. the trash entry is removed.
 * A kill after 2 leaves a folder with "retired" in it: retain_recover goes
 * on from 3. After 3 it leaves a trash entry of a dead process: removed.
 * A rejected/ entry needs no entry move: rejected/NAME goes to the trash
 * (or, same filesystem, the archive) in one rename; copied to another
 * filesystem it first becomes rejected/.retiring.NAME, hidden. */

/* work/trash/, made when missing. */
static int trash_open(const struct spool *sp)
{
	return dir_walk(spool_fd(sp, DIR_WORK), spool_file_name(SPOOL_FILE_TRASH), true);
}

/* work/trash/ goes when it is empty: an idle spool's work/ is empty. */
static void trash_tidy(const struct spool *sp)
{
	unlinkat(spool_fd(sp, DIR_WORK), spool_file_name(SPOOL_FILE_TRASH), AT_REMOVEDIR);
}

/* DIRFD/NAME into work/trash/ and removed there. */
static int trash(const struct spool *sp, int dirfd, const char *name)
{
	static unsigned long count;
	int rc = -1, e = 0;
	/* a pass that empties the trash may take its folder away meanwhile:
	 * NAME still there after an ENOENT means that, and it tries again */
	for (int tries = 0; tries < 5; tries++) {
		int t = trash_open(sp);
		if (t < 0)
			return -1;
		char tname[64];
		snprintf(tname, sizeof tname, "%ld.%lld.%lu", (long)getpid(), (long long)now_us(), ++count);
		rc = renameat(dirfd, name, t, tname);
		bool gone = rc < 0 && errno == ENOENT && faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0;
		bool again = rc < 0 && errno == ENOENT && !gone;
		if (gone)
			rc = 0; /* another pass took it first */
		else if (rc == 0)
			rc = tree_remove(t, tname);
		e = errno;
		close(t);
		if (!again)
			break;
	}
	trash_tidy(sp);
	errno = e;
	return rc;
}

unsigned long long tree_bytes(int parent, const char *name)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return S_ISREG(st.st_mode) || S_ISLNK(st.st_mode) ? (unsigned long long)st.st_size : 0;
	DIR *d = dir_open(parent, name);
	if (!d)
		return 0;
	unsigned long long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n += tree_bytes(dirfd(d), e->d_name);
	closedir(d);
	return n;
}

/* ---- copying into an archive on another filesystem ------------------------ */

static int copy_file(int srcdir, const char *name, int dstdir, const struct stat *st)
{
	int in = open_regular(srcdir, name, O_RDONLY);
	if (in < 0)
		return errno == EINVAL ? 0 : -1; /* became something else: not copied */
	int out = open_beneath(dstdir, name, O_WRONLY | O_CREAT | O_EXCL, st->st_mode & 0777);
	int rc = out < 0 ? -1 : 0;
	char buf[1 << 16];
	ssize_t n;
	while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0) {
			rc = -1;
			break;
		}
		for (ssize_t off = 0; rc == 0 && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				rc = -1;
			else
				off += w;
		}
	}
	struct timespec times[2] = {st->st_atim, st->st_mtim};
	if (rc == 0 && (futimens(out, times) < 0 || (sync_writes && fsync(out) < 0)))
		rc = -1;
	int e = errno;
	close(in);
	if (out >= 0 && close(out) < 0 && rc == 0)
		e = errno, rc = -1;
	errno = e;
	return rc;
}

/* SRCDIR/NAME (a folder) copied as DSTDIR/DST: folders and regular files
 * only; a job's links, FIFOs and devices are left out. */
static int tree_copy(int srcdir, const char *name, int dstdir, const char *dst)
{
	DIR *d = dir_open(srcdir, name);
	if (!d)
		return -1;
	int rc = mkdirat(dstdir, dst, 0755) < 0 ? -1 : 0;
	int out = rc < 0 ? -1 : dir_walk(dstdir, dst, false);
	struct dirent *e;
	while (out >= 0 && rc == 0 && (e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -1;
		else if (S_ISDIR(st.st_mode))
			rc = tree_copy(dirfd(d), e->d_name, out, e->d_name);
		else if (S_ISREG(st.st_mode))
			rc = copy_file(dirfd(d), e->d_name, out, &st);
	}
	int err = errno;
	if (out >= 0) {
		if (rc == 0 && sync_writes)
			fsync(out);
		close(out);
	} else {
		rc = -1;
	}
	closedir(d);
	errno = err;
	return rc;
}

/* The half copies an archive's KIND folder holds are named .tmp.PID.N. */
static const char tmp_prefix[] = ".tmp.";

/* Whether the process whose pid starts NAME (PID.REST) is gone. */
/* When process PID started (seconds since the epoch), from its
 * /proc/PID/stat start time and /proc/uptime; -1 when unknown. */
static double proc_started(long pid)
{
	char path[40], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	for (int field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	unsigned long long ticks = strtoull(p, NULL, 10);
	double up = 0;
	FILE *u = fopen("/proc/uptime", "re");
	if (!u)
		return -1;
	int ok = fscanf(u, "%lf", &up);
	fclose(u);
	long hz = sysconf(_SC_CLK_TCK);
	if (ok != 1 || hz <= 0 || ticks == 0)
		return -1;
	return (double)now_us() / 1e6 - (up - (double)ticks / (double)hz);
}

/* Whether the process that made DIRFD/ENTRY (named PREFIX PID.…) is gone. */
static bool owner_gone_at(int dirfd, const char *entry, size_t prefixlen)
{
	char *end;
	long pid = strtol(entry + prefixlen, &end, 10);
	if (pid <= 0 || *end != '.')
		return false;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return true;
	/* a process of that number started after the entry was made took a
	 * number used up: the owner is gone (numbers come round quickly on a
	 * busy host) */
	struct stat es;
	double started = proc_started(pid);
	return started > 0 && fstatat(dirfd, entry, &es, AT_SYMLINK_NOFOLLOW) == 0 &&
	       started > (double)es.st_ctim.tv_sec + 2;
}

/* ARCHIVE/KIND/, made when missing; -1 with errno. */
static int archive_open(const char *archive, enum spool_dir kind)
{
	int a = open_beneath(AT_FDCWD, archive, O_RDONLY | O_DIRECTORY, 0);
	if (a < 0)
		return -1;
	int k = dir_walk(a, spool_dir_name(kind), true);
	int e = errno;
	close(a);
	errno = e;
	return k;
}

/* SRCDIR/NAME into ARCHIVE/KIND/BASE (or BASE-2...): 1 when it was renamed
 * there (nothing is left to remove), 0 when copied (the source is still
 * to go), -1 with errno. */
static int archive_put(int srcdir, const char *name, const char *base, const char *archive, enum spool_dir kind,
		       char *where, size_t wsize)
{
	int a = archive_open(archive, kind);
	if (a < 0)
		return -1;
	char used[NAME_MAX_LEN + 1];
	int rc = rename_unique(srcdir, name, a, base, used) == 0 ? 1 : -1;
	if (rc < 0 && errno == EXDEV) {
		static unsigned long count;
		char tmp[64];
		snprintf(tmp, sizeof tmp, "%s%ld.%lu", tmp_prefix, (long)getpid(), ++count);
		rc = tree_copy(srcdir, name, a, tmp) == 0 && rename_unique(a, tmp, a, base, used) == 0 ? 0 : -1;
		if (rc < 0) {
			int e = errno;
			tree_remove(a, tmp);
			errno = e;
		}
	}
	if (rc >= 0 && where)
		snprintf(where, wsize, "%s/%s/%s", archive, spool_dir_name(kind), used);
	int e = errno;
	close(a);
	errno = e;
	return rc;
}

/* Step 3 and 4 for PARENT/NAME, out of every listing already; BASE: its
 * name in the archive. */
static int retire_folder(const struct spool *sp, int parent, const char *name, const char *base,
			 const char *archive, enum spool_dir kind, char *where, size_t wsize)
{
	if (where)
		*where = 0;
	if (archive && *archive) {
		int rc = archive_put(parent, name, base, archive, kind, where, wsize);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
	}
	return trash(sp, parent, name);
}

/* The jobs/ folder a job id lives in: jobs/ or sites/PEER/jobs/. */
static int jobs_parent(const struct spool *sp, const char *id, char name[NAME_MAX_LEN + 1])
{
	char site[SITE_NAME_MAX + 1];
	job_id_split(id, name, site);
	return *site ? site_dir_open(sp, site, SITE_JOBS) : fcntl(spool_fd(sp, DIR_JOBS), F_DUPFD_CLOEXEC, 0);
}

/* Step 1: ended.ini in the job's folder, while it is still whole. */
static int ended_write(int jfd, enum job_state s, const char *entry)
{
	char iso[32], text[ENTRY_MAX_LEN + 128];
	time_iso(now_us(), iso);
	int n = snprintf(text, sizeof text, "[ended]\nstate = %s\nentry = %s\narchived = %s\n", state_word(s), entry, iso);
	return job_file_write(jfd, JOB_FILE_ENDED, text, (size_t)n);
}

/* ---- run/retired.ini: what the removed jobs had rendered -------------------------- */

static void retired_load(int runfd, struct retired_counts *c)
{
	char err[200];
	memset(c, 0, sizeof *c);
	struct ini *ini = ini_load(runfd, spool_file_name(SPOOL_FILE_RETIRED), "retired counts", err, sizeof err);
	const char *v;
	if ((v = ini_get(ini, "retired", "jobs")))
		parse_long(v, 0, LONG_MAX, &c->jobs);
	if ((v = ini_get(ini, "retired", "frames_done")))
		parse_long(v, 0, LONG_MAX, &c->frames_done);
	if ((v = ini_get(ini, "retired", "frames_failed")))
		parse_long(v, 0, LONG_MAX, &c->frames_failed);
	ini_free(ini);
}

void retired_read(const struct spool *sp, struct retired_counts *c) { retired_load(spool_fd(sp, DIR_RUN), c); }

/* The job in JFD is out of every listing: add what it rendered (its
 * status.ini) to run/retired.ini. A kill right here loses it from the
 * counters, never counts it twice. */
static void retired_add(const struct spool *sp, int jfd)
{
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		return;
	int run = spool_fd(sp, DIR_RUN);
	int lock = lock_open(run, spool_file_name(SPOOL_FILE_RETIRED_LOCK), 2000);
	struct retired_counts c;
	retired_load(run, &c);
	c.jobs++;
	c.frames_done += st.frames_done > 0 ? st.frames_done : 0;
	c.frames_failed += st.frames_failed > 0 ? st.frames_failed : 0;
	char text[300];
	int n = snprintf(text, sizeof text,
			 "# what the jobs housekeeping removed had rendered, for the metrics' counters\n"
			 "[retired]\njobs = %ld\nframes_done = %ld\nframes_failed = %ld\n",
			 c.jobs, c.frames_done, c.frames_failed);
	if (file_write_atomic(run, spool_file_name(SPOOL_FILE_RETIRED), text, (size_t)n, 0644) < 0)
		warn("unable to write %s/%s: %s", spool_dir_name(DIR_RUN), spool_file_name(SPOOL_FILE_RETIRED),
		     strerror(errno));
	if (lock >= 0)
		close(lock);
	job_status_free(&st);
}

int job_retire_entry(const struct spool *sp, const char *id, enum job_state s, const char *entry, const char *archive,
		     char *where, size_t wsize)
{
	char name[NAME_MAX_LEN + 1];
	if (!job_id_valid(id) || (s != STATE_NONE && !state_is_final(s))) {
		errno = s != STATE_NONE && !state_is_final(s) ? EBUSY : EINVAL;
		return -1;
	}
	int parent = jobs_parent(sp, id, name);
	if (parent < 0)
		return -1;
	int jfd = dir_walk(parent, name, false);
	int rc = 0, e = 0;
	if (s != STATE_NONE && jfd < 0) {
		/* an entry without its folder: only the entry is left to go */
		rc = unlinkat(state_fd(sp, s), entry, 0);
	} else if (s != STATE_NONE) {
		if (archive && *archive && ended_write(jfd, s, entry) < 0)
			rc = -1;
		else if ((rc = renameat(state_fd(sp, s), entry, jfd, job_file_name(JOB_FILE_RETIRED))) == 0)
			retired_add(sp, jfd);
	} else if (jfd < 0 || job_file_stat(jfd, JOB_FILE_RETIRED, &(struct stat){0}) < 0) {
		errno = ENOENT; /* not a job, or one still being taken in: never touched */
		rc = -1;
	}
	e = errno;
	if (jfd >= 0)
		close(jfd);
	if (rc == 0 && !(s != STATE_NONE && jfd < 0)) {
		rc = retire_folder(sp, parent, name, name, strchr(id, '@') ? NULL : archive, DIR_JOBS, where, wsize);
		e = errno;
	}
	close(parent);
	errno = e;
	return rc;
}

int job_retire(const struct spool *sp, const char *id, const char *archive, char *where, size_t wsize)
{
	char entry[ENTRY_MAX_LEN] = "";
	if (!job_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	return job_retire_entry(sp, id, job_find(sp, id, entry), entry, archive, where, wsize);
}

int job_remove(const struct spool *sp, const char *id)
{
	return job_retire(sp, id, NULL, NULL, 0);
}

int rejected_retire(const struct spool *sp, const char *name, const char *archive, char *where, size_t wsize)
{
	if (!name_is_valid(name) || strlen(name) > NAME_MAX_LEN) {
		errno = EINVAL;
		return -1;
	}
	int r = spool_fd(sp, DIR_REJECTED);
	if (where)
		*where = 0;
	if (!archive || !*archive)
		return trash(sp, r, name);
	/* hidden first: a copy to another filesystem takes a while */
	char hidden[NAME_MAX_LEN + 32];
	snprintf(hidden, sizeof hidden, "%s%s", spool_file_name(SPOOL_FILE_RETIRING), name);
	if (renameat(r, name, r, hidden) < 0)
		return -1;
	return retire_folder(sp, r, hidden, name, archive, DIR_REJECTED, where, wsize) < 0 ? -1 : 0;
}

/* ---- recovery ----------------------------------------------------------------- */

/* Job folders below PARENT (PEER's jobs/, or NULL: this site's) with a
 * retired marker: on to step 3. */
static void recover_jobs(const struct spool *sp, int parent, const char *peer, const char *archive)
{
	struct strlist names = {0};
	dir_names(parent, ".", &names);
	for (size_t i = 0; i < names.n; i++) {
		char marker[NAME_MAX_LEN + 32];
		snprintf(marker, sizeof marker, "%s/%s", names.v[i], job_file_name(JOB_FILE_RETIRED));
		struct stat st;
		char id[JOBID_MAX_LEN + 1], entry[ENTRY_MAX_LEN];
		if (!name_is_valid(names.v[i]) || strlen(names.v[i]) > NAME_MAX_LEN ||
		    fstatat(parent, marker, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		/* the marker is the entry itself, moved in: a job still listed
		 * somewhere is not being removed, whatever its folder holds */
		snprintf(id, sizeof id, "%s%s%s", names.v[i], peer ? "@" : "", peer ? peer : "");
		if (job_find(sp, id, entry) != STATE_NONE)
			continue;
		if (retire_folder(sp, parent, names.v[i], names.v[i], archive, DIR_JOBS, NULL, 0) == 0)
			say("finished the removal of %s, interrupted earlier", names.v[i]);
		else
			warn("unable to finish the removal of %s: %s", names.v[i], strerror(errno));
	}
	strlist_free(&names);
}

/* Entries of DIRFD starting with PREFIX whose process is gone. */
static void clear_dead(int dirfd, const char *prefix)
{
	struct strlist names = {0};
	dir_entries(dirfd, &names);
	size_t n = strlen(prefix);
	for (size_t i = 0; i < names.n; i++)
		if (!strncmp(names.v[i], prefix, n) && owner_gone_at(dirfd, names.v[i], n))
			tree_remove(dirfd, names.v[i]);
	strlist_free(&names);
}

void retain_recover(const struct spool *sp)
{
	const char *archive = sp->conf.archive;
	recover_jobs(sp, spool_fd(sp, DIR_JOBS), NULL, archive);
	for (int i = 0; i < sp->conf.nlinks; i++) {
		int p = site_dir_open(sp, sp->conf.links[i].name, SITE_JOBS);
		if (p >= 0) {
			recover_jobs(sp, p, sp->conf.links[i].name, NULL);
			close(p);
		}
	}
	int r = spool_fd(sp, DIR_REJECTED);
	struct strlist names = {0};
	dir_entries(r, &names);
	const char *pre = spool_file_name(SPOOL_FILE_RETIRING);
	for (size_t i = 0; i < names.n; i++)
		if (!strncmp(names.v[i], pre, strlen(pre)) && name_is_valid(names.v[i] + strlen(pre)))
			retire_folder(sp, r, names.v[i], names.v[i] + strlen(pre), archive, DIR_REJECTED, NULL, 0);
	strlist_free(&names);
	int t = trash_open(sp);
	if (t >= 0) {
		clear_dead(t, "");
		close(t);
		trash_tidy(sp);
	}
	for (int k = 0; *archive && k < 2; k++) {
		int a = archive_open(archive, k ? DIR_REJECTED : DIR_JOBS);
		if (a >= 0) {
			clear_dead(a, tmp_prefix);
			close(a);
		}
	}
}
