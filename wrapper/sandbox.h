/* sandbox.h - one render's confinement: built once in the parent (Landlock, seccomp, user, limits,
 * the I/O wrapper's environment), entered in the child between vfork and exec with system calls only. */
#ifndef HOTFARM_SANDBOX_H
#define HOTFARM_SANDBOX_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SANDBOX_PATHS 64 /* at most this many ro and rw paths each */

/* What a render may do. Paths are full paths; the strings are the
 * caller's and must outlive sandbox_build only. */
struct sandbox_request {
	const char *root;  /* the one folder it may write */
	const char *files; /* the job's files, read-only (the wrapper maps absolute paths
			    * into it); NULL: none */
	const char *ro[SANDBOX_PATHS], *rw[SANDBOX_PATHS];
	int nro, nrw;
	unsigned long long cpu, mem, fsize; /* RLIMIT_CPU (seconds), _AS, _FSIZE (bytes); 0: none */
	const char *user;                   /* become this user (needs root), or NULL */
	bool network;                       /* false: no socket() at all (socketpair(AF_UNIX) stays) */
	const char *wrapper;                /* libhfwrap.so to preload, or NULL */
	const char *program;                /* what will run, for the log line only (NULL: "the program") */
};

/* Built by sandbox_build; read-only afterwards (the child reads it under
 * vfork, in the parent's memory). */
struct sandbox {
	int abi;                     /* the kernel's Landlock ABI; below 1: none */
	int ruleset;                 /* the Landlock ruleset (O_CLOEXEC), -1 without */
	unsigned long long fs_read;  /* the read rights this ruleset handles (for /proc/self) */
	int nlimits, resource[4];    /* the rlimits to set: RESOURCE[i] to LIMIT[i] */
	unsigned long long limit[4];
	bool become;                 /* set groups, gid and uid below */
	uid_t uid;
	gid_t gid, *groups;
	size_t ngroups;
	struct sock_fprog seccomp;   /* the filter the child loads */
	char *wrapper;               /* the I/O wrapper preloaded, or NULL */
	char *vars[5];               /* HOTFARM_JOB_ROOT=, _JOB_FILES=, then with the wrapper
				      * HOTFARM_WRAP_RO= and _WRAP_RW=; NULL-ended */
	char *said;                  /* the log line */
};

/* In the parent: check the root, look the user up, open the paths and build
 * the Landlock ruleset for this kernel's ABI (none with
 * HOTFARM_NO_LANDLOCK=1), build the seccomp program, make the wrapper's
 * environment (no wrapper with HOTFARM_NO_WRAP set or when it is not
 * readable). 0, or -1 with a sentence in ERR and nothing left to free. */
int sandbox_build(const struct sandbox_request *req, struct sandbox *sb, char *err, size_t errsize);

/* The child's environment: BASE (NULL-ended) without the variables SB
 * sets, then SB's and, with the wrapper, LD_PRELOAD (it before BASE's own).
 * One malloc'd block that points into BASE and SB: free() it when the
 * child has exec'd; NULL when out of memory. */
char **sandbox_env(const struct sandbox *sb, char *const *base);

/* In the child, after vfork or fork, before exec: rlimits, read access to
 * its own /proc/PID (added to the ruleset, so one sandbox serves one
 * child), groups/gid/uid, no_new_privs, Landlock, the seccomp filter.
 * System calls only: no malloc, stdio or locks (under vfork the child runs
 * in the parent's memory; a multithreaded parent's setuid() wrapper would
 * signal the parent's threads). 0, or -1 with errno and *STEP (when not
 * NULL) naming the call that failed. */
int sandbox_enter(const struct sandbox *sb, const char **step);

/* The CPU-time ceiling (RLIMIT_CPU, seconds; 0: none) for the next child
 * that enters SB: a sandbox may serve several. 0, or -1 when SB has no
 * room for another limit. */
int sandbox_set_cpu(struct sandbox *sb, unsigned long long seconds);

/* The first line of the frame log, without its newline: what the render
 * is allowed ("hf-confine: Landlock ABI 7 and the I/O wrapper: read-write
 * ...; no network ..."). */
const char *sandbox_said(const struct sandbox *sb);

/* Close the ruleset and free what sandbox_build made (in the parent). */
void sandbox_free(struct sandbox *sb);

#endif
