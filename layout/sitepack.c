/* sitepack.c - what travels between linked sites about one job: the job
 * itself (job.ini with its route, and its files, as one uncompressed tar so
 * that a re-send is a small librsync delta), the answer that comes back
 * (frames, logs, tickets, billing; or a refusal), progress while it
 * renders, and a cancel. Each is made in work/ and renamed into
 * sites/PEER/out/, which the sync spooler empties. */
#define _GNU_SOURCE
#include "site.h"
#include "ini.h"
#include "layout_private.h"

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
		/* a render's output or log: regular (checked again), no link anywhere */
		int fd = open_regular(dirfd, rel, O_RDONLY);
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
	t->fd = open_beneath(t->workfd, t->tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
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
/* The tar complete, into sites/PEER/out/NAME; when JOBFD is not -1, its
 * size is added to that job's site_sent_bytes (sizes.ini, for billing). */
static int tar_finish(const struct spool *sp, struct tar_out *t, bool ok, const char *peer, const char *name, int jobfd)
{
	if (archive_write_close(t->a) != ARCHIVE_OK)
		ok = false;
	archive_write_free(t->a);
	if (ok && sync_writes && fdatasync(t->fd) < 0)
		ok = false;
	struct stat st;
	struct job_sizes z = {0};
	if (ok && fstat(t->fd, &st) == 0)
		z.site_sent = (unsigned long long)st.st_size;
	if (close(t->fd) < 0)
		ok = false;
	if (ok && site_out_publish(sp, peer, t->workfd, t->tmp, name) == 0) {
		/* counted once it is on its way (a crash just before counts it not) */
		if (jobfd >= 0 && job_sizes_add(jobfd, &z) < 0)
			warn("unable to note the size of %s sent to site %s: %s", name, peer, strerror(errno));
		return 0;
	}
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
	struct ini *o = job_file_ini(jfd, JOB_FILE_OUTSOURCED, e2, sizeof e2);
	if (o && ini_get(o, "outsourced", "site"))
		snprintf(peer, sizeof peer, "%s", ini_get(o, "outsourced", "site"));
	ini_free(o);
	struct job_desc jd;
	struct job_route r;
	memset(&jd, 0, sizeof jd);
	job_route_read(jfd, &r);
	if (!site_link_find(sp, peer)) {
		snprintf(err, errsize, "site '%s' is not linked to this site (%s)", peer, sp->conf.name);
		goto out;
	}
	if (job_desc_load(jfd, &jd, e2, sizeof e2) < 0) {
		snprintf(err, errsize, "its %s cannot be read: %s", job_file_name(JOB_FILE_DESC), e2);
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
	/* sent again for a re-render (the site no longer held it): those
	 * frames only; the job's own frames, which a scene's clock follows,
	 * stay as they are */
	char again[1024];
	if (site_rerender_wanted(jfd, again, sizeof again))
		buf_printf(&text, "only = %s\n", again);
	struct tar_out t;
	if (tar_start(sp, &t) < 0) {
		snprintf(err, errsize, "unable to write in work/: %s", strerror(errno));
		buf_free(&text);
		goto out;
	}
	const char *desc = job_file_name(JOB_FILE_DESC);
	bool ok = tar_data(t.a, desc, text.data, text.len) == 0 &&
		  tar_tree(t.a, jfd, job_dir_name(JOB_DIR_FILES), "", false, desc) == 0;
	buf_free(&text);
	char name[JOBID_MAX_LEN + 16];
	snprintf(name, sizeof name, "%s%s", id, SITE_JOB);
	if (tar_finish(sp, &t, ok, peer, name, jfd) < 0) {
		snprintf(err, errsize, "unable to pack it for site %s: %s", peer, strerror(errno));
		goto out;
	}
	job_file_write(jfd, JOB_FILE_OUTSOURCED_SENT, peer, strlen(peer));
	char why[200];
	snprintf(why, sizeof why, "sent to site %s; waiting for it to take the job", peer);
	job_status_update(sp, id, STATE_NONE, why, -1);
	rc = 0;
out:
	job_desc_free(&jd);
	job_route_free(&r);
	close(jfd);
	return rc;
}

/* ---- answering ------------------------------------------------------------------ */

/* What an answer holds beside result.ini, in the order packed: the status
 * and samples always (progress sends only these), at the end the billing,
 * the settled tickets, the logs and the frames too. */
enum answer_kind { PART_FILE, PART_DIR, PART_TICKETS };
static const struct answer_part {
	enum answer_kind kind;
	int which; /* enum job_file, job_dir or ticket_state (below frames/) */
	bool progress;
} answer_parts[] = {
	{PART_FILE, JOB_FILE_STATUS, true},  {PART_DIR, JOB_DIR_PREVIEWS, true},
	{PART_FILE, JOB_FILE_BILLING, false}, {PART_TICKETS, TICKET_DONE, false},
	{PART_TICKETS, TICKET_FAILED, false}, {PART_DIR, JOB_DIR_LOGS, false},
	{PART_DIR, JOB_DIR_OUTPUT, false},
};
#define ANSWER_PARTS (sizeof answer_parts / sizeof *answer_parts)

static void answer_part_path(size_t i, char out[64])
{
	const struct answer_part *p = &answer_parts[i];
	if (p->kind == PART_FILE)
		snprintf(out, 64, "%s", job_file_name((enum job_file)p->which));
	else if (p->kind == PART_DIR)
		snprintf(out, 64, "%s", job_dir_name((enum job_dir)p->which));
	else
		snprintf(out, 64, "%s/%s", job_dir_name(JOB_DIR_FRAMES), ticket_dir_name((enum ticket_state)p->which));
}

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
	bool ok = tar_data(t.a, job_file_name(JOB_FILE_RESULT), b.data, b.len) == 0;
	buf_free(&b);
	for (size_t i = 0; ok && jobfd >= 0 && i < ANSWER_PARTS; i++) {
		if (progress && !answer_parts[i].progress)
			continue;
		char path[64];
		answer_part_path(i, path);
		ok = (answer_parts[i].kind == PART_FILE ? tar_one(t.a, jobfd, path, path, true, NULL)
							  : tar_tree(t.a, jobfd, path, path, true, NULL)) == 0;
	}
	char name[JOBID_MAX_LEN + 16];
	snprintf(name, sizeof name, "%s%s", origin, progress ? SITE_PROGRESS : SITE_RESULT);
	int rc = tar_finish(sp, &t, ok, peer, name, jobfd);
	if (rc == 0 && !progress && jobfd >= 0) {
		/* the job's bill again, with the result's size just sent */
		struct billing bill = {0};
		billing_write(sp, jobfd, &bill);
		strlist_free(&bill.hosts);
		strlist_free(&bill.reasons);
	}
	return rc;
}

const char *const *site_answer_holds(void)
{
	static char paths[ANSWER_PARTS][66];
	static const char *holds[ANSWER_PARTS + 2];
	if (!holds[0]) {
		for (size_t i = 0; i < ANSWER_PARTS; i++) {
			char path[64];
			answer_part_path(i, path);
			snprintf(paths[i], sizeof paths[i], "%s%s", path, answer_parts[i].kind == PART_FILE ? "" : "/");
			holds[i + 1] = paths[i];
		}
		holds[0] = job_file_name(JOB_FILE_RESULT);
	}
	return holds;
}
