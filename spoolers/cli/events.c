/* events.c - hotfarm events: the farm's event stream (run/events.jsonl and
 * the files rotated from it) printed as it is, one JSON object a line, and
 * followed with inotify. Distrusts the files: only well-formed lines pass. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static void events_print(const char *line, size_t len, void *arg)
{
	(void)arg;
	fwrite(line, 1, len, stdout);
	putchar('\n');
}

/* Dies with what a failed read of the stream means for the person asking. */
static _Noreturn void events_unreadable(void)
{
	const char *run = spool_dir_name(DIR_RUN), *log = spool_file_name(SPOOL_FILE_EVENTS);
	if (errno == EACCES || errno == EPERM)
		die(EXIT_TEMPFAIL,
		    "unable to read %s/%s: %s; it is readable by the farm's user and the admins group ([site] admins)",
		    run, log, strerror(errno));
	if (errno == EINVAL || errno == ELOOP)
		die(EXIT_TEMPFAIL, "unable to read %s/%s: it is not a regular file", run, log);
	die_errno(EXIT_TEMPFAIL, "unable to read %s/%s", run, log);
}

static void events_flush(void)
{
	if (fflush(stdout) == EOF)
		die_errno(EXIT_TEMPFAIL, "unable to write");
}

/* Watch R's file for growth (its old watch WD let go): the new watch. A
 * change after the watch is made wakes us; one before it is read next. */
static int watch_file(int in, int wd, const struct events_reader *r)
{
	if (wd >= 0)
		inotify_rm_watch(in, wd);
	if (r->fd < 0)
		return -1;
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", r->fd);
	wd = inotify_add_watch(in, path, IN_MODIFY);
	if (wd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to watch %s/%s", spool_dir_name(DIR_RUN), spool_file_name(SPOOL_FILE_EVENTS));
	return wd;
}

/* Read on as lines come, for ever: woken by inotify (run/ for a rotation
 * or a log made, the log for growth), never by a timer. */
static _Noreturn void events_follow(struct cli *cli, struct events_reader *r)
{
	int in = inotify_init1(IN_CLOEXEC);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", spool_fd(&cli->sp, DIR_RUN));
	if (in < 0 || inotify_add_watch(in, path, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_ONLYDIR) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to watch %s/", spool_dir_name(DIR_RUN));
	int wd = -1;
	dev_t dev = 0;
	ino_t ino = 0;
	for (;;) {
		if (events_read(&cli->sp, r) < 0)
			events_unreadable();
		events_flush();
		if (r->fd >= 0 && (wd < 0 || r->dev != dev || r->ino != ino)) {
			wd = watch_file(in, wd, r);
			dev = r->dev, ino = r->ino;
			continue; /* what came before the watch */
		}
		char buf[4096];
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno != EINTR)
			die_errno(EXIT_TEMPFAIL, "unable to read inotify events");
	}
}

int cmd_events(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		die(EXIT_BADINPUT, "usage: hotfarm events [--follow] [--job NAME] [--since SEQ]");
	struct events_reader r = {.job = cli_option(cli, "--job"), .each = events_print, .fd = -1};
	const char *since = cli_option(cli, "--since");
	if (r.job && !job_id_valid(r.job)) {
		char typed[200];
		text_escape(r.job, typed, sizeof typed);
		die(EXIT_BADINPUT, "'%s' is not a job name", typed);
	}
	long seq = 0;
	if (since && !parse_long(since, 0, 1L << 60, &seq)) {
		char typed[200];
		text_escape(since, typed, sizeof typed);
		die(EXIT_BADINPUT, "--since takes an event's number (its \"seq\"), not '%s'", typed);
	}
	r.since = seq;
	if (cli_option(cli, "--follow"))
		events_follow(cli, &r);
	if (events_read(&cli->sp, &r) < 0)
		events_unreadable();
	events_flush();
	if (r.skipped > 0)
		warn("%ld malformed line%s of %s/%s passed over", r.skipped, r.skipped == 1 ? "" : "s",
		     spool_dir_name(DIR_RUN), spool_file_name(SPOOL_FILE_EVENTS));
	return EXIT_OK;
}
