/* preload.c - libhfwrap.so, the I/O wrapper hf-confine preloads into every
 * render: an absolute path the job shipped a copy of
 * (HOTFARM_JOB_FILES/PATH) opens that copy (path mapping, written to the
 * frame log once per path);
 * reads outside the job folder and the allowed system paths, and writes
 * outside the job folder, fail with EACCES and are logged. Landlock (set by
 * hf-confine) enforces the same below it for what this cannot see: static
 * programs, raw system calls. Environment: HOTFARM_JOB_ROOT (the folder
 * it may write), HOTFARM_JOB_FILES (the job's files, for the copies),
 * HOTFARM_WRAP_RO and HOTFARM_WRAP_RW (paths allowed besides it,
 * for reading and for both, ':' between). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* glibc's internal entry points that programs built against it call */
int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);
int __xstat(int, const char *, struct stat *);
int __lxstat(int, const char *, struct stat *);
int __xstat64(int, const char *, struct stat64 *);
int __lxstat64(int, const char *, struct stat64 *);
int __fxstatat(int, int, const char *, struct stat *, int);
int __fxstatat64(int, int, const char *, struct stat64 *, int);

static char root[PATH_MAX], files[PATH_MAX];
static size_t rootlen;
static char *ro[64], *rw[64];
static size_t rolen[64], rwlen[64];
static int nro, nrw;
static bool active;
static __thread int inside; /* our own calls pass straight through */

/* ---- the log: the frame log is our stderr ---- */
static void note(const char *what, const char *path, const char *to)
{
	char line[PATH_MAX * 2 + 64];
	int n = to ? snprintf(line, sizeof line, "hf-wrap: %s %s -> %s\n", what, path, to)
		   : snprintf(line, sizeof line, "hf-wrap: %s %s\n", what, path);
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Paths mapped already: logged once each. */
static char *mapped_seen[256];
static int nmapped;

/* The paths of LIST (':' between, absolute ones only, trailing '/'
 * dropped) into V and LENS, copied into a static arena: no malloc at
 * start-up (most renders would not otherwise set up a heap this early). */
static char arena[16384];
static size_t arena_used;

static void paths_read(const char *list, char **v, size_t *lens, int *n)
{
	for (const char *p = list; p && *p && *n < 64;) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (p[0] == '/' && arena_used + len + 1 <= sizeof arena) {
			char *c = arena + arena_used;
			memcpy(c, p, len);
			c[len] = 0;
			arena_used += len + 1;
			while (len > 1 && c[len - 1] == '/')
				c[--len] = 0;
			v[*n] = c;
			lens[(*n)++] = len;
		}
		p = e ? e + 1 : NULL;
	}
}

__attribute__((constructor)) static void wrap_init(void)
{
	const char *r = getenv("HOTFARM_JOB_ROOT");
	if (!r || r[0] != '/' || strlen(r) >= sizeof root)
		return;
	memcpy(root, r, strlen(r) + 1);
	rootlen = strlen(root);
	const char *f = getenv("HOTFARM_JOB_FILES");
	if (f && f[0] == '/' && strlen(f) < sizeof files) /* else no copies to map */
		memcpy(files, f, strlen(f) + 1);
	while (rootlen > 1 && root[rootlen - 1] == '/')
		root[--rootlen] = 0;
	paths_read(getenv("HOTFARM_WRAP_RO"), ro, rolen, &nro);
	paths_read(getenv("HOTFARM_WRAP_RW"), rw, rwlen, &nrw);
	active = true;
}

