/* frame.c - a frame from its image being whole to output/: which are
 * complete, what each cost, the check in hf-check, publishing. Distrusts
 * the renderer's files: only an image a separate checker passed is moved. */
#define _GNU_SOURCE
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The frame's output name: the job's pattern with its #### filled in (and
 * the renderer's extension, when the job left the format to its scene). */
static void output_name(const struct job *j, const struct run_frame *f, char *out, size_t outsize)
{
	if (j->jd->format == FORMAT_SCENE)
		frame_name_as(j->jd->output, f->ext, f->frame, out, outsize);
	else
		frame_name(j->jd->output, f->frame, out, outsize);
}

/* Extra output K's names: in the renderer's folder (SRC), staged (STAGE,
 * beside the frame's staged image) and published (NAME: next to the
 * frame, in the folder of the job's output pattern). */
static void extra_names(const struct job *j, const struct run_frame *f, size_t k, char *src, char *stage,
			char *name, size_t size)
{
	frame_name(j->jd->extra_outputs.v[k], f->frame, src, size);
	snprintf(stage, size, "%.200s.x%zu", f->image, k);
	const char *slash = strrchr(j->jd->output, '/');
	snprintf(name, size, "%.*s%s", slash ? (int)(slash - j->jd->output + 1) : 0, j->jd->output, src);
}

/* The renderer's CPU seconds (user and system, its waited-for children
 * included) and peak RSS, from /proc while it runs. */
bool proc_usage(pid_t pid, long *user, long *sys, long *rss_kb)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	long cut = 0, cst = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &ut, &st, &cut,
			 &cst) != 4)
		return false;
	*user = (long)ut + cut;
	*sys = (long)st + cst;
	if (rss_kb) {
		*rss_kb = 0;
		snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
		FILE *f = fopen(path, "re");
		char line[256];
		while (f && fgets(line, sizeof line, f))
			if (!strncmp(line, "VmHWM:", 6))
				*rss_kb = atol(line + 6);
		if (f)
			fclose(f);
	}
	return true;
}

/* The seconds PID has waited on a run queue for a CPU (the second figure
 * of /proc/PID/schedstat, in ns; a zombie not yet reaped still has it),
 * or -1. A render that waits for a CPU is not one that leaves it idle. */
double proc_queued(pid_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof path, "/proc/%ld/schedstat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	unsigned long long run, wait;
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return sscanf(buf, "%llu %llu", &run, &wait) == 2 ? (double)wait / 1e9 : -1;
}

/* Frame I's image is complete (or its renderer is over): what it cost
 * since the one before, for its bill. */
void frame_measure(struct slot *s, size_t i, bool exited)
{
	struct run_frame *f = &s->fr[i];
	int64_t now = mono_us();
	f->wall = (double)(now - s->frame_started) / 1e6;
	s->frame_started = now;
	double tick = (double)sysconf(_SC_CLK_TCK);
	long u = s->ticks_user, y = s->ticks_sys, rss = 0;
	if (exited) {
		u = (long)(((double)s->ru.ru_utime.tv_sec + (double)s->ru.ru_utime.tv_usec / 1e6) * tick + 0.5);
		y = (long)(((double)s->ru.ru_stime.tv_sec + (double)s->ru.ru_stime.tv_usec / 1e6) * tick + 0.5);
		rss = s->ru.ru_maxrss;
	} else if (s->pid > 0) {
		/* the whole run's CPU where it has a cgroup; its own process's
		 * (and what it waited for) otherwise */
		long cu, cy;
		proc_usage(s->pid, &u, &y, &rss);
		if (contain_usage(s, &cu, &cy)) {
			u = cu;
			y = cy;
		}
		double q = proc_queued(s->pid);
		s->queued = q > s->queued ? q : s->queued;
	}
	f->cpu_user = (double)(u > s->ticks_user ? u - s->ticks_user : 0) / tick;
	f->cpu_sys = (double)(y > s->ticks_sys ? y - s->ticks_sys : 0) / tick;
	f->rss_kb = rss;
	s->ticks_user = u > s->ticks_user ? u : s->ticks_user;
	s->ticks_sys = y > s->ticks_sys ? y : s->ticks_sys;
}

/* Frame I passed its check: into output/ under the job's pattern, and its
 * ticket to done/ when it has no other frame left. */
