/* unpack.h - unpack an untrusted archive beneath a folder descriptor, with
 * limits. layout/unpack.c needs libarchive, so it is linked into the
 * programs that unpack (hf-intake, hf-collect), not into liblayout.a. */
#ifndef HOTFARM_UNPACK_H
#define HOTFARM_UNPACK_H

#include "util.h"

#include <sys/stat.h>

enum unpack_flags {
	UNPACK_JOB_FORMATS = 1, /* tar, zip or 7z, compressed or not; else a plain tar only */
	UNPACK_LINKS = 2,       /* symbolic and hard links that stay inside; else files and folders only */
	UNPACK_KEEP_TIMES = 4,  /* the archive's modification times; else the time of unpacking */
};

/* What an archive may hold. The limits are the site's [intake] max_entries
 * and max_bytes, and the messages name them so. */
struct unpack_rules {
	const char *shown;            /* the archive's name in messages, escaped */
	unsigned flags;               /* enum unpack_flags */
	long max_entries;
	unsigned long long max_bytes; /* counted as written: a bomb stops there */
	/* NULL, or the only files (and links) it may hold: "name" at its top or
	 * "folder/" (anything below); folders may be anywhere */
	const char *const *allowed;
	const char *holder;           /* what holds those, for messages: "an answer" */
};

enum unpack_result {
	UNPACK_OK,
	UNPACK_REFUSED,  /* an entry hotfarm does not unpack, or a limit passed */
	UNPACK_DAMAGED,  /* not an archive, damaged, cut short or empty: it may still be arriving */
	UNPACK_NO_SPACE, /* the disk or the quota is full */
	UNPACK_FAILED,   /* a system call failed (errno is set) */
};

struct unpack_report {
	char why[1024];                /* one sentence, unless UNPACK_OK */
	long entries;                  /* read so far */
	unsigned long long bytes;      /* written so far */
	struct strlist files;          /* the first six regular files, as unpacked; the caller frees it */
	struct strlist *warnings;      /* set by the caller (or NULL): setuid/setgid bits removed, up to 20 */
};

/* Unpack archive ARCHIVE_FD (read from its start) beneath folder DIRFD:
 * files and folders (and links, with UNPACK_LINKS) whose paths stay inside,
 * none twice, none through a link; no devices, FIFOs or sockets; at most
 * RULES' entries and bytes. Files get 0755 when executable, else 0644;
 * folders 0755; no set-id bit stays (each one removed is a warning).
 * It works in DIRFD as the current directory (libarchive resolves paths
 * there) and returns to the one it was called in. What was unpacked before
 * a refusal stays: the caller removes the folder. */
enum unpack_result unpack_archive(int archive_fd, int dirfd, const struct unpack_rules *rules,
				  struct unpack_report *out);

/* Read the headers only: VISIT sees each entry's path (with "./" and a
 * trailing '/' taken off; the top folder itself is skipped) and type (as
 * st_mode's S_IFREG, S_IFDIR ...), and stops the scan by returning false;
 * the scan stops too after RULES' max_entries (unpack_archive says so).
 * UNPACK_DAMAGED (with WHY) when the archive breaks off, UNPACK_FAILED when
 * it cannot be read from its start, else UNPACK_OK. */
typedef bool unpack_visit_fn(const char *path, mode_t type, void *arg);
enum unpack_result unpack_scan(int archive_fd, const struct unpack_rules *rules, unpack_visit_fn *visit, void *arg,
			       char *why, size_t whysize);

/* Whether PATH below DIRFD (a tree unpack_archive made) is a regular file,
 * reached through the links the unpacking let stay inside it, never out
 * of it (openat2 RESOLVE_BENEATH; without it, no link at the last part). */
bool unpack_has_file(int dirfd, const char *path);

#endif