/* Lexically clean ABS (no ".", "..", "//"), in place. */
static void clean(char *abs)
{
	char out[PATH_MAX];
	size_t n = 0;
	const char *p = abs;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == 1 && p[0] == '.') {
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else if (n + len + 2 < sizeof out) {
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = 0;
	memcpy(abs, out, n + 1);
}

/* The absolute path PATH names, seen from DIRFD (AT_FDCWD: the cwd). */
static bool absolute(int dirfd, const char *path, char out[PATH_MAX])
{
	if (!path)
		return false;
	if (path[0] == '/') {
		snprintf(out, PATH_MAX, "%s", path);
	} else {
		char base[PATH_MAX];
		if (dirfd == AT_FDCWD) {
			if (!getcwd(base, sizeof base))
				return false;
		} else {
			char link[64];
			snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
			ssize_t n = readlink(link, base, sizeof base - 1);
			if (n < 0)
				return false;
			base[n] = 0;
		}
		if (snprintf(out, PATH_MAX, "%s/%s", base, path) >= PATH_MAX)
			return false;
	}
	clean(out);
	return true;
}

static bool beneath(const char *p, const char *dir, size_t len)
{
	return !strncmp(p, dir, len) && (p[len] == 0 || p[len] == '/' || len == 1);
}

enum verdict { PASS, MAP, DENY };

/* What to do with PATH for reading (WRITE false) or writing. A path that
 * exists is judged where it really is (links followed), the job's own
 * links included. MAPPED gets the copy for MAP. */
static enum verdict judge(int dirfd, const char *path, bool write, char mapped[PATH_MAX], char shown[PATH_MAX])
{
	char abs[PATH_MAX], real[PATH_MAX];
	if (!active || inside)
		return PASS;
	inside++; /* what we call ourselves goes straight through */
	enum verdict v = DENY;
	if (!absolute(dirfd, path, abs)) {
		v = PASS; /* no path to judge: the kernel's rules decide */
		goto out;
	}
	snprintf(shown, PATH_MAX, "%s", abs);
	const char *where = realpath(abs, real) ? real : abs;
	/* its folder; and reading the folders above it (getcwd, realpath) */
	if (beneath(where, root, rootlen) || (!write && beneath(root, where, strlen(where)))) {
		v = PASS;
		goto out;
	}
	for (int i = 0; i < nrw; i++)
		if (beneath(where, rw[i], rwlen[i])) {
			v = PASS;
			goto out;
		}
	if (!write)
		for (int i = 0; i < nro; i++)
			if (beneath(where, ro[i], rolen[i])) {
				v = PASS;
				goto out;
			}
	/* a copy the job shipped: files/ + the absolute path */
	struct stat st;
	if (path[0] == '/' && *files && snprintf(mapped, PATH_MAX, "%s%s", files, abs) < PATH_MAX && stat(mapped, &st) == 0)
		v = MAP;
out:
	inside--;
	return v;
}

static const char *decide(int dirfd, const char *path, bool write, char buf[PATH_MAX])
{
	char shown[PATH_MAX];
	switch (judge(dirfd, path, write, buf, shown)) {
	case PASS: return path;
	case MAP: {
		bool seen = false;
		for (int i = 0; i < nmapped; i++)
			if (!strcmp(mapped_seen[i], shown))
				seen = true;
		if (!seen) {
			if (nmapped < 256)
				mapped_seen[nmapped++] = strdup(shown);
			/* shown from the job's folder: files/PATH */
			const char *slash = strrchr(files, '/');
			note("mapped", shown, slash ? buf + (slash - files) + 1 : buf);
		}
		return buf;
	}
	case DENY:
	default:
		note(write ? "denied writing" : "denied reading", shown, NULL);
		errno = EACCES;
		return NULL;
	}
}

/* the real function, looked up once */
#define NEXT(name)                                                              \
	({                                                                      \
		static __typeof__(&name) real_;                                 \
		if (!real_)                                                     \
			real_ = (__typeof__(&name))dlsym(RTLD_NEXT, #name);     \
		real_;                                                          \
	})
static bool wants_write(int flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)); }

