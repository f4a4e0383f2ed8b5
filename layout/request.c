/* request.c - requests/ and answers/: an artist's steering request as a
 * small .ini file whose owner is the requester, and watcherd's answer to
 * it. Distrusts the request: read without following links or blocking. */
#define _GNU_SOURCE
#include "steer.h"
#include "ini.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

enum { REQUEST_MAX = 4096 };

int request_drop(const struct spool *sp, const struct steer_request *r, char name[64])
{
	unsigned long long rnd = 0;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd ^= (unsigned long long)now_us() ^ ((unsigned long long)getpid() << 32);
	snprintf(name, 64, "%lu-%016llx.req", (unsigned long)geteuid(), rnd);
	char tmp[80], text[1024];
	snprintf(tmp, sizeof tmp, ".%s.tmp", name);
	int n = snprintf(text, sizeof text, "[request]\naction = %s\njob = %s\nvalue = %ld\nframes = %s\n",
			 steer_action_name(r->action), r->job, r->value, r->frames);
	int dfd = spool_fd(sp, DIR_REQUESTS);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	bool ok = write(fd, text, (size_t)n) == n;
	int e = errno;
	close(fd);
	if (!ok || renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) < 0) {
		e = ok ? errno : e;
		unlinkat(dfd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

#define WHY(...) (snprintf(why, whysize, __VA_ARGS__), -1)

/* A request in requests/: its .ini, the action, the job and the value. */
static int request_parse(int fd, const char *shown, struct steer_request *r, char *why, size_t whysize)
{
	char text[REQUEST_MAX + 1], err[600];
	ssize_t n = pread(fd, text, REQUEST_MAX + 1, 0);
	if (n < 0 || n > REQUEST_MAX)
		return WHY("request %s is unreadable or longer than %d bytes", shown, REQUEST_MAX);
	struct ini *ini = ini_parse(text, (size_t)n, shown, err, sizeof err);
	if (!ini)
		return WHY("%s", err);
	const char *action = ini_get(ini, "request", "action"), *job = ini_get(ini, "request", "job"),
		   *value = ini_get(ini, "request", "value"), *frames = ini_get(ini, "request", "frames");
	int rc = 0;
	if (!action || !steer_action_parse(action, &r->action))
		rc = WHY("request %s names no action hotfarm knows (cancel, hold, release, priority, retry, kill-frame, suspend, resume, rerender)",
			 shown);
	else if (!job || !job_id_valid(job))
		rc = WHY("request %s names no valid job", shown);
	else if (value && !parse_long(value, 0, 9999999, &r->value))
		rc = WHY("request %s: value must be a whole number", shown);
	else if (frames && strlen(frames) >= sizeof r->frames)
		rc = WHY("request %s: frames is longer than %zu characters", shown, sizeof r->frames - 1);
	if (rc == 0) {
		snprintf(r->job, sizeof r->job, "%s", job);
		snprintf(r->frames, sizeof r->frames, "%s", frames ? frames : "");
	}
	ini_free(ini);
	return rc;
}

int request_read(const struct spool *sp, enum spool_dir dir, const char *file, struct steer_request *r, char *why,
		 size_t whysize)
{
	memset(r, 0, sizeof *r);
	char shown[300];
	text_escape(file, shown, sizeof shown);
	int dfd = spool_fd(sp, dir);
	struct stat st;
	if (strchr(file, '/') || file[0] == '.' || fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return WHY("no request %s/%s", spool_dir_name(dir), shown);
	r->uid = st.st_uid;
	if (dir == DIR_CANCEL) {
		/* the name says it all: whoever made the file asks (a hard link
		 * to another user's file would speak for them) */
		if (S_ISREG(st.st_mode) && st.st_nlink != 1)
			return WHY("cancel/%s has other hard links: drop a file of your own", shown);
		r->action = STEER_CANCEL;
		snprintf(r->job, sizeof r->job, "%s", file);
		return 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		return WHY("request %s is not a plain file of its own (a link, folder or device)", shown);
	int fd = open_regular(dfd, file, O_RDONLY);
	if (fd < 0)
		return WHY("unable to open request %s: %s", shown, strerror(errno));
	struct stat now;
	int rc = fstat(fd, &now) < 0 || now.st_ino != st.st_ino || now.st_nlink != 1
			 ? WHY("request %s changed while it was read", shown)
			 : request_parse(fd, shown, r, why, whysize);
	close(fd);
	return rc;
}

int request_remove(const struct spool *sp, enum spool_dir dir, const char *file)
{
	int dfd = spool_fd(sp, dir);
	if (unlinkat(dfd, file, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EISDIR || errno == EPERM)
		return tree_remove(dfd, file);
	return -1;
}

int answer_write(const struct spool *sp, const char *name, int code, const char *msg)
{
	char q[1200];
	char *text = xasprintf("[answer]\ncode = %d\nmessage = %s\n", code, ini_quote(msg, q, sizeof q));
	int rc = file_write_atomic(spool_fd(sp, DIR_ANSWERS), name, text, strlen(text), 0644);
	free(text);
	return rc;
}

int answer_read(const struct spool *sp, const char *name, int *code, char *msg, size_t msgsize)
{
	int fd = open_regular(spool_fd(sp, DIR_ANSWERS), name, O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	char text[2048], err[300];
	ssize_t n = fstat(fd, &st) < 0 ? -1 : pread(fd, text, sizeof text - 1, 0);
	close(fd);
	if (n < 0)
		return -1;
	if (st.st_uid != 0 && st.st_uid != sp->farm_uid) {
		errno = EPERM;
		return -1;
	}
	struct ini *ini = ini_parse(text, (size_t)n, name, err, sizeof err);
	const char *c = ini ? ini_get(ini, "answer", "code") : NULL, *m = ini ? ini_get(ini, "answer", "message") : NULL;
	long v;
	int rc = c && m && parse_long(c, 0, 255, &v) ? 1 : -1;
	if (rc == 1) {
		*code = (int)v;
		snprintf(msg, msgsize, "%s", m);
	} else {
		errno = EINVAL;
	}
	ini_free(ini);
	return rc;
}

void answers_expire(const struct spool *sp, long max_age)
{
	int dfd = spool_fd(sp, DIR_ANSWERS);
	struct strlist names = {0};
	dir_entries(dfd, &names);
	int64_t now = now_us() / 1000000;
	for (size_t i = 0; i < names.n; i++) {
		struct stat st;
		if (fstatat(dfd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && now - st.st_mtim.tv_sec > max_age)
			unlinkat(dfd, names.v[i], S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
	}
	strlist_free(&names);
}
