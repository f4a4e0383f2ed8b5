/* intakepreset.c - hf-intake's preset drops (--preset NAME, from inbox/NAME/): a bare scene or a folder copied
 * in and checked, and the description merged from the preset, the drop's own job.ini and what its scene says. */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/package.h"
#include "intake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HOTFARM_LIBEXECDIR
#define HOTFARM_LIBEXECDIR "/usr/local/lib/hotfarm"
#endif

/* ---- copying a dropped folder (or a bare scene) ---------------------------------------- */

struct copying {
	const struct drop_copy_rules *r;
	long entries;
	unsigned long long bytes;
	int64_t newest; /* the newest change time seen (s) */
	bool busy;      /* a file is open for writing */
	char *why;
	size_t whysize;
};

static enum drop_copy refuse(struct copying *c, enum drop_copy r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum drop_copy refuse(struct copying *c, enum drop_copy r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, c->whysize, fmt, ap);
	va_end(ap);
	return r;
}

static void seen_times(struct copying *c, const struct stat *st)
{
	int64_t t = st->st_mtim.tv_sec > st->st_ctim.tv_sec ? st->st_mtim.tv_sec : st->st_ctim.tv_sec;
	if (t > c->newest)
		c->newest = t;
}

/* Copy the open regular file FD into DSTFD/NAME (DSTFD < 0: only look). */
static enum drop_copy copy_data(struct copying *c, int fd, const struct stat *st, int dstfd, const char *name,
				const char *shown)
{
	/* a file somebody on this host still writes grants no read lease */
	if (!c->r->landed && fcntl(fd, F_SETLEASE, F_RDLCK) < 0 && errno == EAGAIN)
		c->busy = true;
	else
		fcntl(fd, F_SETLEASE, F_UNLCK);
	c->bytes += (unsigned long long)st->st_size;
	if (c->r->max_bytes && c->bytes > c->r->max_bytes)
		return refuse(c, COPY_REFUSED, "%s holds more than %llu bytes, this site's [intake] max_bytes", c->r->shown,
			      c->r->max_bytes);
	if (dstfd < 0)
		return COPY_OK;
	int out = open_beneath(dstfd, name, O_WRONLY | O_CREAT | O_EXCL,
			 (st->st_mode & 0111) ? 0755 : 0644);
	if (out < 0)
		return errno == ENOSPC || errno == EDQUOT ? COPY_NO_SPACE : COPY_FAILED;
	off_t left = st->st_size, in_off = 0;
	enum drop_copy r = COPY_OK;
	while (left > 0) {
		ssize_t n = copy_file_range(fd, &in_off, out, NULL, (size_t)left, 0);
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
			char buf[1 << 16];
			n = pread(fd, buf, sizeof buf < (size_t)left ? sizeof buf : (size_t)left, in_off);
			if (n > 0 && write(out, buf, (size_t)n) != n)
				n = -1;
			if (n > 0)
				in_off += n;
		}
		if (n <= 0) {
			/* shorter than it said: it is still being written, or cut */
			r = n == 0 ? refuse(c, COPY_BUSY, "%s changed while it was copied", shown)
			    : (errno == ENOSPC || errno == EDQUOT) ? COPY_NO_SPACE : COPY_FAILED;
			break;
		}
		left -= n;
	}
	struct timespec t[2] = {st->st_atim, st->st_mtim};
	futimens(out, t);
	if (close(out) < 0 && r == COPY_OK)
		r = errno == ENOSPC || errno == EDQUOT ? COPY_NO_SPACE : COPY_FAILED;
	return r;
}

/* One entry NAME of folder SRCFD (REL: its path in the drop, for messages). */
static enum drop_copy copy_tree(struct copying *c, int srcfd, int dstfd, const char *rel, int depth);

