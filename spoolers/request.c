/* request.c - hf-request: carry out one steering request an artist dropped
 * (requests/FILE, or cancel/NAME) when its owner may steer that job: the
 * job's owner or an admin. Answers into answers/, records it in the audit log. */
#define _GNU_SOURCE
#include "../layout/access.h"
#include "../layout/audit.h"
#include "../layout/steer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct spool sp;

/* cancel/NAME or cancel/NAME.ext: the job NAME, when either is one. */
static void cancel_target(struct steer_request *r)
{
	char entry[ENTRY_MAX_LEN], stem[sizeof r->job];
	if (job_id_valid(r->job) && job_find(&sp, r->job, entry) != STATE_NONE)
		return;
	snprintf(stem, sizeof stem, "%s", r->job);
	char *dot = strrchr(stem, '.');
	if (dot)
		*dot = 0;
	if (job_id_valid(stem) && job_find(&sp, stem, entry) != STATE_NONE)
		snprintf(r->job, sizeof r->job, "%s", stem);
}

/* Judge and carry out request R; its outcome in MSG. */
static int judge(struct steer_request *r, const char *who, char *msg, size_t msgsize)
{
	char entry[ENTRY_MAX_LEN], shown[200];
	text_escape(r->job, shown, sizeof shown);
	if (!job_id_valid(r->job) || job_find(&sp, r->job, entry) == STATE_NONE) {
		snprintf(msg, msgsize, "no job named %s here: a request for a job that is not here (yet) is refused, not kept",
			 shown);
		return EXIT_BADINPUT;
	}
	if (!may_steer(&sp, r->uid, r->job, msg, msgsize))
		return EXIT_BADINPUT;
	return steer_do(&sp, r->action, r->job, r->value, r->frames, who, msg, msgsize);
}

static int request(enum spool_dir dir, const char *file)
{
	struct steer_request r;
	char msg[1024], who[128], shown[300];
	text_escape(file, shown, sizeof shown);
	int rc;
	if (request_read(&sp, dir, file, &r, msg, sizeof msg) < 0) {
		if (errno == ENOENT || !strncmp(msg, "no request", 10))
			return EXIT_OK; /* taken already */
		rc = EXIT_BADINPUT;
	} else {
		if (dir == DIR_CANCEL)
			cancel_target(&r);
		user_name(r.uid, who, sizeof who);
		rc = judge(&r, who, msg, sizeof msg);
	}
	const char *result = rc == EXIT_OK ? "done" : rc == EXIT_BADINPUT ? "refused" : "failed";
	if (rc == EXIT_TEMPFAIL) {
		/* kept: watcherd asks again */
		warn("%s/%s: %s", spool_dir_name(dir), shown, msg);
		return rc;
	}
	audit_record(&sp, r.uid, *r.job ? steer_action_name(r.action) : "request", r.job, result, msg);
	if (dir == DIR_REQUESTS && answer_write(&sp, file, rc, msg) < 0)
		warn("unable to answer request %s: %s", shown, strerror(errno));
	if (rc == EXIT_OK)
		sayj(r.job, -1, "%s (%s/%s)", msg, spool_dir_name(dir), shown);
	else
		warnj(r.job, -1, "%s/%s refused: %s", spool_dir_name(dir), shown, msg);
	if (request_remove(&sp, dir, file) < 0 && errno != ENOENT)
		die_errno(EXIT_TEMPFAIL, "unable to remove %s/%s", spool_dir_name(dir), shown);
	answers_expire(&sp, 3600);
	return rc;
}

int main(int argc, char **argv)
{
	const char *usage = "usage: hf-request --spool DIR requests|cancel [--] FILE\n"
			    "Carry out request requests/FILE (or cancel/FILE: cancel the job FILE names, with\n"
			    "or without an extension) when its owner owns the job or is an admin ([site]\n"
			    "admins); answer into answers/FILE, record it in the audit log and remove the\n"
			    "request. Exit 0 done, 100 refused, 111 try again later.\n";
	int first = spooler_main(argc, argv, "hf-request", usage, &sp);
	enum spool_dir dir = DIR_COUNT;
	if (first < argc && !strcmp(argv[first], spool_dir_name(DIR_REQUESTS)))
		dir = DIR_REQUESTS;
	else if (first < argc && !strcmp(argv[first], spool_dir_name(DIR_CANCEL)))
		dir = DIR_CANCEL;
	first++;
	if (first < argc && !strcmp(argv[first], "--"))
		first++;
	if (dir == DIR_COUNT || first != argc - 1) {
		fputs(usage, stderr);
		return EXIT_BADINPUT;
	}
	int rc = request(dir, argv[first]);
	spool_close(&sp);
	return rc;
}
