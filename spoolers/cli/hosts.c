/* hosts.c - hotfarm's views of machines: hosts, slots, linked sites, as text
 * or JSON. Distrusts the records agents and peers wrote: layout/ checks them
 * as it reads, free text is escaped before a terminal. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/site.h"
#include "../../layout/host.h"
#include "../../layout/ini.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- hosts and slots ----------------------------------------------------------- */

int cmd_hosts(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	const struct spool *sp = &cli->sp;
	bool json = cli->json;
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
		int hfd = host_dir_open(sp, h.name, false);
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
		char nimby[120];
		host_nimby_text(&h, now, busy, nimby, sizeof nimby);
		long beat = h.heartbeat_us ? (long)((now - h.heartbeat_us) / 1000000) : -1;
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			cli_json_string(h.name);
			printf(",\"state\":\"%s\",\"heartbeat_age_s\":%ld,\"slots\":%ld,\"busy\":%ld,\"nimby\":", state, beat, slots,
			       busy);
			if (*nimby)
				cli_json_string(nimby + 7); /* without "nimby: " */
			else
				printf("null");
			for (size_t k = 0; k < h.keys.n; k++) {
				if (!strcmp(h.keys.v[k], "name") || !strcmp(h.keys.v[k], "slots"))
					continue;
				printf(",");
				cli_json_string(h.keys.v[k]);
				printf(":");
				cli_json_string(h.values.v[k]);
			}
			printf(",\"pools\":[");
			for (size_t k = 0; k < h.pools.n; k++) {
				printf("%s", k ? "," : "");
				cli_json_string(h.pools.v[k]);
			}
			printf("]");
			printf(",\"packages\":{");
			for (size_t k = 0; k < h.packages.n; k++) {
				printf("%s", k ? "," : "");
				cli_json_string(h.packages.v[k]);
				printf(":");
				cli_json_string(h.versions.v[k]);
			}
			printf("}}");
		} else {
			char osv[200], distro[120], model[200], gpu[200];
			cli_shown(host_get(&h, "os_version"), osv, sizeof osv);
			snprintf(distro, sizeof distro, "%s %s", host_get(&h, "distro") ? host_get(&h, "distro") : "",
				 host_get(&h, "distro_version") ? host_get(&h, "distro_version") : "");
			cli_shown(host_get(&h, "cpu_model"), model, sizeof model);
			cli_shown(host_get(&h, "gpu"), gpu, sizeof gpu);
			if (h.offline)
				printf("%s: offline (its agent stopped; hotfarm forget %s removes the record)\n", h.name,
				       h.name);
			else
				printf("%s: %s%s%s, heartbeat %lds ago, %ld/%ld slots busy\n", h.name, state, *nimby ? ", " : "",
				       nimby, beat, busy, slots);
			printf("  pools:   ");
			for (size_t k = 0; k < h.pools.n; k++)
				printf(" %s", h.pools.v[k]);
			printf("%s\n", h.pools.n ? "" : " (none)");
			printf("  os:       %s %s (%s)\n", host_get(&h, "os") ? host_get(&h, "os") : "?", osv, distro);
			printf("  cpus:     %s x %s (%s MHz)\n", host_get(&h, "cpus") ? host_get(&h, "cpus") : "?", model,
			       host_get(&h, "cpu_mhz") ? host_get(&h, "cpu_mhz") : "?");
			printf("  ram:      %s MB, swap %s MB\n", host_get(&h, "ram_mb") ? host_get(&h, "ram_mb") : "?",
			       host_get(&h, "swap_mb") ? host_get(&h, "swap_mb") : "?");
			printf("  gpu:      %s\n", gpu);
			printf("  packages:");
			for (size_t k = 0; k < h.packages.n; k++) {
				char v[100];
				cli_shown(h.versions.v[k], v, sizeof v);
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

int cmd_slots(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	const struct spool *sp = &cli->sp;
	bool json = cli->json;
	struct strlist names = {0};
	host_list(sp, &names);
	if (json)
		printf("[");
	else if (isatty(1))
		printf("%-16s %4s %-5s %-24s %7s %4s %-20s %s\n", "HOST", "SLOT", "STATE", "JOB", "FRAME", "TRY", "SINCE",
		       "PID");
	int n = 0;
	for (size_t i = 0; i < names.n; i++) {
		int hfd = host_dir_open(sp, names.v[i], false);
		if (hfd < 0)
			continue;
		for (int k = 0; k < 4096; k++) {
			struct slot_view v;
			if (slot_read(hfd, k, &v) < 0)
				break;
			if (json) {
				printf("%s{\"host\":", n++ ? "," : "");
				cli_json_string(names.v[i]);
				printf(",\"slot\":%d,\"state\":", k);
				cli_json_string(v.state);
				printf(",\"job\":");
				cli_json_string(v.job);
				printf(",\"frame\":");
				cli_json_string(v.frame);
				printf(",\"attempt\":");
				cli_json_string(v.attempt);
				printf(",\"since\":");
				cli_json_string(v.since);
				printf(",\"pid\":");
				cli_json_string(v.pid);
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

/* ---- linked sites ---- */

static long files_in(const struct spool *sp, const char *peer, enum site_sub sub)
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
		struct ini *o = jfd < 0 ? NULL : job_file_ini(jfd, JOB_FILE_OUTSOURCED, err, sizeof err);
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

int cmd_sites(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	const struct spool *sp = &cli->sp;
	bool json = cli->json;
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
		long to = files_in(sp, peer, SITE_OUT), from = files_in(sp, peer, SITE_IN);
		if (json) {
			printf("%s{\"site\":", i ? "," : "");
			cli_json_string(peer);
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
