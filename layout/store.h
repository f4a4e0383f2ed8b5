/* store.h - the site's content-addressed store of job files: store/XX/HASH
 * (HASH the SHA-256 of the bytes, XX its first two digits), one read-only
 * inode that every job holding those bytes links into its files/. A
 * content no job links (one link left: the store's) is garbage. */
#ifndef HOTFARM_STORE_H
#define HOTFARM_STORE_H

#include "layout.h"

#include <sys/stat.h>

/* A store entry's name: the 64 hex digits, ".x" after them for an
 * executable (a mode is the inode's, so the two kinds never share). */
#define STORE_NAME_MAX 67

/* store/, opened; made first when CREATE (-1 with errno). */
int store_open(const struct spool *sp, bool create);

enum store_share {
	STORE_SHARED,  /* DIRFD/NAME is now a link of the store's copy */
	STORE_ADDED,   /* DIRFD/NAME is now the store's copy of its bytes */
	STORE_SKIPPED, /* left as it was (not ours alone, or a link failed) */
};

/* DIRFD/NAME, a regular file whose bytes hash to HEX (lowercase) and that
 * ST describes: replaced by a link of the store's copy of those bytes, or
 * made that copy (read-only: 0444, 0555 when executable). Only a file of
 * this process's user with no other link is ever made the store's copy:
 * nobody else may change the bytes that jobs share. */
enum store_share store_share(int storefd, int dirfd, const char *name, const struct stat *st, const char *hex);

/* The store's copy of the bytes HEX, for reading: store/XX/HEX or its
 * executable twin, trusted as store_share trusts it (ours, read-only, of
 * SIZE bytes when SIZE is not -1); its entry's name in ENTRY. -1 with
 * errno when there is none to trust. */
int store_copy_open(int storefd, const char *hex, long long size, char entry[STORE_NAME_MAX + 1]);
/* Remove the store's name ENTRY (its bytes were found not to be its
 * hash's): the next job with those bytes makes a new copy. Jobs that
 * link it keep their links. */
void store_copy_forget(int storefd, const char *entry);

/* The garbage of the store: contents no job links, and a share's
 * leftovers of a crash (.tmp.* an hour old). */
struct store_gc {
	long removed;                     /* contents removed (or, dry run, due) */
	unsigned long long removed_bytes; /* their sizes */
	long kept;                        /* contents jobs still link */
	unsigned long long kept_bytes;    /* their sizes, each once */
	unsigned long long links;         /* the jobs' links to them */
	unsigned long long saved_bytes;   /* what copies of their own would take more */
};

/* Remove the garbage (DRY_RUN: only count it), one unlink per content:
 * a kill midway leaves a smaller store, never a broken job. 0, or -1 with
 * errno when store/ cannot be read (none yet: 0, nothing counted). */
int store_gc(const struct spool *sp, bool dry_run, struct store_gc *out);

#endif
