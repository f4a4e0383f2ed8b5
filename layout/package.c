/* package.c - load a package description and expand its argv template.
 * Package files are the admin's; the values put into the template come
 * from a job (untrusted) and only ever become parts of argv words. */
#define _GNU_SOURCE
#include "package.h"
#include "env.h"
#include "ini.h"
#include "jobdesc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* [formats]: NAME = words, for each format the package can write;
 * default = the words when the job names none. */
static int package_formats_load(const struct ini *ini, const char *display, struct package *p, char *err,
				size_t errsize)
{
	const char **keys;
	size_t n = ini_keys(ini, "formats", &keys);
	for (size_t i = 0; i < n; i++) {
		int f = strcmp(keys[i], "default") ? frame_format_parse(keys[i]) : FORMAT_SCENE;
		if (f < 0) {
			snprintf(err, errsize, "%s: [formats] %s is not a format (%s, or default)", display, keys[i],
				 frame_format_list());
			return -1;
		}
		if (args_split(ini_get(ini, "formats", keys[i]), &p->formats[f], err, errsize) < 0)
			return -1;
		p->has_format[f] = true;
	}
	return 0;
}

bool package_writes(const struct package *p, int format)
{
	/* a package without [formats] writes what its command writes */
	bool any = false;
	for (int f = 0; f < FORMAT_COUNT; f++)
		any = any || p->has_format[f];
	return format == FORMAT_SCENE || !any || (format > 0 && format < FORMAT_COUNT && p->has_format[format]);
}

void package_format_list(const struct package *p, char *out, size_t outsize)
{
	size_t n = 0;
	*out = 0;
	for (int f = FORMAT_SCENE + 1; f < FORMAT_COUNT; f++)
		if (p->has_format[f])
			n += (size_t)snprintf(out + n, n < outsize ? outsize - n : 0, "%s%s", n ? ", " : "",
					      frame_format_name(f));
	if (!*out)
		snprintf(out, outsize, "what its command writes");
}

