/* show.c - hotfarm's views of jobs: status, watch, jobs, a frame's log,
 * as text or JSON (and the JSON and escaping helpers). Distrusts
 * what it reads from the spool: free text is escaped before a terminal. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/ini.h"
#include "../../layout/jobdesc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void cli_json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

void cli_shown(const char *in, char *out, size_t outsize) { text_escape(in ? in : "", out, outsize); }

/* ---- status ----------------------------------------------------------------- */

struct job_row {
	char name[JOBID_MAX_LEN + 1];
	char entry[ENTRY_MAX_LEN];
	enum job_state state;
};

static const enum job_state listing_order[] = {STATE_NEW,    STATE_QUEUED,    STATE_HELD, STATE_OUTSOURCED,
					       STATE_FAILED, STATE_CANCELLED, STATE_DONE};

static size_t collect_jobs(const struct spool *sp, struct job_row **rows)
{
	size_t n = 0, cap = 64;
	*rows = xmalloc(cap * sizeof **rows);
	for (size_t k = 0; k < sizeof listing_order / sizeof *listing_order; k++) {
		struct strlist l = {0};
		state_list(sp, listing_order[k], &l);
		for (size_t i = 0; i < l.n; i++) {
			if (n == cap) {
				cap *= 2;
				*rows = xrealloc(*rows, cap * sizeof **rows);
			}
			struct job_row *r = &(*rows)[n++];
			entry_parse(l.v[i], NULL, NULL, r->name);
			snprintf(r->entry, sizeof r->entry, "%s", l.v[i]);
			r->state = listing_order[k];
		}
		strlist_free(&l);
	}
	return n;
}

/* How long until the job is done, from its pace so far: -1 when unknown. */
static long eta_seconds(const struct job_status *st)
{
	if (strcmp(st->state, "rendering") || !st->started_us || st->frames_done <= 0 ||
	    st->frames_done >= st->frames_total)
		return -1;
	double elapsed = (double)(now_us() - st->started_us) / 1e6;
	return (long)(elapsed * (double)(st->frames_total - st->frames_done) / (double)st->frames_done + 0.5);
}

static void eta_text(long s, char out[32])
{
	if (s < 0)
		snprintf(out, 32, "-");
	else if (s == 0)
		snprintf(out, 32, "finishing"); /* frames remain: not "0m00s" */
	else if (s < 3600)
		snprintf(out, 32, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(out, 32, "%ldh%02ldm", s / 3600, s / 60 % 60);
}

static void progress_bar(long done, long total, char out[32])
{
	int width = 20, fill = total > 0 ? (int)(done * width / total) : 0;
	out[0] = '[';
	for (int i = 0; i < width; i++)
		out[1 + i] = i < fill ? '#' : '.';
	out[width + 1] = ']';
	out[width + 2] = 0;
}

/* What status.ini says, but the state from where the entry is. */
static void job_status_live(const struct spool *sp, const struct job_row *r, struct job_status *st)
{
	int jfd = job_dir_open(sp, r->name);
	if (jfd < 0 || job_status_read(jfd, st) < 0) {
		memset(st, 0, sizeof *st);
		char rel[PATH_MAX];
		job_relpath(r->name, rel, sizeof rel);
		snprintf(st->reason, sizeof st->reason, "its folder %s cannot be read", rel);
	}
	/* the entry's folder is the truth; "rendering" is a queued job with
	 * frames running, which status.ini knows; "suspended" a held one with
	 * its marker */
	snprintf(st->state, sizeof st->state, "%s", job_state_shown(jfd, r->state, st->state));
	if (jfd >= 0) {
		long d = ticket_count(jfd, TICKET_DONE);
		if (d >= 0 && st->tickets > 0 && d > st->frames_done && st->frames_total == st->tickets)
			st->frames_done = d;
		close(jfd);
	}
	entry_parse(r->entry, &st->priority, NULL, NULL);
}

static int status_all(const struct spool *sp, bool json)
{
	struct job_row *rows;
	size_t n = collect_jobs(sp, &rows);
	if (json)
		printf("[");
	else if (n == 0)
		printf("no jobs\n");
	else if (isatty(1))
		printf("%-24s %-10s %4s %-22s %11s %8s  %s\n", "JOB", "STATE", "PRIO", "PROGRESS", "FRAMES", "ETA", "WHY");
	for (size_t i = 0; i < n; i++) {
		struct job_status st;
		job_status_live(sp, &rows[i], &st);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			cli_json_string(rows[i].name);
			printf(",\"state\":\"%s\",\"priority\":%d,\"frames_total\":%ld,\"frames_done\":%ld,"
			       "\"frames_failed\":%ld,\"eta_seconds\":%ld,\"reason\":",
			       st.state, st.priority, st.frames_total, st.frames_done, st.frames_failed, eta_seconds(&st));
			cli_json_string(st.reason);
			printf("}");
		} else {
			char bar[32], frames[32], reason[600], eta[32];
			progress_bar(st.frames_done, st.frames_total, bar);
			snprintf(frames, sizeof frames, "%ld/%ld", st.frames_done, st.frames_total);
			text_escape(st.reason, reason, sizeof reason);
			eta_text(eta_seconds(&st), eta);
			if (isatty(1))
				printf("%-24s %-10s %4d %-22s %11s %8s  %s\n", rows[i].name, st.state, st.priority, bar,
				       frames, eta, reason);
			else
				printf("%s\t%s\t%d\t%s\t%s\t%s\n", rows[i].name, st.state, st.priority, frames, reason, eta);
		}
		job_status_free(&st);
	}
	if (json)
		printf("]\n");
	free(rows);
	return EXIT_OK;
}

