/* metrics.h - status/metrics.prom in the Prometheus text format (hf-status
 * writes it with the pages), for node_exporter's textfile collector. */
#ifndef HOTFARM_METRICS_H
#define HOTFARM_METRICS_H

#include "../layout/layout.h"

void metrics_write(const struct spool *sp);

#endif
