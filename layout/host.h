/* host.h - render host records (hosts/HOST/host.ini, written by the host's
 * render agent) and matching a job's [requires] against them. */
#ifndef HOTFARM_HOST_H
#define HOTFARM_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "jobdesc.h"
#include "util.h"

struct spool;

struct host_record {
	char name[64];
	struct strlist keys, values;       /* [host] */
	struct strlist packages, versions; /* [packages] name = version */
	int64_t heartbeat_us;              /* the heartbeat file's mtime (the file server's clock) */
	bool lost;                         /* watcherd gave its work away */
};

/* Read hosts/NAME. Returns 0, or -1 when it has no readable record. */
int host_read(const struct spool *sp, const char *name, struct host_record *h);
void host_free(struct host_record *h);
const char *host_get(const struct host_record *h, const char *key);
const char *host_package_version(const struct host_record *h, const char *package);
/* Whether host H can render a job of PACKAGE with these requirements;
 * when not, WHY says what it lacks ("package blender 4.*", "ram_mb >= 64000"). */
bool host_matches(const struct host_record *h, const struct job_desc *jd, char *why, size_t whysize);
/* The names of the hosts in hosts/ (not necessarily alive). */
int host_list(const struct spool *sp, struct strlist *out);
/* A slot file (hosts/HOST/slot.N), escaped for display. */
struct slot_view {
	char state[16], job[100], ticket[80], frame[24], attempt[16], since[40], pid[24];
};
int slot_read(int hostfd, int index, struct slot_view *v);
/* up, draining, silent (heartbeat late) or lost. */
const char *host_state(const struct spool *sp, const struct host_record *h, int64_t server_now);

/* Give back everything HOST holds: its active tickets (in queued, held and
 * cancelled jobs) go back to todo/, its tokens back to limits/, its
 * temporary image folders are removed. Returns how many claims. */
int host_release(const struct spool *sp, const char *host);
/* The file server's idea of now: touch a private file and read its time. */
int64_t server_now_us(const struct spool *sp);
/* How many renders a host of CPUS should run at once when each keeps UTIL
 * of a CPU busy over its time (CPU time / wall time; above 1 for a renderer
 * of several threads): CPUS / UTIL, but no more than RUNNING plus what
 * 80% of AVAIL_KB of free RAM holds at PEAK_KB each, and 1 to MAX. */
long slots_want(long cpus, double util, long avail_kb, long peak_kb, long running, long max);

#endif
