/* probe.h - describe this render host as hosts/HOST/host.ini text. */
#ifndef HOTFARM_PROBE_H
#define HOTFARM_PROBE_H

#include "../layout/util.h"

struct spool;
void probe_host(const struct spool *sp, const char *name, int slots, struct buf *out);

#endif
