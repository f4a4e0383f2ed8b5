/* cancel.c - hf-cancel: cancel the job a request dropped into cancel/ names
 * (with or without an extension; a site it was sent to is told), then remove
 * the request. Distrusts the request's name: checked as a job's name first. */
#define _GNU_SOURCE
#include "../layout/site.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct spool sp;

/* Cancel job NAME: 0, or -1 when there is no such job. */
static int cancel_job(const char *name)
{
	return job_cancel_say(&sp, name, "cancelled by a user (a file in cancel/)");
}

/* The request cancel/FILE. An unknown name is kept until the orphan grace
 * has passed (EXIT_WAIT): its job may still be arriving. */
static int cancel_request(const char *file)
{
	int cfd = spool_fd(&sp, DIR_CANCEL);
	struct stat st;
	char shown[600];
	text_escape(file, shown, sizeof shown);
	if (strchr(file, '/') || file[0] == '.' || fstatat(cfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		die(EXIT_BADINPUT, "no request cancel/%s", shown);
	char name[NAME_MAX_LEN + 1] = "";
	if (name_is_valid(file) && strlen(file) <= NAME_MAX_LEN)
		snprintf(name, sizeof name, "%s", file);
	int rc = -1;
	if (*name)
		rc = cancel_job(name);
	if (rc < 0) {
		char stem[256];
		snprintf(stem, sizeof stem, "%s", file);
		char *dot = strrchr(stem, '.');
		if (dot)
			*dot = 0;
		if (name_is_valid(stem) && strlen(stem) <= NAME_MAX_LEN)
			rc = cancel_job(stem);
	}
	if (rc < 0 && now_us() / 1000000 - st.st_mtim.tv_sec < sp.conf.orphan_grace)
		return EXIT_WAIT;
	if (rc < 0)
		warn("cancel/%s names no job; the request is removed", shown);
	if (S_ISDIR(st.st_mode) ? tree_remove(cfd, file) : unlinkat(cfd, file, 0))
		if (errno != ENOENT)
			die_errno(EXIT_TEMPFAIL, "unable to remove cancel/%s", shown);
	return rc < 0 ? EXIT_BADINPUT : EXIT_OK;
}

int main(int argc, char **argv)
{
	int first = spooler_main(argc, argv, "hf-cancel",
				  "usage: hf-cancel --spool DIR [--] FILE\n"
				  "Act on the request cancel/FILE: cancel the job it names (FILE, or FILE\n"
				  "without its extension), then remove the request. One that names no job\n"
				  "yet is kept for [intake] orphan_grace (exit 101: ask again later).\n",
				  &sp);
	if (first != argc - 1)
		die(EXIT_BADINPUT, "usage: hf-cancel --spool DIR [--] FILE");
	int rc = cancel_request(argv[first]);
	spool_close(&sp);
	return rc;
}
