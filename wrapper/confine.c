/* confine.c - hf-confine: run one render (or any program an admin wants to
 * try) confined to its job folder: a Landlock ruleset (read-only: the
 * system's program and library folders, a few named files, the package's
 * paths; read-write: the job folder; nothing else; no TCP, no signals or
 * abstract sockets outside the render where the kernel can), no_new_privs,
 * rlimits, maybe another Unix user, then exec. Without Landlock it still
 * runs and says so. Says on stderr (the frame log) what it allowed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Rights newer than Debian 12's headers */
#define LL_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND (1ULL << 0)   /* ABI 4 */
#define LL_NET_CONNECT (1ULL << 1)
#define LL_SCOPE_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr {
	uint64_t handled_access_fs, handled_access_net, scoped;
};
struct ll_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_EXECUTE)
#define FS_FILE_ONLY                                                                                          \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | LL_TRUNCATE | \
	 LL_IOCTL_DEV)

static const char *const system_ro[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	/* what the dynamic loader, libc and fontconfig read */
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group",
	"/etc/nsswitch.conf", "/etc/fonts", "/etc/alternatives",
	"/dev/zero", "/dev/urandom", "/dev/random", "/proc/self", "/proc/cpuinfo", "/proc/meminfo",
	"/sys/devices/system/cpu", NULL};
static const char *const system_rw[] = {"/dev/null", NULL};

static uint64_t fs_handled;
static int abi;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "hf-confine: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "hf-confine: fatal: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(111);
}

/* Allow RIGHTS beneath PATH (a file gets only the rights a file can have).
 * A path that does not exist is skipped: not every system has /lib32. */
static int allow(int ruleset, const char *path, uint64_t rights)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		rights &= FS_FILE_ONLY;
	struct ll_path_beneath pb = {.allowed_access = rights & fs_handled, .parent_fd = fd};
	int rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* Become PW's user (when given), then set no_new_privs. */
static void become(const struct passwd *pw)
{
	if (pw && (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0))
		fail("unable to become %s: %s", pw->pw_name, strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("no_new_privs: %s", strerror(errno));
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: hf-confine --root DIR [--files DIR] [--ro PATH]... [--rw PATH]... [--cpu SECONDS]\n"
		"                  [--mem BYTES] [--fsize BYTES] [--user NAME] -- PROGRAM ARGS...\n"
		"Run PROGRAM confined: it may read the system's program and library folders\n"
		"(and each --ro PATH), read and write DIR (and each --rw PATH), nothing else;\n"
		"an absolute path it opens that the job shipped a copy of in --files (read-only;\n"
		"DIR/files when not given) opens that copy;\n"
		"no TCP and no signals out of it where the kernel's Landlock can say so; no new\n"
		"privileges; the limits given. As root, --user runs it as that user.\n"
		"Exit: the program's; 100 usage; 111 confinement could not be set up.\n");
	exit(code);
}

static unsigned long long number(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		fail("%s must be a whole number, not '%s'", what, s);
	switch (*end) {
	case 'K': v <<= 10, end++; break;
	case 'M': v <<= 20, end++; break;
	case 'G': v <<= 30, end++; break;
	}
	if (*end)
		fail("%s must be a whole number (K, M, G allowed), not '%s'", what, s);
	return v;
}

static void limit(int resource, unsigned long long v)
{
	struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
	if (setrlimit(resource, &rl) < 0)
		fail("setrlimit: %s", strerror(errno));
}

/* What the command line asks for. */
struct confine_request {
	const char *root, *files, *user;
	const char *ro[64], *rw[64];
	int nro, nrw;
	unsigned long long cpu, mem, fsize;
	char **program; /* the program's argv, from PROGRAM on */
};

