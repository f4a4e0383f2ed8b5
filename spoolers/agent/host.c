/* host.c - this host's side: hosts/HOST (lock, record, heartbeat, lost
 * and drain markers), cancels, the other live hosts, the disk's space.
 * Distrusts other hosts' records: read by host_read like any .ini. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static int lock_fd = -1;     /* hosts/HOST/agent.lock, held while the agent runs */
static char host_text[8192]; /* hosts/HOST/host.ini as last written */

/* ---- hosts/HOST -------------------------------------------------------------- */

/* One agent per host name: hosts/HOST/agent.lock, holding who has it. */
static void lock_host(void)
{
	lock_fd = host_lock_open(agent.hostfd);
	if (lock_fd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open hosts/%s/agent.lock", agent.host);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (fcntl(lock_fd, F_SETLK, &fl) < 0) {
		char holder[200] = "";
		ssize_t n = pread(lock_fd, holder, sizeof holder - 1, 0);
		if (n > 0)
			holder[n] = 0;
		holder[strcspn(holder, "\n")] = 0;
		die(EXIT_TEMPFAIL, "another render-agent named %s is running (%s); give this one --name", agent.host, holder);
	}
	char text[200], hn[100] = "";
	gethostname(hn, sizeof hn);
	int n = snprintf(text, sizeof text, "pid=%ld host=%s\n", (long)getpid(), hn);
	if (ftruncate(lock_fd, 0) < 0 || pwrite(lock_fd, text, (size_t)n, 0) != n)
		die_errno(EXIT_TEMPFAIL, "unable to write hosts/%s/agent.lock", agent.host);
}

/* hosts/HOST: made, opened, locked; a lost marker from before goes. */
void host_enter(void)
{
	agent.hostfd = host_dir_open(&agent.spool, agent.host, true);
	if (agent.hostfd < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open hosts/%s", agent.host);
	lock_host();
	host_unmark(agent.hostfd, HOST_LOST);
	events_record(&agent.spool, &(struct event){.kind = EVENT_HOST_UP, .host = agent.host, .reason = "agent started"});
}

/* A clean exit: nothing of ours stays in hosts/. */
void host_leave(void)
{
	/* the lock closed first: a network filesystem keeps a file unlinked
	 * while open under a hidden name (.nfsXXXX, .fuse_hiddenXXXX) until
	 * it is closed, and the folder could not go */
	close(lock_fd);
	/* host.ini stays, with the admin's drain marker and pools: the host
	 * is offline, and what it offered is still known to routing */
	host_clear(agent.hostfd, agent.nslots);
}

/* The admin's pools for this host (hosts/HOST/pools), read again at each
 * heartbeat: a change makes the queued jobs be looked at afresh. */
static void pools_refresh(void)
{
	struct strlist now = {0};
	host_pools_read(agent.hostfd, &now);
	bool same = now.n == agent.self.pools.n;
	for (size_t i = 0; same && i < now.n; i++)
		same = !strcmp(now.v[i], agent.self.pools.v[i]);
	if (same) {
		strlist_free(&now);
		return;
	}
	strlist_free(&agent.self.pools);
	agent.self.pools = now;
	char list[300] = "";
	for (size_t i = 0; i < now.n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), " %s", now.v[i]);
	say("pools:%s", now.n ? list : " none");
	queue_unload_idle();
}

/* The heartbeat (hosts/HOST/heartbeat touched); the drain marker said
 * when it comes or goes; and a lost marker from watcherd obeyed. */
void dispatch_note(const struct slot *s, const struct job *j)
{
	int64_t ready = s->idle_since > j->ready_at ? s->idle_since : j->ready_at;
	dispatch_add(&agent.dispatch, (double)(mono_us() - ready) / 1e6);
	agent.dispatch_dirty = true;
}

