/* site.c - linked sites' hot folders: sites/PEER/{in,out,jobs,...},
 * publishing a file for a peer and taking in what a peer sent, by rename;
 * file names that travel between sites are checked here. */
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

bool site_file_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 200 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isascii(c) && (isalnum(c) || c == '.' || c == '_' || c == '-' || c == '@')))
			return false;
	}
	return true;
}

const struct site_link *site_link_find(const struct spool *sp, const char *peer)
{
	for (int i = 0; i < sp->conf.nlinks; i++)
		if (!strcmp(sp->conf.links[i].name, peer))
			return &sp->conf.links[i];
	return NULL;
}

static const char *const site_subs[SITE_SUB_COUNT] = {
	".", "in", "out", "jobs", "rejected", ".basis", ".basis/.sha", ".incoming", ".basis/.known", ".basis/.paths",
	".basis/.names",
};

int site_dir_open(const struct spool *sp, const char *peer, enum site_sub which)
{
	const char *sub = site_subs[which];
	if (!name_is_valid(peer) || strlen(peer) > SITE_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	int s = spool_fd(sp, DIR_SITES);
	mkdirat(s, peer, 0755);
	int p = openat(s, peer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p < 0)
		return -1;
	const char *slash = strchr(sub, '/');
	if (slash) { /* .basis/ first */
		char parent[32];
		snprintf(parent, sizeof parent, "%.*s", (int)(slash - sub), sub);
		mkdirat(p, parent, 0755);
	}
	mkdirat(p, sub, 0755);
	int d = openat(p, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(p);
	errno = e;
	return d;
}

void site_dir_relpath(const char *peer, enum site_sub sub, char *out, size_t outsize)
{
	snprintf(out, outsize, "%s/%s/%s", spool_dir_name(DIR_SITES), peer, site_subs[sub]);
}

int spool_view_site(struct spool *sp, const char *peer)
{
	const enum spool_dir which[] = {DIR_INBOX, DIR_JOBS, DIR_REJECTED};
	const enum site_sub subs[] = {SITE_IN, SITE_JOBS, SITE_REJECTED};
	for (int i = 0; i < 3; i++) {
		int fd = site_dir_open(sp, peer, subs[i]);
		if (fd < 0)
			return -1;
		close(sp->dir[which[i]]);
		sp->dir[which[i]] = fd;
	}
	return 0;
}

int site_out_publish(const struct spool *sp, const char *peer, int srcdir, const char *src, const char *name)
{
	int out = site_dir_open(sp, peer, SITE_OUT);
	if (out < 0)
		return -1;
	int rc = renameat(srcdir, src, out, name);
	int e = errno;
	if (rc == 0 && sync_writes)
		fsync_dir(out);
	close(out);
	errno = e;
	return rc;
}

int site_out_write(const struct spool *sp, const char *peer, const char *name, const char *data, size_t len)
{
	int out = site_dir_open(sp, peer, SITE_OUT);
	if (out < 0)
		return -1;
	int rc = file_write_atomic(out, name, data, len, 0644);
	int e = errno;
	close(out);
	errno = e;
	return rc;
}

/* sites/PEER/in/NAME to TO/DST (replacing), or with DST NULL under a free
 * name in TO. */
static int site_in_move(const struct spool *sp, const char *peer, const char *name, enum site_sub dstsub,
			const char *dst)
{
	int in = site_dir_open(sp, peer, SITE_IN);
	int to = in < 0 ? -1 : site_dir_open(sp, peer, dstsub);
	int rc = -1, e = errno;
	if (to >= 0) {
		if (dst) {
			rc = renameat(in, name, to, dst);
		} else {
			char used[NAME_MAX_LEN + 1], base[NAME_MAX_LEN + 1];
			name_sanitize(name, base, sizeof base);
			rc = rename_unique(in, name, to, base, used);
		}
		e = errno;
	}
	if (in >= 0)
		close(in);
	if (to >= 0)
		close(to);
	errno = e;
	return rc;
}

int site_in_reject(const struct spool *sp, const char *peer, const char *name)
{
	return site_in_move(sp, peer, name, SITE_REJECTED, NULL);
}

int site_in_keep_summary(const struct spool *sp, const char *peer, const char *name)
{
	return site_in_move(sp, peer, name, SITE_TOP, "summary.ini");
}

struct ini *site_summary_ini(const struct spool *sp, const char *peer, struct stat *st)
{
	int d = site_dir_open(sp, peer, SITE_TOP);
	if (d < 0)
		return NULL;
	char err[512];
	struct ini *ini = NULL;
	if (fstatat(d, "summary.ini", st, AT_SYMLINK_NOFOLLOW) == 0)
		ini = ini_load(d, "summary.ini", "summary.ini", err, sizeof err);
	close(d);
	return ini;
}

int site_publish(int srcdir, const char *src, int dstdir, const char *dst, bool replace)
{
	if (replace)
		return renameat(srcdir, src, dstdir, dst);
	return rename_noreplace(srcdir, src, dstdir, dst);
}
