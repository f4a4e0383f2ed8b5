/* drop.c - what users drop into inbox/: pairing an archive with its .ini,
 * claiming the files by rename into intake's work folder and returning
 * them, and the intake commit that makes a new/ entry. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"

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

int intake_commit(const struct spool *sp, const char *name, const char *entry)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return -1;
	int rc = renameat(jfd, INTAKE_PENDING, state_fd(sp, STATE_NEW), entry);
	int e = errno;
	close(jfd);
	errno = e;
	return rc;
}

static const char *const archive_exts[] = {".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz4", ".tgz",
					   ".tbz2",   ".txz",     ".tzst",   ".tar",     ".zip",     ".7z",
					   NULL};

void drop_stem(const char *file, char *out, size_t outsize)
{
	snprintf(out, outsize, "%s", file);
	if (has_suffix(out, ".ini")) {
		out[strlen(out) - 4] = 0;
		return;
	}
	for (const char *const *e = archive_exts; *e; e++)
		if (has_suffix(out, *e) && strlen(out) > strlen(*e)) {
			out[strlen(out) - strlen(*e)] = 0;
			return;
		}
	char *dot = strrchr(out, '.');
	if (dot && dot != out)
		*dot = 0;
}

static const char *claimed_name(const char *name)
{
	return strcmp(name, "reason.txt") ? name : "dropped-reason.txt";
}

const char *drop_return(const struct spool *sp, int dirfd, const char *name)
{
	const char *back = strcmp(name, "dropped-reason.txt") ? name : "reason.txt";
	if (renameat2(dirfd, name, spool_fd(sp, DIR_INBOX), back, RENAME_NOREPLACE) < 0)
		return NULL;
	return back;
}

int drop_claim(const struct spool *sp, int dirfd, const char *const names[], int n)
{
	int in = spool_fd(sp, DIR_INBOX);
	for (int i = 0; i < n; i++) {
		if (renameat(in, names[i], dirfd, claimed_name(names[i])) == 0)
			continue;
		int e = errno;
		for (int j = 0; j < i; j++)
			drop_return(sp, dirfd, claimed_name(names[j]));
		errno = e;
		return -1;
	}
	return 0;
}

int rename_unique(int srcfd, const char *src, int dirfd, const char *base, char out[NAME_MAX_LEN + 1])
{
	for (int n = 1; n < 100000; n++) {
		if (n == 1)
			snprintf(out, NAME_MAX_LEN + 1, "%s", base);
		else
			snprintf(out, NAME_MAX_LEN + 1, "%.*s-%d", NAME_MAX_LEN - 7, base, n);
		if (renameat2(srcfd, src, dirfd, out, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST || errno == ENOTEMPTY)
			continue;
		if (errno != EINVAL)
			return -1;
		/* NFS and sshfs refuse the flag: reserve the name with mkdir,
		 * then rename over our own empty folder. */
		if (mkdirat(dirfd, out, 0755) < 0) {
			if (errno == EEXIST)
				continue;
			return -1;
		}
		if (renameat(srcfd, src, dirfd, out) == 0)
			return 0;
		int e = errno;
		unlinkat(dirfd, out, AT_REMOVEDIR);
		errno = e;
		return -1;
	}
	errno = EEXIST;
	return -1;
}

int inbox_drop(const struct spool *sp, const char *tmp, const char *name)
{
	int in = spool_fd(sp, DIR_INBOX);
	return rename_noreplace(in, tmp, in, name);
}
