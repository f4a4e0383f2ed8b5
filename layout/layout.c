/* layout.c - the spool tree and every state change in it. Entries and
 * tickets move by one rename each; status.ini follows the entries. Names
 * read from the tree are checked before use and skipped when malformed. */
#define _GNU_SOURCE
#include "layout.h"
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
#include <unistd.h>

static const char *const state_dirs[STATE_COUNT] = {
	"new", "queue", "held", "outsourced", "done", "failed", "cancelled",
};
static const char *const state_words[STATE_COUNT] = {
	"new", "queued", "held", "outsourced", "done", "failed", "cancelled",
};
static const char *const spool_dirs[DIR_STATE_FIRST] = {
	"inbox", "rejected", "jobs", "cancel", "hosts", "limits", "sites", "status", "conf", "work", "run",
};
static const char *const ticket_dirs[TICKET_COUNT] = {"todo", "active", "done", "failed"};

const char *state_dir_name(enum job_state s) { return (s >= 0 && s < STATE_COUNT) ? state_dirs[s] : "?"; }
const char *state_word(enum job_state s) { return (s >= 0 && s < STATE_COUNT) ? state_words[s] : "unknown"; }
bool state_is_final(enum job_state s) { return s == STATE_DONE || s == STATE_FAILED || s == STATE_CANCELLED; }
const char *ticket_dir_name(enum ticket_state s) { return ticket_dirs[s]; }

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

static bool conf_number(struct ini *ini, const char *sec, const char *key, long min, long max, long *out,
			char *err, size_t errsize)
{
	const char *v = ini_get(ini, sec, key);
	if (!v)
		return true;
	if (parse_long(v, min, max, out))
		return true;
	snprintf(err, errsize, "conf/hotfarm.ini line %d: [%s] %s must be a whole number from %ld to %ld, not '%s'",
		 ini_line(ini, sec, key), sec, key, min, max, v);
	return false;
}

static bool conf_seconds(struct ini *ini, const char *sec, const char *key, long max, long *out, char *err,
			 size_t errsize)
{
	const char *v = ini_get(ini, sec, key);
	if (!v)
		return true;
	if (parse_seconds(v, max, out))
		return true;
	snprintf(err, errsize, "conf/hotfarm.ini line %d: [%s] %s must be a time like 300, 90s, 5m or 2h, not '%s'",
		 ini_line(ini, sec, key), sec, key, v);
	return false;
}

static bool conf_bool(struct ini *ini, const char *sec, const char *key, bool *out, char *err, size_t errsize)
{
	const char *v = ini_get(ini, sec, key);
	if (!v)
		return true;
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "on"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "off"))
		*out = false;
	else {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [%s] %s must be yes or no, not '%s'",
			 ini_line(ini, sec, key), sec, key, v);
		return false;
	}
	return true;
}

/* [site NAME] sections: the linked sites and how to reach them. */
static int site_links_load(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	const char **secs;
	size_t ns = ini_sections(ini, &secs);
	for (size_t i = 0; i < ns; i++) {
		if (strncmp(secs[i], "site ", 5))
			continue;
		const char *peer = secs[i] + 5;
		const char *t = ini_get(ini, secs[i], "transport");
		if (!name_is_valid(peer) || strlen(peer) > SITE_NAME_MAX) {
			snprintf(err, errsize, "conf/hotfarm.ini: [%s]: a site's name holds letters, digits, '.', '_' and '-' (at most %d)",
				 secs[i], SITE_NAME_MAX);
			return -1;
		}
		if (!strcmp(peer, c->name)) {
			snprintf(err, errsize, "conf/hotfarm.ini: [%s] links this site (%s) to itself", secs[i], c->name);
			return -1;
		}
		if (!t || !*t) {
			snprintf(err, errsize, "conf/hotfarm.ini: [%s] needs a transport (a command that reaches the peer's `hotfarm sync --serve`)",
				 secs[i]);
			return -1;
		}
		if (c->nlinks == (int)(sizeof c->links / sizeof c->links[0])) {
			snprintf(err, errsize, "conf/hotfarm.ini: at most %zu linked sites", sizeof c->links / sizeof c->links[0]);
			return -1;
		}
		struct site_link *l = &c->links[c->nlinks++];
		snprintf(l->name, sizeof l->name, "%s", peer);
		snprintf(l->transport, sizeof l->transport, "%s", t);
	}
	return 0;
}

/* A warning for each section and key of conf/hotfarm.ini that nothing
 * reads: a typo would otherwise be ignored without a word. */
static void conf_unknown(const struct ini *ini, struct strlist *warnings)
{
	static const char *const site[] = {"name", "fsync", "auto_wait", "summary", "retain_days", NULL};
	static const char *const intake[] = {"max_bytes", "max_entries", "max_frames", "processes", "orphan_grace",
					     "settle", NULL};
	static const char *const watcherd[] = {"rescan", "rescan_ms", "inotify", NULL};
	static const char *const agent[] = {"heartbeat", "host_timeout", "hang_timeout", "kill_grace_ms", "fail_limit",
					    "fair_share", "probe_interval", "confine", "render_user", "slots",
					    "render_mem", "render_fsize", "min_free", NULL};
	static const char *const notify[] = {"command", "progress", NULL};
	static const char *const link[] = {"transport", NULL};
	static const char *const sections[] = {"site", "intake", "watcherd", "agent", "notify", NULL};
	static const char *const *const keys[] = {site, intake, watcherd, agent, notify};
	const char **secs;
	size_t ns = ini_sections(ini, &secs);
	for (size_t i = 0; i < ns; i++) {
		const char *const *known = !strncmp(secs[i], "site ", 5) ? link : NULL;
		for (int k = 0; !known && sections[k]; k++)
			if (!strcmp(secs[i], sections[k]))
				known = keys[k];
		if (known) {
			ini_unknown(ini, "conf/hotfarm.ini", secs[i], known, warnings);
		} else {
			char msg[300];
			snprintf(msg, sizeof msg, "conf/hotfarm.ini: unknown section [%s] is ignored", secs[i]);
			strlist_add(warnings, msg);
		}
	}
}

