/* contain.c - what holds a render: its sandbox (wrapper/sandbox.c), built
 * once per renderer process in the agent and entered by the child before
 * exec, and its cgroup (wrapper/cgroup.c), which kills and bills all it
 * started; the groups of ended runs are removed once they are empty. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cg_tree tree;
static bool have_tree;
static char wrapper[PATH_MAX]; /* libhfwrap.so */

/* The groups of runs that ended, killed, until they are empty. */
static struct cg_attempt *ended;
static size_t nended, ended_cap;

/* At start: the agent's cgroup subtree, hotfarm-HOST.KEY (and what an
 * earlier agent of this host and spool left in it goes), or the reason
 * renders run without one. */
void contain_start(void)
{
	const char *lx = getenv("HOTFARM_LIBEXECDIR");
	snprintf(wrapper, sizeof wrapper, "%s/libhfwrap.so", lx ? lx : HOTFARM_LIBEXECDIR);
	char said[1024], name[sizeof agent.host + sizeof agent.key];
	snprintf(name, sizeof name, "%s.%s", agent.host, agent.key);
	have_tree = cg_tree_open(&tree, name, 0, said, sizeof said) == 0;
	if (!have_tree) {
		warn("renders run without a cgroup (what a render leaves running is found by its process group and "
		     "HOTFARM_SLOT only): %s",
		     said);
		return;
	}
	say("renders each run in a cgroup of their own: %s", said);
	int left = cg_tree_clear(&tree);
	if (left)
		warn("%d cgroups an earlier run of %s left could not be removed", left, agent.host);
}

/* The CPU-time ceiling for S's next renderer, in seconds (0: none): one
 * the kernel holds even if the agent dies, the job's timeout for each
 * frame of the run on every CPU, and a little more (the agent stops it at
 * the timeout). */
unsigned long long contain_cpu(const struct slot *s)
{
	const struct job *j = s->job;
	if (j->jd->timeout <= 0)
		return 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return (unsigned long long)((j->jd->timeout * (long)(s->end - s->pos) + 5) * (cpus > 0 ? cpus : 1));
}

long long contain_mem_limit_kb(void)
{
	return have_tree ? cg_tree_mem_limit_kb(&tree) : -1;
}

/* The sandbox for S's next renderer (FILES: the job's files): its own
 * folder read-write, the files, its program and the package's paths
 * read-only, the limits, the user, the network when the package asks for
 * it. False with s->why. */
bool contain_build(struct slot *s, const char *files, struct sandbox *sb)
{
	struct job *j = s->job;
	const struct site_conf *c = &agent.spool.conf;
	struct sandbox_request req = {.root = s->workdir, .files = files, .program = j->program,
				      .network = j->pkg->network, .wrapper = wrapper};
	req.ro[req.nro++] = j->program;
	for (size_t i = 0; i < j->pkg->confine_read.n && req.nro < SANDBOX_PATHS; i++)
		req.ro[req.nro++] = j->pkg->confine_read.v[i];
	req.cpu = contain_cpu(s);
	/* memory: the cgroup's memory.max where there is one (what the
	 * render really uses), else the address space */
	if (!(have_tree && tree.memory_ok))
		req.mem = c->render_mem;
	req.fsize = c->render_fsize;
	if (*c->render_user && geteuid() == 0)
		req.user = c->render_user;
	char err[600];
	if (sandbox_build(&req, sb, err, sizeof err) < 0) {
		snprintf(s->why, sizeof s->why, "the render could not be confined: %s", err);
		return false;
	}
	return true;
}

/* S's next renderer's cgroup (s->has_cg), with [agent] render_pids and
 * render_mem: the one S's last renderer left empty, or a new one (making
 * and removing a group per process costs more than the process, for a
 * short frame); without one (none here, or it could not be made) it runs
 * held by its process group only. */
void contain_group(struct slot *s)
{
	s->has_cg = false;
	if (!have_tree)
		return;
	if (s->cg_kept) {
		s->cg_kept = false;
		s->has_cg = true;
		return;
	}
	char name[CG_NAME_MAX + 1];
	snprintf(name, sizeof name, "%s", s->workname + (s->workname[0] == '.'));
	const struct site_conf *c = &agent.spool.conf;
	if (cg_attempt_make(&tree, name, c->render_pids, c->render_mem, &s->cg) < 0) {
		warn("%s: no cgroup for this render (%s): it is held by its process group only", s->owner,
		     strerror(errno));
		return;
	}
	s->cg_user0 = s->cg_sys0 = 0;
	s->cg_mem = c->render_mem;
	s->has_cg = true;
}

