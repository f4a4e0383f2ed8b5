/* jobdesc.c - parse and check a job.ini a user dropped. Everything here is
 * untrusted: numbers are range-checked, paths must stay inside the job,
 * arguments become argv words, never shell text. */
#define _GNU_SOURCE
#include "jobdesc.h"
#include "env.h"
#include "frameout.h"
#include "ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FRAME 9999999L

static const char *const job_keys[] = {"name",  "priority", "frames", "chunk", "retries", "timeout",
				       "owner", "email",    "site",   "limits", "after",   "fps", "pool", "not_before", NULL};
static const char *const render_keys[] = {"package", "scene", "width", "height", "output", "args", "allow_blank",
					  "format", "extra_outputs", NULL};
static const char *const archive_keys[] = {"size", "sha256", NULL};

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* One number of a frame list, and the blanks after it: 0, or 1 when
 * there is no number, 2 when it is out of range. */
static int read_frame(const char **pp, long *out)
{
	const char *p = *pp;
	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		return 1;
	char *end;
	errno = 0;
	*out = strtol(p, &end, 10);
	if (errno || *out > MAX_FRAME)
		return 2;
	for (p = end; *p == ' ';)
		p++;
	*pp = p;
	return 0;
}

int frames_parse(const char *spec, long max_count, long **framesp, size_t *np, char *err, size_t errsize)
{
	size_t cap = 64, n = 0;
	long *f = xmalloc(cap * sizeof *f);
	const char *p = spec;
	while (*p == ' ')
		p++;
	if (!*p) {
		snprintf(err, errsize, "frames is empty; write a range like 1-240");
		goto fail;
	}
	int r;
	while (*p) {
		long a, b, step = 1;
		r = read_frame(&p, &a);
		if (r)
			goto bad;
		b = a;
		if (*p == '-') {
			p++;
			if ((r = read_frame(&p, &b)))
				goto bad;
			if (*p == 'x' || *p == ':') {
				p++;
				if ((r = read_frame(&p, &step)))
					goto bad;
				if (step < 1) {
					snprintf(err, errsize, "frames '%s': the step after 'x' must be from 1 to %ld",
						 spec, MAX_FRAME);
					goto fail;
				}
			}
		}
		if (b < a) {
			snprintf(err, errsize, "frames '%s': the range %ld-%ld runs backwards", spec, a, b);
			goto fail;
		}
		if ((b - a) / step + 1 > max_count - (long)n)
			goto count;
		for (long x = a; x <= b; x += step) {
			if (n == cap) {
				cap *= 2;
				f = xrealloc(f, cap * sizeof *f);
			}
			f[n++] = x;
		}
		while (*p == ' ')
			p++;
		r = 1; /* a list goes on after a comma, or ends */
		if (*p == ',') {
			p++;
			while (*p == ' ')
				p++;
			if (!*p)
				goto bad;
		} else if (*p)
			goto bad;
	}
	qsort(f, n, sizeof *f, cmp_long);
	size_t u = 0;
	for (size_t i = 0; i < n; i++)
		if (u == 0 || f[u - 1] != f[i])
			f[u++] = f[i];
	*framesp = f;
	*np = u;
	return 0;
bad:
	if (r == 1)
		snprintf(err, errsize, "frames '%s' is not a frame list; write e.g. 1-240, 1-240x2 or 1,5,9-12", spec);
	else
		snprintf(err, errsize, "frames '%s': frame numbers go from 0 to %ld", spec, MAX_FRAME);
	goto fail;
count:
	snprintf(err, errsize, "frames '%s' asks for more than %ld frames, this site's limit ([intake] max_frames)",
		 spec, max_count);
fail:
	free(f);
	return -1;
}

