/* submit.c - hotfarm submit: pack a scene file or folder and a job.ini made
 * from the options into one tar, dropped into inbox/ by a rename. Distrusts
 * only the option values, checked here as intake checks them again. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/ini.h"
#include "../../layout/jobdesc.h"
#include "../../layout/package.h"
#include "../../layout/preset.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void add_file(struct archive *a, const char *path, const char *name, const struct stat *st)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, st->st_size);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, st->st_mode & 0755);
	archive_entry_set_mtime(e, st->st_mtime, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		die(EXIT_TEMPFAIL, "unable to pack %s: %s", path, archive_error_string(a));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die_errno(EXIT_BADINPUT, "unable to read %s", path);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (archive_write_data(a, buf, (size_t)n) != n)
			die(EXIT_TEMPFAIL, "unable to pack %s: %s", path, archive_error_string(a));
	if (n < 0)
		die_errno(EXIT_BADINPUT, "unable to read %s", path);
	close(fd);
	archive_entry_free(e);
}

/* Pack DIR's files (recursively, regular files and folders; links and
 * other kinds are left out with a warning) under the names below PREFIX. */
static void add_tree(struct archive *a, const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		die_errno(EXIT_BADINPUT, "unable to read the folder %s", dir);
	struct strlist names = {0};
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			strlist_add(&names, e->d_name);
	closedir(d);
	strlist_sort(&names);
	for (size_t i = 0; i < names.n; i++) {
		char *path = xasprintf("%s/%s", dir, names.v[i]);
		char *name = *prefix ? xasprintf("%s/%s", prefix, names.v[i]) : xstrdup(names.v[i]);
		struct stat st;
		if (lstat(path, &st) < 0)
			die_errno(EXIT_BADINPUT, "unable to read %s", path);
		if (S_ISDIR(st.st_mode))
			add_tree(a, path, name);
		else if (S_ISREG(st.st_mode) && strcmp(name, job_file_name(JOB_FILE_DESC)))
			add_file(a, path, name, &st);
		else if (!S_ISREG(st.st_mode))
			warn("%s is not a regular file or folder; it is left out", path);
		free(path);
		free(name);
	}
	strlist_free(&names);
}

/* The one scene file in DIR that PACKAGE claims by its ending (NULL: any
 * package of the farm). */
static bool find_scene(int confdir, const char *dir, const char *package, char *out, size_t outsize)
{
	struct package pkg;
	char err[512];
	if (package && package_load(confdir, package, &pkg, err, sizeof err) < 0)
		die(EXIT_BADINPUT, "%s", err);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct strlist found = {0};
	if (fd >= 0) {
		package_scenes(confdir, fd, ".", package ? &pkg : NULL, &found);
		close(fd);
	}
	if (found.n == 1)
		snprintf(out, outsize, "%s", found.v[0]);
	bool one = found.n == 1;
	strlist_free(&found);
	if (package)
		package_free(&pkg);
	return one;
}

static void kv(struct buf *b, const char *key, const char *value)
{
	char q[1100];
	if (value && *value)
		buf_printf(b, "%s = %s\n", key, ini_quote(value, q, sizeof q));
}

/* One submission: the options, the scene they point at, and the job. */
struct submission {
	const char *frames, *package, *name, *scene, *path;
	const char *preset;               /* --preset, or "default" when no --frames: drop into inbox/PRESET/ */
	char **paths;                     /* what to submit, each a job */
	int npaths;
	struct buf job, render, requires; /* lines of [job], [render] and [requires] from the options */
	struct strlist after;
	struct stat st;                   /* of PATH */
	char dir[PATH_MAX];               /* PATH, when it is a folder */
	char scene_name[NAME_MAX + 1];    /* the scene, in the job's files */
	char stem[NAME_MAX + 1];          /* the job's name when none is given */
	char final[NAME_MAX_LEN + 1];     /* the job's name */
	struct buf ini;                   /* its job.ini */
};

/* --at WHEN: a time as [job] not_before takes it, or +DURATION from now
 * (+90s, +30m, +2h); written as UTC so that it reads the same anywhere. */