int package_load(int confdir, const char *name, struct package *p, char *err, size_t errsize)
{
	memset(p, 0, sizeof *p);
	if (!name_is_valid(name)) {
		snprintf(err, errsize, "'%s' is not a package name", name);
		return -1;
	}
	snprintf(p->name, sizeof p->name, "%s", name);
	char path[128], display[128];
	snprintf(path, sizeof path, "packages/%s.ini", name);
	package_file_relpath(name, display, sizeof display);
	struct ini *ini = ini_load(confdir, path, display, err, errsize);
	if (!ini)
		return -1;
	const char *v;
	int rc = -1;
	if ((v = ini_get(ini, "package", "description")))
		snprintf(p->description, sizeof p->description, "%s", v);
	if ((v = ini_get(ini, "package", "builtin")) && !strcmp(v, "null"))
		p->builtin_null = true;
	if ((v = ini_get(ini, "package", "produces")) && !strcmp(v, "nothing"))
		p->no_output = true;
	if ((v = ini_get(ini, "package", "version")))
		snprintf(p->version, sizeof p->version, "%s", v);
	if ((v = ini_get(ini, "probe", "command")))
		snprintf(p->probe_command, sizeof p->probe_command, "%s", v);
	if ((v = ini_get(ini, "probe", "version_args")) && args_split(v, &p->probe_args, err, errsize) < 0)
		goto out;
	if ((v = ini_get(ini, "probe", "startup")) && args_split(v, &p->startup_args, err, errsize) < 0)
		goto out;
	if ((v = ini_get(ini, "probe", "version_regex")))
		snprintf(p->version_regex, sizeof p->version_regex, "%s", v);
	if ((v = ini_get(ini, "confine", "read"))) {
		if (args_split(v, &p->confine_read, err, errsize) < 0)
			goto out;
		for (size_t i = 0; i < p->confine_read.n; i++)
			if (p->confine_read.v[i][0] != '/') {
				snprintf(err, errsize, "%s: [confine] read holds full paths, not '%s'", display,
					 p->confine_read.v[i]);
				goto out;
			}
	}
	if ((v = ini_get(ini, "confine", "network"))) {
		if (strcasecmp(v, "yes") && strcasecmp(v, "no")) {
			snprintf(err, errsize, "%s: [confine] network is yes or no, not '%.100s'", display, v);
			goto out;
		}
		p->network = !strcasecmp(v, "yes");
	}
	v = ini_get(ini, "render", "argv");
	if (!p->builtin_null) {
		if (!v || !*v) {
			snprintf(err, errsize, "%s has no [render] argv", display);
			goto out;
		}
		if (args_split(v, &p->argv, err, errsize) < 0)
			goto out;
	}
	/* a range of frames in one process: both keys or neither */
	const char *rv = ini_get(ini, "range", "argv"), *rf = ini_get(ini, "range", "file");
	if ((rv && *rv) != (rf && *rf)) {
		snprintf(err, errsize, "%s: [range] needs both argv and file", display);
		goto out;
	}
	if (rv && *rv) {
		const char *ph = strstr(rf, "{frame}");
		if (!ph || ph[7] || strchr(rf, '/') || (size_t)(ph - rf) >= sizeof p->range_file) {
			snprintf(err, errsize, "%s: [range] file is a name ending in {frame}, like frame{frame}", display);
			goto out;
		}
		snprintf(p->range_file, sizeof p->range_file, "%.*s", (int)(ph - rf), rf);
		if (args_split(rv, &p->range_argv, err, errsize) < 0)
			goto out;
	}
	if (package_formats_load(ini, display, p, err, errsize) < 0 || package_env_load(ini, display, p, err, errsize) < 0)
		goto out;
	if ((v = ini_get(ini, "scene", "extensions")) && args_split(v, &p->scene_exts, err, errsize) < 0)
		goto out;
	if ((v = ini_get(ini, "scene", "argv")) && args_split(v, &p->scene_argv, err, errsize) < 0)
		goto out;
	if (package_rules_load(ini, display, p, err, errsize) < 0)
		goto out;
	const char **pykeys;
	size_t npy = ini_keys(ini, "python", &pykeys);
	for (size_t i = 0; i < npy; i++) {
		strlist_add(&p->py_names, pykeys[i]);
		strlist_add(&p->py_code, ini_get(ini, "python", pykeys[i]));
	}
	if (!*p->probe_command && !*p->version)
		snprintf(p->version, sizeof p->version, "1");
	rc = 0;
out:
	ini_free(ini);
	if (rc < 0)
		package_free(p);
	return rc;
}

void package_free(struct package *p)
{
	strlist_free(&p->probe_args);
	strlist_free(&p->startup_args);
	strlist_free(&p->confine_read);
	strlist_free(&p->argv);
	strlist_free(&p->range_argv);
	for (int f = 0; f < FORMAT_COUNT; f++)
		strlist_free(&p->formats[f]);
	strlist_free(&p->py_names);
	strlist_free(&p->py_code);
	strlist_free(&p->scene_exts);
	strlist_free(&p->scene_argv);
	strlist_free(&p->env_names);
	strlist_free(&p->env_values);
	strlist_free(&p->env_fixed);
	package_rules_free(p);
}

long package_range_frame(const struct package *p, const char *name)
{
	size_t n = strlen(p->range_file);
	if (strncmp(name, p->range_file, n) || name[n] < '0' || name[n] > '9')
		return -1;
	long f = 0;
	const char *d = name + n;
	for (; *d >= '0' && *d <= '9'; d++) {
		if (f > 100000000)
			return -1;
		f = f * 10 + (*d - '0');
	}
	return f;
}

static int expand(const struct package *pk, const char *word, const struct render_vars *v, struct buf *out, char *err,
		  size_t errsize);