static int status_rejected(const struct spool *sp, const char *name, bool json)
{
	if (!name_is_valid(name))
		return -1;
	char path[NAME_MAX_LEN + 16];
	snprintf(path, sizeof path, "%s/%s", name, spool_file_name(SPOOL_FILE_REASON));
	size_t len;
	char *text = file_read_small(spool_fd(sp, DIR_REJECTED), path, 1 << 16, &len);
	if (!text)
		return -1;
	char *nl = strchr(text, '\n');
	if (nl)
		*nl = 0;
	char why[1100];
	text_escape(text, why, sizeof why);
	if (json) {
		printf("{\"name\":");
		cli_json_string(name);
		printf(",\"state\":\"rejected\",\"reason\":");
		cli_json_string(why);
		printf("}\n");
	} else {
		printf("%s: rejected\n  why: %s\n  see: %s/%s/\n", name, why, spool_dir_name(DIR_REJECTED), name);
	}
	free(text);
	return 0;
}

/* The job's [env] from its job.ini into JD (names and values empty when
 * it does not read: the status is shown all the same). */
static void status_env(const struct spool *sp, const char *name, struct job_desc *jd)
{
	memset(jd, 0, sizeof *jd);
	int fd = job_dir_open(sp, name);
	char err[512];
	if (fd >= 0 && job_desc_load(fd, jd, err, sizeof err) < 0)
		memset(jd, 0, sizeof *jd);
	if (fd >= 0)
		close(fd);
}

static void status_one_json(const char *name, const struct job_status *st, const struct job_desc *jd)
{
	printf("{\"name\":");
	cli_json_string(name);
	printf(",\"state\":\"%s\",\"priority\":%d,\"frames_total\":%ld,\"frames_done\":%ld,"
	       "\"frames_failed\":%ld,\"tickets\":%ld,\"submitted_us\":%lld,\"reason\":",
	       st->state, st->priority, st->frames_total, st->frames_done, st->frames_failed, st->tickets,
	       (long long)st->submitted_us);
	cli_json_string(st->reason);
	printf(",\"preset\":");
	cli_json_string(st->preset);
	printf(",\"described\":");
	cli_json_string(st->described);
	printf(",\"warnings\":[");
	for (size_t i = 0; i < st->warnings.n; i++) {
		printf("%s", i ? "," : "");
		cli_json_string(st->warnings.v[i]);
	}
	printf("],\"env\":{");
	for (size_t i = 0; i < jd->env_names.n && i < jd->env_values.n; i++) {
		printf("%s", i ? "," : "");
		cli_json_string(jd->env_names.v[i]);
		printf(":");
		cli_json_string(jd->env_values.v[i]);
	}
	printf("}}\n");
}

