/* cgfile.h - what wrapper/cgroup.c and cgtree.c share (cgfile.c): small
 * cgroup files beneath directory descriptors; not for other callers. */
#ifndef HOTFARM_CGFILE_H
#define HOTFARM_CGFILE_H

#include "cgroup.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* NAME beneath AT, a directory: openat(O_NOFOLLOW|O_CLOEXEC) */
int cg_dir_at(int at, const char *name);
bool cg_file_has(int dir, const char *name);
/* NAME into BUF, NUL-terminated, cut to SIZE - 1: its length, or -1 */
ssize_t cg_file_get(int dir, const char *name, char *buf, size_t size);
/* TEXT into NAME in one write, as cgroup files want it */
int cg_file_put(int dir, const char *name, const char *text);
/* NAME's one number ("max" is not one) */
int cg_file_number(int dir, const char *name, unsigned long long *v);
/* the number of TEXT's line "KEY N" (cpu.stat, memory.events, ...) */
bool cg_key_number(const char *text, const char *key, unsigned long long *v);
/* WORD is one of LIST's, split at SEP and white space */
bool cg_word_in(const char *list, const char *word, char sep);
/* a group's (or host's) name: [A-Za-z0-9._-], no leading '.', not "agent", 1..MAX bytes */
bool cg_name_ok(const char *s, size_t max);
/* append a note to WHY, "; " between notes */
void cg_note(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* FN(PID, ARG) for each pid in DIR's cgroup.procs (FN NULL: count them);
 * how many, or -1 with errno (FN's failure stops it) */
long cg_procs_each(int dir, int (*fn)(long pid, void *arg), void *arg);

#endif
