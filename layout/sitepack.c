/* sitepack.c - what travels between linked sites about one job: the job
 * itself (job.ini with its route, and its files, as one uncompressed tar so
 * that a re-send is a small librsync delta), the answer that comes back
 * (frames, logs, tickets, billing; or a refusal), progress while it
 * renders, and a cancel. Each is made in work/ and renamed into
 * sites/PEER/out/, which the sync spooler empties. */
#define _GNU_SOURCE
#include "site.h"
#include "ini.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing a tar ------------------------------------------------------- */

static int tar_data(struct archive *a, const char *path, const char *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, now_us() / 1000000, 0);
	int rc = archive_write_header(a, e) == ARCHIVE_OK &&
			 (len == 0 || archive_write_data(a, data, len) == (la_ssize_t)len)
		     ? 0
		     : -1;
	archive_entry_free(e);
	return rc;
}

/* DIRFD/REL as AS: a regular file, a folder (its contents follow) or a
 * symbolic link; anything else is left out. */
static int tar_tree(struct archive *a, int dirfd, const char *rel, const char *as, bool skip_dot, const char *skip);

static int tar_one(struct archive *a, int dirfd, const char *rel, const char *as, bool skip_dot, const char *skip)
{
	struct stat st;
	if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (S_ISDIR(st.st_mode))
		return tar_tree(a, dirfd, rel, as, skip_dot, skip);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, as);
	archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0);
	int rc = 0;
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dirfd, rel, target, sizeof target - 1);
		if (n >= 0) {
			target[n] = 0;
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, target);
			rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -1;
		}
	} else if (S_ISREG(st.st_mode)) {
		int fd = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			archive_entry_free(e);
			return errno == ENOENT ? 0 : -1;
		}
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, st.st_mode & 0755);
		archive_entry_set_size(e, st.st_size);
		rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : -1;
		char buf[65536];
		ssize_t n;
		off_t left = st.st_size;
		while (rc == 0 && left > 0 && (n = read(fd, buf, sizeof buf)) > 0) {
			if (n > left)
				n = (ssize_t)left;
			if (archive_write_data(a, buf, (size_t)n) != n)
				rc = -1;
			left -= n;
		}
		close(fd);
		if (rc == 0 && left > 0)
			rc = -1; /* it shrank while we read it */
	}
	archive_entry_free(e);
	return rc;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static int tar_tree(struct archive *a, int dirfd, const char *rel, const char *as, bool skip_dot, const char *skip)
{
	DIR *d = dir_open(dirfd, rel);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	struct strlist names = {0};
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (skip_dot && de->d_name[0] == '.')
			continue;
		strlist_add(&names, de->d_name);
	}
	closedir(d);
	/* a stable order: the same job packs to the same bytes */
	if (names.n)
		qsort(names.v, names.n, sizeof *names.v, cmp_str);
	int rc = 0;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char r[PATH_MAX], s[PATH_MAX];
		snprintf(r, sizeof r, "%s/%s", rel, names.v[i]);
		snprintf(s, sizeof s, "%s%s%s", as, *as ? "/" : "", names.v[i]);
		if (skip && !strcmp(s, skip))
			continue;
		rc = tar_one(a, dirfd, r, s, skip_dot, NULL);
	}
	strlist_free(&names);
	return rc;
}

struct tar_out {
	struct archive *a;
	int workfd, fd;
	char tmp[96];
};

