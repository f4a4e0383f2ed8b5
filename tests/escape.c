/* escape.c - a hostile "renderer" for the confinement tests: run in its job
 * folder (cwd) with OTHER naming a file of another job and OUTSIDE a folder
 * it must not write, it tries every way out it knows and prints one line
 * per attempt: "ok NAME" (it got out) or "blocked NAME: why" (for calls
 * that take several steps, "blocked NAME: CALL: why"). Built twice:
 * dynamically (the preload wrapper sees it) and statically (only the
 * kernel can stop it). The environment names its targets: ESCAPE_PORT (TCP)
 * and ESCAPE_UDP_PORT on 127.0.0.1, ESCAPE_ABSTRACT and ESCAPE_UNIX (Unix
 * sockets), ESCAPE_PID (a process outside); what it sends is ESCAPE_TAG,
 * so that the listener can say who got through. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *other, *outside;
static int escaped;

static void report(const char *name, int ok, int err)
{
	if (ok) {
		escaped++;
		printf("ok %s\n", name);
	} else {
		printf("blocked %s: %s\n", name, strerror(err));
	}
	fflush(stdout);
}

/* An fd that reads: the attempt worked when one byte of the secret comes. */
static void try_fd(const char *name, int fd)
{
	int e = errno;
	char c;
	int ok = fd >= 0 && read(fd, &c, 1) == 1;
	if (fd >= 0 && !ok)
		e = errno;
	if (fd >= 0)
		close(fd);
	report(name, ok, e);
}

static void try_rc(const char *name, int rc) { report(name, rc == 0, errno); }

/* A marker on stderr before each attempt: what the wrapper logs after it
 * (hf-wrap: denied ...) shows which layer stopped the attempt. */
static void begin(const char *name) { fprintf(stderr, "attempt %s\n", name); }
#define TRY_FD(name, expr)               \
	do {                             \
		begin(name);             \
		try_fd(name, (expr));    \
	} while (0)
#define TRY_RC(name, expr)               \
	do {                             \
		begin(name);             \
		try_rc(name, (expr));    \
	} while (0)

/* An attempt of several steps: CALL is the one that failed. */
static void report_at(const char *name, const char *call, int ok, int err)
{
	if (ok) {
		report(name, 1, 0);
	} else {
		printf("blocked %s: %s: %s\n", name, call, strerror(err));
		fflush(stdout);
	}
}

static const char *env_or(const char *name, const char *otherwise)
{
	const char *v = getenv(name);
	return v && *v ? v : otherwise;
}

/* A stream socket of FAMILY connected to A, the tag sent on it. */
static void try_connect(const char *name, int family, const struct sockaddr *a, socklen_t len)
{
	begin(name);
	int s = socket(family, SOCK_STREAM, 0);
	if (s < 0) {
		report_at(name, "socket", 0, errno);
		return;
	}
	int rc = connect(s, a, len), e = errno;
	const char *tag = env_or("ESCAPE_TAG", "escape");
	if (rc == 0 && write(s, tag, strlen(tag)) < 0)
		e = errno, rc = -1;
	report_at(name, "connect", rc == 0, e);
	close(s);
}

/* The ways out seccomp closes: sockets of every kind, io_uring (which
 * would go around them), a user namespace, ptrace of a process outside. */
