/* cgtree.c - the agent's subtree in the v2 and v1 cgroup hierarchies found
 * in /proc/self (cgroup.h says where), and clearing what an agent left. */
#define _GNU_SOURCE
#include "cgfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* each hierarchy's name: the v1 controller it is found by */
static const char *const hier_name[CG_NHIER] = {"v2", "pids", "memory", "cpuacct", "freezer"};

/* Move PID into the group whose cgroup.procs (open for writing) is *ARG. */
static int pid_move(long pid, void *arg)
{
	char num[24];
	int len = snprintf(num, sizeof num, "%ld", pid);
	if (write(*(int *)arg, num, (size_t)len) != len && errno != ESRCH)
		return -1;
	return 0;
}

/* ---- where the hierarchies are -------------------------------------------- */

struct found {
	char mnt[CG_NHIER][512];  /* where it is mounted ("": not mounted) */
	char root[CG_NHIER][512]; /* the group at that mount's top */
	char own[CG_NHIER][512];  /* our group, as /proc/self/cgroup says */
};

/* mountinfo writes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else
			*o++ = *s;
	}
	*o = 0;
}

static void mount_note(struct found *f, int h, char *mnt, char *root)
{
	if (f->mnt[h][0])
		return; /* the first of several mounts of one hierarchy */
	unescape(mnt);
	unescape(root);
	if (strlen(mnt) < sizeof f->mnt[h] && strlen(root) < sizeof f->root[h]) {
		strcpy(f->mnt[h], mnt);
		strcpy(f->root[h], root);
	}
}

/* The cgroup mounts: each line of /proc/self/mountinfo is "ID PARENT
 * MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER". */
static int mounts_read(struct found *f)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	if (!fp)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, fp) > 0) {
		char *dash = strstr(line, " - "), *field[5], *save = NULL;
		int i = 0;
		if (!dash)
			continue;
		*dash = 0;
		for (char *w = strtok_r(line, " ", &save); w && i < 5; w = strtok_r(NULL, " ", &save))
			field[i++] = w;
		char *fstype = strtok_r(dash + 3, " ", &save), *source = strtok_r(NULL, " ", &save);
		char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
		if (i < 5 || !super)
			continue;
		if (!strcmp(fstype, "cgroup2"))
			mount_note(f, CG_V2, field[4], field[3]);
		else if (!strcmp(fstype, "cgroup"))
			for (int h = CG_V2 + 1; h < CG_NHIER; h++)
				if (cg_word_in(super, hier_name[h], ','))
					mount_note(f, h, field[4], field[3]);
	}
	free(line);
	fclose(fp);
	return 0;
}

/* Our own groups: each line of /proc/self/cgroup is "ID:CONTROLLERS:PATH",
 * CONTROLLERS empty for v2. */
static int own_read(struct found *f)
{
	FILE *fp = fopen("/proc/self/cgroup", "re");
	if (!fp)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = 0;
		char *c = strchr(line, ':'), *p = c ? strchr(c + 1, ':') : NULL;
		if (!p || strlen(p + 1) >= sizeof f->own[0])
			continue;
		*p++ = 0;
		c++;
		for (int h = 0; h < CG_NHIER; h++)
			if (h == CG_V2 ? !*c : cg_word_in(c, hier_name[h], ','))
				strcpy(f->own[h], p);
	}
	free(line);
	fclose(fp);
	return 0;
}

/* Our group in hierarchy H as a path: mount point, then our group below
 * the mount's top. -1 when it is not below (another namespace's mount). */
