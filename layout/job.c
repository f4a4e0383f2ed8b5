/* job.c - a job's end (done or failed, billing.ini summed from its
 * tickets: billing.c) and the files placed into its folder: published frames and
 * what a linked site sent back. One rename each. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"
#include "jobdesc.h"
#include "events.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int job_try_finish(const struct spool *sp, const char *name)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return -1;
	int rc = 0;
	int lock = -1;
	if (tickets_none(jfd, TICKET_TODO) != 1 || tickets_none(jfd, TICKET_ACTIVE) != 1)
		goto out;
	/* the move and the final status.ini together: watcherd's status
	 * updates of queued jobs wait (see job_status_lock) */
	lock = job_status_lock(jfd);
	char entry[ENTRY_MAX_LEN];
	enum job_state from = job_find(sp, name, entry);
	if (from != STATE_QUEUED && from != STATE_HELD && from != STATE_OUTSOURCED)
		goto out;
	bool failed = tickets_none(jfd, TICKET_FAILED) != 1;
	enum job_state to = failed ? STATE_FAILED : STATE_DONE;
	/* the final status.ini first, then the move: whoever sees the job in
	 * done/ or failed/ reads why (a crash between the two leaves it
	 * queued, and the next look finishes it again) */
	struct billing b = {0};
	billing_write(sp, jfd, &b);
	struct job_counts c;
	job_counts(jfd, &c);
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	snprintf(st.state, sizeof st.state, "%s", state_word(to));
	st.frames_failed = 0;
	if (failed) {
		struct buf r = {0};
		buf_printf(&r, "%ld ticket%s failed every retry", c.failed, c.failed == 1 ? "" : "s");
		for (size_t i = 0; i < b.reasons.n; i++)
			buf_printf(&r, "%s%s", i ? "; " : ": ", b.reasons.v[i]);
		snprintf(st.reason, sizeof st.reason, "%s", r.data);
		buf_free(&r);
	} else {
		snprintf(st.reason, sizeof st.reason, "all %ld frames rendered", b.published);
	}
	st.frames_done = b.published;
	if (st.frames_total > st.frames_done)
		st.frames_failed = st.frames_total - st.frames_done;
	st.updated_us = now_us();
	st.finished_us = st.updated_us;
	struct job_status before;
	bool had = job_status_read(jfd, &before) == 0;
	job_status_write(jfd, &st);
	job_status_free(&st);
	strlist_free(&b.hosts);
	strlist_free(&b.reasons);
	if (entry_move(sp, from, entry, to, NULL) < 0) {
		/* someone else moved it meanwhile (a cancel): its status stays theirs */
		int e = errno;
		if (had && job_find(sp, name, entry) == from)
			job_status_write(jfd, &before);
		if (had)
			job_status_free(&before);
		rc = e == ENOENT ? 0 : -1;
		goto out;
	}
	events_record(sp, &(struct event){.kind = EVENT_STATE, .job = name, .state = st.state,
					  .from = had ? before.state : NULL, .reason = st.reason});
	if (had)
		job_status_free(&before);
	rc = 1;
out:
	if (lock >= 0)
		close(lock);
	close(jfd);
	return rc;
}

static const char *const job_dirs[JOB_DIR_COUNT] = {"files",   "frames",  "output", "previews",
						     "logs",    "blocked", "work",   "failures"};

/* Remove the names in folder PATH of JOBFD that begin with ".HOST." */
static void clear_host_names(int jobfd, const char *path, const char *host)
{
	DIR *d = dir_open(jobfd, path);
	if (!d)
		return;
	size_t hl = strlen(host);
	struct dirent *e;
	struct strlist old = {0};
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && !strncmp(e->d_name + 1, host, hl) && e->d_name[1 + hl] == '.')
			strlist_add(&old, e->d_name);
	for (size_t i = 0; i < old.n; i++)
		tree_remove(dirfd(d), old.v[i]);
	strlist_free(&old);
	closedir(d);
}

void layout_clear_temp(int jobfd, const char *host)
{
	clear_host_names(jobfd, job_dirs[JOB_DIR_OUTPUT], host);
	clear_host_names(jobfd, job_dirs[JOB_DIR_WORK], host);
}

const char *attempt_sub_name(enum attempt_sub a) { return a == ATTEMPT_TMP ? "tmp" : "out"; }