static enum drop_copy copy_entry(struct copying *c, int srcfd, int dstfd, const char *name, const char *rel, int depth)
{
	char shown[1100], path[4096];
	snprintf(path, sizeof path, "%s/%s", rel, name);
	text_escape(path, shown, sizeof shown);
	if (++c->entries > c->r->max_entries)
		return refuse(c, COPY_REFUSED, "%s holds more than %ld files and folders, this site's [intake] max_entries",
			      c->r->shown, c->r->max_entries);
	int fd = open_beneath(srcfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	struct stat st;
	if (fd < 0 && errno == ELOOP)
		return refuse(c, COPY_REFUSED, "%s is a symbolic link; put the file itself into the folder", shown);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return errno == ENOENT ? refuse(c, COPY_BUSY, "%s went away while it was read", shown)
		       : errno == EACCES ? refuse(c, COPY_REFUSED, "%s cannot be read by the farm: make it readable (chmod g+r, or o+r) and drop the folder again", shown)
					 : COPY_FAILED;
	}
	seen_times(c, &st);
	enum drop_copy r = COPY_OK;
	if (S_ISDIR(st.st_mode)) {
		if (depth >= 32)
			r = refuse(c, COPY_REFUSED, "%s is nested more than 32 folders deep", shown);
		else if (dstfd >= 0 && mkdirat(dstfd, name, 0755) < 0)
			r = errno == ENOSPC || errno == EDQUOT ? COPY_NO_SPACE : COPY_FAILED;
		int sub = r != COPY_OK || dstfd < 0 ? -1 : open_beneath(dstfd, name, O_RDONLY | O_DIRECTORY, 0);
		if (r == COPY_OK && dstfd >= 0 && sub < 0)
			r = COPY_FAILED;
		if (r == COPY_OK)
			r = copy_tree(c, fd, sub, path, depth + 1);
		if (sub >= 0)
			close(sub);
	} else if (!S_ISREG(st.st_mode)) {
		r = refuse(c, COPY_REFUSED, "%s is not a regular file or folder (a device, FIFO or socket)", shown);
	} else if (st.st_nlink != 1) {
		r = refuse(c, COPY_REFUSED, "%s has other hard links; put a copy of the file into the folder", shown);
	} else {
		r = copy_data(c, fd, &st, dstfd, name, shown);
	}
	close(fd);
	return r;
}

static enum drop_copy copy_tree(struct copying *c, int srcfd, int dstfd, const char *rel, int depth)
{
	struct strlist names = {0};
	if (dir_names(srcfd, ".", &names) < 0) {
		strlist_free(&names);
		return COPY_FAILED;
	}
	enum drop_copy r = COPY_OK;
	for (size_t i = 0; i < names.n && r == COPY_OK; i++)
		r = copy_entry(c, srcfd, dstfd, names.v[i], rel, depth);
	strlist_free(&names);
	return r;
}

/* Still arriving: a file open for writing, or a change younger than the
 * settle time (a folder written in place, as a file browser copies one). */
static enum drop_copy settled(struct copying *c)
{
	if (c->r->landed)
		return COPY_OK;
	if (c->busy)
		return refuse(c, COPY_BUSY, "%s is still being written", c->r->shown);
	if (now_us() / 1000000 - c->newest < c->r->settle)
		return refuse(c, COPY_BUSY, "%s changed less than %ld s ago", c->r->shown, c->r->settle);
	return COPY_OK;
}

enum drop_copy drop_folder_copy(int srcfd, int dstfd, const struct drop_copy_rules *r, char *why, size_t whysize)
{
	struct copying c = {.r = r, .why = why, .whysize = whysize};
	struct stat st;
	if (fstat(srcfd, &st) == 0)
		seen_times(&c, &st);
	/* a look first (no copy of a folder still being filled), then the copy */
	enum drop_copy res = copy_tree(&c, srcfd, -1, r->name, 0);
	if (res == COPY_OK)
		res = settled(&c);
	if (res != COPY_OK)
		return res;
	c.entries = 0;
	c.bytes = 0;
	res = copy_tree(&c, srcfd, dstfd, r->name, 0);
	return res == COPY_OK ? settled(&c) : res;
}

enum drop_copy drop_file_copy(int fd, int dstfd, const char *name, const struct drop_copy_rules *r, char *why,
			      size_t whysize)
{
	struct copying c = {.r = r, .why = why, .whysize = whysize};
	struct stat st;
	if (fstat(fd, &st) < 0)
		return COPY_FAILED;
	return copy_data(&c, fd, &st, dstfd, name, r->shown);
}

