/* billing.c - hotfarm billing: what ended jobs cost, summed from every attempt's billing line (this site's
 * jobs and those linked sites sent), by owner and job or --by owner|job|pool|site, as text, CSV or JSON.
 * Distrusts what it reads: a peer's lines are parsed warily by layout/, every name is escaped. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/ini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One line of the bill: a group's sums. */
struct bill {
	char key[300]; /* escaped; the default view's job lines: "OWNER\tJOB" */
	char owner[300], reported[300]; /* --by job: whose it is (a peer's job: site:PEER, and whom PEER named) */
	long attempts, frames;
	double cpu, wall;
	unsigned long long bytes, submitted, site_sent, site_received;
};

struct bills {
	struct bill *v;
	size_t n;
};

static struct bill *bill_find(struct bills *bills, const char *key)
{
	for (size_t i = 0; i < bills->n; i++)
		if (!strcmp(bills->v[i].key, key))
			return &bills->v[i];
	bills->v = xrealloc(bills->v, (bills->n + 1) * sizeof *bills->v);
	struct bill *b = &bills->v[bills->n++];
	memset(b, 0, sizeof *b);
	snprintf(b->key, sizeof b->key, "%s", key);
	return b;
}

static void bill_attempt(struct bill *b, const struct ticket_bill *k)
{
	b->attempts++;
	b->frames += k->ok;
	b->cpu += k->user + k->sys;
	b->wall += k->wall;
	b->bytes += k->bytes;
}

static void bill_sizes(struct bill *b, const struct job_sizes *z)
{
	b->submitted += z->submitted;
	b->site_sent += z->site_sent;
	b->site_received += z->site_received;
}

enum billing_by { BY_NONE, BY_OWNER, BY_JOB, BY_POOL, BY_SITE };
static const char *const by_words[] = {"", "owner", "job", "pool", "site"};

/* One job, as the attempts' walk sees it: the keys its lines go under. */
struct job_bill {
	enum billing_by by;
	const char *owner, *job, *site;
	struct bills *groups, *jobs; /* jobs: the default view's job lines */
	struct bill *total;
};

static void bill_line(const struct ticket_bill *k, void *arg)
{
	const struct job_bill *jb = arg;
	bill_attempt(jb->total, k);
	if (jb->by == BY_NONE) {
		char key[620];
		snprintf(key, sizeof key, "%s\t%s", jb->owner, jb->job);
		bill_attempt(bill_find(jb->jobs, key), k);
		bill_attempt(bill_find(jb->groups, jb->owner), k);
		return;
	}
	const char *key = jb->by == BY_OWNER ? jb->owner : jb->by == BY_JOB ? jb->job : jb->by == BY_SITE ? jb->site
											     : *k->pool ? k->pool : "-";
	bill_attempt(bill_find(jb->groups, key), k);
}

/* The pool a job's own sizes are billed to: the pool its job.ini asks for, else "-". */
static void job_pool(int jfd, char *out, size_t outsize)
{
	char err[256];
	struct ini *ini = job_file_ini(jfd, JOB_FILE_DESC, err, sizeof err);
	const char *v = ini ? ini_get(ini, "job", "pool") : NULL;
	text_escape(v && *v ? v : "-", out, outsize);
	ini_free(ini);
}

/* Add job ID's attempts (when it has ended, is OWNER's or OWNER is NULL,
 * and ended since SINCE_US or that is 0). */
static void billing_add_job(const struct spool *sp, const char *id, const char *owner, int64_t since_us,
			    struct job_bill *jb)
{
	char entry[ENTRY_MAX_LEN];
	if (!state_is_final(job_find(sp, id, entry)))
		return; /* billed when it ends */
	int jfd = job_dir_open(sp, id);
	if (jfd < 0)
		return;
	struct job_status st;
	if (job_status_read(jfd, &st) < 0) {
		close(jfd);
		return;
	}
	const char *who = *st.owner ? st.owner : "(nobody)";
	if ((!owner || !strcmp(owner, who)) && (!since_us || st.finished_us >= since_us)) {
		char w[300], shown_id[300], site[SITE_NAME_MAX + 1], pool[300];
		cli_shown(who, w, sizeof w);
		cli_shown(id, shown_id, sizeof shown_id);
		job_bill_site(sp, jfd, site, sizeof site);
		jb->owner = w, jb->job = shown_id, jb->site = site;
		job_bills_each(jfd, bill_line, jb);
		/* the job's own sizes: once, in its group (by pool: the pool it asked for) */
		struct job_sizes z;
		job_sizes_read(jfd, &z);
		bill_sizes(jb->total, &z);
		if (jb->by == BY_POOL)
			job_pool(jfd, pool, sizeof pool);
		const char *key = jb->by == BY_NONE ? w : jb->by == BY_OWNER ? w : jb->by == BY_JOB ? shown_id
							 : jb->by == BY_SITE ? site : pool;
		struct bill *g = bill_find(jb->groups, key);
		bill_sizes(g, &z);
		if (jb->by == BY_NONE) {
			char jkey[620];
			snprintf(jkey, sizeof jkey, "%s\t%s", w, shown_id);
			bill_sizes(bill_find(jb->jobs, jkey), &z);
		} else if (jb->by == BY_JOB) {
			snprintf(g->owner, sizeof g->owner, "%s", w);
			if (!strncmp(st.owner, "site:", 5))
				cli_shown(st.owner_label, g->reported, sizeof g->reported);
		}
	}
	job_status_free(&st);
	close(jfd);
}

