/* views.c - what hotfarm shows of the farm and the steering that acts on
 * one frame or one host: jobs, hosts, slots, logs, billing; retry,
 * kill-frame, drain. Everything read from the spool is escaped before it
 * reaches a terminal; names typed by the user are checked first. */
#define _GNU_SOURCE
#include "views.h"
#include "site.h"
#include "../layout/host.h"
#include "../layout/ini.h"
#include "../layout/layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void shown(const char *in, char *out, size_t outsize) { text_escape(in ? in : "", out, outsize); }

/* ---- jobs ------------------------------------------------------------------ */

int cmd_jobs(const struct spool *sp, bool json)
{
	if (json)
		printf("[");
	else if (isatty(1))
		printf("%-24s %-10s %4s %-12s %9s  %-20s %s\n", "JOB", "STATE", "PRIO", "OWNER", "FRAMES", "SUBMITTED",
		       "FINISHED");
	int n = 0;
	for (int s = 0; s < STATE_COUNT; s++) {
		struct strlist l = {0};
		state_list(sp, (enum job_state)s, &l);
		for (size_t i = 0; i < l.n; i++) {
			char name[JOBID_MAX_LEN + 1];
			int prio;
			entry_parse(l.v[i], &prio, NULL, name);
			int jfd = job_dir_open(sp, name);
			struct job_status st;
			if (jfd < 0 || job_status_read(jfd, &st) < 0)
				memset(&st, 0, sizeof st);
			if (jfd >= 0)
				close(jfd);
			char sub[32] = "-", fin[32] = "-", owner[200], frames[40];
			if (st.submitted_us)
				time_iso(st.submitted_us, sub);
			if (st.finished_us)
				time_iso(st.finished_us, fin);
			shown(st.owner, owner, sizeof owner);
			const char *state = (s == STATE_QUEUED && *st.state) ? st.state : state_word((enum job_state)s);
			snprintf(frames, sizeof frames, "%ld/%ld", st.frames_done, st.frames_total);
			if (json) {
				printf("%s{\"name\":", n++ ? "," : "");
				json_string(name);
				printf(",\"state\":\"%s\",\"priority\":%d,\"owner\":", state, prio);
				json_string(st.owner);
				printf(",\"frames_total\":%ld,\"frames_done\":%ld,\"frames_failed\":%ld,\"submitted_us\":%lld,"
				       "\"finished_us\":%lld}",
				       st.frames_total, st.frames_done, st.frames_failed, (long long)st.submitted_us,
				       (long long)st.finished_us);
			} else if (isatty(1)) {
				printf("%-24s %-10s %4d %-12s %9s  %-20s %s\n", name, state, prio, owner, frames, sub, fin);
			} else {
				printf("%s\t%s\t%d\t%s\t%s\t%s\t%s\n", name, state, prio, owner, frames, sub, fin);
			}
			job_status_free(&st);
		}
		strlist_free(&l);
	}
	if (json)
		printf("]\n");
	return EXIT_OK;
}

/* ---- hosts and slots ----------------------------------------------------------- */

