/* metrics.c - status/metrics.prom: the farm's figures in the Prometheus
 * text format, written atomically by hf-status (at most once a second) for
 * node_exporter's textfile collector. Read from the spool tree alone. */
#define _GNU_SOURCE
#include "metrics.h"
#include "../layout/host.h"
#include "../layout/site.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A label value in Prometheus' text format: \ " and newlines escaped. */
static void label(struct buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(b, "\\%c", *v);
		else if (*v == '\n')
			buf_printf(b, "\\n");
		else
			buf_printf(b, "%c", *v);
	}
}

static const double wait_buckets[] = {1, 5, 15, 60, 300, 900, 3600, 14400};
#define NBUCKETS (sizeof wait_buckets / sizeof wait_buckets[0])

struct job_figures {
	long frames_done, frames_failed;
	long waited[NBUCKETS + 1]; /* queue wait of jobs that started, per bucket (+Inf last) */
	double wait_sum;
	long wait_count;
};

/* The jobs of state S: their frames and how long those that started waited. */
static long jobs_in(const struct spool *sp, enum job_state s, struct job_figures *f)
{
	struct strlist l = {0};
	state_list(sp, s, &l);
	for (size_t i = 0; i < l.n; i++) {
		char name[JOBID_MAX_LEN + 1];
		int jfd = entry_parse(l.v[i], NULL, NULL, name) ? job_dir_open(sp, name) : -1;
		if (jfd < 0)
			continue;
		/* status.ini alone: one read a job, every second, however many
		 * jobs the spool keeps */
		struct job_status st;
		if (job_status_read(jfd, &st) == 0) {
			f->frames_done += st.frames_done;
			f->frames_failed += st.frames_failed;
			if (st.started_us && st.submitted_us && st.started_us >= st.submitted_us) {
				double w = (double)(st.started_us - st.submitted_us) / 1e6;
				size_t k = 0;
				while (k < NBUCKETS && w > wait_buckets[k])
					k++;
				f->waited[k]++;
				f->wait_sum += w;
				f->wait_count++;
			}
			job_status_free(&st);
		}
		close(jfd);
	}
	long n = (long)l.n;
	strlist_free(&l);
	return n;
}

static void jobs_metrics(const struct spool *sp, struct buf *b)
{
	struct job_figures f = {0};
	buf_printf(b, "# HELP hotfarm_jobs Jobs by state (their entries in the state folders).\n"
		      "# TYPE hotfarm_jobs gauge\n");
	for (int s = 0; s < STATE_COUNT; s++)
		buf_printf(b, "hotfarm_jobs{state=\"%s\"} %ld\n", state_word((enum job_state)s),
			   jobs_in(sp, (enum job_state)s, &f));
	/* and those of the jobs housekeeping removed: a counter never falls */
	struct retired_counts gone;
	retired_read(sp, &gone);
	buf_printf(b, "# HELP hotfarm_frames_done_total Frames done, over the jobs the spool holds and those it removed.\n"
		      "# TYPE hotfarm_frames_done_total counter\nhotfarm_frames_done_total %ld\n",
		   f.frames_done + gone.frames_done);
	buf_printf(b, "# HELP hotfarm_frames_failed_total Frames failed, over the jobs the spool holds and those it removed.\n"
		      "# TYPE hotfarm_frames_failed_total counter\nhotfarm_frames_failed_total %ld\n",
		   f.frames_failed + gone.frames_failed);
	buf_printf(b, "# HELP hotfarm_queue_wait_seconds From a job's submission to its first render.\n"
		      "# TYPE hotfarm_queue_wait_seconds histogram\n");
	long cum = 0;
	for (size_t k = 0; k < NBUCKETS; k++) {
		cum += f.waited[k];
		buf_printf(b, "hotfarm_queue_wait_seconds_bucket{le=\"%g\"} %ld\n", wait_buckets[k], cum);
	}
	buf_printf(b, "hotfarm_queue_wait_seconds_bucket{le=\"+Inf\"} %ld\n", f.wait_count);
	buf_printf(b, "hotfarm_queue_wait_seconds_sum %.3f\nhotfarm_queue_wait_seconds_count %ld\n", f.wait_sum,
		   f.wait_count);
}

/* Each host's dispatch histogram (hosts/HOST/dispatch, its agent's since
 * it started: a counter that starts again with the agent). */
static void dispatch_metrics(struct buf *b, const char *host, int hfd)
{
	struct dispatch_hist d;
	if (hfd < 0 || host_dispatch_read(hfd, &d) < 0)
		return;
	long cum = 0;
	for (int k = 0; k <= DISPATCH_BUCKETS; k++) {
		cum += d.n[k];
		buf_printf(b, "hotfarm_dispatch_seconds_bucket{host=\"");
		label(b, host);
		if (k < DISPATCH_BUCKETS)
			buf_printf(b, "\",le=\"%g\"} %ld\n", dispatch_bounds[k], cum);
		else
			buf_printf(b, "\",le=\"+Inf\"} %ld\n", cum);
	}
	buf_printf(b, "hotfarm_dispatch_seconds_sum{host=\"");
	label(b, host);
	buf_printf(b, "\"} %.6f\nhotfarm_dispatch_seconds_count{host=\"", d.sum);
	label(b, host);
	buf_printf(b, "\"} %ld\n", d.count);
}

