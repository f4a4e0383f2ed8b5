/* movie.c - hf-movie: a previews folder's preview.mp4, by ffmpeg (a process of its own) from hf-check's views in frame
 * order. Distrusts the folder: only plain, singly-linked JPEG views are read, by us, and piped to ffmpeg. */
#define _GNU_SOURCE
#include "../layout/jobdesc.h"
#include "../layout/layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A view is a JPEG at most VIEW_MAX_W wide: far below this. ffmpeg gets
 * MOVIE_SECONDS, and a second more for every MOVIE_FPS_MIN frames, before
 * it is stopped; it runs on MOVIE_THREADS threads at MOVIE_NICE. */
enum { VIEW_MAX_BYTES = 32 << 20, MOVIE_SECONDS = 300, MOVIE_FPS_MIN = 20, MOVIE_THREADS = 2, MOVIE_NICE = 10 };
#define FFMPEG_MISSING "no preview movie: ffmpeg is not installed on this host (apt-get install ffmpeg)"

struct view {
	long frame;
	char name[16]; /* viewNNNNNNN.jpg */
};

static const char *folder; /* PREVIEWS_DIR, for messages */
static volatile sig_atomic_t ffmpeg_pid;
static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (ffmpeg_pid > 0)
		kill((pid_t)ffmpeg_pid, SIGKILL);
}

static int view_cmp(const void *a, const void *b)
{
	long x = ((const struct view *)a)->frame, y = ((const struct view *)b)->frame;
	return (x > y) - (x < y);
}

static bool time_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The views in folder DFD, sorted by frame; anything else named like one
 * (a link, a folder) is skipped with a word. *NEWEST: when the last of
 * them was put in place (its ctime: a rename sets it). */