static void try_beyond_files(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	in.sin_port = htons((uint16_t)atoi(env_or("ESCAPE_PORT", "9")));
	try_connect("tcp-connect", AF_INET, (struct sockaddr *)&in, sizeof in);
	{
		/* a signal to a process outside (the one that started us) */
		begin("signal-outside");
		pid_t target = (pid_t)atoi(env_or("ESCAPE_PID", "0"));
		int rc = kill(target > 0 ? target : getppid(), 0);
		report("signal-outside", rc == 0, errno);
	}
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	const char *name = env_or("ESCAPE_ABSTRACT", "hotfarm-escape");
	memcpy(un.sun_path + 1, name, strlen(name));
	try_connect("abstract-unix-socket", AF_UNIX, (struct sockaddr *)&un,
		    (socklen_t)(sizeof un.sun_family + 1 + strlen(name)));
	{
		begin("udp-send");
		in.sin_port = htons((uint16_t)atoi(env_or("ESCAPE_UDP_PORT", "9")));
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		const char *tag = env_or("ESCAPE_TAG", "escape");
		ssize_t n = s >= 0 ? sendto(s, tag, strlen(tag), 0, (struct sockaddr *)&in, sizeof in) : -1;
		report_at("udp-send", s < 0 ? "socket" : "sendto", n == (ssize_t)strlen(tag), errno);
		if (s >= 0)
			close(s);
	}
	/* a path-named socket (D-Bus, docker.sock): Landlock does not see connect() */
	un = (struct sockaddr_un){.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof un.sun_path, "%s", env_or("ESCAPE_UNIX", "/run/dbus/system_bus_socket"));
	try_connect("unix-path-connect", AF_UNIX, (struct sockaddr *)&un, sizeof un);
	{
		begin("io-uring-setup");
		struct io_uring_params p = {0};
		int fd = (int)syscall(SYS_io_uring_setup, 4, &p);
		report_at("io-uring-setup", "io_uring_setup", fd >= 0, errno);
		if (fd >= 0)
			close(fd);
	}
	{
		/* in a child: the namespace would stay with whoever made it */
		begin("unshare-user");
		pid_t pid = fork();
		if (pid == 0)
			_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
		int st = 0;
		waitpid(pid, &st, 0);
		int e = WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
		report_at("unshare-user", "unshare", e == 0, e);
	}
	{
		/* the shell that started us: stopped by the attach, let go at once */
		begin("ptrace-attach");
		pid_t target = (pid_t)atoi(env_or("ESCAPE_PID", "0"));
		if (target <= 0)
			target = getppid();
		long rc = ptrace(PTRACE_ATTACH, target, NULL, NULL);
		int e = errno, st;
		if (rc == 0) {
			waitpid(target, &st, __WALL);
			ptrace(PTRACE_DETACH, target, NULL, NULL);
		}
		report_at("ptrace-attach", "ptrace", rc == 0, e);
	}
}

static char *join(const char *a, const char *b)
{
	char *s;
	if (asprintf(&s, "%s%s", a, b) < 0)
		exit(2);
	return s;
}

/* Reads of another job's (and another site's) file, every way there is. */
static void try_reads(const char *site, const char *cwd)
{
	TRY_FD("open-absolute", open(other, O_RDONLY));
	TRY_FD("open-other-site", open(site, O_RDONLY));
	TRY_FD("fopen-absolute", ({
			FILE *f = fopen(other, "r");
			int fd = f ? dup(fileno(f)) : -1;
			if (f)
				fclose(f);
			fd;
		}));
	/* relative climbs: ../../<other's path relative to the spool> */
	char rel[4096] = "";
	{
		/* find the common prefix of cwd and OTHER, climb out of the rest */
		size_t i = 0, last = 0;
		while (cwd[i] && other[i] && cwd[i] == other[i]) {
			if (cwd[i] == '/')
				last = i;
			i++;
		}
		size_t n = 0;
		for (const char *p = cwd + last; *p; p++)
			if (*p == '/')
				n += (size_t)snprintf(rel + n, sizeof rel - n, "../");
		snprintf(rel + n, sizeof rel - n, "%s", other + last + 1);
	}
	TRY_FD("open-dotdot", open(rel, O_RDONLY));
	int dfd = open(".", O_RDONLY | O_DIRECTORY);
	TRY_FD("openat-dirfd-dotdot", openat(dfd, rel, O_RDONLY));
	TRY_FD("openat-dirfd-absolute", openat(dfd, other, O_RDONLY));
	TRY_FD("raw-syscall-openat", (int)syscall(SYS_openat, AT_FDCWD, other, O_RDONLY));
#ifdef SYS_open
	TRY_FD("raw-syscall-open", (int)syscall(SYS_open, other, O_RDONLY));
#endif
	{
		struct {
			unsigned long long flags, mode, resolve;
		} how = {O_RDONLY, 0, 0};
		TRY_FD("raw-syscall-openat2", (int)syscall(SYS_openat2, AT_FDCWD, other, &how, sizeof how));
	}
	char *p = join("/proc/self/root", other);
	TRY_FD("proc-self-root", open(p, O_RDONLY));
	free(p);
	p = join("/proc/self/cwd/", rel);
	TRY_FD("proc-self-cwd", open(p, O_RDONLY));
	free(p);
	{
		/* O_PATH is not an open for reading: then reopen through /proc */
		begin("o-path-reopen");
		int path = open(other, O_PATH);
		char via[64];
		snprintf(via, sizeof via, "/proc/self/fd/%d", path);
		TRY_FD("o-path-reopen", path >= 0 ? open(via, O_RDONLY) : -1);
		if (path >= 0)
			close(path);
	}
	unlink("link-to-other");
	begin("symlink-in-own-folder");
	if (symlink(other, "link-to-other") == 0)
		TRY_FD("symlink-in-own-folder", open("link-to-other", O_RDONLY));
	else
		report("symlink-in-own-folder", 0, errno);
	unlink("hard-to-other");
	begin("hardlink-into-own-folder");
	if (link(other, "hard-to-other") == 0)
		TRY_FD("hardlink-into-own-folder", open("hard-to-other", O_RDONLY));
	else
		report("hardlink-into-own-folder", 0, errno);
	{
		char dir[4096];
		snprintf(dir, sizeof dir, "%s", other);
		char *slash = strrchr(dir, '/');
		*slash = 0;
		begin("list-other-job");
		DIR *d = opendir(dir);
		report("list-other-job", d != NULL && readdir(d) != NULL, errno);
		if (d)
			closedir(d);
		TRY_FD("chdir-then-open", chdir(dir) == 0 ? open(slash + 1, O_RDONLY) : -1);
		if (chdir(cwd) < 0)
			exit(2);
	}
	{
		struct file_handle *fh = malloc(sizeof *fh + 128);
		fh->handle_bytes = 128;
		int mount_id, fd = -1;
		if (name_to_handle_at(AT_FDCWD, other, fh, &mount_id, 0) == 0) {
			int m = open(".", O_RDONLY | O_DIRECTORY); /* any folder on its filesystem */
			fd = open_by_handle_at(m, fh, O_RDONLY);
			close(m);
		}
		TRY_FD("open-by-handle", fd);
		free(fh);
	}
}

