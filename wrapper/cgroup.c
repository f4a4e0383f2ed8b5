/* cgroup.c - one render attempt's groups (cgroup.h): made with their limits,
 * joined by the renderer, read, killed whole and removed. */
#define _GNU_SOURCE
#include "cgfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- an attempt's groups ---------------------------------------------------- */

static void attempt_init(struct cg_attempt *a, const struct cg_tree *t, const char *name)
{
	a->tree = t;
	snprintf(a->name, sizeof a->name, "%s", name);
	for (int h = 0; h < CG_NHIER; h++)
		a->dir[h] = a->procs[h] = -1;
}

void cg_attempt_close(struct cg_attempt *a)
{
	for (int h = 0; h < CG_NHIER; h++) {
		if (a->dir[h] >= 0)
			close(a->dir[h]);
		if (a->procs[h] >= 0)
			close(a->procs[h]);
		a->dir[h] = a->procs[h] = -1;
	}
}

/* pids.max and memory.max (as the tree can) of a new attempt's groups */
static int attempt_limits(const struct cg_attempt *a, long pids, unsigned long long mem)
{
	const struct cg_tree *t = a->tree;
	char num[32];
	if (pids > 0 && t->pids_ok) {
		snprintf(num, sizeof num, "%ld", pids);
		if (cg_file_put(a->dir[t->v2_pids ? CG_V2 : CG_PIDS], "pids.max", num) < 0)
			return -1;
	}
	if (mem == 0 || !t->memory_ok)
		return 0;
	snprintf(num, sizeof num, "%llu", mem);
	if (t->v2_memory) {
		int d = a->dir[CG_V2];
		/* swap would let it grow past its memory into a slow crawl; and
		 * once it runs out, it ends whole */
		if (cg_file_put(d, "memory.max", num) < 0 ||
		    (cg_file_has(d, "memory.swap.max") && cg_file_put(d, "memory.swap.max", "0") < 0) ||
		    (cg_file_has(d, "memory.oom.group") && cg_file_put(d, "memory.oom.group", "1") < 0))
			return -1;
		return 0;
	}
	int d = a->dir[CG_MEMORY];
	/* memory and swap together may not be less than memory: memsw after */
	if (cg_file_put(d, "memory.limit_in_bytes", num) < 0 ||
	    (cg_file_has(d, "memory.memsw.limit_in_bytes") && cg_file_put(d, "memory.memsw.limit_in_bytes", num) < 0))
		return -1;
	return 0;
}

