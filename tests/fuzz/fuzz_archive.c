/* fuzz_archive.c - libFuzzer target: an archive a user drops into inbox/.
 * It runs intake's own code (spoolers/intake.c is included, its main
 * renamed) on a throwaway spool made at start-up: the look for an embedded
 * job.ini, the unpacking with every hostile-entry check into work/, and,
 * for an archive that holds a job (its own job.ini, or scene.pov when it
 * came with a description), the job checks and the job folder intake
 * builds. The job.ini it writes must read back as route and the agents read
 * it. Nothing may land outside the work folder, which goes after each run,
 * and nothing may stay open. */
#define main hf_intake_main
int hf_intake_main(int argc, char **argv);
#include "../../spoolers/intake.c"
#undef main

#include <stdint.h>
#include <sys/mman.h>
#include "../../layout/store.h"
#include "fuzzspool.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int home = -1; /* where libFuzzer was started: extract() leaves it */
/* an archive dropped with NAME.ini: this is the description */
static const char described[] = "[job]\nframes = 1-3\n[render]\nscene = scene.pov\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_archive");
	home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* small limits: every limit is reached often, and a run stays cheap */
	fuzz_spool("fuzz-archive", &sp,
		   "[site]\nname = fuzz\nfsync = no\n"
		   "[intake]\nmax_bytes = 1M\nmax_entries = 200\nmax_frames = 100\n");
	/* the store, as the first job's intake makes it (its files are shared) */
	int store = store_open(&sp, true);
	if (home < 0 || store < 0)
		abort();
	close(store);
	if (home < 0)
		abort();
	return 0;
}

/* The job folder intake built must read as the readers downstream read
 * it (route, the agents, watcherd): ini_load and job_desc_parse. */
static void check_written(const struct job_desc *jd)
{
	char err[1024] = "";
	const char *desc = job_file_name(JOB_FILE_DESC);
	int job = stage_open(SPOOL_FILE_STAGE_JOB, false);
	struct ini *ini = job < 0 ? NULL : job_file_ini(job, JOB_FILE_DESC, err, sizeof err);
	if (job >= 0)
		close(job);
	struct job_desc back;
	if (!ini || job_desc_parse(ini, desc, sp.conf.max_frames, &back, err, sizeof err) < 0) {
		fprintf(stderr, "the job.ini intake wrote does not read back: %s\n", err);
		abort();
	}
	if (back.nframes != jd->nframes || strcmp(back.scene, jd->scene) || strcmp(back.output, jd->output)) {
		fprintf(stderr, "the job.ini intake wrote reads as another job (scene '%s', not '%s')\n", back.scene,
			jd->scene);
		abort();
	}
	job_desc_free(&back);
	ini_free(ini);
}

/* What must be as it was after each run: the descriptors open (the harness
 * runs many intakes in one process; intake holds its work lock, archive
 * and folders only while it works on them), an empty work/ and nothing new
 * beside it in the spool (where an entry climbing out of the job would
 * land). */
static void check_left(int fds, int names)
{
	if (count_names(AT_FDCWD, "/proc/self/fd") != fds) {
		fprintf(stderr, "intake left %d descriptors open\n", count_names(AT_FDCWD, "/proc/self/fd") - fds);
		abort();
	}
	if (count_names(spool_fd(&sp, DIR_WORK), ".") != 2 || count_names(sp.root, ".") != names) {
		fprintf(stderr, "intake left something in work/ or in the spool\n");
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds = count_names(AT_FDCWD, "/proc/self/fd"), names = count_names(sp.root, ".");
	/* one archive, dropped alone, arrived by rename */
	memset(drop, 0, sizeof drop);
	int fd = memfd_create("fuzz.tar", MFD_CLOEXEC);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || fstat(fd, &drop[0].st) < 0) {
		perror("memfd");
		abort();
	}
	snprintf(drop[0].name, sizeof drop[0].name, "fuzz.tar");
	snprintf(drop[0].shown, sizeof drop[0].shown, "fuzz.tar");
	drop[0].fd = fd;
	ndrop = 1;
	archive_drop = &drop[0];
	ini_drop = NULL;
	landed = true;
	snprintf(stem, sizeof stem, "fuzz");
	embedded_dir[0] = 0;
	reason[0] = 0;

	struct ini *ini = NULL;
	struct job_desc jd;
	memset(&jd, 0, sizeof jd);
	bool embedded = probe_embedded() == OK;
	work_create();
	enum verdict v = extract();
	if (v == OK && embedded) {
		char path[1100], shown[600];
		embedded_ini_path(path, sizeof path);
		snprintf(shown, sizeof shown, "fuzz.tar:%s", job_file_name(JOB_FILE_DESC));
		int files = stage_open(SPOOL_FILE_STAGE_JOB, true);
		if (files < 0)
			abort();
		v = parse_description(&ini, &jd, shown, files, path, -1);
		close(files);
	} else if (v == OK) {
		char err[1024];
		ini = ini_parse(described, sizeof described - 1, "fuzz.ini", err, sizeof err);
		if (!ini || job_desc_parse(ini, "fuzz.ini", sp.conf.max_frames, &jd, err, sizeof err) < 0)
			abort();
	}
	if (v == OK)
		v = check_job(&jd, "fuzz.tar");
	if (v == OK) {
		struct job_owner owner = {.user = "fuzz", .uid = -1, .by = "submitter"};
		build_job(&jd, &owner, stem, now_us(), NULL);
		check_written(&jd);
	}
	job_desc_free(&jd);
	ini_free(ini);
	work_remove();
	strlist_free(&warnings);
	strlist_free(&extracted);
	/* work_remove closed the dropped file */
	if (fchdir(home) < 0)
		abort();
	check_left(fds, names);
	return 0;
}
