/* package.h - render packages (conf/packages/NAME.ini): how an agent probes
 * for the renderer and its version, and the argv that renders one frame. */
#ifndef HOTFARM_PACKAGE_H
#define HOTFARM_PACKAGE_H

#include <regex.h>
#include <stdbool.h>

#include "frameout.h"
#include "util.h"

/* [errors] (rules.c): what a failed frame's log says decides what becomes
 * of it. The rules are tried in this order; the first that matches wins. */
enum package_rule {
	RULE_NONE,    /* no rule matched: the failure counts, as any other */
	RULE_FAIL,    /* a scene error: the frame fails now, whatever retries are left */
	RULE_LICENCE, /* no licence: back to todo/, not counted, tried again after a wait */
	RULE_RETRY,   /* counted; the next try prefers another host */
	RULE_COUNT
};
struct package_rules {
	struct strlist patterns[RULE_COUNT]; /* as written (POSIX extended) */
	regex_t *compiled[RULE_COUNT];       /* one per pattern */
	long licence_wait;                   /* seconds: the first wait after a licence failure */
};

struct package {
	char name[64];
	char description[256];
	char probe_command[256];   /* looked up in PATH; empty: always there */
	struct strlist probe_args;
	struct strlist startup_args; /* [probe] startup: a run that renders nothing, timed as the start-up cost */
	char version_regex[256];   /* POSIX extended; group 1 is the version */
	char version[64];          /* fixed version when there is nothing to probe */
	struct strlist argv;       /* the template, one word each */
	struct strlist range_argv; /* [range] argv: frames {run_first}..{run_last} in one process */
	char range_file[128];      /* [range] file: each frame's image is PREFIX<number>... */
	bool builtin_null;         /* benchmarking only: renders nothing, runs nothing */
	bool no_output;            /* [package] produces = nothing: exit 0 is success */
	struct strlist confine_read; /* [confine] read: its install paths, read-only to a confined render */
	bool network;                /* [confine] network = yes: its renders may use the network (licences) */
	struct strlist scene_exts;   /* [scene] extensions: the endings of its scene files (".blend") */
	struct strlist scene_argv;   /* [scene] argv: a run that prints what the scene says (intake, confined) */
	/* [formats]: the words {format} becomes for each frame_format (index
	 * FORMAT_SCENE: key "default", what a job naming none gets) */
	struct strlist formats[FORMAT_COUNT];
	bool has_format[FORMAT_COUNT];
	/* [python]: snippets {py:NAME} stands for (Python holding quotes of
	 * its own, which a word of argv cannot: one kind per .ini value) */
	struct strlist py_names, py_code;
	/* [env]: variables its renders get (names as written), before the
	 * job's; [package] env_fixed: names (or PREFIX*) a job may not set;
	 * env_path = yes: a job may set PATH (env.c) */
	struct strlist env_names, env_values, env_fixed;
	bool env_path;
	struct package_rules rules; /* [errors] */
};

/* The values placeholders stand for. */
struct render_vars {
	const char *scene, *files, *output, *outdir, *job;
	long frame, first_frame, last_frame, width, height;
	long run_first, run_last; /* the run's frames, for a [range] argv */
	const struct strlist *args; /* the job's [render] args, already split */
	int format;                 /* enum frame_format: what {format} stands for */
};

/* [errors] (rules.c): read from INI into P's rules; a pattern that is no
 * regular expression is an error naming DISPLAY and the key. */
struct ini;
int package_rules_load(const struct ini *ini, const char *display, struct package *p, char *err, size_t errsize);
void package_rules_free(struct package *p);
/* Whether P has any [errors] pattern. */
bool package_has_rules(const struct package *p);
/* The first rule of P whose pattern matches TEXT (a renderer's last
 * output), and that pattern (PATTERN; NULL when RULE_NONE). */
enum package_rule package_rule_match(const struct package *p, const char *text, const char **pattern);
/* "fail", "licence", "retry" ("" for RULE_NONE). */
const char *package_rule_name(enum package_rule r);
/* How long a frame waits after its WAITED+1st licence failure: the
 * package's licence_wait, doubling each time, at most 10 minutes (or
 * licence_wait, when that is longer). */
long package_licence_wait(const struct package *p, long waited);

int package_load(int confdir, const char *name, struct package *p, char *err, size_t errsize);
void package_free(struct package *p);
/* Whether P can write FORMAT (FORMAT_SCENE: always; a package without
 * [formats]: whatever its command writes). */
bool package_writes(const struct package *p, int format);
/* The formats P writes, "png, exr, ..." ("what its command writes"). */
void package_format_list(const struct package *p, char *out, size_t outsize);
/* Expand the template (WHICH: [render], [range] or [scene] argv): {scene} {files} {output}
 * {outdir} {job} {frame} {frame4} {first_frame} {last_frame} {run_first}
 * {run_last} {width} {height} inside words; {args} as a word of its own
 * becomes the job's argument words (with the same placeholders expanded
 * in them), {format} the package's words for the job's format, and
 * {py:NAME} the package's [python] NAME (its placeholders expanded).
 * Never a shell. */
enum package_run { RUN_FRAME, RUN_RANGE, RUN_SCENE };
int package_argv(const struct package *p, const struct render_vars *v, enum package_run which, struct strlist *argv,
		 char *err, size_t errsize);
/* The package whose [scene] extensions claim FILE's name ending, into
 * OUT; false when none or more than one do. */
bool package_for_scene(int confdir, const char *file, char *out, size_t outsize);
/* Whether P's [scene] extensions claim FILE. */
bool package_claims(const struct package *p, const char *file);
/* The scenes in folder PATH below DIRFD: its regular files that PKG
 * claims, or with PKG NULL that exactly one package of CONFDIR claims
 * (the packages read once), added to OUT as PATH/NAME ("." : NAME).
 * Returns how many. */
size_t package_scenes(int confdir, int dirfd, const char *path, const struct package *pkg, struct strlist *out);
/* Which frame file NAME (in a run's output folder) holds: PREFIX, then
 * the number with any zero padding; -1 when it is no frame's file. */
long package_range_frame(const struct package *p, const char *name);
/* The packages in conf/packages/ (NAME for each NAME.ini), sorted, added
 * to OUT. -1 with errno when the folder cannot be listed. */
int package_names(int confdir, struct strlist *out);
/* conf/packages/NAME.ini relative to the spool, for messages. */
void package_file_relpath(const char *name, char *out, size_t outsize);
/* Whether conf/packages/NAME.ini is there to be read (CONFDIR: conf/). */
bool package_exists(int confdir, const char *name);

#endif
