/* host.c - read host records and match jobs against them. A record is
 * written by an agent of this farm, but the spool is shared: names and
 * values are checked, and a malformed record matches nothing. */
#define _GNU_SOURCE
#include "host.h"
#include "ini.h"
#include "layout.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* hosts/HOST/nimby (DFD: hosts/HOST), when there is one, into H; one
 * that does not read as written is taken for a user who is not away. */
static void host_nimby_read(int dfd, struct host_record *h)
{
	struct stat st;
	if (fstatat(dfd, "nimby", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return;
	h->nimby = true;
	h->nimby_idle_s = 0;
	h->nimby_at_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	char err[256];
	struct ini *ini = ini_load(dfd, "nimby", "nimby", err, sizeof err);
	const char *user = ini ? ini_get(ini, "nimby", "user") : NULL;
	const char *idle = ini ? ini_get(ini, "nimby", "idle") : NULL;
	const char *wait = ini ? ini_get(ini, "nimby", "wait") : NULL;
	h->nimby_away = user && !strcmp(user, "away");
	if (!idle || !parse_long(idle, -1, 1L << 40, &h->nimby_idle_s))
		h->nimby_idle_s = 0;
	if (!wait || !parse_long(wait, 0, 1L << 40, &h->nimby_wait_s))
		h->nimby_wait_s = 0;
	ini_free(ini);
}

int host_read(const struct spool *sp, const char *name, struct host_record *h)
{
	memset(h, 0, sizeof *h);
	if (!name_is_valid(name) || strlen(name) >= sizeof h->name)
		return -1;
	snprintf(h->name, sizeof h->name, "%s", name);
	int dfd = openat(spool_fd(sp, DIR_HOSTS), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	char err[512];
	struct ini *ini = ini_load(dfd, "host.ini", "host.ini", err, sizeof err);
	struct stat st;
	if (fstatat(dfd, "heartbeat", &st, AT_SYMLINK_NOFOLLOW) == 0)
		h->heartbeat_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	h->lost = host_marked(dfd, HOST_LOST);
	h->offline = h->heartbeat_us == 0;
	host_pools_read(dfd, &h->pools);
	host_nimby_read(dfd, h);
	close(dfd);
	if (!ini)
		return -1;
	const char **keys;
	size_t n = ini_keys(ini, "host", &keys);
	for (size_t i = 0; i < n; i++) {
		strlist_add(&h->keys, keys[i]);
		strlist_add(&h->values, ini_get(ini, "host", keys[i]));
	}
	n = ini_keys(ini, "packages", &keys);
	for (size_t i = 0; i < n; i++) {
		strlist_add(&h->packages, keys[i]);
		strlist_add(&h->versions, ini_get(ini, "packages", keys[i]));
	}
	ini_free(ini);
	return 0;
}

void host_free(struct host_record *h)
{
	strlist_free(&h->keys);
	strlist_free(&h->values);
	strlist_free(&h->packages);
	strlist_free(&h->versions);
	strlist_free(&h->pools);
}

const char *host_get(const struct host_record *h, const char *key)
{
	for (size_t i = 0; i < h->keys.n; i++)
		if (!strcmp(h->keys.v[i], key))
			return h->values.v[i];
	return NULL;
}

const char *host_package_version(const struct host_record *h, const char *package)
{
	for (size_t i = 0; i < h->packages.n; i++)
		if (!strcmp(h->packages.v[i], package))
			return h->versions.v[i];
	return NULL;
}

static long host_number(const struct host_record *h, const char *key)
{
	const char *v = host_get(h, key);
	long x;
	return v && parse_long(v, 0, 1L << 50, &x) ? x : -1;
}

bool host_matches(const struct host_record *h, const struct job_desc *jd, char *why, size_t whysize)
{
	const char *version = host_package_version(h, jd->package);
	const char *want_version = "*";
	for (size_t i = 0; i < jd->nreq; i++)
		if (!strcmp(jd->req[i].key, "version"))
			want_version = jd->req[i].pattern;
	if (!version || fnmatch(want_version, version, 0) != 0) {
		if (strcmp(want_version, "*"))
			snprintf(why, whysize, "package %s %s", jd->package, want_version);
		else
			snprintf(why, whysize, "package %s", jd->package);
		return false;
	}
	for (size_t i = 0; i < jd->nreq; i++) {
		const char *key = jd->req[i].key, *pat = jd->req[i].pattern;
		if (!strcmp(key, "version"))
			continue;
		/* "package = blender" names a package the host must also have */
		const char *v = host_get(h, key);
		if (!v && !strcmp(key, "package"))
			v = host_package_version(h, pat) ? pat : NULL;
		if (!v) {
			const char *pv = host_package_version(h, key);
			if (pv) { /* "blender = 4.*": a second package and its version */
				if (fnmatch(pat, pv, 0) == 0)
					continue;
				snprintf(why, whysize, "package %s %s", key, pat);
				return false;
			}
		}
		/* a host without a GPU records gpu = none: "gpu = *" asks for any GPU */
		bool no_gpu = v && !strcmp(key, "gpu") && !strcmp(v, "none") && strcmp(pat, "none");
		if (!v || no_gpu || fnmatch(pat, v, 0) != 0) {
			if (no_gpu)
				snprintf(why, whysize, "a GPU (gpu = %s)", pat);
			else
				snprintf(why, whysize, "%s = %s", key, pat);
			return false;
		}
	}
	if (!host_in_pool(h, &jd->pools)) {
		char list[200] = "";
		for (size_t i = 0; i < jd->pools.n; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " or " : "", jd->pools.v[i]);
		snprintf(why, whysize, "pool %s", list);
		return false;
	}
	if (jd->min_ram_mb && host_number(h, "ram_mb") < jd->min_ram_mb) {
		snprintf(why, whysize, "ram_mb >= %ld", jd->min_ram_mb);
		return false;
	}
	if (jd->min_cpus && host_number(h, "cpus") < jd->min_cpus) {
		snprintf(why, whysize, "cpus >= %ld", jd->min_cpus);
		return false;
	}
	return true;
}

bool host_in_pool(const struct host_record *h, const struct strlist *patterns)
{
	if (!patterns->n)
		return true;
	for (size_t i = 0; i < patterns->n; i++)
		for (size_t k = 0; k < h->pools.n; k++)
			if (fnmatch(patterns->v[i], h->pools.v[k], 0) == 0)
				return true;
	return false;
}

int host_list(const struct spool *sp, struct strlist *out)
{
	DIR *d = dir_open(spool_fd(sp, DIR_HOSTS), ".");
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (name_is_valid(e->d_name))
			strlist_add(out, e->d_name);
	closedir(d);
	strlist_sort(out);
	return 0;
}

int64_t server_now_us(const struct spool *sp)
{
	/* utimensat(UTIME_NOW) lets the file server set the time: on NFS it
	 * is the server's clock, the one every host's heartbeat is in. */
	int fd = spool_fd(sp, DIR_RUN);
	int f = openat(fd, "clock", O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (f >= 0)
		close(f);
	struct timespec now[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_NOW}};
	struct stat st;
	if (utimensat(fd, "clock", now, 0) < 0 || fstatat(fd, "clock", &st, 0) < 0)
		return now_us();
	return (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
}

static bool owned_by(const char *name, const char *host)
{
	const char *at = strchr(name, '@');
	size_t hl = strlen(host);
	return at && !strncmp(at + 1, host, hl) && at[1 + hl] == '.';
}

/* The names in folder PATH below DIRFD that HOST holds. */
static void held_in(int dirfd, const char *path, const char *host, struct strlist *out)
{
	DIR *d = dir_open(dirfd, path);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (owned_by(e->d_name, host))
			strlist_add(out, e->d_name);
	if (d)
		closedir(d);
}

int host_release(const struct spool *sp, const char *host)
{
	int n = 0;
	enum job_state states[] = {STATE_QUEUED, STATE_HELD, STATE_CANCELLED};
	for (size_t k = 0; k < 3; k++) {
		struct strlist l = {0};
		state_list(sp, states[k], &l);
		for (size_t i = 0; i < l.n; i++) {
			char name[JOBID_MAX_LEN + 1];
			entry_parse(l.v[i], NULL, NULL, name);
			int jfd = job_dir_open(sp, name);
			if (jfd < 0)
				continue;
			struct strlist mine = {0};
			held_in(jfd, "frames/active", host, &mine);
			for (size_t m = 0; m < mine.n; m++)
				if (ticket_return(jfd, mine.v[m]) == 0)
					n++;
			strlist_free(&mine);
			layout_clear_temp(jfd, host);
			close(jfd);
		}
		strlist_free(&l);
	}
	struct strlist limits = {0};
	DIR *ld = dir_open(spool_fd(sp, DIR_LIMITS), ".");
	struct dirent *e;
	while (ld && (e = readdir(ld)))
		if (name_is_valid(e->d_name))
			strlist_add(&limits, e->d_name);
	if (ld)
		closedir(ld);
	for (size_t i = 0; i < limits.n; i++) {
		struct strlist mine = {0};
		held_in(spool_fd(sp, DIR_LIMITS), limits.v[i], host, &mine);
		for (size_t m = 0; m < mine.n; m++)
			if (limit_give(sp, limits.v[i], mine.v[m]) == 0)
				n++;
		strlist_free(&mine);
	}
	strlist_free(&limits);
	return n;
}

/* slot.N or kill.N */
static void host_slot_name(int index, char out[32], const char *kind)
{
	snprintf(out, 32, "%s.%d", kind, index);
}

int slot_read(int hostfd, int index, struct slot_view *v)
{
	memset(v, 0, sizeof *v);
	char name[32], err[256];
	host_slot_name(index, name, "slot");
	struct ini *ini = ini_load(hostfd, name, name, err, sizeof err);
	if (!ini)
		return -1;
	const char *keys[] = {"state", "job", "ticket", "frame", "attempt", "since", "pid"};
	char *outs[] = {v->state, v->job, v->ticket, v->frame, v->attempt, v->since, v->pid};
	size_t sizes[] = {sizeof v->state, sizeof v->job, sizeof v->ticket, sizeof v->frame,
			  sizeof v->attempt, sizeof v->since, sizeof v->pid};
	for (int i = 0; i < 7; i++) {
		const char *x = ini_get(ini, "slot", keys[i]);
		text_escape(x ? x : "", outs[i], sizes[i]);
	}
	ini_free(ini);
	return 0;
}

static const char *const host_states[] = {"up", "draining", "silent", "lost", "offline", NULL};

const char *host_state_word(int i)
{
	return i >= 0 && i < (int)(sizeof host_states / sizeof *host_states) ? host_states[i] : NULL;
}

const char *host_state(const struct spool *sp, const struct host_record *h, int64_t server_now)
{
	if (h->offline)
		return host_states[4];
	if (h->lost)
		return host_states[3];
	if (server_now - h->heartbeat_us > sp->conf.host_timeout * 1000000LL)
		return host_states[2];
	int hfd = host_dir_open(sp, h->name, false);
	bool draining = hfd >= 0 && host_marked(hfd, HOST_DRAIN);
	if (hfd >= 0)
		close(hfd);
	return draining ? host_states[1] : host_states[0];
}

/* S seconds as a person reads them: "40 s", "12 min", "3 h". */
static void host_duration(long s, char *out, size_t outsize)
{
	if (s < 60)
		snprintf(out, outsize, "%ld s", s < 0 ? 0 : s);
	else if (s < 2 * 3600)
		snprintf(out, outsize, "%ld min", s / 60);
	else
		snprintf(out, outsize, "%ld h", s / 3600);
}

void host_nimby_text(const struct host_record *h, int64_t server_now, long busy, char *out, size_t outsize)
{
	*out = 0;
	if (!h->nimby)
		return;
	char idle[32], wait[32];
	/* the agent rewrites the file as the user's idle time strays from
	 * this by more than half a minute */
	long since = server_now > h->nimby_at_us ? (long)((server_now - h->nimby_at_us) / 1000000) : 0;
	host_duration(h->nimby_idle_s + since, idle, sizeof idle);
	host_duration(h->nimby_wait_s, wait, sizeof wait);
	const char *doing = busy ? "rendering" : "nothing to render";
	if (h->nimby_away && h->nimby_idle_s < 0)
		snprintf(out, outsize, "nimby: no user seen, %s", doing);
	else if (h->nimby_away)
		snprintf(out, outsize, "nimby: idle %s, %s", idle, doing);
	else if (h->nimby_idle_s + since < 60)
		snprintf(out, outsize, "nimby: user active");
	else
		snprintf(out, outsize, "nimby: user idle %s, renders after %s", idle, wait);
}

void host_nimby_format(bool away, long idle_s, long wait_s, char *out, size_t outsize)
{
	snprintf(out, outsize, "[nimby]\nuser = %s\nidle = %ld\nwait = %ld\n", away ? "away" : "present", idle_s, wait_s);
}

long slots_want(long cpus, double util, long avail_kb, long peak_kb, long running, long max)
{
	if (cpus < 1)
		cpus = 1;
	if (util < 0.05)
		util = 0.05; /* a render that seems to use nothing: 20 per CPU at most */
	/* a CPU-bound render measures a little over one CPU (clock ticks,
	 * its start-up): a fifth of a slot's slack before one is taken off */
	long want = (long)((double)cpus / util + 0.2);
	if (peak_kb > 0 && avail_kb > 0) {
		long ram = running + (long)(0.8 * (double)avail_kb / (double)peak_kb);
		if (want > ram)
			want = ram;
	}
	if (want > max)
		want = max;
	return want < 1 ? 1 : want;
}

static const char *const host_markers[] = {"drain", "lost", "nimby"};
#define HOST_POOLS_FILE "pools"
#define POOLS_MAX 32

int host_dir_open(const struct spool *sp, const char *host, bool make)
{
	if (!name_is_valid(host)) {
		errno = EINVAL;
		return -1;
	}
	return dir_walk(spool_fd(sp, DIR_HOSTS), host, make);
}

int host_mark(int hostfd, enum host_marker m, const char *text)
{
	return file_write_atomic(hostfd, host_markers[m], text, strlen(text), 0644);
}

bool host_marked(int hostfd, enum host_marker m)
{
	return faccessat(hostfd, host_markers[m], F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int host_unmark(int hostfd, enum host_marker m)
{
	return unlinkat(hostfd, host_markers[m], 0) < 0 && errno != ENOENT ? -1 : 0;
}

int host_heartbeat(int hostfd)
{
	struct timespec now[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_NOW}};
	if (utimensat(hostfd, "heartbeat", now, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	int fd = openat(hostfd, "heartbeat", O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	return close(fd);
}

int host_record_write(int hostfd, const char *text, size_t len)
{
	return file_write_atomic(hostfd, "host.ini", text, len, 0644);
}

int host_versions_write(int hostfd, const char *text, size_t len)
{
	return file_write_atomic(hostfd, "versions", text, len, 0644);
}

char *host_versions_read(int hostfd)
{
	size_t len;
	return file_read_small(hostfd, "versions", 65536, &len);
}

int host_lock_open(int hostfd)
{
	return openat(hostfd, "agent.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
}

int host_slot_write(int hostfd, int index, const char *text, size_t len)
{
	char name[32];
	host_slot_name(index, name, "slot");
	return file_write_atomic(hostfd, name, text, len, 0644);
}

int host_slot_remove(int hostfd, int index)
{
	char name[32];
	host_slot_name(index, name, "slot");
	return unlinkat(hostfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
}

int host_kill_request(const struct spool *sp, const char *host, int index, const char *text)
{
	int hfd = host_dir_open(sp, host, false);
	if (hfd < 0)
		return -1;
	char name[32];
	host_slot_name(index, name, "kill");
	int rc = file_write_atomic(hfd, name, text, strlen(text), 0644);
	close(hfd);
	return rc;
}

bool host_kill_take(int hostfd, int index)
{
	char name[32];
	host_slot_name(index, name, "kill");
	return unlinkat(hostfd, name, 0) == 0;
}

void host_clear(int hostfd, int nslots)
{
	for (int i = 0; i < nslots; i++) {
		host_slot_remove(hostfd, i);
		host_kill_take(hostfd, i);
	}
	unlinkat(hostfd, "versions", 0);
	unlinkat(hostfd, "dispatch", 0);
	unlinkat(hostfd, "heartbeat", 0);
	host_unmark(hostfd, HOST_NIMBY);
	unlinkat(hostfd, "agent.lock", 0);
	host_unmark(hostfd, HOST_LOST); /* stopped, not lost: nothing of it runs */
}

/* 1 to 64 letters, digits and MORE, not beginning with '-' or '.'. */
static bool pool_word(const char *s, const char *more)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64 || *s == '-' || *s == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(more, *s))
			return false;
	return true;
}

bool pool_name_valid(const char *s) { return pool_word(s, "._-"); }

bool pool_pattern_valid(const char *s) { return pool_word(s, "._-*?[]!"); }

int host_pools_read(int hostfd, struct strlist *out)
{
	size_t len;
	char *text = file_read_small(hostfd, HOST_POOLS_FILE, 4096, &len);
	if (!text)
		return errno == ENOENT ? 0 : -1;
	/* written by hotfarm pool; a label that does not read is skipped */
	char *save = NULL;
	size_t n = 0;
	for (char *t = strtok_r(text, " \t\n", &save); t && n < POOLS_MAX; t = strtok_r(NULL, " \t\n", &save))
		if (pool_name_valid(t) && !strlist_has(out, t)) {
			strlist_add(out, t);
			n++;
		}
	free(text);
	return 0;
}

int host_pools_write(int hostfd, const struct strlist *pools)
{
	if (!pools->n)
		return unlinkat(hostfd, HOST_POOLS_FILE, 0) < 0 && errno != ENOENT ? -1 : 0;
	if (pools->n > POOLS_MAX) {
		errno = E2BIG;
		return -1;
	}
	struct buf b = {0};
	for (size_t i = 0; i < pools->n; i++)
		buf_printf(&b, "%s\n", pools->v[i]);
	int rc = file_write_atomic(hostfd, HOST_POOLS_FILE, b.data, b.len, 0644);
	buf_free(&b);
	return rc;
}

int host_forget(const struct spool *sp, const char *host)
{
	if (!name_is_valid(host)) {
		errno = EINVAL;
		return -1;
	}
	return tree_remove(spool_fd(sp, DIR_HOSTS), host);
}

int job_block_host(int jobfd, const char *host, const char *text)
{
	int bfd = dir_walk(jobfd, "blocked", true);
	if (bfd < 0)
		return -1;
	int rc = file_write_atomic(bfd, host, text, strlen(text), 0644);
	close(bfd);
	return rc;
}

int job_blocked_hosts(int jobfd, struct strlist *out)
{
	return dir_names(jobfd, "blocked", out);
}

int job_unblock_host(int jobfd, const char *host)
{
	int bfd = dir_walk(jobfd, "blocked", false);
	if (bfd < 0)
		return errno == ENOENT ? 0 : -1;
	int rc = unlinkat(bfd, host, 0) < 0 && errno != ENOENT ? -1 : 0;
	close(bfd);
	return rc;
}

bool job_host_blocked(int jobfd, const char *host)
{
	char path[128];
	snprintf(path, sizeof path, "blocked/%s", host);
	return faccessat(jobfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

const double dispatch_bounds[DISPATCH_BUCKETS] = {0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

void dispatch_add(struct dispatch_hist *d, double seconds)
{
	if (!(seconds >= 0))
		seconds = 0;
	int k = 0;
	while (k < DISPATCH_BUCKETS && seconds > dispatch_bounds[k])
		k++;
	d->n[k]++;
	d->count++;
	d->sum += seconds;
}

int host_dispatch_write(int hostfd, const struct dispatch_hist *d)
{
	struct buf b = {0};
	buf_printf(&b, "# dispatch latency since the agent started: count, sum (s), then per bucket\n%ld %.6f", d->count,
		   d->sum);
	for (int k = 0; k <= DISPATCH_BUCKETS; k++)
		buf_printf(&b, " %ld", d->n[k]);
	buf_printf(&b, "\n");
	int rc = file_write_atomic(hostfd, "dispatch", b.data, b.len, 0644);
	buf_free(&b);
	return rc;
}

int host_dispatch_read(int hostfd, struct dispatch_hist *d)
{
	size_t len;
	char *t = file_read_small(hostfd, "dispatch", 4096, &len);
	memset(d, 0, sizeof *d);
	char *p = t ? strchr(t, '\n') : NULL;
	int rc = -1;
	if (p && sscanf(p + 1, "%ld %lf", &d->count, &d->sum) == 2 && d->count >= 0 && d->sum >= 0) {
		char *q = p + 1;
		long total = 0;
		rc = 0;
		strtol(q, &q, 10);
		strtod(q, &q);
		for (int k = 0; k <= DISPATCH_BUCKETS && rc == 0; k++) {
			char *e;
			d->n[k] = strtol(q, &e, 10);
			if (e == q || d->n[k] < 0)
				rc = -1;
			total += d->n[k];
			q = e;
		}
		if (total != d->count)
			rc = -1;
	}
	if (rc < 0)
		memset(d, 0, sizeof *d);
	free(t);
	return rc;
}
