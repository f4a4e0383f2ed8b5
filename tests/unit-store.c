/* unit-store.c - unit tests of the content-addressed store (layout/store.c):
 * which files it shares and makes its copies, which it refuses, and its
 * garbage collection, on a real spool in a temporary folder. */
#define _GNU_SOURCE
#include "../layout/store.h"
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char HASH_A[] = "aa00000000000000000000000000000000000000000000000000000000000001";
static const char HASH_B[] = "bb00000000000000000000000000000000000000000000000000000000000002";

static void put(int dirfd, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror(name);
		close(fd);
	}
	fchmodat(dirfd, name, mode, 0);
}

static struct stat st_of(int dirfd, const char *name)
{
	struct stat st;
	memset(&st, 0, sizeof st);
	fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW);
	return st;
}

static enum store_share share(int storefd, int dirfd, const char *name, const char *hex)
{
	struct stat st = st_of(dirfd, name);
	return store_share(storefd, dirfd, name, &st, hex);
}

void test_store(void)
{
	struct spool sp;
	char root[64];
	close(state_spool(&sp, root, "store", 0));
	int storefd = store_open(&sp, true);
	int dir = openat(sp.root, "work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(dir, "one", "same bytes", 0644);
	put(dir, "two", "same bytes", 0644);
	put(dir, "run", "same bytes", 0755);
	CHECK(share(storefd, dir, "one", HASH_A) == STORE_ADDED && share(storefd, dir, "two", HASH_A) == STORE_SHARED &&
		      st_of(dir, "one").st_ino == st_of(dir, "two").st_ino && st_of(dir, "one").st_nlink == 3 &&
		      (st_of(dir, "two").st_mode & 07777) == 0444,
	      "store: the first file of some bytes becomes the copy, the next a link of it, both read-only");
	CHECK(share(storefd, dir, "run", HASH_A) == STORE_ADDED && st_of(dir, "run").st_ino != st_of(dir, "one").st_ino &&
		      (st_of(dir, "run").st_mode & 07777) == 0555,
	      "store: an executable of the same bytes has a copy of its own (0555)");
	CHECK(share(storefd, dir, "one", HASH_A) == STORE_SHARED, "store: a file that is the copy already stays it");

	put(dir, "linked", "other bytes", 0644);
	linkat(dir, "linked", dir, "outside", 0);
	CHECK(share(storefd, dir, "linked", HASH_B) == STORE_SKIPPED,
	      "store: a file with another link (someone else may write it) never becomes the copy");
	unlinkat(dir, "outside", 0);
	put(dir, "theirs", "other bytes", 0644);
	int fchown_ok = fchownat(dir, "theirs", 65534, 65534, 0) == 0;
	CHECK(!fchown_ok || share(storefd, dir, "theirs", HASH_B) == STORE_SKIPPED,
	      "store: nor does a file another user owns");
	CHECK(share(storefd, dir, "linked", "not-a-hash") == STORE_SKIPPED && share(storefd, dir, "linked", "../x") == STORE_SKIPPED,
	      "store: a name that is not a SHA-256 in hex is refused");

	/* a copy someone could write (not read-only) is not trusted */
	int sub = openat(storefd, "bb", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sub < 0 && mkdirat(storefd, "bb", 0755) == 0)
		sub = openat(storefd, "bb", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put(sub, HASH_B, "other bytes", 0644);
	CHECK(share(storefd, dir, "linked", HASH_B) == STORE_ADDED &&
		      (st_of(sub, HASH_B).st_mode & 07777) == 0444 && st_of(sub, HASH_B).st_ino == st_of(dir, "linked").st_ino,
	      "store: a writable copy is replaced, never linked");

	/* garbage: drop the jobs' links of the executable; an old leftover */
	unlinkat(dir, "run", 0);
	put(sub, ".tmp.1.1", "half", 0444);
	struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
	utimensat(sub, ".tmp.1.1", old, 0);
	put(sub, ".tmp.2.1", "young", 0444);
	struct store_gc dry, gc, again;
	CHECK(store_gc(&sp, true, &dry) == 0 && dry.removed == 1 && dry.kept == 2 &&
		      faccessat(sub, ".tmp.1.1", F_OK, 0) == 0,
	      "store: a dry run counts what would go (%ld) and what stays (%ld), and removes nothing", dry.removed, dry.kept);
	CHECK(store_gc(&sp, false, &gc) == 0 && gc.removed == 1 && gc.removed_bytes == 10 && gc.kept == 2 &&
		      gc.links == 3 && gc.saved_bytes == 10 && faccessat(sub, ".tmp.1.1", F_OK, 0) < 0 &&
		      faccessat(sub, ".tmp.2.1", F_OK, 0) == 0 && st_of(dir, "one").st_nlink == 3,
	      "store: the collection removes the content no job holds and an hour-old leftover, keeps the rest "
	      "(removed %ld, kept %ld, links %llu, saved %llu)",
	      gc.removed, gc.kept, gc.links, gc.saved_bytes);
	unlinkat(dir, "one", 0);
	unlinkat(dir, "two", 0);
	unlinkat(dir, "linked", 0);
	CHECK(store_gc(&sp, false, &again) == 0 && again.removed == 2 && again.kept == 0,
	      "store: once the last job's link goes, so does the content (%ld)", again.removed);
	close(sub);
	close(dir);
	close(storefd);
	state_spool_drop(&sp, root);
}