static void frame_publish(struct slot *s, size_t i)
{
	struct job *j = s->job;
	struct run_frame *f = &s->fr[i];
	char name[PATH_MAX];
	output_name(j, f, name, sizeof name);
	unsigned long long bytes = 0;
	if (!j->pkg->no_output) {
		bytes = f->bytes;
		/* the extra outputs first, the image last: a frame whose image
		 * is in output/ has all its files there */
		int rc = 0;
		for (size_t k = 0; rc == 0 && k < j->jd->extra_outputs.n; k++) {
			char src[NAME_MAX + 1], stage[NAME_MAX + 1], pass[PATH_MAX];
			extra_names(j, f, k, src, stage, pass, sizeof src);
			rc = output_publish(j->fd, stage, pass);
			if (rc == 0)
				f->extras_staged &= ~(1u << k);
		}
		if (rc < 0 || output_publish(j->fd, f->image, name) < 0) {
			char why[400];
			snprintf(why, sizeof why, "the image could not be put into output/: %s", strerror(errno));
			bill(s, i, false, 0);
			run_settle(s, f->ticket, true, why);
			return;
		}
	}
	bill(s, i, true, bytes);
	sayj(j->name, f->frame, "%s frame %ld rendered on %s in %.2f s (%.2f s of CPU)", j->name, f->frame, s->owner, f->wall,
	     f->cpu_user + f->cpu_sys);
	f->st = F_DONE;
	j->fails_in_row = 0;
	run_ticket_done(s, f->ticket);
}

/* Frame I's image leaves the renderer's folder for output/ under a
 * staging name (.OWNER.PID.SEQ.fFRAME), where the render cannot change it
 * while it is checked and published. False, with the frame settled, when
 * what the renderer left there is not a plain file of its own. */
static bool frame_stage(struct slot *s, size_t i)
{
	struct run_frame *f = &s->fr[i];
	if (f->staged)
		return true;
	char stage[NAME_MAX + 1];
	snprintf(stage, sizeof stage, "%.200s.f%ld", s->workname, f->frame);
	if (output_stage(s->job->fd, s->outfd, f->image, stage, &f->bytes) < 0) {
		char why[400];
		snprintf(why, sizeof why, errno == EPERM ? "the renderer's image %.100s is not a plain file (a link?)"
							 : "the image %.100s could not be moved out of the renderer's folder: %s",
			 f->image, strerror(errno));
		bill(s, i, false, 0);
		run_settle(s, f->ticket, true, why);
		return false;
	}
	snprintf(f->image, sizeof f->image, "%s", stage);
	f->staged = true;
	/* each extra output beside it, or the frame fails naming it */
	const struct strlist *extra = &s->job->jd->extra_outputs;
	for (size_t k = 0; k < extra->n; k++) {
		char src[NAME_MAX + 1], xstage[NAME_MAX + 1], name[PATH_MAX];
		unsigned long long bytes;
		extra_names(s->job, f, k, src, xstage, name, sizeof src);
		if (output_stage(s->job->fd, s->outfd, src, xstage, &bytes) == 0) {
			f->extras_staged |= 1u << k;
			f->bytes += bytes;
			continue;
		}
		char why[600];
		if (errno == ENOENT)
			snprintf(why, sizeof why, "the extra output %.200s was not written (extra_outputs = %.200s)", src,
				 extra->v[k]);
		else if (errno == EPERM)
			snprintf(why, sizeof why, "the extra output %.200s is not a plain file (a link?)", src);
		else
			snprintf(why, sizeof why, "the extra output %.200s could not be moved out of the renderer's folder: %s",
				 src, strerror(errno));
		frame_unstage(s, i);
		bill(s, i, false, 0);
		run_settle(s, f->ticket, true, why);
		return false;
	}
	return true;
}

void frame_unstage(struct slot *s, size_t i)
{
	struct run_frame *f = &s->fr[i];
	for (size_t k = 0; k < s->job->jd->extra_outputs.n; k++)
		if (f->extras_staged & (1u << k)) {
			char src[NAME_MAX + 1], stage[NAME_MAX + 1], name[PATH_MAX];
			extra_names(s->job, f, k, src, stage, name, sizeof src);
			output_unstage(s->job->fd, stage);
		}
	f->extras_staged = 0;
	if (f->staged)
		output_unstage(s->job->fd, f->image);
	f->staged = false;
}

