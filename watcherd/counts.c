/* counts.c - the farm pass's ticket counts, kept from one pass to the next
 * in run/farm.counts: a job whose ticket folders have not changed is not
 * listed again, and a job of very many tickets at most every few passes. */
#define _GNU_SOURCE
#include "../layout/host.h"
#include "../layout/layout.h"
#include "farm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Listing a folder of a million tickets takes a tenth of a second: a job
 * of more than this many is counted again at most every (its tickets /
 * this) rescans while it changes (its status lags that much). */
#define COUNTS_BIG 100000
/* A folder changed this close before its count may change again within
 * its time stamp's grain (a second on some network filesystems). */
#define COUNTS_GRAIN_US 2000000LL

struct counted {
	char name[JOBID_MAX_LEN + 1];
	struct job_counts c;
	int64_t counted_us; /* when the count began */
	int64_t stamp;      /* the latest change time of its ticket folders then (ns) */
	bool used;          /* looked at in this pass: kept for the next */
};
static struct counted *kept; /* as the last pass left them, by name */
static size_t nkept;
static struct counted *fresh; /* counted for the first time in this pass */
static size_t nfresh, fresh_cap;
static int64_t rescan_us;
static int64_t pass_us; /* the pass's start by the spool's clock (its files' times) */

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct counted *)a)->name, ((const struct counted *)b)->name);
}

static struct counted *grow(struct counted **v, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		*v = xrealloc(*v, *cap * sizeof **v);
	}
	return &(*v)[(*n)++];
}

void counts_load(const struct spool *sp)
{
	rescan_us = sp->conf.rescan_ms * 1000LL;
	pass_us = server_now_us(sp);
	size_t cap = 0;
	size_t len;
	char *text = file_read_small(spool_fd(sp, DIR_RUN), spool_file_name(SPOOL_FILE_FARM_COUNTS), 64 << 20, &len);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		struct counted k = {0};
		char name[256];
		long long t, s;
		if (sscanf(line, "%255s %ld %ld %ld %ld %lld %lld", name, &k.c.todo, &k.c.active, &k.c.done,
			   &k.c.failed, &t, &s) != 7 ||
		    strlen(name) >= sizeof k.name || !job_id_valid(name) || k.c.todo < 0 || k.c.active < 0 ||
		    k.c.done < 0 || k.c.failed < 0)
			continue; /* not as written: counted again */
		memcpy(k.name, name, strlen(name) + 1);
		k.counted_us = t, k.stamp = s;
		*grow(&kept, &nkept, &cap) = k;
	}
	free(text);
	if (nkept)
		qsort(kept, nkept, sizeof *kept, by_name);
}

/* The latest change of JFD's ticket folders (ns), -1 when one is missing. */
static int64_t folders_stamp(int jfd)
{
	int64_t latest = 0;
	for (int s = 0; s < TICKET_COUNT; s++) {
		char path[32];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", job_dir_name(JOB_DIR_FRAMES), ticket_dir_name((enum ticket_state)s));
		if (fstatat(jfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -1;
		int64_t t = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if (t > latest)
			latest = t;
	}
	return latest;
}

int counts_get(int jfd, const char *name, struct job_counts *c)
{
	struct counted key = {0};
	snprintf(key.name, sizeof key.name, "%s", name);
	struct counted *k = nkept ? bsearch(&key, kept, nkept, sizeof *kept, by_name) : NULL;
	int64_t stamp = folders_stamp(jfd);
	if (k && stamp >= 0) {
		long total = k->c.todo + k->c.active + k->c.done + k->c.failed;
		bool still = stamp == k->stamp && stamp / 1000 < k->counted_us - COUNTS_GRAIN_US;
		bool big_recent = total > COUNTS_BIG && pass_us - k->counted_us < total / COUNTS_BIG * rescan_us;
		if (still || big_recent) {
			*c = k->c;
			k->used = true;
			return 0;
		}
	}
	if (job_counts(jfd, c) < 0)
		return -1;
	if (!k) {
		k = grow(&fresh, &nfresh, &fresh_cap);
		*k = key;
	}
	k->c = *c;
	k->counted_us = pass_us;
	k->stamp = stamp;
	k->used = true;
	return 0;
}

void counts_save(const struct spool *sp)
{
	struct buf b = {0};
	for (int pass = 0; pass < 2; pass++) {
		const struct counted *v = pass ? fresh : kept;
		for (size_t i = 0, n = pass ? nfresh : nkept; i < n; i++)
			if (v[i].used)
				buf_printf(&b, "%s %ld %ld %ld %ld %lld %lld\n", v[i].name, v[i].c.todo, v[i].c.active,
					   v[i].c.done, v[i].c.failed, (long long)v[i].counted_us, (long long)v[i].stamp);
	}
	/* written only when it changed: an idle farm writes nothing */
	size_t len;
	char *was = file_read_small(spool_fd(sp, DIR_RUN), spool_file_name(SPOOL_FILE_FARM_COUNTS), 64 << 20, &len);
	bool same = was && len == b.len && (!len || !memcmp(was, b.data, len));
	free(was);
	if (!same && file_write_atomic(spool_fd(sp, DIR_RUN), spool_file_name(SPOOL_FILE_FARM_COUNTS),
				       b.data ? b.data : "", b.len, 0644) < 0)
		warn("unable to write %s/%s: %s", spool_dir_name(DIR_RUN), spool_file_name(SPOOL_FILE_FARM_COUNTS),
		     strerror(errno));
	buf_free(&b);
	free(kept);
	free(fresh);
	kept = fresh = NULL;
	nkept = nfresh = fresh_cap = 0;
}