static int tar_start(const struct spool *sp, struct tar_out *t)
{
	t->workfd = spool_fd(sp, DIR_WORK);
	snprintf(t->tmp, sizeof t->tmp, "site.%ld.%lld.tar", (long)getpid(), (long long)now_us());
	t->fd = openat(t->workfd, t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (t->fd < 0)
		return -1;
	t->a = archive_write_new();
	if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(t->a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(t->a, t->fd) != ARCHIVE_OK) {
		archive_write_free(t->a);
		close(t->fd);
		unlinkat(t->workfd, t->tmp, 0);
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Close the tar and, when OK, rename it into sites/PEER/out/NAME. */
static int tar_finish(const struct spool *sp, struct tar_out *t, bool ok, const char *peer, const char *name)
{
	if (archive_write_close(t->a) != ARCHIVE_OK)
		ok = false;
	archive_write_free(t->a);
	if (ok && sync_writes && fdatasync(t->fd) < 0)
		ok = false;
	if (close(t->fd) < 0)
		ok = false;
	if (ok && site_out_publish(sp, peer, t->workfd, t->tmp, name) == 0)
		return 0;
	int e = errno ? errno : EIO;
	unlinkat(t->workfd, t->tmp, 0);
	errno = e;
	return -1;
}

/* ---- sending a job ------------------------------------------------------------ */

int site_pack_job(const struct spool *sp, const char *id, char *err, size_t errsize)
{
	int jfd = job_dir_open(sp, id);
	if (jfd < 0) {
		snprintf(err, errsize, "no job folder for %s: %s", id, strerror(errno));
		return -1;
	}
	int rc = -1;
	char e2[512], peer[SITE_NAME_MAX + 1] = "";
	struct ini *o = ini_load(jfd, OUTSOURCED_INI, OUTSOURCED_INI, e2, sizeof e2);
	if (o && ini_get(o, "outsourced", "site"))
		snprintf(peer, sizeof peer, "%s", ini_get(o, "outsourced", "site"));
	ini_free(o);
	struct ini *ini = ini_load(jfd, "job.ini", "job.ini", e2, sizeof e2);
	struct job_desc jd;
	struct job_route r;
	memset(&jd, 0, sizeof jd);
	job_route_read(jfd, &r);
	if (!site_link_find(sp, peer)) {
		snprintf(err, errsize, "site '%s' is not linked to this site (%s)", peer, sp->conf.name);
		goto out;
	}
	if (!ini || job_desc_parse(ini, "job.ini", sp->conf.max_frames, &jd, e2, sizeof e2) < 0) {
		snprintf(err, errsize, "its job.ini cannot be read: %s", e2);
		goto out;
	}
	/* the description as the peer should read it: normalised, without
	 * this site's intake notes, with the route so far */
	jd.archive_size = 0;
	jd.archive_sha256[0] = 0;
	struct buf text = {0};
	job_desc_format(&jd, &text);
	buf_printf(&text, "\n[route]\nhops =");
	for (size_t i = 0; i < r.hops.n; i++)
		buf_printf(&text, " %s,", r.hops.v[i]);
	buf_printf(&text, " %s\n", sp->conf.name);
	struct tar_out t;
	if (tar_start(sp, &t) < 0) {
		snprintf(err, errsize, "unable to write in work/: %s", strerror(errno));
		buf_free(&text);
		goto out;
	}
	bool ok = tar_data(t.a, "job.ini", text.data, text.len) == 0 &&
		  tar_tree(t.a, jfd, "files", "", false, "job.ini") == 0;
	buf_free(&text);
	char name[JOBID_MAX_LEN + 16];
	snprintf(name, sizeof name, "%s%s", id, SITE_JOB);
	if (tar_finish(sp, &t, ok, peer, name) < 0) {
		snprintf(err, errsize, "unable to pack it for site %s: %s", peer, strerror(errno));
		goto out;
	}
	file_write_atomic(jfd, "outsourced.sent", peer, strlen(peer), 0644);
	char why[200];
	snprintf(why, sizeof why, "sent to site %s; waiting for it to take the job", peer);
	job_status_update(sp, id, STATE_NONE, why, -1);
	rc = 0;
out:
	job_desc_free(&jd);
	job_route_free(&r);
	ini_free(ini);
	close(jfd);
	return rc;
}

/* ---- answering ------------------------------------------------------------------ */

int site_reply(const struct spool *sp, const char *peer, const char *origin, int jobfd, const char *state,
	       const char *reason, bool progress)
{
	struct buf b = {0};
	char q[1100], iso[32];
	time_iso(now_us(), iso);
	buf_printf(&b, "[result]\nsite = %s\njob = %s\nstate = %s\nprogress = %s\ntime = %s\nreason = %s\n",
		   sp->conf.name, origin, state, progress ? "yes" : "no", iso,
		   ini_quote(reason, q, sizeof q));
	struct tar_out t;
	if (tar_start(sp, &t) < 0) {
		buf_free(&b);
		return -1;
	}
	bool ok = tar_data(t.a, "result.ini", b.data, b.len) == 0;
	buf_free(&b);
	if (ok && jobfd >= 0) {
		ok = tar_one(t.a, jobfd, "status.ini", "status.ini", true, NULL) == 0 &&
		     tar_tree(t.a, jobfd, "previews", "previews", true, NULL) == 0;
		if (ok && !progress)
			ok = tar_one(t.a, jobfd, "billing.ini", "billing.ini", true, NULL) == 0 &&
			     tar_tree(t.a, jobfd, "frames/done", "frames/done", true, NULL) == 0 &&
			     tar_tree(t.a, jobfd, "frames/failed", "frames/failed", true, NULL) == 0 &&
			     tar_tree(t.a, jobfd, "logs", "logs", true, NULL) == 0 &&
			     tar_tree(t.a, jobfd, "output", "output", true, NULL) == 0;
	}
	char name[JOBID_MAX_LEN + 16];
	snprintf(name, sizeof name, "%s%s", origin, progress ? SITE_PROGRESS : SITE_RESULT);
	return tar_finish(sp, &t, ok, peer, name);
}
