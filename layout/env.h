/* env.h - [env]: the variables a job (untrusted) and its package (the
 * admin's) put into a render's environment, and the names each may set. */
#ifndef HOTFARM_ENV_H
#define HOTFARM_ENV_H

#include <stddef.h>

#include "util.h"

struct ini;
struct job_desc;
struct package;

/* At most this many variables in one [env], and this many bytes of
 * NAME=value text in all. */
#define ENV_MAX_VARS 64
#define ENV_MAX_BYTES 16384

enum env_source { ENV_FROM_JOB, ENV_FROM_PACKAGE };

/* Why SOURCE may never set NAME (the end of a sentence: "LD_ variables
 * steer the dynamic loader..."), or NULL. A job may set neither LD_*,
 * HOTFARM_* nor TMPDIR; a package neither HOTFARM_*, TMPDIR, LD_PRELOAD
 * nor LD_AUDIT. PATH and a package's fixed names are env_job_allowed's. */
const char *env_name_refused(const char *name, enum env_source source);
/* [env] of INI (named DISPLAY in messages), names with their case as
 * written, into NAMES and VALUES, checked for SOURCE. 0, or -1 with one
 * sentence in ERR naming the line. */
int env_read(const struct ini *ini, const char *display, enum env_source source, struct strlist *names,
	     struct strlist *values, char *err, size_t errsize);
/* Whether package P lets a job set each of NAMES: not one it marks fixed
 * ([package] env_fixed), PATH only with [package] env_path = yes.
 * 0, or -1 with one sentence in ERR (DISPLAY names the job's file). */
int env_job_allowed(const struct package *p, const struct strlist *names, const char *display, char *err,
		    size_t errsize);
/* P's [env], [package] env_fixed and env_path (DISPLAY: its file). */
int package_env_load(const struct ini *ini, const char *display, struct package *p, char *err, size_t errsize);
/* The render's variables as NAME=value words into OUT: P's, then JD's
 * over them. Everything is checked again here (the agent never trusts
 * that intake did). 0, or -1 with one sentence in ERR. */
int env_merge(const struct package *p, const struct job_desc *jd, struct strlist *out, char *err, size_t errsize);

#endif
