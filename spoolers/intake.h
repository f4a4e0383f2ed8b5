/* intake.h - hf-intake's two halves: intake.c takes a drop (checks the
 * files, unpacks the archive, judges the description); intakejob.c writes
 * the job folder it builds in work/, commits it into jobs/ and new/, and
 * recovers intakes a crash interrupted. */
#ifndef HOTFARM_INTAKE_H
#define HOTFARM_INTAKE_H

#include "../layout/access.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"

/* What intake knows of a job it has checked, for the folder it writes. */
struct intake_job {
	const struct job_desc *jd;
	const char *original;       /* the name its owner gave it */
	int64_t seq;                /* when it was taken (µs): its place in the queue */
	const char *dropped[2];     /* the files dropped into inbox/ */
	int ndropped;
	const char *from_peer;      /* NULL, or the linked site that sent it */
	const char *origin;         /* its id at FROM_PEER */
	const struct strlist *hops; /* the sites it passed (FROM_PEER last) */
	const struct job_owner *owner; /* who it belongs to (jd's owner is its user) */
	struct strlist warnings;    /* for status.ini */
};

/* Write the job's folders, job.ini, frame tickets, status.ini and
 * intake.pending into JOBFD (work/.../job); dies when a write fails. */
void intake_job_write(const struct spool *sp, int jobfd, const struct intake_job *job);
/* jobs/NAME/intake.pending -> new/PPP-SEQ-NAME (NAME@PEER for a job PEER
 * sent). The caller holds the pending file's lock. 0, or -1 with errno. */
int intake_entry_commit(const struct spool *sp, const char *name, const char *peer, int pending_fd);
/* --recover: finish or undo the intakes that were interrupted (ALL: none
 * runs now, so even the youngest leftovers go). Returns the exit code. */
int intake_recover(const struct spool *sp, bool all);

#endif