static int attempt_procs_open(struct cg_attempt *a)
{
	for (int h = 0; h < CG_NHIER; h++)
		if (a->dir[h] >= 0 &&
		    (a->procs[h] = openat(a->dir[h], "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
			return -1;
	return 0;
}

int cg_attempt_make(struct cg_tree *t, const char *name, long pids, unsigned long long mem, struct cg_attempt *a)
{
	attempt_init(a, t, "");
	if (!cg_name_ok(name, CG_NAME_MAX) || pids < 0) {
		errno = EINVAL;
		return -1;
	}
	attempt_init(a, t, name);
	bool made[CG_NHIER] = {false};
	for (int h = 0; h < CG_NHIER; h++) {
		if (t->base[h] < 0)
			continue;
		if (mkdirat(t->base[h], name, 0755) < 0)
			goto fail;
		made[h] = true;
		if ((a->dir[h] = cg_dir_at(t->base[h], name)) < 0)
			goto fail;
	}
	if (attempt_limits(a, pids, mem) < 0 || attempt_procs_open(a) < 0)
		goto fail;
	return 0;
fail:;
	int e = errno;
	cg_attempt_close(a);
	for (int h = 0; h < CG_NHIER; h++)
		if (made[h])
			unlinkat(t->base[h], name, AT_REMOVEDIR);
	errno = e;
	return -1;
}

int cg_attempt_open(const struct cg_tree *t, const char *name, struct cg_attempt *a)
{
	attempt_init(a, t, "");
	if (!cg_name_ok(name, CG_NAME_MAX)) {
		errno = EINVAL;
		return -1;
	}
	attempt_init(a, t, name);
	bool any = false;
	for (int h = 0; h < CG_NHIER; h++) {
		if (t->base[h] < 0)
			continue;
		if ((a->dir[h] = cg_dir_at(t->base[h], name)) < 0 && errno != ENOENT)
			goto fail;
		any = any || a->dir[h] >= 0;
	}
	if (!any) {
		errno = ENOENT;
		return -1;
	}
	if (attempt_procs_open(a) < 0)
		goto fail;
	return 0;
fail:;
	int e = errno;
	cg_attempt_close(a);
	errno = e;
	return -1;
}

/* in a vfork child: system calls only */
int cg_attempt_join(const struct cg_attempt *a)
{
	for (int h = 0; h < CG_NHIER; h++)
		if (a->procs[h] >= 0 && write(a->procs[h], "0", 1) != 1)
			return -1;
	return 0;
}

int cg_attempt_usage(const struct cg_attempt *a, double *user, double *sys)
{
	char buf[1024];
	unsigned long long u, s;
	if (a->tree->v2_cpu && a->dir[CG_V2] >= 0) {
		if (cg_file_get(a->dir[CG_V2], "cpu.stat", buf, sizeof buf) < 0)
			return -1;
		if (!cg_key_number(buf, "user_usec", &u) || !cg_key_number(buf, "system_usec", &s)) {
			errno = EINVAL;
			return -1;
		}
		*user = (double)u / 1e6;
		*sys = (double)s / 1e6;
		return 0;
	}
	if (a->dir[CG_CPUACCT] >= 0) {
		if (cg_file_number(a->dir[CG_CPUACCT], "cpuacct.usage_user", &u) < 0 ||
		    cg_file_number(a->dir[CG_CPUACCT], "cpuacct.usage_sys", &s) < 0)
			return -1;
		*user = (double)u / 1e9;
		*sys = (double)s / 1e9;
		return 0;
	}
	errno = ENOTSUP;
	return -1;
}

/* Hold A's processes still (or let them go): v2 cgroup.freeze or the v1
 * freezer; 0 when there is neither. */
static int attempt_freeze(const struct cg_attempt *a, bool on)
{
	if (a->dir[CG_V2] >= 0 && a->tree->v2_freeze)
		return cg_file_put(a->dir[CG_V2], "cgroup.freeze", on ? "1" : "0");
	if (a->dir[CG_FREEZER] >= 0)
		return cg_file_put(a->dir[CG_FREEZER], "freezer.state", on ? "FROZEN" : "THAWED");
	return 0;
}

/* cg_procs_each's FN for a kill: a pid gone meanwhile is no failure */
static int pid_kill(long pid, void *arg)
{
	(void)arg;
	if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
		return -1;
	return 0;
}

int cg_attempt_kill(const struct cg_attempt *a)
{
	if (a->dir[CG_V2] >= 0 && a->tree->v2_kill)
		return cg_file_put(a->dir[CG_V2], "cgroup.kill", "1");
	/* Without cgroup.kill: SIGKILL each pid listed. A frozen process
	 * cannot fork, and dies of its SIGKILL when thawed; freezing takes a
	 * moment, so what forked meanwhile is caught by the second listing,
	 * or by the next call (the caller calls again until it is empty). */
	int list = a->dir[CG_V2];
	for (int h = CG_V2 + 1; h < CG_NHIER && list < 0; h++)
		list = a->dir[h];
	if (list < 0) {
		errno = ENOENT;
		return -1;
	}
	int r = attempt_freeze(a, true), e = errno;
	if (cg_procs_each(list, pid_kill, NULL) < 0)
		r = -1, e = errno;
	if (attempt_freeze(a, false) < 0)
		r = -1, e = errno;
	if (cg_procs_each(list, pid_kill, NULL) < 0)
		r = -1, e = errno;
	errno = e;
	return r;
}

bool cg_attempt_empty(const struct cg_attempt *a)
{
	if (a->dir[CG_V2] >= 0) {
		char buf[256];
		unsigned long long populated;
		return cg_file_get(a->dir[CG_V2], "cgroup.events", buf, sizeof buf) >= 0 &&
		       cg_key_number(buf, "populated", &populated) && populated == 0;
	}
	bool any = false;
	for (int h = CG_V2 + 1; h < CG_NHIER; h++) {
		if (a->dir[h] < 0)
			continue;
		if (cg_procs_each(a->dir[h], NULL, NULL) != 0)
			return false;
		any = true;
	}
	return any;
}

/* Remove group NAME (open as DIR) from PARENT, and first every group in it. */
static int group_remove(int parent, const char *name, int dir, int depth)
{
	int fd = depth < 16 ? cg_dir_at(dir, ".") : -1;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		int sub = cg_dir_at(dir, e->d_name);
		if (sub >= 0) {
			group_remove(dir, e->d_name, sub, depth + 1);
			close(sub);
		}
	}
	if (d)
		closedir(d);
	else if (fd >= 0)
		close(fd);
	return unlinkat(parent, name, AT_REMOVEDIR);
}

int cg_attempt_remove(struct cg_attempt *a)
{
	if (!cg_attempt_empty(a)) {
		errno = EBUSY;
		return -1;
	}
	int r = 0, e = 0;
	for (int h = 0; h < CG_NHIER; h++)
		if (a->dir[h] >= 0 && group_remove(a->tree->base[h], a->name, a->dir[h], 0) < 0 && errno != ENOENT) {
			r = -1;
			e = errno;
		}
	if (r < 0) {
		errno = e;
		return -1;
	}
	cg_attempt_close(a);
	return 0;
}

long cg_attempt_peak_kb(const struct cg_attempt *a)
{
	unsigned long long v;
	if (a->tree->v2_memory && a->dir[CG_V2] >= 0 && cg_file_number(a->dir[CG_V2], "memory.peak", &v) == 0)
		return (long)(v / 1024);
	if (a->dir[CG_MEMORY] >= 0 && cg_file_number(a->dir[CG_MEMORY], "memory.max_usage_in_bytes", &v) == 0)
		return (long)(v / 1024);
	return -1;
}

/* v2 counts the times its limit was hit and nothing was left to reclaim
 * ("oom"; "oom_kill" also counts kills of the host running out). v1 has
 * no such count: a kill (oom_control's oom_kill) in a group that reached
 * its limit (failcnt, which some kernels leave at 0, or the peak). */
bool cg_attempt_oom(const struct cg_attempt *a)
{
	char buf[1024];
	unsigned long long v, limit, kills;
	if (a->tree->v2_memory && a->dir[CG_V2] >= 0)
		return cg_file_get(a->dir[CG_V2], "memory.events", buf, sizeof buf) >= 0 &&
		       cg_key_number(buf, "oom", &v) && v > 0;
	int d = a->dir[CG_MEMORY];
	if (d < 0)
		return false;
	bool reached = (cg_file_number(d, "memory.failcnt", &v) == 0 && v > 0) ||
	               (cg_file_number(d, "memory.limit_in_bytes", &limit) == 0 &&
	                cg_file_number(d, "memory.max_usage_in_bytes", &v) == 0 && v >= limit);
	if (reached && cg_file_get(d, "memory.oom_control", buf, sizeof buf) >= 0 &&
	    cg_key_number(buf, "oom_kill", &kills))
		return kills > 0;
	return reached;
}
