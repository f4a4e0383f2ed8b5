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
	bool offline;                      /* its agent stopped cleanly: no heartbeat (the record stays) */
	struct strlist pools;              /* hosts/HOST/pools: an admin's labels for it */
	/* hosts/HOST/nimby, on a desktop whose agent renders only while the
	 * user is away ([agent] nimby) */
	bool nimby;
	bool nimby_away;      /* the user has been idle nimby_wait_s: it takes frames */
	long nimby_idle_s;    /* how long the user had been idle when it was written; -1: no sign of a user */
	long nimby_wait_s;    /* [agent] nimby_idle */
	int64_t nimby_at_us;  /* when it was written (its mtime: the file server's clock) */
};

/* Read hosts/NAME. Returns 0, or -1 when it has no readable record. */
int host_read(const struct spool *sp, const char *name, struct host_record *h);
void host_free(struct host_record *h);
const char *host_get(const struct host_record *h, const char *key);
const char *host_package_version(const struct host_record *h, const char *package);
/* Whether host H can render a job of PACKAGE with these requirements;
 * when not, WHY says what it lacks ("package blender 4.*", "ram_mb >= 64000"). */
bool host_matches(const struct host_record *h, const struct job_desc *jd, char *why, size_t whysize);
/* Whether H is in a pool that one of PATTERNS (job [job] pool, wildcards)
 * names; true when PATTERNS is empty (a job that asks for no pool). */
bool host_in_pool(const struct host_record *h, const struct strlist *patterns);
/* The names of the hosts in hosts/ (not necessarily alive: a host whose
 * agent stopped keeps its record, its pools and its drain marker). */
int host_list(const struct spool *sp, struct strlist *out);
/* A slot file (hosts/HOST/slot.N), escaped for display. */
struct slot_view {
	char state[16], job[100], ticket[80], frame[24], attempt[16], since[40], pid[24];
};
int slot_read(int hostfd, int index, struct slot_view *v);
/* The words host_state says, in order (I from 0; NULL past the last). */
const char *host_state_word(int i);
/* up, draining, silent (heartbeat late), lost or offline (stopped cleanly). */
const char *host_state(const struct spool *sp, const struct host_record *h, int64_t server_now);
/* A nimby host's state in words, "nimby: user active" or "nimby: idle 12
 * min, rendering" (BUSY: slots busy now), into OUT; "" for another host. */
void host_nimby_text(const struct host_record *h, int64_t server_now, long busy, char *out, size_t outsize);
/* The text of hosts/HOST/nimby: whether the user is AWAY, how long they
 * had been idle (IDLE_S, -1: no sign of a user), and nimby_idle (WAIT_S). */
void host_nimby_format(bool away, long idle_s, long wait_s, char *out, size_t outsize);

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

/* ---- hosts/HOST/: the one owner of every marker in a host's folder ----
 *   host.ini     the host record (its agent writes it)
 *   heartbeat    touched by the agent; its mtime is the file server's clock
 *   agent.lock   held (fcntl) by the running agent: "pid=N host=H"
 *   slot.N       what slot N does now (state, job, ticket, frame, ...)
 *   kill.N       a request to stop slot N's render (hotfarm kill-frame)
 *   drain        finish what runs, take nothing new (hotfarm drain)
 *   lost         watcherd gave the host's work away (its heartbeat was late)
 *   pools        the host's pool labels, one a line (hotfarm pool)
 * An agent stopping cleanly removes what it keeps up (heartbeat, lock,
 * slot files, versions) and leaves host.ini (what the host offered, for
 * routing: a site refuses only what no host of it ever offered), drain and
 * pools: the admin's settings outlive a restart.
 *   nimby        a desktop's agent: whether its user is away (idle long
 *                enough for it to render), rewritten as that changes
 * and jobs/NAME/blocked/HOST: HOST failed too many frames of NAME in a row. */
enum host_marker { HOST_DRAIN, HOST_LOST, HOST_NIMBY };
/* hosts/HOST, made when MAKE and missing (never through a link). */
int host_dir_open(const struct spool *sp, const char *host, bool make);
/* Write a marker (TEXT says why, for a person), test for one, remove one. */
int host_mark(int hostfd, enum host_marker m, const char *text);
bool host_marked(int hostfd, enum host_marker m);
int host_unmark(int hostfd, enum host_marker m);
/* Touch the heartbeat (made when missing). */
int host_heartbeat(int hostfd);
/* Write the host record (atomically). */
int host_record_write(int hostfd, const char *text, size_t len);
/* The agent's own note of the package versions it found and of the probe
 * programs they came from (hosts/HOST/versions), so that an agent
 * restarted after a crash need not run Blender's --version again: written
 * atomically; read (at most 64 KiB, NULL when there is none). */
int host_versions_write(int hostfd, const char *text, size_t len);
char *host_versions_read(int hostfd);
/* Open (made when missing) the agent's lock file, read and write; the
 * agent locks it (fcntl) and writes "pid=N host=H" into it. */
int host_lock_open(int hostfd);
/* Slot N's file: written atomically, removed. */
int host_slot_write(int hostfd, int index, const char *text, size_t len);
int host_slot_remove(int hostfd, int index);
/* Ask slot INDEX of HOST to stop (TEXT names the frame), and whether such
 * a request waits (taking it: the request is removed). */
int host_kill_request(const struct spool *sp, const char *host, int index, const char *text);
bool host_kill_take(int hostfd, int index);
/* Everything an agent keeps up in its folder, removed when it stops
 * cleanly (host.ini, drain and pools stay). */
void host_clear(int hostfd, int nslots);
/* hosts/HOST/dispatch: how long this host's agent, since it started, let
 * work and a free slot wait for each other before a render began (from
 * the later of: the slot fell idle, the job entered the queue or was last
 * found with nothing to take), per bucket (seconds, upper bounds). */
enum { DISPATCH_BUCKETS = 12 };
extern const double dispatch_bounds[DISPATCH_BUCKETS];
struct dispatch_hist {
	long n[DISPATCH_BUCKETS + 1]; /* per bucket, not cumulative; the last: above every bound */
	long count;
	double sum;
};
void dispatch_add(struct dispatch_hist *d, double seconds);
/* Written atomically by the agent (at most once a heartbeat); read back
 * warily (-1 when there is none or it is damaged). Removed with host_clear. */
int host_dispatch_write(int hostfd, const struct dispatch_hist *d);
int host_dispatch_read(int hostfd, struct dispatch_hist *d);
/* A pool label: letters, digits, '.', '_' and '-', 1 to 64 of them. */
bool pool_name_valid(const char *s);
/* A job's pool pattern: a label that may hold * ? and [...] wildcards. */
bool pool_pattern_valid(const char *s);
/* The host's pools (hosts/HOST/pools; none when missing), added to OUT,
 * and written (atomically; an empty list removes the file). */
int host_pools_read(int hostfd, struct strlist *out);
int host_pools_write(int hostfd, const struct strlist *pools);
/* Remove hosts/HOST, the record of a host that is gone for good. */
int host_forget(const struct spool *sp, const char *host);
/* jobs/NAME/blocked/HOST: a marker admins can see and remove. */
int job_block_host(int jobfd, const char *host, const char *text);
int job_blocked_hosts(int jobfd, struct strlist *out);
int job_unblock_host(int jobfd, const char *host);
/* Whether jobs/NAME/blocked/HOST is there. */
bool job_host_blocked(int jobfd, const char *host);

#endif
