/* routing.h - routing a job from new/ (routing.c): hf-route's work, and
 * hf-intake's for the job it has just taken in, one at a time by a lock. */
#ifndef HOTFARM_ROUTING_H
#define HOTFARM_ROUTING_H

#include "../layout/layout.h"

/* Route new/ENTRY: to queue/, outsourced/ or failed/ (a peer's job
 * refused back to it). Under run/route.lock, held only while one entry is
 * routed, so that hf-intake routing the job it took in and an hf-route
 * watcherd started for the same entry never both route it: the second
 * finds it gone from new/ and leaves it. */
void route_entry(const struct spool *sp, const char *entry);

#endif
