/* learn.c - how long a run should be: renderer start-up costs (probed,
 * then learnt), frame times, and run_length from both. Distrusts the
 * probes as far as a failed one teaches nothing. */
#define _GNU_SOURCE
#include "agent.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* What this agent measured of a package's renderer: the seconds a process
 * costs before its first frame (start-up, parsing the scene). */
static struct overhead overheads[32];
static size_t noverheads;

/* PACKAGE's record (a new one: not known yet), or NULL when full. */
struct overhead *overhead_of(const char *package)
{
	for (size_t i = 0; i < noverheads; i++)
		if (!strcmp(overheads[i].package, package))
			return &overheads[i];
	if (noverheads == sizeof overheads / sizeof *overheads)
		return NULL;
	struct overhead *o = &overheads[noverheads++];
	snprintf(o->package, sizeof o->package, "%s", package);
	o->seconds = o->util = -1;
	return o;
}

/* The start-up cost of each package with a [probe] startup: timed once,
 * beside whatever else the agent does, when it starts. */
static struct startup_probe {
	char package[64];
	pid_t pid;
	int64_t started;
} startups[32];
static size_t nstartups;

void startups_spawn(void)
{
	struct strlist names = {0};
	package_names(spool_fd(&agent.spool, DIR_CONF), &names);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	for (size_t i = 0; i < names.n && nul >= 0 && nstartups < sizeof startups / sizeof *startups; i++) {
		struct package p;
		char err[512], program[PATH_MAX];
		if (package_load(spool_fd(&agent.spool, DIR_CONF), names.v[i], &p, err, sizeof err) < 0)
			continue;
		if (p.startup_args.n && *p.probe_command && find_program(p.probe_command, program, sizeof program)) {
			struct strlist argv = {0};
			strlist_add(&argv, program);
			for (size_t k = 0; k < p.startup_args.n; k++)
				strlist_add(&argv, p.startup_args.v[k]);
			strlist_take(&argv, NULL);
			struct startup_probe *sp_ = &startups[nstartups];
			sp_->started = mono_us();
			sp_->pid = spawn_in("/", argv.v, nul, "startup", NULL);
			if (sp_->pid > 0) {
				snprintf(sp_->package, sizeof sp_->package, "%s", p.name);
				nstartups++;
			}
			argv.n--;
			strlist_free(&argv);
		}
		package_free(&p);
	}
	if (nul >= 0)
		close(nul);
	strlist_free(&names);
}

/* Whether a start-up probe still runs (a render's use of the CPUs says
 * little beside it). */
bool startups_running(void)
{
	for (size_t i = 0; i < nstartups; i++)
		if (startups[i].pid > 0)
			return true;
	return false;
}

/* A startup probe ended: true when PID was one. */
bool startup_exited(pid_t pid, int status, const struct rusage *ru, double queued)
{
	for (size_t i = 0; i < nstartups; i++)
		if (startups[i].pid == pid) {
			startups[i].pid = 0;
			struct overhead *o = overhead_of(startups[i].package);
			double t = (double)(mono_us() - startups[i].started) / 1e6;
			if (o && o->seconds < 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				o->seconds = t;
				/* its CPU share, a wait for a CPU counted as use (the
				 * other probes run beside it) */
				double cpu = (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
					     (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
				o->util = t > 0.05 ? (cpu + (queued > 0 ? queued : 0)) / t : -1;
				say("%s takes %.2f s to start (%.0f%% of a CPU)", startups[i].package, t,
				    o->util < 0 ? 100 : 100 * o->util);
			}
			return true;
		}
	return false;
}

/* ---- how long a run ------------------------------------------------------ */

/* The frames a run of job J should hold. chunk in job.ini says it; else
 * the shortest run that keeps the renderer's start-up under about 5% of
 * the run (start-up <= 0.05 * (start-up + n * frame time)), but no longer
 * than the frames left shared among the slots that could take them: a
 * long run at the end would leave the other slots idle. With the start-up
 * known (the package's [probe] startup) and the frame time not, all of
 * them, or that share when there are more slots than CPUs: run_trim gives
 * back what is past a fair run once the first frame gives the time; with
 * neither, runs of 2, which measure both. */
long run_length(struct job *j, long also)
{
	if (!j->pkg->range_argv.n || j->pkg->no_output)
		return 1;
	if (j->jd->chunk > 0)
		return j->jd->chunk;
	/* the frames left: in todo/ (counted again at most every 200 ms),
	 * ALSO more (those claimed by runs, all hosts, to see whether a run
	 * holds more than its share), and the one being claimed */
	if (mono_us() - j->todo_at > 200000) {
		j->todo_left = ticket_count(j->fd, TICKET_TODO);
		j->todo_active = ticket_count(j->fd, TICKET_ACTIVE);
		j->todo_at = mono_us();
	}
	long left = (j->todo_left > 0 ? j->todo_left : 0) + (also ? j->todo_active : 0) + 1;
	long share = (left + agent.nslots_on * hosts_live() - 1) / (agent.nslots_on * hosts_live());
	struct overhead *o = overhead_of(j->pkg->name);
	long n;
	if (o && o->seconds >= 0 && j->frame_seconds <= 0) {
		/* until frames give the time (see run_trim): all (one process,
		 * as a hand-run blender -a), or with more slots than CPUs (the
		 * renderer mostly waits) its share, so that they all start now */
		if (agent.nslots_on <= sysconf(_SC_NPROCESSORS_ONLN))
			return left > 10000 ? 10000 : left;
		n = share;
	}
	else if (!o || o->seconds < 0 || j->frame_seconds <= 0)
		n = 2;
	else
		n = (long)(19.0 * o->seconds / j->frame_seconds) + 1;
	if (n > share)
		n = share;
	return n < 1 ? 1 : n > 10000 ? 10000 : n;
}

/* A process of S rendered its frames: learn the start-up and frame times
 * from when each was complete (FIRST: the first frame's, from the start;
 * EACH: the mean of the others', or -1 with one frame). */
void run_learn(struct slot *s, double first, double each)
{
	struct job *j = s->job;
	struct overhead *o = overhead_of(j->pkg->name);
	if (each > 0) {
		double ov = first - each;
		if (o)
			o->seconds = o->seconds < 0 ? (ov > 0 ? ov : 0) : 0.5 * o->seconds + 0.5 * (ov > 0 ? ov : 0);
		j->frame_seconds = j->frame_seconds > 0 ? 0.5 * j->frame_seconds + 0.5 * each : each;
	} else if (o && o->seconds >= 0 && first > o->seconds) {
		double f = first - o->seconds;
		j->frame_seconds = j->frame_seconds > 0 ? 0.5 * j->frame_seconds + 0.5 * f : f;
	}
}