static void confine_parse_args(int argc, char **argv, struct confine_request *req)
{
	static const struct option opts[] = {{"root", required_argument, 0, 'r'}, {"ro", required_argument, 0, 'o'},
					     {"rw", required_argument, 0, 'w'},   {"cpu", required_argument, 0, 'c'},
					     {"files", required_argument, 0, 'F'},
					     {"mem", required_argument, 0, 'm'},  {"fsize", required_argument, 0, 'f'},
					     {"user", required_argument, 0, 'u'}, {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	*req = (struct confine_request){0};
	int c;
	/* "+": options end at PROGRAM, whose own options are its business */
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'r': req->root = optarg; break;
		case 'F':
			if (req->nro == 64)
				fail("at most 64 --ro");
			req->files = req->ro[req->nro++] = optarg;
			break;
		case 'o':
			if (req->nro == 64)
				fail("at most 64 --ro");
			req->ro[req->nro++] = optarg;
			break;
		case 'w':
			if (req->nrw == 64)
				fail("at most 64 --rw");
			req->rw[req->nrw++] = optarg;
			break;
		case 'c': req->cpu = number(optarg, "--cpu"); break;
		case 'm': req->mem = number(optarg, "--mem"); break;
		case 'f': req->fsize = number(optarg, "--fsize"); break;
		case 'u': req->user = optarg; break;
		case 'h': usage(0); break;
		default: usage(100);
		}
	}
	if (!req->root || optind >= argc)
		usage(100);
	struct stat st;
	if (req->root[0] != '/' || stat(req->root, &st) < 0 || !S_ISDIR(st.st_mode))
		fail("--root must be an existing folder given by its full path, not '%s'", req->root);
	req->program = argv + optind;
}

/* No core files ever; CPU, address space and file size when asked for. */
static void confine_set_limits(const struct confine_request *req)
{
	limit(RLIMIT_CORE, 0);
	if (req->cpu)
		limit(RLIMIT_CPU, req->cpu);
	if (req->mem)
		limit(RLIMIT_AS, req->mem);
	if (req->fsize)
		limit(RLIMIT_FSIZE, req->fsize);
}

/* --user's account, looked up before any rule is made: a wrong name, or a
 * caller who is not root, stops here with exit 111. */
static struct passwd *confine_find_user(const char *user)
{
	if (!user)
		return NULL;
	struct passwd *pw = getpwnam(user);
	if (!pw)
		fail("no user '%s'", user);
	if (geteuid() != 0)
		fail("--user needs root (hf-confine runs as uid %ld)", (long)geteuid());
	return pw;
}

/* PATHS (NULL-ended) and the N paths of MORE, each followed by ':', then
 * LAST when given: a path list as the I/O wrapper reads it. */
static char *confine_path_list(const char *const *paths, const char *const *more, int n, const char *last)
{
	size_t len = 0;
	for (const char *const *p = paths; *p; p++)
		len += strlen(*p) + 1;
	for (int i = 0; i < n; i++)
		len += strlen(more[i]) + 1;
	if (last)
		len += strlen(last) + 1;
	char *list = calloc(1, len + 1);
	for (const char *const *p = paths; *p; p++)
		strcat(strcat(list, *p), ":");
	for (int i = 0; i < n; i++)
		strcat(strcat(list, more[i]), ":");
	if (last)
		strcat(list, last);
	return list;
}

/* The I/O wrapper beside this program (path mapping and named denials):
 * preloaded into the program, with the paths it lets through in the
 * environment. Its path goes to LIB, for the Landlock rules; true when it
 * is used. HOTFARM_NO_WRAP leaves it out. */
static bool confine_preload_wrapper(const struct confine_request *req, char *lib, size_t libsize)
{
	char self[4096];
	ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sn <= 0)
		return false;
	self[sn] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	snprintf(lib, libsize, "%s/libhfwrap.so", self);
	if (access(lib, R_OK) != 0 || getenv("HOTFARM_NO_WRAP"))
		return false;
	const char *old = getenv("LD_PRELOAD");
	char *pre = malloc(strlen(lib) + (old ? strlen(old) : 0) + 2);
	sprintf(pre, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	free(pre);
	char *list = confine_path_list(system_ro, req->ro, req->nro, lib);
	setenv("HOTFARM_WRAP_RO", list, 1);
	free(list);
	list = confine_path_list(system_rw, req->rw, req->nrw, NULL);
	setenv("HOTFARM_WRAP_RW", list, 1);
	free(list);
	return true;
}

/* The kernel's Landlock ABI version, below 1 (errno saying why) when it
 * has none. HOTFARM_NO_LANDLOCK=1 behaves as a kernel without it (to test
 * that path). */
static int confine_landlock_abi(void)
{
	const char *nl = getenv("HOTFARM_NO_LANDLOCK");
	if (nl && !strcmp(nl, "1")) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/* A ruleset that handles every right this kernel's ABI knows, so that
 * whatever no rule allows is denied. */
static int confine_ruleset_create(void)
{
	fs_handled = (1ULL << 13) - 1; /* ABI 1: execute .. make_sym */
	if (abi >= 2)
		fs_handled |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs_handled |= LL_TRUNCATE;
	if (abi >= 5)
		fs_handled |= LL_IOCTL_DEV;
	struct ll_ruleset_attr attr = {.handled_access_fs = fs_handled};
	/* network rights from ABI 4, scopes from ABI 6: an older kernel
	 * refuses fields it does not know */
	size_t size = sizeof attr.handled_access_fs;
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND | LL_NET_CONNECT;
		size += sizeof attr.handled_access_net;
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_UNIX | LL_SCOPE_SIGNAL;
		size += sizeof attr.scoped;
	}
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rs < 0)
		fail("landlock_create_ruleset: %s", strerror(errno));
	return rs;
}

