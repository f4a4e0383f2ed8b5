/* pools.c - hotfarm pool and forget: an admin's labels for render hosts
 * (hosts/HOST/pools) and removing a retired host's record. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/host.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void pools_print(const char *host, const struct strlist *pools)
{
	printf("%s:", host);
	for (size_t i = 0; i < pools->n; i++)
		printf(" %s", pools->v[i]);
	printf("%s\n", pools->n ? "" : " (no pool)");
}

/* hotfarm pool: every host's pools. */
static int pools_list(const struct cli *cli)
{
	struct strlist names = {0};
	host_list(&cli->sp, &names);
	if (cli->json)
		printf("[");
	for (size_t i = 0; i < names.n; i++) {
		struct strlist pools = {0};
		int hfd = host_dir_open(&cli->sp, names.v[i], false);
		if (hfd >= 0) {
			host_pools_read(hfd, &pools);
			close(hfd);
		}
		if (cli->json) {
			printf("%s{\"host\":", i ? "," : "");
			cli_json_string(names.v[i]);
			printf(",\"pools\":[");
			for (size_t k = 0; k < pools.n; k++) {
				printf("%s", k ? "," : "");
				cli_json_string(pools.v[k]);
			}
			printf("]}");
		} else {
			pools_print(names.v[i], &pools);
		}
		strlist_free(&pools);
	}
	if (cli->json)
		printf("]\n");
	else if (!names.n)
		printf("no render hosts\n");
	strlist_free(&names);
	return EXIT_OK;
}

int cmd_pool(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return pools_list(cli);
	const char *host = argv[1];
	if (!name_is_valid(host))
		die(EXIT_BADINPUT, "'%s' is not a host name", host);
	const char *verb = argc > 2 ? argv[2] : NULL;
	if (verb && strcmp(verb, "add") && strcmp(verb, "remove") && strcmp(verb, "set"))
		die(EXIT_BADINPUT, "hotfarm pool HOST add|remove|set POOL...: '%s' is none of them", verb);
	if (verb && strcmp(verb, "set") && argc < 4)
		die(EXIT_BADINPUT, "hotfarm pool %s %s: name at least one pool", host, verb);
	for (int i = 3; i < argc; i++)
		if (!pool_name_valid(argv[i]))
			die(EXIT_BADINPUT, "'%s' is not a pool name (letters, digits, '.', '_' and '-', up to 64)", argv[i]);
	if (verb)
		farm_only(&cli->sp, "change a host's pools");
	/* a host's pools may be set before its agent first runs there */
	int hfd = host_dir_open(&cli->sp, host, verb && strcmp(verb, "remove"));
	if (hfd < 0)
		die(EXIT_BADINPUT, "no render host named %s in %s/%s", host, cli->sp.path, spool_dir_name(DIR_HOSTS));
	struct strlist pools = {0};
	if (host_pools_read(hfd, &pools) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to read the pools of %s", host);
	if (verb && !strcmp(verb, "set"))
		strlist_free(&pools);
	for (int i = 3; verb && i < argc; i++) {
		bool has = strlist_has(&pools, argv[i]);
		if (strcmp(verb, "remove") && !has)
			strlist_add(&pools, argv[i]);
		else if (!strcmp(verb, "remove") && has)
			strlist_remove(&pools, argv[i]);
	}
	if (verb && host_pools_write(hfd, &pools) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to write the pools of %s", host);
	close(hfd);
	pools_print(host, &pools);
	strlist_free(&pools);
	return EXIT_OK;
}

int cmd_forget(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	const char *host = argv[1];
	farm_only(&cli->sp, "forget a host");
	struct host_record h;
	if (!name_is_valid(host) || host_read(&cli->sp, host, &h) < 0) {
		int hfd = host_dir_open(&cli->sp, host, false);
		if (hfd < 0)
			die(EXIT_BADINPUT, "no render host named %s in %s/%s", host, cli->sp.path,
			    spool_dir_name(DIR_HOSTS));
		close(hfd);
	} else {
		const char *state = host_state(&cli->sp, &h, server_now_us(&cli->sp));
		bool running = !strcmp(state, "up") || !strcmp(state, "draining");
		host_free(&h);
		if (running)
			die(EXIT_BADINPUT, "%s has a heartbeat: stop its render-agent first (hotfarm drain %s lets it finish)",
			    host, host);
	}
	if (host_forget(&cli->sp, host) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to remove the record of %s", host);
	printf("%s forgotten: its record, pools and drain marker are gone\n", host);
	return EXIT_OK;
}