int args_split(const char *s, struct strlist *out, char *err, size_t errsize)
{
	struct buf word = {0};
	bool in_word = false;
	char quote = 0;
	for (const char *p = s;; p++) {
		char c = *p;
		if (quote) {
			if (!c) {
				snprintf(err, errsize, "args has an unterminated %c quote", quote);
				buf_free(&word);
				return -1;
			}
			if (c == quote)
				quote = 0;
			else
				buf_add(&word, &c, 1);
			continue;
		}
		if (!c || c == ' ' || c == '\t') {
			if (in_word) {
				strlist_add(out, word.data ? word.data : "");
				buf_free(&word);
				in_word = false;
				if (out->n > 100) {
					snprintf(err, errsize, "args has more than 100 words");
					return -1;
				}
			}
			if (!c)
				break;
			continue;
		}
		in_word = true;
		if (c == '"' || c == '\'') {
			quote = c;
			buf_add(&word, "", 0);
		} else
			buf_add(&word, &c, 1);
	}
	return 0;
}

size_t *samples_order(size_t n)
{
	size_t *order = xmalloc((n ? n : 1) * sizeof *order);
	bool *taken = xcalloc(n ? n : 1, sizeof *taken);
	size_t k = 0;
	if (n == 0)
		goto out;
	/* first and last, then midpoints breadth first: middle, quartiles,
	 * eighths — nine samples that span the shot */
	size_t lo[16], hi[16], head = 0, tail = 0;
	order[k++] = 0;
	taken[0] = true;
	if (n > 1) {
		order[k++] = n - 1;
		taken[n - 1] = true;
	}
	lo[tail] = 0, hi[tail] = n - 1, tail++;
	while (head < tail && k < 9) {
		size_t a = lo[head], b = hi[head];
		head++;
		if (b - a < 2)
			continue;
		size_t m = a + (b - a) / 2;
		if (!taken[m]) {
			taken[m] = true;
			order[k++] = m;
		}
		if (tail + 2 <= 16) {
			lo[tail] = a, hi[tail] = m, tail++;
			lo[tail] = m, hi[tail] = b, tail++;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!taken[i])
			order[k++] = i;
out:
	free(taken);
	return order;
}

static void warn_unknown(struct job_desc *jd, const struct ini *ini, const char *display, const char *sec,
			 const char *const *known)
{
	ini_unknown(ini, display, sec, known, &jd->warnings);
}

#define BAD(...)                                                                     \
	do {                                                                         \
		snprintf(err, errsize, __VA_ARGS__);                                 \
		return -1;                                                           \
	} while (0)

static int get_number(const struct ini *ini, const char *display, const char *sec, const char *key, long min,
		      long max, const char *hint, long *out, char *err, size_t errsize)
{
	const char *v = ini_get(ini, sec, key);
	if (!v)
		return 0;
	if (!parse_long(v, min, max, out))
		BAD("%s line %d: %s must be a whole number from %ld to %ld%s, not '%s'", display,
		    ini_line(ini, sec, key), key, min, max, hint, v);
	return 0;
}

static int get_text(const struct ini *ini, const char *display, const char *sec, const char *key, char *out,
		    size_t outsize, char *err, size_t errsize)
{
	const char *v = ini_get(ini, sec, key);
	if (!v)
		return 0;
	if (strlen(v) >= outsize)
		BAD("%s line %d: %s is longer than %zu characters", display, ini_line(ini, sec, key), key,
		    outsize - 1);
	snprintf(out, outsize, "%s", v);
	return 0;
}

/* What a job.ini that says nothing more gets. */
static void job_desc_defaults(struct job_desc *jd)
{
	memset(jd, 0, sizeof *jd);
	jd->priority = 500;
	jd->chunk = 0; /* auto */
	jd->retries = 2;
	jd->width = 640;
	jd->height = 480;
	snprintf(jd->package, sizeof jd->package, "povray");
	snprintf(jd->output, sizeof jd->output, "frame_####.png");
	snprintf(jd->site, sizeof jd->site, "local");
	jd->fps = 24;
}

/* [job] and [render] must be there; a section nobody reads is most likely a
 * typo, so it is warned about rather than passed over in silence. */
static int job_desc_read_sections(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
				  size_t errsize)
{
	const char **secs;
	size_t ns = ini_sections(ini, &secs);
	bool has_job = false, has_render = false;
	for (size_t i = 0; i < ns; i++) {
		if (!strcmp(secs[i], "job"))
			has_job = true;
		else if (!strcmp(secs[i], "render"))
			has_render = true;
		else if (strcmp(secs[i], "requires") && strcmp(secs[i], "archive") && strcmp(secs[i], "route") &&
			   strcmp(secs[i], "env")) {
			char msg[300];
			snprintf(msg, sizeof msg, "%s: unknown section [%s] is ignored", display, secs[i]);
			strlist_add(&jd->warnings, msg);
		}
	}
	if (!has_job)
		BAD("%s has no [job] section; it needs at least [job] frames and [render] scene", display);
	if (!has_render)
		BAD("%s has no [render] section; it needs at least [render] scene", display);
	return 0;
}

/* [job] after: a list without repeats of job names, which watcherd looks
 * up in the spool (job_deps_ready) before the job may start. */
static int job_desc_read_after(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
			       size_t errsize)
{
	const char *s = ini_get(ini, "job", "after");
	if (!s)
		return 0;
	char *copy = xstrdup(s), *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (!name_is_valid(t) || strlen(t) > 80) {
			free(copy);
			BAD("%s line %d: after must list job names like 'shot41, shot42', not '%s'", display,
			    ini_line(ini, "job", "after"), s);
		}
		if (!strlist_has(&jd->after, t))
			strlist_add(&jd->after, t);
	}
	free(copy);
	return 0;
}