static void submit_at(struct submission *s, const char *when)
{
	int64_t t;
	long d;
	if (*when == '+' && parse_seconds(when + 1, 366 * 86400L, &d))
		t = now_us() / 1000000 + d;
	else if (when_parse(when, &t) < 0)
		die(EXIT_BADINPUT, "--at takes a time like 2026-12-07T02:00 (local), 2026-12-07T02:00Z (UTC) or +2h, not '%s'",
		    when);
	char iso[32];
	when_format(t, iso);
	kv(&s->job, "not_before", iso);
}

/* The options into S; -1 when getopt refused one (it said why). */
static int submit_options(struct submission *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{"frames", required_argument, 0, 'f'}, {"package", required_argument, 0, 'p'},
		{"priority", required_argument, 0, 'P'}, {"width", required_argument, 0, 'W'},
		{"height", required_argument, 0, 'H'}, {"requires", required_argument, 0, 'r'},
		{"after", required_argument, 0, 'a'}, {"name", required_argument, 0, 'n'},
		{"scene", required_argument, 0, 's'}, {"output", required_argument, 0, 'o'},
		{"chunk", required_argument, 0, 'c'}, {"retries", required_argument, 0, 'R'},
		{"timeout", required_argument, 0, 't'}, {"email", required_argument, 0, 'e'},
		{"owner", required_argument, 0, 'O'}, {"args", required_argument, 0, 'A'},
		{"limits", required_argument, 0, 'l'}, {"format", required_argument, 0, 'F'},
		{"extra-outputs", required_argument, 0, 'X'}, {"fps", required_argument, 0, 'S'},
		{"preset", required_argument, 0, 'K'}, {"at", required_argument, 0, 'T'},
		{"pool", required_argument, 0, 'L'}, {0, 0, 0, 0}};
	int c;
	optind = 0; /* glibc: a full restart of getopt */
	while ((c = getopt_long(argc, argv, "f:p:P:W:H:r:a:n:s:o:c:R:t:e:O:A:l:F:X:S:K:T:L:", opts, NULL)) != -1) {
		switch (c) {
		case 'K': s->preset = optarg; break;
		case 'f': s->frames = optarg; break;
		case 'p': s->package = optarg; break;
		case 'P': kv(&s->job, "priority", optarg); break;
		case 'W': kv(&s->render, "width", optarg); break;
		case 'H': kv(&s->render, "height", optarg); break;
		case 'o': kv(&s->render, "output", optarg); break;
		case 'F': kv(&s->render, "format", optarg); break;
		case 'X': kv(&s->render, "extra_outputs", optarg); break;
		case 'S': kv(&s->job, "fps", optarg); break;
		case 'A': kv(&s->render, "args", optarg); break;
		case 'c': kv(&s->job, "chunk", optarg); break;
		case 'R': kv(&s->job, "retries", optarg); break;
		case 't': kv(&s->job, "timeout", optarg); break;
		case 'e': kv(&s->job, "email", optarg); break;
		case 'O': kv(&s->job, "owner", optarg); break;
		case 'l': kv(&s->job, "limits", optarg); break;
		case 'L': kv(&s->job, "pool", optarg); break;
		case 'T': submit_at(s, optarg); break;
		case 'n': s->name = optarg; break;
		case 's': s->scene = optarg; break;
		case 'a': strlist_add(&s->after, optarg); break;
		case 'r': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				die(EXIT_BADINPUT, "--requires takes KEY=PATTERN, like version=3.7.*");
			*eq = 0;
			kv(&s->requires, optarg, eq + 1);
			break;
		}
		default: return -1;
		}
	}
	if (optind >= argc)
		die(EXIT_BADINPUT, "usage: hotfarm submit PATH... [--frames 1-100 | --preset NAME] [options]; see hotfarm help");
	s->paths = argv + optind;
	s->npaths = argc - optind;
	if (s->npaths > 1 && s->name)
		die(EXIT_BADINPUT, "--name names one job; give one PATH with it");
	return 0;
}

/* What PATH is: a scene file, or a folder and the scene in it; and the
 * stem of its name. */
