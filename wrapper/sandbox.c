/* sandbox.c - a render's confinement: Landlock (what it may read and write), seccomp (no sockets unless asked,
 * no io_uring, ptrace, mounts, namespaces...), rlimits, another user; built in the parent, entered in the child. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

/* What every render may read. /proc/self is the child's own: sandbox_enter
 * allows it (opened here it would be the parent's). */
static const char *const system_ro[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	/* what the dynamic loader, libc and fontconfig read */
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group",
	"/etc/nsswitch.conf", "/etc/fonts", "/etc/alternatives",
	"/dev/zero", "/dev/urandom", "/dev/random", "/proc/self", "/proc/cpuinfo", "/proc/meminfo",
	"/sys/devices/system/cpu", NULL};
static const char *const system_rw[] = {"/dev/null", NULL};

/* System calls no render needs and a way out would: io_uring would go
 * around the socket rule, the rest reach other processes, the mounts, the
 * kernel. ENOSYS where a program should fall back (clone3 to clone). */
static const struct {
	long nr;
	int err;
} seccomp_denied[] = {
	{SYS_io_uring_setup, ENOSYS}, {SYS_io_uring_enter, ENOSYS}, {SYS_io_uring_register, ENOSYS},
	{SYS_clone3, ENOSYS},         {SYS_ptrace, EPERM},          {SYS_process_vm_readv, EPERM},
	{SYS_process_vm_writev, EPERM}, {SYS_pidfd_getfd, EPERM},   {SYS_mount, EPERM},
	{SYS_umount2, EPERM},         {SYS_pivot_root, EPERM},      {SYS_move_mount, EPERM},
	{SYS_open_tree, EPERM},       {SYS_fsopen, EPERM},          {SYS_fsconfig, EPERM},
	{SYS_fsmount, EPERM},         {SYS_fspick, EPERM},          {SYS_mount_setattr, EPERM},
	{SYS_unshare, EPERM},         {SYS_setns, EPERM},           {SYS_bpf, EPERM},
	{SYS_perf_event_open, EPERM}, {SYS_keyctl, EPERM},          {SYS_add_key, EPERM},
	{SYS_request_key, EPERM},     {SYS_kexec_load, EPERM},      {SYS_kexec_file_load, EPERM},
	{SYS_init_module, EPERM},     {SYS_finit_module, EPERM},    {SYS_delete_module, EPERM},
	{SYS_userfaultfd, EPERM},
};
/* clone() with any of these makes a namespace, as unshare would */
static const unsigned long clone_new[] = {CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
					  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

static int fault(char *err, size_t errsize, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fault(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- in the parent ---- */

/* NAME, then the paths of LIST (NULL-ended), FILES, the N of MORE, each
 * with ':' after it, then LAST: a path list as the I/O wrapper reads it. */
static char *path_list(const char *name, const char *const *list, const char *files, const char *const *more,
		       int n, const char *last)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	fputs(name, f);
	for (const char *const *p = list; *p; p++)
		fprintf(f, "%s:", *p);
	if (files)
		fprintf(f, "%s:", files);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s:", more[i]);
	if (last)
		fputs(last, f);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The I/O wrapper, when there is one to preload, and the variables it
 * reads; HOTFARM_JOB_ROOT and _JOB_FILES always (a program may use them). */
static int sandbox_make_vars(const struct sandbox_request *req, struct sandbox *sb)
{
	if (asprintf(&sb->vars[0], "HOTFARM_JOB_ROOT=%s", req->root) < 0 ||
	    asprintf(&sb->vars[1], "HOTFARM_JOB_FILES=%s", req->files ? req->files : "") < 0) {
		sb->vars[0] = sb->vars[1] = NULL;
		return -1;
	}
	if (!req->wrapper || getenv("HOTFARM_NO_WRAP") || access(req->wrapper, R_OK) != 0)
		return 0;
	if (!(sb->wrapper = strdup(req->wrapper)))
		return -1;
	sb->vars[2] = path_list("HOTFARM_WRAP_RO=", system_ro, req->files, req->ro, req->nro, sb->wrapper);
	sb->vars[3] = path_list("HOTFARM_WRAP_RW=", system_rw, NULL, req->rw, req->nrw, NULL);
	return sb->vars[2] && sb->vars[3] ? 0 : -1;
}

/* --user's account, looked up before any rule is made: a wrong name, or a
 * caller who is not root, stops here. (The _r lookup: an agent may build
 * sandboxes in several threads.) */
static int sandbox_find_user(const struct sandbox_request *req, struct sandbox *sb, char *err, size_t errsize)
{
	if (!req->user)
		return 0;
	struct passwd pwbuf, *pw = NULL;
	char text[16384];
	int rc = getpwnam_r(req->user, &pwbuf, text, sizeof text, &pw);
	if (!pw)
		return fault(err, errsize, "no user '%s'%s%s", req->user, rc ? ": " : "", rc ? strerror(rc) : "");
	if (geteuid() != 0)
		return fault(err, errsize, "running as %s needs root (this runs as uid %ld)", req->user, (long)geteuid());
	sb->become = true;
	sb->uid = pw->pw_uid;
	sb->gid = pw->pw_gid;
	int n = 32;
	for (;;) {
		gid_t *g = realloc(sb->groups, (size_t)n * sizeof *g);
		if (!g)
			return fault(err, errsize, "out of memory");
		sb->groups = g;
		int want = n;
		if (getgrouplist(req->user, sb->gid, sb->groups, &want) >= 0) {
			sb->ngroups = (size_t)want;
			return 0;
		}
		if (n >= 65536)
			return fault(err, errsize, "%s is in too many groups", req->user);
		n = want > n ? want : 2 * n;
	}
}

/* No core files ever; CPU, address space and file size when asked for. */
static void sandbox_make_limits(const struct sandbox_request *req, struct sandbox *sb)
{
	const struct {
		int resource;
		unsigned long long v;
	} want[] = {{RLIMIT_CORE, 0}, {RLIMIT_CPU, req->cpu}, {RLIMIT_AS, req->mem}, {RLIMIT_FSIZE, req->fsize}};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (i == 0 || want[i].v) {
			sb->resource[sb->nlimits] = want[i].resource;
			sb->limit[sb->nlimits++] = want[i].v;
		}
}

/* The kernel's Landlock ABI version, below 1 (errno saying why) when it
 * has none. HOTFARM_NO_LANDLOCK=1 behaves as a kernel without it (to test
 * that path). */
static int landlock_abi(void)
{
	const char *nl = getenv("HOTFARM_NO_LANDLOCK");
	if (nl && !strcmp(nl, "1")) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/* The file rights this kernel's ABI knows: a ruleset handles them all, so
 * that whatever no rule allows is denied. */
static uint64_t landlock_fs_handled(int abi)
{
	uint64_t fs = (1ULL << 13) - 1; /* ABI 1: execute .. make_sym */
	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LL_TRUNCATE;
	if (abi >= 5)
		fs |= LL_IOCTL_DEV;
	return fs;
}

/* A ruleset for this kernel's ABI: every file right; TCP bind and connect
 * unless the render may use the network (ABI 4); signals and abstract Unix
 * sockets out of the render (ABI 6). Older kernels refuse fields they do
 * not know, so the attribute is only as long as the ABI has fields. */
static int landlock_create(int abi, bool network)
{
	struct ll_ruleset_attr attr = {.handled_access_fs = landlock_fs_handled(abi)};
	size_t size = sizeof attr.handled_access_fs;
	if (abi >= 4) {
		attr.handled_access_net = network ? 0 : LL_NET_BIND | LL_NET_CONNECT;
		size += sizeof attr.handled_access_net;
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_UNIX | LL_SCOPE_SIGNAL;
		size += sizeof attr.scoped;
	}
	return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
}

/* Allow RIGHTS beneath PATH (a file gets only the rights a file can have).
 * A path that does not exist is skipped: not every system has /lib32. */
static int landlock_allow(int ruleset, int abi, const char *path, uint64_t rights)
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
	struct ll_path_beneath pb = {.allowed_access = rights & landlock_fs_handled(abi), .parent_fd = fd};
	int rc = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* What the render may touch: its root and the rw paths read-write (but
 * device nodes), the system's folders, the job's files, the wrapper and
 * the ro paths read-only. */
static int landlock_fill(const struct sandbox_request *req, const struct sandbox *sb, char *err, size_t errsize)
{
	uint64_t rw = landlock_fs_handled(sb->abi) &
		      ~(uint64_t)(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK);
	struct rule {
		const char *path;
		uint64_t rights;
	} rule[2 * SANDBOX_PATHS + 64];
	size_t n = 0;
	rule[n++] = (struct rule){req->root, rw};
	for (const char *const *p = system_ro; *p; p++)
		if (strcmp(*p, "/proc/self") != 0)
			rule[n++] = (struct rule){*p, FS_READ};
	for (const char *const *p = system_rw; *p; p++)
		rule[n++] = (struct rule){*p, FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LL_TRUNCATE};
	if (sb->wrapper)
		rule[n++] = (struct rule){sb->wrapper, FS_READ};
	if (req->files)
		rule[n++] = (struct rule){req->files, FS_READ};
	for (int i = 0; i < req->nro; i++)
		rule[n++] = (struct rule){req->ro[i], FS_READ};
	for (int i = 0; i < req->nrw; i++)
		rule[n++] = (struct rule){req->rw[i], rw};
	for (size_t i = 0; i < n; i++)
		if (landlock_allow(sb->ruleset, sb->abi, rule[i].path, rule[i].rights) < 0)
			return fault(err, errsize, "unable to allow %s: %s", rule[i].path, strerror(errno));
	return 0;
}

/* The rules that make the seccomp filter (its default: allow). */
static int seccomp_rules(scmp_filter_ctx ctx, bool network)
{
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (size_t i = 0; rc == 0 && i < sizeof seccomp_denied / sizeof seccomp_denied[0]; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO((unsigned)seccomp_denied[i].err), (int)seccomp_denied[i].nr, 0);
	for (size_t i = 0; rc == 0 && i < sizeof clone_new / sizeof clone_new[0]; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_A0_64(SCMP_CMP_MASKED_EQ, clone_new[i], clone_new[i]));
	if (rc == 0 && !network) {
		/* every family: a path-named Unix socket (D-Bus, docker.sock)
		 * reaches as far as a TCP one, and nothing else stops it */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0);
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socketpair), 1,
					      SCMP_A0_32(SCMP_CMP_NE, AF_UNIX));
	}
	return rc;
}

/* The seccomp filter as the kernel takes it. libseccomp 2.5 exports only
 * to a file descriptor: a memfd, read back, so that the child only has to
 * hand the program to the kernel. The native architecture only: another
 * (i386 through int 0x80, x32 numbers) kills the process. */
static int seccomp_build(const struct sandbox_request *req, struct sandbox *sb, char *err, size_t errsize)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return fault(err, errsize, "seccomp_init failed");
	int rc = seccomp_rules(ctx, req->network), fd = -1;
	if (rc < 0) {
		seccomp_release(ctx);
		return fault(err, errsize, "seccomp rules: %s", strerror(-rc));
	}
	fd = memfd_create("hf-seccomp", MFD_CLOEXEC);
	if (fd < 0 || (rc = seccomp_export_bpf(ctx, fd)) < 0) {
		int e = fd < 0 ? errno : -rc;
		if (fd >= 0)
			close(fd);
		seccomp_release(ctx);
		return fault(err, errsize, "seccomp_export_bpf: %s", strerror(e));
	}
	seccomp_release(ctx);
	off_t size = lseek(fd, 0, SEEK_END);
	size_t n = size > 0 ? (size_t)size / sizeof(struct sock_filter) : 0;
	if (n == 0 || n > BPF_MAXINSNS || (size_t)size % sizeof(struct sock_filter)) {
		close(fd);
		return fault(err, errsize, "seccomp_export_bpf wrote %lld bytes", (long long)size);
	}
	sb->seccomp.filter = malloc((size_t)size);
	ssize_t got = sb->seccomp.filter ? pread(fd, sb->seccomp.filter, (size_t)size, 0) : -1;
	int e = errno;
	close(fd);
	if (got != size)
		return fault(err, errsize, "reading the seccomp program back: %s", got < 0 ? strerror(e) : "short read");
	sb->seccomp.len = (unsigned short)n;
	return 0;
}