static int own_path(const struct found *f, int h, char *out, size_t size)
{
	const char *root = f->root[h], *own = f->own[h];
	size_t k = strlen(root);
	if (!strcmp(root, "/"))
		k = 0;
	else if (strncmp(own, root, k) || (own[k] && own[k] != '/'))
		return -1;
	own += k;
	int n = snprintf(out, size, "%s%s", f->mnt[h], !strcmp(own, "/") ? "" : own);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* ---- the subtree ----------------------------------------------------------- */

/* Our own v2 group is ours to manage: systemd marks a delegated one with
 * an xattr; a user it delegates to owns its cgroup.procs and
 * cgroup.subtree_control. */
static bool delegated(int dir)
{
	static const char *const marks[] = {"trusted.delegate", "user.delegate"};
	char v[8];
	for (int i = 0; i < 2; i++)
		if (fgetxattr(dir, marks[i], v, sizeof v) == 1 && v[0] == '1')
			return true;
	struct stat procs, control;
	uid_t me = geteuid();
	return me != 0 && fstatat(dir, "cgroup.procs", &procs, AT_SYMLINK_NOFOLLOW) == 0 &&
	       fstatat(dir, "cgroup.subtree_control", &control, AT_SYMLINK_NOFOLLOW) == 0 && procs.st_uid == me &&
	       control.st_uid == me;
}

/* We may make groups in DIR and move processes into them. */
static bool writable(int dir)
{
	return faccessat(dir, ".", W_OK | X_OK, AT_EACCESS) == 0 &&
	       faccessat(dir, "cgroup.procs", W_OK, AT_EACCESS) == 0;
}

/* Take our delegated group OWN: every process in it moves into its leaf
 * "agent" (a group with processes may not hand controllers down). */
static int delegated_take(int own, char *why, size_t whysize)
{
	if (mkdirat(own, "agent", 0755) < 0 && errno != EEXIST) {
		cg_note(why, whysize, "cannot make our group's agent/: %s", strerror(errno));
		return -1;
	}
	int agent = cg_dir_at(own, "agent");
	int to = agent < 0 ? -1 : openat(agent, "cgroup.procs", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	long left = -1;
	for (int round = 0; to >= 0 && round < 8 && left; round++)
		if (cg_procs_each(own, pid_move, &to) < 0 || (left = cg_procs_each(own, NULL, NULL)) < 0)
			break;
	int e = errno;
	if (to >= 0)
		close(to);
	if (agent >= 0)
		close(agent);
	if (left) {
		cg_note(why, whysize, "cannot move our group's processes into agent/: %s", strerror(e));
		return -1;
	}
	return 0;
}

/* Hand pids and memory down to BASE's children where BASE has them. */
static void v2_controllers(struct cg_tree *t, int base, char *why, size_t whysize)
{
	char have[512], on[512];
	if (cg_file_get(base, "cgroup.controllers", have, sizeof have) < 0)
		have[0] = 0;
	static const char *const want[] = {"pids", "memory"};
	for (int i = 0; i < 2; i++) {
		char plus[16];
		snprintf(plus, sizeof plus, "+%s", want[i]);
		if (cg_word_in(have, want[i], ' ') && cg_file_put(base, "cgroup.subtree_control", plus) < 0)
			cg_note(why, whysize, "v2 %s not enabled: %s", want[i], strerror(errno));
	}
	if (cg_file_get(base, "cgroup.subtree_control", on, sizeof on) < 0)
		on[0] = 0;
	t->v2_pids = cg_word_in(on, "pids", ' ');
	t->v2_memory = cg_word_in(on, "memory", ' ');
}

/* The v2 subtree: our delegated group, or (as root) <mount>/hotfarm-HOST. */
static void v2_open(struct cg_tree *t, const struct found *f, char *why, size_t whysize)
{
	char path[512];
	if (own_path(f, CG_V2, path, sizeof path) < 0) {
		cg_note(why, whysize, "our v2 group %s is not below %s", f->own[CG_V2], f->mnt[CG_V2]);
		return;
	}
	int own = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), up = -1;
	if (own < 0) {
		cg_note(why, whysize, "%s: %s", path, strerror(errno));
		return;
	}
	const char *slash = strrchr(path, '/');
	if (delegated(own)) {
		if (delegated_take(own, why, whysize) < 0) {
			close(own);
			return;
		}
		t->base[CG_V2] = own;
	} else if (slash && !strcmp(slash, "/agent") && (up = cg_dir_at(own, "..")) >= 0 && delegated(up)) {
		t->base[CG_V2] = up; /* an agent that was started again in the leaf we made */
		close(own);
		path[slash - path] = 0;
	} else {
		if (up >= 0)
			close(up);
		close(own);
		/* moving a process from our group into one of ours takes the
		 * right to write the top's cgroup.procs: root's */
		int top = cg_dir_at(AT_FDCWD, f->mnt[CG_V2]);
		if (top < 0 || !writable(top) || (mkdirat(top, t->sub, 0755) < 0 && errno != EEXIST) ||
		    (t->base[CG_V2] = cg_dir_at(top, t->sub)) < 0 || !writable(t->base[CG_V2])) {
			if (errno == EACCES || errno == EPERM)
				cg_note(why, whysize,
				        "not root (uid %u), and our v2 group (%s) is not delegated to us (systemd: "
				        "Delegate=yes)",
				        (unsigned)geteuid(), path);
			else
				cg_note(why, whysize, "cannot make %s/%s: %s", f->mnt[CG_V2], t->sub, strerror(errno));
			if (top >= 0)
				close(top);
			if (t->base[CG_V2] >= 0)
				close(t->base[CG_V2]);
			t->base[CG_V2] = -1;
			return;
		}
		t->parent[CG_V2] = top;
		snprintf(path, sizeof path, "%s/%s", f->mnt[CG_V2], t->sub);
	}
	t->delegated = t->parent[CG_V2] < 0;
	snprintf(t->path[CG_V2], sizeof t->path[CG_V2], "%s", path);
	t->v2_kill = cg_file_has(t->base[CG_V2], "cgroup.kill");
	t->v2_freeze = cg_file_has(t->base[CG_V2], "cgroup.freeze");
	t->v2_cpu = cg_file_has(t->base[CG_V2], "cpu.stat");
	v2_controllers(t, t->base[CG_V2], why, whysize);
}

/* The v1 subtree of hierarchy H: <mount><our group>/hotfarm-HOST. 0, or
 * the errno of what failed (the caller says it: one line for them all). */
static int v1_open(struct cg_tree *t, const struct found *f, int h, char *why, size_t whysize)
{
	char path[512];
	if (!f->mnt[h][0])
		return 0;
	if (own_path(f, h, path, sizeof path) < 0) {
		cg_note(why, whysize, "our v1 %s group %s is not below %s", hier_name[h], f->own[h], f->mnt[h]);
		return 0;
	}
	int own = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (own < 0 || !writable(own) || (mkdirat(own, t->sub, 0755) < 0 && errno != EEXIST) ||
	    (t->base[h] = cg_dir_at(own, t->sub)) < 0 || !writable(t->base[h])) {
		int e = errno;
		if (own >= 0)
			close(own);
		if (t->base[h] >= 0)
			close(t->base[h]);
		t->base[h] = -1;
		return e ? e : EIO;
	}
	t->parent[h] = own;
	snprintf(t->path[h], sizeof t->path[h], "%s/%s", path, t->sub);
	return 0;
}

/* "v1 pids, memory: Permission denied": the hierarchies that failed, by error */
static void v1_failed(const int err[CG_NHIER], char *why, size_t whysize)
{
	bool told[CG_NHIER] = {false};
	for (int h = CG_V2 + 1; h < CG_NHIER; h++) {
		if (!err[h] || told[h])
			continue;
		char names[128] = "";
		for (int k = h; k < CG_NHIER; k++)
			if (err[k] == err[h]) {
				snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
				         k == h ? "" : ", ", hier_name[k]);
				told[k] = true;
			}
		cg_note(why, whysize, "v1 %s: cannot make groups in ours: %s", names, strerror(err[h]));
	}
}