static int site_conf_load(struct spool *sp, char *err, size_t errsize)
{
	struct site_conf *c = &sp->conf;
	char host[64];
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "site");
	host[sizeof host - 1] = 0;
	snprintf(c->name, sizeof c->name, "%s", host);
	str_lower(c->name); /* site names are case-blind */
	c->max_bytes = 20ULL << 30;
	c->min_free = 64ULL << 20;
	c->max_entries = 100000;
	c->max_frames = 100000;
	c->orphan_grace = 300;
	c->settle = 3;
	c->processes = 4;
	c->rescan_ms = 2000;
	c->use_inotify = true;
	c->fsync = true;
	c->heartbeat = 2;
	c->host_timeout = 30;
	c->hang_timeout = 300;
	c->kill_grace_ms = 800;
	c->fail_limit = 3;
	c->fair_share = false;
	c->probe_interval = 30;
	c->confine = true;
	if (access("/usr/sbin/sendmail", X_OK) == 0)
		snprintf(c->notify_command, sizeof c->notify_command, "/usr/sbin/sendmail -t");
	c->notify_progress = 3600;
	c->auto_wait = 600;
	c->summary_interval = 5;
	c->retain_days = 14;

	int conf = spool_fd(sp, DIR_CONF);
	if (faccessat(conf, "hotfarm.ini", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	struct ini *ini = ini_load(conf, "hotfarm.ini", "conf/hotfarm.ini", err, errsize);
	if (!ini)
		return -1;
	int rc = -1;
	long rescan = c->rescan_ms / 1000;
	const char *v;
	if ((v = ini_get(ini, "site", "name"))) {
		if (!name_is_valid(v) || strlen(v) >= sizeof c->name) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [site] name '%s' may hold only letters, digits, '.', '_' and '-'",
				 ini_line(ini, "site", "name"), v);
			goto out;
		}
		snprintf(c->name, sizeof c->name, "%s", v);
		/* site names are case-blind: [site NAME] sections are lower case */
		str_lower(c->name);
	}
	if ((v = ini_get(ini, "intake", "max_bytes")) && !parse_bytes(v, &c->max_bytes)) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [intake] max_bytes must be a size like 20G or 512M, not '%s'",
			 ini_line(ini, "intake", "max_bytes"), v);
		goto out;
	}
	if (!conf_number(ini, "intake", "max_entries", 1, 100000000, &c->max_entries, err, errsize) ||
	    !conf_number(ini, "intake", "max_frames", 1, 1000000, &c->max_frames, err, errsize) ||
	    !conf_number(ini, "intake", "processes", 1, 64, &c->processes, err, errsize) ||
	    !conf_seconds(ini, "intake", "orphan_grace", 86400 * 30, &c->orphan_grace, err, errsize) ||
	    !conf_seconds(ini, "intake", "settle", 3600, &c->settle, err, errsize) ||
	    !conf_seconds(ini, "watcherd", "rescan", 3600, &rescan, err, errsize) ||
	    !conf_bool(ini, "watcherd", "inotify", &c->use_inotify, err, errsize) ||
	    !conf_bool(ini, "site", "fsync", &c->fsync, err, errsize) ||
	    !conf_seconds(ini, "agent", "heartbeat", 3600, &c->heartbeat, err, errsize) ||
	    !conf_seconds(ini, "agent", "host_timeout", 86400, &c->host_timeout, err, errsize) ||
	    !conf_seconds(ini, "agent", "hang_timeout", 86400 * 7, &c->hang_timeout, err, errsize) ||
	    !conf_number(ini, "agent", "kill_grace_ms", 0, 600000, &c->kill_grace_ms, err, errsize) ||
	    !conf_number(ini, "agent", "fail_limit", 1, 1000, &c->fail_limit, err, errsize) ||
	    !conf_bool(ini, "agent", "fair_share", &c->fair_share, err, errsize) ||
	    !conf_seconds(ini, "agent", "probe_interval", 86400, &c->probe_interval, err, errsize))
		goto out;
	if (c->heartbeat < 1)
		c->heartbeat = 1;
	if (c->host_timeout < 2 * c->heartbeat) {
		snprintf(err, errsize, "conf/hotfarm.ini: [agent] host_timeout (%ld s) must be at least twice heartbeat "
			 "(%ld s), or a host would be taken for lost between two heartbeats", c->host_timeout, c->heartbeat);
		goto out;
	}
	if (c->probe_interval < 1) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] probe_interval must be at least 1 s",
			 ini_line(ini, "agent", "probe_interval"));
		goto out;
	}
	if (!conf_bool(ini, "agent", "confine", &c->confine, err, errsize))
		goto out;
	if ((v = ini_get(ini, "agent", "render_user"))) {
		if (!name_is_valid(v) || strlen(v) >= sizeof c->render_user) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] render_user must be a user name, not '%s'",
				 ini_line(ini, "agent", "render_user"), v);
			goto out;
		}
		snprintf(c->render_user, sizeof c->render_user, "%s", v);
	}
	if ((v = ini_get(ini, "agent", "slots")) && strcasecmp(v, "auto") && !parse_long(v, 1, 1024, &c->slots)) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] slots must be auto or a number from 1 to 1024, not '%s'",
			 ini_line(ini, "agent", "slots"), v);
		goto out;
	}
	const char *limkeys[] = {"render_mem", "render_fsize", "min_free"};
	unsigned long long *lims[] = {&c->render_mem, &c->render_fsize, &c->min_free};
	for (int i = 0; i < 3; i++)
		if ((v = ini_get(ini, "agent", limkeys[i])) && !parse_bytes(v, lims[i])) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] %s must be a size like 4G, not '%s'",
				 ini_line(ini, "agent", limkeys[i]), limkeys[i], v);
			goto out;
		}
	if ((v = ini_get(ini, "notify", "command")))
		snprintf(c->notify_command, sizeof c->notify_command, "%s", v);
	if (!conf_seconds(ini, "notify", "progress", 86400 * 30, &c->notify_progress, err, errsize))
		goto out;
	if (!conf_seconds(ini, "site", "auto_wait", 86400 * 30, &c->auto_wait, err, errsize) ||
	    !conf_seconds(ini, "site", "summary", 3600, &c->summary_interval, err, errsize) ||
	    !conf_number(ini, "site", "retain_days", 0, 3650, &c->retain_days, err, errsize))
		goto out;
	if (c->summary_interval < 1)
		c->summary_interval = 1;
	if (site_links_load(ini, c, err, errsize) < 0)
		goto out;
	if ((v = ini_get(ini, "watcherd", "rescan_ms"))) {
		if (!conf_number(ini, "watcherd", "rescan_ms", 50, 3600000, &c->rescan_ms, err, errsize))
			goto out;
	} else if (ini_get(ini, "watcherd", "rescan")) {
		c->rescan_ms = rescan < 1 ? 1000 : rescan * 1000;
	}
	conf_unknown(ini, &sp->conf_warnings);
	sync_writes = c->fsync;
	rc = 0;