/* The filter for REQ: made once per process for each of the two there are
 * (with and without the network), then copied; the agent builds a sandbox
 * for every renderer process. */
static int seccomp_make(const struct sandbox_request *req, struct sandbox *sb, char *err, size_t errsize)
{
	static struct sock_fprog made[2];
	struct sock_fprog *m = &made[req->network];
	if (!m->filter) {
		struct sandbox tmp = {0};
		if (seccomp_build(req, &tmp, err, errsize) < 0) {
			free(tmp.seccomp.filter);
			return -1;
		}
		*m = tmp.seccomp;
	}
	size_t size = m->len * sizeof *m->filter;
	sb->seccomp.filter = malloc(size);
	if (!sb->seccomp.filter)
		return fault(err, errsize, "out of memory");
	memcpy(sb->seccomp.filter, m->filter, size);
	sb->seccomp.len = m->len;
	return 0;
}

/* The log line: what the render may do. */
static int sandbox_make_said(const struct sandbox_request *req, struct sandbox *sb, int why_none)
{
	size_t len = 0;
	FILE *f = open_memstream(&sb->said, &len);
	if (!f)
		return -1;
	const char *net = req->network ? "network allowed" : "no network (no sockets but socketpair)";
	const char *guard = "; no io_uring, ptrace, mounts, namespaces, bpf, perf, keyrings or modules";
	if (sb->abi < 1) {
		fprintf(f, "hf-confine: this kernel has no Landlock (%s); %s runs %s; %s%s", strerror(why_none),
			req->program ? req->program : "the program",
			sb->wrapper ? "confined by the I/O wrapper alone (programs that bypass libc are not held)"
				    : "unconfined (and the I/O wrapper is missing)",
			net, guard);
	} else {
		fprintf(f, "hf-confine: Landlock ABI %d%s: read-write %s%s; read-only the system folders%s", sb->abi,
			sb->wrapper ? " and the I/O wrapper" : "", req->root, req->nrw ? " (and --rw paths)" : "",
			req->files || req->nro ? " and" : "");
		if (req->files)
			fprintf(f, " %s", req->files);
		for (int i = 0; i < req->nro; i++)
			fprintf(f, " %s", req->ro[i]);
		fprintf(f, "; %s%s%s", net, sb->abi >= 6 ? ", no signals or abstract sockets out" : "", guard);
	}
	if (fclose(f) != 0) {
		free(sb->said);
		sb->said = NULL;
		return -1;
	}
	return 0;
}

