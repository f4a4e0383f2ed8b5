/* presets.c - hotfarm presets: each preset of this site, the folder an artist drops into, and what a drop
 * there becomes (its [preset] about, and the keys it gives); a broken preset says why. Text or JSON. */
#define _GNU_SOURCE
#include "cli.h"
#include "../../layout/preset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_presets(struct cli *cli, int argc, char **argv)
{
	(void)argc, (void)argv;
	const struct spool *sp = &cli->sp;
	struct strlist names = {0};
	if (preset_names(spool_fd(sp, DIR_CONF), &names) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to list %s/%s", sp->path, preset_dir_relpath());
	if (cli->json)
		printf("[");
	else if (!names.n)
		printf("no presets (an admin adds %s/NAME.ini; see the README)\n", preset_dir_relpath());
	for (size_t i = 0; i < names.n; i++) {
		struct preset p;
		char err[1024], gives[1024] = "", rel[PRESET_NAME_MAX + 16];
		bool ok = preset_load(spool_fd(sp, DIR_CONF), names.v[i], &p, err, sizeof err) == 0;
		if (ok)
			preset_summary(&p, gives, sizeof gives);
		preset_folder_relpath(names.v[i], rel, sizeof rel);
		char *folder = xasprintf("%s/%s/", sp->path, rel);
		if (cli->json) {
			printf("%s{\"name\":", i ? "," : "");
			cli_json_string(names.v[i]);
			printf(",\"folder\":");
			cli_json_string(folder);
			printf(",\"about\":");
			cli_json_string(ok ? p.about : "");
			printf(",\"gives\":");
			cli_json_string(gives);
			printf(",\"error\":");
			cli_json_string(ok ? "" : err);
			printf("}");
		} else {
			char a[1100], g[1100], e[1100];
			cli_shown(ok ? p.about : "", a, sizeof a);
			cli_shown(gives, g, sizeof g);
			cli_shown(err, e, sizeof e);
			printf("%s\n  drop into: %s\n", names.v[i], folder);
			if (!ok)
				printf("  broken, drops there wait: %s\n", e);
			else
				printf("%s%s%s  gives: %s\n", *a ? "  " : "", a, *a ? "\n" : "", g);
		}
		free(folder);
		if (ok)
			preset_free(&p);
	}
	if (cli->json)
		printf("]\n");
	strlist_free(&names);
	return EXIT_OK;
}