static size_t views_list(int dfd, struct view **out, struct timespec *newest)
{
	DIR *d = dir_open(dfd, ".");
	if (!d)
		die_errno(EXIT_TEMPFAIL, "unable to list %s", folder);
	size_t n = 0, cap = 0;
	*out = NULL;
	*newest = (struct timespec){0, 0};
	struct dirent *e;
	while ((e = readdir(d))) {
		long frame = job_view_frame(e->d_name);
		struct stat st;
		if (frame < 0 || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
			warn("%s/%s skipped: not a plain file", folder, e->d_name);
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		(*out)[n].frame = frame;
		snprintf((*out)[n].name, sizeof (*out)[n].name, "%s", e->d_name);
		n++;
		if (time_before(newest, &st.st_ctim))
			*newest = st.st_ctim;
	}
	closedir(d);
	if (n)
		qsort(*out, n, sizeof **out, view_cmp);
	return n;
}

/* Whether preview.mp4 is newer than every view: its mtime is when the
 * build that made it listed them (movie_build sets it). */
static bool movie_current(int dfd, const struct timespec *newest)
{
	struct stat st;
	return fstatat(dfd, spool_file_name(SPOOL_FILE_MOVIE), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       time_before(newest, &st.st_mtim);
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* View NAME of folder DFD into ffmpeg's stdin OUT: true, or false when
 * ffmpeg stopped reading. One that cannot be read, or is no JPEG, is
 * skipped with a word. */
static bool view_feed(int dfd, const char *name, int out)
{
	struct stat st;
	int fd = fd_regular(open_regular(dfd, name, O_RDONLY), &st);
	if (fd < 0 || st.st_nlink != 1 || st.st_size > VIEW_MAX_BYTES || st.st_size < 4) {
		warn("%s/%s skipped: %s", folder, name, fd < 0 ? strerror(errno) : "not a view's size or a plain file");
		if (fd >= 0)
			close(fd);
		return true;
	}
	size_t len = 0, size = (size_t)st.st_size;
	char *data = xmalloc(size);
	ssize_t r;
	while (len < size && ((r = read(fd, data + len, size - len)) > 0 || (r < 0 && errno == EINTR)))
		len += r > 0 ? (size_t)r : 0;
	close(fd);
	bool ok = true;
	if (len < 4 || memcmp(data, "\xff\xd8\xff", 3))
		warn("%s/%s skipped: not a JPEG image", folder, name);
	else
		ok = write_all(out, data, len);
	free(data);
	return ok;
}

/* ffmpeg's command line: JPEGs on stdin at FPS, H.264 in MP4 at most
 * VIEW_MAX_W wide with both sides even, into the temporary name (in the
 * current folder, the previews folder). */
struct ffmpeg_args {
	char fps[24], threads[24], scale[200];
	const char *argv[40];
};

static void ffmpeg_args_make(struct ffmpeg_args *a, const char *ffmpeg, long fps)
{
	snprintf(a->fps, sizeof a->fps, "%ld", fps);
	snprintf(a->threads, sizeof a->threads, "%d", MOVIE_THREADS);
	snprintf(a->scale, sizeof a->scale,
		 "scale=w='max(2,trunc(min(iw,%d)/2)*2)':h='max(2,trunc(ow*ih/iw/2)*2)',format=yuv420p", VIEW_MAX_W);
	const char *v[] = {ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", a->threads,
			   "-f", "image2pipe", "-c:v", "mjpeg", "-framerate", a->fps, "-i", "-", "-an", "-vf", a->scale,
			   "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
			   "-threads", a->threads, "-movflags", "+faststart", "-f", "mp4", "-y",
			   spool_file_name(SPOOL_FILE_MOVIE_TEMP), NULL};
	_Static_assert(sizeof v <= sizeof a->argv, "room for ffmpeg's arguments");
	memcpy(a->argv, v, sizeof v);
}

/* Start FFMPEG with stdin the pipe IN and stderr ERR: its pid, 0 when
 * there is no such program, -1 with errno. */
static pid_t ffmpeg_start(const char *ffmpeg, long fps, int in, int err)
{
	struct ffmpeg_args args;
	ffmpeg_args_make(&args, ffmpeg, fps);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigset_t none, pipe_only;
	sigemptyset(&none);
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &pipe_only); /* we ignore it; ffmpeg need not */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err, 2);
	pid_t pid;
	int e = (strchr(ffmpeg, '/') ? posix_spawn : posix_spawnp)(&pid, ffmpeg, &fa, &at, (char *const *)args.argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e == ENOENT || e == ENOTDIR)
		return 0;
	errno = e;
	return e ? -1 : pid;
}

/* What ffmpeg said on ERR (its last line), escaped, into OUT. */
static void ffmpeg_said(int err, char *out, size_t outsize)
{
	char text[4096];
	off_t end = lseek(err, 0, SEEK_END);
	off_t from = end > (off_t)sizeof text - 1 ? end - (off_t)sizeof text + 1 : 0;
	ssize_t n = pread(err, text, sizeof text - 1, from);
	text[n > 0 ? n : 0] = 0;
	size_t len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = 0;
	char *last = strrchr(text, '\n');
	text_escape(last ? last + 1 : text, out, outsize);
	if (!*out)
		snprintf(out, outsize, "it said nothing");
}

/* Feed the N views to ffmpeg and wait for it, within the time limit: its
 * wait status, or -1 with WHY. */
static int ffmpeg_run(pid_t pid, int dfd, const struct view *v, size_t n, int in, char *why, size_t whysize)
{
	ffmpeg_pid = pid;
	alarm((unsigned)(MOVIE_SECONDS + n / MOVIE_FPS_MIN));
	bool fed = true;
	for (size_t i = 0; i < n && fed; i++)
		fed = view_feed(dfd, v[i].name, in);
	int write_errno = errno;
	close(in);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "unable to wait for ffmpeg");
	alarm(0);
	ffmpeg_pid = 0;
	if (timed_out)
		snprintf(why, whysize, "ffmpeg took over %zu s and was stopped", MOVIE_SECONDS + n / MOVIE_FPS_MIN);
	else if (!fed && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		snprintf(why, whysize, "unable to feed ffmpeg: %s", strerror(write_errno));
	else
		return status;
	return -1;
}

/* The temporary ffmpeg wrote becomes preview.mp4, stamped with STAMP
 * (when its views were listed). 0, or -1 with WHY. */
static int movie_finish(int dfd, const struct timespec *stamp, char *why, size_t whysize)
{
	struct stat st;
	int fd = fd_regular(open_regular(dfd, spool_file_name(SPOOL_FILE_MOVIE_TEMP), O_RDWR), &st);
	struct timespec times[2] = {{0, UTIME_NOW}, *stamp};
	if (fd < 0 || st.st_size == 0 || st.st_nlink != 1) {
		snprintf(why, whysize, "ffmpeg wrote %s", fd < 0 ? "no file" : "an empty file");
	} else if (futimens(fd, times) < 0 || (sync_writes && fdatasync(fd) < 0)) {
		snprintf(why, whysize, "unable to flush it: %s", strerror(errno));
	} else {
		int closed = close(fd);
		if (closed == 0 && movie_publish(dfd) == 0)
			return 0;
		snprintf(why, whysize, "unable to put it in place: %s", strerror(errno));
		return -1;
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Build preview.mp4 in folder DFD (the current folder) from the N views at
 * FPS frames a second: EXIT_OK, also when FFMPEG is not installed (said),
 * else EXIT_TEMPFAIL with the reason said. */
static int movie_build(int dfd, const struct view *v, size_t n, long fps, const char *ffmpeg,
		       const struct timespec *stamp)
{
	const char *tmp = spool_file_name(SPOOL_FILE_MOVIE_TEMP);
	/* a leftover (a build killed half way) goes; ours is made afresh */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		die_errno(EXIT_TEMPFAIL, "unable to remove %s/%s", folder, tmp);
	int fd = open_beneath(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	int p[2], err = memfd_create("ffmpeg-stderr", MFD_CLOEXEC);
	if (fd < 0 || close(fd) < 0 || err < 0 || pipe2(p, O_CLOEXEC) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to start a movie in %s", folder);
	pid_t pid = ffmpeg_start(ffmpeg, fps, p[0], err);
	close(p[0]);
	char why[700] = "";
	int status = -1;
	if (pid == 0) {
		close(p[1]);
		unlinkat(dfd, tmp, 0);
		say("%s", FFMPEG_MISSING);
		return EXIT_OK;
	}
	if (pid < 0) {
		snprintf(why, sizeof why, "unable to start %s: %s", ffmpeg, strerror(errno));
		close(p[1]);
	} else {
		status = ffmpeg_run(pid, dfd, v, n, p[1], why, sizeof why);
	}
	if (status >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		char said[600];
		ffmpeg_said(err, said, sizeof said);
		snprintf(why, sizeof why, "ffmpeg %s %d: %s", WIFEXITED(status) ? "exited" : "was killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), said);
	} else if (status >= 0 && movie_finish(dfd, stamp, why, sizeof why) == 0) {
		close(err);
		say("%s/%s: %zu frames at %ld fps", folder, spool_file_name(SPOOL_FILE_MOVIE), n, fps);
		return EXIT_OK;
	}
	close(err);
	unlinkat(dfd, tmp, 0);
	warn("no preview movie in %s: %s", folder, why);
	return EXIT_TEMPFAIL;
}

/* [job] fps of the job whose previews folder PATH is (beneath AT): the
 * folder above it holds its job.ini. 24 when there is none. */
static long job_fps(int at, const char *path)
{
	const char *base;
	int jfd = dir_walk_parent(at, path, false, &base);
	long fps = 24;
	struct stat st;
	if (jfd >= 0 && fstatat(jfd, job_file_name(JOB_FILE_DESC), &st, AT_SYMLINK_NOFOLLOW) == 0) {
		struct job_desc jd;
		char err[512];
		if (job_desc_load(jfd, &jd, err, sizeof err) == 0) {
			fps = jd.fps;
			job_desc_free(&jd);
		} else {
			warn("%s: the job's fps is not known (%s); 24 it is", folder, err);
		}
	}
	if (jfd >= 0)
		close(jfd);
	return fps;
}

static _Noreturn void usage(int code)
{
	char view[32];
	job_view_name(view, sizeof view, 1);
	fprintf(code ? stderr : stdout,
		"usage: hf-movie --at SPOOL [--fps N] [--ffmpeg PATH] PREVIEWS_DIR\n"
		"Build PREVIEWS_DIR/%s (H.264, at most %d px wide) from the views in it\n"
		"(%s) in frame order, when one is newer than the movie.\n"
		"  --at SPOOL     PREVIEWS_DIR is beneath SPOOL, resolved through no link\n"
		"  --fps N        frames a second (default: the job's [job] fps, else 24)\n"
		"  --ffmpeg PATH  the ffmpeg to run (default $HOTFARM_FFMPEG, else ffmpeg)\n"
		"One build per folder at a time: when another runs, exit 0 at once. Without\n"
		"ffmpeg there is no movie: one line says so, exit 0.\n"
		"Exit: 0 built, up to date, or nothing to do; 100 usage; 111 it failed (said why).\n",
		spool_file_name(SPOOL_FILE_MOVIE), VIEW_MAX_W, view);
	exit(code);
}

int main(int argc, char **argv)
{
	msg_init("hf-movie");
	spooler_start();
	static const struct option options[] = {{"at", required_argument, NULL, 'a'},
						{"fps", required_argument, NULL, 'f'},
						{"ffmpeg", required_argument, NULL, 'F'},
						{"help", no_argument, NULL, 'h'},
						{NULL, 0, NULL, 0}};
	const char *spool = NULL, *ffmpeg = getenv("HOTFARM_FFMPEG");
	long fps = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		if (c == 'a')
			spool = optarg;
		else if (c == 'f' && parse_long(optarg, 1, 240, &fps))
			continue;
		else if (c == 'F')
			ffmpeg = optarg;
		else
			usage(c == 'h' ? EXIT_OK : EXIT_BADINPUT);
	}
	if (!spool || argc - optind != 1 || !path_is_inside(argv[optind]))
		usage(EXIT_BADINPUT);
	if (!ffmpeg || !*ffmpeg)
		ffmpeg = "ffmpeg";
	folder = argv[optind];
	int at = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dfd = at < 0 ? -1 : open_beneath(at, folder, O_RDONLY | O_DIRECTORY, 0);
	if (dfd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open %s in %s", folder, spool);
	int lock = lock_open(dfd, spool_file_name(SPOOL_FILE_MOVIE_LOCK), 0);
	if (lock < 0 && errno == ETIMEDOUT)
		return EXIT_OK; /* another build runs: it, or the next, sees what we would */
	if (lock < 0)
		die_errno(EXIT_TEMPFAIL, "unable to lock %s/%s", folder, spool_file_name(SPOOL_FILE_MOVIE_LOCK));
	/* what a view put in place after this moment (its ctime) is newer
	 * than the movie; a second of margin for a server's clock */
	struct timespec stamp;
	clock_gettime(CLOCK_REALTIME_COARSE, &stamp);
	stamp.tv_sec -= 1;
	struct view *views;
	struct timespec newest;
	size_t n = views_list(dfd, &views, &newest);
	int code = EXIT_OK;
	if (n && !movie_current(dfd, &newest)) {
		if (!fps)
			fps = job_fps(at, folder);
		signal(SIGPIPE, SIG_IGN);
		struct sigaction sa = {.sa_handler = on_alarm};
		sigaction(SIGALRM, &sa, NULL);
		setpriority(PRIO_PROCESS, 0, MOVIE_NICE); /* ffmpeg inherits it */
		if (fchdir(dfd) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to enter %s", folder);
		code = movie_build(dfd, views, n, fps, ffmpeg, &stamp);
	}
	free(views);
	close(lock);
	close(dfd);
	close(at);
	return code;
}
