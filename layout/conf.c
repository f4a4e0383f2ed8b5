/* conf.c - conf/hotfarm.ini, the site configuration: read and checked
 * into struct site_conf, warned about when it holds unknown keys, reloaded
 * on SIGHUP keeping the old values when the new file is wrong. */
#define _GNU_SOURCE
#include "layout.h"
#include "layout_private.h"
#include "ini.h"
#include "host.h"

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

static bool conf_unix_name_ok(const char *s, size_t size);

/* [quota], [quota OWNER] and [quota pool:NAME]: slots = N. */
static int quotas_load(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	const char **secs;
	size_t ns = ini_sections(ini, &secs);
	for (size_t i = 0; i < ns; i++) {
		if (strcmp(secs[i], "quota") && strncmp(secs[i], "quota ", 6))
			continue;
		const char *who = secs[i][5] ? secs[i] + 6 : "";
		bool pool = !strncmp(who, "pool:", 5);
		if (*who && !(pool ? pool_name_valid(who + 5) : conf_unix_name_ok(who, 64))) {
			snprintf(err, errsize, "conf/hotfarm.ini: [%s] names neither a user nor a pool (pool:NAME)", secs[i]);
			return -1;
		}
		long slots;
		const char *v = ini_get(ini, secs[i], "slots");
		if (!v || !parse_long(v, 0, 100000, &slots)) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [%s] slots must be how many renders an owner may "
					       "run at once, 0 to 100000",
				 ini_line(ini, secs[i], "slots"), secs[i]);
			return -1;
		}
		if (c->nquotas == (int)(sizeof c->quotas / sizeof c->quotas[0])) {
			snprintf(err, errsize, "conf/hotfarm.ini: at most %zu [quota] sections", sizeof c->quotas / sizeof c->quotas[0]);
			return -1;
		}
		snprintf(c->quotas[c->nquotas].who, sizeof c->quotas[c->nquotas].who, "%s", who);
		c->quotas[c->nquotas++].slots = slots;
	}
	return 0;
}

/* ---- mail addresses -------------------------------------------------------------- */

bool mail_address_ok(const char *s)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr(",;<>\"'", *s))
			return false;
	return true;
}

/* TEMPLATE with %u replaced by USER and %% by '%', into OUT; false when
 * it holds another '%' sequence or the result does not fit. */
static bool address_expand(const char *template, const char *user, char *out, size_t outsize)
{
	size_t n = 0;
	for (const char *p = template; *p; p++) {
		const char *add = p;
		size_t len = 1;
		if (*p == '%') {
			p++;
			if (*p == 'u')
				add = user, len = strlen(user);
			else if (*p != '%')
				return false; /* also a '%' at the end */
		}
		if (n + len >= outsize)
			return false;
		memcpy(out + n, add, len);
		n += len;
	}
	out[n] = 0;
	return true;
}

bool site_conf_address(const struct site_conf *c, const char *user, char *out, size_t outsize)
{
	*out = 0;
	if (!*user)
		return false;
	for (int i = 0; i < c->naddresses; i++)
		if (!strcasecmp(c->addresses[i].user, user)) {
			snprintf(out, outsize, "%s", c->addresses[i].address);
			return true;
		}
	if (!*c->notify_address)
		return false;
	if (!address_expand(c->notify_address, user, out, outsize))
		*out = 0; /* too long: no address the caller takes */
	return true;
}

/* A user or group name as this site accepts one: letters, digits, '.',
 * '_' and '-', not starting with '-', shorter than SIZE. */
static bool conf_unix_name_ok(const char *s, size_t size)
{
	if (!*s || *s == '-' || strlen(s) >= size)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

/* [notify] address (a template), [notify] any_address and the
 * [addresses] section: where a job's owner gets mail. */
static bool conf_addresses(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	const char *rules = "one mail address (one '@' with text on each side; no blanks, commas, semicolons, <> or quotes)";
	const char *v = ini_get(ini, "notify", "address");
	char probe[512];
	if (v && *v && (strlen(v) >= sizeof c->notify_address || !address_expand(v, "u", probe, sizeof probe) ||
			!mail_address_ok(probe))) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [notify] address must be %s in which %%u stands for "
			 "the owner's user name and %%%% for a '%%', not '%s'", ini_line(ini, "notify", "address"), rules, v);
		return false;
	}
	if (v)
		snprintf(c->notify_address, sizeof c->notify_address, "%s", v);
	if (!conf_bool(ini, "notify", "any_address", &c->notify_any_address, err, errsize))
		return false;
	const char **users;
	size_t n = ini_keys(ini, "addresses", &users);
	for (size_t i = 0; i < n; i++) {
		int line = ini_line(ini, "addresses", users[i]);
		v = ini_get(ini, "addresses", users[i]);
		if (!conf_unix_name_ok(users[i], sizeof c->addresses[0].user)) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [addresses] '%s' is not a user name (letters, digits, "
				 "'.', '_' and '-', not starting with '-')", line, users[i]);
			return false;
		}
		if (!mail_address_ok(v) || strlen(v) >= sizeof c->addresses[0].address) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [addresses] %s must be %s, not '%s'", line, users[i],
				 rules, v);
			return false;
		}
		if (c->naddresses == (int)(sizeof c->addresses / sizeof c->addresses[0])) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: at most %zu [addresses] entries ([notify] address "
				 "covers the rest)", line, sizeof c->addresses / sizeof c->addresses[0]);
			return false;
		}
		struct site_address *a = &c->addresses[c->naddresses++];
		snprintf(a->user, sizeof a->user, "%s", users[i]);
		snprintf(a->address, sizeof a->address, "%s", v);
	}
	return true;
}