/* The CPU seconds all of S's renderer started has used (its group's
 * less what earlier renderers in it used); -1 without a group. */
static int group_usage(const struct slot *s, double *user, double *sys)
{
	if (!s->has_cg || cg_attempt_usage(&s->cg, user, sys) < 0)
		return -1;
	*user = *user > s->cg_user0 ? *user - s->cg_user0 : 0;
	*sys = *sys > s->cg_sys0 ? *sys - s->cg_sys0 : 0;
	return 0;
}

/* The CPU all of S's renderer started has used so far, in clock ticks:
 * false without a cgroup. */
bool contain_usage(const struct slot *s, long *user, long *sys)
{
	double u, y;
	if (group_usage(s, &u, &y) < 0)
		return false;
	double tick = (double)sysconf(_SC_CLK_TCK);
	*user = (long)(u * tick + 0.5);
	*sys = (long)(y * tick + 0.5);
	return true;
}

/* SIGKILL to all of S's renderer: its process group and its cgroup (what
 * left the group: setsid, a double fork). */
void contain_kill(struct slot *s, pid_t pid)
{
	if (pid > 0)
		kill(-pid, SIGKILL);
	if (s->has_cg)
		cg_attempt_kill(&s->cg);
}

/* S's group goes: removed once empty (contain_tidy). */
static void group_retire(struct slot *s)
{
	if (nended == ended_cap) {
		ended_cap = ended_cap ? 2 * ended_cap : 8;
		ended = xrealloc(ended, ended_cap * sizeof *ended);
	}
	ended[nended++] = s->cg;
	s->has_cg = s->cg_kept = false;
	contain_tidy();
}

/* S's renderer exited: what is left of it is killed, what all it started
 * used becomes its rusage (the bill), whether it ran out of memory is
 * noted. Its group serves S's next renderer when nothing was left in it
 * and no memory ran out; else it is removed once empty (contain_tidy). */
void contain_exited(struct slot *s, pid_t pid)
{
	s->oom = false;
	if (!s->has_cg) {
		if (pid > 0)
			kill(-pid, SIGKILL);
		return;
	}
	/* only a group with a memory limit runs out of its own memory */
	s->oom = s->cg_mem && cg_attempt_oom(&s->cg);
	/* an empty group: nothing of it is left anywhere to kill */
	bool empty = cg_attempt_empty(&s->cg);
	if (!empty)
		contain_kill(s, pid);
	double du, dy;
	if (group_usage(s, &du, &dy) == 0) {
		if (du + dy > 0) {
			s->ru.ru_utime.tv_sec = (time_t)du;
			s->ru.ru_utime.tv_usec = (suseconds_t)((du - (double)(time_t)du) * 1e6);
			s->ru.ru_stime.tv_sec = (time_t)dy;
			s->ru.ru_stime.tv_usec = (suseconds_t)((dy - (double)(time_t)dy) * 1e6);
		}
		if (empty && !s->oom) {
			/* the next renderer's bill starts where this one's ends */
			s->cg_user0 += du;
			s->cg_sys0 += dy;
			s->has_cg = false;
			s->cg_kept = true;
			return;
		}
	}
	group_retire(s);
}

/* S's kept group goes (the slot is no more). */
void contain_release(struct slot *s)
{
	if (s->cg_kept)
		group_retire(s);
}

/* The agent stops: the groups kept for the slots go. */
void contain_stop(void)
{
	for (int i = 0; i < agent.nslots; i++)
		contain_release(&agent.slots[i]);
}

/* The agent stops: its subtree goes too (hotfarm-HOST.KEY in each
 * hierarchy), or a host that ran agents of many names or spools gathers
 * empty groups; the next start makes it again (killed, it stays until the
 * next start of the same name clears it). */
void contain_end(void)
{
	contain_stop();
	if (have_tree && cg_tree_clear(&tree) == 0 && cg_tree_close(&tree, true) == 0)
		have_tree = false;
}

/* The groups of ended runs: removed once empty (killed again meanwhile:
 * without cgroup.kill one pass may miss a fork). */
void contain_tidy(void)
{
	for (size_t i = 0; i < nended;) {
		if (cg_attempt_empty(&ended[i]) && cg_attempt_remove(&ended[i]) == 0) {
			ended[i] = ended[--nended];
			continue;
		}
		cg_attempt_kill(&ended[i]);
		i++;
	}
}

/* Whether any group of an ended run is still there. */
bool contain_pending(void) { return nended > 0; }
