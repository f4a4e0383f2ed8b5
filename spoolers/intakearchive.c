/* intakearchive.c - hf-intake's dropped archive: the look for a job.ini it carries, its unpacking into the work
 * folder with this site's limits, the size and digest its description gives, and the scene being in it. */
#define _GNU_SOURCE
#include "../layout/env.h"
#include "../layout/package.h"
#include "../layout/unpack.h"
#include "intake.h"
#include "intakedrop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a dropped archive may be and hold: every format the farm promises,
 * links that stay inside, up to this site's limits. */
static struct unpack_rules job_rules(void)
{
	return (struct unpack_rules){.shown = archive_drop->shown,
				     .flags = UNPACK_JOB_FORMATS | UNPACK_LINKS | UNPACK_KEEP_TIMES,
				     .max_entries = sp.conf.max_entries,
				     .max_bytes = sp.conf.max_bytes};
}

/* Where the description sits in an archive that carries its own:
 * job.ini at the top, or in the one folder that holds everything. */
char embedded_dir[1024];

static bool is_embedded_ini(const char *path)
{
	const char *ini = job_file_name(JOB_FILE_DESC);
	if (!strcmp(path, ini))
		return true;
	const char *slash = strchr(path, '/');
	return slash && !strchr(slash + 1, '/') && !strcmp(slash + 1, ini);
}

/* The embedded description's path below work/in.X/job/files. */
void embedded_ini_path(char *out, size_t outsize)
{
	snprintf(out, outsize, "%s%s%s", embedded_dir, *embedded_dir ? "/" : "", job_file_name(JOB_FILE_DESC));
}

/* Pass one sees each entry's path here: a job.ini at the top ends the
 * look; one in a folder is noted, and the look goes on. */
static bool embedded_visit(const char *path, mode_t type, void *arg)
{
	bool *found = arg;
	if (!is_embedded_ini(path) || type != S_IFREG)
		return true;
	*found = true;
	const char *slash = strrchr(path, '/');
	if (!slash)
		return false;
	snprintf(embedded_dir, sizeof embedded_dir, "%.*s", (int)(slash - path), path);
	return true;
}

/* Pass one for an archive dropped alone: does it carry job.ini? Reads
 * headers only and stops at the first job.ini at the top. */
