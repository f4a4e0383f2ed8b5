/* bench/stamp.c - the dispatch benchmark's "renderer": prints the time it
 * started (CLOCK_REALTIME, ns) on its output, which is the frame's log. */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

int main(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("started %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return fflush(stdout) != 0;
}