/* [job]: which frames, and how the farm schedules, retries, routes and
 * reports the job. */
static int job_desc_read_job(const struct ini *ini, const char *display, long max_frames, struct job_desc *jd,
			     char *err, size_t errsize)
{
	long v;
	const char *s;
	if ((s = ini_get(ini, "job", "name")) && *s) {
		if (strlen(s) > 200)
			BAD("%s line %d: name is longer than 200 characters", display, ini_line(ini, "job", "name"));
		snprintf(jd->name, sizeof jd->name, "%s", s);
	}
	v = jd->priority;
	if (get_number(ini, display, "job", "priority", 0, 999, " (lower runs first, default 500)", &v, err, errsize))
		return -1;
	jd->priority = (int)v;
	if (!(s = ini_get(ini, "job", "frames")))
		BAD("%s: [job] frames is missing; say which frames to render, e.g. frames = 1-240", display);
	if (get_text(ini, display, "job", "frames", jd->frames_spec, sizeof jd->frames_spec, err, errsize))
		return -1;
	char ferr[400];
	if (frames_parse(s, max_frames, &jd->frames, &jd->nframes, ferr, sizeof ferr) < 0)
		BAD("%s line %d: %s", display, ini_line(ini, "job", "frames"), ferr);
	if ((s = ini_get(ini, "job", "chunk")) && strcasecmp(s, "auto") &&
	    get_number(ini, display, "job", "chunk", 1, 10000,
		       " (frames one renderer process renders), or auto (the default)", &jd->chunk, err, errsize))
		return -1;
	if (get_number(ini, display, "job", "retries", 0, 100, "", &jd->retries, err, errsize))
		return -1;
	if (get_number(ini, display, "job", "fps", 1, 240, " (the preview movie's frames a second)", &jd->fps, err,
		       errsize))
		return -1;
	if ((s = ini_get(ini, "job", "timeout")) && !parse_seconds(s, 7 * 86400, &jd->timeout))
		BAD("%s line %d: timeout must be a time per frame like 600, 90s, 30m or 2h (at most 7d), not '%s'",
		    display, ini_line(ini, "job", "timeout"), s);
	if (get_text(ini, display, "job", "owner", jd->owner, sizeof jd->owner, err, errsize) ||
	    get_text(ini, display, "job", "email", jd->email, sizeof jd->email, err, errsize) ||
	    get_text(ini, display, "job", "site", jd->site, sizeof jd->site, err, errsize) ||
	    get_text(ini, display, "job", "limits", jd->limits, sizeof jd->limits, err, errsize))
		return -1;
	if (job_desc_read_after(ini, display, jd, err, errsize) || job_desc_read_sched(ini, display, jd, err, errsize))
		return -1;
	/* hf-notify puts the address in a To: header: one address, nothing
	 * that could add a recipient */
	if (*jd->email && (!strchr(jd->email, '@') || strpbrk(jd->email, " \t,;<>\"'")))
		BAD("%s line %d: email '%s' is not one mail address", display, ini_line(ini, "job", "email"),
		    jd->email);
	if (!name_is_valid(jd->site))
		BAD("%s line %d: site must be local, auto or a linked site's name, not '%s'", display,
		    ini_line(ini, "job", "site"), jd->site);
	str_lower(jd->site); /* site names are case-blind */
	for (char *c = jd->limits; *c; c++)
		if (!(isalnum((unsigned char)*c) || strchr("._-, ", *c)))
			BAD("%s line %d: limits must be a list of limit names like 'nuke, arnold'", display,
			    ini_line(ini, "job", "limits"));
	/* limits/quota.* hold the owners' quotas, not a job's to take */
	for (const char *q = jd->limits; (q = strstr(q, "quota.")); q++)
		if (q == jd->limits || strchr(", ", q[-1]))
			BAD("%s line %d: limits names quota.*, which are the farm's quotas, not limits", display,
			    ini_line(ini, "job", "limits"));
	return 0;
}