static int sandbox_build_all(const struct sandbox_request *req, struct sandbox *sb, char *err, size_t errsize)
{
	struct stat st;
	if (!req->root || req->root[0] != '/' || stat(req->root, &st) < 0 || !S_ISDIR(st.st_mode))
		return fault(err, errsize, "the root must be an existing folder given by its full path, not '%s'",
			     req->root ? req->root : "");
	if (req->nro < 0 || req->nro > SANDBOX_PATHS || req->nrw < 0 || req->nrw > SANDBOX_PATHS)
		return fault(err, errsize, "at most %d read-only and %d read-write paths", SANDBOX_PATHS, SANDBOX_PATHS);
	if (sandbox_find_user(req, sb, err, errsize) < 0)
		return -1;
	sandbox_make_limits(req, sb);
	if (sandbox_make_vars(req, sb) < 0)
		return fault(err, errsize, "out of memory");
	sb->abi = landlock_abi();
	int why_none = errno;
	if (sb->abi >= 1) {
		sb->fs_read = FS_READ & landlock_fs_handled(sb->abi);
		/* (the kernel makes it O_CLOEXEC: it lasts until the exec) */
		if ((sb->ruleset = landlock_create(sb->abi, req->network)) < 0)
			return fault(err, errsize, "landlock_create_ruleset: %s", strerror(errno));
		if (landlock_fill(req, sb, err, errsize) < 0)
			return -1;
	}
	if (seccomp_make(req, sb, err, errsize) < 0)
		return -1;
	if (sandbox_make_said(req, sb, why_none) < 0)
		return fault(err, errsize, "out of memory");
	return 0;
}

