/* siterender.c - re-rendering a job where its data already is: the sender
 * asks the linked site that rendered it for some frames again (a small
 * request), and that site says when it no longer holds the job. */
#define _GNU_SOURCE
#include "site.h"
#include "ini.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool site_rendered_at(const struct spool *sp, int jobfd, char peer[SITE_NAME_MAX + 1])
{
	char err[256];
	struct ini *o = job_file_ini(jobfd, JOB_FILE_OUTSOURCED, err, sizeof err);
	const char *to = o ? ini_get(o, "outsourced", "site") : NULL;
	bool ok = to && site_link_find(sp, to) && strlen(to) <= SITE_NAME_MAX;
	if (ok)
		snprintf(peer, SITE_NAME_MAX + 1, "%s", to);
	ini_free(o);
	return ok;
}

/* The frames rerender.want holds (a frame list, checked), into OUT. */
static bool wanted(int jobfd, char *out, size_t outsize)
{
	size_t len;
	char *t = job_file_read(jobfd, JOB_FILE_RERENDER, 1024, &len);
	if (!t)
		return false;
	t[strcspn(t, "\n")] = 0;
	long *frames = NULL;
	size_t n = 0;
	char err[200];
	bool ok = frames_parse(t, 100000, &frames, &n, err, sizeof err) == 0;
	free(frames);
	if (ok)
		snprintf(out, outsize, "%s", t);
	free(t);
	return ok;
}

bool site_rerender_wanted(int jobfd, char *frames, size_t size) { return wanted(jobfd, frames, size); }

int site_ask_rerender(const struct spool *sp, const char *id)
{
	int jfd = job_dir_open(sp, id);
	if (jfd < 0)
		return -1;
	char peer[SITE_NAME_MAX + 1], frames[1024];
	struct stat st;
	int rc = 1;
	if (job_file_stat(jfd, JOB_FILE_RERENDER_SENT, &st) < 0 && wanted(jfd, frames, sizeof frames) &&
	    site_rendered_at(sp, jfd, peer)) {
		struct buf b = {0};
		char q[1100], name[JOBID_MAX_LEN + 16];
		buf_printf(&b, "[rerender]\nsite = %s\njob = %s\nframes = %s\n", sp->conf.name, id,
			   ini_quote(frames, q, sizeof q));
		snprintf(name, sizeof name, "%s%s", id, SITE_RERENDER);
		rc = site_out_write(sp, peer, name, b.data, b.len);
		if (rc == 0)
			rc = job_file_write(jfd, JOB_FILE_RERENDER_SENT, frames, strlen(frames));
		buf_free(&b);
	}
	int e = errno;
	close(jfd);
	errno = e;
	return rc;
}

int site_answer_missing(const struct spool *sp, const char *peer, const char *origin)
{
	struct buf b = {0};
	char name[JOBID_MAX_LEN + 16];
	buf_printf(&b, "[missing]\nsite = %s\njob = %s\n", sp->conf.name, origin);
	snprintf(name, sizeof name, "%s%s", origin, SITE_MISSING);
	int rc = site_out_write(sp, peer, name, b.data, b.len);
	buf_free(&b);
	return rc;
}

void site_rerender_done(int jobfd)
{
	job_file_remove(jobfd, JOB_FILE_RERENDER_SENT);
	job_file_remove(jobfd, JOB_FILE_RERENDER);
}