/* Make out/ and tmp/ in attempt folder FD (owned by UID:GID when UID is
 * not -1): out/'s descriptor, or -1. */
static int attempt_fill(int fd, uid_t uid, gid_t gid)
{
	if (mkdirat(fd, "out", 0700) < 0 || mkdirat(fd, "tmp", 0700) < 0 ||
	    (uid != (uid_t)-1 && (fchownat(fd, "out", uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
				  fchownat(fd, "tmp", uid, gid, AT_SYMLINK_NOFOLLOW) < 0)))
		return -1;
	return openat(fd, "out", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int job_attempt_make(int jobfd, const char *name, uid_t uid, gid_t gid, int *outfd)
{
	*outfd = -1;
	if (name[0] != '.' || !name_is_valid(name + 1)) { /* as job_temp_name makes them */
		errno = EINVAL;
		return -1;
	}
	int work = dir_walk(jobfd, job_dirs[JOB_DIR_WORK], true);
	if (work < 0)
		return -1;
	tree_remove(work, name);
	int fd = -1, e = 0;
	if (mkdirat(work, name, 0700) == 0)
		fd = openat(work, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	e = errno;
	close(work);
	if (fd < 0 || (uid != (uid_t)-1 && fchown(fd, uid, gid) < 0) || (*outfd = attempt_fill(fd, uid, gid)) < 0) {
		e = fd < 0 ? e : errno;
		if (fd >= 0)
			close(fd);
		job_attempt_remove(jobfd, name);
		errno = e;
		return -1;
	}
	return fd;
}

int job_attempt_renew(int attemptfd, uid_t uid, gid_t gid, int *outfd)
{
	*outfd = -1;
	struct strlist names = {0};
	if (dir_entries(attemptfd, &names) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < names.n; i++)
		if (tree_remove(attemptfd, names.v[i]) < 0)
			rc = -1;
	strlist_free(&names);
	if (rc == 0)
		*outfd = attempt_fill(attemptfd, uid, gid);
	return *outfd < 0 ? -1 : 0;
}

int job_attempt_remove(int jobfd, const char *name)
{
	int work = dir_walk(jobfd, job_dirs[JOB_DIR_WORK], false);
	if (work < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = tree_remove(work, name);
	int e = errno;
	close(work);
	errno = e;
	return rc;
}

int output_stage(int jobfd, int srcdir, const char *src, const char *stage, unsigned long long *bytes)
{
	int out = dir_walk(jobfd, job_dirs[JOB_DIR_OUTPUT], true);
	if (out < 0)
		return -1;
	int rc = renameat(srcdir, src, out, stage), e = errno;
	struct stat st, ost;
	/* judged where the render can no longer change it */
	if (rc == 0 && (fstatat(out, stage, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)) {
		rc = -1;
		e = EPERM;
	}
	/* a render user's file becomes the farm's, as output/ is */
	if (rc == 0 && st.st_uid != geteuid() && fstat(out, &ost) == 0 &&
	    (fchownat(out, stage, ost.st_uid, ost.st_gid, AT_SYMLINK_NOFOLLOW) < 0 || fchmodat(out, stage, 0644, 0) < 0)) {
		rc = -1;
		e = errno;
	}
	if (rc == 0)
		*bytes = (unsigned long long)st.st_size;
	else
		unlinkat(out, stage, 0);
	close(out);
	errno = e;
	return rc;
}

int output_unstage(int jobfd, const char *stage)
{
	int out = dir_walk(jobfd, job_dirs[JOB_DIR_OUTPUT], false);
	if (out < 0)
		return -1;
	int rc = unlinkat(out, stage, 0) < 0 && errno != ENOENT ? -1 : 0;
	close(out);
	return rc;
}

int output_publish(int jobfd, const char *stage, const char *name)
{
	if (!path_is_inside(name)) {
		errno = EINVAL;
		return -1;
	}
	int out = dir_walk(jobfd, job_dirs[JOB_DIR_OUTPUT], false);
	if (out < 0)
		return -1;
	char dirs[PATH_MAX];
	snprintf(dirs, sizeof dirs, "%s", name);
	for (char *slash = strchr(dirs, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		mkdirat(out, dirs, 0755);
		*slash = '/';
	}
	if (sync_writes) {
		int fd = open_regular(out, stage, O_RDONLY);
		if (fd >= 0) {
			fdatasync(fd);
			close(fd);
		}
	}
	/* through folders of NAME made just now, never through a link */
	const char *base;
	int dfd = dir_walk_parent(out, name, false, &base);
	int rc = dfd < 0 ? -1 : renameat(out, stage, dfd, base);
	int e = errno;
	if (dfd >= 0)
		close(dfd);
	close(out);
	errno = e;
	return rc;
}

int job_file_place(int jobfd, int srcdir, const char *src, const char *path)
{
	if (!path_is_inside(path)) {
		errno = EINVAL;
		return -1;
	}
	const char *base;
	int d = dir_walk_parent(jobfd, path, true, &base);
	if (d < 0)
		return -1;
	int rc = renameat(srcdir, src, d, base);
	int e = errno;
	close(d);
	errno = e;
	return rc;
}

static const char *const job_files[JOB_FILE_COUNT] = {
	"job.ini", "status.ini", "billing.ini", "notifications.log", "index.html", "previews/contact.png", "result.ini",
	"outsourced.ini", "outsourced.sent", "cancel.sent", "returned", "progress.sent", "previews/preview.mp4",
	"suspended", "rerender.want", "rerender.sent", "sizes.ini", "started", "retired", "ended.ini",
};

const char *job_file_name(enum job_file f) { return job_files[f]; }
const char *job_dir_name(enum job_dir d) { return job_dirs[d]; }

int job_subdir_open(int jobfd, enum job_dir d, bool make)
{
	return dir_walk(jobfd, job_dirs[d], make);
}

int job_file_open(int jobfd, enum job_file f, int flags, mode_t mode)
{
	if (flags & O_CREAT)
		return open_beneath(jobfd, job_files[f], flags, mode);
	return open_regular(jobfd, job_files[f], flags);
}

char *job_file_read(int jobfd, enum job_file f, size_t max, size_t *len)
{
	return file_read_small(jobfd, job_files[f], max, len);
}

int job_file_write(int jobfd, enum job_file f, const char *data, size_t len)
{
	const char *base;
	int dfd = dir_walk_parent(jobfd, job_files[f], false, &base);
	if (dfd < 0)
		return -1;
	int rc = file_write_atomic(dfd, base, data, len, 0644);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int job_file_stat(int jobfd, enum job_file f, struct stat *st)
{
	return fstatat(jobfd, job_files[f], st, AT_SYMLINK_NOFOLLOW);
}

int job_file_remove(int jobfd, enum job_file f)
{
	return unlinkat(jobfd, job_files[f], 0) < 0 && errno != ENOENT ? -1 : 0;
}

bool job_suspended(int jobfd)
{
	struct stat st;
	return jobfd >= 0 && job_file_stat(jobfd, JOB_FILE_SUSPENDED, &st) == 0;
}

const char *job_state_shown(int jobfd, enum job_state s, const char *status_state)
{
	if (s == STATE_QUEUED && (!strcmp(status_state, "rendering") || !strcmp(status_state, "waiting")))
		return !strcmp(status_state, "rendering") ? "rendering" : "waiting";
	if (s == STATE_HELD && job_suspended(jobfd))
		return "suspended";
	return state_word(s);
}

struct ini *job_file_ini(int jobfd, enum job_file f, char *err, size_t errsize)
{
	return ini_load(jobfd, job_files[f], job_files[f], err, errsize);
}

int job_desc_load(int jobfd, struct job_desc *jd, char *err, size_t errsize)
{
	struct ini *ini = job_file_ini(jobfd, JOB_FILE_DESC, err, errsize);
	if (!ini)
		return -1;
	/* intake checked it against the site's frame limit already */
	int rc = job_desc_parse(ini, job_files[JOB_FILE_DESC], 10000000, jd, err, errsize);
	ini_free(ini);
	return rc;
}

void job_log_name(char *out, size_t outsize, long first, long last, int attempt, const char *owner)
{
	if (first == last)
		snprintf(out, outsize, "frame%04ld.try%d.%s.log", first, attempt, owner);
	else
		snprintf(out, outsize, "frame%04ld-%04ld.try%d.%s.log", first, last, attempt, owner);
}

bool job_log_parse(const char *name, long *first, long *last, long *attempt)
{
	int n = 0;
	if (sscanf(name, "frame%ld-%ld.try%ld%n", first, last, attempt, &n) == 3 && n)
		return true;
	n = 0;
	if (sscanf(name, "frame%ld.try%ld%n", first, attempt, &n) == 2 && n) {
		*last = *first;
		return true;
	}
	return false;
}

void job_temp_name(char *out, size_t outsize, const char *owner, long pid, unsigned long seq)
{
	snprintf(out, outsize, ".%s.%ld.%lu", owner, pid, seq);
}

void job_preview_name(char *out, size_t outsize, long frame)
{
	snprintf(out, outsize, "frame%07ld.png", frame);
}

void job_view_name(char *out, size_t outsize, long frame)
{
	snprintf(out, outsize, "view%07ld.jpg", frame);
}

long job_view_frame(const char *name)
{
	if (strncmp(name, "view", 4) || strlen(name) != 15 || strcmp(name + 11, ".jpg"))
		return -1;
	long f = 0;
	for (int i = 4; i < 11; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		f = f * 10 + (name[i] - '0');
	}
	return f;
}

int movie_publish(int previewsfd)
{
	return renameat(previewsfd, spool_file_name(SPOOL_FILE_MOVIE_TEMP), previewsfd, spool_file_name(SPOOL_FILE_MOVIE));
}

long contact_holds(unsigned long w, unsigned long h)
{
	unsigned long cw = CONTACT_THUMB_W + CONTACT_GAP, ch = CONTACT_THUMB_H + CONTACT_GAP;
	if (!w || !h || w % cw || h % ch || w / cw > CONTACT_COLS)
		return -1;
	unsigned long cols = w / cw, rows = h / ch;
	/* one row: a cell each; more: the rows above are full */
	return (long)(rows == 1 ? cols : cols * (rows - 1) + 1);
}

long contact_file_holds(int previewsfd)
{
	int fd = open_regular(previewsfd, spool_file_name(SPOOL_FILE_CONTACT), O_RDONLY);
	unsigned char b[24];
	ssize_t n = fd < 0 ? -1 : pread(fd, b, sizeof b, 0);
	if (fd >= 0)
		close(fd);
	/* the PNG signature, then IHDR: width and height, big-endian */
	if (n != (ssize_t)sizeof b || memcmp(b, "\x89PNG\r\n\x1a\n", 8) || memcmp(b + 12, "IHDR", 4))
		return 0;
	unsigned long w = (unsigned long)b[16] << 24 | (unsigned long)b[17] << 16 | (unsigned long)b[18] << 8 | b[19];
	unsigned long h = (unsigned long)b[20] << 24 | (unsigned long)b[21] << 16 | (unsigned long)b[22] << 8 | b[23];
	long held = contact_holds(w, h);
	return held < 0 ? 0 : held;
}

long job_contact_holds(int jobfd)
{
	int pfd = dir_walk(jobfd, job_dirs[JOB_DIR_PREVIEWS], false);
	long held = pfd < 0 ? 0 : contact_file_holds(pfd);
	if (pfd >= 0)
		close(pfd);
	return held;
}

int job_tree_make(int jobfd, const char **failed)
{
	/* frames/ and its ticket folders, then what the job's renders fill */
	static char made[TICKET_COUNT + 5][32];
	const char *frames = job_dirs[JOB_DIR_FRAMES];
	int n = 0;
	snprintf(made[n++], sizeof made[0], "%s", frames);
	for (int s = 0; s < TICKET_COUNT; s++)
		snprintf(made[n++], sizeof made[0], "%s/%s", frames, ticket_dir_name((enum ticket_state)s));
	snprintf(made[n++], sizeof made[0], "%s", job_dirs[JOB_DIR_OUTPUT]);
	snprintf(made[n++], sizeof made[0], "%s", job_dirs[JOB_DIR_PREVIEWS]);
	snprintf(made[n++], sizeof made[0], "%s", job_dirs[JOB_DIR_LOGS]);
	snprintf(made[n++], sizeof made[0], "%s", job_dirs[JOB_DIR_FAILURES]);
	for (int i = 0; i < n; i++)
		if (mkdirat(jobfd, made[i], 0755) < 0) {
			if (failed)
				*failed = made[i];
			return -1;
		}
	return 0;
}