int sandbox_build(const struct sandbox_request *req, struct sandbox *sb, char *err, size_t errsize)
{
	*sb = (struct sandbox){.ruleset = -1};
	if (sandbox_build_all(req, sb, err, errsize) < 0) {
		sandbox_free(sb);
		return -1;
	}
	return 0;
}

char **sandbox_env(const struct sandbox *sb, char *const *base)
{
	static const char preload[] = "LD_PRELOAD=";
	size_t n = 0;
	const char *old = NULL;
	for (char *const *e = base; e && *e; e++, n++)
		if (!strncmp(*e, preload, sizeof preload - 1))
			old = *e + sizeof preload - 1;
	size_t text = sb->wrapper ? sizeof preload + strlen(sb->wrapper) + (old ? strlen(old) + 1 : 0) : 0;
	char **env = malloc((n + 6) * sizeof *env + text);
	if (!env)
		return NULL;
	size_t k = 0;
	for (char *const *e = base; e && *e; e++) {
		bool ours = sb->wrapper && !strncmp(*e, preload, sizeof preload - 1);
		for (char *const *v = sb->vars; *v && !ours; v++)
			ours = !strncmp(*e, *v, (size_t)(strchr(*v, '=') - *v + 1));
		if (!ours)
			env[k++] = *e;
	}
	for (char *const *v = sb->vars; *v; v++)
		env[k++] = *v;
	if (sb->wrapper) {
		char *s = (char *)(env + n + 6);
		snprintf(s, text, "%s%s%s%s", preload, sb->wrapper, old && *old ? ":" : "", old && *old ? old : "");
		env[k++] = s;
	}
	env[k] = NULL;
	return env;
}

