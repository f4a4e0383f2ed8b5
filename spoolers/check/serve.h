/* serve.h - how a render agent talks to hf-check --serve over its socket
 * (SOCK_SEQPACKET): one request, one 'P' reply, one 'S' when it ends. */
#ifndef HOTFARM_CHECK_SERVE_H
#define HOTFARM_CHECK_SERVE_H

#include <sys/types.h>

/* A request is words, each ending in a NUL, in one packet carrying one
 * descriptor (SCM_RIGHTS), where the check's words go: the request's
 * number (decimal, not 0), the job it is for (its checks share a
 * process), then hf-check's arguments. The server answers 'P' with the
 * pid of the process checking it (0 and STATUS an errno when none could
 * start), and 'S' with the check's wait status once it ended; both carry
 * the request's number. The pid leads a process group of its own, and
 * may check the same job's next frames: killing it ends its check. */
struct check_reply {
	char kind; /* 'P': started, 'S': ended */
	pid_t pid;
	int status;
	unsigned seq;
};

#endif
