/* ini.h - every .ini hotfarm reads goes through here: a strict pre-check of
 * the text (line numbers, duplicates, quoting, long lines) guards iniparser's
 * edges, then iniparser holds the values. Input is untrusted. */
#ifndef HOTFARM_INI_H
#define HOTFARM_INI_H

#include <stdbool.h>
#include <stddef.h>

struct ini;

/* The longest line ini_parse reads (iniparser refuses lines of 1024):
 * whoever writes a .ini for hotfarm to read keeps within it. */
#define INI_MAX_LINE 1000

/* Load NAME below DIRFD. On failure returns NULL and writes one sentence
 * (with the line number where one applies) to ERR. DISPLAY names the file
 * in messages. */
struct ini *ini_load(int dirfd, const char *name, const char *display, char *err, size_t errsize);
/* The same from text in memory. */
struct ini *ini_parse(const char *text, size_t len, const char *display, char *err, size_t errsize);
void ini_free(struct ini *ini);

/* The value of KEY in SECTION, or NULL when absent. */
const char *ini_get(const struct ini *ini, const char *section, const char *key);
/* KEY (as ini_keys gives it: lower case) as the file spells it, or NULL
 * when absent. Keys match whatever their case; [env] names keep theirs. */
const char *ini_key_written(const struct ini *ini, const char *section, const char *key);
/* The line KEY was set on, 0 when absent. */
int ini_line(const struct ini *ini, const char *section, const char *key);
/* Sections in file order, and the keys of one section in file order. */
size_t ini_sections(const struct ini *ini, const char ***names);
size_t ini_keys(const struct ini *ini, const char *section, const char ***keys);

/* Quote VALUE so that ini_parse reads it back unchanged. */
const char *ini_quote(const char *value, char *out, size_t outsize);
/* A warning in WARNINGS for each key of [SEC] not in KNOWN (NULL-ended),
 * with the known key it is closest to ("did you mean"). */
struct strlist;
void ini_unknown(const struct ini *ini, const char *display, const char *sec, const char *const *known,
		 struct strlist *warnings);

#endif