/* Check a complete image, when the slot's checker is free. */
void check_next(struct slot *s)
{
	if (s->check_pid > 0)
		return;
	struct job *j = s->job;
	for (size_t i = 0; i < s->nfr; i++) {
		struct run_frame *f = &s->fr[i];
		if (f->st != F_READY)
			continue;
		if (j->pkg->no_output) {
			/* a package that makes no image: its exit status is all */
			frame_publish(s, i);
			continue;
		}
		if (!frame_stage(s, i))
			continue;
		char w[32], h[32], image[PATH_MAX * 2];
		snprintf(w, sizeof w, "%ld", j->jd->width);
		snprintf(h, sizeof h, "%ld", j->jd->height);
		/* its paths beneath the spool, which the checker opens once:
		 * resolved through no link */
		char rel[PATH_MAX];
		job_relpath(j->name, rel, sizeof rel);
		snprintf(image, sizeof image, "%s/%s/%s", rel, job_dir_name(JOB_DIR_OUTPUT), f->image);
		/* a sample of each frame for previews/ and its contact sheet */
		char thumb[PATH_MAX * 2], view[PATH_MAX * 2], previews[PATH_MAX + 16], tname[64];
		snprintf(previews, sizeof previews, "%s/%s", rel, job_dir_name(JOB_DIR_PREVIEWS));
		job_preview_name(tname, sizeof tname, f->frame);
		snprintf(thumb, sizeof thumb, "%s/%s", previews, tname);
		job_view_name(tname, sizeof tname, f->frame);
		snprintf(view, sizeof view, "%s/%s", previews, tname);
		char *argv[16 + 16];
		int k = 0;
		argv[k++] = agent.checker;
		argv[k++] = "--at";
		argv[k++] = agent.spool.path;
		if (j->jd->allow_blank)
			argv[k++] = "--allow-blank";
		argv[k++] = "--thumb";
		argv[k++] = thumb;
		argv[k++] = "--view";
		argv[k++] = view;
		/* the contact sheet is rebuilt from every thumbnail: at most
		 * twice a second per job (the first at once; the job's end
		 * makes the last, complete one) */
		if (mono_us() - j->contact_at > 500000) {
			argv[k++] = "--contact";
			argv[k++] = previews;
			j->contact_at = mono_us();
		}
		argv[k++] = image;
		argv[k++] = w;
		argv[k++] = h;
		/* its extra outputs, NAME=PATH: named as the artist knows them */
		struct strlist extras = {0};
		for (size_t x = 0; x < j->jd->extra_outputs.n && x < 16; x++) {
			char src[NAME_MAX + 1], stage[NAME_MAX + 1], name[PATH_MAX], arg[PATH_MAX * 3];
			extra_names(j, f, x, src, stage, name, sizeof src);
			snprintf(arg, sizeof arg, "%s=%s/%s/%s", src, rel, job_dir_name(JOB_DIR_OUTPUT), stage);
			strlist_add(&extras, arg);
		}
		for (size_t x = 0; x < extras.n; x++)
			argv[k++] = extras.v[x];
		argv[k] = NULL;
		/* what it says goes to a file of the agent's own, not the
		 * renderer's folder */
		if (s->check_out < 0)
			s->check_out = memfd_create("hf-check", MFD_CLOEXEC);
		/* emptied, and written from its start (the checker shares
		 * the file's offset: the last check's words moved it) */
		if (s->check_out >= 0 && (ftruncate(s->check_out, 0) < 0 || lseek(s->check_out, 0, SEEK_SET) < 0)) {
			close(s->check_out);
			s->check_out = -1;
		}
		pid_t pid = s->check_out < 0 ? -1 : checker_spawn(s, argv, s->check_out);
		strlist_free(&extras);
		if (pid < 0) {
			bill(s, i, false, 0);
			run_settle(s, f->ticket, true, "the image checker could not be started");
			continue;
		}
		f->st = F_CHECK;
		s->check_pid = pid;
		s->checking = i;
		s->check_hung = false;
		s->check_started = mono_us();
		return;
	}
}

/* S's checker exited with STATUS: the frame it checked is published, or
 * settled as failed (or, for the checker's own trouble, goes back). */
void check_exited(struct slot *s, int status)
{
	struct job *j = s->job;
	size_t i = s->checking;
	struct run_frame *f = &s->fr[i];
	s->check_pid = 0;
	if (f->st != F_CHECK)
		return;
	f->st = F_READY;
	if (kill_gives_back(s->killing)) {
		return; /* settled with the others when the run ends */
	} else if (s->check_hung) {
		bill(s, i, false, 0);
		run_settle(s, f->ticket, true, "the image took more than a minute to check");
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TEMPFAIL) {
		/* the checker's own trouble (memory): not the frame's fault */
		bill(s, i, false, 0);
		warnj(j->name, f->frame, "%s frame %ld: the image checker failed for want of resources; the frame goes back", j->name,
		     f->frame);
		run_settle(s, f->ticket, false, NULL);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char why[600] = "the image did not pass the check";
		char line[500];
		ssize_t n = s->check_out < 0 ? -1 : pread(s->check_out, line, sizeof line - 1, 0);
		if (n > 0) {
			line[n] = 0;
			line[strcspn(line, "\n")] = 0;
			if (*line)
				snprintf(why, sizeof why, "%s", line);
		}
		if (WIFSIGNALED(status))
			snprintf(why, sizeof why, "the image could not be checked (the checker died of signal %d)",
				 WTERMSIG(status));
		bill(s, i, false, 0);
		if (f->maybe && *s->why && !s->charged) {
			/* the renderer died writing it: the frame it was at */
			s->charged = true;
			run_settle(s, f->ticket, s->counted, s->why);
		} else {
			run_settle(s, f->ticket, true, why);
		}
	} else {
		frame_publish(s, i);
	}
}

