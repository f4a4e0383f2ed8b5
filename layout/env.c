/* env.c - [env] of a job.ini (untrusted) and of a package's .ini (the
 * admin's): names and values checked, then merged into a render's variables.
 * The values are plain strings: no shell and no placeholders ever see them. */
#define _GNU_SOURCE
#include "env.h"
#include "ini.h"
#include "jobdesc.h"
#include "layout.h"
#include "package.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BAD(...)                                                                     \
	do {                                                                         \
		snprintf(err, errsize, __VA_ARGS__);                                 \
		return -1;                                                           \
	} while (0)

/* [A-Za-z_][A-Za-z0-9_]*, as a shell would take it; PATTERN allows a
 * trailing '*' (env_fixed's prefixes). */
static bool env_name_ok(const char *s, bool pattern)
{
	size_t n = strlen(s);
	if (pattern && n > 1 && s[n - 1] == '*')
		n--;
	if (n == 0 || n > 100 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return false;
	return true;
}

/* The .ini guard refuses control characters already; checked again for
 * values that reach here another way (a job.ini edited on disk). */
static bool env_value_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

const char *env_name_refused(const char *name, enum env_source source)
{
	if (!strncasecmp(name, "HOTFARM_", 8))
		return "HOTFARM_ variables are the farm's own, which mark and confine each render";
	if (!strcmp(name, "TMPDIR"))
		return "the farm sets TMPDIR to each attempt's own temporary folder";
	if (source == ENV_FROM_JOB && !strncasecmp(name, "LD_", 3))
		return "LD_ variables steer the dynamic loader, which the farm's confinement relies on";
	if (source == ENV_FROM_PACKAGE && (!strcmp(name, "LD_PRELOAD") || !strcmp(name, "LD_AUDIT")))
		return "the farm's confinement preloads a library of its own";
	return NULL;
}

int env_read(const struct ini *ini, const char *display, enum env_source source, struct strlist *names,
	     struct strlist *values, char *err, size_t errsize)
{
	const char **keys;
	size_t n = ini_keys(ini, "env", &keys), bytes = 0;
	if (n > ENV_MAX_VARS)
		BAD("%s line %d: [env] sets more than %d variables", display, ini_line(ini, "env", keys[ENV_MAX_VARS]),
		    ENV_MAX_VARS);
	for (size_t i = 0; i < n; i++) {
		const char *name = ini_key_written(ini, "env", keys[i]), *value = ini_get(ini, "env", keys[i]);
		int line = ini_line(ini, "env", keys[i]);
		if (!name || !value)
			BAD("%s line %d: [env] %s cannot be read", display, line, keys[i]);
		if (!env_name_ok(name, false))
			BAD("%s line %d: '%s' in [env] is not an environment variable name (a letter or '_', then "
			    "letters, digits or '_')",
			    display, line, name);
		const char *why = env_name_refused(name, source);
		if (why)
			BAD("%s line %d: [env] may not set %s: %s; remove it from [env]", display, line, name, why);
		if (!env_value_ok(value))
			BAD("%s line %d: the value of %s in [env] holds a control character", display, line, name);
		bytes += strlen(name) + strlen(value) + 2;
		if (bytes > ENV_MAX_BYTES)
			BAD("%s line %d: [env] holds more than %d bytes of names and values", display, line,
			    ENV_MAX_BYTES);
		strlist_add(names, name);
		strlist_add(values, value);
	}
	return 0;
}

int package_env_load(const struct ini *ini, const char *display, struct package *p, char *err, size_t errsize)
{
	if (env_read(ini, display, ENV_FROM_PACKAGE, &p->env_names, &p->env_values, err, errsize) < 0)
		return -1;
	const char *v = ini_get(ini, "package", "env_path");
	if (v) {
		if (strcasecmp(v, "yes") && strcasecmp(v, "no"))
			BAD("%s line %d: [package] env_path is yes or no, not '%.100s'", display,
			    ini_line(ini, "package", "env_path"), v);
		p->env_path = !strcasecmp(v, "yes");
	}
	if (!(v = ini_get(ini, "package", "env_fixed")))
		return 0;
	char *copy = xstrdup(v), *save = NULL;
	for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
		if (!env_name_ok(w, true)) {
			snprintf(err, errsize,
				 "%s line %d: [package] env_fixed lists variable names (NAME, or PREFIX* for all "
				 "that begin so), not '%.100s'",
				 display, ini_line(ini, "package", "env_fixed"), w);
			free(copy);
			return -1;
		}
		strlist_add(&p->env_fixed, w);
	}
	free(copy);
	return 0;
}

