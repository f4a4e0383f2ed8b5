/* main.c - hotfarm, the command a person types: the command table (handler,
 * usage, own options), init, and sync handed to hf-sync. Distrusts the words
 * typed: unknown commands and wrong counts are usage errors, echoes escaped. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/preset.h"
#include "../../layout/perms.h"

#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- init ----------------------------------------------------------------- */

/* The farm's user and the artists' group init --user/--group name. */
static void init_who(struct cli *cli, int rootfd, struct perm_plan *plan)
{
	const char *user = cli_option(cli, "--user"), *group = cli_option(cli, "--group");
	struct stat st;
	if (fstat(rootfd, &st) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to stat the spool");
	plan->farm = st.st_uid;
	plan->group = (gid_t)-1;
	if (user) {
		struct passwd *pw = getpwnam(user);
		if (!pw)
			die(EXIT_BADINPUT, "no user named '%s' on this host (the farm's user: useradd --system %s)", user, user);
		if (geteuid() != 0 && pw->pw_uid != geteuid())
			die(EXIT_BADINPUT, "only root may give the spool to another user (--user %s)", user);
		plan->farm = pw->pw_uid;
		plan->flags |= PERM_OWN;
	}
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr)
			die(EXIT_BADINPUT, "no group named '%s' on this host (the artists' group: groupadd %s)", group, group);
		plan->group = gr->gr_gid;
	}
}

/* Create what a spool lacks, then check its modes (--repair, --group,
 * --user: and mend them). Exit 100 while something is left unsafe. */