/* ---- the open family ---- */
#define OPEN_LIKE(fn)                                                                   \
	EXPORT int fn(const char *path, int flags, ...)                                 \
	{                                                                               \
		mode_t mode = 0;                                                        \
		if (flags & (O_CREAT | O_TMPFILE)) {                                    \
			va_list ap;                                                     \
			va_start(ap, flags);                                            \
			mode = (mode_t)va_arg(ap, int);                                 \
			va_end(ap);                                                     \
		}                                                                       \
		char buf[PATH_MAX];                                                     \
		const char *p = decide(AT_FDCWD, path, wants_write(flags), buf);        \
		return p ? NEXT(fn)(p, flags, mode) : -1;                               \
	}
OPEN_LIKE(open)
OPEN_LIKE(open64)

#define OPENAT_LIKE(fn)                                                                 \
	EXPORT int fn(int dirfd, const char *path, int flags, ...)                      \
	{                                                                               \
		mode_t mode = 0;                                                        \
		if (flags & (O_CREAT | O_TMPFILE)) {                                    \
			va_list ap;                                                     \
			va_start(ap, flags);                                            \
			mode = (mode_t)va_arg(ap, int);                                 \
			va_end(ap);                                                     \
		}                                                                       \
		char buf[PATH_MAX];                                                     \
		const char *p = decide(dirfd, path, wants_write(flags), buf);           \
		return p ? NEXT(fn)(p == buf ? AT_FDCWD : dirfd, p, flags, mode) : -1;   \
	}
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)

EXPORT int __open_2(const char *path, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, wants_write(flags), buf);
	return p ? NEXT(__open_2)(p, flags) : -1;
}
EXPORT int __open64_2(const char *path, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, wants_write(flags), buf);
	return p ? NEXT(__open64_2)(p, flags) : -1;
}
EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, wants_write(flags), buf);
	return p ? NEXT(__openat_2)(p == buf ? AT_FDCWD : dirfd, p, flags) : -1;
}
EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, wants_write(flags), buf);
	return p ? NEXT(__openat64_2)(p == buf ? AT_FDCWD : dirfd, p, flags) : -1;
}
EXPORT int creat(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, true, buf);
	return p ? NEXT(creat)(p, mode) : -1;
}
EXPORT int creat64(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, true, buf);
	return p ? NEXT(creat64)(p, mode) : -1;
}

static bool mode_writes(const char *mode) { return mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+')); }

EXPORT FILE *fopen(const char *path, const char *mode)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, mode_writes(mode), buf);
	return p ? NEXT(fopen)(p, mode) : NULL;
}
EXPORT FILE *fopen64(const char *path, const char *mode)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, mode_writes(mode), buf);
	return p ? NEXT(fopen64)(p, mode) : NULL;
}
EXPORT FILE *freopen(const char *path, const char *mode, FILE *f)
{
	char buf[PATH_MAX];
	const char *p = path ? decide(AT_FDCWD, path, mode_writes(mode), buf) : NULL;
	return p || !path ? NEXT(freopen)(p, mode, f) : NULL;
}
EXPORT FILE *freopen64(const char *path, const char *mode, FILE *f)
{
	char buf[PATH_MAX];
	const char *p = path ? decide(AT_FDCWD, path, mode_writes(mode), buf) : NULL;
	return p || !path ? NEXT(freopen64)(p, mode, f) : NULL;
}

/* ---- the stat family and other reads by name ---- */
#define READ_PATH1(ret, fn, params, args)                                    \
	EXPORT ret fn params                                                 \
	{                                                                    \
		char buf[PATH_MAX];                                          \
		const char *p = decide(AT_FDCWD, path, false, buf);          \
		if (!p)                                                      \
			return (ret)-1;                                      \
		path = p;                                                    \
		return NEXT(fn) args;                                        \
	}
