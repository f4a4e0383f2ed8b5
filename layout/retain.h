/* retain.h - housekeeping: which ended jobs and rejected/ entries are due to
 * go ([retain] days; a linked site's jobs by [site] retain_days), and their
 * crash-safe removal or move into [retain] archive (retain.c, retire.c). */
#ifndef HOTFARM_RETAIN_H
#define HOTFARM_RETAIN_H

#include "layout.h"
#include "store.h"

/* One thing a clean pass acts on. */
struct retain_item {
	bool rejected;              /* a rejected/ entry, else a job */
	char id[JOBID_MAX_LEN + 1]; /* the job's id, or the rejected/ entry's name */
	enum job_state state;       /* a job's end state */
	int64_t ended_us;           /* when it ended (its status.ini, or reason.txt, last written) */
	unsigned long long bytes;   /* its files' sizes, when the pass measures */
	char archived[640];           /* where it went in the archive, or "" */
};

struct retain_opts {
	int64_t older_than_us; /* what ended this long ago; -1: [retain] days (0 days: nothing) */
	bool local;            /* this site's own jobs and rejected/ */
	bool peers;            /* jobs from linked sites, their result sent back [site] retain_days ago */
	bool dry_run;          /* only say what would go */
	bool measure;          /* count each one's bytes */
	int lock_ms;           /* how long to wait for another pass to end */
	struct store_gc *store; /* when given: the store's garbage, removed (dry run: counted) last */
};

/* Called for each item the pass acts on: RC 0 done (or, dry run, due), -1
 * failed with errno. */
typedef void retain_each(const struct retain_item *it, int rc, void *arg);

/* One clean pass: finish what interrupted removals left (retain_recover),
 * then remove or archive every item due, but a done job that a job still
 * to run waits for ([job] after), then the store's contents no job holds
 * any more (store_gc). One pass at a time per spool: -1 with
 * EAGAIN when another holds run/retain.lock for longer than lock_ms (a
 * dry run takes no lock and changes nothing). Returns how many
 * items it acted on (or would), or -1 with errno (also when [retain]
 * archive is set but cannot be opened as a folder: nothing moves then). */
long retain_run(const struct spool *sp, const struct retain_opts *o, retain_each *each, void *arg);

/* Finish what removals killed midway left: job folders whose entry was
 * moved in (not listed any more) go on to the archive or the trash;
 * rejected/.retiring.* likewise; work/trash/ entries of processes that are
 * gone are removed, and so are the archive's half copies. */
void retain_recover(const struct spool *sp);

/* Remove or archive (ARCHIVE: a folder; NULL or "": remove) the ended
 * job ID, crash-safely (job_remove is this without an archive), or the
 * rejected/ entry NAME. WHERE (may be NULL) gets the archived path. 0, or
 * -1 with errno. */
int job_retire(const struct spool *sp, const char *id, const char *archive, char *where, size_t wsize);
/* The same for job ID whose entry ENTRY the caller saw in state S (a
 * pass over the state folders): no search; ENOENT when it moved since. */
int job_retire_entry(const struct spool *sp, const char *id, enum job_state s, const char *entry, const char *archive,
		     char *where, size_t wsize);
int rejected_retire(const struct spool *sp, const char *name, const char *archive, char *where, size_t wsize);

/* The sizes of every file below DIRFD/NAME (no link followed). */
unsigned long long tree_bytes(int dirfd, const char *name);

#endif
