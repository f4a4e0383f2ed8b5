/* unpack.c - unpack an untrusted archive beneath a folder descriptor, with
 * limits, each entry checked before libarchive writes it. Distrusts all of
 * the archive: names, link targets, kinds, sizes, counts, compression. */
#define _GNU_SOURCE
#include "unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One unpacking: its rules, its report, and every path written so far. */
struct unpacking {
	const struct unpack_rules *rules;
	struct unpack_report *out;
	struct archive *in, *disk;
	void *seen; /* struct seen */
};

static enum unpack_result fail(struct unpacking *u, enum unpack_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum unpack_result fail(struct unpacking *u, enum unpack_result r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->out->why, sizeof u->out->why, fmt, ap);
	va_end(ap);
	return r;
}

/* Only the formats the farm promises: fewer parsers, fewer bugs. NULL when
 * ARCHIVE_FD cannot be read from its start; an archive that cannot be
 * opened shows its error on the first header. */
static struct archive *reader_open(int archive_fd, unsigned flags)
{
	if (lseek(archive_fd, 0, SEEK_SET) < 0)
		return NULL;
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	if (flags & UNPACK_JOB_FORMATS) {
		archive_read_support_format_gnutar(a);
		archive_read_support_format_zip(a);
		archive_read_support_format_7zip(a);
		archive_read_support_filter_gzip(a);
		archive_read_support_filter_bzip2(a);
		archive_read_support_filter_xz(a);
		archive_read_support_filter_lzma(a);
		archive_read_support_filter_zstd(a);
		archive_read_support_filter_lz4(a);
	}
	archive_read_open_fd(a, archive_fd, 64 * 1024);
	return a;
}

/* An archive error that may mean "not all of it is here yet". */
static void damaged_why(struct archive *a, const struct unpack_rules *rules, const char *where, char *why,
			size_t whysize)
{
	const char *msg = archive_error_string(a);
	char m[300];
	text_escape(msg ? msg : "unknown error", m, sizeof m);
	if (msg && (strstr(msg, "Unrecognized archive format") || strstr(msg, "not an archive")))
		snprintf(why, whysize, "%s is not an archive hotfarm can read%s", rules->shown,
			 rules->flags & UNPACK_JOB_FORMATS ? " (tar, tar.gz, tar.bz2, tar.xz, tar.zst, zip or 7z)"
							   : " here (a plain tar)");
	else
		snprintf(why, whysize, "%s is damaged or incomplete%s%s (%s)", rules->shown, where ? " at " : "",
			 where ? where : "", m);
}

/* Strip "./" prefixes and a trailing '/'; NULL when the name is the root. */
static const char *clean_path(const char *p, char *out, size_t outsize)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	snprintf(out, outsize, "%s", p);
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = 0;
	if (!*out || !strcmp(out, "."))
		return NULL;
	return out;
}

/* Where a symlink's target may point: leading ".." that stay within the
 * folder (its parents are real folders: libarchive never extracts through
 * a link), then only names going down. So no chain of links can climb out. */
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