/* {py:NAME}: the package's snippet NAME, its own placeholders expanded
 * (none of them a snippet). */
static int expand_python(const struct package *pk, const char *name, const struct render_vars *v, struct buf *out,
			 char *err, size_t errsize)
{
	for (size_t i = 0; pk && i < pk->py_names.n; i++)
		if (!strcmp(pk->py_names.v[i], name)) {
			struct buf b = {0};
			int rc = expand(NULL, pk->py_code.v[i], v, &b, err, errsize);
			if (rc == 0)
				buf_add(out, b.data, strlen(b.data));
			buf_free(&b);
			return rc;
		}
	snprintf(err, errsize, "unknown placeholder {py:%s} (no [python] %s)", name, name);
	return -1;
}

static int expand(const struct package *pk, const char *word, const struct render_vars *v, struct buf *out, char *err,
		  size_t errsize)
{
	for (const char *p = word; *p;) {
		if (*p != '{') {
			buf_add(out, p, 1);
			p++;
			continue;
		}
		const char *close = strchr(p, '}');
		if (!close || close - p > 40) {
			buf_add(out, p, 1);
			p++;
			continue;
		}
		char key[48];
		snprintf(key, sizeof key, "%.*s", (int)(close - p - 1), p + 1);
		char num[32];
		const char *val = NULL;
		if (!strcmp(key, "scene"))
			val = v->scene;
		else if (!strcmp(key, "files"))
			val = v->files;
		else if (!strcmp(key, "output"))
			val = v->output;
		else if (!strcmp(key, "outdir"))
			val = v->outdir;
		else if (!strcmp(key, "job"))
			val = v->job;
		else if (!strcmp(key, "frame"))
			snprintf(num, sizeof num, "%ld", v->frame), val = num;
		else if (!strcmp(key, "frame4"))
			snprintf(num, sizeof num, "%04ld", v->frame), val = num;
		else if (!strcmp(key, "first_frame"))
			snprintf(num, sizeof num, "%ld", v->first_frame), val = num;
		else if (!strcmp(key, "last_frame"))
			snprintf(num, sizeof num, "%ld", v->last_frame), val = num;
		else if (!strcmp(key, "run_first"))
			snprintf(num, sizeof num, "%ld", v->run_first), val = num;
		else if (!strcmp(key, "run_last"))
			snprintf(num, sizeof num, "%ld", v->run_last), val = num;
		else if (!strcmp(key, "width"))
			snprintf(num, sizeof num, "%ld", v->width), val = num;
		else if (!strcmp(key, "height"))
			snprintf(num, sizeof num, "%ld", v->height), val = num;
		else if (!strncmp(key, "py:", 3) && pk) {
			if (expand_python(pk, key + 3, v, out, err, errsize) < 0)
				return -1;
			p = close + 1;
			continue;
		} else {
			snprintf(err, errsize, "unknown placeholder {%s}", key);
			return -1;
		}
		buf_add(out, val ? val : "", strlen(val ? val : ""));
		p = close + 1;
	}
	buf_add(out, "", 0);
	return 0;
}