/* [retain] archive: an absolute path without control characters; "": none. */
static bool conf_archive(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	const char *v = ini_get(ini, "retain", "archive");
	if (!v || !*v)
		return true;
	bool ok = v[0] == '/' && strlen(v) < sizeof c->archive;
	for (const char *p = v; ok && *p; p++)
		ok = (unsigned char)*p >= ' ' && *p != 0x7f;
	if (!ok) {
		char shown[600];
		text_escape(v, shown, sizeof shown);
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [retain] archive must be an absolute folder (at most %zu "
			 "bytes), not '%s'", ini_line(ini, "retain", "archive"), sizeof c->archive - 1, shown);
		return false;
	}
	snprintf(c->archive, sizeof c->archive, "%s", v);
	return true;
}

/* [site] admins: a Unix group, or none when empty. */
static bool conf_admins(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	const char *v = ini_get(ini, "site", "admins");
	if (!v)
		return true;
	if (*v && !conf_unix_name_ok(v, sizeof c->admins)) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [site] admins must be a group name (letters, digits, "
			 "'.', '_' and '-', not starting with '-', at most %zu), not '%s'", ini_line(ini, "site", "admins"),
			 sizeof c->admins - 1, v);
		return false;
	}
	snprintf(c->admins, sizeof c->admins, "%s", v);
	return true;
}

/* A warning for each section and key of conf/hotfarm.ini that nothing
 * reads: a typo would otherwise be ignored without a word. */
static void conf_unknown(const struct ini *ini, struct strlist *warnings)
{
	static const char *const site[] = {"name", "fsync", "auto_wait", "summary", "retain_days", "admins", NULL};
	static const char *const intake[] = {"max_bytes", "max_entries", "max_frames", "processes", "orphan_grace",
					     "settle", "dedupe", NULL};
	static const char *const watcherd[] = {"rescan", "rescan_ms", "inotify", NULL};
	static const char *const agent[] = {"heartbeat", "host_timeout", "hang_timeout", "kill_grace_ms", "fail_limit",
					    "fair_share", "probe_interval", "confine", "render_user", "slots",
					    "render_mem", "render_fsize", "render_pids", "log_max", "min_free", "nimby",
					    "nimby_idle", "nimby_devices", NULL};
	static const char *const notify[] = {"command", "progress", "address", "any_address", NULL};
	static const char *const previews[] = {"movie_interval", NULL};
	static const char *const events[] = {"max_bytes", "keep", NULL};
	static const char *const link[] = {"transport", NULL};
	static const char *const retain[] = {"days", "archive", NULL};
	static const char *const sections[] = {"site", "intake", "watcherd", "agent", "notify", "previews", "events", "retain", NULL};
	static const char *const *const keys[] = {site, intake, watcherd, agent, notify, previews, events, retain};
	const char **secs;
	size_t ns = ini_sections(ini, &secs);
	for (size_t i = 0; i < ns; i++) {
		if (!strcmp(secs[i], "addresses"))
			continue; /* its keys are user names */
		static const char *const quota[] = {"slots", NULL};
		const char *const *known = !strncmp(secs[i], "site ", 5) ? link
					   : !strcmp(secs[i], "quota") || !strncmp(secs[i], "quota ", 6) ? quota
													   : NULL;
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

/* The values a site has before conf/hotfarm.ini says otherwise. */
static void conf_defaults(struct site_conf *c)
{
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
	c->dedupe = true;
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
	c->render_fsize = 16ULL << 30;
	c->render_pids = 4096;
	c->log_max = 64ULL << 20;
	c->nimby_idle = 600;
	if (access("/usr/sbin/sendmail", X_OK) == 0)
		snprintf(c->notify_command, sizeof c->notify_command, "/usr/sbin/sendmail -t");
	c->notify_progress = 3600;
	c->auto_wait = 600;
	c->summary_interval = 5;
	c->retain_days = 14;
	c->keep_days = 30;
	c->movie_interval = 30;
	c->events_max_bytes = 64ULL << 20;
	c->events_keep = 10;
}

/* [events] max_bytes (1K to 1T) and keep (1 to 1000). */
static bool conf_events(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	const char *v = ini_get(ini, "events", "max_bytes");
	if (v && (!parse_bytes(v, &c->events_max_bytes) || c->events_max_bytes < 1024 ||
		  c->events_max_bytes > 1ULL << 40)) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [events] max_bytes must be a size from 1K to 1T "
			 "like 64M, not '%s'", ini_line(ini, "events", "max_bytes"), v);
		return false;
	}
	return conf_number(ini, "events", "keep", 1, 1000, &c->events_keep, err, errsize);
}