/* Writes outside, changes to the other job's file, its program run. */
static void try_writes(void)
{
	char *p = join(outside, "/escaped.txt");
	TRY_FD("write-outside", ({
			int fd = open(p, O_CREAT | O_WRONLY, 0644);
			fd >= 0 && write(fd, "x", 1) == 1 ? open(p, O_RDONLY) : (fd >= 0 ? (close(fd), -1) : -1);
		}));
	free(p);
	p = join(outside, "/escaped-dir");
	TRY_RC("mkdir-outside", mkdir(p, 0755));
	free(p);
	{
		begin("write-other");
		int fd = open(other, O_WRONLY | O_APPEND);
		int ok = fd >= 0 && write(fd, "", 0) == 0;
		report("write-other", ok, errno);
		if (fd >= 0)
			close(fd);
	}
	TRY_RC("truncate-other", truncate(other, 0));
	TRY_RC("rename-into-own-folder", rename(other, "stolen"));
	TRY_RC("unlink-other", unlink(other));
	{
		/* run a program the other job holds */
		char prog[4096];
		snprintf(prog, sizeof prog, "%s", other);
		*strrchr(prog, '/') = 0;
		strncat(prog, "/tool.sh", sizeof prog - strlen(prog) - 1);
		begin("exec-other-job-program");
		pid_t pid = fork();
		if (pid == 0) {
			execl(prog, prog, (char *)NULL);
			_exit(errno == EACCES ? 126 : 127);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		errno = WEXITSTATUS(st) == 126 ? EACCES : ENOENT;
		report("exec-other-job-program", WIFEXITED(st) && WEXITSTATUS(st) == 0, errno);
	}
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: escape OTHER-JOB-FILE OUTSIDE-DIR OTHER-SITE-FILE\n");
		return 2;
	}
	other = argv[1];
	outside = argv[2];
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd))
		return 2;
	/* its own folder works: the control */
	int own = open("own.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	printf("%s own-folder\n", own >= 0 && write(own, "x", 1) == 1 ? "control-ok" : "control-FAILED");
	if (own >= 0)
		close(own);
	try_reads(argv[3], cwd);
	try_writes();
	try_beyond_files();
	printf("escaped %d\n", escaped);
	return 0;
}
