/* cgroup.h - a cgroup per render attempt, so that nothing a render starts
 * outlives it, its CPU is billed whole and it has pids and memory limits.
 * (wrapper/cgtree.c: the subtree; cgroup.c: attempts; cgfile.c: files.)
 *
 * The agent opens its subtree once (cg_tree_open), clears what an earlier
 * agent of the host left (cg_tree_clear), and for each attempt:
 *
 *   cg_attempt_make     the groups, with pids.max and memory.max set
 *   vfork; in the child: cg_attempt_join, then the rest, then exec
 *   cg_attempt_usage    while it runs and at its end: CPU of all it started
 *   cg_attempt_kill     to stop it: everything in it, however it hid
 *   cg_attempt_empty    poll until true (call cg_attempt_kill again each
 *                       time: without cgroup.kill one call may miss a fork)
 *   cg_attempt_peak_kb, cg_attempt_oom   what it used, whether memory ran out
 *   cg_attempt_remove   once empty; or cg_attempt_close to keep the groups
 *
 * Hierarchies are found in /proc/self/mountinfo and our own groups in
 * /proc/self/cgroup; nothing assumes a path. Where they are:
 *   v2 (cgroup2): when our own cgroup is delegated to us (systemd
 *     Delegate=yes: the xattr trusted.delegate or user.delegate is "1", or,
 *     not being root, we own its cgroup.procs and cgroup.subtree_control),
 *     every process in it moves into a leaf child "agent" and the attempt
 *     groups are made beside it; otherwise, as root, beneath
 *     <v2 mount>/hotfarm-HOST. pids and memory are enabled for the
 *     attempt groups when the hierarchy offers them.
 *   v1 (cgroup with the controller among its options): for each of pids
 *     and memory that v2 does not offer, cpuacct when v2 has no cpu.stat,
 *     and freezer when there is no v2: beneath <mount><our group>/hotfarm-HOST
 *     (a limit put on the agent's group also holds over its renders).
 * Everything below a directory is opened with openat(O_NOFOLLOW|O_CLOEXEC)
 * beneath the directory descriptors kept here. Not thread-safe. */
#ifndef HOTFARM_CGROUP_H
#define HOTFARM_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

/* the hierarchies an attempt may have a group in */
enum cg_hier { CG_V2, CG_PIDS, CG_MEMORY, CG_CPUACCT, CG_FREEZER, CG_NHIER };

/* an attempt group's name: [A-Za-z0-9._-], not beginning with '.', not
 * "agent", at most this long */
#define CG_NAME_MAX 128

struct cg_tree {
	int base[CG_NHIER];              /* the subtree's folder in each hierarchy used; -1: not used */
	int parent[CG_NHIER];            /* the folder holding base (-1 when base is our own delegated group) */
	char sub[CG_NAME_MAX + 16];      /* base's name in parent: hotfarm-HOST */
	char path[CG_NHIER][512];        /* base's path, for messages */
	bool delegated;                  /* v2 base is our own delegated group; we live in its "agent" */
	bool v2_kill, v2_freeze, v2_cpu; /* the v2 groups have cgroup.kill, cgroup.freeze, cpu.stat */
	bool v2_pids, v2_memory;         /* ... and pids, memory enabled for them */
	bool pids_ok, memory_ok;         /* pids.max / memory.max can be enforced (v2 or v1) */
};

/* cg_tree_open's FLAGS */
#define CG_TREE_NO_V2 1 /* ignore the v2 hierarchy, as on a host without one (for tests) */

/* Find the hierarchies and make (or take) the agent's subtree for HOST
 * (the same alphabet as a group's name, at most 96 bytes; the agent gives
 * HOST.KEY, its spool's key). Returns 0 with a line in SAID for the
 * agent's log saying what it uses, e.g. "cgroup v2 at
 * /sys/fs/cgroup/unified/hotfarm-a.KEY (kill, cpu.stat); v1 pids at ...,
 * memory at ...", also naming a limit it cannot enforce; or -1 with the
 * reason in SAID when nothing is usable (no cgroup file system; not root
 * and nothing delegated): then render without cgroups and say so. T's
 * descriptors are close-on-exec. */