int cmd_hosts(const struct spool *sp, bool json)
{
	struct strlist names = {0};
	host_list(sp, &names);
	int64_t now = server_now_us(sp);
	if (json)
		printf("[");
	else if (names.n == 0)
		printf("no render hosts\n");
	for (size_t i = 0; i < names.n; i++) {
		struct host_record h;
		if (host_read(sp, names.v[i], &h) < 0)
			continue;
		int hfd = openat(spool_fd(sp, DIR_HOSTS), h.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		long slots = 0, busy = 0;
		const char *ns = host_get(&h, "slots");
		parse_long(ns ? ns : "0", 0, 100000, &slots);
		for (long k = 0; k < slots; k++) {
			struct slot_view v;
			if (hfd >= 0 && slot_read(hfd, (int)k, &v) == 0 && !strcmp(v.state, "busy"))
				busy++;
		}
		if (hfd >= 0)
			close(hfd);
		const char *state = host_state(sp, &h, now);
		long beat = h.heartbeat_us ? (long)((now - h.heartbeat_us) / 1000000) : -1;
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			json_string(h.name);
			printf(",\"state\":\"%s\",\"heartbeat_age_s\":%ld,\"slots\":%ld,\"busy\":%ld", state, beat, slots, busy);
			for (size_t k = 0; k < h.keys.n; k++) {
				if (!strcmp(h.keys.v[k], "name") || !strcmp(h.keys.v[k], "slots"))
					continue;
				printf(",");
				json_string(h.keys.v[k]);
				printf(":");
				json_string(h.values.v[k]);
			}
			printf(",\"packages\":{");
			for (size_t k = 0; k < h.packages.n; k++) {
				printf("%s", k ? "," : "");
				json_string(h.packages.v[k]);
				printf(":");
				json_string(h.versions.v[k]);
			}
			printf("}}");
		} else {
			char osv[200], distro[120], model[200], gpu[200];
			shown(host_get(&h, "os_version"), osv, sizeof osv);
			snprintf(distro, sizeof distro, "%s %s", host_get(&h, "distro") ? host_get(&h, "distro") : "",
				 host_get(&h, "distro_version") ? host_get(&h, "distro_version") : "");
			shown(host_get(&h, "cpu_model"), model, sizeof model);
			shown(host_get(&h, "gpu"), gpu, sizeof gpu);
			printf("%s: %s, heartbeat %lds ago, %ld/%ld slots busy\n", h.name, state, beat, busy, slots);
			printf("  os:       %s %s (%s)\n", host_get(&h, "os") ? host_get(&h, "os") : "?", osv, distro);
			printf("  cpus:     %s x %s (%s MHz)\n", host_get(&h, "cpus") ? host_get(&h, "cpus") : "?", model,
			       host_get(&h, "cpu_mhz") ? host_get(&h, "cpu_mhz") : "?");
			printf("  ram:      %s MB, swap %s MB\n", host_get(&h, "ram_mb") ? host_get(&h, "ram_mb") : "?",
			       host_get(&h, "swap_mb") ? host_get(&h, "swap_mb") : "?");
			printf("  gpu:      %s\n", gpu);
			printf("  packages:");
			for (size_t k = 0; k < h.packages.n; k++) {
				char v[100];
				shown(h.versions.v[k], v, sizeof v);
				printf("%s %s %s", k ? "," : "", h.packages.v[k], v);
			}
			printf("\n");
		}
		host_free(&h);
	}
	if (json)
		printf("]\n");
	strlist_free(&names);
	return EXIT_OK;
}

