/* preset.c - conf/presets/NAME.ini read and checked, the inbox/NAME/ folders made and opened without
 * following links, and a drop's description merged from the preset, its own job.ini and its scene. */
#define _GNU_SOURCE
#include "preset.h"
#include "ini.h"
#include "jobdesc.h"
#include "package.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PRESETS_DIR "presets"

static bool preset_name_ok(const char *name)
{
	return name_is_valid(name) && strlen(name) <= PRESET_NAME_MAX && name[0] != '.';
}

int preset_names(int confdir, struct strlist *out)
{
	struct strlist files = {0};
	int rc = dir_names(confdir, PRESETS_DIR, &files);
	if (rc < 0 && errno == ENOENT)
		rc = 0;
	for (size_t i = 0; i < files.n && out->n < PRESET_MAX; i++) {
		size_t n = strlen(files.v[i]);
		if (n > 4 && !strcmp(files.v[i] + n - 4, ".ini")) {
			files.v[i][n - 4] = 0;
			if (preset_name_ok(files.v[i]))
				strlist_add(out, files.v[i]);
		}
	}
	strlist_free(&files);
	strlist_sort(out);
	return rc;
}

bool preset_exists(int confdir, const char *name)
{
	if (!preset_name_ok(name))
		return false;
	char path[PRESET_NAME_MAX + 32];
	snprintf(path, sizeof path, PRESETS_DIR "/%s.ini", name);
	struct stat st;
	return fstatat(confdir, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* The sections a preset may give (and [preset] itself). */
static bool merged_section(const char *s)
{
	return !strcmp(s, "job") || !strcmp(s, "render") || !strcmp(s, "requires");
}

int preset_load(int confdir, const char *name, struct preset *p, char *err, size_t errsize)
{
	memset(p, 0, sizeof *p);
	if (!preset_name_ok(name)) {
		snprintf(err, errsize, "'%s' is not a preset name (letters, digits, '-', '_', '.'; at most %d)", name,
			 PRESET_NAME_MAX);
		return -1;
	}
	snprintf(p->name, sizeof p->name, "%s", name);
	char path[PRESET_NAME_MAX + 32];
	snprintf(path, sizeof path, PRESETS_DIR "/%s.ini", name);
	preset_file_relpath(name, p->file, sizeof p->file);
	const char *display = p->file;
	p->ini = ini_load(confdir, path, display, err, errsize);
	if (!p->ini)
		return -1;
	const char **secs;
	size_t ns = ini_sections(p->ini, &secs);
	for (size_t i = 0; i < ns; i++)
		if (!merged_section(secs[i]) && strcmp(secs[i], "preset")) {
			snprintf(err, errsize, "%s: section [%s] is not one a preset gives ([job], [render], [requires], [preset])",
				 display, secs[i]);
			goto bad;
		}
	const char *v = ini_get(p->ini, "preset", "about");
	if (v)
		snprintf(p->about, sizeof p->about, "%s", v);
	v = ini_get(p->ini, "render", "package");
	if (v && !package_exists(confdir, v)) {
		char file[128];
		package_file_relpath(v, file, sizeof file);
		snprintf(err, errsize, "%s: package '%s' is unknown on this farm (there is no %s)", display, v, file);
		goto bad;
	}
	/* what it gives must make a job once a drop adds a scene and frames */
	struct preset_key fill[] = {{"render", "scene", "scene", "", false}, {"job", "frames", "1", "", false}};
	struct buf text = {0}, from = {0};
	preset_merge(p, NULL, fill, 2, &text, &from);
	struct ini *ini = ini_parse(text.data, text.len, display, err, errsize);
	struct job_desc jd;
	int rc = ini ? job_desc_parse(ini, display, 1L << 20, &jd, err, errsize) : -1;
	if (ini && rc == 0)
		job_desc_free(&jd);
	ini_free(ini);
	buf_free(&text);
	buf_free(&from);
	if (rc == 0)
		return 0;
bad:
	preset_free(p);
	return -1;
}

void preset_free(struct preset *p)
{
	ini_free(p->ini);
	p->ini = NULL;
}

void preset_summary(const struct preset *p, char *out, size_t outsize)
{
	struct buf b = {0};
	const char *const secs[] = {"render", "job", "requires"};
	for (int s = 0; s < 3; s++) {
		const char **keys;
		size_t n = ini_keys(p->ini, secs[s], &keys);
		for (size_t i = 0; i < n; i++)
			buf_printf(&b, "%s%s%s = %s", b.len ? ", " : "", s == 2 ? "requires " : "", keys[i],
				   ini_get(p->ini, secs[s], keys[i]));
	}
	const char *pkg = ini_get(p->ini, "render", "package");
	bool frames = ini_get(p->ini, "job", "frames") != NULL;
	bool size = ini_get(p->ini, "render", "width") && ini_get(p->ini, "render", "height");
	if (!pkg)
		buf_printf(&b, "%sthe package by the scene's kind (.blend, .pov)", b.len ? "; " : "");
	if (!frames || !size)
		buf_printf(&b, "%s%s%s%s from the scene where its package can say", b.len ? "; " : "",
			   frames ? "" : "frames", !frames && !size ? " and " : "", size ? "" : "size");
	snprintf(out, outsize, "%s", b.data ? b.data : "nothing: the scene and its package decide");
	buf_free(&b);
}

/* ---- the folders -------------------------------------------------------- */

void preset_folder_relpath(const char *name, char *out, size_t outsize)
{
	snprintf(out, outsize, "%s/%s", spool_dir_name(DIR_INBOX), name);
}

const char *preset_dir_relpath(void) { return "conf/" PRESETS_DIR; }

void preset_file_relpath(const char *name, char *out, size_t outsize)
{
	snprintf(out, outsize, "%s/%s.ini", preset_dir_relpath(), name);
}

/* inbox/NAME as the preset's folder: a real folder (no link), the farm's
 * or root's (an artist's folder of that name is not the preset's). */
static int folder_open(const struct spool *sp, const char *name)
{
	int fd = openat(spool_fd(sp, DIR_INBOX), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) < 0 || (st.st_uid != 0 && st.st_uid != sp->farm_uid))) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int preset_folders_make(const struct spool *sp, struct strlist *made, char *err, size_t errsize)
{
	struct strlist names = {0};
	struct stat in;
	int rc = 0;
	*err = 0;
	if (preset_names(spool_fd(sp, DIR_CONF), &names) < 0 || fstat(spool_fd(sp, DIR_INBOX), &in) < 0) {
		snprintf(err, errsize, "unable to list %s: %s", preset_dir_relpath(), strerror(errno));
		strlist_free(&names);
		return -1;
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *n = names.v[i];
		bool fresh = mkdirat(spool_fd(sp, DIR_INBOX), n, 0755) == 0;
		int fd = folder_open(sp, n);
		if (fd < 0) {
			if (!*err)
				snprintf(err, errsize, "inbox/%s cannot be the folder of preset %s: %s", n, n,
					 errno == EPERM ? "it belongs to somebody else; move it away" : strerror(errno));
			rc = -1;
			continue;
		}
		if (fresh) {
			/* as inbox/: the artists' group may drop, sticky */
			if (fchown(fd, (uid_t)-1, in.st_gid) < 0 && errno != EPERM)
				rc = -1;
			if (fchmod(fd, in.st_mode & 07777) < 0)
				rc = -1;
			if (made) {
				char rel[PRESET_NAME_MAX + 16];
				preset_folder_relpath(n, rel, sizeof rel);
				strlist_add(made, rel);
			}
		}
		close(fd);
	}
	strlist_free(&names);
	return rc;
}

int spool_view_preset(struct spool *sp, const char *name)
{
	if (!preset_exists(spool_fd(sp, DIR_CONF), name)) {
		errno = ENOENT;
		return -1;
	}
	int fd = folder_open(sp, name);
	if (fd < 0)
		return -1;
	close(sp->dir[DIR_INBOX]);
	sp->dir[DIR_INBOX] = fd;
	return 0;
}

/* ---- merging -------------------------------------------------------------- */

bool preset_has(const struct preset *preset, const struct ini *job, const char *section, const char *key)
{
	return (preset && ini_get(preset->ini, section, key)) || (job && ini_get(job, section, key));
}

/* KEY = VALUE; a control character (a line break would start a line of
 * its own) never reaches the text: the caller refuses such values first. */
static void line(struct buf *out, const char *key, const char *value)
{
	char q[INI_MAX_LINE + 8];
	ini_quote(value, q, sizeof q);
	for (char *c = q; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	buf_printf(out, "%s = %s\n", key, q);
}

/* One source's keys, for FROM: "job.ini: frames, chunk". */
static void from_add(struct buf *from, const char *source, const struct buf *keys)
{
	if (keys->len)
		buf_printf(from, "%s%s: %s", from->len ? "; " : "", source, keys->data);
}

static void key_add(struct buf *keys, const char *section, const char *key)
{
	buf_printf(keys, "%s%s%s", keys->len ? ", " : "", strcmp(section, "requires") ? "" : "requires ", key);
}

/* VALUE, or the extra that replaces KEY of SEC wherever it is given. */
static const char *replaced(const struct preset_key *extra, size_t nextra, const char *sec, const char *key,
			    const char *value)
{
	for (size_t i = 0; i < nextra; i++)
		if (extra[i].replace && !strcmp(extra[i].section, sec) && !strcmp(extra[i].key, key))
			return extra[i].value;
	return value;
}

/* The keys of SECTION: the preset's (the job's where it has one), the
 * job's own, then the extras neither gives. */
static void merge_section(const struct preset *p, const struct ini *job, const char *sec, const struct preset_key *extra,
			  size_t nextra, struct buf *out, struct buf *kp, struct buf *kj, struct buf *kx[], size_t nx)
{
	buf_printf(out, "[%s]\n", sec);
	const char **keys;
	size_t n = ini_keys(p->ini, sec, &keys);
	for (size_t i = 0; i < n; i++) {
		const char *mine = job ? ini_get(job, sec, keys[i]) : NULL;
		line(out, keys[i], replaced(extra, nextra, sec, keys[i], mine ? mine : ini_get(p->ini, sec, keys[i])));
		key_add(mine ? kj : kp, sec, keys[i]);
	}
	n = job ? ini_keys(job, sec, &keys) : 0;
	for (size_t i = 0; i < n; i++)
		if (!ini_get(p->ini, sec, keys[i])) {
			line(out, keys[i], replaced(extra, nextra, sec, keys[i], ini_get(job, sec, keys[i])));
			key_add(kj, sec, keys[i]);
		}
	for (size_t i = 0; i < nextra && i < nx; i++)
		if (!strcmp(extra[i].section, sec) && !preset_has(p, job, sec, extra[i].key)) {
			line(out, extra[i].key, extra[i].value);
			key_add(kx[i], sec, extra[i].key);
		}
}

void preset_merge(const struct preset *p, const struct ini *job, const struct preset_key *extra, size_t nextra,
		  struct buf *out, struct buf *from)
{
	struct buf kp = {0}, kj = {0}, kx[8] = {{0}};
	struct buf *px[8];
	size_t nx = nextra < 8 ? nextra : 8;
	/* extras of one source share one list */
	for (size_t i = 0; i < nx; i++) {
		px[i] = &kx[i];
		for (size_t k = 0; k < i; k++)
			if (!strcmp(extra[k].source, extra[i].source)) {
				px[i] = px[k];
				break;
			}
	}
	const char *const secs[] = {"job", "render", "requires"};
	for (int s = 0; s < 3; s++)
		merge_section(p, job, secs[s], extra, nextra, out, &kp, &kj, px, nx);
	/* the job's other sections ([archive], and any it should not have:
	 * job_desc_parse warns of those as for any job.ini) */
	const char **sn;
	size_t ns = job ? ini_sections(job, &sn) : 0;
	for (size_t i = 0; i < ns; i++) {
		if (merged_section(sn[i]))
			continue;
		buf_printf(out, "[%s]\n", sn[i]);
		const char **keys;
		size_t n = ini_keys(job, sn[i], &keys);
		/* as the job spells them: [env] names keep their case */
		for (size_t k = 0; k < n; k++)
			line(out, ini_key_written(job, sn[i], keys[k]), ini_get(job, sn[i], keys[k]));
	}
	char src[PRESET_NAME_MAX + 16];
	snprintf(src, sizeof src, "preset %s", p->name);
	from_add(from, src, &kp);
	from_add(from, "job.ini", &kj);
	for (size_t i = 0; i < nx; i++)
		if (px[i] == &kx[i])
			from_add(from, extra[i].source, &kx[i]);
	buf_add(from, "", 0);
	buf_add(out, "", 0);
	buf_free(&kp);
	buf_free(&kj);
	for (size_t i = 0; i < nx; i++)
		buf_free(&kx[i]);
}
