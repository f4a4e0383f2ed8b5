/* slots.c - this host's render slots: their files (hosts/HOST/slot.N), a
 * slot going idle, and slots = auto (sized to what renders use). Distrusts
 * nothing a job wrote; /proc figures are read with fixed formats. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void slot_write(struct slot *s);

/* slots = auto's most per CPU: POV-Ray at 320x240 uses a fifth of a CPU
 * over a frame's time (its parsing and start-up wait), so it wants about
 * five per CPU; memory, the CPUs' idle time and slots_want's floor of a
 * 20th of a CPU per render bound it before this does. */
#define SLOTS_PER_CPU 16

/* slots sized by a renderer's start-up probe alone: at most this many per CPU */
#define SEED_PER_CPU 5

static bool host_idle(double *idle);

/* --slots N or [agent] slots = N (WANT_SLOTS: --slots, or 0) fix the
 * number; auto starts with a slot per CPU and sizes them as renders are
 * measured (up to SLOTS_PER_CPU per CPU). Each slot on says idle in its file. */
void slots_init(long want_slots)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		cpus = 1;
	long fixed = want_slots ? want_slots : agent.spool.conf.slots;
	agent.slots_auto = fixed == 0;
	agent.nslots = fixed ? (int)fixed : (int)(SLOTS_PER_CPU * cpus > 256 ? 256 : SLOTS_PER_CPU * cpus);
	agent.nslots_on = fixed ? (int)fixed : (int)cpus;
	agent.slots = xcalloc((size_t)agent.nslots, sizeof *agent.slots);
	for (int i = 0; i < agent.nslots; i++) {
		agent.slots[i].index = i;
		agent.slots[i].outfd = agent.slots[i].logfd = agent.slots[i].check_out = agent.slots[i].logpipe = -1;
		agent.slots[i].area_fd = agent.slots[i].area_jobfd = -1;
		agent.slots[i].idle_since = mono_us();
		snprintf(agent.slots[i].owner, sizeof agent.slots[i].owner, "%s.%d", agent.host, i);
		if (i < agent.nslots_on)
			slot_write(&agent.slots[i]);
		host_kill_take(agent.hostfd, i); /* a request for an earlier run */
	}
	double idle;
	host_idle(&idle); /* from now on: the first sizing knows how idle the CPUs were */
}

/* The frame the renderer is at: the first of its frames not complete. */
size_t slot_current(const struct slot *s)
{
	for (size_t i = s->pos; i < s->end; i++)
		if (s->fr[i].st == F_TODO)
			return i;
	return s->end ? s->end - 1 : 0;
}

/* hosts/HOST/slot.N: idle, or the job, ticket and frame S renders. */
static void slot_write(struct slot *s)
{
	char iso[32];
	s->shown = s->job != NULL;
	struct buf b = {0};
	if (!s->job) {
		buf_printf(&b, "[slot]\nstate = idle\n");
	} else {
		const struct run_frame *f = &s->fr[slot_current(s)];
		time_iso(now_us() - (mono_us() - s->frame_started), iso);
		buf_printf(&b, "[slot]\nstate = busy\njob = %s\nticket = %s\nframe = %ld\nattempt = %d\nsince = %s\npid = %ld\n",
			   s->job->name, s->tk[f->ticket].name, f->frame, s->tk[f->ticket].attempt, iso, (long)s->pid);
		if (s->end - s->pos > 1)
			buf_printf(&b, "run = %ld-%ld\n", s->fr[s->pos].frame, s->fr[s->end - 1].frame);
	}
	bool sync = sync_writes;
	sync_writes = false; /* a slot file is a picture, not state */
	if (host_slot_write(agent.hostfd, s->index, b.data, b.len) < 0)
		warn("unable to write hosts/%s/slot.%d: %s", agent.host, s->index, strerror(errno));
	sync_writes = sync;
	buf_free(&b);
}

/* S's run is over: its limit tokens go back, its folder goes, and its
 * file says idle (or goes, for a slot past nslots_on). */
void slot_idle(struct slot *s)
{
	bool quiet = s->job && s->job->pkg->builtin_null;
	for (size_t i = 0; i < s->tokens.n; i++) {
		char *tab = strchr(s->tokens.v[i], '\t');
		*tab = 0;
		if (limit_give(&agent.spool, s->tokens.v[i], tab + 1) < 0 && errno != ENOENT)
			warn("unable to give back token %s of limit %s: %s", tab + 1, s->tokens.v[i], strerror(errno));
	}
	strlist_free(&s->tokens);
	run_release(s);
	if (s->job)
		s->job->running--;
	s->job = NULL;
	s->idle_since = mono_us();
	s->pid = s->check_pid = 0;
	s->killing = KILL_NONE;
	free(s->fr);
	free(s->tk);
	s->fr = NULL;
	s->tk = NULL;
	s->nfr = s->ntk = s->pos = s->end = 0;
	s->why[0] = 0;
	s->rule = RULE_NONE;
	s->charged = false;
	if (s->index >= agent.nslots_on) {
		contain_release(s);
		host_slot_remove(agent.hostfd, s->index);
		s->shown = false;
	} else if (!quiet && s->shown) {
		slot_write(s);
	}
}

/* A slot file says busy once its frame has run for 20 ms: a frame of a
 * few ms costs no file writes. */