int cmd_slots(const struct spool *sp, bool json)
{
	struct strlist names = {0};
	host_list(sp, &names);
	if (json)
		printf("[");
	else if (isatty(1))
		printf("%-16s %4s %-5s %-24s %7s %4s %-20s %s\n", "HOST", "SLOT", "STATE", "JOB", "FRAME", "TRY", "SINCE",
		       "PID");
	int n = 0;
	for (size_t i = 0; i < names.n; i++) {
		int hfd = openat(spool_fd(sp, DIR_HOSTS), names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (hfd < 0)
			continue;
		for (int k = 0; k < 4096; k++) {
			struct slot_view v;
			if (slot_read(hfd, k, &v) < 0)
				break;
			if (json) {
				printf("%s{\"host\":", n++ ? "," : "");
				json_string(names.v[i]);
				printf(",\"slot\":%d,\"state\":", k);
				json_string(v.state);
				printf(",\"job\":");
				json_string(v.job);
				printf(",\"frame\":");
				json_string(v.frame);
				printf(",\"attempt\":");
				json_string(v.attempt);
				printf(",\"since\":");
				json_string(v.since);
				printf(",\"pid\":");
				json_string(v.pid);
				printf("}");
			} else if (isatty(1)) {
				printf("%-16s %4d %-5s %-24s %7s %4s %-20s %s\n", names.v[i], k, v.state, v.job, v.frame,
				       v.attempt, v.since, v.pid);
			} else {
				printf("%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", names.v[i], k, v.state, v.job, v.frame, v.attempt,
				       v.since, v.pid);
			}
		}
		close(hfd);
	}
	if (json)
		printf("]\n");
	strlist_free(&names);
	return EXIT_OK;
}

/* ---- one frame ----------------------------------------------------------------------- */

static int job_open(const struct spool *sp, const char *name)
{
	if (!job_id_valid(name))
		die(EXIT_BADINPUT, "'%s' is not a job name", name);
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		die(EXIT_BADINPUT, "no job named %s in %s", name, sp->path);
	return jfd;
}

int cmd_log(const struct spool *sp, const char *name, const char *frame, const char *attempt)
{
	long f, want = 0;
	if (!parse_long(frame, 0, 9999999, &f))
		die(EXIT_BADINPUT, "'%s' is not a frame number", frame);
	if (attempt && !parse_long(attempt, 1, 1000, &want))
		die(EXIT_BADINPUT, "'%s' is not an attempt number", attempt);
	int jfd = job_open(sp, name);
	/* frameF.tryN.HOST.SLOT.log, or frameA-B.tryN... for a run of frames
	 * in one process (N: its first frame's attempt); the newest wins */
	DIR *d = dir_open(jfd, "logs");
	struct dirent *e;
	char best[300] = "";
	struct timespec best_at = {0};
	while (d && (e = readdir(d))) {
		long a, b, t;
		int n = 0;
		if (sscanf(e->d_name, "frame%ld-%ld.try%ld%n", &a, &b, &t, &n) == 3 && n) {
		} else if (sscanf(e->d_name, "frame%ld.try%ld%n", &a, &t, &n) == 2 && n) {
			b = a;
		} else {
			continue;
		}
		struct stat st;
		if (f < a || f > b || (want && t != want) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!*best || st.st_mtim.tv_sec > best_at.tv_sec ||
		    (st.st_mtim.tv_sec == best_at.tv_sec && st.st_mtim.tv_nsec > best_at.tv_nsec)) {
			best_at = st.st_mtim;
			snprintf(best, sizeof best, "%s", e->d_name);
		}
	}
	if (d)
		closedir(d);
	if (!*best)
		die(EXIT_BADINPUT, "no log of frame %ld of %s%s", f, name, want ? " for that attempt" : " (not rendered yet?)");
	char path[400];
	snprintf(path, sizeof path, "logs/%s", best);
	size_t len;
	char *text = file_read_small(jfd, path, 64 << 20, &len);
	if (!text)
		die_errno(EXIT_TEMPFAIL, "unable to read jobs/%s/%s", name, path);
	fwrite(text, 1, len, stdout);
	free(text);
	close(jfd);
	return EXIT_OK;
}

int cmd_retry(const struct spool *sp, const char *name)
{
	int jfd = job_open(sp, name);
	struct strlist failed = {0};
	dir_names(jfd, "frames/failed", &failed);
	if (failed.n == 0) {
		printf("%s has no failed frames\n", name);
		close(jfd);
		return EXIT_OK;
	}
	char entry[ENTRY_MAX_LEN];
	enum job_state st = job_find(sp, name, entry);
	if (st == STATE_CANCELLED || st == STATE_NONE)
		die(EXIT_BADINPUT, "%s is %s; it cannot be retried", name, state_word(st));
	int n = 0;
	for (size_t i = 0; i < failed.n; i++)
		if (ticket_retry(jfd, failed.v[i]) == 0)
			n++;
	/* a retry is a clean slate: hosts that were blocked may try again */
	struct strlist markers = {0};
	dir_names(jfd, "blocked", &markers);
	for (size_t i = 0; i < markers.n; i++) {
		char path[300];
		snprintf(path, sizeof path, "blocked/%s", markers.v[i]);
		unlinkat(jfd, path, 0);
	}
	strlist_free(&markers);
	strlist_free(&failed);
	close(jfd);
	if (st == STATE_FAILED || st == STATE_DONE) {
		char why[200];
		snprintf(why, sizeof why, "retrying %d failed ticket%s (hotfarm retry)", n, n == 1 ? "" : "s");
		if (job_change_state(sp, name, STATE_QUEUED, why) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to queue %s again", name);
	}
	printf("%s: %d failed ticket%s back in todo/\n", name, n, n == 1 ? "" : "s");
	return EXIT_OK;
}

int cmd_kill_frame(const struct spool *sp, const char *name, const char *frame)
{
	long f;
	if (!parse_long(frame, 0, 9999999, &f))
		die(EXIT_BADINPUT, "'%s' is not a frame number", frame);
	int jfd = job_open(sp, name);
	DIR *d = dir_open(jfd, "frames/active");
	struct dirent *e;
	int asked = 0;
	while (d && (e = readdir(d))) {
		long rank, first, last;
		char owner[128];
		int got = sscanf(e->d_name, "%ld-%ld-%ld@%127s", &rank, &first, &last, owner);
		if (got < 4) {
			got = sscanf(e->d_name, "%ld-%ld@%127s", &rank, &first, owner);
			last = first;
			if (got < 3)
				continue;
		}
		if (f < first || f > last)
			continue;
		char *dot = strrchr(owner, '.');
		if (!dot || !name_is_valid(owner))
			continue;
		*dot = 0;
		char req[300];
		snprintf(req, sizeof req, "%s/kill.%s", owner, dot + 1);
		char text[200];
		int len = snprintf(text, sizeof text, "job = %s\nframe = %ld\n", name, f);
		int hfd = spool_fd(sp, DIR_HOSTS);
		int fd = openat(hfd, req, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, text, (size_t)len) != len)
			die_errno(EXIT_TEMPFAIL, "unable to ask %s to stop it", owner);
		close(fd);
		printf("asked %s (slot %s) to stop frame %ld of %s\n", owner, dot + 1, f, name);
		asked++;
	}
	if (d)
		closedir(d);
	close(jfd);
	if (!asked)
		die(EXIT_BADINPUT, "frame %ld of %s is not rendering now", f, name);
	return EXIT_OK;
}

int cmd_drain(const struct spool *sp, const char *host, bool on)
{
	if (!name_is_valid(host))
		die(EXIT_BADINPUT, "'%s' is not a host name", host);
	int hfd = openat(spool_fd(sp, DIR_HOSTS), host, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (hfd < 0)
		die(EXIT_BADINPUT, "no render host named %s in %s/hosts", host, sp->path);
	if (on) {
		char iso[32], text[100];
		time_iso(now_us(), iso);
		int len = snprintf(text, sizeof text, "draining since %s\n", iso);
		if (file_write_atomic(hfd, "drain", text, (size_t)len, 0644) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to drain %s", host);
		printf("%s drains: it finishes what runs and takes no new frames (hotfarm undrain %s)\n", host, host);
	} else {
		if (unlinkat(hfd, "drain", 0) < 0 && errno != ENOENT)
			die_errno(EXIT_TEMPFAIL, "unable to undrain %s", host);
		printf("%s takes frames again\n", host);
	}
	close(hfd);
	return EXIT_OK;
}

/* ---- billing ----------------------------------------------------------------------------- */

struct bill {
	char key[200];
	long frames;
	double cpu, wall;
	unsigned long long bytes;
};

static void bill_add(struct bill **v, size_t *n, const char *key, long frames, double cpu, double wall,
		     unsigned long long bytes)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i].key, key)) {
			(*v)[i].frames += frames, (*v)[i].cpu += cpu, (*v)[i].wall += wall, (*v)[i].bytes += bytes;
			return;
		}
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	struct bill *b = &(*v)[(*n)++];
	snprintf(b->key, sizeof b->key, "%s", key);
	b->frames = frames, b->cpu = cpu, b->wall = wall, b->bytes = bytes;
}

