/* render.c - a run while it lives: its renderer watched (images, timeouts,
 * hangs, kill requests), its exit judged, the run trimmed, carried on or
 * ended. Distrusts the renderer: exit status and images are checked. */
#define _GNU_SOURCE
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A run was sized before the job's frame time was known (or before the
 * slots grew): once a frame is complete, look again. When the frames it
 * has still to render are many more than a run should now hold, it ends
 * after the ones it should, and the rest go back to todo/ for the other
 * slots. It ends the moment the next frame's file appears (the frame
 * before is complete, the next only begun), so nothing much is lost. */
static void run_trim(struct slot *s)
{
	struct job *j = s->job;
	if (!s->range || s->killing || j->jd->chunk > 0)
		return;
	size_t cur = slot_current(s); /* begun, not complete */
	if (s->trim) {
		if (cur >= s->trim && cur < s->end) {
			s->killing = KILL_TRIM;
			contain_kill(s, s->pid);
			s->kill_at = mono_us();
		}
		return;
	}
	struct overhead *o = overhead_of(j->pkg->name);
	double startup = o && o->seconds > 0 ? o->seconds : 0;
	if (cur == s->pos && j->frame_seconds <= 0 && startup > 0) {
		/* the first frame is not done after three start-ups: frames take
		 * at least the time past the start-up; the other hosts should
		 * not wait for it to know */
		double ran = (double)(mono_us() - s->started) / 1e6;
		if (ran < 3 * startup)
			return;
		j->frame_seconds = ran - startup;
	}
	if (cur >= s->end || j->frame_seconds <= 0)
		return;
	size_t left = s->end - cur;
	long want = run_length(j, 1);
	/* worth it only when what goes back outweighs the processes it costs */
	if ((long)left > want + want / 4 + 1 && (double)((long)left - want) * j->frame_seconds > 2 * startup) {
		s->trim = cur + (size_t)want;
		j->todo_at = 0; /* they will be in todo/ */
		sayj(j->name, -1, "%s: frames %ld-%ld go back for other slots (runs of %ld now)", j->name, s->fr[s->trim].frame,
		    s->fr[s->end - 1].frame, want);
		/* at once: the renderer is stopped before it reaches them */
		for (size_t i = s->trim; i < s->end; i++)
			if (s->fr[i].st == F_TODO)
				run_settle(s, s->fr[i].ticket, false, NULL);
	}
}

const char *kill_words(enum kill_reason why)
{
	return why == KILL_CANCEL    ? "cancelled"
	       : why == KILL_LOST    ? "host was lost"
	       : why == KILL_SUSPEND ? "job suspended; its frames go back uncounted"
	       : why == KILL_NIMBY   ? "the desktop's user came back; back to todo/, no attempt counted"
				     : "agent stopping";
}

/* Where the slot's run goes next: check what is complete; when the
 * renderer is over and nothing is being checked, settle what failed and
 * start the next renderer, or end the run. */
void run_advance(struct slot *s)
{
	struct job *j = s->job;
	if (!j)
		return;
	if (!kill_gives_back(s->killing))
		check_next(s);
	if (s->pid > 0 || s->check_pid > 0)
		return;
	bool over = kill_gives_back(s->killing) || s->killing == KILL_TRIM;
	for (;;) {
		if (!over && *s->why) {
			/* the renderer failed: the frame it was at, when it
			 * counts, and the rest back as they were */
			for (size_t i = s->pos; i < s->end && !s->charged; i++)
				if (s->fr[i].st == F_TODO) {
					if (s->counted)
						bill(s, i, false, 0);
					run_settle_why(s, s->fr[i].ticket);
					break;
				}
			over = true;
		}
		if (over)
			break;
		/* the next frames not rendered yet */
		s->pos = 0;
		while (s->pos < s->nfr && s->fr[s->pos].st != F_TODO)
			s->pos++;
		if (s->pos == s->nfr)
			break;
		if (run_spawn(s))
			return;
	}
	/* frames a cancel, suspend, stop or nimby cut short (the one
	 * rendering, and those complete but not published) ran: they are
	 * billed, not published, before their tickets go back */
	size_t cur = slot_current(s);
	for (size_t i = s->pos; kill_bills(s->killing) && i < s->end; i++) {
		enum frame_state fs = s->fr[i].st;
		if ((fs == F_READY || fs == F_CHECK || (i == cur && fs == F_TODO)) && !s->tk[s->fr[i].ticket].settled)
			bill(s, i, false, 0);
	}
	/* the run is over: what is not settled goes back as it was */
	for (size_t t = 0; t < s->ntk; t++)
		run_settle(s, t, false, NULL);
	if (s->killing == KILL_CANCEL && job_bill(&agent.spool, j->name) < 0)
		warnj(j->name, -1, "unable to write the billing of %s: %s", j->name, strerror(errno));
	if (kill_gives_back(s->killing))
		sayj(j->name, -1, "%s frame%s %ld%s stopped (%s)", j->name, s->nfr > 1 ? "s" : "", s->fr[0].frame,
		    s->nfr > 1 ? "..." : "", kill_words(s->killing));
	slot_idle(s);
	/* the next look for a ticket finds the job over, if it is: at once
	 * when the cached todo/ listing is used up, else when slot_take has
	 * tried the rest of it (a look at todo/ per frame costs) */
	j->retry_at = 0;
	if (j->next >= j->todo.n)
		job_done_check(j);
}

