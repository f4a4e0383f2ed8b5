/* farm.h - watcherd's watch over render hosts and running jobs. */
#ifndef HOTFARM_FARM_H
#define HOTFARM_FARM_H

struct spool;
/* Mark hosts whose heartbeat stopped as lost and give their frames and
 * tokens back; bring each queued job's status.ini up to date (counts,
 * rendering or why it waits); finish jobs whose last ticket is done. */
void farm_rescan(const struct spool *sp);
/* Notices due ("NAME\tEVENT": accepted, samples, progress, final) for jobs
 * with an email, judged from what jobs/NAME/notifications.log says went out. */
#include "../layout/util.h"
void farm_notices(const struct spool *sp, struct strlist *out);

#endif
