/* probe.c - what a render host is: machine, OS, CPUs, memory, GPUs and the
 * packages of conf/packages/ (by their probe commands). Distrusts their
 * output: only a version matching the pattern, cut to a safe alphabet. */
#define _GNU_SOURCE
#include "agent.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void clean_value(const char *in, char *out, size_t outsize)
{
	size_t n = 0;
	for (; *in && n + 1 < outsize; in++)
		if (isprint((unsigned char)*in) && *in != '"' && *in != '\'')
			out[n++] = *in;
	out[n] = 0;
	while (n && out[n - 1] == ' ')
		out[--n] = 0;
}

static void put(struct buf *b, const char *key, const char *value)
{
	char clean[256], q[300];
	clean_value(value, clean, sizeof clean);
	buf_printf(b, "%s = %s\n", key, *clean ? ini_quote(clean, q, sizeof q) : "");
}

static void cpuinfo(char *model, size_t msize, char *mhz, size_t hsize)
{
	snprintf(model, msize, "unknown");
	snprintf(mhz, hsize, "0");
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];
	bool got_model = false, got_mhz = false;
	while (f && fgets(line, sizeof line, f) && !(got_model && got_mhz)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		char *v = colon + 1;
		while (*v == ' ')
			v++;
		v[strcspn(v, "\n")] = 0;
		if (!got_model && !strncmp(line, "model name", 10)) {
			snprintf(model, msize, "%s", v);
			got_model = true;
		} else if (!got_mhz && !strncmp(line, "cpu MHz", 7)) {
			snprintf(mhz, hsize, "%.0f", atof(v));
			got_mhz = true;
		}
	}
	if (f)
		fclose(f);
}

static void os_release(char *id, size_t isize, char *ver, size_t vsize)
{
	snprintf(id, isize, "unknown");
	snprintf(ver, vsize, "unknown");
	FILE *f = fopen("/etc/os-release", "re");
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = 0;
		if (*v == '"') {
			v++;
			v[strcspn(v, "\"")] = 0;
		}
		if (!strcmp(line, "ID"))
			snprintf(id, isize, "%s", v);
		else if (!strcmp(line, "VERSION_ID"))
			snprintf(ver, vsize, "%s", v);
	}
	if (f)
		fclose(f);
}

static void gpus(struct buf *out)
{
	DIR *d = opendir("/sys/class/drm");
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "card", 4) || strchr(e->d_name, '-'))
			continue;
		char path[300], vendor[32] = "", device[32] = "";
		snprintf(path, sizeof path, "/sys/class/drm/%s/device/vendor", e->d_name);
		FILE *f = fopen(path, "re");
		if (f) {
			if (!fgets(vendor, sizeof vendor, f))
				vendor[0] = 0;
			fclose(f);
		}
		snprintf(path, sizeof path, "/sys/class/drm/%s/device/device", e->d_name);
		f = fopen(path, "re");
		if (f) {
			if (!fgets(device, sizeof device, f))
				device[0] = 0;
			fclose(f);
		}
		vendor[strcspn(vendor, "\n")] = 0;
		device[strcspn(device, "\n")] = 0;
		const char *name = !strcmp(vendor, "0x10de") ? "nvidia"
				   : !strcmp(vendor, "0x1002") ? "amd"
				   : !strcmp(vendor, "0x8086") ? "intel"
				   : !strcmp(vendor, "0x1af4") ? "virtio"
							       : "other";
		buf_printf(out, "%s%s:%s", n++ ? "," : "", name, device);
	}
	if (d)
		closedir(d);
	if (!n)
		buf_printf(out, "none");
}

/* Where COMMAND is as an executable in $PATH (or as a path): its stat in
 * ST; false when there is none. */
static bool in_path(const char *command, struct stat *st)
{
	if (strchr(command, '/'))
		return access(command, X_OK) == 0 && stat(command, st) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = xstrdup(path), *save = NULL;
	bool found = false;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *full = xasprintf("%s/%s", *dir ? dir : ".", command);
		found = access(full, X_OK) == 0 && stat(full, st) == 0;
		free(full);
	}
	free(copy);
	return found;
}

/* Versions found before, by package (a hash of its probe command,
 * arguments and pattern) and the identity of the command's file: the
 * probe runs again only when one of them changed (an upgrade, an edited
 * package), so the agent's periodic probe costs nothing (Blender's
 * --version alone takes a second or more). Kept in hosts/HOST/versions
 * too, for an agent restarted after a crash. Only found versions are
 * kept: a failed probe is tried again next time. */
