/* bench/drop.c - drop N copies of one job into a spool's inbox at once:
 * copies of the archive and the .ini in a stage folder, then each
 * renamed into inbox/ (archive first, .ini last), as a script would. */
#define _GNU_SOURCE
#include "copy.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: drop SPOOL STAGE-DIR JOB.tar JOB.ini N (the jobs are named m0 .. mN-1)\n");
		return 100;
	}
	const char *spool = argv[1], *stage = argv[2];
	long n = strtol(argv[5], NULL, 10);
	char a[4096], b[4096];
	mkdir(stage, 0755);
	for (long i = 0; i < n; i++) {
		snprintf(a, sizeof a, "%s/m%ld.tar", stage, i);
		snprintf(b, sizeof b, "%s/m%ld.ini", stage, i);
		if (copy(argv[3], a) < 0 || copy(argv[4], b) < 0) {
			perror(a);
			return 1;
		}
	}
	for (long i = 0; i < n; i++)
		for (int k = 0; k < 2; k++) {
			snprintf(a, sizeof a, "%s/m%ld.%s", stage, i, k ? "ini" : "tar");
			snprintf(b, sizeof b, "%s/inbox/m%ld.%s", spool, i, k ? "ini" : "tar");
			if (rename(a, b) < 0) {
				perror(b);
				return 1;
			}
		}
	return 0;
}