/* ---- the paths written so far ------------------------------------------- */

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
static struct seen *seen_add(struct unpacking *u, const char *path, char kind)
{
	char parent[4096];
	snprintf(parent, sizeof parent, "%s", path);
	for (char *slash = strchr(parent, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		struct seen *d = seen_new(parent, 'd');
		struct seen **r = tsearch(d, &u->seen, cmp_seen);
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
	struct seen **r = tsearch(x, &u->seen, cmp_seen);
	if (*r == x)
		return NULL;
	free(x);
	if (kind == 'd' && (*r)->kind == 'd')
		return NULL;
	return *r;
}

static bool seen_is_file(struct unpacking *u, const char *path)
{
	struct seen *key = seen_new(path, 0);
	struct seen **r = tfind(key, &u->seen, cmp_seen);
	free(key);
	return r && (*r)->kind == 'f';
}

/* ---- one entry ---------------------------------------------------------- */

static bool path_allowed(const struct unpack_rules *rules, const char *p)
{
	for (const char *const *a = rules->allowed; *a; a++) {
		size_t n = strlen(*a);
		if ((*a)[n - 1] == '/' ? !strncmp(p, *a, n) && p[n] : !strcmp(p, *a))
			return true;
	}
	return false;
}

/* Its name: counted, readable, relative and inside. Sets PATH and SHOWN,
 * and TOP for the top folder itself (which is skipped). */
static enum unpack_result check_name(struct unpacking *u, struct archive_entry *e, char path[4096],
				     char shown[600], bool *top)
{
	const struct unpack_rules *rules = u->rules;
	const char *raw = archive_entry_pathname(e);
	if (!raw)
		return fail(u, UNPACK_REFUSED, "%s holds an entry whose name cannot be read", rules->shown);
	text_escape(raw, shown, 600);
	if (++u->out->entries > rules->max_entries)
		return fail(u, UNPACK_REFUSED,
			    "%s holds more than %ld entries, this site's limit ([intake] max_entries in conf/hotfarm.ini)",
			    rules->shown, rules->max_entries);
	if (raw[0] == '/')
		return fail(u, UNPACK_REFUSED, "%s holds '%s', an absolute path; a job may only hold paths inside itself",
			    rules->shown, shown);
	*top = !clean_path(raw, path, 4096);
	if (*top)
		return UNPACK_OK;
	if (!path_is_inside(path)) {
		if (strstr(path, ".."))
			return fail(u, UNPACK_REFUSED, "%s holds '%s', which climbs out of the job with '..'", rules->shown,
				    shown);
		return fail(u, UNPACK_REFUSED,
			    "%s holds '%s', a path hotfarm will not unpack (empty, '.' or control characters)",
			    rules->shown, shown);
	}
	archive_entry_set_pathname(e, path);
	return UNPACK_OK;
}

/* Its kind: a file, a folder, or a link whose target stays inside (a hard
 * link's an earlier file); nothing else, and only what RULES allow. */
static enum unpack_result check_kind(struct unpacking *u, struct archive_entry *e, const char *path,
				     const char *shown)
{
	const struct unpack_rules *rules = u->rules;
	const char *hard = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	if (hard) {
		char target[4096];
		if (!clean_path(hard, target, sizeof target) || !path_is_inside(target) || !seen_is_file(u, target)) {
			char t[600];
			text_escape(hard, t, sizeof t);
			return fail(u, UNPACK_REFUSED, "%s holds a hard link '%s' to '%s', which is not a file inside the job",
				    rules->shown, shown, t);
		}
		archive_entry_set_hardlink(e, target);
	} else if (type == AE_IFLNK) {
		const char *t = archive_entry_symlink(e);
		if (!t || !symlink_target_ok(path, t)) {
			char ts[600];
			text_escape(t ? t : "", ts, sizeof ts);
			return fail(u, UNPACK_REFUSED, "%s holds a symbolic link '%s' to '%s', which points out of the job",
				    rules->shown, shown, ts);
		}
	} else if (type == AE_IFCHR || type == AE_IFBLK) {
		return fail(u, UNPACK_REFUSED,
			    "%s holds '%s', a device node; a job may hold only files, folders and links inside itself",
			    rules->shown, shown);
	} else if (type == AE_IFIFO || type == AE_IFSOCK) {
		return fail(u, UNPACK_REFUSED, "%s holds '%s', a %s; a job may hold only files, folders and links inside itself",
			    rules->shown, shown, type == AE_IFIFO ? "FIFO (named pipe)" : "socket");
	} else if (type != AE_IFREG && type != AE_IFDIR) {
		return fail(u, UNPACK_REFUSED, "%s holds '%s' of a type hotfarm does not unpack", rules->shown, shown);
	}
	bool link = hard || type == AE_IFLNK;
	if ((link && !(rules->flags & UNPACK_LINKS)) ||
	    (rules->allowed && (hard || type != AE_IFDIR) && !path_allowed(rules, path)))
		return fail(u, UNPACK_REFUSED, "%s holds '%s', which is not something %s holds", rules->shown, shown,
			    rules->holder ? rules->holder : "it");
	return UNPACK_OK;
}

/* Its place: not twice, not where a file or link stands for a folder. */
static enum unpack_result check_place(struct unpacking *u, struct archive_entry *e, const char *path,
				      const char *shown)
{
	const char *name = u->rules->shown;
	bool hard = archive_entry_hardlink(e) != NULL;
	mode_t type = archive_entry_filetype(e);
	struct seen *dup = seen_add(u, path, hard || type == AE_IFREG ? 'f' : type == AE_IFDIR ? 'd' : 'l');
	if (dup && strlen(dup->path) < strlen(path)) {
		/* an earlier file or link stands where a parent folder must be */
		char p[600];
		text_escape(dup->path, p, sizeof p);
		if (dup->kind == 'l')
			return fail(u, UNPACK_REFUSED, "%s holds '%s', which goes through the symbolic link '%s'", name,
				    shown, p);
		return fail(u, UNPACK_REFUSED, "%s holds '%s' both as a file and as a folder", name, p);
	}
	if (dup) {
		if ((dup->kind == 'd') != (type == AE_IFDIR && !hard))
			return fail(u, UNPACK_REFUSED, "%s holds '%s' both as a folder and as a file", name,
				    dup->kind == 'd' ? shown : dup->path);
		return fail(u, UNPACK_REFUSED, "%s holds '%s' twice", name, shown);
	}
	return UNPACK_OK;
}

/* Owned by whoever unpacks, 0755 or 0644, no set-id bit (a warning). */
static void set_owner(struct unpacking *u, struct archive_entry *e, const char *shown)
{
	mode_t perm = archive_entry_perm(e);
	struct strlist *warnings = u->out->warnings;
	if ((perm & (S_ISUID | S_ISGID)) && warnings && warnings->n < 20) {
		char msg[800];
		snprintf(msg, sizeof msg, "the setuid/setgid bit of '%s' in the archive was removed", shown);
		strlist_add(warnings, msg);
	}
	if (archive_entry_filetype(e) == AE_IFDIR)
		archive_entry_set_perm(e, 0755);
	else
		archive_entry_set_perm(e, (perm & 0111) ? 0755 : 0644);
	archive_entry_set_uid(e, getuid());
	archive_entry_set_gid(e, getgid());
}

static bool disk_full(struct archive *disk)
{
	return archive_errno(disk) == ENOSPC || archive_errno(disk) == EDQUOT;
}

static enum unpack_result too_big(struct unpacking *u)
{
	char lim[32];
	human_bytes(u->rules->max_bytes, lim);
	return fail(u, UNPACK_REFUSED,
		    "%s unpacks to more than %s, this site's limit ([intake] max_bytes in conf/hotfarm.ini)",
		    u->rules->shown, lim);
}

static enum unpack_result no_space(struct unpacking *u)
{
	return fail(u, UNPACK_NO_SPACE, "not enough space on the farm's disk to unpack %s", u->rules->shown);
}

/* A regular file's data, counted against max_bytes as it is written. */
static enum unpack_result write_data(struct unpacking *u, const char *shown)
{
	const void *block;
	size_t size;
	la_int64_t offset;
	for (;;) {
		int r = archive_read_data_block(u->in, &block, &size, &offset);
		if (r == ARCHIVE_EOF)
			return UNPACK_OK;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			damaged_why(u->in, u->rules, shown, u->out->why, sizeof u->out->why);
			return UNPACK_DAMAGED;
		}
		u->out->bytes += size;
		if (u->out->bytes > u->rules->max_bytes)
			return too_big(u);
		if (archive_write_data_block(u->disk, block, size, offset) != ARCHIVE_OK) {
			if (disk_full(u->disk))
				return no_space(u);
			return fail(u, UNPACK_REFUSED, "%s: '%s' could not be written (%s)", u->rules->shown, shown,
				    archive_error_string(u->disk));
		}
	}
}

static enum unpack_result write_entry(struct unpacking *u, struct archive_entry *e, const char *path,
				      const char *shown)
{
	const char *name = u->rules->shown;
	bool file = archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e);
	if (file && archive_entry_size_is_set(e) &&
	    (unsigned long long)archive_entry_size(e) > u->rules->max_bytes - u->out->bytes)
		return too_big(u);
	if (archive_write_header(u->disk, e) != ARCHIVE_OK) {
		const char *msg = archive_error_string(u->disk);
		if (disk_full(u->disk))
			return no_space(u);
		if (archive_errno(u->disk) == EEXIST || (msg && strstr(msg, "Already exists")))
			return fail(u, UNPACK_REFUSED, "%s holds '%s' twice", name, shown);
		char m[300];
		text_escape(msg ? msg : "", m, sizeof m);
		return fail(u, UNPACK_REFUSED, "%s: '%s' could not be unpacked (%s)", name, shown, m);
	}
	if (file) {
		enum unpack_result r = write_data(u, shown);
		if (r != UNPACK_OK)
			return r;
		if (u->out->files.n < 6)
			strlist_add(&u->out->files, path);
	}
	if (archive_write_finish_entry(u->disk) != ARCHIVE_OK) {
		if (disk_full(u->disk))
			return no_space(u);
		return fail(u, UNPACK_REFUSED, "%s: '%s' could not be finished (%s)", name, shown,
			    archive_error_string(u->disk));
	}
	return UNPACK_OK;
}