/* Whether NAME is one of frame FRAME's extra outputs, not its image. */
static bool frame_is_extra(const struct job *j, long frame, const char *name)
{
	for (size_t k = 0; k < j->jd->extra_outputs.n; k++)
		if (frame_name_is(j->jd->extra_outputs.v[k], frame, name))
			return true;
	return false;
}

/* F's image is NAME in the renderer's folder; its extension is kept for
 * the name it is published under. */
static void frame_found(struct run_frame *f, const char *name)
{
	snprintf(f->image, sizeof f->image, "%s", name);
	const char *dot = strrchr(name, '.');
	snprintf(f->ext, sizeof f->ext, "%s", dot && strlen(dot) < sizeof f->ext ? dot : "");
}

/* The images in the renderer's folder: which frames of fr[pos..end) are
 * complete. A frame's file is complete once the renderer has begun the
 * next one's, or has exited 0 (EXITED_OK). Without [range], the frame's
 * image is the one file there, once the renderer exited 0. */
void frames_complete(struct slot *s, bool exited_ok, bool died)
{
	struct job *j = s->job;
	if (j->pkg->no_output) {
		if (exited_ok)
			for (size_t i = s->pos; i < s->end; i++)
				if (s->fr[i].st == F_TODO) {
					frame_measure(s, i, true);
					s->fr[i].st = F_READY;
				}
		return;
	}
	DIR *d = dir_open(s->outfd, ".");
	if (!d)
		return;
	struct dirent *e;
	size_t n = s->end - s->pos, files = 0;
	bool *seen = xcalloc(n, sizeof *seen);
	char one[NAME_MAX + 1] = "";
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || (!s->range && frame_is_extra(j, s->fr[s->pos].frame, e->d_name)))
			continue;
		files++;
		snprintf(one, sizeof one, "%s", e->d_name);
		if (!s->range)
			continue;
		long f = package_range_frame(j->pkg, e->d_name);
		/* a frame given back (see run_trim) still shows that the one
		 * before it is complete */
		for (size_t i = s->pos; f >= 0 && i < s->end; i++)
			if (s->fr[i].frame == f && (s->fr[i].st == F_TODO || s->fr[i].st == F_BACK)) {
				seen[i - s->pos] = true;
				if (s->fr[i].st == F_TODO)
					frame_found(&s->fr[i], e->d_name);
			}
	}
	closedir(d);
	if (!s->range) {
		if (exited_ok && files == 1 && s->fr[s->pos].st == F_TODO) {
			frame_found(&s->fr[s->pos], one);
			seen[0] = true;
		}
	}
	/* complete: every seen frame before the last one seen; all seen
	 * ones once the renderer exited 0 */
	size_t last = n, newly = SIZE_MAX;
	for (size_t i = n; i-- > 0;)
		if (seen[i]) {
			last = i;
			break;
		}
	for (size_t i = 0; last < n && i <= last; i++) {
		struct run_frame *f = &s->fr[s->pos + i];
		if (f->st != F_TODO || !seen[i])
			continue;
		if (i == last && !exited_ok) {
			/* the renderer failed after writing it: finished, or
			 * cut off while writing? The check tells. */
			if (!died || !s->range)
				continue;
			f->maybe = true;
		}
		frame_measure(s, s->pos + i, (exited_ok || died) && i == last);
		f->st = F_READY;
		newly = s->pos + i;
		/* a frame after the first took its own time: what a frame costs */
		if (i > 0 && !exited_ok && !died && f->wall > 0.002)
			j->frame_seconds = j->frame_seconds > 0 ? 0.7 * j->frame_seconds + 0.3 * f->wall : f->wall;
	}
	free(seen);
	double wall = (double)(mono_us() - s->started) / 1e6;
	if (!exited_ok && !died && newly != SIZE_MAX && s->pid > 0 && wall > 0.3) {
		/* how the renderer used the CPU so far (measured as the frame
		 * was complete): slots may grow mid-run */
		double tick = (double)sysconf(_SC_CLK_TCK);
		slots_learn((double)(s->ticks_user + s->ticks_sys) / tick, s->queued, wall, s->fr[newly].rss_kb);
	}
}