out:
	ini_free(ini);
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

void spool_conf_warn(const struct spool *sp)
{
	for (size_t i = 0; i < sp->conf_warnings.n; i++)
		warn("%s", sp->conf_warnings.v[i]);
}

int spool_conf_reload(struct spool *sp, char *err, size_t errsize)
{
	struct spool tmp = *sp;
	memset(&tmp.conf, 0, sizeof tmp.conf);
	tmp.conf_warnings = (struct strlist){0};
	if (site_conf_load(&tmp, err, errsize) < 0) {
		strlist_free(&tmp.conf_warnings);
		sync_writes = sp->conf.fsync;
		return -1;
	}
	sp->conf = tmp.conf;
	strlist_free(&sp->conf_warnings);
	sp->conf_warnings = tmp.conf_warnings;
	return 0;
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

enum job_state job_find(const struct spool *sp, const char *name, char entry[ENTRY_MAX_LEN])
{
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

int job_remove(const struct spool *sp, const char *id)
{
	char entry[ENTRY_MAX_LEN], name[NAME_MAX_LEN + 1], site[SITE_NAME_MAX + 1];
	if (!job_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	enum job_state s = job_find(sp, id, entry);
	if (s != STATE_NONE && unlinkat(state_fd(sp, s), entry, 0) < 0 && errno != ENOENT)
		return -1;
	job_id_split(id, name, site);
	int jobs = *site ? site_dir_open(sp, site, "jobs") : dup(spool_fd(sp, DIR_JOBS));
	if (jobs < 0)
		return -1;
	int rc = tree_remove(jobs, name);
	int e = errno;
	close(jobs);
	errno = e;
	return rc < 0 && e == ENOENT ? 0 : rc;
}

/* ---- linked sites ---- */

bool site_file_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 200 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isascii(c) && (isalnum(c) || c == '.' || c == '_' || c == '-' || c == '@')))
			return false;
	}
	return true;
}

const struct site_link *site_link_find(const struct spool *sp, const char *peer)
{
	for (int i = 0; i < sp->conf.nlinks; i++)
		if (!strcmp(sp->conf.links[i].name, peer))
			return &sp->conf.links[i];
	return NULL;
}

