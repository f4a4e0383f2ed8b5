/* clean.c - hotfarm clean: by hand, the housekeeping watcherd does by itself:
 * ended jobs and rejected/ entries older than [retain] days (or --older-than)
 * removed or archived, each said with its bytes, and recorded in the audit log. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/audit.h"
#include "../../layout/retain.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct tally {
	const struct spool *sp;
	bool dry_run;
	long done, failed;
	unsigned long long bytes;
};

static void cleaned(const struct retain_item *it, int rc, void *arg)
{
	struct tally *t = arg;
	char what[JOBID_MAX_LEN + 32], ended[32], size[32], why[800];
	snprintf(what, sizeof what, "%s/%s", spool_dir_name(it->rejected ? DIR_REJECTED : DIR_JOBS), it->id);
	time_iso(it->ended_us, ended);
	human_bytes(it->bytes, size);
	const char *state = it->rejected ? "rejected" : state_word(it->state);
	if (rc < 0) {
		snprintf(why, sizeof why, "%s: %s", what, strerror(errno));
		warn("unable to remove %s", why);
		t->failed++;
	} else {
		printf("%s %s (%s, ended %s): %llu bytes (%s)%s%s\n",
		       t->dry_run ? "would remove" : *it->archived ? "archived" : "removed", what, state, ended, it->bytes,
		       size, *it->archived ? " -> " : "", it->archived);
		snprintf(why, sizeof why, "%s %s, ended %s, %llu bytes%s%s", *it->archived ? "archived" : "removed", state,
			 ended, it->bytes, *it->archived ? " to " : "", it->archived);
		t->done++;
		t->bytes += it->bytes;
	}
	if (!t->dry_run)
		audit_record(t->sp, geteuid(), "clean", what, rc < 0 ? "failed" : "done", why);
}

int cmd_clean(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	const struct spool *sp = &cli->sp;
	if (argc != 1)
		die(EXIT_BADINPUT, "usage: hotfarm clean [--dry-run] [--older-than AGE]");
	const char *older = cli_option(cli, "--older-than");
	struct retain_opts o = {.older_than_us = -1, .local = true, .dry_run = cli_option(cli, "--dry-run") != NULL,
				.measure = true, .lock_ms = 30000};
	struct store_gc gc;
	o.store = &gc;
	long seconds;
	if (older && !parse_seconds(older, 100L * 366 * 86400, &seconds)) {
		char shown[100];
		text_escape(older, shown, sizeof shown);
		die(EXIT_BADINPUT, "--older-than takes an age like 30d, 12h, 90m or 0, not '%s'", shown);
	}
	if (older)
		o.older_than_us = (int64_t)seconds * 1000000;
	else if (sp->conf.keep_days == 0)
		die(EXIT_BADINPUT, "[retain] days = 0 keeps ended jobs for ever; say how old with --older-than AGE");
	if (!o.dry_run)
		farm_only(sp, "clean the spool");
	struct tally t = {.sp = sp, .dry_run = o.dry_run};
	if (retain_run(sp, &o, cleaned, &t) < 0) {
		if (errno == EAGAIN)
			die(EXIT_TEMPFAIL, "another clean (watcherd's, or one by hand) has run for 30 s; try again later");
		if (*sp->conf.archive && !o.dry_run)
			die_errno(EXIT_TEMPFAIL, "unable to clean %s (is [retain] archive = %s a folder?)", sp->path,
				  sp->conf.archive);
		die_errno(EXIT_TEMPFAIL, "unable to clean %s", sp->path);
	}
	char size[32];
	human_bytes(t.bytes, size);
	printf("total: %ld %s, %llu bytes (%s)", t.done, o.dry_run ? "would go" : "removed", t.bytes, size);
	if (t.failed)
		printf("; %ld could not be removed", t.failed);
	printf("\n");
	char held[32], saved[32];
	human_bytes(gc.removed_bytes, size);
	human_bytes(gc.kept_bytes, held);
	human_bytes(gc.saved_bytes, saved);
	printf("store: %ld content%s no job holds %s, %llu bytes (%s); %ld kept (%s), linked %llu times, saving %s\n",
	       gc.removed, gc.removed == 1 ? "" : "s", o.dry_run ? "would go" : "removed", gc.removed_bytes, size,
	       gc.kept, held, gc.links, saved);
	return t.failed ? EXIT_TEMPFAIL : EXIT_OK;
}
