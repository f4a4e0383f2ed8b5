/* intakestore.c - hf-intake's share of the store: each file it unpacked
 * hashed (SHA-256) and linked with the store's copy of the same bytes, so
 * that jobs sharing textures hold them once on disk (layout/store.h). */
#define _GNU_SOURCE
#include "../layout/store.h"
#include "intake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Smaller files are kept as they are: sharing one saves less than the
 * hash and the links cost. */
#define SHARE_MIN_BYTES 4096
#define SHARE_MAX_DEPTH 64

int sha256_fd(int fd, char hex[65])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	static uint8_t buf[1 << 20];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		sha256_update(&ctx, (size_t)n, buf);
	}
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_digest(&ctx, sizeof md, md);
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static void share_file(int storefd, int dirfd, const char *name, const struct stat *st, struct intake_shared *out)
{
	int fd = open_regular(dirfd, name, O_RDONLY);
	char hex[65];
	bool hashed = fd >= 0 && sha256_fd(fd, hex) == 0;
	if (fd >= 0)
		close(fd);
	if (!hashed)
		return;
	switch (store_share(storefd, dirfd, name, st, hex)) {
	case STORE_SHARED:
		out->shared++;
		out->shared_bytes += (unsigned long long)st->st_size;
		break;
	case STORE_ADDED:
		out->added++;
		break;
	case STORE_SKIPPED:
		break;
	}
}

static void share_tree(int storefd, int dirfd, int depth, struct intake_shared *out)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < SHARE_MAX_DEPTH) {
			int sub = open_beneath(dirfd, e->d_name, O_RDONLY | O_DIRECTORY, 0);
			if (sub >= 0) {
				share_tree(storefd, sub, depth + 1, out);
				close(sub);
			}
		} else if (S_ISREG(st.st_mode) && st.st_size >= SHARE_MIN_BYTES) {
			share_file(storefd, dirfd, e->d_name, &st, out);
		}
	}
	closedir(d);
}

void intake_share(const struct spool *sp, int jobfd, struct intake_shared *out)
{
	memset(out, 0, sizeof *out);
	if (!sp->conf.dedupe)
		return;
	int storefd = store_open(sp, true);
	int files = storefd >= 0 ? job_subdir_open(jobfd, JOB_DIR_FILES, false) : -1;
	if (files >= 0)
		share_tree(storefd, files, 0, out);
	else
		warn("unable to share the job's files through %s/: %s", spool_file_name(SPOOL_FILE_STORE),
		     strerror(errno));
	if (files >= 0)
		close(files);
	if (storefd >= 0)
		close(storefd);
}
