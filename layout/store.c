/* store.c - the site's content-addressed store (store/XX/HASH): a job's file
 * shared with the store's copy of its bytes, and the garbage collected.
 * Trusts only inodes of its own user with no other link (see store.h). */
#define _GNU_SOURCE
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* More links than this to one copy and the next job starts a new one
 * (ext4 allows 65,000 a file). */
#define STORE_LINKS_MAX 30000
/* What a share killed midway leaves: .hotfarm-share.PID in the job's
 * staging folder (which goes with it) and store/XX/.tmp.* (gone after an
 * hour). */
#define SHARE_TMP ".hotfarm-share"
#define STORE_TMP ".tmp."
#define STORE_TMP_AGE_S 3600

int store_open(const struct spool *sp, bool create)
{
	const char *name = spool_file_name(SPOOL_FILE_STORE);
	int fd = openat(sp->root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create && (mkdirat(sp->root, name, 0755) == 0 || errno == EEXIST))
		fd = openat(sp->root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* store/XX for HEX, made when missing. */
static int store_sub(int storefd, const char *hex)
{
	char sub[3] = {hex[0], hex[1], 0};
	int fd = openat(storefd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && (mkdirat(storefd, sub, 0755) == 0 || errno == EEXIST))
		fd = openat(storefd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

static bool hex_valid(const char *hex)
{
	for (int i = 0; i < 64; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return hex[64] == 0;
}

/* FROMDIR/FROM linked as TODIR/TO, through the temporary name TMP (TO is
 * replaced in one rename; a name of TMP already there is left alone). */
static bool link_as(int fromdir, const char *from, int todir, const char *tmp, const char *to)
{
	if (linkat(fromdir, from, todir, tmp, 0) < 0)
		return false;
	if (renameat(todir, tmp, todir, to) == 0)
		return true;
	unlinkat(todir, tmp, 0);
	return false;
}

/* The store's copy ENTRY in SUBFD takes the place of DIRFD/NAME. */
static bool share_copy(int subfd, const char *entry, int dirfd, const char *name)
{
	/* (a job's own file of that name stays: the link fails, nothing shared) */
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%s.%ld", SHARE_TMP, (long)getpid());
	return link_as(subfd, entry, dirfd, tmp, name);
}

/* DIRFD/NAME becomes the store's copy ENTRY (replacing one too linked). */
static bool share_add(int subfd, const char *entry, int dirfd, const char *name, const struct stat *st, bool exec)
{
	if (!S_ISREG(st->st_mode) || st->st_nlink != 1 || st->st_uid != geteuid())
		return false;
	if (fchmodat(dirfd, name, exec ? 0555 : 0444, 0) < 0)
		return false;
	static unsigned serial;
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%s%ld.%u", STORE_TMP, (long)getpid(), ++serial);
	return link_as(dirfd, name, subfd, tmp, entry);
}

enum store_share store_share(int storefd, int dirfd, const char *name, const struct stat *st, const char *hex)
{
	if (storefd < 0 || !hex_valid(hex) || !S_ISREG(st->st_mode))
		return STORE_SKIPPED;
	bool exec = (st->st_mode & 0111) != 0;
	char entry[STORE_NAME_MAX + 1];
	snprintf(entry, sizeof entry, "%s%s", hex, exec ? ".x" : "");
	int subfd = store_sub(storefd, hex);
	if (subfd < 0)
		return STORE_SKIPPED;
	enum store_share r = STORE_SKIPPED;
	struct stat have;
	/* the store's copy: ours, read-only, the same size (its bytes were
	 * hashed when it came in, and nobody but this user can change them) */
	if (fstatat(subfd, entry, &have, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(have.st_mode) &&
	    have.st_size == st->st_size && have.st_uid == geteuid() && !(have.st_mode & 0222)) {
		if (have.st_ino == st->st_ino && have.st_dev == st->st_dev)
			r = STORE_SHARED;
		else if (have.st_nlink < STORE_LINKS_MAX && share_copy(subfd, entry, dirfd, name))
			r = STORE_SHARED;
	}
	if (r == STORE_SKIPPED && share_add(subfd, entry, dirfd, name, st, exec))
		r = STORE_ADDED;
	close(subfd);
	return r;
}

int store_copy_open(int storefd, const char *hex, long long size, char entry[STORE_NAME_MAX + 1])
{
	if (storefd < 0 || !hex_valid(hex)) {
		errno = EINVAL;
		return -1;
	}
	char sub[3] = {hex[0], hex[1], 0};
	int subfd = openat(storefd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (subfd < 0)
		return -1;
	int fd = -1;
	for (int x = 0; x < 2 && fd < 0; x++) {
		snprintf(entry, STORE_NAME_MAX + 1, "%s%s", hex, x ? ".x" : "");
		int f = openat(subfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		if (f >= 0 && fstat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    !(st.st_mode & 0222) && (size < 0 || st.st_size == size))
			fd = f;
		else if (f >= 0)
			close(f);
	}
	close(subfd);
	if (fd < 0)
		errno = ENOENT;
	return fd;
}

void store_copy_forget(int storefd, const char *entry)
{
	char sub[3] = {entry[0], entry[1], 0};
	int subfd = openat(storefd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (subfd >= 0) {
		unlinkat(subfd, entry, 0);
		close(subfd);
	}
}

/* ---- garbage ------------------------------------------------------------ */

static void gc_sub(int subfd, bool dry_run, time_t now, struct store_gc *out)
{
	DIR *d = fdopendir(subfd);
	if (!d) {
		close(subfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!strncmp(e->d_name, STORE_TMP, strlen(STORE_TMP))) {
			if (!dry_run && now - st.st_mtime > STORE_TMP_AGE_S)
				unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (st.st_nlink > 1) {
			out->kept++;
			out->kept_bytes += (unsigned long long)st.st_size;
			out->links += st.st_nlink - 1;
			out->saved_bytes += (unsigned long long)st.st_size * (st.st_nlink - 2);
			continue;
		}
		/* a job that links it meanwhile keeps its bytes: its own link */
		if (dry_run || unlinkat(dirfd(d), e->d_name, 0) == 0) {
			out->removed++;
			out->removed_bytes += (unsigned long long)st.st_size;
		}
	}
	closedir(d);
}

int store_gc(const struct spool *sp, bool dry_run, struct store_gc *out)
{
	memset(out, 0, sizeof *out);
	int storefd = store_open(sp, false);
	if (storefd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(storefd);
	if (!d) {
		close(storefd);
		return -1;
	}
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 2 || !strchr("0123456789abcdef", e->d_name[0]) ||
		    !strchr("0123456789abcdef", e->d_name[1]))
			continue;
		int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			gc_sub(sub, dry_run, now, out);
	}
	closedir(d);
	return 0;
}
