/* spool.c - the spool tree: its folders, creating and opening it, job
 * entries (PPP-SEQ-NAME) and the one rename that moves an entry between
 * states. Names read from the tree are checked before use. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static const char *const state_dirs[STATE_COUNT] = {
	"new", "queue", "held", "outsourced", "done", "failed", "cancelled",
};
static const char *const state_words[STATE_COUNT] = {
	"new", "queued", "held", "outsourced", "done", "failed", "cancelled",
};
static const char *const spool_dirs[DIR_STATE_FIRST] = {
	"inbox", "rejected", "jobs", "cancel", "hosts", "limits", "sites", "status", "conf", "requests", "answers", "work", "run",
};
static const char *const ticket_dirs[TICKET_COUNT] = {"todo", "active", "done", "failed"};

const char *state_dir_name(enum job_state s) { return (s >= 0 && s < STATE_COUNT) ? state_dirs[s] : "?"; }
const char *state_word(enum job_state s) { return (s >= 0 && s < STATE_COUNT) ? state_words[s] : "unknown"; }
bool state_is_final(enum job_state s) { return s == STATE_DONE || s == STATE_FAILED || s == STATE_CANCELLED; }
const char *ticket_dir_name(enum ticket_state s) { return ticket_dirs[s]; }

static const char *const spool_files[SPOOL_FILE_COUNT] = {
	"reason.txt", "hotfarm.ini", "index.html", "watcherd.lock", "watcherd.pid", "watcherd.log", "contact.png", "job",
	"dropped", "lock", ".lock", "audit.log", "preview.mp4", ".movie.lock",
	".preview.mp4.tmp", "probe", "metrics.prom", "events.jsonl", "events.lock", ".link", "trash", "retain.lock", ".retiring.", "retired.ini", "retired.lock", "route.lock", "store", "farm.counts",
};

const char *spool_file_name(enum spool_file f) { return spool_files[f]; }

const char *spool_dir_name(enum spool_dir d)
{
	if (d < DIR_STATE_FIRST)
		return spool_dirs[d];
	return state_dirs[d - DIR_STATE_FIRST];
}

const char *spool_default(void)
{
	const char *e = getenv("HOTFARM_SPOOL");
	return (e && *e) ? e : "/var/spool/hotfarm";
}

void spool_key(const struct spool *sp, char out[13])
{
	char *real = realpath(sp->path, NULL);
	uint64_t h = text_hash(real ? real : sp->path);
	free(real);
	snprintf(out, 13, "%012llx", (unsigned long long)(h >> 16));
}

static int mkdir_made(int dirfd, const char *name, const char *shown, struct strlist *made)
{
	if (mkdirat(dirfd, name, 0755) == 0) {
		if (made)
			strlist_add(made, shown);
		return 0;
	}
	if (errno != EEXIST)
		return -1;
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* Copy the files of SRC into DST (recursively) where DST lacks them. */
static int seed_tree(const char *src, int dstfd, const char *shown, struct strlist *made)
{
	DIR *d = opendir(src);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *from = xasprintf("%s/%s", src, e->d_name);
		char *show = xasprintf("%s/%s", shown, e->d_name);
		struct stat st;
		if (stat(from, &st) < 0) {
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			if (mkdir_made(dstfd, e->d_name, show, made) < 0)
				rc = -1;
			else {
				int sub = openat(dstfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub < 0 || seed_tree(from, sub, show, made) < 0)
					rc = -1;
				if (sub >= 0)
					close(sub);
			}
		} else if (S_ISREG(st.st_mode) && faccessat(dstfd, e->d_name, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
			size_t len;
			char *data = file_read_small(AT_FDCWD, from, 1 << 20, &len);
			if (!data || file_write_atomic(dstfd, e->d_name, data, len, 0644) < 0)
				rc = -1;
			else if (made)
				strlist_add(made, show);
			free(data);
		}
		free(from);
		free(show);
	}
	closedir(d);
	return rc;
}

