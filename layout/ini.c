/* ini.c - load untrusted .ini text safely into iniparser.
 * iniparser cuts values at '#' or ';', fails whole files on long lines,
 * keeps the last of duplicate keys and parses "0010" as octal; so the text is
 * checked and normalised here (every value quoted) before iniparser sees it,
 * and numbers are never read through iniparser_getint. */
#define _GNU_SOURCE
#include "ini.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <iniparser/iniparser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define INI_MAX_BYTES (1 << 20)

struct ini {
	dictionary *dict;
	struct strlist sections;
	struct strlist keys; /* "section:key" in file order */
	struct strlist written; /* each key as written, its case kept ([env] names) */
	int *lines;
};

static char parse_error[512];

static int capture_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(parse_error, sizeof parse_error, fmt, ap);
	va_end(ap);
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	return s;
}

static bool section_ok(const char *s)
{
	if (!*s || strlen(s) > 100)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr(" _.-:", *s)))
			return false;
	return true;
}

static bool key_ok(const char *s)
{
	if (!*s || strlen(s) > 100)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("_.-", *s)))
			return false;
	return true;
}

const char *ini_quote(const char *value, char *out, size_t outsize)
{
	char q = strchr(value, '"') ? '\'' : '"';
	snprintf(out, outsize, "%c%s%c", q, value, q);
	return out;
}

/* One parse under way: the normalised text so far, the section the lines
 * belong to, and where a refusal is written. */
struct ini_reader {
	struct ini *ini;
	struct buf norm;
	size_t lines_cap;
	char section[128];
	const char *display;
	char *err;
	size_t errsize;
};

#define REFUSE(r, ...)                                                               \
	do {                                                                         \
		snprintf((r)->err, (r)->errsize, __VA_ARGS__);                       \
		return -1;                                                           \
	} while (0)

static int ini_read_header(struct ini_reader *r, char *line, int lineno)
{
	char *close = strchr(line, ']');
	if (!close)
		REFUSE(r, "%s line %d: a section header needs a closing ']'", r->display, lineno);
	*close = 0;
	char *rest = trim(close + 1);
	if (*rest && *rest != '#' && *rest != ';')
		REFUSE(r, "%s line %d: unexpected text after the section header", r->display, lineno);
	char *name = trim(line + 1);
	if (!section_ok(name))
		REFUSE(r, "%s line %d: '[%s]' is not a valid section name", r->display, lineno, name);
	str_lower(name);
	snprintf(r->section, sizeof r->section, "%s", name);
	/* a section may be continued further down; keys still may not repeat */
	if (!strlist_has(&r->ini->sections, r->section))
		strlist_add(&r->ini->sections, r->section);
	buf_printf(&r->norm, "[%s]\n", r->section);
	return 0;
}

/* The value as the user meant it; VALUE is trimmed and cut in place. */
static char *ini_unquote_value(char *value)
{
	size_t vl = strlen(value);
	if (vl >= 2 && (value[0] == '"' || value[0] == '\'') && value[vl - 1] == value[0] &&
	    !memchr(value + 1, value[0], vl - 2)) {
		/* one quoted value: the quotes are not part of it */
		value[vl - 1] = 0;
		value++;
	} else if (value[0] == '"' || value[0] == '\'') {
		/* quoted words, as in args = "a b" "c": kept as written */
	} else {
		/* A comment starts only where '#' or ';' follows a blank, so
		 * that "shot_####.png" keeps its frame-number marks. */
		for (char *c = value; *c; c++)
			if ((*c == '#' || *c == ';') && c > value && (c[-1] == ' ' || c[-1] == '\t')) {
				*c = 0;
				break;
			}
		value = trim(value);
	}
	return value;
}

/* iniparser keeps the last of duplicate keys silently: a key set twice is
 * refused here, and the line of each key kept for messages. */
static int ini_add_key(struct ini_reader *r, const char *key, const char *written, int lineno)
{
	struct ini *ini = r->ini;
	char full[256];
	snprintf(full, sizeof full, "%s:%s", r->section, key);
	if (ini->keys.n >= 2000)
		REFUSE(r, "%s has more than 2000 keys; a description is a few lines of text", r->display);
	for (size_t i = 0; i < ini->keys.n; i++)
		if (!strcmp(ini->keys.v[i], full))
			REFUSE(r, "%s line %d: '%s' in [%s] is set twice (first on line %d)", r->display, lineno, written,
			       r->section, ini->lines[i]);
	if (ini->keys.n == r->lines_cap) {
		r->lines_cap = r->lines_cap ? r->lines_cap * 2 : 32;
		ini->lines = xrealloc(ini->lines, r->lines_cap * sizeof *ini->lines);
	}
	ini->lines[ini->keys.n] = lineno;
	strlist_add(&ini->keys, full);
	strlist_add(&ini->written, written);
	return 0;
}