/* ---- the default view: owners and their jobs (as before --by) ---------------------------- */

static void billing_json(const struct bills *owners, const struct bills *jobs)
{
	printf("{\"owners\":[");
	for (size_t i = 0; i < owners->n; i++) {
		const struct bill *o = &owners->v[i];
		printf("%s{\"owner\":", i ? "," : "");
		cli_json_string(o->key);
		printf(",\"frames\":%ld,\"cpu_hours\":%.6f,\"wall_hours\":%.6f,\"output_bytes\":%llu}", o->frames,
		       o->cpu / 3600, o->wall / 3600, o->bytes);
	}
	printf("],\"jobs\":[");
	for (size_t i = 0; i < jobs->n; i++) {
		struct bill *j = &jobs->v[i];
		char *tab = strchr(j->key, '\t');
		*tab = 0;
		printf("%s{\"owner\":", i ? "," : "");
		cli_json_string(j->key);
		printf(",\"job\":");
		cli_json_string(tab + 1);
		printf(",\"frames\":%ld,\"cpu_hours\":%.6f,\"wall_hours\":%.6f,\"output_bytes\":%llu}", j->frames,
		       j->cpu / 3600, j->wall / 3600, j->bytes);
	}
	printf("]}\n");
}

/* One CSV field as RFC 4180 has it: in double quotes, its own doubled,
 * when it holds a comma, a quote or a line break; as it is otherwise. */
static void csv_field(const char *v)
{
	if (!v[strcspn(v, ",\"\r\n")]) {
		fputs(v, stdout);
		return;
	}
	putchar('"');
	for (; *v; v++) {
		if (*v == '"')
			putchar('"');
		putchar(*v);
	}
	putchar('"');
}

/* Quoted as RFC 4180 says; lines end in LF, as the tools that read
 * them here expect. */
static void billing_csv(const struct bills *owners, const struct bills *jobs)
{
	printf("owner,job,frames,cpu_hours,wall_hours,output_bytes\n");
	for (size_t i = 0; i < jobs->n; i++) {
		struct bill *j = &jobs->v[i];
		char *tab = strchr(j->key, '\t');
		*tab = 0;
		csv_field(j->key);
		putchar(',');
		csv_field(tab + 1);
		printf(",%ld,%.6f,%.6f,%llu\n", j->frames, j->cpu / 3600, j->wall / 3600, j->bytes);
	}
	for (size_t i = 0; i < owners->n; i++) {
		const struct bill *o = &owners->v[i];
		csv_field(o->key);
		printf(",(all),%ld,%.6f,%.6f,%llu\n", o->frames, o->cpu / 3600, o->wall / 3600, o->bytes);
	}
}

static void billing_table(const struct bills *owners, const struct bills *jobs)
{
	printf("%-16s %-24s %8s %10s %10s %14s\n", "OWNER", "JOB", "FRAMES", "CPU h", "WALL h", "OUTPUT bytes");
	for (size_t i = 0; i < jobs->n; i++) {
		struct bill *j = &jobs->v[i];
		char *tab = strchr(j->key, '\t');
		*tab = 0;
		printf("%-16s %-24s %8ld %10.4f %10.4f %14llu\n", j->key, tab + 1, j->frames, j->cpu / 3600,
		       j->wall / 3600, j->bytes);
	}
	for (size_t i = 0; i < owners->n; i++) {
		const struct bill *o = &owners->v[i];
		printf("%-16s %-24s %8ld %10.4f %10.4f %14llu\n", o->key, "(all jobs)", o->frames, o->cpu / 3600,
		       o->wall / 3600, o->bytes);
	}
}

/* ---- --by: one line per group and the total ------------------------------------------------- */