int spool_init(const char *path, const char *confsrc, struct strlist *made, char *err, size_t errsize)
{
	if (mkdir(path, 0755) == 0) {
		if (made)
			strlist_add(made, path);
	} else if (errno != EEXIST) {
		snprintf(err, errsize, "unable to create %s: %s", path, strerror(errno));
		return -1;
	}
	int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		snprintf(err, errsize, "unable to open %s: %s", path, strerror(errno));
		return -1;
	}
	for (int d = 0; d < DIR_COUNT; d++) {
		const char *n = spool_dir_name((enum spool_dir)d);
		if (mkdir_made(root, n, n, made) < 0) {
			snprintf(err, errsize, "unable to create %s/%s: %s", path, n, strerror(errno));
			close(root);
			return -1;
		}
	}
	int conf = openat(root, "conf", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = 0;
	if (conf < 0 || mkdir_made(conf, "packages", "conf/packages", made) < 0) {
		snprintf(err, errsize, "unable to create %s/conf/packages: %s", path, strerror(errno));
		rc = -1;
	} else if (confsrc && seed_tree(confsrc, conf, "conf", made) < 0) {
		snprintf(err, errsize, "unable to copy %s into %s/conf: %s", confsrc, path, strerror(errno));
		rc = -1;
	}
	if (conf >= 0)
		close(conf);
	close(root);
	return rc;
}

int spool_open(const char *path, struct spool *sp, char *err, size_t errsize)
{
	memset(sp, 0, sizeof *sp);
	for (int d = 0; d < DIR_COUNT; d++)
		sp->dir[d] = -1;
	sp->path = xstrdup(path);
	sp->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->root < 0) {
		snprintf(err, errsize, "unable to open spool %s: %s", path, strerror(errno));
		goto fail;
	}
	struct stat rst;
	if (fstat(sp->root, &rst) < 0) {
		snprintf(err, errsize, "unable to stat spool %s: %s", path, strerror(errno));
		goto fail;
	}
	sp->farm_uid = rst.st_uid;
	for (int d = 0; d < DIR_COUNT; d++) {
		const char *n = spool_dir_name((enum spool_dir)d);
		sp->dir[d] = openat(sp->root, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sp->dir[d] < 0) {
			snprintf(err, errsize, "%s is not a complete spool (%s/: %s); run: hotfarm init %s", path, n,
				 strerror(errno), path);
			goto fail;
		}
	}
	if (site_conf_load(sp, err, errsize) < 0)
		goto fail;
	return 0;
fail:
	spool_close(sp);
	return -1;
}

void spool_close(struct spool *sp)
{
	for (int d = 0; d < DIR_COUNT; d++)
		if (sp->dir[d] >= 0)
			close(sp->dir[d]);
	if (sp->root >= 0)
		close(sp->root);
	free(sp->path);
	strlist_free(&sp->conf_warnings);
	memset(sp, 0, sizeof *sp);
	sp->root = -1;
	for (int d = 0; d < DIR_COUNT; d++)
		sp->dir[d] = -1;
}

int spool_fd(const struct spool *sp, enum spool_dir d) { return sp->dir[d]; }

bool spool_is_local(const struct spool *sp)
{
	struct statfs fs;
	return fstatfs(sp->root, &fs) == 0 && fs.f_type != 0x6969 /* NFS */ && fs.f_type != 0xFF534D42 /* CIFS */ &&
	       fs.f_type != 0xFE534D42 /* SMB2 */ && fs.f_type != 0x65735546 /* FUSE */ && fs.f_type != 0x517B /* SMB */;
}
int state_fd(const struct spool *sp, enum job_state s) { return sp->dir[DIR_STATE_FIRST + s]; }

void entry_format(char out[ENTRY_MAX_LEN], int priority, int64_t seq, const char *name)
{
	snprintf(out, ENTRY_MAX_LEN, "%03d-%016lld-%s", priority, (long long)seq, name);
}

bool job_id_valid(const char *id)
{
	const char *at = strchr(id, '@');
	if (!at)
		return name_is_valid(id) && strlen(id) <= NAME_MAX_LEN;
	size_t n = (size_t)(at - id);
	char name[NAME_MAX_LEN + 1];
	if (n == 0 || n > NAME_MAX_LEN || strlen(at + 1) > SITE_NAME_MAX || !name_is_valid(at + 1))
		return false;
	memcpy(name, id, n);
	name[n] = 0;
	return name_is_valid(name);
}

