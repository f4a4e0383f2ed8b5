/* serve.h - how a render agent talks to hf-check --serve over its socket
 * (SOCK_SEQPACKET): one request, one 'P' reply, one 'S' when it ends. */
#ifndef HOTFARM_CHECK_SERVE_H
#define HOTFARM_CHECK_SERVE_H

#include <sys/types.h>

/* A request is hf-check's arguments, each ending in a NUL, in one packet
 * carrying one descriptor (SCM_RIGHTS): where the check's words go.
 * The server answers 'P' with the pid of the process checking it (0 and
 * STATUS an errno when none could start), and 'S' with its wait status
 * once it ended. The pid leads a process group of its own. */
struct check_reply {
	char kind; /* 'P': started, 'S': ended */
	pid_t pid;
	int status;
};

#endif