void heartbeat(void)
{
	host_heartbeat(agent.hostfd);
	if (agent.dispatch_dirty && host_dispatch_write(agent.hostfd, &agent.dispatch) == 0)
		agent.dispatch_dirty = false;
	pools_refresh();
	static bool said_drain;
	if (agent.draining != said_drain)
		say(agent.draining ? "draining: finishing what runs, taking no new frames" : "no longer draining");
	said_drain = agent.draining;
	if (host_marked(agent.hostfd, HOST_LOST)) {
		warn("watcherd marked this host lost (its heartbeat was late) and gave its frames away; "
		     "stopping what runs here and starting afresh");
		for (int i = 0; i < agent.nslots; i++)
			slot_kill(&agent.slots[i], KILL_LOST);
		host_unmark(agent.hostfd, HOST_LOST);
		events_record(&agent.spool, &(struct event){.kind = EVENT_HOST_UP, .host = agent.host, .reason = "back after lost"});
	}
}

/* hosts/HOST/host.ini from a new probe, written when it changed (or
 * FORCE) and read back as what this host serves. */
void publish_host(bool force)
{
	struct buf b = {0};
	probe_host(&agent.spool, agent.host, agent.nslots_on, &b);
	if (force || strcmp(b.data, host_text)) {
		if (host_record_write(agent.hostfd, b.data, b.len) < 0)
			die_errno(EXIT_TEMPFAIL, "unable to write hosts/%s/host.ini", agent.host);
		snprintf(host_text, sizeof host_text, "%s", b.data);
		host_free(&agent.self);
		if (host_read(&agent.spool, agent.host, &agent.self) < 0)
			die(EXIT_TEMPFAIL, "unable to read back hosts/%s/host.ini", agent.host);
		if (!force)
			say("host record changed; rewrote hosts/%s/host.ini", agent.host);
		/* what we can serve may have changed */
		queue_unload_idle();
	}
	buf_free(&b);
}

/* hosts/HOST/host.ini says the new number of slots: its slots line
 * changed in what was last written, without probing the host again (a
 * probe runs each package's version command). */
void host_slots_update(void)
{
	char *line = strstr(host_text, "\nslots = ");
	if (!line)
		return;
	char *end = strchr(line + 1, '\n');
	struct buf b = {0};
	buf_add(&b, host_text, (size_t)(line - host_text));
	buf_printf(&b, "\nslots = %d", agent.nslots_on);
	if (end)
		buf_add(&b, end, strlen(end));
	if (host_record_write(agent.hostfd, b.data, b.len) < 0)
		warn("unable to write hosts/%s/host.ini: %s", agent.host, strerror(errno));
	else
		snprintf(host_text, sizeof host_text, "%s", b.data);
	buf_free(&b);
}

/* Our own claims from before a crash go back at once. */
void return_stale(void)
{
	int returned = host_release(&agent.spool, agent.host);
	if (returned)
		say("returned %d claims left from an earlier run of %s", returned, agent.host);
}

/* ---- cancels ----------------------------------------------------------------- */

/* ENTRY appeared in cancelled/: the job's frames running here stop, and
 * its tickets are not taken any more. */
void job_cancelled(const char *entry)
{
	char name[JOBID_MAX_LEN + 1];
	if (!entry_parse(entry, NULL, NULL, name))
		return;
	for (int i = 0; i < agent.nslots; i++)
		if (agent.slots[i].job && !strcmp(agent.slots[i].job->name, name)) {
			sayj(name, agent.slots[i].fr[slot_current(&agent.slots[i])].frame, "%s was cancelled: stopping frame %ld", name,
			     agent.slots[i].fr[slot_current(&agent.slots[i])].frame);
			slot_kill(&agent.slots[i], KILL_CANCEL);
		}
	struct job *j = job_get(name);
	if (j)
		j->retry_at = INT64_MAX;
}

/* A held job S renders was suspended (it has the marker): its frames stop
 * now and go back uncounted. */
static void check_suspended(struct slot *s)
{
	if (!job_suspended(s->job->fd))
		return;
	long frame = s->fr[slot_current(s)].frame;
	sayj(s->job->name, frame, "%s was suspended: stopping frame %ld", s->job->name, frame);
	slot_kill(s, KILL_SUSPEND);
}

/* queue/ changed: a job we render that left it may have been suspended
 * (a stat of its marker; cancels come through cancelled/). */
