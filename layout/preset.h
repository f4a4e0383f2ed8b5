/* preset.h - preset hot folders: conf/presets/NAME.ini (any job.ini keys, and [preset] about) describes what
 * an artist drops into inbox/NAME/: a bare scene, a folder, or an archive whose own job.ini wins key by key. */
#ifndef HOTFARM_PRESET_H
#define HOTFARM_PRESET_H

#include "layout.h"

#define PRESET_NAME_MAX 48
#define PRESET_MAX 64 /* presets a site keeps folders for */

struct ini;

struct preset {
	char name[PRESET_NAME_MAX + 1];
	char about[400]; /* [preset] about: one line on what dropping here does */
	char file[PRESET_NAME_MAX + 32]; /* conf/presets/NAME.ini, for messages */
	struct ini *ini; /* its [job], [render] and [requires] keys */
};

/* The presets in conf/presets/ (NAME for each NAME.ini with a valid name),
 * sorted, added to OUT (at most PRESET_MAX). -1 with errno when the folder
 * is there but cannot be listed (no folder: none, 0). */
int preset_names(int confdir, struct strlist *out);
/* Whether NAME is a preset of this site (conf/presets/NAME.ini is there). */
bool preset_exists(int confdir, const char *name);
/* Load and check conf/presets/NAME.ini: its keys must make a job
 * description once a scene and frames are added. 0, or -1 with one
 * sentence in ERR. */
int preset_load(int confdir, const char *name, struct preset *p, char *err, size_t errsize);
void preset_free(struct preset *p);
/* A one-line summary of what P gives: "package blender, priority 300,
 * format exr; frames and size from the scene". */
void preset_summary(const struct preset *p, char *out, size_t outsize);

/* Make inbox/NAME/ for each preset, with inbox/'s group and mode (sticky,
 * artists may write). The names made are added to MADE (may be NULL).
 * 0, or -1 with one sentence in ERR (the others are still made). */
int preset_folders_make(const struct spool *sp, struct strlist *made, char *err, size_t errsize);
/* SP's inbox becomes inbox/NAME/ (for hf-intake --preset NAME). */
int spool_view_preset(struct spool *sp, const char *name);
/* inbox/NAME relative to the spool, for watches and messages. */
void preset_folder_relpath(const char *name, char *out, size_t outsize);
/* conf/presets/NAME.ini, and the folder conf/presets, relative to the
 * spool, for messages. */
void preset_file_relpath(const char *name, char *out, size_t outsize);
const char *preset_dir_relpath(void);

/* One key a drop gives where neither the preset nor the job's own job.ini
 * does: its scene, its name, what the scene says of its frames and size. */
struct preset_key {
	const char *section, *key, *value;
	const char *source; /* "the scene", "the drop" */
	bool replace;       /* the value stands even where the preset or job.ini gives the key (the
			     * scene's path within the drop), which is still said to come from them */
};

/* The description of a preset drop: PRESET's keys, each replaced by the
 * one in JOB (the drop's own job.ini, may be NULL), then EXTRA where
 * neither has the key. OUT gets the .ini text; FROM a line saying where
 * the keys came from: "preset hd: package, priority; job.ini: frames;
 * the scene: width, height". */
void preset_merge(const struct preset *preset, const struct ini *job, const struct preset_key *extra, size_t nextra,
		  struct buf *out, struct buf *from);
/* Whether KEY of SECTION is given by the preset or by JOB (may be NULL). */
bool preset_has(const struct preset *preset, const struct ini *job, const char *section, const char *key);

#endif