/* [site] name, [intake] and [watcherd] rescan (in seconds, to RESCAN). */
static bool conf_site_intake(struct ini *ini, struct site_conf *c, long *rescan, char *err, size_t errsize)
{
	const char *v;
	if ((v = ini_get(ini, "site", "name"))) {
		if (!name_is_valid(v) || strlen(v) >= sizeof c->name) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [site] name '%s' may hold only letters, digits, '.', '_' and '-'",
				 ini_line(ini, "site", "name"), v);
			return false;
		}
		snprintf(c->name, sizeof c->name, "%s", v);
		/* site names are case-blind: [site NAME] sections are lower case */
		str_lower(c->name);
	}
	if ((v = ini_get(ini, "intake", "max_bytes")) && !parse_bytes(v, &c->max_bytes)) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [intake] max_bytes must be a size like 20G or 512M, not '%s'",
			 ini_line(ini, "intake", "max_bytes"), v);
		return false;
	}
	return conf_number(ini, "intake", "max_entries", 1, 100000000, &c->max_entries, err, errsize) &&
	       conf_number(ini, "intake", "max_frames", 1, 1000000, &c->max_frames, err, errsize) &&
	       conf_number(ini, "intake", "processes", 1, 64, &c->processes, err, errsize) &&
	       conf_seconds(ini, "intake", "orphan_grace", 86400 * 30, &c->orphan_grace, err, errsize) &&
	       conf_seconds(ini, "intake", "settle", 3600, &c->settle, err, errsize) &&
	       conf_seconds(ini, "watcherd", "rescan", 3600, rescan, err, errsize) &&
	       conf_bool(ini, "watcherd", "inotify", &c->use_inotify, err, errsize) &&
	       conf_bool(ini, "site", "fsync", &c->fsync, err, errsize) &&
	       conf_bool(ini, "intake", "dedupe", &c->dedupe, err, errsize);
}

/* [agent] nimby, nimby_idle and nimby_devices (absolute paths or globs,
 * separated by blanks: they are looked at with stat, never opened). */
static bool conf_nimby(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	if (!conf_bool(ini, "agent", "nimby", &c->nimby, err, errsize) ||
	    !conf_seconds(ini, "agent", "nimby_idle", 86400, &c->nimby_idle, err, errsize))
		return false;
	if (c->nimby_idle < 1)
		c->nimby_idle = 1;
	const char *v = ini_get(ini, "agent", "nimby_devices");
	if (!v)
		return true;
	bool ok = strlen(v) < sizeof c->nimby_devices;
	for (const char *p = v; ok && *p; p++) {
		bool word_start = *p != ' ' && *p != '\t' && (p == v || p[-1] == ' ' || p[-1] == '\t');
		if ((word_start && *p != '/') || ((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
			ok = false;
	}
	if (!ok) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] nimby_devices must be absolute paths or "
			 "patterns (/dev/pts/* /dev/input/event*) separated by blanks, at most %zu characters, not '%s'",
			 ini_line(ini, "agent", "nimby_devices"), sizeof c->nimby_devices - 1, v);
		return false;
	}
	snprintf(c->nimby_devices, sizeof c->nimby_devices, "%s", v);
	return true;
}