void check_left_queue(void)
{
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (s->job && !s->killing && !s->job->queued)
			check_suspended(s);
	}
}

/* Cancels we may have missed (a rescan): a job we render that is no longer
 * queued or held was cancelled (or finished by someone else); and
 * suspends (also as queue/ changes): a held job with the marker. */
void check_running_jobs(void)
{
	for (int i = 0; i < agent.nslots; i++) {
		struct slot *s = &agent.slots[i];
		if (!s->job || s->killing)
			continue;
		char entry[ENTRY_MAX_LEN];
		enum job_state st = job_find(&agent.spool, s->job->name, entry);
		if (st == STATE_CANCELLED || st == STATE_NONE) {
			slot_kill(s, KILL_CANCEL);
		} else if (st == STATE_HELD) {
			check_suspended(s);
		}
	}
}

/* ---- the other hosts --------------------------------------------------------- */

/* The other live hosts (not lost, heartbeat within host_timeout), their
 * records read again at most every few seconds. */
static struct host_record *others;
static size_t nothers;

static void others_refresh(void)
{
	static int64_t at;
	int64_t now = mono_us();
	if (at && now - at < 3000000)
		return;
	at = now;
	for (size_t i = 0; i < nothers; i++)
		host_free(&others[i]);
	nothers = 0;
	struct strlist live = {0};
	host_list(&agent.spool, &live);
	others = xrealloc(others, (live.n ? live.n : 1) * sizeof *others);
	int64_t server = server_now_us(&agent.spool);
	for (size_t i = 0; i < live.n; i++) {
		struct host_record *h = &others[nothers];
		if (strcmp(live.v[i], agent.host) && host_read(&agent.spool, live.v[i], h) == 0) {
			if (!h->lost && server - h->heartbeat_us < agent.spool.conf.host_timeout * 1000000LL)
				nothers++;
			else
				host_free(h);
		}
	}
	strlist_free(&live);
}

/* How many live hosts could share a job's frames, ours included. */
long hosts_live(void)
{
	others_refresh();
	return 1 + (long)nothers;
}

/* Whether another live host could render job J (for retrying a frame
 * elsewhere). */
bool others_can(struct job *j)
{
	others_refresh();
	char why[200];
	for (size_t i = 0; i < nothers; i++)
		if (host_matches(&others[i], j->jd, why, sizeof why))
			return true;
	return false;
}

/* ---- a full disk: frames wait, and what failed for it is not counted ------ */

static int64_t full_until;   /* while the disk is short, take no frames before this (mono us) */
static int64_t full_backoff; /* how long to wait next: 1 s, doubling to a minute */

/* Whether the disk of FD has less than [agent] min_free free (AVAIL). */
bool disk_short(int fd, unsigned long long *avail)
{
	struct statvfs v;
	*avail = 0;
	if (fstatvfs(fd, &v) < 0)
		return false;
	*avail = (unsigned long long)v.f_bavail * v.f_frsize;
	return *avail < agent.spool.conf.min_free;
}

/* The disk is short (AVAIL free): no frames for a while, 1 s at first,
 * doubling to a minute; said once. */
void disk_wait(unsigned long long avail)
{
	if (!full_backoff) {
		char a[32], m[32];
		human_bytes(avail, a);
		human_bytes(agent.spool.conf.min_free, m);
		warn("the spool's disk has %s free, less than [agent] min_free %s: taking no frames until space is freed",
		     a, m);
	}
	full_backoff = full_backoff ? full_backoff * 2 : 1000000;
	if (full_backoff > 60000000)
		full_backoff = 60000000;
	full_until = mono_us() + full_backoff;
}

/* Whether frames may be taken now (the disk has space). */
bool disk_ok(void)
{
	if (full_until && mono_us() < full_until)
		return false;
	unsigned long long avail = 0;
	if (disk_short(spool_fd(&agent.spool, DIR_JOBS), &avail)) {
		disk_wait(avail);
		return false;
	}
	if (full_backoff) {
		char a[32];
		human_bytes(avail, a);
		say("the spool's disk has %s free again: taking frames", a);
	}
	full_until = full_backoff = 0;
	return true;
}
