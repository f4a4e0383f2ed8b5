/* layout_private.h - what the files of layout/ share among themselves and
 * no program sees: the configuration loader, the rename that never
 * replaces, and the billing totals summed from tickets. */
#ifndef HOTFARM_LAYOUT_PRIVATE_H
#define HOTFARM_LAYOUT_PRIVATE_H

#include "layout.h"

/* Read conf/hotfarm.ini into SP->conf (conf.c). */
int site_conf_load(struct spool *sp, char *err, size_t errsize);

/* Rename without replacing anything; NFS and sshfs refuse the flag
 * (EINVAL): link refuses to replace too, then the old name goes. */
int rename_noreplace(int srcdir, const char *src, int dstdir, const char *dst);

/* Open run/F (a log: audit.log, events.jsonl) for appending: made when
 * missing (mode 0640, the [site] admins group's; the farm user's when
 * root makes it), only ever a regular file reached through no link,
 * never blocking on a FIFO. -1 with errno (audit.c). */
int run_log_open(const struct spool *sp, enum spool_file f);

/* Sum the billing lines of every ticket of the job, in every state folder,
 * into the totals (and why failed tickets failed: a few). */
struct billing {
	long frames, attempts; /* frames: renders that passed (a re-rendered frame twice) */
	long published;        /* frames whose image is in place now */
	double wall, user, sys;
	long max_rss_kb;
	unsigned long long bytes;
	struct strlist hosts;
	struct strlist reasons; /* of tickets that failed for good */
};
void billing_sum(int jobfd, struct billing *b);
/* billing_sum into B (free its lists), written as the job's billing.ini. */
int billing_write(const struct spool *sp, int jobfd, struct billing *b);

#endif