/* [agent]: timing, confinement, the render user, slots and limits. */
static bool conf_agent(struct ini *ini, struct site_conf *c, char *err, size_t errsize)
{
	if (!conf_seconds(ini, "agent", "heartbeat", 3600, &c->heartbeat, err, errsize) ||
	    !conf_seconds(ini, "agent", "host_timeout", 86400, &c->host_timeout, err, errsize) ||
	    !conf_seconds(ini, "agent", "hang_timeout", 86400 * 7, &c->hang_timeout, err, errsize) ||
	    !conf_number(ini, "agent", "kill_grace_ms", 0, 600000, &c->kill_grace_ms, err, errsize) ||
	    !conf_number(ini, "agent", "fail_limit", 1, 1000, &c->fail_limit, err, errsize) ||
	    !conf_bool(ini, "agent", "fair_share", &c->fair_share, err, errsize) ||
	    !conf_seconds(ini, "agent", "probe_interval", 86400, &c->probe_interval, err, errsize))
		return false;
	if (c->heartbeat < 1)
		c->heartbeat = 1;
	if (c->host_timeout < 2 * c->heartbeat) {
		snprintf(err, errsize, "conf/hotfarm.ini: [agent] host_timeout (%ld s) must be at least twice heartbeat "
			 "(%ld s), or a host would be taken for lost between two heartbeats", c->host_timeout, c->heartbeat);
		return false;
	}
	if (c->probe_interval < 1) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] probe_interval must be at least 1 s",
			 ini_line(ini, "agent", "probe_interval"));
		return false;
	}
	if (!conf_bool(ini, "agent", "confine", &c->confine, err, errsize) || !conf_nimby(ini, c, err, errsize))
		return false;
	const char *v;
	if ((v = ini_get(ini, "agent", "render_user"))) {
		if (!name_is_valid(v) || strlen(v) >= sizeof c->render_user) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] render_user must be a user name, not '%s'",
				 ini_line(ini, "agent", "render_user"), v);
			return false;
		}
		snprintf(c->render_user, sizeof c->render_user, "%s", v);
	}
	if ((v = ini_get(ini, "agent", "slots")) && strcasecmp(v, "auto") && !parse_long(v, 1, 1024, &c->slots)) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] slots must be auto or a number from 1 to 1024, not '%s'",
			 ini_line(ini, "agent", "slots"), v);
		return false;
	}
	if ((v = ini_get(ini, "agent", "render_pids")) && !parse_long(v, 0, 1 << 22, &c->render_pids)) {
		snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] render_pids must be a number from 0 (no limit) to %d, not '%s'",
			 ini_line(ini, "agent", "render_pids"), 1 << 22, v);
		return false;
	}
	const char *limkeys[] = {"render_mem", "render_fsize", "min_free", "log_max"};
	unsigned long long *lims[] = {&c->render_mem, &c->render_fsize, &c->min_free, &c->log_max};
	for (int i = 0; i < 4; i++)
		if ((v = ini_get(ini, "agent", limkeys[i])) && !parse_bytes(v, lims[i])) {
			snprintf(err, errsize, "conf/hotfarm.ini line %d: [agent] %s must be a size like 4G, not '%s'",
				 ini_line(ini, "agent", limkeys[i]), limkeys[i], v);
			return false;
		}
	return true;
}

int site_conf_load(struct spool *sp, char *err, size_t errsize)
{
	struct site_conf *c = &sp->conf;
	conf_defaults(c);
	int conf = spool_fd(sp, DIR_CONF);
	if (faccessat(conf, "hotfarm.ini", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	struct ini *ini = ini_load(conf, "hotfarm.ini", "conf/hotfarm.ini", err, errsize);
	if (!ini)
		return -1;
	int rc = -1;
	long rescan = c->rescan_ms / 1000;
	const char *v;
	if (!conf_site_intake(ini, c, &rescan, err, errsize) || !conf_agent(ini, c, err, errsize))
		goto out;
	if ((v = ini_get(ini, "notify", "command")))
		snprintf(c->notify_command, sizeof c->notify_command, "%s", v);
	if (!conf_seconds(ini, "notify", "progress", 86400 * 30, &c->notify_progress, err, errsize) ||
	    !conf_addresses(ini, c, err, errsize) || !conf_admins(ini, c, err, errsize))
		goto out;
	if (!conf_seconds(ini, "site", "auto_wait", 86400 * 30, &c->auto_wait, err, errsize) ||
	    !conf_seconds(ini, "site", "summary", 3600, &c->summary_interval, err, errsize) ||
	    !conf_number(ini, "site", "retain_days", 0, 3650, &c->retain_days, err, errsize) ||
	    !conf_number(ini, "retain", "days", 0, 36500, &c->keep_days, err, errsize) || !conf_archive(ini, c, err, errsize) ||
	    !conf_seconds(ini, "previews", "movie_interval", 86400, &c->movie_interval, err, errsize) ||
	    !conf_events(ini, c, err, errsize))
		goto out;
	if (c->summary_interval < 1)
		c->summary_interval = 1;
	if (site_links_load(ini, c, err, errsize) < 0 || quotas_load(ini, c, err, errsize) < 0)
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
