/* intake.c - take one dropped job from inbox/ into jobs/NAME/ and new/, or
 * into rejected/NAME/ with a reason a person can act on.
 * Distrusts everything it reads: the dropped files, their names, the
 * archive's entries and the .ini. Crash-only: it unpacks into work/ while the
 * dropped files stay in inbox/, claims them by rename only once the job is
 * whole, and commits with two renames that recovery (--recover) completes. */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"
#include "site.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <search.h>
#include <signal.h>
#include <linux/openat2.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define JOB_INI "job.ini"

static struct spool sp;
static bool landed;        /* the archive arrived by rename: it is complete */
static int work_fd = -1;   /* work/in.XXXXXX */
static int work_lock = -1; /* its lock, held while the folder is ours */
static char work_name[96];
static const char *from_peer; /* --from PEER: a job a linked site sent */

struct dropped {
	char name[256];  /* in inbox/ */
	char shown[512]; /* escaped for messages */
	int fd;
	struct stat st;
};
static struct dropped drop[2];
static int ndrop;
static struct dropped *ini_drop, *archive_drop;

static struct strlist warnings;
static struct strlist extracted; /* the archive's regular files, as unpacked */
static char stem[256]; /* the dropped job's name, before it is made safe */

/* The outcome of looking at an archive or description. */
enum verdict { OK, REJECT, WAIT };
static char reason[1024];