void job_id_split(const char *id, char name[NAME_MAX_LEN + 1], char site[SITE_NAME_MAX + 1])
{
	const char *at = strchr(id, '@');
	if (!at) {
		snprintf(name, NAME_MAX_LEN + 1, "%s", id);
		site[0] = 0;
		return;
	}
	snprintf(name, NAME_MAX_LEN + 1, "%.*s", (int)(at - id), id);
	snprintf(site, SITE_NAME_MAX + 1, "%s", at + 1);
}

bool entry_parse(const char *entry, int *priority, int64_t *seq, char name[JOBID_MAX_LEN + 1])
{
	/* exactly: 3 digits, '-', 16 digits, '-', a valid job id */
	size_t n = strlen(entry);
	if (n < 22 || n > 21 + JOBID_MAX_LEN || entry[3] != '-' || entry[20] != '-')
		return false;
	long p = 0;
	long long s = 0;
	for (int i = 0; i < 3; i++) {
		if (entry[i] < '0' || entry[i] > '9')
			return false;
		p = p * 10 + (entry[i] - '0');
	}
	for (int i = 4; i < 20; i++) {
		if (entry[i] < '0' || entry[i] > '9')
			return false;
		s = s * 10 + (entry[i] - '0');
	}
	if (!job_id_valid(entry + 21))
		return false;
	if (priority)
		*priority = (int)p;
	if (seq)
		*seq = s;
	if (name)
		snprintf(name, JOBID_MAX_LEN + 1, "%s", entry + 21);
	return true;
}

int state_list(const struct spool *sp, enum job_state s, struct strlist *out)
{
	DIR *d = dir_open(state_fd(sp, s), ".");
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d)))
		if (entry_parse(e->d_name, NULL, NULL, NULL))
			strlist_add(out, e->d_name);
	closedir(d);
	strlist_sort(out);
	return 0;
}

/* The entry status.ini names (its priority and submission number, which
 * the writers that move an entry keep in line), looked for in each state:
 * a few lookups where a listing of queue/ or done/ reads thousands. */
