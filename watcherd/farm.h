/* farm.h - watcherd's passes over the farm, each run in a child process of
 * its own so that what they parse cannot harm watcherd (farm.c). */
#ifndef HOTFARM_FARM_H
#define HOTFARM_FARM_H

#include <stdbool.h>

/* The child's main: open SPOOL; with SUMMARIES write this site's summary
 * into every linked site's out/; else mark hosts whose heartbeat stopped as
 * lost and give their frames and tokens back, bring each queued job's
 * status.ini up to date (counts, rendering or why it waits), finish jobs
 * whose last ticket is done, and print one line "NAME\tEVENT" (accepted,
 * samples, progress, final) per notice due. Returns the exit status. */
int farm_main(const char *spool, bool summaries);
/* `watcherd --clean-pass`: one housekeeping pass (retain.h): ended jobs
 * and rejected/ entries past [retain] days removed or archived, and what
 * an interrupted removal left finished. Returns the exit status. */
int clean_main(const char *spool);

/* The ticket counts of the queued jobs (counts.c), kept in run/farm.counts
 * from one pass to the next: load them at a pass's start; JFD's (job NAME)
 * counted again only when its ticket folders changed (a job of more than
 * 100,000 tickets at most every tickets/100,000 rescans); save those this
 * pass used at its end. */
struct spool;
struct job_counts;
void counts_load(const struct spool *sp);
int counts_get(int jfd, const char *name, struct job_counts *c);
void counts_save(const struct spool *sp);

#endif