struct known_version {
	unsigned long long key;
	unsigned long long dev, ino, size, sec, nsec;
	char version[64];
};
static struct known_version *known;
static size_t nknown;
static bool known_loaded, known_changed;

static bool known_same(const struct known_version *k, const struct stat *st)
{
	return k->dev == (unsigned long long)st->st_dev && k->ino == (unsigned long long)st->st_ino &&
	       k->size == (unsigned long long)st->st_size && k->sec == (unsigned long long)st->st_mtim.tv_sec &&
	       k->nsec == (unsigned long long)st->st_mtim.tv_nsec;
}

static struct known_version *known_find(unsigned long long key, const struct stat *st)
{
	for (size_t i = 0; i < nknown; i++)
		if (known[i].key == key && known_same(&known[i], st))
			return &known[i];
	return NULL;
}

/* A version is what a probe may say: letters, digits and ._-+ */
static bool version_char(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("._-+", c));
}

static bool version_ok(const char *v)
{
	for (const char *c = v; *c; c++)
		if (!version_char(*c))
			return false;
	return *v;
}

static void known_set(unsigned long long key, const struct known_version *from)
{
	struct known_version *k = NULL;
	for (size_t i = 0; i < nknown && !k; i++)
		if (known[i].key == key)
			k = &known[i];
	if (!k) {
		known = xrealloc(known, (nknown + 1) * sizeof *known);
		k = &known[nknown++];
	}
	*k = *from;
	k->key = key;
}

static void known_put(unsigned long long key, const struct stat *st, const char *version)
{
	struct known_version k = {.dev = (unsigned long long)st->st_dev, .ino = (unsigned long long)st->st_ino,
				  .size = (unsigned long long)st->st_size,
				  .sec = (unsigned long long)st->st_mtim.tv_sec,
				  .nsec = (unsigned long long)st->st_mtim.tv_nsec};
	snprintf(k.version, sizeof k.version, "%s", version);
	known_set(key, &k);
	known_changed = true;
}

/* What an earlier run of this agent noted (hosts/HOST/versions): a line
 * "KEY DEV INO SIZE SEC NSEC VERSION" a version; anything else is skipped. */
static void known_load(void)
{
	known_loaded = true;
	char *text = host_versions_read(agent.hostfd);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		struct known_version k;
		if (sscanf(line, "%llx %llu %llu %llu %llu %llu %63s", &k.key, &k.dev, &k.ino, &k.size, &k.sec,
			   &k.nsec, k.version) == 7 &&
		    version_ok(k.version))
			known_set(k.key, &k);
	}
	free(text);
}

static void known_save(void)
{
	if (!known_changed)
		return;
	struct buf b = {0};
	for (size_t i = 0; i < nknown; i++)
		buf_printf(&b, "%016llx %llu %llu %llu %llu %llu %s\n", known[i].key, known[i].dev, known[i].ino,
			   known[i].size, known[i].sec, known[i].nsec, known[i].version);
	if (host_versions_write(agent.hostfd, b.data ? b.data : "", b.len) == 0)
		known_changed = false;
	buf_free(&b);
}

/* Run ARGV (found in $PATH; its stdin /dev/null, its stdout, and its
 * stderr when STDERR_TOO, into OUT, at most OUTSIZE - 1 bytes, ended by a
 * NUL) for at most TIMEOUT_US; then its group is killed and it is reaped
 * here, before the main loop's reap() could take it. Its wait status, or
 * -1 when it could not be started. */
int run_capture(char *const argv[], bool stderr_too, char *out, size_t outsize, int64_t timeout_us)
{
	int fds[2];
	*out = 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	if (stderr_too)
		posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3); /* the inotify descriptor is not close-on-exec */
	posix_spawnattr_t at;
	spawn_attr_child(&at);
	pid_t pid;
	int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[1]);
	if (e) {
		close(fds[0]);
		return -1;
	}
	size_t len = 0;
	int64_t deadline = mono_us() + timeout_us;
	for (;;) {
		struct pollfd pf = {.fd = fds[0], .events = POLLIN};
		int left = (int)((deadline - mono_us()) / 1000);
		if (left <= 0 || poll(&pf, 1, left) <= 0)
			break;
		ssize_t n = read(fds[0], out + len, outsize - 1 - len);
		if (n <= 0 || (len += (size_t)n) == outsize - 1)
			break;
	}
	out[len] = 0;
	close(fds[0]);
	kill(-pid, SIGKILL); /* a zombie until reaped: the group is still ours */
	int status = 0;
	return waitpid(pid, &status, 0) == pid ? status : -1;
}