int site_dir_open(const struct spool *sp, const char *peer, const char *sub)
{
	if (!name_is_valid(peer) || strlen(peer) > SITE_NAME_MAX) {
		errno = EINVAL;
		return -1;
	}
	int s = spool_fd(sp, DIR_SITES);
	mkdirat(s, peer, 0755);
	int p = openat(s, peer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p < 0)
		return -1;
	mkdirat(p, sub, 0755);
	int d = openat(p, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	close(p);
	errno = e;
	return d;
}

int spool_view_site(struct spool *sp, const char *peer)
{
	const enum spool_dir which[] = {DIR_INBOX, DIR_JOBS, DIR_REJECTED};
	const char *subs[] = {"in", "jobs", "rejected"};
	for (int i = 0; i < 3; i++) {
		int fd = site_dir_open(sp, peer, subs[i]);
		if (fd < 0)
			return -1;
		close(sp->dir[which[i]]);
		sp->dir[which[i]] = fd;
	}
	return 0;
}

int site_out_publish(const struct spool *sp, const char *peer, int srcdir, const char *src, const char *name)
{
	int out = site_dir_open(sp, peer, "out");
	if (out < 0)
		return -1;
	int rc = renameat(srcdir, src, out, name);
	int e = errno;
	if (rc == 0 && sync_writes)
		fsync_dir(out);
	close(out);
	errno = e;
	return rc;
}

int site_out_write(const struct spool *sp, const char *peer, const char *name, const char *data, size_t len)
{
	int out = site_dir_open(sp, peer, "out");
	if (out < 0)
		return -1;
	int rc = file_write_atomic(out, name, data, len, 0644);
	int e = errno;
	close(out);
	errno = e;
	return rc;
}

int site_in_move(const struct spool *sp, const char *peer, const char *name, const char *dstsub, const char *dst)
{
	int in = site_dir_open(sp, peer, "in");
	int to = in < 0 ? -1 : site_dir_open(sp, peer, dstsub ? dstsub : "rejected");
	int rc = -1, e = errno;
	if (to >= 0) {
		if (dst) {
			rc = renameat(in, name, to, dst);
		} else {
			char used[NAME_MAX_LEN + 1], base[NAME_MAX_LEN + 1];
			name_sanitize(name, base, sizeof base);
			rc = rename_unique(in, name, to, base, used);
		}
		e = errno;
	}
	if (in >= 0)
		close(in);
	if (to >= 0)
		close(to);
	errno = e;
	return rc;
}

static int64_t get_i64(struct ini *ini, const char *key)
{
	const char *v = ini_get(ini, "status", key);
	long x;
	return (v && parse_long(v, 0, LONG_MAX, &x)) ? x : 0;
}

int job_status_read(int jobfd, struct job_status *st)
{
	memset(st, 0, sizeof *st);
	char err[256];
	struct ini *ini = ini_load(jobfd, "status.ini", "status.ini", err, sizeof err);
	if (!ini)
		return -1;
	const char *v;
	if ((v = ini_get(ini, "status", "state")))
		snprintf(st->state, sizeof st->state, "%s", v);
	if ((v = ini_get(ini, "status", "reason")))
		snprintf(st->reason, sizeof st->reason, "%s", v);
	if ((v = ini_get(ini, "status", "original_name")))
		snprintf(st->original, sizeof st->original, "%s", v);
	if ((v = ini_get(ini, "status", "owner")))
		snprintf(st->owner, sizeof st->owner, "%s", v);
	st->priority = (int)get_i64(ini, "priority");
	st->frames_total = get_i64(ini, "frames_total");
	st->frames_done = get_i64(ini, "frames_done");
	st->frames_failed = get_i64(ini, "frames_failed");
	st->tickets = get_i64(ini, "tickets");
	st->submitted_us = get_i64(ini, "submitted_us");
	st->updated_us = get_i64(ini, "updated_us");
	st->started_us = get_i64(ini, "started_us");
	st->finished_us = get_i64(ini, "finished_us");
	long nw = (long)get_i64(ini, "warnings");
	for (long i = 1; i <= nw && i <= 100; i++) {
		char k[32];
		snprintf(k, sizeof k, "warning%ld", i);
		if ((v = ini_get(ini, "status", k)))
			strlist_add(&st->warnings, v);
	}
	ini_free(ini);
	return 0;
}

static void put(struct buf *b, const char *key, const char *value)
{
	char q[1100];
	char clean[1024];
	text_escape(value, clean, sizeof clean);
	/* a value never holds both quote kinds: drop double quotes then */
	if (strchr(clean, '"') && strchr(clean, '\''))
		for (char *c = clean; *c; c++)
			if (*c == '"')
				*c = '\'';
	buf_printf(b, "%s = %s\n", key, *clean ? ini_quote(clean, q, sizeof q) : "");
}

static void put_time(struct buf *b, const char *key, int64_t us)
{
	if (!us)
		return;
	char iso[32];
	time_iso(us, iso);
	buf_printf(b, "%s = %s\n%s_us = %lld\n", key, iso, key, (long long)us);
}

int job_status_write(int jobfd, const struct job_status *st)
{
	struct buf b = {0};
	buf_printf(&b, "# written by hotfarm; the job's entry folder is the truth\n[status]\n");
	put(&b, "state", st->state);
	put(&b, "reason", st->reason);
	put(&b, "original_name", st->original);
	put(&b, "owner", st->owner);
	buf_printf(&b, "priority = %d\nframes_total = %ld\nframes_done = %ld\nframes_failed = %ld\ntickets = %ld\n",
		   st->priority, st->frames_total, st->frames_done, st->frames_failed, st->tickets);
	put_time(&b, "submitted", st->submitted_us);
	put_time(&b, "started", st->started_us);
	put_time(&b, "finished", st->finished_us);
	put_time(&b, "updated", st->updated_us ? st->updated_us : now_us());
	buf_printf(&b, "warnings = %zu\n", st->warnings.n);
	for (size_t i = 0; i < st->warnings.n && i < 100; i++) {
		char k[32];
		snprintf(k, sizeof k, "warning%zu", i + 1);
		put(&b, k, st->warnings.v[i]);
	}
	int rc = file_write_atomic(jobfd, "status.ini", b.data, b.len, 0644);
	buf_free(&b);
	return rc;
}

void job_status_free(struct job_status *st) { strlist_free(&st->warnings); }

int job_status_lock(int jobfd)
{
	int fd = openat(jobfd, "status.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int job_status_update(const struct spool *sp, const char *name, enum job_state to, const char *reason,
		      int priority)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return -1;
	int lock = job_status_lock(jfd);
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	if ((int)to != STATE_NONE)
		snprintf(st.state, sizeof st.state, "%s", state_word(to));
	if (reason)
		snprintf(st.reason, sizeof st.reason, "%s", reason);
	if (priority >= 0)
		st.priority = priority;
	st.updated_us = now_us();
	if (state_is_final(to) && !st.finished_us)
		st.finished_us = st.updated_us;
	int rc = job_status_write(jfd, &st);
	job_status_free(&st);
	if (lock >= 0)
		close(lock);
	close(jfd);
	return rc;
}

int job_change_state(const struct spool *sp, const char *name, enum job_state to, const char *reason)
{
	char entry[ENTRY_MAX_LEN];
	/* An entry may move while we look for it: try a few times. */
	for (int tries = 0; tries < 5; tries++) {
		enum job_state from = job_find(sp, name, entry);
		if (from == STATE_NONE) {
			errno = ENOENT;
			return -1;
		}
		if (from == to)
			return job_status_update(sp, name, to, reason, -1);
		if (entry_move(sp, from, entry, to, NULL) == 0)
			return job_status_update(sp, name, to, reason, -1);
		if (errno != ENOENT)
			return -1;
	}
	errno = EAGAIN;
	return -1;
}

int job_change_priority(const struct spool *sp, const char *name, int priority)
{
	char entry[ENTRY_MAX_LEN], newentry[ENTRY_MAX_LEN];
	for (int tries = 0; tries < 5; tries++) {
		enum job_state s = job_find(sp, name, entry);
		if (s == STATE_NONE) {
			errno = ENOENT;
			return -1;
		}
		int64_t seq;
		entry_parse(entry, NULL, &seq, NULL);
		entry_format(newentry, priority, seq, name);
		if (!strcmp(entry, newentry) || entry_move(sp, s, entry, s, newentry) == 0)
			return job_status_update(sp, name, STATE_NONE, NULL, priority);
		if (errno != ENOENT)
			return -1;
	}
	errno = EAGAIN;
	return -1;
}

void ticket_format(char out[64], long rank, long first, long last)
{
	if (first == last)
		snprintf(out, 64, "%06ld-%07ld", rank, first);
	else
		snprintf(out, 64, "%06ld-%07ld-%07ld", rank, first, last);
}

long ticket_count(int jobfd, enum ticket_state s)
{
	char path[32];
	snprintf(path, sizeof path, "frames/%s", ticket_dirs[s]);
	DIR *d = dir_open(jobfd, path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int intake_commit(const struct spool *sp, const char *name, const char *entry)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return -1;
	int rc = renameat(jfd, INTAKE_PENDING, state_fd(sp, STATE_NEW), entry);
	int e = errno;
	close(jfd);
	errno = e;
	return rc;
}

static const char *const archive_exts[] = {".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz4", ".tgz",
					   ".tbz2",   ".txz",     ".tzst",   ".tar",     ".zip",     ".7z",
					   NULL};

void drop_stem(const char *file, char *out, size_t outsize)
{
	snprintf(out, outsize, "%s", file);
	if (has_suffix(out, ".ini")) {
		out[strlen(out) - 4] = 0;
		return;
	}
	for (const char *const *e = archive_exts; *e; e++)
		if (has_suffix(out, *e) && strlen(out) > strlen(*e)) {
			out[strlen(out) - strlen(*e)] = 0;
			return;
		}
	char *dot = strrchr(out, '.');
	if (dot && dot != out)
		*dot = 0;
}

static const char *claimed_name(const char *name)
{
	return strcmp(name, "reason.txt") ? name : "dropped-reason.txt";
}

const char *drop_return(const struct spool *sp, int dirfd, const char *name)
{
	const char *back = strcmp(name, "dropped-reason.txt") ? name : "reason.txt";
	if (renameat2(dirfd, name, spool_fd(sp, DIR_INBOX), back, RENAME_NOREPLACE) < 0)
		return NULL;
	return back;
}

int drop_claim(const struct spool *sp, int dirfd, const char *const names[], int n)
{
	int in = spool_fd(sp, DIR_INBOX);
	for (int i = 0; i < n; i++) {
		if (renameat(in, names[i], dirfd, claimed_name(names[i])) == 0)
			continue;
		int e = errno;
		for (int j = 0; j < i; j++)
			drop_return(sp, dirfd, claimed_name(names[j]));
		errno = e;
		return -1;
	}
	return 0;
}

int rename_unique(int srcfd, const char *src, int dirfd, const char *base, char out[NAME_MAX_LEN + 1])
{
	for (int n = 1; n < 100000; n++) {
		if (n == 1)
			snprintf(out, NAME_MAX_LEN + 1, "%s", base);
		else
			snprintf(out, NAME_MAX_LEN + 1, "%.*s-%d", NAME_MAX_LEN - 7, base, n);
		if (renameat2(srcfd, src, dirfd, out, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST || errno == ENOTEMPTY)
			continue;
		if (errno != EINVAL)
			return -1;
		/* NFS and sshfs refuse the flag: reserve the name with mkdir,
		 * then rename over our own empty folder. */
		if (mkdirat(dirfd, out, 0755) < 0) {
			if (errno == EEXIST)
				continue;
			return -1;
		}
		if (renameat(srcfd, src, dirfd, out) == 0)
			return 0;
		int e = errno;
		unlinkat(dirfd, out, AT_REMOVEDIR);
		errno = e;
		return -1;
	}
	errno = EEXIST;
	return -1;
}

int ticket_claim(int jobfd, const char *ticket, const char *owner)
{
	char from[128], to[256];
	snprintf(from, sizeof from, "frames/todo/%s", ticket);
	snprintf(to, sizeof to, "frames/active/%s@%s", ticket, owner);
	if (renameat(jobfd, from, jobfd, to) == 0)
		return 0;
	int e = errno;
	/* the target name is ours alone: if it is there, we won */
	if (faccessat(jobfd, to, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	errno = e;
	return -1;
}

int ticket_finish(int jobfd, const char *ticket, const char *owner, enum ticket_state to)
{
	char from[256], dest[128];
	snprintf(from, sizeof from, "frames/active/%s@%s", ticket, owner);
	snprintf(dest, sizeof dest, "frames/%s/%s", ticket_dirs[to], ticket);
	if (renameat(jobfd, from, jobfd, dest) == 0)
		return 0;
	int e = errno;
	if (faccessat(jobfd, dest, F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
	    faccessat(jobfd, from, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	errno = e;
	return -1;
}

size_t ticket_frames(const char *text, long **frames, bool **done, size_t *n)
{
	*frames = NULL;
	*n = 0;
	if (done)
		*done = NULL;
	const char *l = text;
	while (l && *l && strncmp(l, "frames =", 8))
		if ((l = strchr(l, '\n')))
			l++;
	if (l && *l) {
		const char *p = l + 8;
		char *end;
		while (*p && *p != '\n') {
			long f = strtol(p, &end, 10);
			if (end == p)
				break;
			*frames = xrealloc(*frames, (*n + 1) * sizeof **frames);
			(*frames)[(*n)++] = f;
			p = end;
		}
	}
	size_t published = 0;
	if (!done)
		return 0;
	*done = *n ? xmalloc(*n * sizeof **done) : NULL;
	for (size_t i = 0; i < *n; i++)
		(*done)[i] = false;
	for (l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		long f;
		int ok;
		if (strncmp(l, "billing = frame=", 16) || sscanf(l + 16, "%ld ok=%d", &f, &ok) != 2 || ok != 1)
			continue;
		for (size_t i = 0; i < *n; i++)
			if ((*frames)[i] == f && !(*done)[i]) {
				(*done)[i] = true;
				published++;
			}
	}
	return published;
}

int ticket_return(int jobfd, const char *active_name)
{
	char ticket[128], from[256], dest[160];
	snprintf(ticket, sizeof ticket, "%s", active_name);
	char *at = strchr(ticket, '@');
	if (!at) {
		errno = EINVAL;
		return -1;
	}
	*at = 0;
	snprintf(from, sizeof from, "frames/active/%s", active_name);
	/* one read: a ticket is a few lines */
	const char *to = "todo";
	int fd = openat(jobfd, from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		char *text = xmalloc(65536);
		ssize_t r = read(fd, text, 65535);
		close(fd);
		if (r > 0) {
			text[r] = 0;
			long *frames;
			bool *done;
			size_t n;
			if (ticket_frames(text, &frames, &done, &n) == n && n > 0)
				to = "done";
			free(frames);
			free(done);
		}
		free(text);
	}
	snprintf(dest, sizeof dest, "frames/%s/%s", to, ticket);
	return renameat(jobfd, from, jobfd, dest);
}

int tickets_none(int jobfd, enum ticket_state s)
{
	char path[32];
	snprintf(path, sizeof path, "frames/%s", ticket_dirs[s]);
	DIR *d = dir_open(jobfd, path);
	if (!d)
		return -1;
	struct dirent *e;
	int none = 1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			none = 0;
			break;
		}
	closedir(d);
	return none;
}

bool limit_has_tokens(const struct spool *sp, const char *limit)
{
	return name_is_valid(limit) && dir_has_names(spool_fd(sp, DIR_LIMITS), limit);
}

int limit_take(const struct spool *sp, const char *limit, const char *owner, char out[256])
{
	if (!name_is_valid(limit)) {
		errno = EINVAL;
		return -1;
	}
	DIR *d = dir_open(spool_fd(sp, DIR_LIMITS), limit);
	if (!d)
		return -1;
	int dfd = dirfd(d);
	struct dirent *e;
	int rc = -1;
	errno = EAGAIN;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strchr(e->d_name, '@') || strlen(e->d_name) > 100)
			continue;
		snprintf(out, 256, "%s@%s", e->d_name, owner);
		if (renameat(dfd, e->d_name, dfd, out) == 0 || faccessat(dfd, out, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			rc = 0;
			break;
		}
		errno = EAGAIN;
	}
	closedir(d);
	return rc;
}

int limit_give(const struct spool *sp, const char *limit, const char *held)
{
	char token[256];
	snprintf(token, sizeof token, "%s", held);
	char *at = strchr(token, '@');
	if (!at || !name_is_valid(limit)) {
		errno = EINVAL;
		return -1;
	}
	*at = 0;
	int dfd = openat(spool_fd(sp, DIR_LIMITS), limit, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int rc = renameat(dfd, held, dfd, token);
	int e = errno;
	close(dfd);
	errno = e;
	return rc;
}

int job_counts(int jobfd, struct job_counts *c)
{
	c->todo = ticket_count(jobfd, TICKET_TODO);
	c->active = ticket_count(jobfd, TICKET_ACTIVE);
	c->done = ticket_count(jobfd, TICKET_DONE);
	c->failed = ticket_count(jobfd, TICKET_FAILED);
	return (c->todo < 0 || c->active < 0 || c->done < 0 || c->failed < 0) ? -1 : 0;
}

/* Sum the billing lines of every ticket in frames/STATE into the totals. */
struct billing {
	long frames, attempts;
	double wall, user, sys;
	long max_rss_kb;
	unsigned long long bytes;
	struct strlist hosts;
	struct strlist reasons; /* of tickets that failed for good */
};

static void billing_read(int jobfd, enum ticket_state s, struct billing *b)
{
	char path[32];
	snprintf(path, sizeof path, "frames/%s", ticket_dirs[s]);
	DIR *d = dir_open(jobfd, path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		size_t len;
		char *text = file_read_small(dirfd(d), e->d_name, 1 << 20, &len);
		if (!text)
			continue;
		char *save = NULL, *last_attempt = NULL;
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "attempt = ", 10))
				last_attempt = line + 10;
			if (strncmp(line, "billing = ", 10))
				continue;
			double wall = 0, user = 0, sys = 0;
			long rss = 0, frame = 0, ok = 0;
			unsigned long long bytes = 0;
			char host[80] = "";
			if (sscanf(line + 10, "frame=%ld ok=%ld host=%79s wall=%lf user=%lf sys=%lf rss_kb=%ld bytes=%llu",
				   &frame, &ok, host, &wall, &user, &sys, &rss, &bytes) < 7)
				continue;
			b->attempts++;
			b->frames += ok;
			b->wall += wall, b->user += user, b->sys += sys;
			b->bytes += bytes;
			if (rss > b->max_rss_kb)
				b->max_rss_kb = rss;
			char *dot = strrchr(host, '.');
			if (dot)
				*dot = 0; /* HOST.SLOT -> HOST */
			if (*host && !strlist_has(&b->hosts, host))
				strlist_add(&b->hosts, host);
		}
		if (s == TICKET_FAILED && b->reasons.n < 5) {
			char r[400];
			snprintf(r, sizeof r, "%s: %s", e->d_name, last_attempt ? last_attempt : "failed");
			strlist_add(&b->reasons, r);
		}
		free(text);
	}
	closedir(d);
}

static int billing_write(int jobfd, const struct billing *b)
{
	struct buf t = {0};
	buf_printf(&t, "# written when the job ended: what rendering it cost, summed over every attempt\n[billing]\n");
	buf_printf(&t, "frames = %ld\nattempts = %ld\nwall_seconds = %.3f\ncpu_user_seconds = %.3f\n"
		       "cpu_system_seconds = %.3f\npeak_rss_kb = %ld\noutput_bytes = %llu\nhosts = ",
		   b->frames, b->attempts, b->wall, b->user, b->sys, b->max_rss_kb, b->bytes);
	for (size_t i = 0; i < b->hosts.n; i++)
		buf_printf(&t, "%s%s", i ? "," : "", b->hosts.v[i]);
	buf_printf(&t, "\n");
	int rc = file_write_atomic(jobfd, "billing.ini", t.data, t.len, 0644);
	buf_free(&t);
	return rc;
}

int job_try_finish(const struct spool *sp, const char *name)
{
	int jfd = job_dir_open(sp, name);
	if (jfd < 0)
		return -1;
	int rc = 0;
	int lock = -1;
	if (tickets_none(jfd, TICKET_TODO) != 1 || tickets_none(jfd, TICKET_ACTIVE) != 1)
		goto out;
	/* the move and the final status.ini together: watcherd's status
	 * updates of queued jobs wait (see job_status_lock) */
	lock = job_status_lock(jfd);
	char entry[ENTRY_MAX_LEN];
	enum job_state from = job_find(sp, name, entry);
	if (from != STATE_QUEUED && from != STATE_HELD && from != STATE_OUTSOURCED)
		goto out;
	bool failed = tickets_none(jfd, TICKET_FAILED) != 1;
	enum job_state to = failed ? STATE_FAILED : STATE_DONE;
	/* the final status.ini first, then the move: whoever sees the job in
	 * done/ or failed/ reads why (a crash between the two leaves it
	 * queued, and the next look finishes it again) */
	struct billing b = {0};
	billing_read(jfd, TICKET_DONE, &b);
	billing_read(jfd, TICKET_FAILED, &b);
	billing_write(jfd, &b);
	struct job_counts c;
	job_counts(jfd, &c);
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	snprintf(st.state, sizeof st.state, "%s", state_word(to));
	st.frames_failed = 0;
	if (failed) {
		struct buf r = {0};
		buf_printf(&r, "%ld ticket%s failed every retry", c.failed, c.failed == 1 ? "" : "s");
		for (size_t i = 0; i < b.reasons.n; i++)
			buf_printf(&r, "%s%s", i ? "; " : ": ", b.reasons.v[i]);
		snprintf(st.reason, sizeof st.reason, "%s", r.data);
		buf_free(&r);
	} else {
		snprintf(st.reason, sizeof st.reason, "all %ld frames rendered", b.frames);
	}
	st.frames_done = b.frames;
	if (st.frames_total > st.frames_done)
		st.frames_failed = st.frames_total - st.frames_done;
	st.updated_us = now_us();
	st.finished_us = st.updated_us;
	struct job_status before;
	bool had = job_status_read(jfd, &before) == 0;
	job_status_write(jfd, &st);
	job_status_free(&st);
	strlist_free(&b.hosts);
	strlist_free(&b.reasons);
	if (entry_move(sp, from, entry, to, NULL) < 0) {
		/* someone else moved it meanwhile (a cancel): its status stays theirs */
		int e = errno;
		if (had && job_find(sp, name, entry) == from)
			job_status_write(jfd, &before);
		if (had)
			job_status_free(&before);
		rc = e == ENOENT ? 0 : -1;
		goto out;
	}
	if (had)
		job_status_free(&before);
	rc = 1;
out:
	if (lock >= 0)
		close(lock);
	close(jfd);
	return rc;
}

void layout_clear_temp(int jobfd, const char *host)
{
	DIR *d = dir_open(jobfd, "output");
	if (!d)
		return;
	size_t hl = strlen(host);
	struct dirent *e;
	struct strlist old = {0};
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && !strncmp(e->d_name + 1, host, hl) && e->d_name[1 + hl] == '.')
			strlist_add(&old, e->d_name);
	for (size_t i = 0; i < old.n; i++)
		tree_remove(dirfd(d), old.v[i]);
	strlist_free(&old);
	closedir(d);
}

int job_deps_ready(const struct spool *sp, const struct strlist *after, char *why, size_t whysize)
{
	for (size_t i = 0; i < after->n; i++) {
		char entry[ENTRY_MAX_LEN];
		enum job_state st = job_find(sp, after->v[i], entry);
		if (st == STATE_DONE)
			continue;
		if (st == STATE_FAILED || st == STATE_CANCELLED) {
			snprintf(why, whysize, "%s, which it waits for, %s", after->v[i], state_word(st));
			return -1;
		}
		if (st == STATE_NONE) {
			/* maybe still being taken in: a rejected one never comes */
			char path[NAME_MAX_LEN + 16];
			snprintf(path, sizeof path, "%s/reason.txt", after->v[i]);
			if (faccessat(spool_fd(sp, DIR_REJECTED), path, F_OK, 0) == 0) {
				snprintf(why, whysize, "%s, which it waits for, was rejected", after->v[i]);
				return -1;
			}
			snprintf(why, whysize, "waiting for %s, which is not in the farm (yet)", after->v[i]);
			return 0;
		}
		snprintf(why, whysize, "waiting for %s (%s)", after->v[i], state_word(st));
		return 0;
	}
	return 1;
}

/* Rename without replacing anything; NFS and sshfs refuse the flag
 * (EINVAL): link refuses to replace too, then the old name goes. */
static int rename_noreplace(int srcdir, const char *src, int dstdir, const char *dst)
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

int inbox_drop(const struct spool *sp, const char *tmp, const char *name)
{
	int in = spool_fd(sp, DIR_INBOX);
	return rename_noreplace(in, tmp, in, name);
}

int ticket_retry(int jobfd, const char *ticket)
{
	char path[160], dest[160];
	snprintf(path, sizeof path, "frames/failed/%s", ticket);
	snprintf(dest, sizeof dest, "frames/todo/%s", ticket);
	size_t len;
	char *text = file_read_small(jobfd, path, 1 << 20, &len);
	if (!text)
		return -1;
	struct buf b = {0};
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "attempt = ", 10))
			buf_printf(&b, "retried = %s\n", line + 10);
		else
			buf_printf(&b, "%s\n", line);
	}
	free(text);
	/* rewritten in place under its failed/ name, then moved: one rename */
	int ffd = openat(jobfd, "frames/failed", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int rc = ffd < 0 ? -1 : file_write_atomic(ffd, ticket, b.data, b.len, 0644);
	if (ffd >= 0)
		close(ffd);
	buf_free(&b);
	if (rc < 0)
		return -1;
	return renameat(jobfd, path, jobfd, dest);
}

int output_publish(int jobfd, const char *image, const char *name)
{
	if (!path_is_inside(name)) {
		errno = EINVAL;
		return -1;
	}
	int out = openat(jobfd, "output", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (out < 0)
		return -1;
	char dirs[PATH_MAX];
	snprintf(dirs, sizeof dirs, "%s", name);
	for (char *slash = strchr(dirs, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		mkdirat(out, dirs, 0755);
		*slash = '/';
	}
	if (sync_writes) {
		int fd = open(image, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			fdatasync(fd);
			close(fd);
		}
	}
	int rc = renameat(AT_FDCWD, image, out, name);
	int e = errno;
	close(out);
	errno = e;
	return rc;
}

int dir_walk(int dirfd, const char *path, bool make)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path);
	int fd = dup(dirfd);
	char *save = NULL;
	for (char *part = strtok_r(copy, "/", &save); part && fd >= 0; part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "..") || !strcmp(part, ".")) {
			close(fd);
			errno = EINVAL;
			return -1;
		}
		int next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && make && mkdirat(fd, part, 0755) == 0)
			next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(fd);
		errno = e;
		fd = next;
	}
	return fd;
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