/* [render] scene: a path inside the archive, with any leading "./" dropped
 * so that the same scene always reads the same. */
static int job_desc_read_scene(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
			       size_t errsize)
{
	if (!ini_get(ini, "render", "scene"))
		BAD("%s: [render] scene is missing; name the scene file inside the archive, e.g. scene = shot.pov",
		    display);
	if (get_text(ini, display, "render", "scene", jd->scene, sizeof jd->scene, err, errsize))
		return -1;
	const char *scene = jd->scene;
	while (scene[0] == '.' && scene[1] == '/')
		scene += 2;
	memmove(jd->scene, scene, strlen(scene) + 1);
	if (!path_is_inside(jd->scene))
		BAD("%s line %d: scene '%s' must be a path inside the archive, without '..' or a leading '/'",
		    display, ini_line(ini, "render", "scene"), jd->scene);
	return 0;
}

/* [render] output: a file name inside the job's output folder. Each frame
 * needs a name of its own, so a name without #### gets _#### before its
 * extension (with a warning) rather than every frame overwriting one file. */
static int job_desc_read_output(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
				size_t errsize)
{
	if (get_text(ini, display, "render", "output", jd->output, sizeof jd->output, err, errsize))
		return -1;
	if (!path_is_inside(jd->output))
		BAD("%s line %d: output '%s' must be a file name inside the job's output folder, like shot_####.png",
		    display, ini_line(ini, "render", "output"), jd->output);
	if (strchr(jd->output, '#'))
		return 0;
	char msg[300];
	snprintf(msg, sizeof msg, "%s line %d: output has no #### for the frame number; hotfarm adds it", display,
		 ini_line(ini, "render", "output"));
	strlist_add(&jd->warnings, msg);
	char *dot = strrchr(jd->output, '.');
	char *slash = strrchr(jd->output, '/');
	if (!dot || (slash && dot < slash))
		dot = jd->output + strlen(jd->output);
	char rest[1024];
	snprintf(rest, sizeof rest, "%s", dot);
	if ((size_t)(dot - jd->output) + 5 + strlen(rest) >= sizeof jd->output)
		BAD("%s: output is too long", display);
	snprintf(dot, sizeof jd->output - (size_t)(dot - jd->output), "_####%s", rest);
	/* the longer name must pass the same check when read back */
	if (!path_is_inside(jd->output))
		BAD("%s line %d: output's file name is longer than 255 characters once hotfarm adds _#### to it",
		    display, ini_line(ini, "render", "output"));
	return 0;
}

/* [render] format, and the output name's extension that agrees with it.
 * Neither given: the scene's (or the package's) own, under the name
 * frame_#### with the extension the renderer gives. */