/* What T uses, in a line for the agent's log. */
static void tree_say(const struct cg_tree *t, const char *why, char *said, size_t size)
{
	char line[2048] = "";
	if (t->base[CG_V2] >= 0)
		cg_note(line, sizeof line, "cgroup v2 at %s (%s%s%s%s%s%s)", t->path[CG_V2],
		        t->delegated ? "delegated, " : "", t->v2_kill ? "kill" : "no kill",
		        t->v2_freeze ? ", freeze" : "", t->v2_cpu ? ", cpu.stat" : "", t->v2_pids ? ", pids" : "",
		        t->v2_memory ? ", memory" : "");
	size_t n = strlen(line);
	for (int h = CG_V2 + 1; h < CG_NHIER; h++)
		if (t->base[h] >= 0) {
			if (strlen(line) == n)
				cg_note(line, sizeof line, "%sv1 %s at %s", n ? "" : "cgroup ", hier_name[h],
				        t->path[h]);
			else
				snprintf(line + strlen(line), sizeof line - strlen(line), ", %s at %s", hier_name[h],
				         t->path[h]);
		}
	if (!t->pids_ok)
		cg_note(line, sizeof line, "no pids controller: pids.max not enforced");
	if (!t->memory_ok)
		cg_note(line, sizeof line, "no memory controller: memory.max not enforced");
	if (*why)
		cg_note(line, sizeof line, "not used: %s", why);
	snprintf(said, size, "%s", line);
}