int sandbox_set_cpu(struct sandbox *sb, unsigned long long seconds)
{
	for (int i = 0; i < sb->nlimits; i++)
		if (sb->resource[i] == RLIMIT_CPU) {
			if (seconds) {
				sb->limit[i] = seconds;
				return 0;
			}
			for (int k = i + 1; k < sb->nlimits; k++) {
				sb->resource[k - 1] = sb->resource[k];
				sb->limit[k - 1] = sb->limit[k];
			}
			sb->nlimits--;
			return 0;
		}
	if (!seconds)
		return 0;
	if (sb->nlimits == (int)(sizeof sb->resource / sizeof sb->resource[0]))
		return -1;
	sb->resource[sb->nlimits] = RLIMIT_CPU;
	sb->limit[sb->nlimits++] = seconds;
	return 0;
}

const char *sandbox_said(const struct sandbox *sb) { return sb->said ? sb->said : "hf-confine: not confined"; }

void sandbox_free(struct sandbox *sb)
{
	if (sb->ruleset >= 0)
		close(sb->ruleset);
	free(sb->groups);
	free(sb->seccomp.filter);
	free(sb->wrapper);
	for (int i = 0; i < 4; i++)
		free(sb->vars[i]);
	free(sb->said);
	*sb = (struct sandbox){.ruleset = -1};
}

/* ---- in the child: system calls only ---- */

/* Raw calls all through, not the C library's wrappers: nothing in between
 * (a sanitizer's or preloaded interceptor) runs in a vfork child. Their
 * errno is the parent thread's, which vfork leaves waiting. */

/* Its own /proc/PID, which /proc/self names from now on (after exec too). */
static int enter_proc_self(const struct sandbox *sb)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self", O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct ll_path_beneath pb = {.allowed_access = sb->fs_read, .parent_fd = fd};
	int rc = (int)syscall(SYS_landlock_add_rule, sb->ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
	int e = errno;
	syscall(SYS_close, fd);
	errno = e;
	return rc;
}

/* The order is kept from hf-confine: limits; the rules made as whoever may
 * open the paths; then the user (glibc's setuid() would also signal the
 * threads of a vfork child's parent), no new privileges, the rules for
 * good, and the filter last, so that it stops nothing of this. */
int sandbox_enter(const struct sandbox *sb, const char **step)
{
	const char *at = "setrlimit";
	for (int i = 0; i < sb->nlimits; i++) {
		struct rlimit64 rl = {.rlim_cur = sb->limit[i], .rlim_max = sb->limit[i]};
		if (syscall(SYS_prlimit64, 0, sb->resource[i], &rl, NULL) < 0)
			goto failed;
	}
	at = "landlock_add_rule /proc/self";
	if (sb->ruleset >= 0 && enter_proc_self(sb) < 0)
		goto failed;
	if (sb->become) {
		at = "setgroups";
		if (syscall(SYS_setgroups, sb->ngroups, sb->groups) < 0)
			goto failed;
		at = "setresgid";
		if (syscall(SYS_setresgid, sb->gid, sb->gid, sb->gid) < 0)
			goto failed;
		at = "setresuid";
		if (syscall(SYS_setresuid, sb->uid, sb->uid, sb->uid) < 0)
			goto failed;
	}
	at = "no_new_privs";
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
		goto failed;
	at = "landlock_restrict_self";
	if (sb->ruleset >= 0 && syscall(SYS_landlock_restrict_self, sb->ruleset, 0) < 0)
		goto failed;
	at = "seccomp";
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sb->seccomp) < 0)
		goto failed;
	return 0;
failed:
	if (step)
		*step = at;
	return -1;
}
