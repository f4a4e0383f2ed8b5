/* limit.c - licence and concurrency tokens under limits/NAME/: a free
 * token is taken by renaming it to TOKEN@OWNER and given back the same way. */
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

bool limit_has_tokens(const struct spool *sp, const char *limit)
{
	return name_is_valid(limit) && dir_has_names(spool_fd(sp, DIR_LIMITS), limit);
}

long limit_token_number(const char *name, bool *held)
{
	char *end;
	long n = strtol(name, &end, 10);
	if (held)
		*held = *end == '@';
	return name[0] >= '1' && name[0] <= '9' && (*end == 0 || *end == '@') ? n : -1;
}

int limit_take_upto(const struct spool *sp, const char *limit, long max, const char *owner, char out[256])
{
	if (!name_is_valid(limit)) {
		errno = EINVAL;
		return -1;
	}
	DIR *d = dir_open(spool_fd(sp, DIR_LIMITS), limit);
	if (!d)
		return -1;
	int dfd = dirfd(d);
	struct dirent *e;
	int rc = -1;
	errno = EAGAIN;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strchr(e->d_name, '@') || strlen(e->d_name) > 100)
			continue;
		long n = max < 0 ? 0 : limit_token_number(e->d_name, NULL);
		if (max >= 0 && (n < 1 || n > max))
			continue; /* a quota's: above it (lowered since), or no number */
		snprintf(out, 256, "%s@%s", e->d_name, owner);
		if (renameat(dfd, e->d_name, dfd, out) == 0 || faccessat(dfd, out, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			rc = 0;
			break;
		}
		errno = EAGAIN;
	}
	closedir(d);
	return rc;
}

int limit_take(const struct spool *sp, const char *limit, const char *owner, char out[256])
{
	return limit_take_upto(sp, limit, -1, owner, out);
}

int limit_give(const struct spool *sp, const char *limit, const char *held)
{
	char token[256];
	snprintf(token, sizeof token, "%s", held);
	char *at = strchr(token, '@');
	if (!at || !name_is_valid(limit)) {
		errno = EINVAL;
		return -1;
	}
	*at = 0;
	int dfd = openat(spool_fd(sp, DIR_LIMITS), limit, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int rc = renameat(dfd, held, dfd, token);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}