int cg_tree_open(struct cg_tree *t, const char *host, int flags, char *said, size_t saidsize)
{
	memset(t, 0, sizeof *t);
	for (int h = 0; h < CG_NHIER; h++)
		t->base[h] = t->parent[h] = -1;
	if (!cg_name_ok(host, 96)) {
		snprintf(said, saidsize, "cgroups not used: the host name is not usable in a group's name");
		return -1;
	}
	snprintf(t->sub, sizeof t->sub, "hotfarm-%s", host);
	struct found f;
	memset(&f, 0, sizeof f);
	char why[1024] = "";
	if (mounts_read(&f) < 0 || own_read(&f) < 0) {
		snprintf(said, saidsize, "cgroups not used: cannot read /proc/self: %s", strerror(errno));
		return -1;
	}
	if (f.mnt[CG_V2][0] && !(flags & CG_TREE_NO_V2))
		v2_open(t, &f, why, sizeof why);
	/* v1 for what v2 does not do: limits, CPU, and (without cgroup.kill)
	 * the freezer that holds a group still while it is killed */
	bool v2 = t->base[CG_V2] >= 0;
	int err[CG_NHIER] = {0};
	if (!t->v2_pids)
		err[CG_PIDS] = v1_open(t, &f, CG_PIDS, why, sizeof why);
	if (!t->v2_memory)
		err[CG_MEMORY] = v1_open(t, &f, CG_MEMORY, why, sizeof why);
	if (!t->v2_cpu)
		err[CG_CPUACCT] = v1_open(t, &f, CG_CPUACCT, why, sizeof why);
	if (!v2 || !t->v2_kill)
		err[CG_FREEZER] = v1_open(t, &f, CG_FREEZER, why, sizeof why);
	v1_failed(err, why, sizeof why);
	t->pids_ok = t->v2_pids || t->base[CG_PIDS] >= 0;
	t->memory_ok = t->v2_memory || t->base[CG_MEMORY] >= 0;
	bool any = false;
	for (int h = 0; h < CG_NHIER; h++)
		any = any || t->base[h] >= 0;
	if (!any) {
		bool mounted = false;
		for (int h = 0; h < CG_NHIER; h++)
			mounted = mounted || f.mnt[h][0];
		snprintf(said, saidsize, "cgroups not used: %s", mounted ? why : "no cgroup file system is mounted");
		cg_tree_close(t, false);
		return -1;
	}
	tree_say(t, why, said, saidsize);
	return 0;
}

long long cg_tree_mem_limit_kb(const struct cg_tree *t)
{
	unsigned long long limit = 0;
	bool have = false;
	if (t->v2_memory && t->delegated) {
		/* our own delegated group: its memory.max ("max": none) */
		have = cg_file_number(t->base[CG_V2], "memory.max", &limit) == 0;
	} else if (!t->v2_memory && t->base[CG_MEMORY] >= 0) {
		/* v1: the least limit of the subtree and every group above it */
		char stat[8192];
		have = cg_file_get(t->base[CG_MEMORY], "memory.stat", stat, sizeof stat) > 0 &&
		       cg_key_number(stat, "hierarchical_memory_limit", &limit);
	}
	/* v1 says "no limit" with a number near 2^63 */
	return have && limit < (1ULL << 60) ? (long long)(limit / 1024) : -1;
}

int cg_tree_close(struct cg_tree *t, bool remove)
{
	int r = 0, e = 0;
	for (int h = 0; h < CG_NHIER; h++) {
		if (t->base[h] >= 0)
			close(t->base[h]);
		if (t->parent[h] >= 0) {
			if (remove && unlinkat(t->parent[h], t->sub, AT_REMOVEDIR) < 0 && errno != ENOENT) {
				r = -1;
				e = errno;
			}
			close(t->parent[h]);
		}
		t->base[h] = t->parent[h] = -1;
	}
	errno = e;
	return r;
}

/* ---- what an earlier agent left --------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Kill everything in A, wait until it is empty (until DEADLINE, in
 * now_ms time), and remove it. */
static int attempt_end(struct cg_attempt *a, long long deadline)
{
	for (;;) {
		int killed = cg_attempt_kill(a);
		if (cg_attempt_empty(a))
			break;
		if (now_ms() >= deadline || killed < 0) {
			cg_attempt_close(a);
			errno = EBUSY;
			return -1;
		}
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
	if (cg_attempt_remove(a) == 0)
		return 0;
	int e = errno;
	cg_attempt_close(a);
	errno = e;
	return -1;
}

/* One pass over the groups in hierarchy H's subtree: each ended. How many
 * were removed; *LEFT counts those that could not be. */
static int clear_pass(struct cg_tree *t, int h, long long deadline, int *left)
{
	int fd = cg_dir_at(t->base[h], "."), removed = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		(*left)++;
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.' ||
		    (t->delegated && h == CG_V2 && !strcmp(e->d_name, "agent")))
			continue;
		struct cg_attempt a;
		if (cg_attempt_open(t, e->d_name, &a) == 0 && attempt_end(&a, deadline) == 0)
			removed++;
		else
			(*left)++;
	}
	closedir(d);
	return removed;
}

int cg_tree_clear(struct cg_tree *t)
{
	long long deadline = now_ms() + 5000;
	int all = 0;
	for (int h = 0; h < CG_NHIER; h++) {
		if (t->base[h] < 0)
			continue;
		/* again while it removes: a listing need not show what follows
		 * an entry removed while it is read */
		int left;
		do
			left = 0;
		while (clear_pass(t, h, deadline, &left) > 0 && left);
		all += left;
	}
	return all;
}
