/* files.c - the one seam through which hotfarm opens the spool: every path
 * beneath a folder descriptor and through no link (openat2, or a walk of
 * O_NOFOLLOW parts), regular files only where a job or peer could have
 * put something else, atomic writes, bounded reads, listings, removals, and
 * locks taken with a deadline (a lock someone else holds never stalls us). */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int fsync_dir(int dirfd)
{
	if (!sync_writes)
		return 0;
	if (fsync(dirfd) < 0 && errno != EINVAL && errno != EROFS)
		return -1;
	return 0;
}

/* openat2 where the kernel has it (Linux 5.6); -1 with ENOSYS where not. */
static int openat2_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	static bool missing;
	if (missing) {
		errno = ENOSYS;
		return -1;
	}
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	for (;;) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		if (errno == EAGAIN || errno == EINTR)
			continue; /* a rename raced the lookup: look again */
		if (errno == ENOSYS)
			missing = true;
		return -1;
	}
}

int open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	/* the farm's own absolute paths (its configuration, its binaries) */
	if (dirfd == AT_FDCWD || path[0] == '/')
		return openat(dirfd, path, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	int fd = openat2_beneath(dirfd, path, flags | O_NOFOLLOW, mode);
	if (fd >= 0 || errno != ENOSYS)
		return fd;
	/* no openat2: each folder part without following a link, never up */
	char copy[PATH_MAX];
	if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int at = dup(dirfd);
	char *part = copy, *slash;
	while (at >= 0 && (slash = strchr(part, '/'))) {
		*slash = 0;
		int next = -1;
		if (!strcmp(part, ".."))
			errno = EXDEV;
		else
			next = *part ? openat(at, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(at);
		int e = errno;
		close(at);
		errno = e;
		at = next;
		part = slash + 1;
	}
	if (at < 0)
		return -1;
	if (!strcmp(part, "..")) {
		close(at);
		errno = EXDEV;
		return -1;
	}
	fd = openat(at, *part ? part : ".", flags | O_NOFOLLOW | O_CLOEXEC, mode);
	int e = errno;
	close(at);
	errno = e;
	return fd;
}

int fd_regular(int fd, struct stat *st)
{
	struct stat own;
	if (!st)
		st = &own;
	int e = fd < 0 ? errno : fstat(fd, st) < 0 ? errno : S_ISREG(st->st_mode) ? 0 : EINVAL;
	if (e) {
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int packet_send_fd(int sock, const void *buf, size_t len, int fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	memset(control, 0, sizeof control);
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	if (n >= 0 && (size_t)n != len)
		errno = EMSGSIZE;
	return n >= 0 && (size_t)n == len ? 0 : -1;
}

ssize_t packet_recv_fd(int sock, void *buf, size_t size, int *fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
	ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	*fd = -1;
	for (struct cmsghdr *c = n < 0 ? NULL : CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

int open_regular(int dirfd, const char *path, int flags)
{
	return fd_regular(open_beneath(dirfd, path, flags | O_NONBLOCK, 0), NULL);
}

int file_write_atomic(int dirfd, const char *name, const char *data, size_t len, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	if (snprintf(tmp, sizeof tmp, ".%.200s.%ld.tmp", name, (long)getpid()) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open_beneath(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		goto fail; /* a network filesystem may have made it all the same */
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (sync_writes && fdatasync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	/* a FUSE mount may answer EBUSY for a file it still counts open
	 * (its release comes after close returns): a few more tries */
	for (int i = 0; i < 5 && unlinkat(dirfd, tmp, 0) < 0 && errno == EBUSY; i++)
		nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
	errno = e;
	return -1;
}

char *file_read_small(int dirfd, const char *name, size_t max, size_t *lenp)
{
	int fd = open_beneath(dirfd, name, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	if ((unsigned long long)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *p = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				free(p);
				close(fd);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			p = xrealloc(p, cap + 1);
		}
		ssize_t n = read(fd, p + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(p);
			close(fd);
			errno = e;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > max) {
		free(p);
		errno = EFBIG;
		return NULL;
	}
	p[len] = 0;
	if (lenp)
		*lenp = len;
	return p;
}

DIR *dir_open(int dirfd, const char *path)
{
	int fd = open_beneath(dirfd, path, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

int dir_entries(int dirfd, struct strlist *out)
{
	/* getdents64 itself: no stdio DIR, whose opening costs three calls more */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[8192] __attribute__((aligned(8)));
	long n;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
		for (long off = 0; off < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + off);
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				strlist_add(out, e->d_name);
			off += e->d_reclen;
		}
	int e = errno;
	close(fd);
	errno = e;
	return n < 0 ? -1 : 0;
}

int dir_names(int dirfd, const char *path, struct strlist *out)
{
	DIR *d = dir_open(dirfd, path);
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			strlist_add(out, e->d_name);
	closedir(d);
	return 0;
}

bool dir_has_names(int dirfd, const char *path)
{
	DIR *d = dir_open(dirfd, path);
	struct dirent *e;
	bool any = false;
	while (d && !any && (e = readdir(d)))
		if (e->d_name[0] != '.')
			any = true;
	if (d)
		closedir(d);
	return any;
}

int tree_remove(int parent, const char *name)
{
	/* a folder first: most trees are of empty folders (a file or a
	 * symlink says ENOTDIR, and goes without being followed) */
	if (unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	if (errno == ENOTDIR)
		return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return -1;
	DIR *d = dir_open(parent, name);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (tree_remove(dirfd(d), e->d_name) < 0)
			rc = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

/* Try every WAIT_US, doubling up to MAX_US (a random part added to each
 * wait, so that waiters do not wake in step). */
static int lock_wait(int fd, int timeout_ms, long wait_us, long max_us)
{
	int64_t deadline = mono_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (mono_us() >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		/* of the clock and the pid: forked writers do not share it */
		long jitter = max_us < 50000 ? (long)(((uint64_t)mono_us() * 2654435761u ^ (uint64_t)getpid()) %
						      (uint64_t)(wait_us + 1))
					     : 0;
		struct timespec ts = {0, (wait_us + jitter) * 1000};
		nanosleep(&ts, NULL);
		wait_us = wait_us < max_us ? wait_us * 2 : max_us;
	}
}

int lock_take(int fd, int timeout_ms) { return lock_wait(fd, timeout_ms, 1000, 50000); }

static int lock_open_waiting(int dirfd, const char *name, int timeout_ms, bool brief)
{
	int fd = open_beneath(dirfd, name, O_RDWR | O_CREAT | O_NONBLOCK, 0644);
	if (fd < 0)
		return -1;
	struct stat st;
	int e = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
	if (!e && (brief ? lock_wait(fd, timeout_ms, 100, 800) : lock_take(fd, timeout_ms)) < 0)
		e = errno;
	if (e) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int lock_open(int dirfd, const char *name, int timeout_ms) { return lock_open_waiting(dirfd, name, timeout_ms, false); }
int lock_open_brief(int dirfd, const char *name, int timeout_ms) { return lock_open_waiting(dirfd, name, timeout_ms, true); }
