/* intake.h - hf-intake's two halves: intake.c takes a drop (checks the
 * files, unpacks the archive, judges the description); intakejob.c writes
 * the job folder it builds in work/, commits it into jobs/ and new/, and
 * recovers intakes a crash interrupted. */
#ifndef HOTFARM_INTAKE_H
#define HOTFARM_INTAKE_H

#include "../layout/access.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"
#include "../layout/preset.h"

/* What intake_share did with a job's files. */
struct intake_shared {
	long shared, added;              /* linked with the store's copy; made the copy */
	unsigned long long shared_bytes; /* the sizes of those shared */
};

/* What intake knows of a job it has checked, for the folder it writes. */
struct intake_job {
	const struct job_desc *jd;
	const char *original;       /* the name its owner gave it */
	int64_t seq;                /* when it landed (µs): its place in the queue */
	const char *dropped[2];     /* the files dropped into inbox/ */
	int ndropped;
	const char *from_peer;      /* NULL, or the linked site that sent it */
	const char *origin;         /* its id at FROM_PEER */
	const struct strlist *hops; /* the sites it passed (FROM_PEER last) */
	const struct job_owner *owner; /* who it belongs to (jd's owner is its user) */
	struct strlist warnings;    /* for status.ini */
	const char *preset;         /* NULL, or the preset folder it was dropped into */
	const char *described;      /* then: where its keys came from */
	const long *only;           /* from a peer: tickets for these frames only (NULL: all) */
	size_t nonly;
	unsigned long long submitted_bytes; /* the archive's size as dropped (0: none) */
	struct intake_shared *shared;       /* out: what of its files the store shares */
};

/* Share the job's unpacked files (JOBFD/files) through the site's store:
 * each file of 4 KiB or more whose bytes an earlier job brought becomes a
 * link of the one copy ([intake] dedupe = no: none). */
void intake_share(const struct spool *sp, int jobfd, struct intake_shared *out);
/* The SHA-256 of what FD reads from where it is, in lowercase hex (nettle:
 * libarchive's own hashing library, already loaded). */
int sha256_fd(int fd, char hex[65]);

/* Write the job's folders, job.ini, frame tickets, status.ini and
 * intake.pending into JOBFD (work/.../job); dies when a write fails. */
void intake_job_write(const struct spool *sp, int jobfd, const struct intake_job *job);
/* jobs/NAME/intake.pending -> new/PPP-SEQ-NAME (NAME@PEER for a job PEER
 * sent). The caller holds the pending file's lock. 0, or -1 with errno. */
int intake_entry_commit(const struct spool *sp, const char *name, const char *peer, int pending_fd,
			char entry[ENTRY_MAX_LEN]);
/* --recover: finish or undo the intakes that were interrupted (ALL: none
 * runs now, so even the youngest leftovers go). Returns the exit code. */
int intake_recover(const struct spool *sp, bool all);

/* ---- intakepreset.c: drops into a preset's folder, inbox/NAME/ ---- */

enum drop_copy { COPY_OK, COPY_REFUSED, COPY_BUSY, COPY_NO_SPACE, COPY_FAILED };
struct drop_copy_rules {
	const char *shown, *name; /* the drop, escaped for messages; and as named */
	long max_entries;
	unsigned long long max_bytes;
	long settle;  /* seconds nothing in a folder written in place may change */
	bool landed;  /* it arrived by rename: whole */
};
/* Copy dropped folder SRCFD's files and folders into DSTFD: regular files
 * (no other hard links) and folders only, within the rules' limits. A
 * first pass only looks: COPY_BUSY (with WHY) while anything in it is open
 * for writing or changed within the settle time. COPY_REFUSED with WHY,
 * COPY_NO_SPACE, COPY_FAILED with errno. */
enum drop_copy drop_folder_copy(int srcfd, int dstfd, const struct drop_copy_rules *r, char *why, size_t whysize);
/* The same for one dropped file FD, as DSTFD/NAME. */
enum drop_copy drop_file_copy(int fd, int dstfd, const char *name, const struct drop_copy_rules *r, char *why,
			      size_t whysize);
/* Whether a bare scene FD looks whole: it does not end in zeros (a file
 * written in place, its size set first), and a .blend has its end. */
bool scene_looks_whole(int fd, const char *shown, char *why, size_t whysize);
/* The one folder at the top of FILESFD when it holds nothing else, into
 * OUT (else ""); 1 or 0. */
int drop_top_folder(int filesfd, char *out, size_t outsize);

/* A preset drop being described. */
struct preset_drop {
	const struct preset *preset;
	int confdir, filesfd;
	const char *files_path;  /* the drop's files (absolute), for the scene's run */
	const char *probe_path;  /* a folder of the scene run's own (absolute) */
	const char *render_user; /* as root, the scene run runs as this user ("" none) */
	const char *top;         /* "", or the one folder holding everything */
	const char *bare;        /* a bare scene's name in the files, or NULL */
	const char *stem;        /* the job's name when nothing names it */
	const char *shown;       /* the drop, for messages */
};
/* The job.ini text of drop D: the preset's keys, OWN's (its own job.ini,
 * may be NULL) over them, then the scene, the package its ending implies,
 * the name, and what the scene says of its frames and size (the package's
 * [scene] argv, run confined) where neither gives them. FROM says where
 * each key came from. 0, or -1 with WHY for the artist. */
int preset_describe(const struct preset_drop *d, const struct ini *own, struct buf *text, struct buf *from, char *why,
		    size_t whysize);

#endif