int package_argv(const struct package *p, const struct render_vars *v, enum package_run which, struct strlist *argv,
		 char *err, size_t errsize)
{
	const struct strlist *tpl = which == RUN_RANGE ? &p->range_argv : which == RUN_SCENE ? &p->scene_argv : &p->argv;
	for (size_t i = 0; i < tpl->n; i++) {
		if (!strcmp(tpl->v[i], "{format}")) {
			if (!package_writes(p, v->format)) {
				snprintf(err, errsize, "package %s cannot write format %s", p->name,
					 frame_format_name(v->format));
				return -1;
			}
			const struct strlist *w = &p->formats[v->format];
			for (size_t k = 0; k < w->n; k++) {
				struct buf b = {0};
				if (expand(p, w->v[k], v, &b, err, errsize) < 0) {
					buf_free(&b);
					return -1;
				}
				strlist_take(argv, b.data);
			}
			continue;
		}
		if (!strcmp(tpl->v[i], "{args}")) {
			for (size_t k = 0; v->args && k < v->args->n; k++) {
				struct buf b = {0};
				if (expand(p, v->args->v[k], v, &b, err, errsize) < 0) {
					buf_free(&b);
					return -1;
				}
				strlist_take(argv, b.data);
			}
			continue;
		}
		struct buf b = {0};
		if (expand(p, tpl->v[i], v, &b, err, errsize) < 0) {
			buf_free(&b);
			return -1;
		}
		strlist_take(argv, b.data);
	}
	if (argv->n == 0) {
		snprintf(err, errsize, "the command is empty");
		return -1;
	}
	return 0;
}

int package_names(int confdir, struct strlist *out)
{
	struct strlist files = {0};
	int rc = dir_names(confdir, "packages", &files);
	for (size_t i = 0; i < files.n; i++) {
		size_t n = strlen(files.v[i]);
		if (n > 4 && !strcmp(files.v[i] + n - 4, ".ini")) {
			files.v[i][n - 4] = 0;
			strlist_add(out, files.v[i]);
		}
	}
	strlist_free(&files);
	strlist_sort(out);
	return rc;
}

void package_file_relpath(const char *name, char *out, size_t outsize)
{
	snprintf(out, outsize, "conf/packages/%s.ini", name);
}

bool package_claims(const struct package *p, const char *file)
{
	for (size_t i = 0; i < p->scene_exts.n; i++)
		if (has_suffix(file, p->scene_exts.v[i]) && strlen(file) > strlen(p->scene_exts.v[i]))
			return true;
	return false;
}

bool package_for_scene(int confdir, const char *file, char *out, size_t outsize)
{
	struct strlist names = {0};
	package_names(confdir, &names);
	int found = 0;
	for (size_t i = 0; i < names.n; i++) {
		struct package p;
		char err[512];
		if (package_load(confdir, names.v[i], &p, err, sizeof err) < 0)
			continue;
		if (package_claims(&p, file)) {
			found++;
			snprintf(out, outsize, "%s", p.name);
		}
		package_free(&p);
	}
	strlist_free(&names);
	return found == 1;
}

size_t package_scenes(int confdir, int dirfd, const char *path, const struct package *pkg, struct strlist *out)
{
	struct strlist pkgnames = {0}, names = {0};
	struct package *all = NULL;
	size_t nall = 0, found = 0;
	if (!pkg) {
		package_names(confdir, &pkgnames);
		all = xcalloc(pkgnames.n + 1, sizeof *all);
		char err[512];
		for (size_t i = 0; i < pkgnames.n; i++)
			if (package_load(confdir, pkgnames.v[i], &all[nall], err, sizeof err) == 0)
				nall++;
	}
	bool top = !*path || !strcmp(path, ".");
	dir_names(dirfd, top ? "." : path, &names);
	for (size_t i = 0; i < names.n; i++) {
		char rel[2048];
		snprintf(rel, sizeof rel, "%s%s%s", top ? "" : path, top ? "" : "/", names.v[i]);
		struct stat st;
		if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		size_t claims = pkg ? package_claims(pkg, names.v[i]) : 0;
		for (size_t k = 0; k < nall; k++)
			claims += package_claims(&all[k], names.v[i]);
		if (claims == 1) {
			strlist_add(out, rel);
			found++;
		}
	}
	for (size_t k = 0; k < nall; k++)
		package_free(&all[k]);
	free(all);
	strlist_free(&pkgnames);
	strlist_free(&names);
	return found;
}

bool package_exists(int confdir, const char *name)
{
	char path[300];
	snprintf(path, sizeof path, "packages/%s.ini", name);
	return faccessat(confdir, path, R_OK, 0) == 0;
}