static bool env_fixed(const struct package *p, const char *name)
{
	for (size_t i = 0; i < p->env_fixed.n; i++) {
		const char *f = p->env_fixed.v[i];
		size_t n = strlen(f);
		if (f[n - 1] == '*' ? !strncmp(name, f, n - 1) : !strcmp(name, f))
			return true;
	}
	return false;
}

int env_job_allowed(const struct package *p, const struct strlist *names, const char *display, char *err,
		    size_t errsize)
{
	char file[128];
	package_file_relpath(p->name, file, sizeof file);
	for (size_t i = 0; i < names->n; i++) {
		const char *name = names->v[i], *why = env_name_refused(name, ENV_FROM_JOB);
		if (!env_name_ok(name, false))
			BAD("%s: '%.100s' in [env] is not an environment variable name", display, name);
		if (why)
			BAD("%s: [env] may not set %s: %s; remove it from [env]", display, name, why);
		if (!strcmp(name, "PATH") && !p->env_path)
			BAD("%s: [env] may not set PATH: package %s does not allow it (an admin allows it with "
			    "env_path = yes in [package] of %s); remove it from [env]",
			    display, p->name, file);
		if (env_fixed(p, name))
			BAD("%s: [env] may not set %s: package %s fixes it (env_fixed in [package] of %s); remove it "
			    "from [env]",
			    display, name, p->name, file);
	}
	return 0;
}

/* NAME=VALUE into OUT, in place of an earlier NAME; -1 past the bounds. */
static int env_put(struct strlist *out, const char *name, const char *value, size_t *bytes)
{
	size_t n = strlen(name);
	*bytes += n + strlen(value) + 2;
	for (size_t i = 0; i < out->n; i++)
		if (!strncmp(out->v[i], name, n) && out->v[i][n] == '=') {
			free(out->v[i]);
			out->v[i] = xasprintf("%s=%s", name, value);
			return *bytes > 2 * ENV_MAX_BYTES ? -1 : 0;
		}
	strlist_take(out, xasprintf("%s=%s", name, value));
	return out->n > 2 * ENV_MAX_VARS || *bytes > 2 * ENV_MAX_BYTES ? -1 : 0;
}

int env_merge(const struct package *p, const struct job_desc *jd, struct strlist *out, char *err, size_t errsize)
{
	size_t bytes = 0;
	for (size_t i = 0; i < p->env_names.n; i++) {
		const char *name = p->env_names.v[i], *value = p->env_values.v[i];
		char file[128];
		package_file_relpath(p->name, file, sizeof file);
		if (!env_name_ok(name, false) || env_name_refused(name, ENV_FROM_PACKAGE) || !env_value_ok(value))
			BAD("%s: [env] %.100s may not be set", file, name);
		if (env_put(out, name, value, &bytes) < 0)
			BAD("%s: [env] is too large", file);
	}
	const char *display = job_file_name(JOB_FILE_DESC);
	if (jd->env_names.n != jd->env_values.n)
		BAD("%s: [env] cannot be read", display);
	if (env_job_allowed(p, &jd->env_names, display, err, errsize) < 0)
		return -1;
	for (size_t i = 0; i < jd->env_names.n; i++) {
		if (!env_value_ok(jd->env_values.v[i]))
			BAD("%s: the value of %.100s in [env] holds a control character", display, jd->env_names.v[i]);
		if (env_put(out, jd->env_names.v[i], jd->env_values.v[i], &bytes) < 0)
			BAD("%s: [env] is too large", display);
	}
	return 0;
}
