/* spawn.c - processes: spawn_in (argv, never a shell; a process group of
 * its own), $PATH search, stopping a slot's, a renderer's argv and its
 * hf-confine wrapping. Distrusts the job's words: argv elements only. */
#define _GNU_SOURCE
#include "agent.h"
#include "../../layout/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Start ARGV[0] (a path) in DIR with its output going to OUTFD, in a
 * process group of its own so that it can be killed whole, dying with the
 * agent (PR_SET_PDEATHSIG), and marked with HOTFARM_SLOT=OWNER@KEY (the
 * spool's key) in its environment so that a restarted agent finds what a
 * killed one left, and only that;
 * TMPDIR=TMPDIR when given. */
static volatile int spawn_errno;

/* Whether ENTRY (NAME=value) sets a name of LIST (NAME=value too). */
static bool env_names_one(const struct strlist *list, const char *entry)
{
	size_t n = strcspn(entry, "=");
	for (size_t i = 0; list && i < list->n; i++)
		if (!strncmp(list->v[i], entry, n) && list->v[i][n] == '=')
			return true;
	return false;
}

/* The agent's environment, then the package's and the job's variables
 * (ENV, already checked by env_merge) over it, with HOTFARM_SLOT=OWNER@KEY
 * (and TMPDIR=TMPDIR) last: ENV never replaces those two, whatever it
 * holds. The two strings made go to *MARK and *TMP, to be freed. */
static char **spawn_env(const char *owner, const char *tmpdir, const struct strlist *env, char **mark, char **tmp)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xcalloc(n + (env ? env->n : 0) + 3, sizeof *envp);
	*mark = xasprintf("HOTFARM_SLOT=%s@%s", owner, agent.key);
	*tmp = tmpdir ? xasprintf("TMPDIR=%s", tmpdir) : NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HOTFARM_SLOT=", 13) && (!*tmp || strncmp(environ[i], "TMPDIR=", 7)) &&
		    !env_names_one(env, environ[i]))
			envp[k++] = environ[i];
	for (size_t i = 0; env && i < env->n; i++)
		if (strncmp(env->v[i], "HOTFARM_", 8) && strncmp(env->v[i], "TMPDIR=", 7) && strchr(env->v[i], '='))
			envp[k++] = env->v[i];
	envp[k++] = *mark;
	if (*tmp)
		envp[k++] = *tmp;
	return envp;
}

static const char *volatile spawn_step; /* what failed in the child */

/* vfork, then exec ARGV with ENVP in DIR, output to OUTFD: in CG's groups
 * (joined first) and SB's sandbox (entered last) when given. */