static enum job_state job_find_named(const struct spool *sp, const char *name, char entry[ENTRY_MAX_LEN])
{
	int fd = job_id_valid(name) ? job_dir_open(sp, name) : -1;
	if (fd < 0)
		return STATE_NONE;
	struct job_status st;
	int r = job_status_read(fd, &st);
	close(fd);
	if (r < 0)
		return STATE_NONE;
	int prio = st.priority;
	int64_t seq = st.submitted_us;
	job_status_free(&st);
	if (prio < 0 || prio > 999 || seq <= 0)
		return STATE_NONE;
	entry_format(entry, prio, seq, name);
	for (int s = 0; s < STATE_COUNT; s++)
		if (faccessat(state_fd(sp, (enum job_state)s), entry, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			return (enum job_state)s;
	return STATE_NONE;
}

enum job_state job_find(const struct spool *sp, const char *name, char entry[ENTRY_MAX_LEN])
{
	enum job_state found = job_find_named(sp, name, entry);
	if (found != STATE_NONE)
		return found;
	/* Entries only move forward from new/, so look there first; then the
	 * rest. A caller that must not miss a moving entry retries. */
	for (int s = 0; s < STATE_COUNT; s++) {
		DIR *d = dir_open(state_fd(sp, (enum job_state)s), ".");
		if (!d)
			continue;
		struct dirent *e;
		char n[JOBID_MAX_LEN + 1];
		while ((e = readdir(d)))
			if (entry_parse(e->d_name, NULL, NULL, n) && !strcmp(n, name)) {
				snprintf(entry, ENTRY_MAX_LEN, "%s", e->d_name);
				closedir(d);
				return (enum job_state)s;
			}
		closedir(d);
	}
	return STATE_NONE;
}

int entry_move(const struct spool *sp, enum job_state from, const char *entry, enum job_state to,
	       const char *newentry)
{
	int fromfd = state_fd(sp, from), tofd = state_fd(sp, to);
	if (!newentry)
		newentry = entry;
	if (renameat(fromfd, entry, tofd, newentry) == 0)
		return 0;
	int e = errno;
	/* On NFS a rename that worked can report failure after a
	 * retransmission: if the target is there and the source gone, it
	 * worked. */
	if (e != ENOENT && faccessat(tofd, newentry, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    faccessat(fromfd, entry, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	errno = e;
	return -1;
}

int job_dir_open(const struct spool *sp, const char *name)
{
	if (!job_id_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char local[NAME_MAX_LEN + 1], site[SITE_NAME_MAX + 1];
	job_id_split(name, local, site);
	if (!*site)
		return openat(spool_fd(sp, DIR_JOBS), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	char path[NAME_MAX_LEN + SITE_NAME_MAX + 16];
	snprintf(path, sizeof path, "%s/jobs/%s", site, local);
	/* O_NOFOLLOW guards the last part; the parts before are ours */
	return openat(spool_fd(sp, DIR_SITES), path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

void job_relpath(const char *id, char *out, size_t outsize)
{
	char name[NAME_MAX_LEN + 1], site[SITE_NAME_MAX + 1];
	job_id_split(id, name, site);
	if (*site)
		snprintf(out, outsize, "sites/%s/jobs/%s", site, name);
	else
		snprintf(out, outsize, "jobs/%s", name);
}

void job_path(const struct spool *sp, const char *id, char *out, size_t outsize)
{
	char rel[NAME_MAX_LEN + SITE_NAME_MAX + 16];
	job_relpath(id, rel, sizeof rel);
	snprintf(out, outsize, "%s/%s", sp->path, rel);
}

/* Rename without replacing anything; NFS and sshfs refuse the flag
 * (EINVAL): link refuses to replace too, then the old name goes. */
int rename_noreplace(int srcdir, const char *src, int dstdir, const char *dst)
{
	if (renameat2(srcdir, src, dstdir, dst, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	if (linkat(srcdir, src, dstdir, dst, 0) < 0)
		return -1;
	unlinkat(srcdir, src, 0);
	return 0;
}

int dir_walk(int dirfd, const char *path, bool make)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path);
	int fd = dirfd; /* ours to close once it is not DIRFD */
	char *save = NULL;
	for (char *part = strtok_r(copy, "/", &save); part && fd >= 0; part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "..") || !strcmp(part, ".")) {
			if (fd != dirfd)
				close(fd);
			errno = EINVAL;
			return -1;
		}
		int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* EEXIST: another process made it meanwhile (two agents
		 * starting a job's first frames at once) */
		if (next < 0 && errno == ENOENT && make && (mkdirat(fd, part, 0755) == 0 || errno == EEXIST))
			next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		if (fd != dirfd)
			close(fd);
		errno = e;
		fd = next;
	}
	return fd == dirfd ? fcntl(dirfd, F_DUPFD_CLOEXEC, 0) : fd;
}

int dir_walk_parent(int dirfd, const char *path, bool make, const char **base)
{
	const char *slash = strrchr(path, '/');
	*base = slash ? slash + 1 : path;
	if (!slash)
		return dup(dirfd);
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	return dir_walk(dirfd, dir, make);
}

int spooler_main(int argc, char **argv, const char *name, const char *usage, struct spool *sp)
{
	msg_init(name);
	spooler_start();
	const char *spool = NULL;
	static const struct option opts[] = {
		{"spool", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 's') {
			spool = optarg;
			continue;
		}
		fputs(usage, c == 'h' ? stdout : stderr);
		exit(c == 'h' ? EXIT_OK : EXIT_BADINPUT);
	}
	char err[1024];
	if (spool_open(spool ? spool : spool_default(), sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	return optind;
}

void rejected_kind(const struct spool *sp, const char *name, char *out, size_t outsize)
{
	char path[PATH_MAX];
	size_t len;
	snprintf(out, outsize, "other");
	snprintf(path, sizeof path, "%s/%s", name, spool_files[SPOOL_FILE_REASON]);
	if (strchr(name, '/') || name[0] == '.')
		return;
	char *text = file_read_small(spool_fd(sp, DIR_REJECTED), path, 16384, &len);
	const char *k = text ? strstr(text, "\n" REJECT_KIND_LINE) : NULL;
	if (k) {
		k += 1 + strlen(REJECT_KIND_LINE);
		size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz");
		if (n > 0 && n < outsize && n < 32)
			snprintf(out, outsize, "%.*s", (int)n, k);
	}
	free(text);
}