void slots_show(void)
{
	int64_t now = mono_us();
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (s->job && !s->shown && now - s->frame_started > 20000)
			slot_write(s);
	}
}

bool slots_busy(void)
{
	for (int i = 0; i < agent.nslots; i++)
		if (agent.slots[i].job)
			return true;
	return false;
}

/* ---- slots = auto ------------------------------------------------------- */

static double util = -1;  /* a render's CPU time (and wait for one) over its wall time, smoothed */
static long peak_rss_kb;  /* the largest render seen */

/* The share of the host's CPU time that was idle since the last call. */
static bool host_idle(double *idle)
{
	static unsigned long long last_total, last_idle;
	FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = {0};
	bool ok = f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
			      &v[5], &v[6], &v[7]) == 8;
	if (f)
		fclose(f);
	if (!ok)
		return false;
	unsigned long long total = 0, idl = v[3] + v[4];
	for (int i = 0; i < 8; i++)
		total += v[i];
	bool have = last_total && total > last_total;
	if (have)
		*idle = (double)(idl - last_idle) / (double)(total - last_total);
	last_total = total;
	last_idle = idl;
	return have;
}

/* The memory renders may still take while RUNNING renders hold theirs
 * (at the largest render's peak, PEAK_KB): the host's available memory,
 * or less where the agent runs under a memory limit (systemd's
 * MemoryMax=, a container's), which holds over its renders too. */
static long mem_available_kb(int running, long peak_kb)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "MemAvailable:", 13))
			kb = atol(line + 13);
	if (f)
		fclose(f);
	/* the limit less what the running renders hold at their peak: what
	 * the group uses now would miss a render that has not grown yet */
	long long room = contain_mem_limit_kb();
	if (room >= 0) {
		room -= (long long)running * peak_kb;
		if (kb < 0 || room < kb)
			kb = room > 0 ? (long)room : 1;
	}
	return kb;
}

static void slots_resize(int n)
{
	int old = agent.nslots_on;
	agent.nslots_on = n;
	for (int i = old; i < n; i++)
		slot_write(&agent.slots[i]); /* a new idle slot */
	for (int i = n; i < old; i++)
		if (!agent.slots[i].job)
			host_slot_remove(agent.hostfd, i);
}

/* Size the slots to the renders: as many as the CPUs can keep busy given
 * how much of their time renders use them (fewer than CPUs when each
 * uses several), never more than free RAM holds at the largest render's
 * peak, and grown only while a quarter of the CPU time is idle. */
static void slots_size(void)
{
	int running = 0;
	for (int i = 0; i < agent.nslots; i++)
		running += agent.slots[i].job != NULL;
	double u = util, idle = 1;
	bool measured = host_idle(&idle);
	long avail_kb = mem_available_kb(running, peak_rss_kb);
	long want = slots_want(sysconf(_SC_NPROCESSORS_ONLN), u, avail_kb, peak_rss_kb, running, agent.nslots);
	static long held_at; /* the size last held back, said once */
	if (want > agent.nslots_on && (!measured || idle < 0.25)) {
		/* the CPUs are busy already (or not known yet): say so, with
		 * the figures, once for each size held back */
		if (measured && want != held_at)
			say("%d slot%s stay (renders use %.0f%% of a CPU over their time, so %ld would fit, with %ld MB "
			    "free for them, but the CPUs were only %.0f%% idle)",
			    agent.nslots_on, agent.nslots_on == 1 ? "" : "s", 100 * u, want, avail_kb / 1024, 100 * idle);
		held_at = measured ? want : held_at;
		return;
	}
	held_at = 0;
	if (want == agent.nslots_on)
		return;
	char idle_text[40] = "";
	if (measured)
		snprintf(idle_text, sizeof idle_text, "; the CPUs were %.0f%% idle", 100 * idle);
	say("%ld slot%s now (renders use %.0f%% of a CPU over their time, up to %ld MB each, %ld MB free for them%s)",
	    want, want == 1 ? "" : "s", 100 * u, peak_rss_kb / 1024, avail_kb / 1024, idle_text);
	slots_resize((int)want);
	host_slots_update();
}

/* A render process ended well (or completed a frame): CPU seconds, seconds
 * it waited on a run queue for a CPU, wall seconds, peak RSS. Time spent
 * waiting for a CPU counts as used: on a busy host a CPU-bound render
 * must not look like one that leaves the CPU idle. */
void slots_seed(double u)
{
	if (!agent.slots_auto || util >= 0 || u < 0)
		return;
	/* a start-up waits more than the frames after it (POV-Ray's: a tenth
	 * of a CPU, its frames a fifth): at most SEED_PER_CPU from a probe,
	 * the renders measured then say more */
	util = u < 1.0 / SEED_PER_CPU ? 1.0 / SEED_PER_CPU : u;
	slots_size();
}

void slots_learn(double cpu, double queued, double wall, long rss_kb)
{
	if (!agent.slots_auto || wall < 0.05)
		return;
	if (rss_kb > peak_rss_kb)
		peak_rss_kb = rss_kb;
	/* beside the agent's own start-up probes (Blender's takes a CPU for a
	 * second or more) a render's share of a CPU says little of it */
	if (startups_running())
		return;
	double u = (cpu + (queued > 0 ? queued : 0)) / wall;
	util = util < 0 ? u : 0.6 * util + 0.4 * u;
	slots_size();
}