int cg_tree_open(struct cg_tree *t, const char *host, int flags, char *said, size_t saidsize);

/* A memory limit on the agent's own group (as systemd's MemoryMax= sets
 * one; in v1 also its ancestors'), which holds over its renders too, in
 * kB; -1 when none holds (then the host's free memory is the bound). */
long long cg_tree_mem_limit_kb(const struct cg_tree *t);

/* What an earlier agent of this host left: every group in the subtree
 * (but "agent") has everything in it killed and is removed; waits for
 * that up to 5 seconds. Returns how many groups are still there. */
int cg_tree_clear(struct cg_tree *t);

/* Close T's descriptors; with REMOVE also remove the subtree's folders
 * that are ours to remove (hotfarm-HOST, not a delegated group): -1 with
 * errno EBUSY when a group is still in one (clear first). */
int cg_tree_close(struct cg_tree *t, bool remove);

/* One attempt's groups: plain data, valid in a vfork child. */
struct cg_attempt {
	const struct cg_tree *tree;
	char name[CG_NAME_MAX + 1];
	int dir[CG_NHIER];   /* the group's folder in each hierarchy; -1: none */
	int procs[CG_NHIER]; /* its cgroup.procs, open for writing: the child joins through it */
};

/* Make the groups NAME for one attempt, with pids.max PIDS (0: no limit)
 * and memory.max MEM bytes (0: no limit; where the hierarchy can say so,
 * no swap beyond it, and an OOM kill ends the whole attempt). A limit the
 * tree cannot enforce (pids_ok, memory_ok false) is left out. -1 with
 * errno: EINVAL for a bad name or limit, EEXIST when a group of that name
 * is there already (from an earlier agent: clear the tree), else what the
 * cgroup fs said; nothing is left behind then. */
int cg_attempt_make(struct cg_tree *t, const char *name, long pids, unsigned long long mem, struct cg_attempt *a);

/* Take the existing groups NAME (as an earlier cg_attempt_make made them,
 * perhaps in another process) in every hierarchy where they are; -1 with
 * errno ENOENT when there are none. */
int cg_attempt_open(const struct cg_tree *t, const char *name, struct cg_attempt *a);

/* In the child between vfork and exec, before it closes descriptors or
 * changes user: join every group (writes "0" to each cgroup.procs). Only
 * system calls: async-signal-safe. -1 with errno when a join failed. */
int cg_attempt_join(const struct cg_attempt *a);

/* CPU seconds used so far by everything that ran in it, daemons and
 * children never waited for included (v2 cpu.stat, or v1 cpuacct). */
int cg_attempt_usage(const struct cg_attempt *a, double *user, double *sys);

/* SIGKILL everything in it: v2 cgroup.kill (whole, forks racing it
 * included); without it, each pid listed in cgroup.procs, the group
 * frozen meanwhile where a freezer is. Never blocks. */
int cg_attempt_kill(const struct cg_attempt *a);

/* No process is left in it (cgroup.events "populated 0", or every
 * cgroup.procs empty; zombies not reaped yet do not count). Never blocks.
 * An error reading says false. */
bool cg_attempt_empty(const struct cg_attempt *a);

/* Remove its groups (with any group made inside them) and close its
 * descriptors; only once empty: -1 with errno EBUSY otherwise, and then
 * the descriptors stay open for another try. */
int cg_attempt_remove(struct cg_attempt *a);

/* Close its descriptors and leave its groups as they are. */
void cg_attempt_close(struct cg_attempt *a);

/* Its peak memory in KiB (v2 memory.peak, v1 memory.max_usage_in_bytes),
 * or -1 when the hierarchy does not say. */
long cg_attempt_peak_kb(const struct cg_attempt *a);

/* Whether it ran into its memory limit and the kernel ran out for it:
 * "it ran out of its render_mem" (v2 memory.events oom; v1 an oom_kill
 * in memory.oom_control once memory.failcnt or the peak says the limit
 * was reached). */
bool cg_attempt_oom(const struct cg_attempt *a);

#endif