/* ---- a bare scene's look ----------------------------------------------------------------- */

bool scene_looks_whole(int fd, const char *shown, char *why, size_t whysize)
{
	struct stat st;
	unsigned char head[12] = {0}, tail[4096];
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		snprintf(why, whysize, "%s is empty", shown);
		return false;
	}
	size_t nt = st.st_size < (off_t)sizeof tail ? (size_t)st.st_size : sizeof tail;
	if (pread(fd, head, sizeof head, 0) < 0 || pread(fd, tail, nt, st.st_size - (off_t)nt) != (ssize_t)nt) {
		snprintf(why, whysize, "%s cannot be read: %s", shown, strerror(errno));
		return false;
	}
	/* a file written in place, its size set first, ends in zeros until
	 * it is whole; no scene does */
	size_t z = 0;
	while (z < nt && !tail[z])
		z++;
	if (z == nt) {
		snprintf(why, whysize, "%s ends in %zu zero bytes: it is cut short or still being written", shown, nt);
		return false;
	}
	/* an uncompressed .blend ends with its ENDB block */
	if (!memcmp(head, "BLENDER", 7) && !memmem(tail, nt, "ENDB", 4)) {
		snprintf(why, whysize, "%s is a Blender file without its end (ENDB): it is cut short or still being written",
			 shown);
		return false;
	}
	return true;
}

/* ---- the scene in the drop --------------------------------------------------------------------- */

int drop_top_folder(int filesfd, char *out, size_t outsize)
{
	struct strlist names = {0};
	dir_names(filesfd, ".", &names);
	struct stat st;
	*out = 0;
	if (names.n == 1 && fstatat(filesfd, names.v[0], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		snprintf(out, outsize, "%s", names.v[0]);
	strlist_free(&names);
	return *out ? 1 : 0;
}

/* The one scene in the drop's files, at their top or in the one folder
 * that holds everything. */
static int scene_find(const struct preset_drop *d, const struct package *pkg, char *out, size_t outsize, char *why,
		      size_t whysize)
{
	struct strlist found = {0};
	package_scenes(d->confdir, d->filesfd, d->top, pkg, &found);
	int rc = 0;
	if (found.n == 1) {
		snprintf(out, outsize, "%s", found.v[0]);
	} else {
		struct buf b = {0};
		for (size_t i = 0; i < found.n && i < 4; i++)
			buf_printf(&b, "%s%s", i ? ", " : "", found.v[i]);
		char list[600];
		text_escape(b.data ? b.data : "", list, sizeof list);
		buf_free(&b);
		if (found.n)
			snprintf(why, whysize, "%s holds %zu scenes (%s%s): say which with [render] scene in a job.ini inside it, "
				 "or in %s", d->shown, found.n, list, found.n > 4 ? ", ..." : "", d->preset->file);
		else
			snprintf(why, whysize, "%s holds no scene file a package of this farm renders (%s) at its top; put "
				 "one there, or name it with [render] scene in a job.ini inside it",
				 d->shown, pkg ? "by its [scene] extensions" : ".blend, .pov");
		rc = -1;
	}
	strlist_free(&found);
	return rc;
}

/* ---- what the scene says --------------------------------------------------------------------------- */

struct scene_facts {
	char frames[48];
	long width, height;
};

/* The last line that starts with "hotfarm-scene " (not a scene's name
 * printed inside another line, "Read blend: .../hotfarm-scene ..."). */
static bool facts_parse(const char *text, struct scene_facts *f)
{
	const char *l = NULL;
	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, "hotfarm-scene ", 14))
			l = p;
	if (!l)
		return false;
	char frames[48];
	long w, h;
	if (sscanf(l, "hotfarm-scene frames=%47[0-9x-] width=%ld height=%ld", frames, &w, &h) != 3 || w < 1 || h < 1 ||
	    w > 16384 || h > 16384)
		return false;
	snprintf(f->frames, sizeof f->frames, "%s", frames);
	f->width = w;
	f->height = h;
	return true;
}

/* Read the child's output until it ends or the deadline passes (then it
 * is killed): up to SIZE - 1 bytes kept. */