READ_PATH1(int, stat, (const char *path, struct stat *st), (path, st))
READ_PATH1(int, lstat, (const char *path, struct stat *st), (path, st))
READ_PATH1(int, stat64, (const char *path, struct stat64 *st), (path, st))
READ_PATH1(int, lstat64, (const char *path, struct stat64 *st), (path, st))
READ_PATH1(int, access, (const char *path, int how), (path, how))
READ_PATH1(ssize_t, readlink, (const char *path, char *b, size_t n), (path, b, n))
READ_PATH1(int, chdir, (const char *path), (path))

EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, false, buf);
	return p ? NEXT(__xstat)(ver, p, st) : -1;
}
EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, false, buf);
	return p ? NEXT(__lxstat)(ver, p, st) : -1;
}
EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, false, buf);
	return p ? NEXT(__xstat64)(ver, p, st) : -1;
}
EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, false, buf);
	return p ? NEXT(__lxstat64)(ver, p, st) : -1;
}
EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	char buf[PATH_MAX];
	const char *p = (flags & AT_EMPTY_PATH) && !*path ? path : decide(dirfd, path, false, buf);
	return p ? NEXT(fstatat)(p == buf ? AT_FDCWD : dirfd, p, st, flags) : -1;
}
EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	char buf[PATH_MAX];
	const char *p = (flags & AT_EMPTY_PATH) && !*path ? path : decide(dirfd, path, false, buf);
	return p ? NEXT(fstatat64)(p == buf ? AT_FDCWD : dirfd, p, st, flags) : -1;
}
EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, false, buf);
	return p ? NEXT(__fxstatat)(ver, p == buf ? AT_FDCWD : dirfd, p, st, flags) : -1;
}
EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, false, buf);
	return p ? NEXT(__fxstatat64)(ver, p == buf ? AT_FDCWD : dirfd, p, st, flags) : -1;
}
EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *st)
{
	char buf[PATH_MAX];
	const char *p = (flags & AT_EMPTY_PATH) && !*path ? path : decide(dirfd, path, false, buf);
	return p ? NEXT(statx)(p == buf ? AT_FDCWD : dirfd, p, flags, mask, st) : -1;
}
EXPORT int faccessat(int dirfd, const char *path, int how, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, false, buf);
	return p ? NEXT(faccessat)(p == buf ? AT_FDCWD : dirfd, p, how, flags) : -1;
}
EXPORT ssize_t readlinkat(int dirfd, const char *path, char *b, size_t n)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, false, buf);
	return p ? NEXT(readlinkat)(p == buf ? AT_FDCWD : dirfd, p, b, n) : -1;
}
EXPORT DIR *opendir(const char *path)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, false, buf);
	return p ? NEXT(opendir)(p) : NULL;
}

/* ---- changes by name: only inside the job folder ---- */
#define WRITE_PATH1(fn, params, args)                                        \
	EXPORT int fn params                                                 \
	{                                                                    \
		char buf[PATH_MAX];                                          \
		const char *p = decide(AT_FDCWD, path, true, buf);           \
		if (!p)                                                      \
			return -1;                                           \
		path = p;                                                    \
		return NEXT(fn) args;                                        \
	}
WRITE_PATH1(mkdir, (const char *path, mode_t m), (path, m))
WRITE_PATH1(unlink, (const char *path), (path))
WRITE_PATH1(rmdir, (const char *path), (path))
WRITE_PATH1(truncate, (const char *path, off_t n), (path, n))
WRITE_PATH1(truncate64, (const char *path, off64_t n), (path, n))

EXPORT int mkdirat(int dirfd, const char *path, mode_t m)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, true, buf);
	return p ? NEXT(mkdirat)(p == buf ? AT_FDCWD : dirfd, p, m) : -1;
}
EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, true, buf);
	return p ? NEXT(unlinkat)(p == buf ? AT_FDCWD : dirfd, p, flags) : -1;
}
/* two names: both must be inside (a rename or link from outside is a read
 * of it too) */