static void submit_source(int confdir, struct submission *s)
{
	if (stat(s->path, &s->st) < 0)
		die_errno(EXIT_BADINPUT, "cannot submit %s", s->path);
	const char *base = strrchr(s->path, '/') ? strrchr(s->path, '/') + 1 : s->path;
	if (!*base) { /* "shot/" */
		snprintf(s->dir, sizeof s->dir, "%s", s->path);
		s->dir[strlen(s->dir) - 1] = 0;
		base = strrchr(s->dir, '/') ? strrchr(s->dir, '/') + 1 : s->dir;
	}
	snprintf(s->stem, sizeof s->stem, "%s", base);
	char *dot = strrchr(s->stem, '.');
	if (S_ISREG(s->st.st_mode) && dot && dot != s->stem)
		*dot = 0;
	if (S_ISDIR(s->st.st_mode)) {
		snprintf(s->dir, sizeof s->dir, "%s", s->path);
		if (s->scene)
			snprintf(s->scene_name, sizeof s->scene_name, "%s", s->scene);
		else if (!find_scene(confdir, s->dir, s->package, s->scene_name, sizeof s->scene_name) && !s->preset)
			die(EXIT_BADINPUT, "which file in %s is the scene? say --scene FILE", s->path);
	} else if (S_ISREG(s->st.st_mode)) {
		snprintf(s->scene_name, sizeof s->scene_name, "%s", base);
	} else {
		die(EXIT_BADINPUT, "%s is neither a scene file nor a folder", s->path);
	}
}

/* A name not taken in jobs/, rejected/ or inbox/. */
static void submit_name(const struct spool *sp, struct submission *s)
{
	char want[NAME_MAX_LEN + 1];
	name_sanitize(s->name ? s->name : s->stem, want, sizeof want);
	for (int n = 1;; n++) {
		if (n == 1)
			snprintf(s->final, sizeof s->final, "%s", want);
		else
			snprintf(s->final, sizeof s->final, "%.*s-%d", NAME_MAX_LEN - 7, want, n);
		char tar[NAME_MAX_LEN + 8];
		snprintf(tar, sizeof tar, "%s.tar", s->final);
		if (faccessat(spool_fd(sp, DIR_JOBS), s->final, F_OK, AT_SYMLINK_NOFOLLOW) &&
		    faccessat(spool_fd(sp, DIR_REJECTED), s->final, F_OK, AT_SYMLINK_NOFOLLOW) &&
		    faccessat(spool_fd(sp, DIR_INBOX), tar, F_OK, AT_SYMLINK_NOFOLLOW))
			break;
	}
}

/* The job.ini, then the farm's own check of it, before anything is dropped. */
static void submit_describe(const struct spool *sp, struct submission *s)
{
	struct buf *ini = &s->ini;
	/* no owner unless --owner: the job is whoever's files it drops */
	buf_printf(ini, "# written by hotfarm submit\n[job]\n");
	kv(ini, "name", s->final);
	kv(ini, "frames", s->frames);
	if (s->job.data)
		buf_add(ini, s->job.data, s->job.len);
	if (s->after.n) {
		buf_printf(ini, "after =");
		for (size_t i = 0; i < s->after.n; i++)
			buf_printf(ini, "%s%s", i ? ", " : " ", s->after.v[i]);
		buf_printf(ini, "\n");
	}
	buf_printf(ini, "[render]\n");
	kv(ini, "package", s->package);
	kv(ini, "scene", s->scene_name);
	if (s->render.data)
		buf_add(ini, s->render.data, s->render.len);
	if (s->requires.data) {
		buf_printf(ini, "[requires]\n");
		buf_add(ini, s->requires.data, s->requires.len);
	}
	if (s->preset)
		return; /* the preset and the scene fill in the rest: intake judges it */
	char err[1024];
	struct ini *parsed = ini_parse(ini->data, ini->len, "the job description", err, sizeof err);
	struct job_desc jd;
	if (!parsed || job_desc_parse(parsed, "the job description", sp->conf.max_frames, &jd, err, sizeof err) < 0)
		die(EXIT_BADINPUT, "%s", err);
	job_desc_free(&jd);
	ini_free(parsed);
}