/* Why the renderer of S failed (s->why; empty: it did not, or it was
 * stopped for a reason that is not the frames' fault). OK: it exited 0. */
static void render_why(struct slot *s, int status, bool ok)
{
	struct job *j = s->job;
	char *why = s->why;
	size_t wsize = sizeof s->why;
	const char *logname = s->logname;
	if (kill_gives_back(s->killing) || s->killing == KILL_TRIM) {
		/* not the frames' fault: they go back as they were */
	} else if (s->killing == KILL_TIMEOUT) {
		snprintf(why, wsize, "timed out after %ld s (the job's timeout)", j->jd->timeout);
	} else if (s->killing == KILL_USER) {
		snprintf(why, wsize, "stopped by a user (hotfarm kill-frame)");
	} else if (s->killing == KILL_HANG) {
		snprintf(why, wsize, "hung: no log output and no CPU progress for %ld s", agent.spool.conf.hang_timeout);
	} else if (s->oom) {
		snprintf(why, wsize, "the render ran out of its memory ([agent] render_mem, %llu MB; see logs/%s)",
			 agent.spool.conf.render_mem >> 20, logname);
	} else if (WIFSIGNALED(status)) {
		snprintf(why, wsize, "the renderer was killed by signal %d (see logs/%s)", WTERMSIG(status), logname);
	} else if (!ok) {
		snprintf(why, wsize, "the renderer exited with status %d (see logs/%s)", WEXITSTATUS(status), logname);
	} else {
		/* exited 0: a frame without its image fails */
		for (size_t i = s->pos; i < s->end; i++)
			if (s->fr[i].st == F_TODO) {
				int files = 0;
				DIR *d = dir_open(s->outfd, ".");
				struct dirent *e;
				while (d && (e = readdir(d)))
					if (e->d_name[0] != '.')
						files++;
				if (d)
					closedir(d);
				if (s->range)
					snprintf(why, wsize, "the renderer exited 0 but wrote no image for frame %ld (see logs/%s)",
						 s->fr[i].frame, logname);
				else
					snprintf(why, wsize, "the renderer exited 0 but wrote %s (see logs/%s)",
						 files ? "more than one file" : "no image", logname);
				frame_measure(s, i, true);
				break;
			}
	}
}

/* The renderer exited: which frames it completed, and why it failed. */
static void render_exited(struct slot *s, int status)
{
	pid_t pid = s->pid;
	s->pid = 0;
	runlog_drain(s); /* its last words, before they are read for why it failed */
	/* whatever the renderer left running goes now, before its images
	 * are checked: nothing may touch them between the check and
	 * publishing (and all it used is its bill) */
	contain_exited(s, pid);
	bool ok = !s->killing && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	bool stopped = kill_gives_back(s->killing) || s->killing == KILL_TRIM;
	frames_complete(s, ok, !ok && !stopped);
	/* learn from what it did: the first frame's time holds the start-up,
	 * the rest of the process's time is the other frames' */
	size_t n = s->end - s->pos;
	enum frame_state fs = s->fr[s->pos].st;
	if (ok && (fs == F_READY || fs == F_CHECK || fs == F_DONE)) {
		double first = s->fr[s->pos].wall, all = (double)(mono_us() - s->started) / 1e6;
		run_learn(s, first, n > 1 && all > first ? (all - first) / (double)(n - 1) : -1);
		double cpu = (double)s->ru.ru_utime.tv_sec + (double)s->ru.ru_utime.tv_usec / 1e6 +
			     (double)s->ru.ru_stime.tv_sec + (double)s->ru.ru_stime.tv_usec / 1e6;
		slots_learn(cpu, s->queued, all, s->ru.ru_maxrss);
	}
	s->counted = true;
	render_why(s, status, ok);
	errors_match(s); /* what its output says of why: the package's [errors] rules */
	if (*s->why || kill_bills(s->killing)) {
		/* what the failed (or stopped) frame cost, for its bill */
		size_t cur = slot_current(s);
		if (s->fr[cur].st == F_TODO && s->fr[cur].wall == 0)
			frame_measure(s, cur, true);
	}
	run_advance(s);
}