static pid_t spawn_exec(const char *dir, char *const argv[], int infd, int outfd, char **envp,
			const struct cg_attempt *cg, const struct sandbox *sb)
{
	sigset_t none;
	sigemptyset(&none);
	spawn_errno = 0;
	spawn_step = NULL;
	/* vfork: the agent is paused until exec, and the child makes only
	 * system calls (as posix_spawn does); errors come back through
	 * spawn_errno, which the two share */
	pid_t pid = vfork();
	if (pid == 0) {
		const char *step = "joining its cgroup";
		if (cg && cg_attempt_join(cg) < 0)
			goto fail;
		setpgid(0, 0);
		/* the agent ignores only SIGPIPE and SIGIO; everything else is default */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGIO, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		step = "its standard files";
		int nul = infd > 0 ? infd : open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
			goto fail;
		step = "its working folder";
		if (dir && chdir(dir) < 0)
			goto fail;
		if (sb && sandbox_enter(sb, &step) < 0)
			goto fail;
		/* after the change of user, which clears it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		step = "closing descriptors";
		if (close_range(3, ~0U, 0) < 0)
			goto fail;
		step = "exec";
		execve(argv[0], argv, envp);
	fail:
		spawn_errno = errno;
		spawn_step = step;
		_exit(127);
	}
	int e = pid < 0 ? errno : spawn_errno;
	if (pid > 0 && e) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	errno = e;
	return pid < 0 ? -1 : pid;
}

pid_t spawn_in(const char *dir, char *const argv[], int outfd, const char *owner, const struct spawn_extra *x)
{
	char *mark, *tmp;
	char **envp = spawn_env(owner, x ? x->tmpdir : NULL, x ? x->env : NULL, &mark, &tmp);
	char **full = x && x->sb ? sandbox_env(x->sb, envp) : NULL;
	pid_t pid = spawn_exec(dir, argv, x ? x->stdin_fd : 0, outfd, full ? full : envp, x ? x->cg : NULL, x ? x->sb : NULL);
	int e = errno;
	free(full);
	free(mark);
	free(tmp);
	free(envp);
	errno = e;
	return pid;
}

/* What failed in the last child that could not be started (NULL: exec). */
const char *spawn_failed_step(void) { return spawn_step; }

/* Whether ENV (LEN bytes) is HOTFARM_SLOT=HOST.ANY@KEY: one of our slots'. */
static bool our_mark(const char *env, size_t len)
{
	char head[100], tail[20];
	size_t h = (size_t)snprintf(head, sizeof head, "HOTFARM_SLOT=%s.", agent.host);
	size_t t = (size_t)snprintf(tail, sizeof tail, "@%s", agent.key);
	return len >= h + t && !memcmp(env, head, h) && !memcmp(env + len - t, tail, t);
}

/* What a killed agent of this host and spool left running: processes
 * marked with one of our slots. They would write into folders we are about
 * to reuse. (Another spool's agent of the same name has another key.) */
void kill_leftovers(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int killed = 0;
	while (d && (e = readdir(d))) {
		long pid = atol(e->d_name);
		if (pid <= 1 || pid == (long)getpid())
			continue;
		char path[64], env[65536];
		snprintf(path, sizeof path, "/proc/%ld/environ", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, env, sizeof env - 1);
		close(fd);
		for (ssize_t i = 0; i < len;) {
			size_t one = strnlen(env + i, (size_t)(len - i));
			if (our_mark(env + i, one)) {
				kill((pid_t)pid, SIGKILL);
				killed++;
				break;
			}
			i += (ssize_t)one + 1;
		}
	}
	if (d)
		closedir(d);
	if (killed)
		say("killed %d processes an earlier run of %s left behind", killed, agent.host);
}

/* Where a command lives: looked up in $PATH once per job and program. */
bool find_program(const char *name, char *out, size_t outsize)
{
	if (strchr(name, '/')) {
		snprintf(out, outsize, "%s", name);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char *copy = xstrdup(path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
	bool found = false;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, outsize, "%s/%s", *dir ? dir : ".", name);
		found = access(out, X_OK) == 0;
	}
	free(copy);
	return found;
}

/* Stop the slot's renderer (SIGTERM to its group, SIGKILL after the
 * grace); for a cancel or a stop, its checker too. A desktop's user who
 * came back gets the machine within a second: a grace of 200 ms at most
 * (the frames go back to todo/ whatever the renderer does with it). */
void slot_kill(struct slot *s, enum kill_reason why)
{
	if (!s->job || s->killing)
		return;
	if (kill_gives_back(why)) {
		if (s->check_pid > 0)
			kill(-s->check_pid, SIGKILL);
		if (s->pid <= 0) {
			s->killing = why; /* nothing renders: the checks' end settles it */
			return;
		}
	}
	if (s->pid <= 0)
		return;
	s->killing = why;
	kill(-s->pid, SIGTERM);
	long grace_ms = agent.spool.conf.kill_grace_ms;
	if (why == KILL_NIMBY && grace_ms > 200)
		grace_ms = 200;
	s->kill_at = mono_us() + grace_ms * 1000;
}

/* ---- starting a renderer ------------------------------------------------- */

/* The frames S's next renderer renders, fr[pos..end): a range of
 * consecutive frames with the package's [range] argv, or the one frame. */
static void run_frames(struct slot *s)
{
	struct job *j = s->job;
	s->end = s->pos + 1;
	if (j->pkg->range_argv.n && !j->pkg->no_output)
		while (s->end < s->nfr && s->fr[s->end].st == F_TODO && s->fr[s->end].frame == s->fr[s->end - 1].frame + 1)
			s->end++;
	/* one frame alone: the package's plain argv, its one image (POV-Ray
	 * does not number the file of a one-frame animation) */
	s->range = s->end - s->pos > 1;
}

/* What S's last renderer had goes: its log (kept open to watch it grow;
 * closed), its out/ descriptor, images of it still staged in output/ and
 * not published; its area (folder in work/, sandbox) unless it serves the
 * next (area_release). The run is over, or the next renderer begins. */
void run_release(struct slot *s)
{
	runlog_close(s);
	if (s->logfd >= 0)
		close(s->logfd);
	s->logfd = -1;
	if (s->outfd >= 0)
		close(s->outfd);
	s->outfd = -1;
	if (s->check_out >= 0)
		close(s->check_out);
	s->check_out = -1;
	for (size_t i = 0; s->job && i < s->nfr; i++)
		if (s->fr[i].staged && s->fr[i].st != F_DONE)
			frame_unstage(s, i);
	area_release(s);
}

/* logs/frameFIRST[-LAST].tryATTEMPT.OWNER.log: its name in logs/, and
 * its path for messages */
static void run_log_name(struct slot *s, int attempt)
{
	struct job *j = s->job;
	job_log_name(s->logname, sizeof s->logname, s->fr[s->pos].frame, s->fr[s->end - 1].frame, attempt, s->owner);
	snprintf(s->log, sizeof s->log, "%s/%s/%s", j->path, job_dir_name(JOB_DIR_LOGS), s->logname);
}

/* The package's argv template filled in for S's frames (ARGV), writing
 * into OUTDIR with the job's FILES; false with s->why. */
static bool run_argv(struct slot *s, const char *outdir, const char *files, struct strlist *argv)
{
	struct job *j = s->job;
	const struct run_frame *f = &s->fr[s->pos];
	/* {output}'s extension: the job's format's, or its output name's */
	char ext[16] = ".png";
	const char *dot = strrchr(j->jd->output, '.');
	if (j->jd->format != FORMAT_SCENE)
		snprintf(ext, sizeof ext, "%s", frame_format_ext(j->jd->format));
	else if (dot && strlen(dot) < sizeof ext && !strchr(dot, '/'))
		snprintf(ext, sizeof ext, "%s", dot);
	char output[PATH_MAX], scene[PATH_MAX];
	snprintf(output, sizeof output, "%s/frame%s", outdir, ext);
	snprintf(scene, sizeof scene, "%s/%s", files, j->jd->scene);
	struct render_vars v = {
		.scene = scene, .files = files, .output = output, .outdir = outdir, .job = j->name,
		.frame = f->frame, .first_frame = j->jd->frames[0], .last_frame = j->jd->frames[j->jd->nframes - 1],
		.run_first = f->frame, .run_last = s->fr[s->end - 1].frame,
		.width = j->jd->width, .height = j->jd->height, .args = &j->jd->argv, .format = j->jd->format,
	};
	char err[512];
	if (package_argv(j->pkg, &v, s->range, argv, err, sizeof err) < 0) {
		strlist_free(argv);
		snprintf(s->why, sizeof s->why, "%s", err);
		return false;
	}
	return true;
}

/* The frame's log, opened for the renderer: it starts with what was run
 * (ARGV, escaped), where and when. -1 with s->why. */
static int run_log_open(struct slot *s, const struct strlist *argv, int attempt)
{
	struct job *j = s->job;
	const struct run_frame *f = &s->fr[s->pos];
	int logs = job_subdir_open(j->fd, JOB_DIR_LOGS, false);
	int logfd = logs < 0 ? -1 : open_beneath(logs, s->logname, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	if (logs >= 0)
		close(logs);
	if (logfd < 0) {
		snprintf(s->why, sizeof s->why, "cannot create the frame's log");
		return -1;
	}
	struct buf head = {0};
	char iso[32];
	time_iso(now_us(), iso);
	if (s->end - s->pos > 1)
		buf_printf(&head, "# hotfarm: job %s frames %ld-%ld attempt %d on %s at %s\n# hotfarm: argv:", j->name,
			   f->frame, s->fr[s->end - 1].frame, attempt, s->owner, iso);
	else
		buf_printf(&head, "# hotfarm: job %s frame %ld attempt %d on %s at %s\n# hotfarm: argv:", j->name,
			   f->frame, attempt, s->owner, iso);
	for (size_t i = 0; i < argv->n; i++) {
		char w[600];
		text_escape(argv->v[i], w, sizeof w);
		buf_printf(&head, " [%s]", w);
	}
	buf_printf(&head, "\n");
	if (write(logfd, head.data, head.len) != (ssize_t)head.len)
		warn("unable to write %s: %s", s->log, strerror(errno));
	buf_free(&head);
	return logfd;
}

/* ARGV[0] found in $PATH (looked up once per job and program) and put in
 * its place; false with s->why when it is not installed here. */
static bool run_program(struct slot *s, struct strlist *argv)
{
	struct job *j = s->job;
	if (!j->program_name || strcmp(argv->v[0], j->program_name)) {
		char found[PATH_MAX];
		free(j->program_name);
		free(j->program);
		j->program_name = xstrdup(argv->v[0]);
		j->program = find_program(argv->v[0], found, sizeof found) ? xstrdup(found) : NULL;
	}
	if (!j->program) {
		char w[200];
		text_escape(argv->v[0], w, sizeof w);
		snprintf(s->why, sizeof s->why, "the renderer '%s' is not installed on %s", w, agent.host);
		return false;
	}
	free(argv->v[0]);
	argv->v[0] = xstrdup(j->program);
	return true;
}

/* The render user's ids when the agent runs as root and [agent]
 * render_user names one (looked up once); left as they are otherwise. */
void render_user_ids(uid_t *uid, gid_t *gid)
{
	static bool looked;
	static uid_t u = (uid_t)-1;
	static gid_t g = (gid_t)-1;
	if (!looked && *agent.spool.conf.render_user && geteuid() == 0) {
		struct passwd *pw = getpwnam(agent.spool.conf.render_user);
		if (pw) {
			u = pw->pw_uid;
			g = pw->pw_gid;
		}
	}
	looked = true;
	*uid = u;
	*gid = g;
}

/* Start the renderer for S's frames from s->pos: a range of consecutive
 * frames with the package's [range] argv, or the one frame. False (with
 * s->why) when it could not be started. */
bool run_spawn(struct slot *s)
{
	struct job *j = s->job;
	run_frames(s);
	int attempt = s->tk[s->fr[s->pos].ticket].attempt;
	s->counted = true;
	s->rule = RULE_NONE;
	char outdir[PATH_MAX + 8], tmpdir[PATH_MAX + 8], files[PATH_MAX];
	run_release(s);
	if (!area_folder(s))
		return false;
	snprintf(outdir, sizeof outdir, "%s/%s", s->workdir, attempt_sub_name(ATTEMPT_OUT));
	snprintf(tmpdir, sizeof tmpdir, "%s/%s", s->workdir, attempt_sub_name(ATTEMPT_TMP));
	run_log_name(s, attempt);
	snprintf(files, sizeof files, "%s/%s", j->path, job_dir_name(JOB_DIR_FILES));
	struct strlist argv = {0}, env = {0};
	char err[1024];
	if (env_merge(j->pkg, j->jd, &env, err, sizeof err) < 0) {
		/* intake checked it; a job.ini changed since, or a package */
		snprintf(s->why, sizeof s->why, "%s", err);
		strlist_free(&env);
		return false;
	}
	if (!run_argv(s, outdir, files, &argv)) {
		strlist_free(&env);
		return false;
	}
	int logfd = run_log_open(s, &argv, attempt);
	struct sandbox *sb = NULL;
	if (logfd < 0 || !run_program(s, &argv) ||
	    (agent.spool.conf.confine && !(sb = area_sandbox(s, files)))) {
		if (logfd >= 0)
			close(logfd);
		strlist_free(&argv);
		strlist_free(&env);
		return false;
	}
	if (sb) {
		/* what it may do, first in its log, as hf-confine says it */
		char line[2048];
		int n = snprintf(line, sizeof line, "%s\n", sandbox_said(sb));
		if (write(logfd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1)) < 0)
			warn("unable to write %s: %s", s->log, strerror(errno));
	}
	contain_group(s);
	strlist_take(&argv, NULL);
	s->logfd = logfd;
	int wr = runlog_open(s);
	struct spawn_extra x = {.tmpdir = tmpdir, .sb = sb, .cg = s->has_cg ? &s->cg : NULL, .env = &env};
	s->pid = wr < 0 ? -1 : spawn_in(files, argv.v, wr, s->owner, &x);
	int e = errno;
	if (wr >= 0)
		close(wr);
	argv.n--;
	strlist_free(&argv);
	strlist_free(&env);
	if (s->pid < 0) {
		s->pid = 0;
		const char *step = spawn_failed_step();
		snprintf(s->why, sizeof s->why, "the renderer could not be started%s%s%s: %s", step ? " (" : "",
			 step ? step : "", step ? ")" : "", strerror(e));
		if (s->has_cg)
			contain_exited(s, 0);
		return false;
	}
	s->started = s->frame_started = s->last_progress = mono_us();
	s->cpu_seen = 0;
	s->ticks_user = s->ticks_sys = 0;
	s->queued = 0;
	s->killing = KILL_NONE;
	s->why[0] = 0;
	s->charged = false;
	s->trim = 0;
	/* the slot file says busy once the frame has run for a moment (see
	 * slots_show): a frame of a few ms costs no file writes */
	return true;
}