static void status_one_text(const struct spool *sp, const char *name, const struct job_status *st,
			    const struct job_desc *jd)
{
	char bar[32], iso[32] = "?";
	progress_bar(st->frames_done, st->frames_total, bar);
	if (st->submitted_us)
		time_iso(st->submitted_us, iso);
	printf("%s: %s\n", name, st->state);
	printf("  why:       %s\n", st->reason);
	char who[300], owner[400];
	job_status_owner(st, who, sizeof who);
	cli_shown(who, owner, sizeof owner);
	printf("  owner:     %s\n", owner);
	printf("  priority:  %d\n", st->priority);
	char eta[32];
	eta_text(eta_seconds(st), eta);
	printf("  frames:    %s %ld/%ld done, %ld failed (%ld tickets)\n", bar, st->frames_done, st->frames_total,
	       st->frames_failed, st->tickets);
	if (eta_seconds(st) >= 0)
		printf("  eta:       %s\n", eta);
	printf("  submitted: %s\n", iso);
	if (*st->original && strcmp(st->original, name))
		printf("  dropped as: %s\n", st->original);
	if (*st->preset) {
		char d[1300];
		cli_shown(st->described, d, sizeof d);
		printf("  preset:    %s (%s)\n", st->preset, d);
	}
	char where[PATH_MAX];
	job_path(sp, name, where, sizeof where);
	printf("  folder:    %s/\n", where);
	for (size_t i = 0; i < jd->env_names.n && i < jd->env_values.n; i++) {
		char v[1300];
		cli_shown(jd->env_values.v[i], v, sizeof v);
		printf("  env:       %s=%s\n", jd->env_names.v[i], v);
	}
	for (size_t i = 0; i < st->warnings.n; i++)
		printf("  warning:   %s\n", st->warnings.v[i]);
}

static int status_one(const struct spool *sp, const char *name, bool json)
{
	struct job_row r;
	snprintf(r.name, sizeof r.name, "%s", name);
	r.state = job_id_valid(name) ? job_find(sp, name, r.entry) : STATE_NONE;
	if (r.state == STATE_NONE) {
		if (status_rejected(sp, name, json) == 0)
			return EXIT_OK;
		char typed[200];
		text_escape(name, typed, sizeof typed);
		die(EXIT_BADINPUT, "no job named '%s' in %s", typed, sp->path);
	}
	struct job_status st;
	struct job_desc jd;
	job_status_live(sp, &r, &st);
	status_env(sp, name, &jd);
	if (json)
		status_one_json(name, &st, &jd);
	else
		status_one_text(sp, name, &st, &jd);
	job_status_free(&st);
	job_desc_free(&jd);
	return EXIT_OK;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	if (argc > 2)
		die(EXIT_BADINPUT, "usage: hotfarm status [NAME]");
	return argc == 2 ? status_one(&cli->sp, argv[1], cli->json) : status_all(&cli->sp, cli->json);
}

/* ---- watch ------------------------------------------------------------------ */

/* Whether inbox/ holds a file of job NAME: NAME.tar, NAME.ini, NAME.zip,
 * NAME.tar.gz … or one still being written under a dot name. */
static bool inbox_has(const struct spool *sp, const char *name)
{
	DIR *d = dir_open(spool_fd(sp, DIR_INBOX), ".");
	struct dirent *e;
	size_t n = strlen(name);
	bool found = false;
	while (d && !found && (e = readdir(d))) {
		const char *f = e->d_name[0] == '.' ? e->d_name + 1 : e->d_name;
		found = !strncmp(f, name, n) && f[n] == '.';
	}
	if (d)
		closedir(d);
	return found;
}

