/* audit.c - hotfarm audit: the farm's record of every action, filtered by
 * job, user and time, as aligned columns or JSON lines. Distrusts the log:
 * malformed lines are skipped (and counted), every value is escaped. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/audit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The columns after TIME, and how wide each is (a long value still shows
 * whole, past its column). */
enum { COL_USER, COL_ACTION, COL_JOB, COL_RESULT, COL_REASON, COLS };
static const char *const col_names[COLS] = {"USER", "ACTION", "JOB", "RESULT", "REASON"};
enum { COL_WIDEST = 40 };

struct table {
	int width[COLS];
	long rows;
};

/* LINE's values as a terminal may show them: escaped, "-" for none. */
static void line_shown(const struct audit_line *l, char out[COLS][4 * AUDIT_LINE_MAX])
{
	const char *v[COLS] = {l->user, l->action, l->job, l->result, l->reason};
	for (int c = 0; c < COLS; c++)
		text_escape(*v[c] ? v[c] : "-", out[c], sizeof out[c]);
}

static char shown[COLS][4 * AUDIT_LINE_MAX];

static void audit_measure(const struct audit_line *l, void *arg)
{
	struct table *t = arg;
	line_shown(l, shown);
	for (int c = 0; c < COL_REASON; c++) {
		int w = (int)strlen(shown[c]);
		if (w > t->width[c])
			t->width[c] = w < COL_WIDEST ? w : COL_WIDEST;
	}
	t->rows++;
}

static void audit_row(const struct audit_line *l, void *arg)
{
	const struct table *t = arg;
	line_shown(l, shown);
	printf("%-24s", l->time);
	for (int c = 0; c < COL_REASON; c++)
		printf(" %-*s", t->width[c], shown[c]);
	printf(" %s\n", shown[COL_REASON]);
}

/* One JSON object a line (JSON Lines): a log of any length streams. */
static void audit_json(const struct audit_line *l, void *arg)
{
	(void)arg;
	printf("{\"time\":\"%s\",\"time_us\":%lld,\"uid\":%lu,\"user\":", l->time, (long long)l->us,
	       (unsigned long)l->uid);
	cli_json_string(l->user);
	printf(",\"action\":");
	cli_json_string(l->action);
	printf(",\"job\":");
	cli_json_string(l->job);
	printf(",\"result\":");
	cli_json_string(l->result);
	printf(",\"reason\":");
	cli_json_string(l->reason);
	printf("}\n");
}

/* Dies with what a failed read of the log means for the person asking. */
static _Noreturn void audit_unreadable(void)
{
	const char *run = spool_dir_name(DIR_RUN), *log = spool_file_name(SPOOL_FILE_AUDIT);
	if (errno == EACCES || errno == EPERM)
		die(EXIT_TEMPFAIL,
		    "unable to read %s/%s: %s; %s/%s is readable by the farm's user and the admins group ([site] admins)",
		    run, log, strerror(errno), run, log);
	if (errno == EINVAL || errno == ELOOP)
		die(EXIT_TEMPFAIL, "unable to read %s/%s: it is not a regular file", run, log);
	die_errno(EXIT_TEMPFAIL, "unable to read %s/%s", run, log);
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		die(EXIT_BADINPUT, "usage: hotfarm audit [--job NAME] [--user U] [--since DATE|AGE]");
	struct audit_filter f = {.job = cli_option(cli, "--job"), .user = cli_option(cli, "--user")};
	const char *since = cli_option(cli, "--since");
	if (f.job && !job_id_valid(f.job)) {
		char typed[200];
		text_escape(f.job, typed, sizeof typed);
		die(EXIT_BADINPUT, "'%s' is not a job name", typed);
	}
	if (since)
		f.since_us = cli_since(since, true);
	long skipped;
	if (cli->json) {
		skipped = audit_read(&cli->sp, &f, audit_json, NULL);
	} else {
		/* twice: once to size the columns, once to print them */
		struct table t = {.rows = 0};
		for (int c = 0; c < COL_REASON; c++)
			t.width[c] = (int)strlen(col_names[c]);
		skipped = audit_read(&cli->sp, &f, audit_measure, &t);
		if (skipped >= 0 && t.rows) {
			printf("%-24s", "TIME");
			for (int c = 0; c < COL_REASON; c++)
				printf(" %-*s", t.width[c], col_names[c]);
			printf(" %s\n", col_names[COL_REASON]);
			skipped = audit_read(&cli->sp, &f, audit_row, &t);
		}
	}
	if (skipped < 0)
		audit_unreadable();
	if (fflush(stdout) == EOF)
		die_errno(EXIT_TEMPFAIL, "unable to write");
	if (skipped > 0)
		warn("%ld malformed line%s of %s/%s passed over", skipped, skipped == 1 ? "" : "s", spool_dir_name(DIR_RUN),
		     spool_file_name(SPOOL_FILE_AUDIT));
	return EXIT_OK;
}
