/* intakedrop.h - the drop hf-intake is taking, shared by intake.c (the main path) and intakearchive.c
 * (the dropped archive): the files, the spool, the verdict on them and the work folder they go to. */
#ifndef HOTFARM_INTAKEDROP_H
#define HOTFARM_INTAKEDROP_H

#include "../layout/layout.h"

#include <stdbool.h>
#include <sys/stat.h>

/* One dropped file (or, in a preset's folder, a folder). */
struct dropped {
	char name[256];  /* in inbox/ */
	char shown[512]; /* escaped for messages */
	int fd;
	struct stat st;
	bool unreadable; /* the farm's user may not read it */
};

/* The outcome of looking at an archive or description. */
enum verdict { OK, REJECT, WAIT };

extern struct spool sp;
extern bool landed;                /* the archive arrived by rename: it is complete */
extern char work_name[96];         /* work/in.X, pre.P.X or from.PEER.X */
extern struct dropped *archive_drop;
extern struct strlist warnings;    /* for status.ini */
extern struct strlist extracted;   /* the archive's regular files, as unpacked */
extern char stem[256];             /* the dropped job's name, before it is made safe */

/* A refusal: REASON gets the sentence. */
enum verdict reject(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ... of another KIND than a bad description (the default): one word
 * that sorts rejections for admins and metrics ("file", "incomplete",
 * "archive", "disk", "owner", "route"). */
enum verdict reject_as(const char *kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A damaged-looking file is judged only when it cannot still be arriving:
 * it arrived by rename, or nobody has touched it for the orphan grace. */
enum verdict maybe_incomplete(const struct dropped *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
long age_seconds(const struct stat *st);
/* Open STAGE of the work folder (job/ or dropped/), or with FILES job/files/. */
int stage_open(enum spool_file stage, bool files);

/* intakearchive.c */
extern char embedded_dir[1024]; /* where a carried job.ini sits: "" (the top) or the one folder */
/* The carried description's path below work/.../job/files. */
void embedded_ini_path(char *out, size_t outsize);
/* Pass one for an archive dropped alone: does it carry job.ini? */
enum verdict probe_embedded(void);
/* Pass two: unpack into work/.../job/files, every entry checked. */
enum verdict extract(void);
/* The archive's size and sha256 as its description gives them. */
struct job_desc;
enum verdict check_digest(const struct job_desc *jd);
/* The description against the files: a known package and format, its
 * scene there (below embedded_dir when the archive carried job.ini). */
enum verdict check_job(struct job_desc *jd, const char *inishown);

/* ---- intakeroute.c: a job from a linked site (--from) ---- */
struct ini;
struct job_desc;
struct peer_route {
	struct strlist hops; /* the sites it passed (checked names), the link it came by last */
	long *only;          /* [route] only: tickets for these frames alone (NULL: all) */
	size_t nonly;
};
extern struct peer_route peer_route;
/* Check a peer's job's [route] (FROM: the link it came by) into peer_route:
 * OK, or REJECT with the reason (a loop, a bad list). */
enum verdict intake_route_check(const struct ini *ini, const struct job_desc *jd, const char *from);

#endif
