/* watch.h - inotify on a few flat spool folders, through libinotifytools,
 * owned by one thread that passes events on through a pipe: the library
 * keeps global state and its next_event blocks even when asked not to. */
#ifndef HOTFARM_WATCH_H
#define HOTFARM_WATCH_H

#include <stdbool.h>
#include <stdint.h>

struct watch_event {
	int8_t dir;     /* index into the folders given to watch_start, -1: overflow */
	uint32_t mask;  /* IN_* */
	char name[256];
};

/* Watch ROOT/DIRS[i] for MASK. Returns the read end of the event pipe, or
 * -1 (with a warning) when inotify cannot be used: rely on rescans then.
 * Call once per process. */
int watch_start(const char *root, const char *const dirs[], int n, uint32_t mask);
/* Read one event when the pipe is readable: 1 read, 0 none waiting,
 * -1 the watching thread stopped. */
int watch_read(int fd, struct watch_event *ev);

#endif