int cmd_billing(const struct spool *sp, const char *owner, const char *since, bool csv, bool json)
{
	int64_t since_us = 0;
	if (since) {
		struct tm tm = {0};
		char *end = strptime(since, "%Y-%m-%d", &tm);
		if (!end || *end)
			die(EXIT_BADINPUT, "--since takes a date like 2026-11-01, not '%s'", since);
		since_us = (int64_t)timegm(&tm) * 1000000;
	}
	struct bill *owners = NULL, *jobs = NULL;
	size_t no = 0, nj = 0;
	DIR *d = dir_open(spool_fd(sp, DIR_JOBS), ".");
	struct dirent *e;
	struct strlist names = {0};
	while (d && (e = readdir(d)))
		if (name_is_valid(e->d_name))
			strlist_add(&names, e->d_name);
	if (d)
		closedir(d);
	strlist_sort(&names);
	for (size_t i = 0; i < names.n; i++) {
		int jfd = job_dir_open(sp, names.v[i]);
		if (jfd < 0)
			continue;
		char err[256];
		struct ini *b = ini_load(jfd, "billing.ini", "billing.ini", err, sizeof err);
		struct job_status st;
		bool have_st = job_status_read(jfd, &st) == 0;
		close(jfd);
		if (!b || !have_st) {
			ini_free(b);
			if (have_st)
				job_status_free(&st);
			continue;
		}
		const char *who = *st.owner ? st.owner : "(nobody)";
		bool keep = (!owner || !strcmp(owner, who)) && (!since_us || st.finished_us >= since_us);
		if (keep) {
			double user = atof(ini_get(b, "billing", "cpu_user_seconds") ? ini_get(b, "billing", "cpu_user_seconds") : "0");
			double sys = atof(ini_get(b, "billing", "cpu_system_seconds") ? ini_get(b, "billing", "cpu_system_seconds") : "0");
			double wall = atof(ini_get(b, "billing", "wall_seconds") ? ini_get(b, "billing", "wall_seconds") : "0");
			long frames = atol(ini_get(b, "billing", "frames") ? ini_get(b, "billing", "frames") : "0");
			unsigned long long bytes =
				strtoull(ini_get(b, "billing", "output_bytes") ? ini_get(b, "billing", "output_bytes") : "0", NULL, 10);
			char w[200], key[300];
			shown(who, w, sizeof w);
			bill_add(&owners, &no, w, frames, user + sys, wall, bytes);
			snprintf(key, sizeof key, "%s\t%s", w, names.v[i]);
			bill_add(&jobs, &nj, key, frames, user + sys, wall, bytes);
		}
		ini_free(b);
		job_status_free(&st);
	}
	strlist_free(&names);
	if (json) {
		printf("{\"owners\":[");
		for (size_t i = 0; i < no; i++) {
			printf("%s{\"owner\":", i ? "," : "");
			json_string(owners[i].key);
			printf(",\"frames\":%ld,\"cpu_hours\":%.6f,\"wall_hours\":%.6f,\"output_bytes\":%llu}", owners[i].frames,
			       owners[i].cpu / 3600, owners[i].wall / 3600, owners[i].bytes);
		}
		printf("],\"jobs\":[");
		for (size_t i = 0; i < nj; i++) {
			char *tab = strchr(jobs[i].key, '\t');
			*tab = 0;
			printf("%s{\"owner\":", i ? "," : "");
			json_string(jobs[i].key);
			printf(",\"job\":");
			json_string(tab + 1);
			printf(",\"frames\":%ld,\"cpu_hours\":%.6f,\"wall_hours\":%.6f,\"output_bytes\":%llu}", jobs[i].frames,
			       jobs[i].cpu / 3600, jobs[i].wall / 3600, jobs[i].bytes);
		}
		printf("]}\n");
	} else if (csv) {
		printf("owner,job,frames,cpu_hours,wall_hours,output_bytes\n");
		for (size_t i = 0; i < nj; i++) {
			char *tab = strchr(jobs[i].key, '\t');
			*tab = 0;
			printf("%s,%s,%ld,%.6f,%.6f,%llu\n", jobs[i].key, tab + 1, jobs[i].frames, jobs[i].cpu / 3600,
			       jobs[i].wall / 3600, jobs[i].bytes);
		}
		for (size_t i = 0; i < no; i++)
			printf("%s,(all),%ld,%.6f,%.6f,%llu\n", owners[i].key, owners[i].frames, owners[i].cpu / 3600,
			       owners[i].wall / 3600, owners[i].bytes);
	} else {
		printf("%-16s %-24s %8s %10s %10s %14s\n", "OWNER", "JOB", "FRAMES", "CPU h", "WALL h", "OUTPUT bytes");
		for (size_t i = 0; i < nj; i++) {
			char *tab = strchr(jobs[i].key, '\t');
			*tab = 0;
			printf("%-16s %-24s %8ld %10.4f %10.4f %14llu\n", jobs[i].key, tab + 1, jobs[i].frames,
			       jobs[i].cpu / 3600, jobs[i].wall / 3600, jobs[i].bytes);
		}
		for (size_t i = 0; i < no; i++)
			printf("%-16s %-24s %8ld %10.4f %10.4f %14llu\n", owners[i].key, "(all jobs)", owners[i].frames,
			       owners[i].cpu / 3600, owners[i].wall / 3600, owners[i].bytes);
	}
	free(owners);
	free(jobs);
	return EXIT_OK;
}