/* Follow one job until it ends: a line each time something changes. */
int cmd_watch(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const struct spool *sp = &cli->sp;
	const char *name = argv[1];
	char last[1200] = "";
	int64_t unseen = 0; /* since when it is nowhere (0: it was somewhere) */
	for (;;) {
		struct job_row r;
		snprintf(r.name, sizeof r.name, "%s", name);
		r.state = job_id_valid(name) ? job_find(sp, name, r.entry) : STATE_NONE;
		if (r.state == STATE_NONE) {
			/* just submitted: still in inbox/ or being taken in */
			if (status_rejected(sp, name, cli->json) == 0)
				return EXIT_BADINPUT;
			bool seen = (name_is_valid(name) && inbox_has(sp, name)) ||
				    faccessat(spool_fd(sp, DIR_JOBS), name, F_OK, 0) == 0;
			/* intake claims the drop, then renames the job into jobs/: for a
			 * moment it is in work/, where nobody else looks */
			if (!seen && !unseen)
				unseen = mono_us();
			if (seen)
				unseen = 0;
			if (seen || mono_us() - unseen < 2000000) {
				usleep(100000);
				continue;
			}
			die(EXIT_BADINPUT, "no job named '%s' in %s", name, sp->path);
		}
		struct job_status st;
		job_status_live(sp, &r, &st);
		char bar[32], eta[32], reason[600], line[1200];
		progress_bar(st.frames_done, st.frames_total, bar);
		eta_text(eta_seconds(&st), eta);
		text_escape(st.reason, reason, sizeof reason);
		snprintf(line, sizeof line, "%s %-10s %s %ld/%ld ETA %s  %s", name, st.state, bar, st.frames_done,
			 st.frames_total, eta, reason);
		if (strcmp(line, last)) {
			if (isatty(1))
				printf("\r\033[K%s", line);
			else
				printf("%s\n", line);
			fflush(stdout);
			snprintf(last, sizeof last, "%s", line);
		}
		bool over = state_is_final(r.state);
		job_status_free(&st);
		if (over) {
			if (isatty(1))
				printf("\n");
			return r.state == STATE_DONE ? EXIT_OK : EXIT_BADINPUT;
		}
		usleep(500000);
	}
}

/* ---- jobs ------------------------------------------------------------------ */

int cmd_jobs(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	const struct spool *sp = &cli->sp;
	bool json = cli->json;
	if (json)
		printf("[");
	else if (isatty(1))
		printf("%-24s %-10s %4s %-12s %9s  %-20s %s\n", "JOB", "STATE", "PRIO", "OWNER", "FRAMES", "SUBMITTED",
		       "FINISHED");
	int n = 0;
	for (int s = 0; s < STATE_COUNT; s++) {
		struct strlist l = {0};
		state_list(sp, (enum job_state)s, &l);
		for (size_t i = 0; i < l.n; i++) {
			char name[JOBID_MAX_LEN + 1];
			int prio;
			entry_parse(l.v[i], &prio, NULL, name);
			int jfd = job_dir_open(sp, name);
			struct job_status st;
			if (jfd < 0 || job_status_read(jfd, &st) < 0)
				memset(&st, 0, sizeof st);
			char shown[16];
			snprintf(shown, sizeof shown, "%s", job_state_shown(jfd, (enum job_state)s, st.state));
			if (jfd >= 0)
				close(jfd);
			char sub[32] = "-", fin[32] = "-", owner[400], who[300], frames[40];
			if (st.submitted_us)
				time_iso(st.submitted_us, sub);
			if (st.finished_us)
				time_iso(st.finished_us, fin);
			job_status_owner(&st, who, sizeof who);
			cli_shown(who, owner, sizeof owner);
			const char *state = shown;
			snprintf(frames, sizeof frames, "%ld/%ld", st.frames_done, st.frames_total);
			if (json) {
				printf("%s{\"name\":", n++ ? "," : "");
				cli_json_string(name);
				printf(",\"state\":\"%s\",\"priority\":%d,\"owner\":", state, prio);
				cli_json_string(st.owner);
				if (*st.owner_label) {
					printf(",\"owner_label\":");
					cli_json_string(st.owner_label);
				}
				printf(",\"frames_total\":%ld,\"frames_done\":%ld,\"frames_failed\":%ld,\"submitted_us\":%lld,"
				       "\"finished_us\":%lld}",
				       st.frames_total, st.frames_done, st.frames_failed, (long long)st.submitted_us,
				       (long long)st.finished_us);
			} else if (isatty(1)) {
				printf("%-24s %-10s %4d %-12s %9s  %-20s %s\n", name, state, prio, owner, frames, sub, fin);
			} else {
				printf("%s\t%s\t%d\t%s\t%s\t%s\t%s\n", name, state, prio, owner, frames, sub, fin);
			}
			job_status_free(&st);
		}
		strlist_free(&l);
	}
	if (json)
		printf("]\n");
	return EXIT_OK;
}