static int job_desc_read_format(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
				size_t errsize)
{
	const char *s = ini_get(ini, "render", "format");
	bool named = ini_get(ini, "render", "output") != NULL;
	int implied = frame_format_of_name(jd->output);
	if (s && *s) {
		if ((jd->format = frame_format_parse(s)) < 0)
			BAD("%s line %d: format is %s, not '%.100s'", display, ini_line(ini, "render", "format"),
			    frame_format_list(), s);
		const char *ext = frame_format_ext(jd->format);
		if (!named)
			snprintf(jd->output, sizeof jd->output, "frame_####%s", ext);
		else if (implied < 0 || strcmp(frame_format_ext(implied), ext))
			BAD("%s line %d: output '%.200s' does not end in %s, the extension of format %s", display,
			    ini_line(ini, "render", "output"), jd->output, ext, s);
	} else if (named && implied >= 0) {
		jd->format = implied;
	} else {
		jd->format = FORMAT_SCENE;
		if (!named)
			snprintf(jd->output, sizeof jd->output, "frame_####");
	}
	if (!(s = ini_get(ini, "render", "extra_outputs")))
		return 0;
	char perr[300];
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ",");
		char name[256];
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		size_t k = n;
		while (k && (p[k - 1] == ' ' || p[k - 1] == '\t'))
			k--;
		if (k >= sizeof name)
			BAD("%s line %d: an extra output's name is longer than 200 characters", display,
			    ini_line(ini, "render", "extra_outputs"));
		snprintf(name, sizeof name, "%.*s", (int)k, p);
		if (k && frame_pattern_check(name, perr, sizeof perr) < 0)
			BAD("%s line %d: extra output %s", display, ini_line(ini, "render", "extra_outputs"), perr);
		if (k && jd->extra_outputs.n >= 16)
			BAD("%s line %d: at most 16 extra outputs", display, ini_line(ini, "render", "extra_outputs"));
		if (k)
			strlist_add(&jd->extra_outputs, name);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* [render]: which package renders what, at what size, with which words. */
static int job_desc_read_render(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
				size_t errsize)
{
	const char *s;
	if (get_text(ini, display, "render", "package", jd->package, sizeof jd->package, err, errsize))
		return -1;
	/* the name picks conf/packages/NAME.ini on each host */
	for (char *c = jd->package; *c; c++)
		if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '_' || *c == '-'))
			BAD("%s line %d: package '%s' is not a package name (lower-case letters, digits, '-', '_')",
			    display, ini_line(ini, "render", "package"), jd->package);
	if (!*jd->package)
		BAD("%s line %d: package is empty", display, ini_line(ini, "render", "package"));
	if (job_desc_read_scene(ini, display, jd, err, errsize))
		return -1;
	if (get_number(ini, display, "render", "width", 1, 16384, " pixels", &jd->width, err, errsize) ||
	    get_number(ini, display, "render", "height", 1, 16384, " pixels", &jd->height, err, errsize))
		return -1;
	if (job_desc_read_output(ini, display, jd, err, errsize) || job_desc_read_format(ini, display, jd, err, errsize))
		return -1;
	if (get_text(ini, display, "render", "args", jd->args, sizeof jd->args, err, errsize))
		return -1;
	if ((s = ini_get(ini, "render", "allow_blank"))) {
		if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1"))
			jd->allow_blank = true;
		else if (strcasecmp(s, "no") && strcasecmp(s, "false") && strcmp(s, "0"))
			BAD("%s line %d: allow_blank must be yes or no, not '%s'", display,
			    ini_line(ini, "render", "allow_blank"), s);
	}
	/* split once here: the agents run argv words, never shell text */
	char aerr[200];
	if (args_split(jd->args, &jd->argv, aerr, sizeof aerr) < 0)
		BAD("%s line %d: %s", display, ini_line(ini, "render", "args"), aerr);
	return 0;
}

/* [requires]: min_ram_mb and min_cpus are numbers a host must reach; any
 * other key is a pattern for the host's property or package of that name
 * (host_matches). */