/* What the render may touch: its job folder and the --rw paths read-write,
 * the system's folders, the wrapper and the --ro paths read-only. */
static void confine_ruleset_fill(int rs, const struct confine_request *req, bool wrapped, const char *lib)
{
	/* the job folder: everything but device nodes */
	uint64_t rwr = fs_handled & ~(uint64_t)(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
	if (allow(rs, req->root, rwr) < 0)
		fail("unable to allow %s: %s", req->root, strerror(errno));
	for (const char *const *p = system_ro; *p; p++)
		if (allow(rs, *p, FS_READ) < 0)
			fail("unable to allow %s: %s", *p, strerror(errno));
	for (const char *const *p = system_rw; *p; p++)
		if (allow(rs, *p, FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LL_TRUNCATE) < 0)
			fail("unable to allow %s: %s", *p, strerror(errno));
	if (wrapped && allow(rs, lib, FS_READ) < 0)
		fail("unable to allow %s: %s", lib, strerror(errno));
	for (int i = 0; i < req->nro; i++)
		if (allow(rs, req->ro[i], FS_READ) < 0)
			fail("unable to allow %s: %s", req->ro[i], strerror(errno));
	for (int i = 0; i < req->nrw; i++)
		if (allow(rs, req->rw[i], rwr) < 0)
			fail("unable to allow %s: %s", req->rw[i], strerror(errno));
}

/* The first line of the frame log: what the render was allowed. */
static void confine_report(const struct confine_request *req, bool wrapped)
{
	char extra[1024] = "";
	size_t n = 0;
	for (int i = 0; i < req->nro && n < sizeof extra - 1; i++)
		n += (size_t)snprintf(extra + n, sizeof extra - n, " %s", req->ro[i]);
	say("Landlock ABI %d%s: read-write %s%s; read-only the system folders%s%s; %s%s", abi,
	    wrapped ? " and the I/O wrapper" : "", req->root, req->nrw ? " (and --rw paths)" : "",
	    req->nro ? " and" : "", extra, abi >= 4 ? "no TCP" : "TCP not restricted (Landlock ABI < 4)",
	    abi >= 6 ? ", no signals or abstract sockets out" : "");
}

/* Landlock's rules made, PW's user become (with no_new_privs), then the
 * rules applied for good. */
static void confine_landlock(const struct confine_request *req, const struct passwd *pw, bool wrapped,
			     const char *lib)
{
	int rs = confine_ruleset_create();
	confine_ruleset_fill(rs, req, wrapped, lib);
	/* the rules are made (as whoever may open the paths); now the
	 * user, no new privileges, then the rules hold for good */
	become(pw);
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		fail("landlock_restrict_self: %s", strerror(errno));
	close(rs);
	confine_report(req, wrapped);
}

/* The order matters and is kept: limits, the user looked up, the wrapper's
 * environment, the Landlock rules, then the user and no_new_privs, then the
 * rules enforced, then exec. */
int main(int argc, char **argv)
{
	struct confine_request req;
	confine_parse_args(argc, argv, &req);
	/* limits first: they hold whatever follows */
	confine_set_limits(&req);
	struct passwd *pw = confine_find_user(req.user);
	setenv("HOTFARM_JOB_ROOT", req.root, 1);
	char files[4200];
	snprintf(files, sizeof files, "%s/files", req.root);
	setenv("HOTFARM_JOB_FILES", req.files ? req.files : files, 1);
	char lib[4200];
	bool wrapped = confine_preload_wrapper(&req, lib, sizeof lib);

	abi = confine_landlock_abi();
	if (abi < 1) {
		say("this kernel has no Landlock (%s); %s runs %s", strerror(errno), req.program[0],
		    wrapped ? "confined by the I/O wrapper alone (programs that bypass libc are not held)"
			    : "unconfined (and the I/O wrapper is missing)");
	} else {
		confine_landlock(&req, pw, wrapped, lib);
	}
	if (abi < 1)
		become(pw);
	execvp(req.program[0], req.program);
	fail("unable to run %s: %s", req.program[0], strerror(errno));
}