static void by_json(enum billing_by by, const struct bills *groups, const struct bill *total)
{
	printf("{\"by\":\"%s\",\"groups\":[", by_words[by]);
	for (size_t i = 0; i <= groups->n; i++) {
		const struct bill *g = i < groups->n ? &groups->v[i] : total;
		if (i == groups->n)
			printf("],\"total\":{");
		else
			printf("%s{\"%s\":", i ? "," : "", by_words[by]), cli_json_string(g->key), putchar(',');
		if (by == BY_JOB && i < groups->n) {
			printf("\"owner\":"), cli_json_string(g->owner);
			printf(",\"reported_owner\":"), cli_json_string(g->reported), putchar(',');
		}
		printf("\"attempts\":%ld,\"frames\":%ld,\"cpu_seconds\":%.3f,\"wall_seconds\":%.3f,\"output_bytes\":%llu,"
		       "\"submitted_bytes\":%llu,\"site_sent_bytes\":%llu,\"site_received_bytes\":%llu}",
		       g->attempts, g->frames, g->cpu, g->wall, g->bytes, g->submitted, g->site_sent, g->site_received);
	}
	printf("}\n");
}

static void by_csv(enum billing_by by, const struct bills *groups, const struct bill *total)
{
	printf("%s,%sattempts,frames,cpu_seconds,wall_seconds,output_bytes,submitted_bytes,site_sent_bytes,"
	       "site_received_bytes\n",
	       by_words[by], by == BY_JOB ? "owner,reported_owner," : "");
	for (size_t i = 0; i <= groups->n; i++) {
		const struct bill *g = i < groups->n ? &groups->v[i] : total;
		csv_field(i < groups->n ? g->key : "(total)");
		if (by == BY_JOB)
			putchar(','), csv_field(g->owner), putchar(','), csv_field(g->reported);
		printf(",%ld,%ld,%.3f,%.3f,%llu,%llu,%llu,%llu\n", g->attempts, g->frames, g->cpu, g->wall, g->bytes,
		       g->submitted, g->site_sent, g->site_received);
	}
}

static void by_table(enum billing_by by, const struct bills *groups, const struct bill *total)
{
	char head[16];
	snprintf(head, sizeof head, "%s", by_words[by]);
	for (char *c = head; *c; c++)
		*c = (char)(*c - 'a' + 'A');
	printf("%-24s %8s %8s %10s %10s %14s %14s %12s %12s\n", head, "ATTEMPTS", "FRAMES", "CPU h", "WALL h",
	       "OUTPUT bytes", "SUBMITTED", "SITES OUT", "SITES IN");
	for (size_t i = 0; i <= groups->n; i++) {
		const struct bill *g = i < groups->n ? &groups->v[i] : total;
		printf("%-24s %8ld %8ld %10.4f %10.4f %14llu %14llu %12llu %12llu\n", i < groups->n ? g->key : "(total)",
		       g->attempts, g->frames, g->cpu / 3600, g->wall / 3600, g->bytes, g->submitted, g->site_sent,
		       g->site_received);
	}
}

static int bill_cmp(const void *a, const void *b) { return strcmp(((const struct bill *)a)->key, ((const struct bill *)b)->key); }

int cmd_billing(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		die(EXIT_BADINPUT, "usage: hotfarm billing [--by owner|job|pool|site] [--owner X] [--since DATE] [--csv]");
	const char *owner = cli_option(cli, "--owner"), *since = cli_option(cli, "--since"), *by = cli_option(cli, "--by");
	int64_t since_us = since ? cli_since(since, false) : 0;
	struct job_bill jb = {.by = BY_NONE};
	for (int i = BY_OWNER; by && i <= BY_SITE; i++)
		if (!strcmp(by, by_words[i]))
			jb.by = (enum billing_by)i;
	if (by && jb.by == BY_NONE) {
		char shown[100];
		cli_shown(by, shown, sizeof shown);
		die(EXIT_BADINPUT, "--by takes owner, job, pool or site, not '%s'", shown);
	}
	struct strlist ids = {0};
	job_ids_all(&cli->sp, &ids);
	struct bills groups = {0}, jobs = {0};
	struct bill total = {0};
	jb.groups = &groups, jb.jobs = &jobs, jb.total = &total;
	for (size_t i = 0; i < ids.n; i++)
		billing_add_job(&cli->sp, ids.v[i], owner, since_us, &jb);
	strlist_free(&ids);
	if (jb.by != BY_NONE && groups.n)
		qsort(groups.v, groups.n, sizeof *groups.v, bill_cmp);
	bool csv = cli_option(cli, "--csv") != NULL;
	if (jb.by == BY_NONE)
		cli->json ? billing_json(&groups, &jobs) : csv ? billing_csv(&groups, &jobs) : billing_table(&groups, &jobs);
	else
		cli->json ? by_json(jb.by, &groups, &total) : csv ? by_csv(jb.by, &groups, &total)
							  : by_table(jb.by, &groups, &total);
	free(groups.v);
	free(jobs.v);
	return EXIT_OK;
}
