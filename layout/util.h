/* util.h - the small ground every hotfarm program stands on: messages and
 * exit codes, memory, clocks, atomic file writes, safe names and paths. */
#ifndef HOTFARM_UTIL_H
#define HOTFARM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Exit codes are a contract (daemontools style). */
enum {
	EXIT_OK = 0,
	EXIT_BADINPUT = 100, /* permanent: bad input or usage */
	EXIT_WAIT = 101,     /* intake: not complete yet, ask again later */
	EXIT_TEMPFAIL = 111, /* temporary: a system call failed, try again */
};

extern const char *progname;

void msg_init(const char *name);
/* A spooler started by watcherd (HOTFARM_PARENT names it) dies with it
 * and stamps its messages; recovery cleans up after it. */
void spooler_start(void);
/* Daemons' messages are key=value lines (time, level, prog, job, frame,
 * msg) for the journal or a log file; otherwise "PROG: text". */
void msg_timestamps(bool on);
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* the same about JOB (and FRAME, or -1) alone */
void sayj(const char *job, long frame, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void warnj(const char *job, long frame, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
_Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void die_errno(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Attributes for a child process: default signal handling, nothing
 * blocked, a process group of its own (so it can be killed whole). */
#include <spawn.h>
/* A daemon's signals: SIGTERM, SIGINT, SIGCHLD and SIGHUP are blocked and
 * come through the signalfd returned; SIGPIPE and SIGIO are ignored. */
int signals_fd(void);
void spawn_attr_child(posix_spawnattr_t *at);

/* A growable string. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_add(struct buf *b, const char *s, size_t n);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* A growable list of strings. */
struct strlist {
	char **v;
	size_t n, cap;
};
void strlist_add(struct strlist *l, const char *s);
void strlist_take(struct strlist *l, char *s);
bool strlist_has(const struct strlist *l, const char *s);
/* Remove every S from L. */
void strlist_remove(struct strlist *l, const char *s);
void strlist_sort(struct strlist *l);
void strlist_free(struct strlist *l);

int64_t now_us(void);   /* wall clock, microseconds since the epoch */
int64_t mono_us(void);  /* monotonic clock, microseconds */
void time_iso(int64_t us, char out[32]); /* 2026-11-22T02:17:09Z */

/* Whether writes are flushed to the disk (fsync) before they are renamed
 * into place; on by default, off for throwaway spools in tests. */
extern bool sync_writes;
int fsync_dir(int dirfd);

/* The one way a spool path is opened: PATH resolved beneath DIRFD, never
 * through a symlink nor up out of it (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS; without openat2, a walk part by part with
 * O_NOFOLLOW), O_CLOEXEC always. AT_FDCWD or an absolute PATH: the farm's
 * own paths, opened with O_NOFOLLOW on the last part only. */
int open_beneath(int dirfd, const char *path, int flags, mode_t mode);
/* The same for a file a job, an artist or a peer could have touched: opened
 * non-blocking (a FIFO cannot stall us) and refused unless regular. */
int open_regular(int dirfd, const char *path, int flags);
/* FD kept when it is a regular file (its stat into ST, when not NULL),
 * else closed: -1 with errno (EINVAL; FD < 0: errno as it was). */
int fd_regular(int fd, struct stat *st);
/* One packet of LEN bytes on the SOCK_SEQPACKET socket SOCK carrying the
 * descriptor FD along (SCM_RIGHTS): 0, or -1 with errno. */
int packet_send_fd(int sock, const void *buf, size_t len, int fd);
/* The next such packet into BUF (at most SIZE bytes), its descriptor into
 * *FD (close-on-exec; -1 when none came): its length, 0 at the end, -1
 * with errno. */
ssize_t packet_recv_fd(int sock, void *buf, size_t size, int *fd);
/* Write NAME in DIRFD atomically: a temporary name, flush, rename.
 * Returns 0 or -1 with errno set. */
int file_write_atomic(int dirfd, const char *name, const char *data, size_t len, mode_t mode);
/* Read a whole small regular file (at most MAX bytes, no symlinks).
 * Returns a NUL-terminated buffer or NULL with errno set. */
char *file_read_small(int dirfd, const char *name, size_t max, size_t *len);

/* Open PATH below DIRFD (".": DIRFD itself) for listing, without
 * following a symlink; NULL with errno on failure. */
#include <dirent.h>
DIR *dir_open(int dirfd, const char *path);
/* The names in folder PATH below DIRFD that do not start with '.' (the
 * temporary and private ones), added to OUT unsorted. 0, or -1 with errno
 * when the folder cannot be listed. */
int dir_names(int dirfd, const char *path, struct strlist *out);
/* Every name in folder DIRFD (hidden ones too; not . and ..) added to OUT,
 * unsorted. -1 with errno. */
int dir_entries(int dirfd, struct strlist *out);
/* Whether folder PATH holds any such name (false when it cannot be read). */
bool dir_has_names(int dirfd, const char *path);
/* S in lower case, in place (ASCII: site names, ini names) */
void str_lower(char *s);

/* Remove a directory tree below DIRFD without following symlinks. */
int tree_remove(int dirfd, const char *name);
/* Take an exclusive flock on FD, trying again until TIMEOUT_MS have
 * passed: a lock someone else holds never stalls a daemon for ever.
 * -1 with ETIMEDOUT then. */
int lock_take(int fd, int timeout_ms);
/* Open (made when missing) lock file NAME beneath DIRFD, non-blocking and
 * only if regular, and take it as lock_take does: its descriptor (the
 * lock goes with it), or -1 with errno. */
int lock_open(int dirfd, const char *name, int timeout_ms);
/* The same for a lock held for moments only (run/events.lock): tried
 * every 0.1 to 1.6 ms, so that a waiter is not passed over for long. */
int lock_open_brief(int dirfd, const char *name, int timeout_ms);

/* Names: turn anything a user typed into a readable job name of
 * [A-Za-z0-9._-], at most 64 bytes, never starting with '.' or '-'. */
void name_sanitize(const char *in, char *out, size_t outsize);
bool name_is_valid(const char *s);
/* Escape untrusted text for one line of a terminal or log. */
void text_escape(const char *in, char *out, size_t outsize);

/* Parse a decimal integer with range and trailing-garbage checks. */
bool parse_long(const char *s, long min, long max, long *out);
/* Parse a byte size: 20G, 512M, 1024 (suffixes K M G T are binary). */
bool parse_bytes(const char *s, unsigned long long *out);
/* Parse a duration: 90, 90s, 5m, 2h, 1d. */
bool parse_seconds(const char *s, long max, long *out);

/* A relative path that stays inside its root: no empty, '.', '..'
 * components, no leading '/', no control characters. */
bool path_is_inside(const char *path);
bool has_suffix(const char *s, const char *suffix); /* case-insensitive */
/* A 64-bit FNV-1a hash of S: a short, stable name for longer text. */
uint64_t text_hash(const char *s);
void human_bytes(unsigned long long n, char out[32]);

#endif