enum verdict probe_embedded(void)
{
	struct unpack_rules rules = job_rules();
	bool found = false;
	enum verdict v = OK;
	char why[1024];
	enum unpack_result r = unpack_scan(archive_drop->fd, &rules, embedded_visit, &found, why, sizeof why);
	if (r == UNPACK_FAILED)
		die(EXIT_TEMPFAIL, "%s", why);
	if (r == UNPACK_DAMAGED && !found)
		v = maybe_incomplete(archive_drop, "%s", why);
	else if (!found) {
		/* Its description may be on its way (careful writers drop the
		 * archive first): wait for it until the orphan grace is over. */
		char ini[300];
		snprintf(ini, sizeof ini, "%s.ini", stem);
		v = reject_as("incomplete", "%s holds no job.ini at its top, and no description %s.ini arrived next to it within %ld s",
			   archive_drop->shown, stem, sp.conf.orphan_grace);
		if (age_seconds(&archive_drop->st) < sp.conf.orphan_grace ||
		    faccessat(spool_fd(&sp, DIR_INBOX), ini, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			v = WAIT;
	}
	return v;
}

/* Pass two: unpack into work/.../job/files, every entry checked. */
enum verdict extract(void)
{
	int files = stage_open(SPOOL_FILE_STAGE_JOB, true);
	if (files < 0)
		die_errno(EXIT_TEMPFAIL, "unable to enter work/%s/%s/%s", work_name, spool_file_name(SPOOL_FILE_STAGE_JOB),
			  job_dir_name(JOB_DIR_FILES));
	struct unpack_rules rules = job_rules();
	struct unpack_report out = {.warnings = &warnings};
	enum unpack_result r = unpack_archive(archive_drop->fd, files, &rules, &out);
	close(files);
	extracted = out.files;
	switch (r) {
	case UNPACK_OK:
		return OK;
	case UNPACK_DAMAGED:
		return maybe_incomplete(archive_drop, "%s", out.why);
	case UNPACK_NO_SPACE:
		return reject_as("disk", "%s; ask an admin to free space, then drop it again", out.why);
	case UNPACK_FAILED:
		die(EXIT_TEMPFAIL, "%s", out.why);
	case UNPACK_REFUSED:
		break;
	}
	return reject_as("archive", "%s", out.why);
}

enum verdict check_digest(const struct job_desc *jd)
{
	if (jd->archive_size && (unsigned long long)archive_drop->st.st_size != jd->archive_size) {
		if ((unsigned long long)archive_drop->st.st_size < jd->archive_size)
			return maybe_incomplete(archive_drop, "%s is %lld bytes, smaller than the %llu its description gives",
						archive_drop->shown, (long long)archive_drop->st.st_size,
						jd->archive_size);
		return reject_as("archive", "%s is %lld bytes, larger than the %llu its description gives", archive_drop->shown,
			      (long long)archive_drop->st.st_size, jd->archive_size);
	}
	if (!*jd->archive_sha256)
		return OK;
	char hex[65];
	if (lseek(archive_drop->fd, 0, SEEK_SET) < 0)
		die_errno(EXIT_TEMPFAIL, "lseek");
	if (sha256_fd(archive_drop->fd, hex) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to read inbox/%s", archive_drop->shown);
	if (strcmp(hex, jd->archive_sha256))
		return maybe_incomplete(archive_drop, "%s does not match the sha256 its description gives (it is %s)",
					archive_drop->shown, hex);
	landed = true; /* proven complete */
	return OK;
}

/* The description against what the drop holds: a package this site has,
 * a format it writes, a scene that is in the files. */
enum verdict check_job(struct job_desc *jd, const char *inishown)
{
	if (!package_exists(spool_fd(&sp, DIR_CONF), jd->package)) {
		char file[128];
		package_file_relpath(jd->package, file, sizeof file);
		return reject("%s: package '%s' is unknown on this farm (there is no %s)", inishown, jd->package, file);
	}
	struct package pkg;
	char perr[512];
	/* (a package that does not read is the admin's to mend: the agents
	 * check again before each run) */
	if ((jd->format != FORMAT_SCENE || jd->env_names.n) &&
	    package_load(spool_fd(&sp, DIR_CONF), jd->package, &pkg, perr, sizeof perr) == 0) {
		bool writes = package_writes(&pkg, jd->format);
		char can[200], eerr[1024];
		package_format_list(&pkg, can, sizeof can);
		int env_ok = env_job_allowed(&pkg, &jd->env_names, inishown, eerr, sizeof eerr);
		package_free(&pkg);
		if (!writes)
			return reject("%s: package %s cannot write format %s; it writes %s", inishown, jd->package,
				      frame_format_name(jd->format), can);
		if (env_ok < 0)
			return reject("%s", eerr);
	}
	if (*embedded_dir) {
		char full[2048], err[1024];
		snprintf(full, sizeof full, "%s/%s", embedded_dir, jd->scene);
		snprintf(jd->scene, sizeof jd->scene, "%s", full);
		/* the longer scene must still fit job.ini's line (a path cut
		 * at sizeof jd->scene does not) */
		if (job_desc_check(jd, NULL, inishown, err, sizeof err) < 0)
			return reject("%s", err);
	}
	/* the scene may be a link that stays inside the archive */
	int files = stage_open(SPOOL_FILE_STAGE_JOB, true);
	bool ok = files >= 0 && unpack_has_file(files, jd->scene);
	if (files >= 0)
		close(files);
	if (!ok) {
		char s[1100];
		text_escape(jd->scene, s, sizeof s);
		struct buf held = {0};
		for (size_t i = 0; i < extracted.n && i < 6; i++)
			buf_printf(&held, "%s%s", i ? ", " : "", i == 5 ? "..." : extracted.v[i]);
		char h[600];
		text_escape(held.data ? held.data : "nothing", h, sizeof h);
		buf_free(&held);
		return reject("%s: the scene '%s' is not in the archive (it holds: %s)", inishown, s, h);
	}
	return OK;
}