#define TWO(fn, a, b, call)                                                           \
	{                                                                             \
		char b1[PATH_MAX], b2[PATH_MAX];                                      \
		const char *p1 = decide(a, from, true, b1), *p2 = p1 ? decide(b, to, true, b2) : NULL; \
		if (!p1 || !p2)                                                       \
			return -1;                                                    \
		return call;                                                          \
	}
EXPORT int rename(const char *from, const char *to) TWO(rename, AT_FDCWD, AT_FDCWD, NEXT(rename)(p1, p2))
EXPORT int renameat(int fd1, const char *from, int fd2, const char *to)
	TWO(renameat, fd1, fd2, NEXT(renameat)(p1 == b1 ? AT_FDCWD : fd1, p1, p2 == b2 ? AT_FDCWD : fd2, p2))
EXPORT int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags)
	TWO(renameat2, fd1, fd2, NEXT(renameat2)(p1 == b1 ? AT_FDCWD : fd1, p1, p2 == b2 ? AT_FDCWD : fd2, p2, flags))
EXPORT int link(const char *from, const char *to) TWO(link, AT_FDCWD, AT_FDCWD, NEXT(link)(p1, p2))
EXPORT int linkat(int fd1, const char *from, int fd2, const char *to, int flags)
	TWO(linkat, fd1, fd2, NEXT(linkat)(p1 == b1 ? AT_FDCWD : fd1, p1, p2 == b2 ? AT_FDCWD : fd2, p2, flags))
EXPORT int symlink(const char *target, const char *path)
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, true, buf);
	return p ? NEXT(symlink)(target, p) : -1;
}
EXPORT int symlinkat(const char *target, int dirfd, const char *path)
{
	char buf[PATH_MAX];
	const char *p = decide(dirfd, path, true, buf);
	return p ? NEXT(symlinkat)(target, p == buf ? AT_FDCWD : dirfd, p) : -1;
}

/* ---- exec: a program is read ---- */
EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, false, buf);
	return p ? NEXT(execve)(p, argv, envp) : -1;
}
EXPORT int execv(const char *path, char *const argv[])
{
	char buf[PATH_MAX];
	const char *p = decide(AT_FDCWD, path, false, buf);
	return p ? NEXT(execv)(p, argv) : -1;
}
EXPORT int execvp(const char *file, char *const argv[])
{
	char buf[PATH_MAX];
	const char *p = strchr(file, '/') ? decide(AT_FDCWD, file, false, buf) : file;
	return p ? NEXT(execvp)(p, argv) : -1;
}
EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	char buf[PATH_MAX];
	const char *p = strchr(file, '/') ? decide(AT_FDCWD, file, false, buf) : file;
	return p ? NEXT(execvpe)(p, argv, envp) : -1;
}

/* execl, execlp, execle: glibc runs them on its internal execve, which no
 * preload sees; so they are taken here, as arrays, into the calls above */
static char **list_args(const char *arg0, va_list ap, char ***envp)
{
	size_t n = 1, cap = 16;
	char **v = malloc(cap * sizeof *v);
	if (!v)
		return NULL;
	v[0] = (char *)arg0;
	for (;;) {
		char *a = arg0 ? va_arg(ap, char *) : NULL;
		if (n + 1 >= cap) {
			char **w = realloc(v, (cap *= 2) * sizeof *v);
			if (!w) {
				free(v);
				return NULL;
			}
			v = w;
		}
		v[n++] = a;
		if (!a)
			break;
	}
	if (envp)
		*envp = va_arg(ap, char **);
	return v;
}
EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **v = list_args(arg, ap, NULL);
	va_end(ap);
	int rc = v ? execv(path, v) : -1;
	free(v);
	return rc;
}
EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **v = list_args(arg, ap, NULL);
	va_end(ap);
	int rc = v ? execvp(file, v) : -1;
	free(v);
	return rc;
}
EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	va_start(ap, arg);
	char **v = list_args(arg, ap, &envp);
	va_end(ap);
	int rc = v ? execve(path, v, envp) : -1;
	free(v);
	return rc;
}