static enum verdict reject(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static enum verdict reject(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	return REJECT;
}

static long age_seconds(const struct stat *st)
{
	int64_t t = st->st_mtim.tv_sec > st->st_ctim.tv_sec ? st->st_mtim.tv_sec : st->st_ctim.tv_sec;
	return (long)(now_us() / 1000000 - t);
}

/* A damaged-looking file is judged only when it cannot still be arriving:
 * it arrived by rename, or nobody has touched it for the orphan grace. */
static enum verdict maybe_incomplete(const struct dropped *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static enum verdict maybe_incomplete(const struct dropped *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (landed || age_seconds(&d->st) >= sp.conf.orphan_grace)
		return REJECT;
	return WAIT;
}


/* ---- the work folder ---------------------------------------------------- */

static void work_create(void)
{
	if (from_peer)
		snprintf(work_name, sizeof work_name, "from.%s.%ld.%lld", from_peer, (long)getpid(), (long long)now_us());
	else
		snprintf(work_name, sizeof work_name, "in.%ld.%lld", (long)getpid(), (long long)now_us());
	int wfd = spool_fd(&sp, DIR_WORK);
	if (mkdirat(wfd, work_name, 0755) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to create work/%s", work_name);
	work_fd = openat(wfd, work_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (work_fd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open work/%s", work_name);
	work_lock = openat(work_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (work_lock < 0 || flock(work_lock, LOCK_EX) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to lock work/%s", work_name);
	/* held until the folder is gone (work_remove) or we exit */
	if (mkdirat(work_fd, "job", 0755) < 0 || mkdirat(work_fd, "job/files", 0755) < 0 ||
	    mkdirat(work_fd, "dropped", 0755) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to create work/%s/job", work_name);
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
		if (strcmp(names.v[i], "lock"))
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
	int dfd = openat(work_fd, "dropped", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open work/%s/dropped", work_name);
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
	if (tree_remove(work_fd, "job") < 0 && errno != ENOENT)
		warn("unable to clear work/%s/job: %s", work_name, strerror(errno));
	int dfd = openat(work_fd, "dropped", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct buf b = {0};
	buf_printf(&b, "%s\n\n", reason);
	buf_printf(&b, "What was dropped:");
	for (int i = 0; i < ndrop; i++)
		buf_printf(&b, " %s", drop[i].shown);
	char iso[32];
	time_iso(now_us(), iso);
	buf_printf(&b, "\nRejected by hotfarm intake on site %s at %s.\n", sp.conf.name, iso);
	buf_printf(&b, "Fix the problem and drop the job into inbox/ again; nothing of it was kept elsewhere.\n");
	if (dfd < 0 || file_write_atomic(dfd, "reason.txt", b.data, b.len, 0644) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write the rejection reason");
	close(dfd);
	buf_free(&b);
	if (from_peer && site_refuse(&sp, from_peer, stem, reason) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to answer site %s", from_peer);
	char name[NAME_MAX_LEN + 1], used[NAME_MAX_LEN + 1];
	name_sanitize(stem, name, sizeof name);
	if (rename_unique(work_fd, "dropped", spool_fd(&sp, DIR_REJECTED), name, used) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to move the rejected job into rejected/");
	work_remove();
	char shown[1100];
	text_escape(reason, shown, sizeof shown);
	sayj(used, -1, "rejected %s: %s", used, shown);
	printf("rejected %s\n", used);
	exit(EXIT_BADINPUT);
}

/* ---- archives ------------------------------------------------------------ */

static struct archive *archive_open_fd(int fd)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to rewind the archive");
	struct archive *a = archive_read_new();
	/* Only the formats the farm promises: fewer parsers, fewer bugs. */
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_7zip(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_lzma(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_lz4(a);
	if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK)
		return a; /* the caller sees the error on the first header */
	return a;
}

/* An archive error that may mean "not all of it is here yet". */
static enum verdict archive_damaged(struct archive *a, const char *where)
{
	const char *msg = archive_error_string(a);
	char m[300];
	text_escape(msg ? msg : "unknown error", m, sizeof m);
	if (msg && (strstr(msg, "Unrecognized archive format") || strstr(msg, "not an archive")))
		return maybe_incomplete(archive_drop,
					"%s is not an archive hotfarm can read (tar, tar.gz, tar.bz2, tar.xz, tar.zst, zip or 7z)",
					archive_drop->shown);
	return maybe_incomplete(archive_drop, "%s is damaged or incomplete%s%s (%s)", archive_drop->shown,
				where ? " at " : "", where ? where : "", m);
}

/* Strip "./" prefixes and a trailing '/'; NULL when the name is the root. */
static const char *clean_path(const char *p, char *out, size_t outsize)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/' && 0)
		p++;
	snprintf(out, outsize, "%s", p);
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = 0;
	if (!*out || !strcmp(out, "."))
		return NULL;
	return out;
}

/* Where the description sits in an archive that carries its own:
 * job.ini at the top, or in the one folder that holds everything. */
static char embedded_dir[1024];

static bool is_embedded_ini(const char *path)
{
	if (!strcmp(path, JOB_INI))
		return true;
	const char *slash = strchr(path, '/');
	return slash && !strchr(slash + 1, '/') && !strcmp(slash + 1, JOB_INI);
}

/* Pass one for an archive dropped alone: does it carry job.ini? Reads
 * headers only and stops at the first job.ini. */
static enum verdict probe_embedded(void)
{
	struct archive *a = archive_open_fd(archive_drop->fd);
	struct archive_entry *e;
	char path[4096];
	enum verdict v = OK;
	bool found = false;
	int r;
	long n = 0;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *p = archive_entry_pathname(e);
		if (p && clean_path(p, path, sizeof path) && is_embedded_ini(path) &&
		    archive_entry_filetype(e) == AE_IFREG) {
			found = true;
			char *slash = strrchr(path, '/');
			if (slash) {
				*slash = 0;
				snprintf(embedded_dir, sizeof embedded_dir, "%s", path);
			}
			if (!slash)
				break;
		}
		if (++n > sp.conf.max_entries)
			break; /* pass two reports the limit */
	}
	if (r == ARCHIVE_FATAL && !found)
		v = archive_damaged(a, NULL);
	else if (!found) {
		/* Its description may be on its way (careful writers drop the
		 * archive first): wait for it until the orphan grace is over. */
		char ini[300];
		snprintf(ini, sizeof ini, "%s.ini", stem);
		v = reject("%s holds no job.ini at its top, and no description %s.ini arrived next to it within %ld s",
			   archive_drop->shown, stem, sp.conf.orphan_grace);
		if (age_seconds(&archive_drop->st) < sp.conf.orphan_grace ||
		    faccessat(spool_fd(&sp, DIR_INBOX), ini, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			v = WAIT;
	}
	archive_read_free(a);
	return v;
}

/* Where a symlink's target may point: leading ".." that stay within the
 * job (its parents are real folders: libarchive never extracts through a
 * link), then only names going down. So no chain of links can climb out. */
static bool symlink_target_ok(const char *linkpath, const char *target)
{
	if (!*target || *target == '/' || strlen(target) > 4000)
		return false;
	int depth = 0;
	for (const char *p = linkpath; *p; p++)
		if (*p == '/')
			depth++;
	bool down = false;
	const char *p = target;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (down || --depth < 0)
				return false;
		} else if (n == 0 || (n == 1 && p[0] == '.')) {
			/* "a//b" or "./" */
		} else {
			down = true;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

struct extract_state {
	void *seen;                /* every path unpacked so far (struct seen) */
	struct strlist files;      /* the first regular files, for messages */
	unsigned long long bytes;
	long entries;
};

/* A path unpacked, and what it is: 'f' file, 'd' folder, 'l' link. */
struct seen {
	char kind;
	char path[];
};

static int cmp_seen(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->path, ((const struct seen *)b)->path);
}

static struct seen *seen_new(const char *path, char kind)
{
	size_t n = strlen(path);
	struct seen *x = xmalloc(sizeof *x + n + 1);
	x->kind = kind;
	memcpy(x->path, path, n + 1);
	return x;
}

/* Note PATH (and its parent folders). Returns the earlier entry when the
 * path was there already (folders may repeat), else NULL. */
static struct seen *seen_add(struct extract_state *xs, const char *path, char kind)
{
	char parent[4096];
	snprintf(parent, sizeof parent, "%s", path);
	for (char *slash = strchr(parent, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		struct seen *d = seen_new(parent, 'd');
		struct seen **r = tsearch(d, &xs->seen, cmp_seen);
		if (*r != d) {
			free(d);
			if ((*r)->kind != 'd') {
				*slash = '/';
				return *r; /* a file where a folder must be */
			}
		}
		*slash = '/';
	}
	struct seen *x = seen_new(path, kind);
	struct seen **r = tsearch(x, &xs->seen, cmp_seen);
	if (*r == x)
		return NULL;
	free(x);
	if (kind == 'd' && (*r)->kind == 'd')
		return NULL;
	return *r;
}

static bool seen_is_file(struct extract_state *xs, const char *path)
{
	struct seen *key = seen_new(path, 0);
	struct seen **r = tfind(key, &xs->seen, cmp_seen);
	free(key);
	return r && (*r)->kind == 'f';
}

static enum verdict extract_entry(struct archive *a, struct archive *w, struct archive_entry *e,
				  struct extract_state *xs)
{
	char path[4096], shown[600];
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		return reject("%s holds an entry whose name cannot be read", archive_drop->shown);
	text_escape(raw, shown, sizeof shown);
	if (++xs->entries > sp.conf.max_entries)
		return reject("%s holds more than %ld entries, this site's limit ([intake] max_entries in conf/hotfarm.ini)",
			      archive_drop->shown, sp.conf.max_entries);
	if (raw[0] == '/')
		return reject("%s holds '%s', an absolute path; a job may only hold paths inside itself",
			      archive_drop->shown, shown);
	if (!clean_path(raw, path, sizeof path))
		return OK; /* the root folder itself */
	if (!path_is_inside(path)) {
		if (strstr(path, ".."))
			return reject("%s holds '%s', which climbs out of the job with '..'", archive_drop->shown,
				      shown);
		return reject("%s holds '%s', a path hotfarm will not unpack (empty, '.' or control characters)",
			      archive_drop->shown, shown);
	}
	archive_entry_set_pathname(e, path);
	const char *hard = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (hard) {
		char target[4096];
		if (!clean_path(hard, target, sizeof target) || !path_is_inside(target) ||
		    !seen_is_file(xs, target)) {
			char t[600];
			text_escape(hard, t, sizeof t);
			return reject("%s holds a hard link '%s' to '%s', which is not a file inside the job",
				      archive_drop->shown, shown, t);
		}
		archive_entry_set_hardlink(e, target);
	} else if (type == AE_IFLNK) {
		const char *t = archive_entry_symlink(e);
		if (!t || !symlink_target_ok(path, t)) {
			char ts[600];
			text_escape(t ? t : "", ts, sizeof ts);
			return reject("%s holds a symbolic link '%s' to '%s', which points out of the job",
				      archive_drop->shown, shown, ts);
		}
	} else if (type == AE_IFCHR || type == AE_IFBLK) {
		return reject("%s holds '%s', a device node; a job may hold only files, folders and links inside itself",
			      archive_drop->shown, shown);
	} else if (type == AE_IFIFO || type == AE_IFSOCK) {
		return reject("%s holds '%s', a %s; a job may hold only files, folders and links inside itself",
			      archive_drop->shown, shown, type == AE_IFIFO ? "FIFO (named pipe)" : "socket");
	} else if (type != AE_IFREG && type != AE_IFDIR) {
		return reject("%s holds '%s' of a type hotfarm does not unpack", archive_drop->shown, shown);
	}
	struct seen *dup = seen_add(xs, path, hard || type == AE_IFREG ? 'f' : type == AE_IFDIR ? 'd' : 'l');
	if (dup && strlen(dup->path) < strlen(path)) {
		/* an earlier file or link stands where a parent folder must be */
		char p[600];
		text_escape(dup->path, p, sizeof p);
		if (dup->kind == 'l')
			return reject("%s holds '%s', which goes through the symbolic link '%s'", archive_drop->shown,
				      shown, p);
		return reject("%s holds '%s' both as a file and as a folder", archive_drop->shown, p);
	}
	if (dup) {
		if ((dup->kind == 'd') != (type == AE_IFDIR && !hard))
			return reject("%s holds '%s' both as a folder and as a file", archive_drop->shown,
				      dup->kind == 'd' ? shown : dup->path);
		return reject("%s holds '%s' twice", archive_drop->shown, shown);
	}
	mode_t perm = archive_entry_perm(e);
	if (perm & (S_ISUID | S_ISGID)) {
		char msg[800];
		snprintf(msg, sizeof msg, "the setuid/setgid bit of '%s' in the archive was removed", shown);
		if (warnings.n < 20)
			strlist_add(&warnings, msg);
	}
	if (type == AE_IFDIR)
		archive_entry_set_perm(e, 0755);
	else
		archive_entry_set_perm(e, (perm & 0111) ? 0755 : 0644);
	archive_entry_set_uid(e, getuid());
	archive_entry_set_gid(e, getgid());
	if (!hard && type == AE_IFREG && archive_entry_size_is_set(e) &&
	    (unsigned long long)archive_entry_size(e) > sp.conf.max_bytes - xs->bytes)
		goto too_big;

	int r = archive_write_header(w, e);
	if (r != ARCHIVE_OK) {
		const char *msg = archive_error_string(w);
		if (archive_errno(w) == ENOSPC || archive_errno(w) == EDQUOT)
			goto no_space;
		if (archive_errno(w) == EEXIST || (msg && strstr(msg, "Already exists")))
			return reject("%s holds '%s' twice", archive_drop->shown, shown);
		char m[300];
		text_escape(msg ? msg : "", m, sizeof m);
		return reject("%s: '%s' could not be unpacked (%s)", archive_drop->shown, shown, m);
	}
	if (type == AE_IFREG && !hard) {
		const void *block;
		size_t size;
		la_int64_t offset;
		for (;;) {
			r = archive_read_data_block(a, &block, &size, &offset);
			if (r == ARCHIVE_EOF)
				break;
			if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
				return archive_damaged(a, shown);
			xs->bytes += size;
			if (xs->bytes > sp.conf.max_bytes)
				goto too_big;
			if (archive_write_data_block(w, block, size, offset) != ARCHIVE_OK) {
				if (archive_errno(w) == ENOSPC || archive_errno(w) == EDQUOT)
					goto no_space;
				return reject("%s: '%s' could not be written (%s)", archive_drop->shown, shown,
					      archive_error_string(w));
			}
		}
		if (xs->files.n < 6)
			strlist_add(&xs->files, path);
	}
	if (archive_write_finish_entry(w) != ARCHIVE_OK) {
		if (archive_errno(w) == ENOSPC || archive_errno(w) == EDQUOT)
			goto no_space;
		return reject("%s: '%s' could not be finished (%s)", archive_drop->shown, shown,
			      archive_error_string(w));
	}
	return OK;
too_big:;
	char lim[32];
	human_bytes(sp.conf.max_bytes, lim);
	return reject("%s unpacks to more than %s, this site's limit ([intake] max_bytes in conf/hotfarm.ini)",
		      archive_drop->shown, lim);
no_space:
	return reject("not enough space on the farm's disk to unpack %s; ask an admin to free space, then drop it again",
		      archive_drop->shown);
}

static enum verdict extract(void)
{
	int files = openat(work_fd, "job/files", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (files < 0 || fchdir(files) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to enter work/%s/job/files", work_name);
	close(files);
	struct archive *a = archive_open_fd(archive_drop->fd);
	struct archive *w = archive_write_disk_new();
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
						  ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
						  ARCHIVE_EXTRACT_NO_OVERWRITE | ARCHIVE_EXTRACT_TIME);
	struct extract_state xs = {0};
	struct archive_entry *e;
	enum verdict v = OK;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		v = extract_entry(a, w, e, &xs);
		if (v != OK)
			break;
	}
	if (v == OK && r != ARCHIVE_EOF)
		v = archive_damaged(a, NULL);
	if (v == OK && xs.entries == 0)
		v = maybe_incomplete(archive_drop, "%s is an empty archive", archive_drop->shown);
	archive_write_close(w);
	archive_write_free(w);
	archive_read_free(a);
	extracted = xs.files;
	tdestroy(xs.seen, free);
	if (chdir("/") < 0)
		die_errno(EXIT_TEMPFAIL, "chdir /");
	return v;
}

static enum verdict check_digest(const struct job_desc *jd)
{
	if (jd->archive_size && (unsigned long long)archive_drop->st.st_size != jd->archive_size) {
		if ((unsigned long long)archive_drop->st.st_size < jd->archive_size)
			return maybe_incomplete(archive_drop, "%s is %lld bytes, smaller than the %llu its description gives",
						archive_drop->shown, (long long)archive_drop->st.st_size,
						jd->archive_size);
		return reject("%s is %lld bytes, larger than the %llu its description gives", archive_drop->shown,
			      (long long)archive_drop->st.st_size, jd->archive_size);
	}
	if (!*jd->archive_sha256)
		return OK;
	/* nettle: libarchive's own hashing library, already loaded */
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	char buf[1 << 16];
	ssize_t n;
	if (lseek(archive_drop->fd, 0, SEEK_SET) < 0)
		die_errno(EXIT_TEMPFAIL, "lseek");
	while ((n = read(archive_drop->fd, buf, sizeof buf)) > 0)
		sha256_update(&ctx, (size_t)n, (const uint8_t *)buf);
	if (n < 0)
		die_errno(EXIT_TEMPFAIL, "unable to read inbox/%s", archive_drop->shown);
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_digest(&ctx, sizeof md, md);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strcmp(hex, jd->archive_sha256))
		return maybe_incomplete(archive_drop, "%s does not match the sha256 its description gives (it is %s)",
					archive_drop->shown, hex);
	landed = true; /* proven complete */
	return OK;
}

/* ---- building the job ----------------------------------------------------- */

static int openat_beneath(int dirfd, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	if (fd < 0 && errno == ENOSYS)
		return openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	return (int)fd;
}

static enum verdict check_job(struct job_desc *jd, const char *inishown)
{
	char pkg[128];
	snprintf(pkg, sizeof pkg, "packages/%s.ini", jd->package);
	if (faccessat(spool_fd(&sp, DIR_CONF), pkg, R_OK, 0) < 0)
		return reject("%s: package '%s' is unknown on this farm (there is no conf/packages/%s.ini)", inishown,
			      jd->package, jd->package);
	if (*embedded_dir) {
		char full[2048], err[1024];
		snprintf(full, sizeof full, "%s/%s", embedded_dir, jd->scene);
		snprintf(jd->scene, sizeof jd->scene, "%s", full);
		/* the longer scene must still fit job.ini's line (a path cut
		 * at sizeof jd->scene does not) */
		if (job_desc_check(jd, NULL, inishown, err, sizeof err) < 0)
			return reject("%s", err);
	}
	int files = openat(work_fd, "job/files", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = files < 0 ? -1 : openat_beneath(files, jd->scene);
	struct stat st;
	bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (fd >= 0)
		close(fd);
	if (files >= 0)
		close(files);
	if (!ok) {
		char s[1100];
		text_escape(jd->scene, s, sizeof s);
		struct buf held = {0};
		for (size_t i = 0; i < extracted.n && i < 6; i++)
			buf_printf(&held, "%s%s", i ? ", " : "", i == 5 ? "..." : extracted.v[i]);
		char h[600];
		text_escape(held.data ? held.data : "nothing", h, sizeof h);
		buf_free(&held);
		return reject("%s: the scene '%s' is not in the archive (it holds: %s)", inishown, s, h);
	}
	return OK;
}

static void write_or_die(int dirfd, const char *name, struct buf *b)
{
	if (file_write_atomic(dirfd, name, b->data ? b->data : "", b->len, 0644) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write %s", name);
}

/* --from: where the job came from (this link, never what the package
 * claims), its id there, and the sites it passed (checked names). */
static struct strlist hops;

static void route_format(struct buf *b)
{
	buf_printf(b, "\n[route]\nfrom = %s\njob = %s\nhops =", from_peer, stem);
	for (size_t i = 0; i < hops.n; i++)
		buf_printf(b, "%s %s", i ? "," : "", hops.v[i]);
	buf_printf(b, "\n");
}

static enum verdict route_check(const struct ini *ini)
{
	const char *v = ini_get(ini, "route", "hops");
	if (v) {
		char *copy = xstrdup(v), *save = NULL;
		for (char *h = strtok_r(copy, ", ", &save); h; h = strtok_r(NULL, ", ", &save)) {
			if (!name_is_valid(h) || strlen(h) > SITE_NAME_MAX || hops.n >= 16) {
				free(copy);
				return reject("its route (%.200s) is not a list of at most 16 site names", v);
			}
			if (!strlist_has(&hops, h))
				strlist_add(&hops, h);
		}
		free(copy);
	}
	if (!hops.n || strcmp(hops.v[hops.n - 1], from_peer))
		strlist_add(&hops, from_peer);
	if (strlist_has(&hops, sp.conf.name))
		return reject("site %s refuses it: it has passed through this site already (a loop: %.200s)", sp.conf.name,
			      v ? v : from_peer);
	return OK;
}

static void build_job(const struct job_desc *jd, const char *original, int64_t seq)
{
	/* one syncfs at the end flushes everything written here */
	bool flush = sync_writes;
	sync_writes = false;
	int job = openat(work_fd, "job", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (job < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open work/%s/job", work_name);
	const char *dirs[] = {"frames", "frames/todo", "frames/active", "frames/done", "frames/failed",
			      "output", "previews", "logs", NULL};
	for (const char **d = dirs; *d; d++)
		if (mkdirat(job, *d, 0755) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to create %s", *d);

	struct buf b = {0};
	job_desc_format(jd, &b);
	char iso[32];
	time_iso(seq, iso);
	char q[600], orig[400];
	text_escape(original, orig, sizeof orig);
	if (strchr(orig, '"') && strchr(orig, '\''))
		for (char *c = orig; *c; c++)
			if (*c == '"')
				*c = '\'';
	buf_printf(&b, "\n[intake]\nsubmitted = %s\nsubmitted_us = %lld\nsite = %s\noriginal_name = %s\n", iso,
		   (long long)seq, sp.conf.name, ini_quote(orig, q, sizeof q));
	for (int i = 0; i < ndrop; i++) {
		char k[16], v[600];
		snprintf(k, sizeof k, "dropped%d", i + 1);
		text_escape(drop[i].name, v, sizeof v);
		if (strchr(v, '"') && strchr(v, '\''))
			for (char *c = v; *c; c++)
				if (*c == '"')
					*c = '\'';
		buf_printf(&b, "%s = %s\n", k, ini_quote(v, q, sizeof q));
	}
	if (from_peer)
		route_format(&b);
	write_or_die(job, JOB_INI, &b);
	buf_free(&b);

	/* Tickets: one per frame, ranked samples-first (agents take runs of
	 * adjacent ones; chunk only says how long). */
	int todo = openat(job, "frames/todo", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (todo < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open frames/todo");
	size_t nchunks = jd->nframes;
	size_t *order = samples_order(nchunks);
	for (size_t rank = 0; rank < nchunks; rank++) {
		long frame = jd->frames[order[rank]];
		char tname[64], text[64];
		ticket_format(tname, (long)rank, frame, frame);
		int n = snprintf(text, sizeof text, "frames = %ld\n", frame);
		int fd = openat(todo, tname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to write ticket %s", tname);
	}
	free(order);
	close(todo);

	struct job_status st = {0};
	snprintf(st.state, sizeof st.state, "new");
	snprintf(st.reason, sizeof st.reason, "taken in; waiting to be queued");
	snprintf(st.original, sizeof st.original, "%s", orig);
	snprintf(st.owner, sizeof st.owner, "%s", jd->owner);
	st.priority = jd->priority;
	st.frames_total = (long)jd->nframes;
	st.tickets = (long)nchunks;
	st.submitted_us = seq;
	st.updated_us = seq;
	st.warnings = warnings;
	if (job_status_write(job, &st) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write status.ini");

	/* The pending entry: priority and sequence; the name is the folder's. */
	struct buf p = {0};
	buf_printf(&p, "%03d-%016lld\n", jd->priority, (long long)seq);
	write_or_die(job, INTAKE_PENDING, &p);
	buf_free(&p);
	sync_writes = flush;
	if (sync_writes && syncfs(job) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to flush the job to disk");
	close(job);
}

/* jobs/NAME/intake.pending -> new/PPP-SEQ-NAME. Used by intake and by
 * recovery; the caller holds the pending file's lock. */
static int commit_entry(const char *name, int pending_fd)
{
	char text[64] = "";
	ssize_t n = pread(pending_fd, text, sizeof text - 1, 0);
	if (n < 0)
		return -1;
	text[n] = 0;
	long prio;
	long long seq;
	char entry[ENTRY_MAX_LEN];
	if (sscanf(text, "%3ld-%16lld", &prio, &seq) != 2 || prio < 0 || prio > 999) {
		errno = EINVAL;
		return -1;
	}
	char id[JOBID_MAX_LEN + 1];
	snprintf(id, sizeof id, "%s%s%s", name, from_peer ? "@" : "", from_peer ? from_peer : "");
	entry_format(entry, (int)prio, seq, id);
	if (intake_commit(&sp, id, entry) < 0)
		return -1;
	fsync_dir(state_fd(&sp, STATE_NEW));
	return 0;
}

/* ---- the main path ------------------------------------------------------- */

static void open_dropped(const char *name)
{
	struct dropped *d = &drop[ndrop++];
	snprintf(d->name, sizeof d->name, "%s", name);
	text_escape(name, d->shown, sizeof d->shown);
	if (strchr(name, '/') || !*name || name[0] == '.')
		die(EXIT_BADINPUT, "'%s' is not a file name in inbox/", d->shown);
	d->fd = openat(spool_fd(&sp, DIR_INBOX), name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (d->fd < 0) {
		if (errno == ENOENT)
			exit(EXIT_OK); /* already taken */
		if (errno == ELOOP) {
			/* a symlink: reject without following it */
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
	if (S_ISREG(d->st.st_mode) && (d->st.st_nlink == 1 || from_peer))
		return;
	if (S_ISLNK(d->st.st_mode))
		reject("%s is a symbolic link; drop the file itself, not a link to it", d->shown);
	else if (S_ISDIR(d->st.st_mode))
		reject("%s is a folder; drop an archive of it (tar or zip) with its job.ini, or use: hotfarm submit",
		       d->shown);
	else if (S_ISREG(d->st.st_mode))
		reject("%s has other hard links; drop a copy of the file, not a link to it", d->shown);
	else
		reject("%s is not a regular file (a device, FIFO or socket)", d->shown);
	finish_rejected();
}

static enum verdict parse_description(struct ini **inip, struct job_desc *jd, const char *display,
				      int dirfd, const char *name, int fd)
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
	if (job_desc_parse(ini, display, sp.conf.max_frames, jd, err, sizeof err) < 0)
		return reject("%s", err);
	for (size_t i = 0; i < jd->warnings.n; i++)
		strlist_add(&warnings, jd->warnings.v[i]);
	return OK;
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

static int take(void)
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
	/* One intake per drop: whoever holds the lock on the first file. */
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
			v = reject("%s arrived but its archive never did (waited %ld s); drop %s.tar (or .zip, .7z…) next to it",
				   ini_drop->shown, sp.conf.orphan_grace, stem);
		}
		if (v == OK)
			v = check_digest(&jd);
	} else {
		v = probe_embedded();
		snprintf(inishown, sizeof inishown, "%s:%s%s%s", archive_drop->shown, embedded_dir,
			 *embedded_dir ? "/" : "", JOB_INI);
	}
	if (v == WAIT)
		exit(EXIT_WAIT);
	if (v == REJECT)
		finish_rejected();

	work_create();
	v = extract();
	if (v == OK && !ini_drop) {
		char path[1100];
		snprintf(path, sizeof path, "job/files/%s%s%s", embedded_dir, *embedded_dir ? "/" : "", JOB_INI);
		v = parse_description(&ini, &jd, inishown, work_fd, path, -1);
	}
	if (v == OK && from_peer)
		v = route_check(ini);
	if (v == OK)
		v = check_job(&jd, inishown);
	if (v == WAIT) {
		work_remove();
		exit(EXIT_WAIT);
	}
	if (v == REJECT)
		finish_rejected();

	char name[NAME_MAX_LEN + 1];
	name_sanitize(*jd.name && !from_peer ? jd.name : stem, name, sizeof name);
	if (!from_peer && strcmp(name, *jd.name ? jd.name : stem)) {
		char msg[800], o[500];
		text_escape(*jd.name ? jd.name : stem, o, sizeof o);
		snprintf(msg, sizeof msg, "the job's name '%s' was made safe as '%s'", o, name);
		strlist_add(&warnings, msg);
	}
	int64_t seq = now_us();
	build_job(&jd, *jd.name ? jd.name : stem, seq);

	/* Claim the dropped files, then commit: work/job -> jobs/NAME, and
	 * jobs/NAME/intake.pending -> new/ENTRY. Recovery finishes either. */
	int pending = openat(work_fd, "job/" INTAKE_PENDING, O_RDONLY | O_CLOEXEC);
	if (pending < 0 || flock(pending, LOCK_EX) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to lock the pending entry");
	if (!claim()) {
		work_remove();
		exit(EXIT_OK);
	}
	char used[NAME_MAX_LEN + 1];
	if (rename_unique(work_fd, "job", spool_fd(&sp, DIR_JOBS), name, used) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to move the job into jobs/");
	fsync_dir(spool_fd(&sp, DIR_JOBS));
	if (commit_entry(used, pending) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to queue jobs/%s (recovery will finish it)", used);
	close(pending);
	work_remove();
	sayj(used, -1, "accepted %s: %zu frames, priority %d", used, jd.nframes, jd.priority);
	printf("accepted %s\n", used);
	job_desc_free(&jd);
	ini_free(ini);
	return EXIT_OK;
}

/* ---- recovery ------------------------------------------------------------ */

static bool recover_all; /* --recover=start: watcherd is starting */

/* Put the dropped files of an abandoned work folder back into inbox/. */
static void recover_work(const struct spool *s, const char *wname)
{
	int wfd = spool_fd(s, DIR_WORK);
	int w = openat(wfd, wname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (w < 0)
		return;
	int lfd = openat(w, "lock", O_RDONLY | O_CLOEXEC);
	if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		close(lfd);
		close(w);
		return; /* its intake is alive */
	}
	/* Without a lock file its intake died before it could claim anything
	 * (the lock comes first), or is just making it: clear it when old
	 * enough, or at once when watcherd starts (no intake of its runs). */
	struct stat st;
	if (lfd < 0 && !recover_all && fstat(w, &st) == 0 && now_us() / 1000000 - st.st_mtim.tv_sec < 60) {
		close(w);
		return;
	}
	bool committed = faccessat(w, "job", F_OK, AT_SYMLINK_NOFOLLOW) < 0;
	int dfd = openat(w, "dropped", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	bool keep = false;
	if (dfd >= 0 && !committed) {
		DIR *d = dir_open(dfd, ".");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.' || !strcmp(e->d_name, "reason.txt"))
				continue;
			const char *back = drop_return(s, dfd, e->d_name);
			if (!back) {
				warn("unable to put work/%s/dropped/%s back into inbox/: %s", wname, e->d_name,
				     strerror(errno));
				keep = true;
			} else {
				say("recovered inbox/%s from an interrupted intake", back);
			}
		}
		if (d)
			closedir(d);
	}
	if (dfd >= 0)
		close(dfd);
	if (lfd >= 0)
		close(lfd);
	close(w);
	if (!keep)
		tree_remove(wfd, wname);
}

static void recover_pending(const char *name, const char *peer)
{
	char id[JOBID_MAX_LEN + 1];
	snprintf(id, sizeof id, "%s%s%s", name, peer ? "@" : "", peer ? peer : "");
	int job = job_dir_open(&sp, id);
	if (job < 0)
		return;
	int p = openat(job, INTAKE_PENDING, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(job);
	if (p < 0)
		return;
	if (flock(p, LOCK_EX | LOCK_NB) == 0) {
		from_peer = peer;
		if (commit_entry(name, p) == 0)
			sayj(id, -1, "recovered %s: its interrupted intake is finished", id);
		else if (errno != ENOENT)
			warnj(id, -1, "unable to finish the intake of %s: %s", id, strerror(errno));
		from_peer = NULL;
	}
	close(p);
}

/* The pending intakes in one jobs/ folder (this site's, or a peer's). */
static void recover_jobs(int jobsfd, const char *peer)
{
	DIR *d = dir_open(jobsfd, ".");
	struct dirent *e;
	struct strlist names = {0};
	while (d && (e = readdir(d))) {
		if (!name_is_valid(e->d_name))
			continue;
		char path[NAME_MAX_LEN + 32];
		snprintf(path, sizeof path, "%s/%s", e->d_name, INTAKE_PENDING);
		if (faccessat(jobsfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			strlist_add(&names, e->d_name);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.n; i++)
		recover_pending(names.v[i], peer);
	strlist_free(&names);
}

static int recover(void)
{
	DIR *d = dir_open(spool_fd(&sp, DIR_WORK), ".");
	struct dirent *e;
	struct strlist names = {0};
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "in.", 3) || !strncmp(e->d_name, "from.", 5))
			strlist_add(&names, e->d_name);
	if (d)
		closedir(d);
	for (size_t i = 0; i < names.n; i++) {
		if (names.v[i][0] == 'i') {
			recover_work(&sp, names.v[i]);
			continue;
		}
		/* from.PEER.PID.TIME: its files go back to sites/PEER/in/ */
		char peer[SITE_NAME_MAX + 1];
		const char *p = names.v[i] + 5, *dot = strchr(p, '.');
		struct spool v;
		char err[512];
		if (!dot || dot - p > SITE_NAME_MAX)
			continue;
		snprintf(peer, sizeof peer, "%.*s", (int)(dot - p), p);
		if (spool_open(sp.path, &v, err, sizeof err) < 0)
			continue;
		if (spool_view_site(&v, peer) == 0)
			recover_work(&v, names.v[i]);
		spool_close(&v);
	}
	strlist_free(&names);
	recover_jobs(spool_fd(&sp, DIR_JOBS), NULL);
	d = dir_open(spool_fd(&sp, DIR_SITES), ".");
	while (d && (e = readdir(d))) {
		if (!name_is_valid(e->d_name) || strlen(e->d_name) > SITE_NAME_MAX)
			continue;
		char path[SITE_NAME_MAX + 8];
		snprintf(path, sizeof path, "%s/jobs", e->d_name);
		int j = openat(dirfd(d), path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (j >= 0) {
			recover_jobs(j, e->d_name);
			close(j);
		}
	}
	if (d)
		closedir(d);
	return EXIT_OK;
}

static _Noreturn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: hf-intake --spool DIR [--landed] FILE [FILE]\n"
		"       hf-intake --spool DIR --from PEER NAME.job.tar\n"
		"       hf-intake --spool DIR --recover[=start]\n"
		"Take one dropped job (an archive and/or its .ini, by their names in\n"
		"inbox/) into jobs/ and new/, or into rejected/ with reason.txt.\n"
		"--landed says the archive arrived by rename and is complete.\n"
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
	bool do_recover = false;
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"landed", no_argument, 0, 'l'},
					     {"recover", optional_argument, 0, 'r'},
					     {"from", required_argument, 0, 'f'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:lrh", opts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'l': landed = true; break;
		case 'f': from_peer = optarg; break;
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
	if (do_recover) {
		if (optind != argc)
			usage(EXIT_BADINPUT);
		return recover();
	}
	if (argc - optind < 1 || argc - optind > 2)
		usage(EXIT_BADINPUT);
	for (int i = optind; i < argc; i++)
		open_dropped(argv[i]);
	return take();
}