/* The next child that exited, reaped (its pid; 0: none). With slots =
 * auto, a renderer's wait for a CPU is read first (it counts as use). */
static pid_t reap_one(int *status, struct rusage *ru, double *queued)
{
	*queued = 0;
	if (!agent.slots_auto)
		return wait4(-1, status, WNOHANG, ru);
	siginfo_t si;
	si.si_pid = 0;
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid <= 0)
		return 0;
	*queued = proc_queued(si.si_pid);
	for (int i = 0; i < agent.nslots; i++)
		if (agent.slots[i].job && agent.slots[i].pid == si.si_pid)
			agent.slots[i].queued = *queued > agent.slots[i].queued ? *queued : agent.slots[i].queued;
	return wait4(si.si_pid, status, WNOHANG, ru) == si.si_pid ? si.si_pid : 0;
}

/* SIGCHLD: each child reaped is a start-up probe, a renderer or a checker. */
void reap(void)
{
	int status;
	struct rusage ru;
	double queued;
	pid_t pid;
	while ((pid = reap_one(&status, &ru, &queued)) > 0) {
		if (startup_exited(pid, status, &ru, queued) || checker_reaped(pid))
			continue;
		for (int i = 0; i < agent.nslots; i++) {
			struct slot *s = &agent.slots[i];
			if (!s->job)
				continue;
			if (s->pid == pid) {
				s->ru = ru;
				render_exited(s, status);
			} else if (s->check_pid == pid) {
				check_exited(s, status);
				run_advance(s);
			} else {
				continue;
			}
			break;
		}
	}
}

/* Every 20 ms while busy: images complete, timeouts, hangs, and the
 * SIGKILL after a SIGTERM's grace. */
void watch_slots(void)
{
	int64_t now = mono_us();
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (!s->job)
			continue;
		if (s->check_pid > 0 && !s->check_hung && now - s->check_started > 60 * 1000000LL) {
			/* a hostile image may be slow to decode: the checker gets a minute */
			s->check_hung = true;
			kill(-s->check_pid, SIGKILL);
		}
		if (s->pid <= 0)
			continue;
		/* progress: output kept in its log (a flood past log_max is
		 * not), or CPU used */
		bool kept = runlog_drain(s);
		if (s->killing) {
			if (now >= s->kill_at)
				contain_kill(s, s->pid);
			continue;
		}
		size_t cur = slot_current(s);
		if (host_kill_take(agent.hostfd, s->index)) {
			sayj(s->job->name, s->fr[cur].frame, "%s frame %ld: stopped on request (hotfarm kill-frame)", s->job->name, s->fr[cur].frame);
			slot_kill(s, KILL_USER);
			continue;
		}
		if (s->range) {
			frames_complete(s, false, false);
			check_next(s);
			run_trim(s);
			if (s->killing)
				continue;
			cur = slot_current(s);
		}
		/* the timeout is per frame: from the start, or the last frame's end */
		if (s->job->jd->timeout && now - s->frame_started > s->job->jd->timeout * 1000000LL) {
			sayj(s->job->name, s->fr[cur].frame, "%s frame %ld: timeout after %ld s, stopping it", s->job->name, s->fr[cur].frame,
			    s->job->jd->timeout);
			slot_kill(s, KILL_TIMEOUT);
			continue;
		}
		long u = 0, y = 0;
		long cpu = contain_usage(s, &u, &y) || proc_usage(s->pid, &u, &y, NULL) ? u + y : -1;
		if (kept || cpu != s->cpu_seen) {
			s->cpu_seen = cpu;
			s->last_progress = now;
		} else if (now - s->last_progress > agent.spool.conf.hang_timeout * 1000000LL) {
			sayj(s->job->name, s->fr[cur].frame, "%s frame %ld: no output and no CPU for %ld s, stopping it", s->job->name, s->fr[cur].frame,
			    agent.spool.conf.hang_timeout);
			slot_kill(s, KILL_HANG);
		}
	}
}