static int ini_read_pair(struct ini_reader *r, char *line, int lineno)
{
	char *eq = strchr(line, '=');
	if (!eq) {
		char shown[80];
		text_escape(line, shown, sizeof shown);
		REFUSE(r, "%s line %d: expected 'key = value' or '[section]', found '%s'", r->display, lineno, shown);
	}
	*eq = 0;
	char *key = trim(line), *value = trim(eq + 1);
	if (!key_ok(key))
		REFUSE(r, "%s line %d: '%s' is not a valid key name (letters, digits, '_', '-', '.')", r->display,
		       lineno, key);
	char written[128];
	snprintf(written, sizeof written, "%s", key);
	str_lower(key);
	if (!*r->section)
		REFUSE(r, "%s line %d: '%s' comes before any [section]", r->display, lineno, key);
	value = ini_unquote_value(value);
	/* written back quoted, a value can hold one kind of quote, not both */
	if (strchr(value, '"') && strchr(value, '\''))
		REFUSE(r, "%s line %d: the value of '%s' holds both kinds of quote", r->display, lineno, key);
	if (ini_add_key(r, key, written, lineno) < 0)
		return -1;
	/* every value quoted, so that iniparser cuts none at '#' or ';' */
	char quoted[INI_MAX_LINE + 8];
	if (*value)
		buf_printf(&r->norm, "%s = %s\n", key, ini_quote(value, quoted, sizeof quoted));
	else
		buf_printf(&r->norm, "%s =\n", key);
	return 0;
}