static int job_desc_read_requires(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
				  size_t errsize)
{
	const char **keys;
	size_t nk = ini_keys(ini, "requires", &keys);
	jd->req = xcalloc(nk ? nk : 1, sizeof *jd->req);
	for (size_t i = 0; i < nk; i++) {
		const char *val = ini_get(ini, "requires", keys[i]);
		if (!strcmp(keys[i], "min_ram_mb")) {
			if (get_number(ini, display, "requires", "min_ram_mb", 0, 1L << 30, " (MiB)", &jd->min_ram_mb,
				       err, errsize))
				return -1;
			continue;
		}
		if (!strcmp(keys[i], "min_cpus")) {
			if (get_number(ini, display, "requires", "min_cpus", 0, 100000, "", &jd->min_cpus, err,
				       errsize))
				return -1;
			continue;
		}
		if (strlen(keys[i]) >= sizeof jd->req[0].key || strlen(val) >= sizeof jd->req[0].pattern)
			BAD("%s line %d: requirement '%s' is too long", display, ini_line(ini, "requires", keys[i]),
			    keys[i]);
		struct job_require *r = &jd->req[jd->nreq++];
		snprintf(r->key, sizeof r->key, "%s", keys[i]);
		snprintf(r->pattern, sizeof r->pattern, "%s", val);
	}
	return 0;
}

/* [archive]: what the submitter says the archive is, for intake to hold it
 * to; the digest is kept in lower case, as intake prints the one it
 * computes, so that the two compare as text. */
static int job_desc_read_archive(const struct ini *ini, const char *display, struct job_desc *jd, char *err,
				 size_t errsize)
{
	const char *s;
	if ((s = ini_get(ini, "archive", "size")) && !parse_bytes(s, &jd->archive_size))
		BAD("%s line %d: [archive] size must be the archive's size in bytes, not '%s'", display,
		    ini_line(ini, "archive", "size"), s);
	if ((s = ini_get(ini, "archive", "sha256"))) {
		size_t l = strlen(s);
		bool hex = l == 64;
		for (size_t i = 0; hex && i < l; i++)
			hex = isxdigit((unsigned char)s[i]);
		if (!hex)
			BAD("%s line %d: [archive] sha256 must be 64 hexadecimal digits", display,
			    ini_line(ini, "archive", "sha256"));
		for (size_t i = 0; i <= l; i++)
			jd->archive_sha256[i] = (char)tolower((unsigned char)s[i]);
	}
	return 0;
}

/* Sections in a fixed order, so that of two mistakes the same one is
 * always reported; unknown keys are warned about only once all is read. */
static int parse_desc(const struct ini *ini, const char *display, long max_frames, struct job_desc *jd, char *err,
		      size_t errsize)
{
	job_desc_defaults(jd);
	if (job_desc_read_sections(ini, display, jd, err, errsize) ||
	    job_desc_read_job(ini, display, max_frames, jd, err, errsize) ||
	    job_desc_read_render(ini, display, jd, err, errsize) ||
	    job_desc_read_requires(ini, display, jd, err, errsize) ||
	    job_desc_read_archive(ini, display, jd, err, errsize) ||
	    env_read(ini, display, ENV_FROM_JOB, &jd->env_names, &jd->env_values, err, errsize))
		return -1;
	warn_unknown(jd, ini, display, "job", job_keys);
	warn_unknown(jd, ini, display, "render", render_keys);
	warn_unknown(jd, ini, display, "archive", archive_keys);
	return 0;
}

int job_desc_parse(const struct ini *ini, const char *display, long max_frames, struct job_desc *jd, char *err,
		   size_t errsize)
{
	if (parse_desc(ini, display, max_frames, jd, err, errsize) == 0 &&
	    job_desc_check(jd, ini, display, err, errsize) == 0)
		return 0;
	job_desc_free(jd);
	return -1;
}

/* What job_desc_format writes is read again (route, the agents, watcherd)
 * through the same guard as a user's text: a value that grows as it is
 * written back (quotes, ", " between names, the #### output gets, the
 * folder intake puts before scene) must still fit in a line. */
