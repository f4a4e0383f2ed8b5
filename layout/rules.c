/* rules.c - a package's [errors] rules: patterns read and compiled when the
 * package loads (the admin's file), matched against a renderer's last
 * output (untrusted text: only ever handed to regexec). */
#define _GNU_SOURCE
#include "package.h"
#include "ini.h"
#include "jobdesc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the keys of [errors] for each rule ("license" too, as Americans spell it) */
static const char *const rule_keys[RULE_COUNT] = {[RULE_FAIL] = "fail", [RULE_LICENCE] = "licence",
						 [RULE_RETRY] = "retry"};

#define LICENCE_WAIT_DEFAULT 30
#define LICENCE_WAIT_MAX 600

const char *package_rule_name(enum package_rule r)
{
	return r > RULE_NONE && r < RULE_COUNT ? rule_keys[r] : "";
}

/* The patterns of one value: the whole value is one pattern (it may hold
 * blanks: fail = "Parse Error"), unless it is several quoted ones
 * (fail = "Parse Error" 'Fatal error'), which are split as argv words are. */
static int rules_split(const char *v, struct strlist *out, char *err, size_t errsize)
{
	if (*v == '"' || *v == '\'')
		return args_split(v, out, err, errsize);
	if (*v)
		strlist_add(out, v);
	return 0;
}

static int rules_compile(const struct ini *ini, const char *display, const char *key, struct package_rules *r,
			 enum package_rule rule, char *err, size_t errsize)
{
	const char *v = ini_get(ini, "errors", key);
	if (!v)
		return 0;
	struct strlist *l = &r->patterns[rule];
	if (l->n) {
		snprintf(err, errsize, "%s line %d: [errors] sets licence and license: one of them holds its patterns",
			 display, ini_line(ini, "errors", key));
		return -1;
	}
	char serr[200];
	if (rules_split(v, l, serr, sizeof serr) < 0) {
		snprintf(err, errsize, "%s line %d: [errors] %s: %s", display, ini_line(ini, "errors", key), key, serr);
		return -1;
	}
	free(r->compiled[rule]); /* an empty licence before a license: nothing compiled */
	r->compiled[rule] = xcalloc(l->n ? l->n : 1, sizeof *r->compiled[rule]);
	for (size_t i = 0; i < l->n; i++) {
		int rc = regcomp(&r->compiled[rule][i], l->v[i], REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
		if (rc != 0) {
			char why[200];
			regerror(rc, &r->compiled[rule][i], why, sizeof why);
			snprintf(err, errsize, "%s line %d: [errors] %s: '%.200s' is not a regular expression: %s", display,
				 ini_line(ini, "errors", key), key, l->v[i], why);
			/* those compiled stay, to be freed; this one and the
			 * rest were not */
			for (size_t k = i; k < l->n; k++)
				free(l->v[k]);
			l->n = i;
			return -1;
		}
	}
	return 0;
}

int package_rules_load(const struct ini *ini, const char *display, struct package *p, char *err, size_t errsize)
{
	struct package_rules *r = &p->rules;
	r->licence_wait = LICENCE_WAIT_DEFAULT;
	const char **keys;
	size_t n = ini_keys(ini, "errors", &keys);
	for (size_t i = 0; i < n; i++) {
		enum package_rule rule = RULE_NONE;
		for (int k = RULE_NONE + 1; k < RULE_COUNT; k++)
			if (!strcmp(keys[i], rule_keys[k]))
				rule = (enum package_rule)k;
		if (!strcmp(keys[i], "license"))
			rule = RULE_LICENCE;
		if (rule != RULE_NONE) {
			if (rules_compile(ini, display, keys[i], r, rule, err, errsize) < 0)
				return -1;
		} else if (!strcmp(keys[i], "licence_wait") || !strcmp(keys[i], "license_wait")) {
			const char *v = ini_get(ini, "errors", keys[i]);
			if (!parse_seconds(v, 86400, &r->licence_wait) || r->licence_wait < 1) {
				snprintf(err, errsize, "%s line %d: [errors] %s is a time like 30s or 2m, not '%.100s'",
					 display, ini_line(ini, "errors", keys[i]), keys[i], v);
				return -1;
			}
		} else {
			snprintf(err, errsize, "%s line %d: [errors] has fail, retry, licence and licence_wait, not '%s'",
				 display, ini_line(ini, "errors", keys[i]), keys[i]);
			return -1;
		}
	}
	return 0;
}

void package_rules_free(struct package *p)
{
	struct package_rules *r = &p->rules;
	for (int k = 0; k < RULE_COUNT; k++) {
		for (size_t i = 0; r->compiled[k] && i < r->patterns[k].n; i++)
			regfree(&r->compiled[k][i]);
		free(r->compiled[k]);
		r->compiled[k] = NULL;
		strlist_free(&r->patterns[k]);
	}
}

bool package_has_rules(const struct package *p)
{
	for (int k = RULE_NONE + 1; k < RULE_COUNT; k++)
		if (p->rules.patterns[k].n)
			return true;
	return false;
}

enum package_rule package_rule_match(const struct package *p, const char *text, const char **pattern)
{
	*pattern = NULL;
	for (int k = RULE_NONE + 1; k < RULE_COUNT; k++)
		for (size_t i = 0; i < p->rules.patterns[k].n; i++)
			if (regexec(&p->rules.compiled[k][i], text, 0, NULL, 0) == 0) {
				*pattern = p->rules.patterns[k].v[i];
				return (enum package_rule)k;
			}
	return RULE_NONE;
}

long package_licence_wait(const struct package *p, long waited)
{
	long wait = p->rules.licence_wait > 0 ? p->rules.licence_wait : LICENCE_WAIT_DEFAULT;
	long most = wait > LICENCE_WAIT_MAX ? wait : LICENCE_WAIT_MAX;
	for (long i = 0; i < waited && wait < most; i++)
		wait *= 2;
	return wait < most ? wait : most;
}