int job_file_place(int jobfd, int srcdir, const char *src, const char *path)
{
	if (!path_is_inside(path)) {
		errno = EINVAL;
		return -1;
	}
	const char *base;
	int d = dir_walk_parent(jobfd, path, true, &base);
	if (d < 0)
		return -1;
	int rc = renameat(srcdir, src, d, base);
	int e = errno;
	close(d);
	errno = e;
	return rc;
}

int ticket_place(int jobfd, int srcdir, const char *src, const char *ticket, enum ticket_state to)
{
	char path[128];
	snprintf(path, sizeof path, "frames/%s/%s", ticket_dirs[to], ticket);
	if (strchr(ticket, '/') || ticket[0] == '.' || renameat(srcdir, src, jobfd, path) < 0)
		return -1;
	snprintf(path, sizeof path, "frames/todo/%s", ticket);
	if (unlinkat(jobfd, path, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

int ticket_settle(int jobfd, const char *ticket, enum ticket_state to)
{
	char from[128], dst[128];
	snprintf(from, sizeof from, "frames/todo/%s", ticket);
	snprintf(dst, sizeof dst, "frames/%s/%s", ticket_dirs[to], ticket);
	return renameat(jobfd, from, jobfd, dst);
}

int site_publish(int srcdir, const char *src, int dstdir, const char *dst, bool replace)
{
	if (replace)
		return renameat(srcdir, src, dstdir, dst);
	return rename_noreplace(srcdir, src, dstdir, dst);
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