/* Run the probe command, read what it prints (both streams, at most
 * 64 KiB, at most 10 s) and pick the version out. */
static bool probe_version(const struct package *p, char *version, size_t vsize)
{
	if (!*p->probe_command) {
		snprintf(version, vsize, "%s", p->version);
		return true;
	}
	struct stat st;
	if (!in_path(p->probe_command, &st))
		return false;
	struct buf kb = {0};
	buf_printf(&kb, "%s\n%s\n%s", p->name, p->version_regex, p->probe_command);
	for (size_t i = 0; i < p->probe_args.n; i++)
		buf_printf(&kb, "\n%s", p->probe_args.v[i]);
	unsigned long long key = text_hash(kb.data);
	buf_free(&kb);
	struct known_version *k = known_find(key, &st);
	if (k) {
		snprintf(version, vsize, "%s", k->version);
		return true;
	}
	char **argv = xcalloc(p->probe_args.n + 2, sizeof *argv);
	argv[0] = (char *)p->probe_command;
	for (size_t i = 0; i < p->probe_args.n; i++)
		argv[i + 1] = p->probe_args.v[i];
	char out[65536];
	int status = run_capture(argv, true, out, sizeof out, 10 * 1000000LL);
	free(argv);
	if (status == -1)
		return false;
	regex_t re;
	if (regcomp(&re, *p->version_regex ? p->version_regex : "([0-9][0-9.]*)", REG_EXTENDED) != 0)
		return false;
	regmatch_t m[2];
	bool ok = regexec(&re, out, 2, m, 0) == 0 && m[1].rm_so >= 0;
	if (ok) {
		size_t n = 0;
		for (regoff_t i = m[1].rm_so; i < m[1].rm_eo && n + 1 < vsize; i++)
			if (version_char(out[i]))
				version[n++] = out[i];
		version[n] = 0;
		ok = n > 0;
	}
	regfree(&re);
	if (ok)
		known_put(key, &st, version);
	return ok;
}

void probe_host(const struct spool *sp, const char *name, int slots, struct buf *out)
{
	struct utsname u;
	uname(&u);
	char model[256], mhz[32], distro[64], distro_ver[64], host[256];
	cpuinfo(model, sizeof model, mhz, sizeof mhz);
	os_release(distro, sizeof distro, distro_ver, sizeof distro_ver);
	gethostname(host, sizeof host);
	host[sizeof host - 1] = 0;
	struct sysinfo si;
	sysinfo(&si);
	unsigned long long ram = (unsigned long long)si.totalram * si.mem_unit >> 20;
	unsigned long long swap = (unsigned long long)si.totalswap * si.mem_unit >> 20;
	char num[64];
	buf_printf(out, "# written by render-agent: what this host is and can render\n[host]\n");
	put(out, "name", name);
	put(out, "hostname", host);
	put(out, "machine", u.machine);
	put(out, "os", u.sysname);
	put(out, "os_family", "linux");
	put(out, "os_version", u.release);
	put(out, "distro", distro);
	put(out, "distro_version", distro_ver);
	snprintf(num, sizeof num, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	put(out, "cpus", num);
	put(out, "cpu_model", model);
	put(out, "cpu_mhz", mhz);
	snprintf(num, sizeof num, "%llu", ram);
	put(out, "ram_mb", num);
	snprintf(num, sizeof num, "%llu", swap);
	put(out, "swap_mb", num);
	struct buf g = {0};
	gpus(&g);
	put(out, "gpu", g.data);
	buf_free(&g);
	snprintf(num, sizeof num, "%d", slots);
	put(out, "slots", num);
	buf_printf(out, "\n[packages]\n");
	if (!known_loaded)
		known_load();
	struct strlist names = {0};
	package_names(spool_fd(sp, DIR_CONF), &names);
	for (size_t i = 0; i < names.n; i++) {
		struct package p;
		char err[512], version[64];
		if (package_load(spool_fd(sp, DIR_CONF), names.v[i], &p, err, sizeof err) < 0) {
			warn("%s", err);
			continue;
		}
		if (probe_version(&p, version, sizeof version))
			put(out, p.name, version);
		package_free(&p);
	}
	strlist_free(&names);
	known_save();
}
