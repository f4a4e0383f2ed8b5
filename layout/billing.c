/* billing.c - what a job cost: billing.ini summed from every attempt's line at any end (done, failed,
 * cancelled), its sizes (sizes.ini: the archive submitted, the packages sent to and received from sites) and
 * each linked site's bytes on the wire (sites/PEER/traffic). A peer's tickets and files are parsed warily. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"
#include "site.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- sizes.ini --------------------------------------------------------------------- */

/* A byte count as one of our files holds it; anything else is 0. */
static unsigned long long bytes_value(const struct ini *ini, const char *section, const char *key)
{
	const char *v = ini ? ini_get(ini, section, key) : NULL;
	if (!v || *v < '0' || *v > '9')
		return 0;
	unsigned long long n = strtoull(v, NULL, 10);
	return n > BILL_TOTAL_MAX ? BILL_TOTAL_MAX : n;
}

static unsigned long long bytes_sum(unsigned long long a, unsigned long long b)
{
	return a + b > BILL_TOTAL_MAX || a + b < a ? BILL_TOTAL_MAX : a + b;
}

int job_sizes_read(int jobfd, struct job_sizes *z)
{
	memset(z, 0, sizeof *z);
	char err[256];
	struct ini *ini = job_file_ini(jobfd, JOB_FILE_SIZES, err, sizeof err);
	if (!ini)
		return -1;
	z->submitted = bytes_value(ini, "sizes", "submitted_bytes");
	z->site_sent = bytes_value(ini, "sizes", "site_sent_bytes");
	z->site_received = bytes_value(ini, "sizes", "site_received_bytes");
	z->shared = bytes_value(ini, "sizes", "shared_bytes");
	ini_free(ini);
	return 0;
}

int job_sizes_add(int jobfd, const struct job_sizes *add)
{
	/* read, add, replace: under a lock of its own (a job's sender and its
	 * collector may add at once; the status lock may be held around it) */
	int lock = lock_open(jobfd, "sizes.lock", 10000);
	struct job_sizes z;
	job_sizes_read(jobfd, &z);
	z.submitted = bytes_sum(z.submitted, add->submitted);
	z.site_sent = bytes_sum(z.site_sent, add->site_sent);
	z.site_received = bytes_sum(z.site_received, add->site_received);
	z.shared = bytes_sum(z.shared, add->shared);
	struct buf b = {0};
	buf_printf(&b,
		   "# the job's sizes: the archive as submitted, the packages sent to and received from other sites,\n"
		   "# and the bytes of its files that it shares with other jobs on this site (one copy in store/)\n"
		   "[sizes]\nsubmitted_bytes = %llu\nsite_sent_bytes = %llu\nsite_received_bytes = %llu\nshared_bytes = %llu\n",
		   z.submitted, z.site_sent, z.site_received, z.shared);
	int rc = job_file_write(jobfd, JOB_FILE_SIZES, b.data, b.len);
	int e = errno;
	buf_free(&b);
	if (lock >= 0)
		close(lock);
	errno = e;
	return rc;
}

/* ---- billing.ini ---------------------------------------------------------------------- */

void job_bill_site(const struct spool *sp, int jobfd, char *out, size_t outsize)
{
	snprintf(out, outsize, "%s", sp->conf.name);
	char err[256];
	struct ini *o = job_file_ini(jobfd, JOB_FILE_OUTSOURCED, err, sizeof err);
	const char *peer = o ? ini_get(o, "outsourced", "site") : NULL;
	if (peer && name_is_valid(peer) && strlen(peer) <= SITE_NAME_MAX)
		snprintf(out, outsize, "%s", peer);
	ini_free(o);
}

int billing_write(const struct spool *sp, int jobfd, struct billing *b)
{
	/* one writer at a time: the last to write has seen the last line */
	int lock = lock_open(jobfd, "billing.lock", 10000);
	billing_sum(jobfd, b);
	struct job_sizes z;
	job_sizes_read(jobfd, &z);
	struct job_status st;
	if (job_status_read(jobfd, &st) < 0)
		memset(&st, 0, sizeof st);
	char site[SITE_NAME_MAX + 1], owner[300], label[300], q1[700], q2[700];
	job_bill_site(sp, jobfd, site, sizeof site);
	text_escape(st.owner, owner, sizeof owner);
	text_escape(st.owner_label, label, sizeof label);
	struct buf t = {0};
	buf_printf(&t, "# written when the job ended: what rendering it cost, summed over every attempt\n[billing]\n");
	buf_printf(&t, "frames = %ld\nattempts = %ld\nwall_seconds = %.3f\ncpu_user_seconds = %.3f\n"
		       "cpu_system_seconds = %.3f\npeak_rss_kb = %ld\noutput_bytes = %llu\nhosts = ",
		   b->frames, b->attempts, b->wall, b->user, b->sys, b->max_rss_kb, b->bytes);
	for (size_t i = 0; i < b->hosts.n; i++)
		buf_printf(&t, "%s%s", i ? "," : "", b->hosts.v[i]);
	buf_printf(&t, "\nsubmitted_bytes = %llu\nsite_sent_bytes = %llu\nsite_received_bytes = %llu\nsite = %s\n",
		   z.submitted, z.site_sent, z.site_received, site);
	buf_printf(&t, "owner = %s\n", ini_quote(owner, q1, sizeof q1));
	if (!strncmp(st.owner, "site:", 5))
		buf_printf(&t, "reported_owner = %s\n", ini_quote(label, q2, sizeof q2));
	int rc = job_file_write(jobfd, JOB_FILE_BILLING, t.data, t.len);
	int e = errno;
	buf_free(&t);
	job_status_free(&st);
	if (lock >= 0)
		close(lock);
	errno = e;
	return rc;
}