static bool read_until(int fd, pid_t pid, char *text, size_t size, int64_t deadline)
{
	size_t len = 0;
	for (;;) {
		int64_t left = (deadline - mono_us()) / 1000;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			text[len] = 0;
			return false;
		}
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t k = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
		memcpy(text + len, buf, k);
		len += k;
	}
	text[len] = 0;
	return true;
}

/* Run the package's [scene] argv on SCENE, confined by hf-confine to the
 * drop's files (read-only) and a folder of its own; 0 with F, or -1 with
 * WHY. */
static int scene_ask(const struct preset_drop *d, const struct package *pkg, const char *scene, struct scene_facts *f,
		     char *why, size_t whysize)
{
	char *full = xasprintf("%s/%s", d->files_path, scene);
	struct render_vars v = {.scene = full, .files = d->files_path, .frame = 1, .first_frame = 1, .last_frame = 1,
				.width = 1, .height = 1};
	struct strlist argv = {0}, cmd = {0};
	char err[512];
	int rc = package_argv(pkg, &v, RUN_SCENE, &argv, err, sizeof err);
	free(full);
	if (rc < 0) {
		char file[128];
		package_file_relpath(pkg->name, file, sizeof file);
		snprintf(why, whysize, "%s: [scene] argv: %s", file, err);
		return -1;
	}
	const char *lx = getenv("HOTFARM_LIBEXECDIR");
	strlist_take(&cmd, xasprintf("%s/hf-confine", lx ? lx : HOTFARM_LIBEXECDIR));
	const char *fixed[] = {"--root", d->probe_path, "--files", d->files_path, "--ro", d->files_path,
			       "--cpu", "120", "--mem", "4G", "--fsize", "64M"};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		strlist_add(&cmd, fixed[i]);
	for (size_t i = 0; i < pkg->confine_read.n; i++) {
		strlist_add(&cmd, "--ro");
		strlist_add(&cmd, pkg->confine_read.v[i]);
	}
	if (*d->render_user && geteuid() == 0) {
		strlist_add(&cmd, "--user");
		strlist_add(&cmd, d->render_user);
	}
	strlist_add(&cmd, "--");
	for (size_t i = 0; i < argv.n; i++)
		strlist_add(&cmd, argv.v[i]);
	strlist_free(&argv);
	strlist_take(&cmd, NULL);
	int p[2];
	pid_t pid = pipe2(p, O_CLOEXEC) < 0 ? -1 : fork();
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* an intake killed takes its scene run along */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (dup2(p[1], 1) < 0 || dup2(null, 0) < 0 || dup2(p[1], 2) < 0 || chdir(d->files_path) < 0)
			_exit(111);
		setenv("HOME", d->probe_path, 1);
		setenv("TMPDIR", d->probe_path, 1);
		setenv("PWD", d->files_path, 1);
		execv(cmd.v[0], cmd.v);
		_exit(111);
	}
	cmd.n--;
	strlist_free(&cmd);
	if (pid < 0) {
		snprintf(why, whysize, "unable to start hf-confine: %s", strerror(errno));
		return -1;
	}
	close(p[1]);
	char *text = xcalloc(1, 1 << 16);
	bool ended = read_until(p[0], pid, text, 1 << 16, mono_us() + 120 * 1000000LL);
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	bool ok = ended && facts_parse(text, f);
	/* the last line it said, for the reason */
	char *end = text + strlen(text), last[300], shown[700];
	while (end > text && (end[-1] == '\n' || end[-1] == ' '))
		*--end = 0;
	char *nl = strrchr(text, '\n');
	snprintf(last, sizeof last, "%s", nl ? nl + 1 : text);
	text_escape(last, shown, sizeof shown);
	free(text);
	if (ok)
		return 0;
	if (!ended)
		snprintf(why, whysize, "%s did not say its frames within 120 s", scene);
	else
		snprintf(why, whysize, "%s could not be read by %s (%s %d%s%s)", scene, pkg->name,
			 WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			 *shown ? ": " : "", shown);
	return -1;
}

/* ---- the description --------------------------------------------------------------------------------- */

