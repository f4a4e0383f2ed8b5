/* route.c - hf-route: route the job entries in new/ (routing.c) that hf-intake did not route itself
 * (it was killed first, or the entry came from elsewhere: a re-route, recovery).
 * Checks the entry names it is given. */
#define _GNU_SOURCE
#include "routing.h"

#include <stdlib.h>

static struct spool sp;

int main(int argc, char **argv)
{
	int first = spooler_main(argc, argv, "hf-route",
				  "usage: hf-route --spool DIR [ENTRY...]\n"
				  "Move job entries from new/ to queue/ (or failed/, with the reason).\n"
				  "Without ENTRY, routes everything in new/.\n",
				  &sp);
	if (first < argc) {
		for (int i = first; i < argc; i++)
			route_entry(&sp, argv[i]);
	} else {
		struct strlist l = {0};
		state_list(&sp, STATE_NEW, &l);
		for (size_t i = 0; i < l.n; i++)
			route_entry(&sp, l.v[i]);
		strlist_free(&l);
	}
	spool_close(&sp);
	return EXIT_OK;
}