/* job.ini and the scene (or the folder's files) into one tar in
 * inbox/.NAME.tar.PID, then a rename: one complete drop. */
static void submit_drop(const struct spool *sp, const struct submission *s)
{
	char tmp[NAME_MAX_LEN + 40], tarname[NAME_MAX_LEN + 8];
	snprintf(tmp, sizeof tmp, ".%s.tar.%ld", s->final, (long)getpid());
	snprintf(tarname, sizeof tarname, "%s.tar", s->final);
	int fd = open_beneath(spool_fd(sp, DIR_INBOX), tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write into %s/%s", sp->path, spool_dir_name(DIR_INBOX));
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
		die(EXIT_TEMPFAIL, "unable to write the job: %s", archive_error_string(a));
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, job_file_name(JOB_FILE_DESC));
	archive_entry_set_size(e, (la_int64_t)s->ini.len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    archive_write_data(a, s->ini.data, s->ini.len) != (la_ssize_t)s->ini.len)
		die(EXIT_TEMPFAIL, "unable to write the job: %s", archive_error_string(a));
	archive_entry_free(e);
	if (S_ISDIR(s->st.st_mode))
		add_tree(a, s->dir, "");
	else
		add_file(a, s->path, s->scene_name, &s->st);
	if (archive_write_close(a) != ARCHIVE_OK)
		die(EXIT_TEMPFAIL, "unable to write the job: %s", archive_error_string(a));
	archive_write_free(a);
	if (fsync(fd) < 0 || close(fd) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write the job");
	if (inbox_drop(sp, tmp, tarname) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to drop the job into inbox/");
}

/* Where the job's page will be: SPOOL/jobs/NAME/index.html. */
static void page_path(const struct spool *sp, const char *name, char *out, size_t outsize)
{
	char where[PATH_MAX];
	job_path(sp, name, where, sizeof where);
	snprintf(out, outsize, "%s/%s", where, job_file_name(JOB_FILE_PAGE));
}

/* Without --frames, a preset describes the job: --preset, or the site's
 * "default"; its folder becomes the inbox the job is dropped into. */
static void submit_preset(struct spool *sp, struct submission *s)
{
	if (!s->preset && s->frames)
		return;
	if (!s->preset)
		s->preset = "default";
	if (!preset_exists(spool_fd(sp, DIR_CONF), s->preset))
		die(EXIT_BADINPUT, "%s", strcmp(s->preset, "default") || s->frames
					    ? "no such preset; hotfarm presets lists them"
					    : "say which frames to render (--frames 1-100), or --preset NAME: this farm has no "
					      "default preset (hotfarm presets lists those it has)");
	if (spool_view_preset(sp, s->preset) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open inbox/%s", s->preset);
}

static void submission_reset(struct submission *s)
{
	buf_free(&s->ini);
	memset(&s->st, 0, sizeof s->st);
	s->dir[0] = s->scene_name[0] = s->stem[0] = s->final[0] = 0;
}

int cmd_submit(struct cli *cli, int argc, char **argv)
{
	struct submission s = {0};
	if (submit_options(&s, argc, argv) < 0)
		return EXIT_BADINPUT;
	submit_preset(&cli->sp, &s);
	int confdir = spool_fd(&cli->sp, DIR_CONF);
	for (int i = 0; i < s.npaths; i++) {
		submission_reset(&s);
		s.path = s.paths[i];
		submit_source(confdir, &s);
		char guess[64];
		const char *keep = s.package;
		/* a scene's ending names its package (.blend: blender) */
		if (!s.package && !s.preset)
			s.package = package_for_scene(confdir, s.scene_name, guess, sizeof guess) ? guess : "povray";
		submit_name(&cli->sp, &s);
		submit_describe(&cli->sp, &s);
		submit_drop(&cli->sp, &s);
		char page[PATH_MAX + 64];
		page_path(&cli->sp, s.final, page, sizeof page);
		printf("%s\n%s\n", s.final, page);
		fflush(stdout);
		s.package = keep;
	}
	submission_reset(&s);
	buf_free(&s.job);
	buf_free(&s.render);
	buf_free(&s.requires);
	strlist_free(&s.after);
	return EXIT_OK;
}