/* ---- one frame's log ----------------------------------------------------------------- */

/* The newest log of frame F (of attempt WANT, unless 0) in JFD's logs/:
 * frameF.tryN.HOST.SLOT.log, or frameA-B.tryN... for a run of frames in
 * one process (N: its first frame's attempt). "" when there is none. */
static void log_find(int jfd, long f, long want, char best[300])
{
	DIR *d = dir_open(jfd, job_dir_name(JOB_DIR_LOGS));
	struct dirent *e;
	struct timespec best_at = {0};
	*best = 0;
	while (d && (e = readdir(d))) {
		long a, b, t;
		if (!job_log_parse(e->d_name, &a, &b, &t))
			continue;
		struct stat st;
		if (f < a || f > b || (want && t != want) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!*best || st.st_mtim.tv_sec > best_at.tv_sec ||
		    (st.st_mtim.tv_sec == best_at.tv_sec && st.st_mtim.tv_nsec > best_at.tv_nsec)) {
			best_at = st.st_mtim;
			snprintf(best, 300, "%s", e->d_name);
		}
	}
	if (d)
		closedir(d);
}

int cmd_log(struct cli *cli, int argc, char **argv)
{
	if (argc < 3 || argc > 4)
		die(EXIT_BADINPUT, "usage: hotfarm log NAME FRAME [TRY]");
	const char *name = argv[1], *frame = argv[2], *attempt = argc == 4 ? argv[3] : NULL;
	long f, want = 0;
	if (!parse_long(frame, 0, 9999999, &f))
		die(EXIT_BADINPUT, "'%s' is not a frame number", frame);
	if (attempt && !parse_long(attempt, 1, 1000, &want))
		die(EXIT_BADINPUT, "'%s' is not an attempt number", attempt);
	int jfd = cli_job_open(&cli->sp, name);
	char best[300];
	log_find(jfd, f, want, best);
	if (!*best)
		die(EXIT_BADINPUT, "no log of frame %ld of %s%s", f, name, want ? " for that attempt" : " (not rendered yet?)");
	char path[400], rel[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", job_dir_name(JOB_DIR_LOGS), best);
	size_t len;
	char *text = file_read_small(jfd, path, 64 << 20, &len);
	job_relpath(name, rel, sizeof rel);
	if (!text)
		die_errno(EXIT_TEMPFAIL, "unable to read %s/%s", rel, path);
	fwrite(text, 1, len, stdout);
	free(text);
	close(jfd);
	return EXIT_OK;
}

/* ---- dates (billing, audit) ------------------------------------------------------------- */

int64_t cli_since(const char *word, bool ages)
{
	struct tm tm = {0};
	char *end = strptime(word, "%Y-%m-%d", &tm);
	if (end && !*end)
		return (int64_t)timegm(&tm) * 1000000;
	long seconds;
	size_t n = strlen(word);
	if (ages && n > 1 && strchr("smhd", word[n - 1]) && parse_seconds(word, 100L * 366 * 86400, &seconds))
		return now_us() - (int64_t)seconds * 1000000;
	char shown[100];
	text_escape(word, shown, sizeof shown);
	die(EXIT_BADINPUT, "--since takes a date like 2026-11-01%s, not '%s'", ages ? " or an age like 2h, 3d, 30m" : "",
	    shown);
}
