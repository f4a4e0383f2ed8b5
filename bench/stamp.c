/* bench/stamp.c - the dispatch benchmark's "renderer": writes the time it
 * started (CLOCK_REALTIME, ns) into the frame's output file and exits. */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	FILE *f = argc == 2 ? fopen(argv[1], "w") : NULL;
	if (!f)
		return 1;
	fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return fclose(f) != 0;
}