static int cmd_init(struct cli *cli, int argc, char **argv)
{
	const char *confsrc = getenv("HOTFARM_CONFDIR");
	if (!confsrc)
		confsrc = HOTFARM_CONFDIR;
	if (argc > 2)
		die(EXIT_BADINPUT, "usage: hotfarm init [--group GROUP] [--user USER] [--repair] [DIR]");
	const char *dir = argc == 2 ? argv[1] : (cli->spool_path ? cli->spool_path : spool_default());
	struct strlist made = {0}, problems = {0}, fixed = {0};
	char err[1024];
	if (access(confsrc, R_OK) < 0) {
		warn("no configuration to seed from at %s; conf/ stays as it is", confsrc);
		confsrc = NULL;
	}
	if (spool_init(dir, confsrc, &made, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	struct spool fresh;
	if (spool_open(dir, &fresh, err, sizeof err) == 0) {
		/* the presets' folders, as inbox/ (the repair below mends them too) */
		if (preset_folders_make(&fresh, &made, err, sizeof err) < 0)
			warn("%s", err);
		spool_close(&fresh);
	}
	int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open %s", dir);
	struct perm_plan plan = {.flags = PERM_DEEP};
	init_who(cli, root, &plan);
	if (cli_option(cli, "--repair") || cli_option(cli, "--group") || cli_option(cli, "--user"))
		plan.flags |= PERM_REPAIR;
	int left = spool_perms(root, dir, &plan, &problems, &fixed);
	close(root);
	for (size_t i = 0; i < made.n; i++)
		printf("created %s\n", made.v[i]);
	for (size_t i = 0; i < fixed.n; i++)
		printf("repaired: %s\n", fixed.v[i]);
	for (size_t i = 0; i < problems.n; i++)
		printf("unsafe: %s\n", problems.v[i]);
	if (left > 0)
		printf("%s: %d unsafe mode%s; repair with: hotfarm init --repair %s\n", dir, left, left == 1 ? "" : "s", dir);
	else if (made.n == 0 && fixed.n == 0)
		printf("%s: a complete spool, safe to share; nothing to repair\n", dir);
	strlist_free(&made);
	strlist_free(&problems);
	strlist_free(&fixed);
	return left > 0 ? EXIT_BADINPUT : left < 0 ? EXIT_TEMPFAIL : EXIT_OK;
}

/* ---- sync ------------------------------------------------------------------ */

/* hotfarm sync is the stage hf-sync, which watcherd runs, run by a person
 * or at the end of an ssh link (the key's forced command `hotfarm sync
 * --serve ...`): the same words, and the spool when one was named. It is
 * found where the other stages are; the CLI itself links no librsync. */
static int cmd_sync(struct cli *cli, int argc, char **argv)
{
	const char *libexec = getenv("HOTFARM_LIBEXECDIR");
	char *prog = xasprintf("%s/hf-sync", libexec ? libexec : HOTFARM_LIBEXECDIR);
	char **args = xcalloc((size_t)argc + 3, sizeof *args);
	int n = 0;
	args[n++] = prog;
	if (cli->spool_path) {
		args[n++] = "--spool";
		args[n++] = (char *)cli->spool_path;
	}
	for (int i = 1; i < argc; i++)
		args[n++] = argv[i];
	execv(prog, args);
	die_errno(EXIT_TEMPFAIL, "unable to run %s", prog);
}

/* ---- the table --------------------------------------------------------------- */

static const struct cli_option init_options[] = {{"--group", true}, {"--user", true}, {"--repair", false}, {0}};
static const struct cli_option billing_options[] = {{"--by", true}, {"--owner", true}, {"--since", true}, {"--csv", false}, {0}};
static const struct cli_option audit_options[] = {{"--job", true}, {"--user", true}, {"--since", true}, {0}};
static const struct cli_option events_options[] = {{"--follow", false}, {"--job", true}, {"--since", true}, {0}};
static const struct cli_option clean_options[] = {{"--dry-run", false}, {"--older-than", true}, {0}};

/* name, words, count of words (-1: the handler counts), handler, whether it
 * opens its own spool, its own options, help */
static const struct command commands[] = {
	{"init", "[--group G] [--user U] [--repair] [DIR]", -1, cmd_init, true, init_options,
	 "create a spool with every folder, or repair a damaged one (never deletes); then check\n"
	 "  that only the farm's user may change it. --group G: artists in group G may drop jobs and\n"
	 "  requests (sticky folders); --user U (as root): the spool becomes U's, the farm's user;\n"
	 "  --repair: mend the unsafe modes it reports (exit 100 while any is left)"},
	{"submit", "PATH... [--frames F | --preset P] [...]", -1, cmd_submit, false, NULL,
	 "pack each scene file or folder and drop it into inbox/ (with --frames) or into a preset's\n"
	 "  folder (--preset, else the preset 'default'); prints each job's name and its page's path.\n"
	 "  options: --frames F --package P --priority P --width W --height H --requires KEY=PATTERN\n"
	 "  --after NAME --name N --scene FILE --output PATTERN --format png|png16|jpeg|tiff|exr|exr-multilayer|hdr\n"
	 "  --extra-outputs \"depth_####.exr, ...\" --fps N --chunk N --retries N --timeout T\n"
	 "  --email ADDR --owner WHO --args \"ARGS\" --limits NAMES --pool \"POOL, ...\"\n"
	 "  --at WHEN (start no frame before: 2026-12-07T02:00 local, ...Z for UTC, or +2h)"},
	{"presets", "", 0, cmd_presets, false, NULL,
	 "the preset folders (inbox/NAME/) and what a scene dropped there becomes"},
	{"status", "[NAME]", -1, cmd_status, false, NULL, "list jobs with state, progress and ETA, or show one job"},
	{"watch", "NAME", 1, cmd_watch, false, NULL, "follow one job until it ends (exit 0 when done)"},
	{"jobs", "", 0, cmd_jobs, false, NULL, "every job in every state, with owner and times"},
	{"hosts", "", 0, cmd_hosts, false, NULL,
	 "each render host: state (up, draining, silent, lost, offline; a desktop's user), pools, heartbeat, record,\n"
	 "  packages"},
	{"slots", "", 0, cmd_slots, false, NULL, "each slot of each host: idle, or the job and frame it renders"},
	{"sites", "", 0, cmd_sites, false, NULL,
	 "each linked site: when it was last heard, its hosts and load, jobs and files each way"},
	{"log", "NAME FRAME [TRY]", -1, cmd_log, false, NULL, "print a frame's log (the last attempt, or attempt TRY)"},
	{"retry", "NAME", 1, cmd_retry, false, NULL, "give the failed frames of a job another go"},
	{"rerender", "NAME FRAMES", 2, cmd_rerender, false, NULL,
	 "render done frames again (FRAMES: 12,40-48) of a done, failed or running job; each old\n"
	 "  image stays in output/ until its replacement passes the check"},
	{"kill-frame", "NAME FRAME", 2, cmd_kill_frame, false, NULL,
	 "stop one running frame (it counts as a failed attempt)"},
	{"drain", "HOST", 1, cmd_drain, false, NULL, "let a host finish what it renders and take nothing new"},
	{"undrain", "HOST", 1, cmd_undrain, false, NULL, "let a drained host take frames again"},
	{"pool", "[HOST [add|remove|set] [POOL...]]", -1, cmd_pool, false, NULL,
	 "each host's pools, or one host's; add, remove or set the pools (labels) of a host. A job\n"
	 "  with [job] pool = lighting renders only on hosts in a pool it names (wildcards allowed)"},
	{"forget", "HOST", 1, cmd_forget, false, NULL,
	 "remove the record of a host that is gone for good (only while its agent is stopped)"},
	{"billing", "[--by owner|job|pool|site] [--owner X] [--since DATE] [--csv]", -1, cmd_billing, false, billing_options,
	 "what ended jobs cost, from every attempt (done, failed, cancelled, from linked sites): per owner\n"
	 "  and job, or --by owner|job|pool|site with attempts, submitted and site bytes and a total"},
	{"audit", "[--job NAME] [--user U] [--since DATE|AGE]", -1, cmd_audit, false, audit_options,
	 "the record of every action: time, user, action, job, result and why, oldest first"},
	{"events", "[--follow] [--job NAME] [--since SEQ]", -1, cmd_events, false, events_options,
	 "the farm's event stream, one JSON object a line, oldest first: arrivals, intake, frames,\n"
	 "  state changes, hosts, site links. --since SEQ: those numbered above SEQ; --job NAME: its\n"
	 "  own; --follow: then each new one as it comes (inotify), across rotations"},
	{"clean", "[--dry-run] [--older-than AGE]", -1, cmd_clean, false, clean_options,
	 "remove the jobs that ended and the rejected/ entries older than [retain] days (or AGE:\n"
	 "  30d, 12h, 90m, 0), or move them into [retain] archive; prints each with its bytes and a\n"
	 "  total. --dry-run: only say what would go. A done job that a job still to run waits for\n"
	 "  (after) is kept. The farm's user or root; watcherd does the same by itself every hour"},
	{"sync", "[PEER] | --serve --peer P", -1, cmd_sync, true, NULL,
	 "push sites/PEER/out/ to linked sites as librsync deltas; or serve a peer"},
	{"hold", "NAME", 1, cmd_hold, false, NULL, "keep a new or queued job from rendering (a rename into held/)"},
	{"release", "NAME", 1, cmd_release, false, NULL, "put a held job back into the queue"},
	{"suspend", "NAME", 1, cmd_suspend, false, NULL,
	 "stop a job's running frames now (they go back uncounted) and hold it"},
	{"resume", "NAME", 1, cmd_resume, false, NULL, "put a suspended (or held) job back into the queue"},
	{"priority", "NAME P", 2, cmd_priority, false, NULL, "change a job's priority (0 runs first, 999 last)"},
	{"cancel", "NAME", 1, cmd_cancel, false, NULL, "cancel a job (also: drop a file named NAME into cancel/)"},
	{"outsource", "NAME SITE", 2, cmd_outsource, false, NULL, "send a queued job to a linked site to render"},
	{0},
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

/* ---- what every command shares -------------------------------------------------- */

const char *cli_option(const struct cli *cli, const char *word)
{
	for (int k = 0; cli->cmd->options && cli->cmd->options[k].word; k++)
		if (!strcmp(cli->cmd->options[k].word, word))
			return cli->option_value[k];
	return NULL;
}

int cli_job_open(const struct spool *sp, const char *name)
{
	if (!job_id_valid(name))
		die(EXIT_BADINPUT, "'%s' is not a job name", name);
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		die(EXIT_BADINPUT, "no job named %s in %s", name, sp->path);
	return jfd;
}

/* ---- the words typed ---------------------------------------------------------------- */

/* The options before the command; returns the index of the command's name. */
static int global_options(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{"spool", required_argument, 0, 's'},
					     {"json", no_argument, 0, 'j'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': cli->spool_path = optarg; break;
		case 'j': cli->json = true; break;
		case 'h': usage(EXIT_OK);
		default: usage(EXIT_BADINPUT);
		}
	}
	if (optind >= argc)
		usage(EXIT_BADINPUT);
	return optind;
}

static const struct command *command_find(const char *name)
{
	for (const struct command *k = commands; k->name; k++)
		if (!strcmp(k->name, name))
			return k;
	char shown[100];
	text_escape(name, shown, sizeof shown);
	fprintf(stderr, "hotfarm: unknown command '%s'\n", shown);
	usage(EXIT_BADINPUT);
}

/* Whether WORDS[*I] is one of the command's own options: then its value
 * is kept and *I moves past it. */
static bool command_option(struct cli *cli, int n, char **words, int *i)
{
	const struct cli_option *o = cli->cmd->options;
	for (int k = 0; o && o[k].word; k++) {
		if (strcmp(words[*i], o[k].word) || (o[k].takes_value && *i + 1 >= n))
			continue;
		cli->option_value[k] = o[k].takes_value ? words[++*i] : "";
		return true;
	}
	return false;
}

/* Sort the N words from the command's name on (they may hold options
 * before and after the command's own words) into ARGS; returns their
 * count, or -1 when --help was asked for and answered. */
static int command_words(struct cli *cli, int n, char **words, char **args)
{
	int count = 0;
	for (int i = 0; i < n; i++) {
		if (command_option(cli, n, words, &i))
			continue;
		if (!strcmp(words[i], "--help") || !strcmp(words[i], "-h")) {
			printf("usage: hotfarm %s %s\n  %s\n", cli->cmd->name, cli->cmd->args, cli->cmd->help);
			return -1;
		} else if (!strcmp(words[i], "--json")) {
			cli->json = true;
		} else if (!strcmp(words[i], "--spool") && i + 1 < n) {
			cli->spool_path = words[++i];
		} else if (!strncmp(words[i], "--spool=", 8)) {
			cli->spool_path = words[i] + 8;
		} else {
			args[count++] = words[i];
		}
	}
	return count;
}

int main(int argc, char **argv)
{
	msg_init("hotfarm");
	struct cli cli = {0};
	int first = global_options(&cli, argc, argv);
	cli.cmd = command_find(argv[first]);
	char **args = xcalloc((size_t)(argc - first) + 1, sizeof *args);
	int count = command_words(&cli, argc - first, argv + first, args);
	if (count < 0) {
		free(args);
		return EXIT_OK;
	}
	if (cli.cmd->nargs >= 0 && count - 1 != cli.cmd->nargs) {
		fprintf(stderr, "usage: hotfarm %s %s\n", cli.cmd->name, cli.cmd->args);
		free(args);
		return EXIT_BADINPUT;
	}
	if (!cli.cmd->own_spool) {
		char err[1024];
		if (spool_open(cli.spool_path ? cli.spool_path : spool_default(), &cli.sp, err, sizeof err) < 0)
			die(EXIT_TEMPFAIL, "%s", err);
	}
	int rc = cli.cmd->run(&cli, count, args);
	free(args);
	if (!cli.cmd->own_spool)
		spool_close(&cli.sp);
	return rc;
}
