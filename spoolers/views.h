/* views.h - hotfarm's views of the farm (jobs, hosts, slots, logs,
 * billing) and its per-frame and per-host steering. */
#ifndef HOTFARM_VIEWS_H
#define HOTFARM_VIEWS_H

#include <stdbool.h>

struct spool;
int cmd_jobs(const struct spool *sp, bool json);
int cmd_hosts(const struct spool *sp, bool json);
int cmd_sites(const struct spool *sp, bool json);
int cmd_slots(const struct spool *sp, bool json);
int cmd_log(const struct spool *sp, const char *name, const char *frame, const char *attempt);
int cmd_retry(const struct spool *sp, const char *name);
int cmd_kill_frame(const struct spool *sp, const char *name, const char *frame);
int cmd_drain(const struct spool *sp, const char *host, bool on);
int cmd_billing(const struct spool *sp, const char *owner, const char *since, bool csv, bool json);
void json_string(const char *s);

#endif
