/* unit-spool.c - unit tests of the layout calls that change a real spool in
 * a temporary folder: ticket claims raced by several processes, entry moves,
 * a job's end, the open seam, a render folder renewed, the audit log
 * appended by several processes at once, a job's removal killed midway. */
#define _GNU_SOURCE
#include "../layout/audit.h"
#include "../layout/host.h"
#include "../layout/ini.h"
#include "../layout/package.h"
#include "../layout/retain.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"
#include "../layout/site.h"

/* A spool in a temporary folder with job NAME queued: frames 1..NFRAMES
 * as one ticket each in todo/. Returns the job's folder. */
int state_spool(struct spool *sp, char root[64], const char *name, int nframes)
{
	snprintf(root, 64, "/tmp/hf-unit.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	struct strlist made = {0};
	char err[512], path[128];
	sync_writes = false;
	if (spool_init(root, NULL, &made, err, sizeof err) < 0 || spool_open(root, sp, err, sizeof err) < 0)
		return -1;
	strlist_free(&made);
	snprintf(path, sizeof path, "%s/frames", name);
	int jobs = spool_fd(sp, DIR_JOBS);
	if (mkdirat(jobs, name, 0755) < 0 || mkdirat(jobs, path, 0755) < 0)
		return -1;
	for (int s = 0; s < TICKET_COUNT; s++) {
		snprintf(path, sizeof path, "%s/frames/%s", name, ticket_dir_name(s));
		mkdirat(jobs, path, 0755);
	}
	int jfd = job_dir_open(sp, name);
	for (long f = 1; f <= nframes; f++) {
		char t[64];
		ticket_format(t, f - 1, f, f);
		ticket_create(jfd, t, &f, 1);
	}
	struct job_status st = {0};
	snprintf(st.state, sizeof st.state, "queued");
	st.frames_total = nframes;
	job_status_write(jfd, &st);
	char entry[ENTRY_MAX_LEN];
	entry_format(entry, 500, 1, name);
	int q = state_fd(sp, STATE_QUEUED);
	int fd = openat(q, entry, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0)
		close(fd);
	return jfd;
}

void state_spool_drop(struct spool *sp, const char *root)
{
	spool_close(sp);
	tree_remove(AT_FDCWD, root);
}

/* Eight processes claim the same ticket at once: one wins, the others are
 * told ENOENT, and the ticket is in active/ once, under the winner. */
/* Job NAME's bare folder in SP's jobs/. */
static int state_spool_job(struct spool *sp, const char *name)
{
	if (mkdirat(spool_fd(sp, DIR_JOBS), name, 0755) < 0)
		return -1;
	return job_dir_open(sp, name);
}

void test_ticket_claim_race(void)
{
	struct spool sp;
	char root[64];
	int jfd = state_spool(&sp, root, "race", 1);
	char t[64];
	ticket_format(t, 0, 1, 1);
	pid_t pids[8];
	for (int i = 0; i < 8; i++) {
		if ((pids[i] = fork()) == 0) {
			char owner[32];
			snprintf(owner, sizeof owner, "host%d.0", i);
			int rc = ticket_claim(jfd, t, owner);
			_exit(rc == 0 ? 0 : errno == ENOENT ? 1 : 2);
		}
	}
	int won = 0, lost = 0;
	for (int i = 0; i < 8; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		won += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		lost += WIFEXITED(st) && WEXITSTATUS(st) == 1;
	}
	struct strlist active = {0};
	dir_names(jfd, "frames/active", &active);
	CHECK(won == 1 && lost == 7, "ticket_claim: of 8 racing claimants one wins, 7 get ENOENT (%d, %d)", won, lost);
	CHECK(active.n == 1 && tickets_none(jfd, TICKET_TODO) == 1, "and the ticket is in active/ once (%zu), not in todo/",
	      active.n);
	char owner[128] = "";
	long first = 0;
	CHECK(active.n == 1 && ticket_name_parse(active.v[0], NULL, &first, NULL, owner) && first == 1 &&
		      !strncmp(owner, "host", 4),
	      "under the winner's name (%s)", active.n ? active.v[0] : "none");
	strlist_free(&active);
	close(jfd);
	state_spool_drop(&sp, root);
}

/* A ticket's life on disk: claimed, a failed try noted, billed, returned,
 * finished; what ticket_load reads back at each step. */
void test_ticket_file(void)
{
	struct spool sp;
	char root[64];
	int jfd = state_spool(&sp, root, "life", 2);
	char t[64];
	ticket_format(t, 0, 1, 1);
	struct ticket k;
	CHECK(ticket_load(jfd, TICKET_TODO, t, &k) == 0 && k.nframes == 1 && k.frames[0] == 1 && k.nattempts == 0,
	      "ticket_create writes the frames line ticket_load reads");
	ticket_free(&k);
	CHECK(ticket_claim(jfd, t, "h.0") == 0, "ticket_claim takes it");
	CHECK(ticket_note_attempt(jfd, t, "h.0", 1, "exit 1\nsecond line") == 0, "an attempt is noted");
	char held[128];
	snprintf(held, sizeof held, "%s@h.0", t);
	CHECK(ticket_load(jfd, TICKET_ACTIVE, held, &k) == 0 && k.nattempts == 1 && k.attempts[0].n == 1 &&
		      !strcmp(k.attempts[0].owner, "h.0") && !strcmp(k.attempts[0].text, "1 h.0 exit 1 second line"),
	      "read back: try 1 on h.0, its newline made a space (%s)", k.nattempts ? k.attempts[0].text : "none");
	ticket_free(&k);
	CHECK(ticket_return(jfd, held) == 0 && tickets_none(jfd, TICKET_ACTIVE) == 1,
	      "ticket_return: nothing published, back to todo/");
	CHECK(ticket_claim(jfd, t, "h.1") == 0, "claimed again");
	struct ticket_bill b = {.frame = 1, .ok = true, .wall = 1.5, .user = 1, .sys = 0.25, .rss_kb = 1000, .bytes = 42};
	snprintf(b.owner, sizeof b.owner, "h.1");
	CHECK(ticket_note_billing(jfd, t, &b) == 0, "a published frame is billed");
	snprintf(held, sizeof held, "%s@h.1", t);
	CHECK(ticket_load(jfd, TICKET_ACTIVE, held, &k) == 0 && k.nbills == 1 && k.npublished == 1 && k.published[0] &&
		      k.bills[0].wall == 1.5 && k.bills[0].bytes == 42 && k.nattempts == 1,
	      "read back: frame 1 published, its figures, the earlier attempt kept");
	ticket_free(&k);
	CHECK(ticket_return(jfd, held) == 0 && tickets_none(jfd, TICKET_DONE) == 0,
	      "ticket_return of a ticket whose frames are all published: to done/, not rendered again");
	CHECK(ticket_claim(jfd, t, "h.2") < 0 && errno == ENOENT, "a settled ticket cannot be claimed (ENOENT)");
	long r = 0, f = 0, l = 0;
	char o[128];
	CHECK(ticket_name_parse("000003-0000007-0000009@h.0", &r, &f, &l, o) && r == 3 && f == 7 && l == 9 &&
		      !strcmp(o, "h.0"),
	      "ticket_name_parse: a chunk held by h.0");
	CHECK(ticket_name_parse("000001-0000004", &r, &f, &l, o) && f == 4 && l == 4 && !*o,
	      "ticket_name_parse: one frame, nobody's");
	CHECK(!ticket_name_parse("x-1", NULL, NULL, NULL, NULL) && !ticket_name_parse("1-2junk", NULL, NULL, NULL, NULL) &&
		      !ticket_name_parse("-1-2", NULL, NULL, NULL, NULL),
	      "ticket_name_parse: refuses what is not a ticket name");
	close(jfd);
	state_spool_drop(&sp, root);
}

/* A cancelled job is billed for every attempt in every ticket folder (the
 * killed one in todo/ too), with its sizes; a site's bytes on the wire add up. */
void test_billing_cancelled(void)
{
	struct spool sp;
	char root[64];
	int jfd = state_spool(&sp, root, "cx", 3);
	char t1[64], t2[64];
	ticket_format(t1, 0, 1, 1);
	ticket_format(t2, 1, 2, 2);
	struct ticket_bill b = {.frame = 1, .ok = true, .wall = 2, .user = 1, .bytes = 10};
	snprintf(b.owner, sizeof b.owner, "h.0");
	ticket_claim(jfd, t1, "h.0");
	ticket_note_billing(jfd, t1, &b);
	ticket_finish(jfd, t1, "h.0", TICKET_DONE);
	ticket_claim(jfd, t2, "h.1");
	snprintf(b.owner, sizeof b.owner, "h.1");
	b.frame = 2, b.ok = false, b.bytes = 0;
	ticket_note_billing(jfd, t2, &b); /* killed: back to todo/ with its line */
	ticket_finish(jfd, t2, "h.1", TICKET_TODO);
	struct job_sizes z = {.submitted = 1000, .site_sent = 5};
	CHECK(job_sizes_add(jfd, &z) == 0 && job_sizes_add(jfd, &z) == 0, "job_sizes_add, twice");
	CHECK(job_change_state(&sp, "cx", STATE_CANCELLED, "cancelled by test") == 0, "the job is cancelled");
	size_t len;
	char *bill = file_read_small(jfd, job_file_name(JOB_FILE_BILLING), 4096, &len);
	CHECK(bill && strstr(bill, "attempts = 2\n") && strstr(bill, "frames = 1\n") &&
		      strstr(bill, "wall_seconds = 4.000") && strstr(bill, "submitted_bytes = 2000\n") &&
		      strstr(bill, "site_sent_bytes = 10\n") && strstr(bill, "output_bytes = 10\n"),
	      "a cancelled job's billing.ini sums done/ and todo/ lines, with its sizes");
	free(bill);
	unsigned long long sent = 1, recv = 1;
	CHECK(site_traffic_read(&sp, "peer", &sent, &recv) < 0 && sent == 0 && recv == 0, "no traffic counted yet: 0");
	CHECK(site_traffic_add(&sp, "peer", 100, 7) == 0 && site_traffic_add(&sp, "peer", 1, 2) == 0 &&
		      site_traffic_read(&sp, "peer", &sent, &recv) == 0 && sent == 101 && recv == 9,
	      "site_traffic_add adds up (%llu, %llu)", sent, recv);
	CHECK(site_traffic_read(&sp, "../x", &sent, &recv) < 0, "site_traffic_read refuses a name that is not a site's");
	close(jfd);
	state_spool_drop(&sp, root);
}

/* job_find: by the entry status.ini names when it is there, by listing
 * the state folders when status.ini is behind; dependencies looked at
 * once while a memo lives. */
void test_find_and_deps(void)
{
	struct spool sp;
	char root[64], entry[ENTRY_MAX_LEN];
	int jfd = state_spool(&sp, root, "dep", 1);
	struct job_status st;
	CHECK(jfd >= 0 && job_status_read(jfd, &st) == 0, "status.ini reads");
	st.priority = 500;
	st.submitted_us = 1;
	job_status_write(jfd, &st);
	job_status_free(&st);
	CHECK(job_find(&sp, "dep", entry) == STATE_QUEUED && !strcmp(entry, "500-0000000000000001-dep"),
	      "found by the entry status.ini names (%s)", entry);
	char moved[ENTRY_MAX_LEN];
	entry_format(moved, 7, 1, "dep");
	CHECK(entry_move(&sp, STATE_QUEUED, entry, STATE_HELD, moved) == 0 && job_find(&sp, "dep", entry) == STATE_HELD &&
		      !strcmp(entry, moved),
	      "status.ini behind a priority change: found by the listing (%s)", entry);
	CHECK(job_find(&sp, "../dep", entry) == STATE_NONE && job_find(&sp, "none", entry) == STATE_NONE,
	      "a name that is not a job's, or no job: nowhere");
	struct strlist after = {0};
	strlist_add(&after, "dep");
	void *memo = NULL;
	char why[512];
	CHECK(job_deps_ready_memo(&sp, &memo, &after, why, sizeof why) == 0 && strstr(why, "waiting for dep (held)"),
	      "a job waiting for a held one waits (%s)", why);
	entry_move(&sp, STATE_HELD, moved, STATE_DONE, NULL);
	CHECK(job_deps_ready_memo(&sp, &memo, &after, why, sizeof why) == 0,
	      "while the memo lives, the answer it holds");
	deps_memo_free(&memo);
	CHECK(job_deps_ready_memo(&sp, &memo, &after, why, sizeof why) == 1 && job_deps_ready(&sp, &after, why, sizeof why) == 1,
	      "a new memo looks again: done");
	deps_memo_free(&memo);
	strlist_free(&after);
	close(jfd);
	state_spool_drop(&sp, root);
}

/* Entries move by one rename; a job ends once, when its last ticket is. */
void test_entry_and_finish(void)
{
	struct spool sp;
	char root[64];
	int jfd = state_spool(&sp, root, "fin", 2);
	char entry[ENTRY_MAX_LEN];
	CHECK(job_find(&sp, "fin", entry) == STATE_QUEUED, "the job is queued");
	CHECK(entry_move(&sp, STATE_QUEUED, entry, STATE_HELD, NULL) == 0 && job_find(&sp, "fin", entry) == STATE_HELD,
	      "entry_move: queue/ to held/");
	CHECK(entry_move(&sp, STATE_QUEUED, entry, STATE_HELD, NULL) < 0 && errno == ENOENT,
	      "a second mover from queue/ is told ENOENT");
	entry_move(&sp, STATE_HELD, entry, STATE_QUEUED, NULL);
	CHECK(job_try_finish(&sp, "fin") == 0 && job_find(&sp, "fin", entry) == STATE_QUEUED,
	      "job_try_finish: tickets left, the job stays queued");
	for (long f = 1; f <= 2; f++) {
		char t[64];
		ticket_format(t, f - 1, f, f);
		ticket_claim(jfd, t, "h.0");
		struct ticket_bill b = {.frame = f, .ok = true, .wall = 2};
		snprintf(b.owner, sizeof b.owner, "h.0");
		ticket_note_billing(jfd, t, &b);
		ticket_finish(jfd, t, "h.0", TICKET_DONE);
	}
	CHECK(job_try_finish(&sp, "fin") == 1 && job_find(&sp, "fin", entry) == STATE_DONE,
	      "job_try_finish: all tickets done, the entry is in done/");
	struct job_status st;
	CHECK(job_status_read(jfd, &st) == 0 && !strcmp(st.state, "done") && st.frames_done == 2,
	      "status.ini says done with 2 frames (%s)", st.state);
	job_status_free(&st);
	size_t len;
	char *bill = file_read_small(jfd, job_file_name(JOB_FILE_BILLING), 4096, &len);
	CHECK(bill && strstr(bill, "frames = 2") && strstr(bill, "wall_seconds = 4.000"),
	      "billing.ini sums the tickets' billing lines");
	free(bill);
	CHECK(job_try_finish(&sp, "fin") == 0, "a second finisher finds nothing to do");
	close(jfd);
	state_spool_drop(&sp, root);
}

/* The open seam: beneath its folder, through no link, never blocking. */
void test_open_beneath(void)
{
	char root[64] = "/tmp/hf-unit.XXXXXX";
	if (!mkdtemp(root))
		return;
	int d = open(root, O_RDONLY | O_DIRECTORY);
	mkdirat(d, "a", 0755);
	mkdirat(d, "a/b", 0755);
	int fd = openat(d, "a/b/f", O_WRONLY | O_CREAT, 0644);
	close(fd);
	symlinkat("a", d, "link");
	mkfifoat(d, "a/fifo", 0644);
	fd = open_beneath(d, "a/b/f", O_RDONLY, 0);
	CHECK(fd >= 0, "open_beneath opens a file two folders down");
	if (fd >= 0)
		close(fd);
	CHECK(open_beneath(d, "link/b/f", O_RDONLY, 0) < 0, "but not through a symlinked folder");
	CHECK(open_beneath(d, "a/../../etc/passwd", O_RDONLY, 0) < 0, "nor up out of its folder");
	CHECK(open_regular(d, "a/fifo", O_RDONLY) < 0 && errno == EINVAL, "open_regular refuses a FIFO without blocking");
	CHECK(dir_open(d, "link") == NULL, "dir_open does not follow a link");
	/* locks: a FIFO in a lock's place is refused at once, a lock held
	 * elsewhere is given up on at the deadline */
	mkfifoat(d, "fifo.lock", 0644);
	int64_t t0 = mono_us();
	CHECK(lock_open(d, "fifo.lock", 5000) < 0 && errno == EINVAL && mono_us() - t0 < 1000000,
	      "lock_open refuses a FIFO without blocking");
	int held = lock_open(d, "status.lock", 1000);
	CHECK(held >= 0, "lock_open takes a free lock");
	pid_t pid = fork();
	if (pid == 0) {
		int64_t t1 = mono_us();
		int fd2 = lock_open(d, "status.lock", 200);
		int64_t took = mono_us() - t1;
		_exit(fd2 < 0 && errno == ETIMEDOUT && took >= 200000 && took < 10000000 ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a lock held elsewhere is given up on at its deadline (ETIMEDOUT)");
	close(held);
	held = lock_open(d, "status.lock", 200);
	CHECK(held >= 0, "and taken once it is let go");
	if (held >= 0)
		close(held);
	close(d);
	tree_remove(AT_FDCWD, root);
}

/* A render's folder serves the next renderer: whatever the last one left
 * (hidden files, a FIFO, a link, a tree, files in out/ and tmp/) goes,
 * nothing beyond the link is followed, out/ and tmp/ are made again. */
void test_attempt_renew(void)
{
	char root[64] = "/tmp/hf-unit.XXXXXX";
	if (!mkdtemp(root))
		return;
	int job = open(root, O_RDONLY | O_DIRECTORY);
	mkdirat(job, "keep", 0755);
	close(openat(job, "keep/precious", O_WRONLY | O_CREAT, 0644));
	int out = -1;
	char name[NAME_MAX + 1];
	job_temp_name(name, sizeof name, "h.0", 1, 1);
	int a = job_attempt_make(job, name, (uid_t)-1, (gid_t)-1, &out);
	CHECK(a >= 0 && out >= 0, "an attempt folder is made");
	close(out);
	close(openat(a, ".hidden", O_WRONLY | O_CREAT, 0644));
	close(openat(a, "out/frame.png", O_WRONLY | O_CREAT, 0644));
	close(openat(a, "tmp/x", O_WRONLY | O_CREAT, 0644));
	mkfifoat(a, "fifo", 0644);
	mkdirat(a, "deep", 0755);
	mkdirat(a, "deep/er", 0755);
	char keep[128];
	snprintf(keep, sizeof keep, "%s/keep", root);
	symlinkat(keep, a, "link");
	struct strlist names = {0};
	CHECK(dir_entries(a, &names) == 0 && names.n == 6, "dir_entries lists hidden names, not . and .. (%zu)", names.n);
	strlist_free(&names);
	CHECK(job_attempt_renew(a, (uid_t)-1, (gid_t)-1, &out) == 0 && out >= 0, "job_attempt_renew empties it");
	close(out);
	CHECK(dir_entries(a, &names) == 0 && names.n == 2, "and it holds out/ and tmp/ only (%zu)", names.n);
	strlist_free(&names);
	struct stat st;
	CHECK(fstatat(a, "out", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
		  dir_entries(a, &names) == 0, "out/ is a folder again");
	strlist_free(&names);
	int o = openat(a, "out", O_RDONLY | O_DIRECTORY);
	CHECK(o >= 0 && dir_entries(o, &names) == 0 && names.n == 0, "an empty one");
	strlist_free(&names);
	if (o >= 0)
		close(o);
	CHECK(fstatat(job, "keep/precious", &st, 0) == 0, "what the link pointed at is left alone");
	close(a);
	close(job);
	tree_remove(AT_FDCWD, root);
}

/* The audit log: 8 processes appending 2000 long lines each at once, and
 * every line read back whole, in each writer's order, none lost. */
struct audit_tally {
	long lines[8], next[8], wrong;
};

static void audit_reason(char out[1900], int writer, long i)
{
	int k = snprintf(out, 1900, "writer %d line %ld: \"quoted\" \\ and \x01: ", writer, i);
	memset(out + k, 'a' + writer, 1900 - (size_t)k - 1);
	out[1899] = 0;
}

static void audit_tally(const struct audit_line *l, void *arg)
{
	struct audit_tally *t = arg;
	char want[1900];
	int w = (int)l->uid - 60000;
	long i = -1;
	if (w < 0 || w >= 8 || sscanf(l->reason, "writer %*d line %ld", &i) != 1) {
		t->wrong++;
		return;
	}
	audit_reason(want, w, i);
	t->wrong += i != t->next[w] || strcmp(want, l->reason) || strcmp(l->action, "render") || strcmp(l->job, "shot42");
	t->next[w] = i + 1;
	t->lines[w]++;
}

void test_audit_writers(void)
{
	struct spool sp;
	char root[64];
	close(state_spool(&sp, root, "audit", 0));
	pid_t pids[8];
	for (int w = 0; w < 8; w++)
		if ((pids[w] = fork()) == 0) {
			char reason[1900];
			for (long i = 0; i < 2000; i++) {
				audit_reason(reason, w, i);
				audit_record(&sp, (uid_t)(60000 + w), "render", "shot42", "done", reason);
			}
			_exit(0);
		}
	int ended = 0, st;
	for (int w = 0; w < 8; w++)
		ended += waitpid(pids[w], &st, 0) == pids[w] && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	struct audit_tally t;
	memset(&t, 0, sizeof t);
	long skipped = audit_read(&sp, NULL, audit_tally, &t), exact = 0;
	for (int w = 0; w < 8; w++)
		exact += t.lines[w] == 2000;
	CHECK(ended == 8 && skipped == 0 && t.wrong == 0 && exact == 8,
	      "audit: 8 writers x 2000 lines at once, each whole, in order, none lost (skipped %ld, wrong %ld, exact %ld)",
	      skipped, t.wrong, exact);
	state_spool_drop(&sp, root);
}

static void audit_keep(const struct audit_line *l, void *arg) { *(struct audit_line *)arg = *l; }
static void audit_count(const struct audit_line *l, void *arg) { (void)l, ++*(long *)arg; }
static long audit_lines(const struct spool *sp, const char *job, const char *user, int64_t since)
{
	long count = 0;
	struct audit_filter f = {job, user, since};
	return audit_read(sp, &f, audit_count, &count) < 0 ? -1 : count;
}

/* What the audit log keeps of odd text, what it refuses to write to, and
 * what its reader passes over. */
void test_audit_file(void)
{
	struct spool sp;
	char root[64], big[9001];
	close(state_spool(&sp, root, "audit", 0));
	int run = spool_fd(&sp, DIR_RUN);
	const char *log = spool_file_name(SPOOL_FILE_AUDIT), *odd = "say \"hi\" \\ back\\\\slash\nnew\ttab\x01\x1b[31m\x7f \xc3\xbc";
	mode_t mask = umask(077);
	audit_record(&sp, 0, "cancel", "shot42", "done", odd);
	umask(mask);
	struct stat st = {0};
	CHECK(fstatat(run, log, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & 07777) == 0640,
	      "audit: the log is made mode 0640 whatever the umask (%o)", st.st_mode & 07777);
	static struct audit_line l;
	CHECK(audit_read(&sp, NULL, audit_keep, &l) == 0 && !strcmp(l.reason, odd) && !strcmp(l.job, "shot42") &&
		      l.uid == 0 && !strcmp(l.user, "root") && l.us > now_us() - 60000000 && l.us <= now_us(),
	      "audit: quotes, backslashes, a newline and control characters read back exactly");
	char *text = file_read_small(run, log, 8192, NULL);
	CHECK(text && !strncmp(text, "time=", 5) && strchr(text, '\n') == text + strlen(text) - 1 &&
		      strstr(text, "Z uid=0 user=root action=cancel job=shot42 result=done reason=\"say \\\"hi\\\" \\\\ "
				   "back\\\\\\\\slash\\x0anew\\x09tab\\x01\\x1b[31m\\x7f \xc3\xbc\"\n"),
	      "audit: one line, as documented (%zu bytes)", text ? strlen(text) : 0);
	free(text);
	for (int i = 0; i < 4500; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 3);
	audit_record(&sp, 0, "note", NULL, "done", big);
	struct stat st2 = {0};
	fstatat(run, log, &st2, 0);
	size_t kept = audit_read(&sp, NULL, audit_keep, &l) == 0 ? strlen(l.reason) : 0;
	CHECK(st2.st_size - st.st_size <= AUDIT_LINE_MAX && kept > 3000 && kept % 2 == 0 && !strncmp(l.reason, big, kept) &&
		      !*l.job,
	      "audit: a long reason is cut to fit %d bytes, between characters (%zu kept)", AUDIT_LINE_MAX, kept);
	CHECK(audit_lines(&sp, "shot42", NULL, 0) == 1 && audit_lines(&sp, NULL, "0", 0) == 2 &&
		      audit_lines(&sp, NULL, "root", 0) == 2 && audit_lines(&sp, NULL, "nobody", 0) == 0 &&
		      audit_lines(&sp, NULL, NULL, now_us() + 3600000000LL) == 0,
	      "audit: lines filtered by job, uid, user name and time");
	const char *bad = "garbage\n\ntime=2026-13-45T00:00:00Z uid=1 user=a action=b job= result=c reason=\"\"\n"
			  "time=2026-12-06T21:40:01Z uid=1 user=a action=b job= result=c reason=\"open\n"
			  "time=2026-12-06T21:40:01Z uid=1 user=a action=b job=x job=y result=c reason=\"\"\n"
			  "time=2026-12-06T21:40:01Z uid=1 user=a action=b job=x result=c reason=\"\\q\"\n"
			  "time=2026-12-06T21:40:01.5Z uid=7 user=a action=b job= result=c reason=\"\" later=\"x y\"\n";
	int fd = openat(run, log, O_WRONLY | O_APPEND);
	CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad) && audit_read(&sp, NULL, audit_keep, &l) == 6 &&
		      l.uid == 7 && l.us == 1796593201500000LL,
	      "audit: malformed lines are passed over and counted, keys a later version adds are not (%lld)",
	      (long long)l.us);
	close(fd);
	/* a link in the log's place is not followed, a FIFO does not block */
	close(openat(run, "victim", O_WRONLY | O_CREAT, 0644));
	unlinkat(run, log, 0);
	symlinkat("victim", run, log);
	audit_record(&sp, 0, "cancel", "shot42", "done", "through a link");
	CHECK(fstatat(run, "victim", &st, 0) == 0 && st.st_size == 0, "audit: a symlink in the log's place is not followed");
	unlinkat(run, log, 0);
	mkfifoat(run, log, 0640);
	int64_t t0 = mono_us();
	audit_record(&sp, 0, "cancel", "shot42", "done", "to a FIFO nobody reads");
	int rd = openat(run, log, O_RDONLY | O_NONBLOCK);
	audit_record(&sp, 0, "cancel", "shot42", "done", "to a FIFO read");
	char c;
	long none = 0;
	CHECK(rd >= 0 && read(rd, &c, 1) <= 0 && mono_us() - t0 < 2000000 && audit_read(&sp, NULL, audit_count, &none) < 0 &&
		      errno == EINVAL,
	      "audit: a FIFO in the log's place is neither written nor read, and blocks nobody");
	close(rd);
	unlinkat(run, log, 0);
	struct group *gr = getgrnam("daemon");
	gid_t gid = gr ? gr->gr_gid : 0;
	if (geteuid() == 0 && gr) {
		snprintf(sp.conf.admins, sizeof sp.conf.admins, "daemon");
		audit_record(&sp, 0, "cancel", "shot42", "done", "shared");
		CHECK(fstatat(run, log, &st, 0) == 0 && st.st_gid == gid && (st.st_mode & 0777) == 0640,
		      "audit: a new log goes to the [site] admins group, mode 0640");
		fchownat(run, log, (uid_t)-1, 0, 0);
		audit_record(&sp, 0, "cancel", "shot42", "done", "shared again");
		CHECK(fstatat(run, log, &st, 0) == 0 && st.st_gid == gid, "audit: and back to it when its group was changed");
	}
	state_spool_drop(&sp, root);
}


/* [agent] nimby, nimby_idle and nimby_devices read from conf/hotfarm.ini
 * (a device that is no absolute path refused); hosts/HOST/nimby written
 * by an agent and read back in words by hotfarm hosts and the page. */
void test_nimby(void)
{
	struct spool sp;
	char root[64], err[512] = "";
	if (state_spool(&sp, root, "j", 1) < 0)
		return;
	int conf = spool_fd(&sp, DIR_CONF);
	const char *good = "[agent]\nnimby = yes\nnimby_idle = 5m\nnimby_devices = /dev/pts/* /dev/input/event*\n";
	file_write_atomic(conf, "hotfarm.ini", good, strlen(good), 0644);
	CHECK(spool_conf_reload(&sp, err, sizeof err) == 0 && sp.conf.nimby && sp.conf.nimby_idle == 300 &&
		      !strcmp(sp.conf.nimby_devices, "/dev/pts/* /dev/input/event*") && sp.conf_warnings.n == 0,
	      "nimby: the keys are read (%s)", err);
	const char *bad = "[agent]\nnimby_devices = /dev/pts/* tty1\n";
	file_write_atomic(conf, "hotfarm.ini", bad, strlen(bad), 0644);
	CHECK(spool_conf_reload(&sp, err, sizeof err) < 0 && strstr(err, "nimby_devices") && sp.conf.nimby,
	      "nimby: a device that is no absolute path is refused, the settings in use stay (%s)", err);
	unlinkat(conf, "hotfarm.ini", 0);
	CHECK(spool_conf_reload(&sp, err, sizeof err) == 0 && !sp.conf.nimby && sp.conf.nimby_idle == 600 &&
		      !*sp.conf.nimby_devices, "nimby: off by default, 10 min, the usual devices");

	int hfd = host_dir_open(&sp, "ws", true);
	const char *rec = "[host]\nname = ws\n";
	host_record_write(hfd, rec, strlen(rec));
	struct host_record h;
	char text[120], mark[200];
	int64_t now = server_now_us(&sp);
	CHECK(host_read(&sp, "ws", &h) == 0 && !h.nimby, "nimby: a host without the marker is no desktop");
	host_nimby_text(&h, now, 0, text, sizeof text);
	CHECK(!*text, "nimby: ... and says nothing of a user");
	host_free(&h);
	struct {
		bool away;
		long idle;
		long busy;
		const char *says;
	} cases[] = {
		{false, 3, 0, "nimby: user active"},
		{false, 185, 0, "nimby: user idle 3 min, renders after 10 min"},
		{true, 720, 2, "nimby: idle 12 min, rendering"},
		{true, 8000, 0, "nimby: idle 2 h, nothing to render"},
		{true, -1, 1, "nimby: no user seen, rendering"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		host_nimby_format(cases[i].away, cases[i].idle, 600, mark, sizeof mark);
		host_mark(hfd, HOST_NIMBY, mark);
		bool read = host_read(&sp, "ws", &h) == 0 && h.nimby;
		host_nimby_text(&h, server_now_us(&sp), cases[i].busy, text, sizeof text);
		CHECK(read && !strcmp(text, cases[i].says), "nimby: '%s' (got '%s')", cases[i].says, text);
		host_free(&h);
	}
	host_clear(hfd, 0);
	CHECK(!host_marked(hfd, HOST_NIMBY), "nimby: a stopped agent's marker goes with its folder's files");
	close(hfd);
	state_spool_drop(&sp, root);
}

/* job_remove and what a removal killed midway leaves: a job out of its
 * state folder is listed nowhere, and retain_recover finishes it; trash
 * of a dead process goes, a live one's stays. */
void test_job_remove_crash(void)
{
	struct spool sp;
	char root[64], entry[ENTRY_MAX_LEN];
	int jfd = state_spool(&sp, root, "old", 2);
	entry_format(entry, 500, 1, "old");
	CHECK(jfd >= 0 && job_remove(&sp, "old") < 0 && errno == EBUSY, "job_remove refuses a job that has not ended");
	CHECK(entry_move(&sp, STATE_QUEUED, entry, STATE_DONE, NULL) == 0, "the job ends");
	/* killed right after the commit: the entry is in the job's folder */
	CHECK(renameat(state_fd(&sp, STATE_DONE), entry, jfd, job_file_name(JOB_FILE_RETIRED)) == 0, "entry moved in");
	close(jfd);
	CHECK(job_find(&sp, "old", entry) == STATE_NONE, "a job mid-removal is listed nowhere");
	int trash = dir_walk(spool_fd(&sp, DIR_WORK), spool_file_name(SPOOL_FILE_TRASH), true);
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char gone[64], live[64];
	snprintf(gone, sizeof gone, "%ld.1.1", (long)dead);
	snprintf(live, sizeof live, "%ld.1.1", (long)getpid());
	mkdirat(trash, gone, 0755);
	mkdirat(trash, live, 0755);
	retain_recover(&sp);
	CHECK(faccessat(spool_fd(&sp, DIR_JOBS), "old", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT,
	      "retain_recover finishes the removal");
	CHECK(faccessat(trash, gone, F_OK, 0) < 0, "a dead process's trash is removed");
	CHECK(faccessat(trash, live, F_OK, 0) == 0, "a live one's stays");
	unlinkat(trash, live, AT_REMOVEDIR);
	close(trash);
	/* a whole removal: nothing of it left */
	jfd = state_spool_job(&sp, "next");
	entry_format(entry, 500, 2, "next");
	int fd = openat(state_fd(&sp, STATE_FAILED), entry, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0)
		close(fd);
	CHECK(jfd >= 0 && job_remove(&sp, "next") == 0 && job_find(&sp, "next", entry) == STATE_NONE &&
		      faccessat(spool_fd(&sp, DIR_JOBS), "next", F_OK, AT_SYMLINK_NOFOLLOW) < 0,
	      "job_remove takes a failed job's entry and folder");
	if (jfd >= 0)
		close(jfd);
	CHECK(job_remove(&sp, "next") < 0 && errno == ENOENT, "a job removed already: ENOENT");
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	spool_close(&sp);
	CHECK(system(cmd) == 0, "cleaned up");
}