/* ---- linked sites ---- */

static long files_in(const struct spool *sp, const char *peer, const char *sub)
{
	int fd = site_dir_open(sp, peer, sub);
	struct strlist names = {0};
	if (fd >= 0) {
		dir_names(fd, ".", &names);
		close(fd);
	}
	long n = (long)names.n;
	strlist_free(&names);
	return n;
}

/* Jobs of this site out at PEER, and jobs PEER sent here not ended yet. */
static void site_jobs(const struct spool *sp, const char *peer, long *out, long *here)
{
	*out = *here = 0;
	struct strlist l = {0};
	state_list(sp, STATE_OUTSOURCED, &l);
	for (size_t i = 0; i < l.n; i++) {
		char id[JOBID_MAX_LEN + 1], err[128];
		if (!entry_parse(l.v[i], NULL, NULL, id))
			continue;
		int jfd = job_dir_open(sp, id);
		struct ini *o = jfd < 0 ? NULL : ini_load(jfd, OUTSOURCED_INI, OUTSOURCED_INI, err, sizeof err);
		const char *to = o ? ini_get(o, "outsourced", "site") : NULL;
		if (to && !strcmp(to, peer))
			(*out)++;
		ini_free(o);
		if (jfd >= 0)
			close(jfd);
	}
	strlist_free(&l);
	enum job_state live[] = {STATE_NEW, STATE_QUEUED, STATE_HELD, STATE_OUTSOURCED};
	char tail[SITE_NAME_MAX + 2];
	snprintf(tail, sizeof tail, "@%s", peer);
	for (int k = 0; k < 4; k++) {
		state_list(sp, live[k], &l);
		for (size_t i = 0; i < l.n; i++)
			if (strlen(l.v[i]) > strlen(tail) && !strcmp(l.v[i] + strlen(l.v[i]) - strlen(tail), tail))
				(*here)++;
		strlist_free(&l);
	}
}