int job_bill(const struct spool *sp, const char *id)
{
	int jfd = job_dir_open(sp, id);
	if (jfd < 0)
		return -1;
	struct billing b = {0};
	int rc = billing_write(sp, jfd, &b);
	strlist_free(&b.hosts);
	strlist_free(&b.reasons);
	close(jfd);
	return rc;
}

void job_ids_all(const struct spool *sp, struct strlist *out)
{
	struct strlist names = {0}, peers = {0};
	dir_names(spool_fd(sp, DIR_JOBS), ".", &names);
	strlist_sort(&names);
	for (size_t i = 0; i < names.n; i++)
		if (name_is_valid(names.v[i]))
			strlist_add(out, names.v[i]);
	strlist_free(&names);
	dir_names(spool_fd(sp, DIR_SITES), ".", &peers);
	strlist_sort(&peers);
	for (size_t p = 0; p < peers.n; p++) {
		char rel[SITE_NAME_MAX + 32];
		if (!name_is_valid(peers.v[p]) || strlen(peers.v[p]) > SITE_NAME_MAX)
			continue;
		/* listed, not made: a site that never sent a job has no jobs/ */
		site_dir_relpath(peers.v[p], SITE_JOBS, rel, sizeof rel);
		struct strlist jobs = {0};
		dir_names(sp->root, rel, &jobs);
		strlist_sort(&jobs);
		for (size_t i = 0; i < jobs.n; i++) {
			char id[JOBID_MAX_LEN + 2];
			snprintf(id, sizeof id, "%s@%s", jobs.v[i], peers.v[p]);
			if (name_is_valid(jobs.v[i]) && job_id_valid(id))
				strlist_add(out, id);
		}
		strlist_free(&jobs);
	}
	strlist_free(&peers);
}

/* ---- sites/PEER/traffic ------------------------------------------------------------------ */

static int traffic_dir(const struct spool *sp, const char *peer)
{
	if (!name_is_valid(peer) || strlen(peer) > SITE_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	return site_dir_open(sp, peer, SITE_TOP);
}

static int traffic_load(int dfd, unsigned long long *sent, unsigned long long *received)
{
	char err[256];
	struct ini *ini = ini_load(dfd, SITE_TRAFFIC, SITE_TRAFFIC, err, sizeof err);
	*sent = bytes_value(ini, "traffic", "sent_bytes");
	*received = bytes_value(ini, "traffic", "received_bytes");
	if (!ini)
		return -1;
	ini_free(ini);
	return 0;
}

int site_traffic_read(const struct spool *sp, const char *peer, unsigned long long *sent, unsigned long long *received)
{
	*sent = *received = 0;
	int dfd = traffic_dir(sp, peer);
	if (dfd < 0)
		return -1;
	int rc = traffic_load(dfd, sent, received);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int site_traffic_add(const struct spool *sp, const char *peer, unsigned long long sent, unsigned long long received)
{
	int dfd = traffic_dir(sp, peer);
	if (dfd < 0)
		return -1;
	/* a push to PEER and a session PEER pushes here may end at once */
	int lock = lock_open(dfd, SITE_TRAFFIC_LOCK, 10000);
	unsigned long long s, r;
	traffic_load(dfd, &s, &r);
	struct buf b = {0};
	buf_printf(&b, "# bytes on the wire with site %s, both ways, since counting began (hf-sync)\n"
		       "[traffic]\nsent_bytes = %llu\nreceived_bytes = %llu\n",
		   peer, bytes_sum(s, sent), bytes_sum(r, received));
	int rc = file_write_atomic(dfd, SITE_TRAFFIC, b.data, b.len, 0644);
	int e = errno;
	buf_free(&b);
	if (lock >= 0)
		close(lock);
	close(dfd);
	errno = e;
	return rc;
}
