/* cli.h - what the parts of hotfarm (the command a person types) share:
 * the call each command's handler gets, the handlers main.c's table names,
 * and the checks of a typed job name. */
#ifndef HOTFARM_CLI_H
#define HOTFARM_CLI_H

#include "../../layout/layout.h"

#include <stdbool.h>

/* An option of one command's own, like billing's --owner X or --csv. */
struct cli_option {
	const char *word; /* "--owner"; NULL ends a list */
	bool takes_value;
};
#define CLI_OPTIONS_MAX 4

struct cli;
/* A handler: ARGV[0] is the command's name, ARGV[1..] its words, with the
 * options hotfarm knows (--spool, --json, the command's own) taken out.
 * Returns the exit code. */
typedef int cli_handler(struct cli *cli, int argc, char **argv);

struct command {
	const char *name, *args;
	int nargs;                        /* words after the name; -1: the handler counts them */
	cli_handler *run;
	bool own_spool;                   /* opens a spool itself, or none (init, sync) */
	const struct cli_option *options; /* its own options, or NULL */
	const char *help;
};

/* One run of hotfarm: the options that hold for every command, and the
 * spool main.c opened for the command (unless it has its own_spool). */
struct cli {
	const char *spool_path; /* --spool DIR; NULL: $HOTFARM_SPOOL, else the default */
	bool json;
	struct spool sp;
	const struct command *cmd;
	const char *option_value[CLI_OPTIONS_MAX]; /* as cmd->options; a flag given is "" */
};

/* main.c */
/* The value of the command's own option WORD; NULL when not given. */
const char *cli_option(const struct cli *cli, const char *word);
/* Job NAME's folder; dies (bad input) when NAME is not a job's name. */
int cli_job_open(const struct spool *sp, const char *name);

/* presets.c */
int cmd_presets(struct cli *cli, int argc, char **argv);

/* show.c: looking at jobs */
/* S as a JSON string, quoted and escaped. */
void cli_json_string(const char *s);
/* IN (NULL: "") escaped for a terminal into OUT. */
void cli_shown(const char *in, char *out, size_t outsize);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_watch(struct cli *cli, int argc, char **argv);
int cmd_jobs(struct cli *cli, int argc, char **argv);
int cmd_log(struct cli *cli, int argc, char **argv);
int cmd_billing(struct cli *cli, int argc, char **argv);
/* A --since WORD: a date (2026-11-01, UTC), or when AGES also an age
 * before now (90s, 30m, 2h, 3d): microseconds since the epoch. Dies (bad
 * input) on anything else. */
int64_t cli_since(const char *word, bool ages);

/* audit.c: the record of every action (run/audit.log) */
int cmd_audit(struct cli *cli, int argc, char **argv);

/* events.c: the event stream (run/events.jsonl) */
int cmd_events(struct cli *cli, int argc, char **argv);

/* hosts.c: looking at hosts, slots and linked sites */
int cmd_hosts(struct cli *cli, int argc, char **argv);
int cmd_slots(struct cli *cli, int argc, char **argv);
int cmd_sites(struct cli *cli, int argc, char **argv);

/* steer.c: steering */
int cmd_hold(struct cli *cli, int argc, char **argv);
int cmd_release(struct cli *cli, int argc, char **argv);
int cmd_priority(struct cli *cli, int argc, char **argv);
int cmd_cancel(struct cli *cli, int argc, char **argv);
int cmd_outsource(struct cli *cli, int argc, char **argv);
int cmd_retry(struct cli *cli, int argc, char **argv);
int cmd_kill_frame(struct cli *cli, int argc, char **argv);
int cmd_drain(struct cli *cli, int argc, char **argv);
int cmd_pool(struct cli *cli, int argc, char **argv);
int cmd_suspend(struct cli *cli, int argc, char **argv);
int cmd_rerender(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
int cmd_forget(struct cli *cli, int argc, char **argv);
/* Only the farm's user and root may do WHAT: else it dies saying so. */
void farm_only(const struct spool *sp, const char *what);
int cmd_undrain(struct cli *cli, int argc, char **argv);

/* clean.c: housekeeping by hand */
int cmd_clean(struct cli *cli, int argc, char **argv);

/* submit.c */
int cmd_submit(struct cli *cli, int argc, char **argv);

#endif