int cmd_sites(const struct spool *sp, bool json)
{
	if (json)
		printf("[");
	else if (!sp->conf.nlinks)
		printf("no linked sites (add [site NAME] sections to conf/hotfarm.ini)\n");
	else
		printf("%-16s %-12s %6s %6s %6s %7s %8s %5s %5s %5s %5s\n", "SITE", "HEARD", "HOSTS", "SLOTS", "BUSY",
		       "QUEUED", "FRAMES", "OUT", "HERE", "TO", "FROM");
	for (int i = 0; i < sp->conf.nlinks; i++) {
		const char *peer = sp->conf.links[i].name;
		struct site_summary s;
		bool have = site_summary_read(sp, peer, &s) == 0;
		long age = have ? (long)((now_us() - s.received_us) / 1000000) : -1;
		long out, here;
		site_jobs(sp, peer, &out, &here);
		long to = files_in(sp, peer, "out"), from = files_in(sp, peer, "in");
		if (json) {
			printf("%s{\"site\":", i ? "," : "");
			json_string(peer);
			printf(",\"summary_age_s\":%ld,\"hosts\":%ld,\"slots\":%ld,\"busy\":%ld,\"queued_jobs\":%ld,"
			       "\"frames_waiting\":%ld,\"jobs_sent_there\":%ld,\"jobs_from_there\":%ld,"
			       "\"files_to_send\":%ld,\"files_to_collect\":%ld}",
			       age, have ? s.hosts : 0, have ? s.slots : 0, have ? s.busy : 0, have ? s.queued_jobs : 0,
			       have ? s.frames_waiting : 0, out, here, to, from);
		} else {
			char heard[32];
			if (age < 0)
				snprintf(heard, sizeof heard, "never");
			else
				snprintf(heard, sizeof heard, "%lds ago", age);
			printf("%-16s %-12s %6ld %6ld %6ld %7ld %8ld %5ld %5ld %5ld %5ld\n", peer, heard, have ? s.hosts : 0,
			       have ? s.slots : 0, have ? s.busy : 0, have ? s.queued_jobs : 0, have ? s.frames_waiting : 0,
			       out, here, to, from);
		}
		if (have)
			site_summary_free(&s);
	}
	if (json)
		printf("]\n");
	return EXIT_OK;
}
