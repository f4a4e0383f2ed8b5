/* jobdesc.h - a job's description (job.ini): checked once at the boundary
 * into a typed struct, written back normalised for everything downstream. */
#ifndef HOTFARM_JOBDESC_H
#define HOTFARM_JOBDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct ini;

struct job_require {
	char key[64];
	char pattern[256];
};

struct job_desc {
	char name[96];
	int priority;
	char frames_spec[1024];
	long *frames;
	size_t nframes;
	long chunk, retries, timeout;
	char owner[128], email[256], site[64], limits[256];
	struct strlist after; /* jobs that must be done first */
	struct strlist pools; /* [job] pool: patterns of host pool labels, any of them (none: any host) */
	int64_t not_before;   /* [job] not_before: no frame starts before (seconds since 1970), 0: none */
	char package[64], scene[1024], output[1024], args[1024];
	struct strlist argv;
	long width, height;
	bool allow_blank; /* a single-colour frame is what the job wants */
	int format;       /* enum frame_format: [render] format, or implied by output */
	struct strlist extra_outputs; /* [render] extra_outputs: patterns of more files a frame */
	long fps;         /* [job] fps: the preview movie's frame rate */
	struct job_require *req;
	size_t nreq;
	long min_ram_mb, min_cpus;
	unsigned long long archive_size; /* [archive] size, 0 when not given */
	char archive_sha256[65];
	struct strlist env_names, env_values; /* [env], names as written (env.c) */
	struct strlist warnings; /* unknown keys and similar, for status.ini */
};

/* Check the description in INI (named DISPLAY in messages) into JD.
 * Returns 0, or -1 with one sentence in ERR naming the line. */
int job_desc_parse(const struct ini *ini, const char *display, long max_frames, struct job_desc *jd, char *err,
		   size_t errsize);
void job_desc_free(struct job_desc *jd);
/* The names in JD's [job] limits ("nuke, arnold"), added to OUT. */
void job_desc_limits(const struct job_desc *jd, struct strlist *out);
/* Whether JD's normalised text can be read back: each line within
 * INI_MAX_LINE. job_desc_parse checks it; whoever changes JD afterwards
 * checks again. 0, or -1 with one sentence in ERR (naming the line of INI,
 * when given). */
int job_desc_check(const struct job_desc *jd, const struct ini *ini, const char *display, char *err, size_t errsize);
/* The normalised job.ini text (every key, defaults filled in). */
void job_desc_format(const struct job_desc *jd, struct buf *out);

/* jobsched.c: [job] pool and not_before, read and written back. */
int job_desc_read_sched(const struct ini *ini, const char *display, struct job_desc *jd, char *err, size_t errsize);
void job_desc_format_sched(const struct job_desc *jd, struct buf *b);
/* Whether JD may not start yet (not_before is still to come): WHY says
 * until when, in local time. */
bool job_not_yet(const struct job_desc *jd, char *why, size_t whysize);
/* A time 2026-12-07T02:00[:SS] (local) or ...Z (UTC), T or a blank
 * between: seconds since 1970. -1 when it does not read. */
int when_parse(const char *s, int64_t *out);
/* T as 2026-12-07T01:00:00Z, and as local time for a person. */
void when_format(int64_t t, char out[32]);
void when_local(int64_t t, char *out, size_t outsize);

/* "1-240", "1-240x2", "1,5,9-12": sorted, without duplicates. */
int frames_parse(const char *spec, long max_count, long **frames, size_t *n, char *err, size_t errsize);
/* Split renderer arguments into words (quotes group, no shell). */
int args_split(const char *s, struct strlist *out, char *err, size_t errsize);
/* The order in which N tickets should be taken: first, last, middle,
 * quartiles, eighths, then the rest in frame order. */
size_t *samples_order(size_t n);

#endif