int job_desc_check(const struct job_desc *jd, const struct ini *ini, const char *display, char *err, size_t errsize)
{
	struct buf b = {0};
	job_desc_format(jd, &b);
	char section[32] = "";
	int rc = 0;
	for (const char *line = b.data; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		if (*line == '[') {
			snprintf(section, sizeof section, "%.*s", (int)strcspn(line + 1, "]"), line + 1);
		} else if (n > INI_MAX_LINE) {
			char key[128], at[32] = "";
			snprintf(key, sizeof key, "%.*s", (int)strcspn(line, " ="), line);
			str_lower(key); /* [env] names are written back as given */
			if (ini && ini_line(ini, section, key))
				snprintf(at, sizeof at, " line %d", ini_line(ini, section, key));
			snprintf(err, errsize, "%s%s: %s is too long: as hotfarm keeps it, it takes a line of %zu characters, and a line holds %d",
				 display, at, key, n, INI_MAX_LINE);
			rc = -1;
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	buf_free(&b);
	return rc;
}

void job_desc_limits(const struct job_desc *jd, struct strlist *out)
{
	char *copy = xstrdup(jd->limits), *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		strlist_add(out, t);
	free(copy);
}

void job_desc_free(struct job_desc *jd)
{
	free(jd->frames);
	free(jd->req);
	strlist_free(&jd->argv);
	strlist_free(&jd->after);
	strlist_free(&jd->pools);
	strlist_free(&jd->warnings);
	strlist_free(&jd->extra_outputs);
	strlist_free(&jd->env_names);
	strlist_free(&jd->env_values);
	memset(jd, 0, sizeof *jd);
}

static void kv(struct buf *b, const char *k, const char *v)
{
	char q[1100];
	if (*v)
		buf_printf(b, "%s = %s\n", k, ini_quote(v, q, sizeof q));
	else
		buf_printf(b, "%s =\n", k);
}

void job_desc_format(const struct job_desc *jd, struct buf *b)
{
	buf_printf(b, "# normalised by hotfarm intake: every key, defaults filled in\n[job]\n");
	kv(b, "name", jd->name);
	buf_printf(b, "priority = %d\n", jd->priority);
	kv(b, "frames", jd->frames_spec);
	buf_printf(b, "frame_count = %zu\n", jd->nframes);
	if (jd->chunk)
		buf_printf(b, "chunk = %ld\n", jd->chunk);
	else
		buf_printf(b, "chunk = auto\n");
	buf_printf(b, "retries = %ld\ntimeout = %ld\n", jd->retries, jd->timeout);
	kv(b, "owner", jd->owner);
	kv(b, "email", jd->email);
	kv(b, "site", jd->site);
	kv(b, "limits", jd->limits);
	buf_printf(b, "fps = %ld\n", jd->fps);
	buf_printf(b, "after =");
	for (size_t i = 0; i < jd->after.n; i++)
		buf_printf(b, "%s%s", i ? ", " : " ", jd->after.v[i]);
	buf_printf(b, "\n");
	job_desc_format_sched(jd, b);
	buf_printf(b, "\n[render]\n");
	kv(b, "package", jd->package);
	kv(b, "scene", jd->scene);
	buf_printf(b, "width = %ld\nheight = %ld\n", jd->width, jd->height);
	kv(b, "output", jd->output);
	kv(b, "args", jd->args);
	buf_printf(b, "allow_blank = %s\n", jd->allow_blank ? "yes" : "no");
	kv(b, "format", frame_format_name(jd->format));
	buf_printf(b, "extra_outputs =");
	for (size_t i = 0; i < jd->extra_outputs.n; i++)
		buf_printf(b, "%s%s", i ? ", " : " ", jd->extra_outputs.v[i]);
	buf_printf(b, "\n");
	buf_printf(b, "\n[requires]\n");
	for (size_t i = 0; i < jd->nreq; i++)
		kv(b, jd->req[i].key, jd->req[i].pattern);
	if (jd->min_ram_mb)
		buf_printf(b, "min_ram_mb = %ld\n", jd->min_ram_mb);
	if (jd->min_cpus)
		buf_printf(b, "min_cpus = %ld\n", jd->min_cpus);
	if (jd->env_names.n)
		buf_printf(b, "\n[env]\n");
	for (size_t i = 0; i < jd->env_names.n && i < jd->env_values.n; i++)
		kv(b, jd->env_names.v[i], jd->env_values.v[i]);
}