/* Which package renders the drop, and its scene; 0, or -1 with WHY. */
static int drop_package(const struct preset_drop *d, const struct ini *own, char *scene, size_t ssize, struct package *pkg,
			char *why, size_t whysize)
{
	const char *given_scene = own ? ini_get(own, "render", "scene") : NULL;
	if (!given_scene)
		given_scene = ini_get(d->preset->ini, "render", "scene");
	const char *pkgname = own ? ini_get(own, "render", "package") : NULL;
	if (!pkgname)
		pkgname = ini_get(d->preset->ini, "render", "package");
	char guessed[64] = "";
	/* a bare scene is the scene, whatever a preset names */
	if (d->bare)
		snprintf(scene, ssize, "%s", d->bare);
	else if (given_scene)
		snprintf(scene, ssize, "%s%s%s", d->top, *d->top ? "/" : "", given_scene);
	else if (!pkgname && scene_find(d, NULL, scene, ssize, why, whysize) < 0)
		return -1;
	if (!pkgname) {
		const char *base = strrchr(scene, '/') ? strrchr(scene, '/') + 1 : scene;
		if (!package_for_scene(d->confdir, base, guessed, sizeof guessed)) {
			char s[600];
			text_escape(scene, s, sizeof s);
			snprintf(why, whysize, "no package of this farm claims the scene %s by its name's ending: give [render] "
				 "package in %s", s, d->preset->file);
			return -1;
		}
		pkgname = guessed;
	}
	char err[512];
	if (package_load(d->confdir, pkgname, pkg, err, sizeof err) < 0) {
		snprintf(why, whysize, "%s", err);
		return -1;
	}
	if (!*scene && scene_find(d, pkg, scene, ssize, why, whysize) < 0) {
		package_free(pkg);
		return -1;
	}
	return 0;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int preset_describe(const struct preset_drop *d, const struct ini *own, struct buf *text, struct buf *from, char *why,
		    size_t whysize)
{
	char scene[2048] = "", name[NAME_MAX_LEN + 1];
	struct package pkg;
	if (drop_package(d, own, scene, sizeof scene, &pkg, why, whysize) < 0)
		return -1;
	if (has_control(scene)) {
		/* a line break in a name would be a line of its own in job.ini */
		char s[2200];
		text_escape(scene, s, sizeof s);
		snprintf(why, whysize, "the scene's name %s holds a line break or another control character; rename it",
			 s);
		package_free(&pkg);
		return -1;
	}
	name_sanitize(d->stem, name, sizeof name);
	const struct preset *p = d->preset;
	bool frames = preset_has(p, own, "job", "frames");
	bool size = preset_has(p, own, "render", "width") && preset_has(p, own, "render", "height");
	struct scene_facts f = {0};
	int rc = 0;
	if ((!frames || !size) && pkg.scene_argv.n) {
		rc = scene_ask(d, &pkg, scene, &f, why, whysize);
		if (rc < 0 && !frames) {
			size_t n = strlen(why);
			snprintf(why + n, whysize - n, "; so its frames are not known: add frames = 1-100 to %s, "
				 "or a job.ini with [job] frames to the drop", p->file);
		}
		rc = rc < 0 && !frames ? -1 : 0;
	} else if (!frames) {
		snprintf(why, whysize, "%s %s a %s scene, which does not say which frames to render: add frames = 1-100 to "
			 "%s (or drop a job.ini with [job] frames beside it)", d->shown, d->bare ? "is" : "holds",
			 pkg.name, p->file);
		rc = -1;
	}
	if (rc == 0) {
		char w[24], h[24];
		snprintf(w, sizeof w, "%ld", f.width);
		snprintf(h, sizeof h, "%ld", f.height);
		struct preset_key extra[] = {
			{"job", "name", name, "the drop's name", false},
			{"render", "package", pkg.name, "the scene's kind", false},
			{"render", "scene", scene, "the drop", true},
			{"job", "frames", f.frames, "the scene", false},
			{"render", "width", w, "the scene", false},
			{"render", "height", h, "the scene", false},
		};
		preset_merge(p, own, extra, *f.frames ? 6 : 3, text, from);
	}
	package_free(&pkg);
	return rc;
}
