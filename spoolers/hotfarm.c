/* hotfarm.c - the command a person types: create a spool, look at it and
 * steer its jobs. Each change is a rename made through layout/; names typed
 * by the user and read from the tree are checked and escaped for output. */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/layout.h"
#include "site.h"
#include "submit.h"
#include "sync.h"
#include "views.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HOTFARM_CONFDIR
#define HOTFARM_CONFDIR "/usr/local/share/hotfarm/conf"
#endif

static const char *spool_path;
static bool json;
static struct spool sp;

static void open_spool(void)
{
	char err[1024];
	if (spool_open(spool_path ? spool_path : spool_default(), &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
}

/* ---- init ----------------------------------------------------------------- */

static int cmd_init(int argc, char **argv)
{
	const char *confsrc = getenv("HOTFARM_CONFDIR");
	if (!confsrc)
		confsrc = HOTFARM_CONFDIR;
	if (argc > 2)
		die(EXIT_BADINPUT, "usage: hotfarm init [DIR]");
	const char *dir = argc == 2 ? argv[1] : (spool_path ? spool_path : spool_default());
	struct strlist made = {0};
	char err[1024];
	if (access(confsrc, R_OK) < 0) {
		warn("no configuration to seed from at %s; conf/ stays as it is", confsrc);
		confsrc = NULL;
	}
	if (spool_init(dir, confsrc, &made, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	if (made.n == 0)
		printf("%s: a complete spool; nothing to repair\n", dir);
	else
		for (size_t i = 0; i < made.n; i++)
			printf("created %s\n", made.v[i]);
	strlist_free(&made);
	return EXIT_OK;
}

/* ---- status ----------------------------------------------------------------- */

struct job_row {
	char name[JOBID_MAX_LEN + 1];
	char entry[ENTRY_MAX_LEN];
	enum job_state state;
};

static const enum job_state listing_order[] = {STATE_NEW,    STATE_QUEUED,    STATE_HELD, STATE_OUTSOURCED,
					       STATE_FAILED, STATE_CANCELLED, STATE_DONE};

static size_t collect_jobs(struct job_row **rows)
{
	size_t n = 0, cap = 64;
	*rows = xmalloc(cap * sizeof **rows);
	for (size_t k = 0; k < sizeof listing_order / sizeof *listing_order; k++) {
		struct strlist l = {0};
		state_list(&sp, listing_order[k], &l);
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


/* How long until the job is done, from its pace so far: "" when unknown. */
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
static void job_status_live(const struct job_row *r, struct job_status *st)
{
	int jfd = job_dir_open(&sp, r->name);
	if (jfd < 0 || job_status_read(jfd, st) < 0) {
		memset(st, 0, sizeof *st);
		snprintf(st->reason, sizeof st->reason, "its folder jobs/%s cannot be read", r->name);
	}
	if (jfd >= 0) {
		long d = ticket_count(jfd, TICKET_DONE);
		if (d >= 0 && st->tickets > 0 && d > st->frames_done && st->frames_total == st->tickets)
			st->frames_done = d;
		close(jfd);
	}
	/* the entry's folder is the truth; "rendering" is a queued job with
	 * frames running, which status.ini knows */
	if (!(r->state == STATE_QUEUED && (!strcmp(st->state, "rendering") || !strcmp(st->state, "waiting"))))
		snprintf(st->state, sizeof st->state, "%s", state_word(r->state));
	entry_parse(r->entry, &st->priority, NULL, NULL);
}

static int cmd_status_all(void)
{
	struct job_row *rows;
	size_t n = collect_jobs(&rows);
	if (json)
		printf("[");
	else if (n == 0)
		printf("no jobs\n");
	else if (isatty(1))
		printf("%-24s %-10s %4s %-22s %11s %8s  %s\n", "JOB", "STATE", "PRIO", "PROGRESS", "FRAMES", "ETA", "WHY");
	for (size_t i = 0; i < n; i++) {
		struct job_status st;
		job_status_live(&rows[i], &st);
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			json_string(rows[i].name);
			printf(",\"state\":\"%s\",\"priority\":%d,\"frames_total\":%ld,\"frames_done\":%ld,"
			       "\"frames_failed\":%ld,\"eta_seconds\":%ld,\"reason\":",
			       st.state, st.priority, st.frames_total, st.frames_done, st.frames_failed, eta_seconds(&st));
			json_string(st.reason);
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

static int status_rejected(const char *name)
{
	if (!name_is_valid(name))
		return -1;
	char path[NAME_MAX_LEN + 16];
	snprintf(path, sizeof path, "%s/reason.txt", name);
	size_t len;
	char *text = file_read_small(spool_fd(&sp, DIR_REJECTED), path, 1 << 16, &len);
	if (!text)
		return -1;
	char *nl = strchr(text, '\n');
	if (nl)
		*nl = 0;
	char shown[1100];
	text_escape(text, shown, sizeof shown);
	if (json) {
		printf("{\"name\":");
		json_string(name);
		printf(",\"state\":\"rejected\",\"reason\":");
		json_string(shown);
		printf("}\n");
	} else {
		printf("%s: rejected\n  why: %s\n  see: rejected/%s/\n", name, shown, name);
	}
	free(text);
	return 0;
}

static int cmd_status_one(const char *name)
{
	struct job_row r;
	snprintf(r.name, sizeof r.name, "%s", name);
	r.state = name_is_valid(name) ? job_find(&sp, name, r.entry) : STATE_NONE;
	if (r.state == STATE_NONE) {
		if (status_rejected(name) == 0)
			return EXIT_OK;
		char shown[200];
		text_escape(name, shown, sizeof shown);
		die(EXIT_BADINPUT, "no job named '%s' in %s", shown, sp.path);
	}
	struct job_status st;
	job_status_live(&r, &st);
	if (json) {
		printf("{\"name\":");
		json_string(name);
		printf(",\"state\":\"%s\",\"priority\":%d,\"frames_total\":%ld,\"frames_done\":%ld,"
		       "\"frames_failed\":%ld,\"tickets\":%ld,\"submitted_us\":%lld,\"reason\":",
		       st.state, st.priority, st.frames_total, st.frames_done, st.frames_failed, st.tickets,
		       (long long)st.submitted_us);
		json_string(st.reason);
		printf(",\"warnings\":[");
		for (size_t i = 0; i < st.warnings.n; i++) {
			printf("%s", i ? "," : "");
			json_string(st.warnings.v[i]);
		}
		printf("]}\n");
	} else {
		char bar[32], iso[32] = "?";
		progress_bar(st.frames_done, st.frames_total, bar);
		if (st.submitted_us)
			time_iso(st.submitted_us, iso);
		printf("%s: %s\n", name, st.state);
		printf("  why:       %s\n", st.reason);
		printf("  priority:  %d\n", st.priority);
		char eta[32];
		eta_text(eta_seconds(&st), eta);
		printf("  frames:    %s %ld/%ld done, %ld failed (%ld tickets)\n", bar, st.frames_done,
		       st.frames_total, st.frames_failed, st.tickets);
		if (eta_seconds(&st) >= 0)
			printf("  eta:       %s\n", eta);
		printf("  submitted: %s\n", iso);
		if (*st.original && strcmp(st.original, name))
			printf("  dropped as: %s\n", st.original);
		char where[PATH_MAX];
		job_path(&sp, name, where, sizeof where);
		printf("  folder:    %s/\n", where);
		for (size_t i = 0; i < st.warnings.n; i++)
			printf("  warning:   %s\n", st.warnings.v[i]);
	}
	job_status_free(&st);
	return EXIT_OK;
}

/* Follow one job until it ends: a line each time something changes. */
/* Whether inbox/ holds a file of job NAME: NAME.tar, NAME.ini, NAME.zip,
 * NAME.tar.gz … or one still being written under a dot name. */
static bool inbox_has(const char *name)
{
	DIR *d = dir_open(spool_fd(&sp, DIR_INBOX), ".");
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

static int cmd_watch(const char *name)
{
	char last[1200] = "";
	for (;;) {
		struct job_row r;
		snprintf(r.name, sizeof r.name, "%s", name);
		r.state = job_id_valid(name) ? job_find(&sp, name, r.entry) : STATE_NONE;
		if (r.state == STATE_NONE) {
			/* just submitted: still in inbox/ or being taken in */
			if (status_rejected(name) == 0)
				return EXIT_BADINPUT;
			if ((name_is_valid(name) && inbox_has(name)) || faccessat(spool_fd(&sp, DIR_JOBS), name, F_OK, 0) == 0) {
				usleep(100000);
				continue;
			}
			die(EXIT_BADINPUT, "no job named '%s' in %s", name, sp.path);
		}
		struct job_status st;
		job_status_live(&r, &st);
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

/* ---- steering ------------------------------------------------------------ */

static const char *valid_name(const char *name)
{
	if (!job_id_valid(name)) {
		char shown[200];
		text_escape(name, shown, sizeof shown);
		die(EXIT_BADINPUT, "'%s' is not a job name", shown);
	}
	return name;
}

static enum job_state must_find(const char *name, char entry[ENTRY_MAX_LEN])
{
	enum job_state s = job_find(&sp, valid_name(name), entry);
	if (s == STATE_NONE)
		die(EXIT_BADINPUT, "no job named '%s' in %s", name, sp.path);
	return s;
}

static int change(const char *name, enum job_state to, const char *reason)
{
	if (job_change_state(&sp, name, to, reason) < 0)
		die_errno(errno == ENOENT ? EXIT_BADINPUT : EXIT_TEMPFAIL, "unable to move %s to %s/", name,
			  state_dir_name(to));
	return EXIT_OK;
}

static int cmd_hold(const char *name)
{
	char entry[ENTRY_MAX_LEN];
	enum job_state s = must_find(name, entry);
	if (s == STATE_HELD) {
		printf("%s is already held\n", name);
		return EXIT_OK;
	}
	if (s != STATE_QUEUED && s != STATE_NEW)
		die(EXIT_BADINPUT, "%s is %s; only new or queued jobs can be held", name, state_word(s));
	char why[200];
	snprintf(why, sizeof why, "held by a user; run: hotfarm release %s", name);
	change(name, STATE_HELD, why);
	printf("%s held\n", name);
	return EXIT_OK;
}

static int cmd_release(const char *name)
{
	char entry[ENTRY_MAX_LEN];
	enum job_state s = must_find(name, entry);
	if (s != STATE_HELD)
		die(EXIT_BADINPUT, "%s is %s, not held", name, state_word(s));
	change(name, STATE_QUEUED, "queued; waiting for a free render slot");
	printf("%s released\n", name);
	return EXIT_OK;
}

static int cmd_priority(const char *name, const char *prio)
{
	long p;
	if (!parse_long(prio, 0, 999, &p))
		die(EXIT_BADINPUT, "a priority is a whole number from 0 (runs first) to 999, not '%s'", prio);
	char entry[ENTRY_MAX_LEN];
	enum job_state s = must_find(name, entry);
	if (state_is_final(s))
		die(EXIT_BADINPUT, "%s is %s; its priority no longer matters", name, state_word(s));
	if (job_change_priority(&sp, name, (int)p) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to change the priority of %s", name);
	printf("%s priority %ld\n", name, p);
	return EXIT_OK;
}

static int cancel_job(const char *name, const char *why)
{
	char entry[ENTRY_MAX_LEN];
	enum job_state s = job_find(&sp, name, entry);
	if (s == STATE_NONE)
		return -1;
	if (state_is_final(s)) {
		printf("%s is already %s\n", name, state_word(s));
		return 0;
	}
	change(name, STATE_CANCELLED, why);
	if (s == STATE_OUTSOURCED && site_forward_cancel(&sp, name) < 0)
		warn("the site %s was sent to is not told yet (%s); hf-send will try again", name, strerror(errno));
	printf("%s cancelled\n", name);
	return 0;
}

static int cmd_outsource(const char *name, const char *site_given)
{
	char entry[ENTRY_MAX_LEN], err[600], site[SITE_NAME_MAX + 1];
	snprintf(site, sizeof site, "%s", site_given);
	str_lower(site); /* site names are case-blind */
	enum job_state s = must_find(name, entry);
	if (s != STATE_QUEUED && s != STATE_HELD && s != STATE_NEW)
		die(EXIT_BADINPUT, "%s is %s; only a new, queued or held job can be sent to another site", name,
		    state_word(s));
	int jfd = job_dir_open(&sp, name);
	long active = jfd < 0 ? 0 : ticket_count(jfd, TICKET_ACTIVE);
	if (jfd >= 0)
		close(jfd);
	if (active > 0)
		die(EXIT_BADINPUT, "%s has %ld frame%s rendering here; hold it and let them finish first", name, active,
		    active == 1 ? "" : "s");
	if (site_outsource(&sp, name, site, err, sizeof err) < 0 || site_pack_job(&sp, name, err, sizeof err) < 0)
		die(EXIT_BADINPUT, "%s", err);
	printf("%s sent to site %s\n", name, site);
	return EXIT_OK;
}

static int cmd_cancel(const char *name)
{
	if (cancel_job(valid_name(name), "cancelled by a user (hotfarm cancel)") < 0)
		die(EXIT_BADINPUT, "no job named '%s' in %s", name, sp.path);
	return EXIT_OK;
}

/* A file dropped into cancel/: cancel the job it names (with or without
 * an extension), then remove the request. An unknown name is kept until
 * the orphan grace has passed: its job may still be arriving. */
static int cmd_cancel_drop(const char *file)
{
	int cfd = spool_fd(&sp, DIR_CANCEL);
	struct stat st;
	char shown[600];
	text_escape(file, shown, sizeof shown);
	if (strchr(file, '/') || file[0] == '.' || fstatat(cfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		die(EXIT_BADINPUT, "no request cancel/%s", shown);
	char name[NAME_MAX_LEN + 1] = "";
	if (name_is_valid(file) && strlen(file) <= NAME_MAX_LEN)
		snprintf(name, sizeof name, "%s", file);
	int rc = -1;
	if (*name)
		rc = cancel_job(name, "cancelled by a user (a file in cancel/)");
	if (rc < 0) {
		char stem[256];
		snprintf(stem, sizeof stem, "%s", file);
		char *dot = strrchr(stem, '.');
		if (dot)
			*dot = 0;
		if (name_is_valid(stem) && strlen(stem) <= NAME_MAX_LEN)
			rc = cancel_job(stem, "cancelled by a user (a file in cancel/)");
	}
	if (rc < 0 && now_us() / 1000000 - st.st_mtim.tv_sec < sp.conf.orphan_grace)
		return EXIT_WAIT;
	if (rc < 0)
		warn("cancel/%s names no job; the request is removed", shown);
	if (S_ISDIR(st.st_mode) ? tree_remove(cfd, file) : unlinkat(cfd, file, 0))
		if (errno != ENOENT)
			die_errno(EXIT_TEMPFAIL, "unable to remove cancel/%s", shown);
	return rc < 0 ? EXIT_BADINPUT : EXIT_OK;
}

/* ---- main ------------------------------------------------------------------ */

static const struct command {
	const char *name, *args, *help;
	int nargs;
} commands[] = {
	{"init", "[DIR]", "create a spool with every folder, or repair a damaged one (never deletes)", -1},
	{"submit", "PATH --frames F [...]",
	 "pack a scene file or folder and drop it into inbox/; prints the job's name.\n"
	 "  options: --frames F --package P --priority P --width W --height H --requires KEY=PATTERN\n"
	 "  --after NAME --name N --scene FILE --output PATTERN --chunk N --retries N --timeout T\n"
	 "  --email ADDR --owner WHO --args \"ARGS\" --limits NAMES", -1},
	{"status", "[NAME]", "list jobs with state, progress and ETA, or show one job", -1},
	{"watch", "NAME", "follow one job until it ends (exit 0 when done)", 1},
	{"jobs", "", "every job in every state, with owner and times", 0},
	{"hosts", "", "each render host: state (up, draining, silent, lost), heartbeat, record, packages", 0},
	{"slots", "", "each slot of each host: idle, or the job and frame it renders", 0},
	{"sites", "", "each linked site: when it was last heard, its hosts and load, jobs and files each way", 0},
	{"log", "NAME FRAME [TRY]", "print a frame's log (the last attempt, or attempt TRY)", -1},
	{"retry", "NAME", "give the failed frames of a job another go", 1},
	{"kill-frame", "NAME FRAME", "stop one running frame (it counts as a failed attempt)", 2},
	{"drain", "HOST", "let a host finish what it renders and take nothing new", 1},
	{"undrain", "HOST", "let a drained host take frames again", 1},
	{"billing", "[--owner X] [--since DATE] [--csv]", "CPU and wall hours, frames, output per owner and job", -1},
	{"sync", "[PEER] | --serve --peer P", "push sites/PEER/out/ to linked sites as librsync deltas; or serve a peer", -1},
	{"hold", "NAME", "keep a new or queued job from rendering (a rename into held/)", 1},
	{"release", "NAME", "put a held job back into the queue", 1},
	{"priority", "NAME P", "change a job's priority (0 runs first, 999 last)", 2},
	{"cancel", "NAME", "cancel a job (also: drop a file named NAME into cancel/)", 1},
	{"outsource", "NAME SITE", "send a queued job to a linked site to render", 2},
	{"cancel-drop", "FILE", "act on the request cancel/FILE (used by watcherd)", 1},
	{NULL, NULL, NULL, 0},
};

static _Noreturn void usage(int code)
{
	FILE *f = code ? stderr : stdout;
	fprintf(f, "usage: hotfarm [--spool DIR] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-10s %-18s %s\n", c->name, c->args, strchr(c->help, '\n') ? "(see --help)" : c->help);
	fprintf(f, "\nThe spool is --spool DIR, else $HOTFARM_SPOOL, else /var/spool/hotfarm.\n"
		   "Exit codes: 0 ok, 100 bad input or usage, 111 temporary failure.\n"
		   "'hotfarm COMMAND --help' explains one command.\n");
	exit(code);
}

int main(int argc, char **argv)
{
	msg_init("hotfarm");
	spooler_start(); /* started by watcherd (sync, cancel-drop): dies with it, logs in its form */
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"json", no_argument, 0, 'j'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	/* options may come before or after the command */
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': spool_path = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(EXIT_OK);
		default: usage(EXIT_BADINPUT);
		}
	}
	if (optind >= argc)
		usage(EXIT_BADINPUT);
	const char *cmdname = argv[optind];
	const struct command *cmd = NULL;
	for (const struct command *k = commands; k->name; k++)
		if (!strcmp(k->name, cmdname))
			cmd = k;
	if (!cmd) {
		char shown[100];
		text_escape(cmdname, shown, sizeof shown);
		fprintf(stderr, "hotfarm: unknown command '%s'\n", shown);
		usage(EXIT_BADINPUT);
	}
	/* the command's own arguments and options */
	int cargc = 0;
	char **cargv = xcalloc((size_t)argc + 1, sizeof *cargv);
	const char *owner = NULL, *since = NULL;
	bool csv = false;
	for (int i = optind; i < argc; i++) {
		if (!strcmp(cmd->name, "billing") && !strcmp(argv[i], "--owner") && i + 1 < argc) {
			owner = argv[++i];
			continue;
		}
		if (!strcmp(cmd->name, "billing") && !strcmp(argv[i], "--since") && i + 1 < argc) {
			since = argv[++i];
			continue;
		}
		if (!strcmp(cmd->name, "billing") && !strcmp(argv[i], "--csv")) {
			csv = true;
			continue;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: hotfarm %s %s\n  %s\n", cmd->name, cmd->args, cmd->help);
			free(cargv);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--spool") && i + 1 < argc) {
			spool_path = argv[++i];
		} else if (!strncmp(argv[i], "--spool=", 8)) {
			spool_path = argv[i] + 8;
		} else {
			cargv[cargc++] = argv[i];
		}
	}
	if (cmd->nargs >= 0 && cargc - 1 != cmd->nargs) {
		fprintf(stderr, "usage: hotfarm %s %s\n", cmd->name, cmd->args);
		free(cargv);
		return EXIT_BADINPUT;
	}
	int rc;
	if (!strcmp(cmd->name, "init")) {
		rc = cmd_init(cargc, cargv);
		free(cargv);
		return rc;
	}
	open_spool();
	if (!strcmp(cmd->name, "status")) {
		if (cargc > 2)
			die(EXIT_BADINPUT, "usage: hotfarm status [NAME]");
		rc = cargc == 2 ? cmd_status_one(cargv[1]) : cmd_status_all();
	} else if (!strcmp(cmd->name, "submit"))
		rc = cmd_submit(&sp, cargc, cargv);
	else if (!strcmp(cmd->name, "watch"))
		rc = cmd_watch(cargv[1]);
	else if (!strcmp(cmd->name, "jobs"))
		rc = cmd_jobs(&sp, json);
	else if (!strcmp(cmd->name, "hosts"))
		rc = cmd_hosts(&sp, json);
	else if (!strcmp(cmd->name, "sites"))
		rc = cmd_sites(&sp, json);
	else if (!strcmp(cmd->name, "slots"))
		rc = cmd_slots(&sp, json);
	else if (!strcmp(cmd->name, "log")) {
		if (cargc < 3 || cargc > 4)
			die(EXIT_BADINPUT, "usage: hotfarm log NAME FRAME [TRY]");
		rc = cmd_log(&sp, cargv[1], cargv[2], cargc == 4 ? cargv[3] : NULL);
	} else if (!strcmp(cmd->name, "retry"))
		rc = cmd_retry(&sp, cargv[1]);
	else if (!strcmp(cmd->name, "kill-frame"))
		rc = cmd_kill_frame(&sp, cargv[1], cargv[2]);
	else if (!strcmp(cmd->name, "drain"))
		rc = cmd_drain(&sp, cargv[1], true);
	else if (!strcmp(cmd->name, "undrain"))
		rc = cmd_drain(&sp, cargv[1], false);
	else if (!strcmp(cmd->name, "sync"))
		rc = cmd_sync(&sp, cargc, cargv);
	else if (!strcmp(cmd->name, "billing")) {
		if (cargc != 1)
			die(EXIT_BADINPUT, "usage: hotfarm billing [--owner X] [--since DATE] [--csv]");
		rc = cmd_billing(&sp, owner, since, csv, json);
	} else if (!strcmp(cmd->name, "hold"))
		rc = cmd_hold(cargv[1]);
	else if (!strcmp(cmd->name, "release"))
		rc = cmd_release(cargv[1]);
	else if (!strcmp(cmd->name, "priority"))
		rc = cmd_priority(cargv[1], cargv[2]);
	else if (!strcmp(cmd->name, "cancel"))
		rc = cmd_cancel(cargv[1]);
	else if (!strcmp(cmd->name, "outsource"))
		rc = cmd_outsource(cargv[1], cargv[2]);
	else
		rc = cmd_cancel_drop(cargv[1]);
	free(cargv);
	spool_close(&sp);
	return rc;
}