static enum unpack_result unpack_entry(struct unpacking *u, struct archive_entry *e)
{
	char path[4096], shown[600];
	bool top = false;
	enum unpack_result r = check_name(u, e, path, shown, &top);
	if (r != UNPACK_OK || top)
		return r;
	r = check_kind(u, e, path, shown);
	if (r == UNPACK_OK)
		r = check_place(u, e, path, shown);
	if (r != UNPACK_OK)
		return r;
	set_owner(u, e, shown);
	return write_entry(u, e, path, shown);
}

/* ---- the archive -------------------------------------------------------- */

static enum unpack_result unpack_all(struct unpacking *u)
{
	struct archive_entry *e;
	enum unpack_result v = UNPACK_OK;
	int r;
	while ((r = archive_read_next_header(u->in, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		v = unpack_entry(u, e);
		if (v != UNPACK_OK)
			return v;
	}
	if (r != ARCHIVE_EOF) {
		damaged_why(u->in, u->rules, NULL, u->out->why, sizeof u->out->why);
		return UNPACK_DAMAGED;
	}
	if (u->out->entries == 0)
		return fail(u, UNPACK_DAMAGED, "%s is an empty archive", u->rules->shown);
	return UNPACK_OK;
}

enum unpack_result unpack_archive(int archive_fd, int dirfd, const struct unpack_rules *rules,
				  struct unpack_report *out)
{
	struct unpacking u = {.rules = rules, .out = out};
	out->why[0] = 0;
	/* libarchive resolves the paths it writes against the current folder */
	int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (here < 0 || fchdir(dirfd) < 0) {
		int e = errno;
		if (here >= 0)
			close(here);
		errno = e;
		return fail(&u, UNPACK_FAILED, "unable to enter the folder to unpack %s into: %s", rules->shown,
			    strerror(e));
	}
	u.in = reader_open(archive_fd, rules->flags);
	enum unpack_result v;
	if (!u.in) {
		v = fail(&u, UNPACK_FAILED, "unable to rewind %s: %s", rules->shown, strerror(errno));
	} else {
		u.disk = archive_write_disk_new();
		archive_write_disk_set_options(u.disk, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
							       ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS |
							       ARCHIVE_EXTRACT_NO_OVERWRITE |
							       (rules->flags & UNPACK_KEEP_TIMES ? ARCHIVE_EXTRACT_TIME : 0));
		v = unpack_all(&u);
		archive_write_close(u.disk);
		archive_write_free(u.disk);
		archive_read_free(u.in);
	}
	tdestroy(u.seen, free);
	int e = errno;
	if (fchdir(here) < 0 && v == UNPACK_OK) {
		e = errno;
		v = fail(&u, UNPACK_FAILED, "unable to return to the folder it was called in: %s", strerror(e));
	}
	close(here);
	errno = e;
	return v;
}

enum unpack_result unpack_scan(int archive_fd, const struct unpack_rules *rules, unpack_visit_fn *visit, void *arg,
			       char *why, size_t whysize)
{
	struct archive *a = reader_open(archive_fd, rules->flags);
	if (!a) {
		snprintf(why, whysize, "unable to rewind %s: %s", rules->shown, strerror(errno));
		return UNPACK_FAILED;
	}
	struct archive_entry *e;
	char path[4096];
	int r;
	long n = 0;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *p = archive_entry_pathname(e);
		if (p && clean_path(p, path, sizeof path) && !visit(path, archive_entry_filetype(e), arg))
			break;
		if (++n > rules->max_entries)
			break; /* unpacking says so */
	}
	enum unpack_result v = UNPACK_OK;
	if (r == ARCHIVE_FATAL) {
		damaged_why(a, rules, NULL, why, whysize);
		v = UNPACK_DAMAGED;
	}
	archive_read_free(a);
	return v;
}

bool unpack_has_file(int dirfd, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return false;
	struct stat st;
	bool ok = fstat((int)fd, &st) == 0 && S_ISREG(st.st_mode);
	close((int)fd);
	return ok;
}