/* One line of the text (its newline already cut off). */
static int ini_read_line(struct ini_reader *r, char *raw, int lineno)
{
	size_t n = strlen(raw);
	if (n && raw[n - 1] == '\r')
		raw[--n] = 0;
	/* iniparser fails a whole file on a line of 1024: refuse it here, by line */
	if (n > INI_MAX_LINE)
		REFUSE(r, "%s line %d is longer than %d characters", r->display, lineno, INI_MAX_LINE);
	for (char *c = raw; *c; c++)
		if ((unsigned char)*c < 0x20 && *c != '\t')
			REFUSE(r, "%s line %d holds a control character", r->display, lineno);
	char *line = trim(raw);
	if (!*line || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return ini_read_header(r, line, lineno);
	return ini_read_pair(r, line, lineno);
}

/* iniparser reads only named files: hand it the normalised text through a
 * memory file. */
static int ini_load_normalised(struct ini_reader *r)
{
	int memfd = memfd_create("ini", MFD_CLOEXEC);
	if (memfd < 0)
		REFUSE(r, "cannot read %s: %s", r->display, strerror(errno));
	if (write(memfd, r->norm.data, r->norm.len) != (ssize_t)r->norm.len) {
		snprintf(r->err, r->errsize, "cannot read %s: %s", r->display, strerror(errno));
		close(memfd);
		return -1;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	parse_error[0] = 0;
	iniparser_set_error_callback(capture_error);
	r->ini->dict = iniparser_load(path);
	close(memfd);
	if (!r->ini->dict)
		REFUSE(r, "%s could not be read: %s", r->display, parse_error[0] ? parse_error : "unknown error");
	return 0;
}

struct ini *ini_parse(const char *text, size_t len, const char *display, char *err, size_t errsize)
{
	struct ini_reader r = {.ini = xcalloc(1, sizeof *r.ini), .display = display, .err = err, .errsize = errsize};
	char *copy = NULL;

	if (len > INI_MAX_BYTES) {
		snprintf(err, errsize, "%s is larger than 1 MiB; a description is a few lines of text", display);
		goto fail;
	}
	if (memchr(text, 0, len)) {
		snprintf(err, errsize, "%s holds a NUL byte; it must be plain text", display);
		goto fail;
	}
	copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = 0;
	char *p = copy;
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3; /* UTF-8 byte order mark, as Windows editors write it */
	buf_add(&r.norm, "", 0);
	for (int lineno = 1; p && *p; lineno++) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		char *raw = p;
		p = nl ? nl + 1 : NULL;
		if (ini_read_line(&r, raw, lineno) < 0)
			goto fail;
	}
	if (ini_load_normalised(&r) < 0)
		goto fail;
	free(copy);
	buf_free(&r.norm);
	return r.ini;
fail:
	free(copy);
	buf_free(&r.norm);
	ini_free(r.ini);
	return NULL;
}

struct ini *ini_load(int dirfd, const char *name, const char *display, char *err, size_t errsize)
{
	size_t len;
	char *text = file_read_small(dirfd, name, INI_MAX_BYTES, &len);
	if (!text) {
		if (errno == EFBIG)
			snprintf(err, errsize, "%s is larger than 1 MiB; a description is a few lines of text",
				 display);
		else
			snprintf(err, errsize, "cannot read %s: %s", display, strerror(errno));
		return NULL;
	}
	struct ini *ini = ini_parse(text, len, display, err, errsize);
	free(text);
	return ini;
}

void ini_free(struct ini *ini)
{
	if (!ini)
		return;
	if (ini->dict)
		iniparser_freedict(ini->dict);
	strlist_free(&ini->sections);
	strlist_free(&ini->keys);
	strlist_free(&ini->written);
	free(ini->lines);
	free(ini);
}

static int key_index(const struct ini *ini, const char *section, const char *key)
{
	char full[256];
	snprintf(full, sizeof full, "%s:%s", section, key);
	for (size_t i = 0; i < ini->keys.n; i++)
		if (!strcmp(ini->keys.v[i], full))
			return (int)i;
	return -1;
}

const char *ini_get(const struct ini *ini, const char *section, const char *key)
{
	if (!ini || key_index(ini, section, key) < 0)
		return NULL;
	char full[256];
	snprintf(full, sizeof full, "%s:%s", section, key);
	return iniparser_getstring(ini->dict, full, NULL);
}

const char *ini_key_written(const struct ini *ini, const char *section, const char *key)
{
	int i = ini ? key_index(ini, section, key) : -1;
	return i < 0 ? NULL : ini->written.v[i];
}

int ini_line(const struct ini *ini, const char *section, const char *key)
{
	int i = ini ? key_index(ini, section, key) : -1;
	return i < 0 ? 0 : ini->lines[i];
}

size_t ini_sections(const struct ini *ini, const char ***names)
{
	*names = (const char **)ini->sections.v;
	return ini->sections.n;
}

size_t ini_keys(const struct ini *ini, const char *section, const char ***keys)
{
	/* Returned pointers point past "section:" into our own list. */
	static const char **out;
	static size_t cap;
	size_t n = 0, sl = strlen(section);
	for (size_t i = 0; i < ini->keys.n; i++)
		if (!strncmp(ini->keys.v[i], section, sl) && ini->keys.v[i][sl] == ':') {
			if (n == cap) {
				cap = cap ? cap * 2 : 32;
				out = xrealloc(out, cap * sizeof *out);
			}
			out[n++] = ini->keys.v[i] + sl + 1;
		}
	*keys = out;
	return n;
}

static bool in_list(const char *const *list, const char *k)
{
	for (; *list; list++)
		if (!strcmp(*list, k))
			return true;
	return false;
}

/* Levenshtein distance, for "did you mean" */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	size_t d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

void ini_unknown(const struct ini *ini, const char *display, const char *sec, const char *const *known,
		 struct strlist *warnings)
{
	const char **keys;
	size_t n = ini_keys(ini, sec, &keys);
	for (size_t i = 0; i < n; i++) {
		if (in_list(known, keys[i]))
			continue;
		const char *best = NULL;
		size_t bd = 3;
		for (const char *const *k = known; *k; k++) {
			size_t d = distance(keys[i], *k);
			if (d < bd)
				bd = d, best = *k;
		}
		char msg[400];
		if (best)
			snprintf(msg, sizeof msg, "%s line %d: unknown key '%s' in [%s] is ignored (did you mean '%s'?)",
				 display, ini_line(ini, sec, keys[i]), keys[i], sec, best);
		else
			snprintf(msg, sizeof msg, "%s line %d: unknown key '%s' in [%s] is ignored", display,
				 ini_line(ini, sec, keys[i]), keys[i], sec);
		strlist_add(warnings, msg);
	}
}