static void hosts_metrics(const struct spool *sp, struct buf *b)
{
	long count[8] = {0};
	struct buf slots = {0}, dispatch = {0};
	struct strlist names = {0};
	host_list(sp, &names);
	int64_t now = server_now_us(sp);
	for (size_t i = 0; i < names.n; i++) {
		struct host_record h;
		if (host_read(sp, names.v[i], &h) < 0)
			continue;
		const char *st = host_state(sp, &h, now);
		for (int k = 0; k < 8 && host_state_word(k); k++)
			if (!strcmp(st, host_state_word(k)))
				count[k]++;
		long busy = 0, idle = 0;
		int hfd = h.offline ? -1 : host_dir_open(sp, h.name, false);
		for (int k = 0; hfd >= 0 && k < 4096; k++) {
			struct slot_view v;
			if (slot_read(hfd, k, &v) < 0)
				break;
			!strcmp(v.state, "busy") ? busy++ : idle++;
		}
		dispatch_metrics(&dispatch, h.name, hfd);
		if (hfd >= 0)
			close(hfd);
		for (int k = 0; k < 2; k++) {
			buf_printf(&slots, "hotfarm_slots{host=\"");
			label(&slots, h.name);
			buf_printf(&slots, "\",state=\"%s\"} %ld\n", k ? "idle" : "busy", k ? idle : busy);
		}
		host_free(&h);
	}
	strlist_free(&names);
	buf_printf(b, "# HELP hotfarm_hosts Render hosts by state.\n# TYPE hotfarm_hosts gauge\n");
	for (int k = 0; k < 8 && host_state_word(k); k++)
		buf_printf(b, "hotfarm_hosts{state=\"%s\"} %ld\n", host_state_word(k), count[k]);
	buf_printf(b, "# HELP hotfarm_slots Render slots of each host, busy or idle.\n# TYPE hotfarm_slots gauge\n");
	if (slots.data)
		buf_add(b, slots.data, slots.len);
	buf_free(&slots);
	buf_printf(b, "# HELP hotfarm_dispatch_seconds From work and a free slot both there to the render's start, "
		      "per host (since its agent started).\n# TYPE hotfarm_dispatch_seconds histogram\n");
	if (dispatch.data)
		buf_add(b, dispatch.data, dispatch.len);
	buf_free(&dispatch);
}

/* rejected/ by the kind of problem its reason.txt names. */
static void rejected_metrics(const struct spool *sp, struct buf *b)
{
	static const char *const kinds[] = {"file", "incomplete", "archive", "disk", "owner", "route", "description",
					    "other"};
	enum { NKINDS = sizeof kinds / sizeof *kinds };
	long n[NKINDS] = {0};
	struct strlist rejected = {0};
	dir_names(spool_fd(sp, DIR_REJECTED), ".", &rejected);
	for (size_t i = 0; i < rejected.n; i++) {
		char kind[32];
		rejected_kind(sp, rejected.v[i], kind, sizeof kind);
		size_t k = 0;
		while (k + 1 < NKINDS && strcmp(kinds[k], kind))
			k++;
		n[k]++;
	}
	buf_printf(b, "# HELP hotfarm_rejected Drops in rejected/, each with its reason.\n"
		      "# TYPE hotfarm_rejected gauge\nhotfarm_rejected %zu\n",
		   rejected.n);
	buf_printf(b, "# HELP hotfarm_rejected_by_kind Drops in rejected/ by the kind of problem "
		      "(reason.txt).\n# TYPE hotfarm_rejected_by_kind gauge\n");
	for (size_t k = 0; k < NKINDS; k++)
		buf_printf(b, "hotfarm_rejected_by_kind{kind=\"%s\"} %ld\n", kinds[k], n[k]);
	strlist_free(&rejected);
}

/* Bytes on the wire with each linked site, both ways (sites/PEER/traffic,
 * kept by hf-sync). */
static void sites_metrics(const struct spool *sp, struct buf *b)
{
	buf_printf(b, "# HELP hotfarm_site_bytes_total Bytes on the wire with each linked site.\n"
		      "# TYPE hotfarm_site_bytes_total counter\n");
	for (int p = 0; p < sp->conf.nlinks; p++) {
		unsigned long long sent = 0, received = 0;
		site_traffic_read(sp, sp->conf.links[p].name, &sent, &received);
		for (int k = 0; k < 2; k++) {
			buf_printf(b, "hotfarm_site_bytes_total{site=\"");
			label(b, sp->conf.links[p].name);
			buf_printf(b, "\",direction=\"%s\"} %llu\n", k ? "received" : "sent", k ? received : sent);
		}
	}
}

void metrics_write(const struct spool *sp)
{
	struct buf b = {0};
	buf_printf(&b, "# hotfarm site %s, written by hf-status\n", sp->conf.name);
	jobs_metrics(sp, &b);
	hosts_metrics(sp, &b);
	rejected_metrics(sp, &b);
	sites_metrics(sp, &b);
	buf_printf(&b, "# HELP hotfarm_metrics_time_seconds When these figures were taken.\n"
		       "# TYPE hotfarm_metrics_time_seconds gauge\nhotfarm_metrics_time_seconds %lld\n",
		   (long long)(now_us() / 1000000));
	bool sync = sync_writes;
	sync_writes = false; /* rewritten every second, as the pages */
	if (file_write_atomic(spool_fd(sp, DIR_STATUS), spool_file_name(SPOOL_FILE_METRICS), b.data, b.len, 0644) < 0)
		warn("unable to write %s/%s: %s", spool_dir_name(DIR_STATUS), spool_file_name(SPOOL_FILE_METRICS),
		     strerror(errno));
	sync_writes = sync;
	buf_free(&b);
}
