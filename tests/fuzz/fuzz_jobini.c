/* fuzz_jobini.c - libFuzzer target: a job.ini as a user drops it. The bytes
 * go into a file and through the path intake takes (ini_load: the guard in
 * front of iniparser; job_desc_parse; job_desc_format). What intake writes
 * is read back by route, the agents and watcherd: an accepted description's
 * normalised text must parse again, to the same job. */
#define _GNU_SOURCE
#include "../../layout/ini.h"
#include "../../layout/jobdesc.h"
#include "../../layout/layout.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char tmp[4096];
static int tmp_fd = -1;
static long max_frames = 100000; /* conf/hotfarm.ini's default */

static void cleanup(void)
{
	if (tmp_fd >= 0)
		unlinkat(tmp_fd, job_file_name(JOB_FILE_DESC), 0);
	rmdir(tmp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *t = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/hf-fuzz-jobini.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmp) || (tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		perror(tmp);
		abort();
	}
	atexit(cleanup);
	sync_writes = false; /* a throwaway file: no fsync per input */
	return 0;
}

/* The normalised text must mean the same job: parse it again and compare
 * what it formats to. */
static void check_round_trip(const struct buf *text, long nframes)
{
	char err[1024];
	struct ini *again = ini_parse(text->data, text->len, "job.ini", err, sizeof err);
	if (!again) {
		fprintf(stderr, "the normalised job.ini does not load: %s\n---\n%s---\n", err, text->data);
		abort();
	}
	struct job_desc jd;
	if (job_desc_parse(again, "job.ini", max_frames, &jd, err, sizeof err) < 0) {
		fprintf(stderr, "the normalised job.ini is refused: %s\n---\n%s---\n", err, text->data);
		abort();
	}
	struct buf b = {0};
	job_desc_format(&jd, &b);
	if (b.len != text->len || memcmp(b.data, text->data, b.len) || (long)jd.nframes != nframes) {
		fprintf(stderr, "the normalised job.ini reads as another job:\n---\n%s---\n%s---\n", text->data,
			b.data);
		abort();
	}
	buf_free(&b);
	job_desc_free(&jd);
	ini_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (file_write_atomic(tmp_fd, job_file_name(JOB_FILE_DESC), (const char *)data, size, 0644) < 0) {
		perror("job.ini");
		abort();
	}
	char err[1024];
	struct ini *ini = ini_load(tmp_fd, job_file_name(JOB_FILE_DESC), job_file_name(JOB_FILE_DESC), err, sizeof err);
	if (!ini)
		return 0;
	struct job_desc jd;
	if (job_desc_parse(ini, "job.ini", max_frames, &jd, err, sizeof err) == 0) {
		struct buf b = {0};
		job_desc_format(&jd, &b);
		check_round_trip(&b, (long)jd.nframes);
		buf_free(&b);
		job_desc_free(&jd);
	}
	ini_free(ini);
	return 0;
}
