/* area.c - a slot's render area: its folder in the job's work/ (out/ and
 * tmp/ in it) and its sandbox. They serve the slot's next renderer of the
 * same job when its cgroup proved that nothing of the last one is left
 * (contain_exited kept the group); else they go and the next gets new
 * ones. Making both costs more than a short frame's process does. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Renderers per sandbox: each adds a rule for its own /proc/PID to the
 * ruleset, which every later one copies when it enters. */
#define AREA_USES 64

/* S's area goes: its folder removed with whatever is in it, its sandbox
 * freed. */
void area_drop(struct slot *s)
{
	if (s->area_fd >= 0)
		close(s->area_fd);
	s->area_fd = -1;
	if (*s->workname && s->area_jobfd >= 0)
		job_attempt_remove(s->area_jobfd, s->workname);
	if (s->area_jobfd >= 0)
		close(s->area_jobfd);
	s->area_jobfd = -1;
	s->workname[0] = 0;
	s->workdir[0] = 0;
	if (s->sb_ok)
		sandbox_free(&s->sb);
	s->sb_ok = false;
	free(s->sb_program);
	s->sb_program = NULL;
	s->area_uses = 0;
}

/* S's renderer is over: its area stays for the next only while its group
 * is kept, and for so many renderers. */
void area_release(struct slot *s)
{
	if (!s->cg_kept || s->area_uses >= AREA_USES)
		area_drop(s);
}

/* The areas of idle slots go: those of job SERIAL (it is over here), or
 * all (SERIAL 0: the configuration changed, or the agent stops). */
void area_forget(unsigned long serial)
{
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (!s->job && s->area_fd >= 0 && (!serial || s->area_serial == serial))
			area_drop(s);
	}
}

/* The folder for S's next renderer: the kept one emptied, or a new
 * work/.OWNER.PID.SEQ (owned by the render user when there is one). Its
 * path in s->workdir, out/ open as s->outfd. False with s->why. */
bool area_folder(struct slot *s)
{
	struct job *j = s->job;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	render_user_ids(&uid, &gid);
	if (s->area_fd >= 0 && s->area_serial == j->serial && s->cg_kept &&
	    job_attempt_renew(s->area_fd, uid, gid, &s->outfd) == 0) {
		s->area_uses++;
		return true;
	}
	area_drop(s);
	static unsigned long attempts;
	char name[NAME_MAX + 1];
	job_temp_name(name, sizeof name, s->owner, (long)getpid(), ++attempts);
	int wfd = job_attempt_make(j->fd, name, uid, gid, &s->outfd);
	if (wfd < 0) {
		snprintf(s->why, sizeof s->why, "cannot make the renderer's folder in %s/: %s",
			 job_dir_name(JOB_DIR_WORK), strerror(errno));
		return false;
	}
	s->area_fd = wfd;
	s->area_jobfd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0);
	s->area_serial = j->serial;
	s->area_uses = 1;
	snprintf(s->workname, sizeof s->workname, "%s", name);
	snprintf(s->workdir, sizeof s->workdir, "%s/%s/%s", j->path, job_dir_name(JOB_DIR_WORK), name);
	return true;
}

/* The sandbox for S's next renderer (FILES: the job's files): the one its
 * area has when it was built for the same program, else a new one. NULL
 * with s->why. */
struct sandbox *area_sandbox(struct slot *s, const char *files)
{
	struct job *j = s->job;
	if (s->sb_ok && strcmp(s->sb_program, j->program)) {
		sandbox_free(&s->sb);
		s->sb_ok = false;
	}
	if (!s->sb_ok) {
		if (!contain_build(s, files, &s->sb))
			return NULL;
		s->sb_ok = true;
		free(s->sb_program);
		s->sb_program = xstrdup(j->program);
	}
	if (sandbox_set_cpu(&s->sb, contain_cpu(s)) < 0) {
		snprintf(s->why, sizeof s->why, "the render could not be confined: no room for its CPU limit");
		return NULL;
	}
	return &s->sb;
}
