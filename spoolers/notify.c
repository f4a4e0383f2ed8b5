/* notify.c - hf-notify: mail a job's owner (RFC 5322, into the [notify] command) when it is accepted, has its
 * first samples (contact sheet attached), progresses and ends (with its billing); notifications.log keeps each.
 * Mail goes to the owner intake verified ([owner] in job.ini) at the site's address for them; job.ini's own
 * email only when its submitter is believed. Addresses are checked again; a peer's billing values are escaped;
 * headers get checked names only. */
#define _GNU_SOURCE
#include "../layout/access.h"
#include "../layout/ini.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <nettle/base64.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static struct spool sp;

static void rfc_date(char out[64])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 64, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* base64 in lines of 76, through nettle */
static void base64_lines(struct buf *b, const unsigned char *data, size_t len)
{
	for (size_t off = 0; off < len; off += 57) {
		size_t n = len - off < 57 ? len - off : 57;
		char line[80];
		base64_encode_raw((char *)line, n, data + off);
		buf_add(b, line, BASE64_ENCODE_RAW_LENGTH(n));
		buf_add(b, "\r\n", 2);
	}
}

/* Run the notify command with MSG on its stdin; 0 when it took it. */
static int deliver(const char *command, const struct buf *msg)
{
	struct strlist argv = {0};
	char err[256];
	if (args_split(command, &argv, err, sizeof err) < 0 || argv.n == 0) {
		warn("[notify] command: %s", err);
		strlist_free(&argv);
		return -1;
	}
	strlist_take(&argv, NULL);
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		die_errno(EXIT_TEMPFAIL, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	pid_t pid;
	int e = posix_spawnp(&pid, argv.v[0], &fa, NULL, argv.v, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	argv.n--;
	strlist_free(&argv);
	if (e) {
		close(fds[1]);
		warn("unable to run the notify command: %s", strerror(e));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	size_t off = 0;
	while (off < msg->len) {
		ssize_t n = write(fds[1], msg->data + off, msg->len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fds[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (off < msg->len || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		warn("the notify command did not take the message (status %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	return 0;
}

/* The billing written when the job ended, for the final notice. A job
 * from a linked site brings its own billing.ini, so each value is escaped
 * before it goes into the mail. */
static void notify_add_billing(struct buf *body, int jfd)
{
	char err[1024];
	struct ini *bill = job_file_ini(jfd, JOB_FILE_BILLING, err, sizeof err);
	if (!bill)
		return;
	buf_printf(body, "\r\nBilling:\r\n");
	const char *keys[] = {"frames", "wall_seconds", "cpu_user_seconds", "cpu_system_seconds",
			      "peak_rss_kb", "output_bytes", "hosts"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		const char *v = ini_get(bill, "billing", keys[i]);
		char clean[200];
		text_escape(v ? v : "", clean, sizeof clean);
		buf_printf(body, "  %s = %s\r\n", keys[i], clean);
	}
	ini_free(bill);
}

/* The subject and text of EVENT's notice; true when the contact sheet goes
 * with it. An unknown event is a caller's mistake: nothing is sent. */
static bool notify_compose(const char *name, const char *event, const struct job_status *st, enum job_state state,
			   int jfd, char subject[300], struct buf *body)
{
	if (!strcmp(event, "accepted")) {
		snprintf(subject, 300, "[hotfarm] %s accepted: %ld frames", name, st->frames_total);
		buf_printf(body, "Your job %s was accepted by the farm on site %s: %ld frames, priority %d.\r\n", name,
			   sp.conf.name, st->frames_total, st->priority);
		buf_printf(body, "You get a mail with the first samples as soon as they are rendered.\r\n");
		return false;
	}
	if (!strcmp(event, "samples")) {
		snprintf(subject, 300, "[hotfarm] %s: first samples (%ld of %ld frames)", name, st->frames_done,
			 st->frames_total);
		buf_printf(body, "The first frames of %s are rendered; they span the whole shot (first, last,\r\n"
				 "middle, quartiles...). The contact sheet is attached.\r\n\r\n", name);
		buf_printf(body, "If they are not what you want, cancel the job: reply to this mail is a cancel\r\n"
				 "request for your farm admin, or do it yourself with\r\n"
				 "    hotfarm cancel %s\r\n"
				 "or drop a file named %s into the farm's cancel/ folder.\r\n", name, name);
		return true;
	}
	if (!strcmp(event, "progress")) {
		snprintf(subject, 300, "[hotfarm] %s: %ld of %ld frames", name, st->frames_done, st->frames_total);
		buf_printf(body, "%s: %ld of %ld frames done, %ld failed.\r\n%s\r\n", name, st->frames_done,
			   st->frames_total, st->frames_failed, st->reason);
		buf_printf(body, "To cancel: hotfarm cancel %s, or a file named %s in cancel/.\r\n", name, name);
		return false;
	}
	if (!strcmp(event, "final")) {
		snprintf(subject, 300, "[hotfarm] %s %s", name, state_word(state));
		buf_printf(body, "%s is %s: %s\r\n\r\n", name, state_word(state), st->reason);
		char rel[200];
		job_relpath(name, rel, sizeof rel);
		buf_printf(body, "Frames: %ld of %ld done, %ld failed.\r\nFrames are in %s/output/ on the farm's share.\r\n",
			   st->frames_done, st->frames_total, st->frames_failed, rel);
		notify_add_billing(body, jfd);
		return false;
	}
	die(EXIT_BADINPUT, "unknown event %s", event);
}

/* The whole RFC 5322 message: headers, then BODY alone or, when the
 * contact sheet should go along and can be read, BODY and the sheet as a
 * multipart message. */
static void notify_build_message(struct buf *msg, const char *name, const char *event, const char *email,
				 const char *subject, const char *date, const struct buf *body, bool attach, int jfd)
{
	buf_printf(msg, "From: hotfarm on %s <hotfarm@%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n"
			"Message-ID: <%s.%s.%lld@%s>\r\nMIME-Version: 1.0\r\nX-Hotfarm-Job: %s\r\n",
		   sp.conf.name, sp.conf.name, email, subject, date, name, event, (long long)now_us(), sp.conf.name,
		   name);
	size_t len = 0;
	char *png = attach ? job_file_read(jfd, JOB_FILE_CONTACT, 32 << 20, &len) : NULL;
	if (!png) {
		buf_printf(msg, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
		buf_add(msg, body->data, body->len);
		return;
	}
	const char *boundary = "hotfarm-boundary-7d1c";
	buf_printf(msg, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary);
	buf_printf(msg, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
		   boundary);
	buf_add(msg, body->data, body->len);
	buf_printf(msg, "\r\n--%s\r\nContent-Type: image/png; name=\"%s-contact.png\"\r\n"
			"Content-Disposition: attachment; filename=\"%s-contact.png\"\r\n"
			"Content-Transfer-Encoding: base64\r\n\r\n",
		   boundary, name, name);
	base64_lines(msg, (const unsigned char *)png, len);
	buf_printf(msg, "--%s--\r\n", boundary);
	free(png);
}

/* How the job's owner was established: intake's [owner] by. A job without
 * the section (dropped before intake wrote one) is a submitter's. */
enum owner_proof {
	OWNER_SUBMITTER, /* the farm's user or root dropped it: job.ini's owner and email are believed */
	OWNER_FILE,      /* the owner of the dropped files; so is anything else unknown */
	OWNER_SITE,      /* a linked site sent it: its artist is mailed there */
};

/* The job's owner (user name, or site:NAME) into USER, and how it is
 * known. A job a linked site sent (NAME@SITE) is the site's whatever its
 * job.ini says: those bytes are the peer's. */
static enum owner_proof notify_owner(int jfd, const char *name, const struct job_desc *jd, char *user,
				     size_t usersize)
{
	char job[NAME_MAX_LEN + 1], site[SITE_NAME_MAX + 1];
	snprintf(user, usersize, "%s", jd->owner);
	job_id_split(name, job, site);
	if (*site) {
		snprintf(user, usersize, "site:%s", site);
		return OWNER_SITE;
	}
	struct job_owner o;
	if (job_owner_read(jfd, &o) < 0)
		return OWNER_FILE; /* read a moment ago: believe nothing this time */
	if (*o.user)
		snprintf(user, usersize, "%s", o.user);
	if (!strcmp(o.by, "submitter"))
		return OWNER_SUBMITTER;
	if (!strcmp(o.by, "site") || !strncmp(o.user, "site:", 5))
		return OWNER_SITE;
	return OWNER_FILE;
}

/* Where the job's notices go (hotfarm.ini(5), [notify] address and
 * any_address): TO, or false with WHY when none goes out. What is refused
 * or ignored is said only when FIRST (no notice of the job logged yet), so
 * once for the job. */
static bool notify_recipient(int jfd, const char *name, const struct job_desc *jd, bool first, char *to,
			     size_t tosize, char *why, size_t whysize)
{
	char user[128], shown[160], email[300];
	enum owner_proof proof = notify_owner(jfd, name, jd, user, sizeof user);
	text_escape(user, shown, sizeof shown);
	text_escape(jd->email, email, sizeof email);
	bool believed = sp.conf.notify_any_address || proof == OWNER_SUBMITTER;
	if (believed && *jd->email) {
		snprintf(to, tosize, "%s", jd->email);
		if (mail_address_ok(to))
			return true;
		snprintf(why, whysize, "email '%s' in job.ini is not one mail address", email);
	} else if (proof == OWNER_SITE) {
		snprintf(why, whysize, "its owner is %s, whose own site mails them", shown);
		if (first)
			sayj(name, -1, "%s: no mail: %s", name, why);
		return false;
	} else if (!*user) {
		snprintf(why, whysize, "the job names no owner and no email");
	} else if (*user == '#') {
		snprintf(why, whysize, "its owner, uid %s, has no user name to mail", shown + 1);
	} else if (!site_conf_address(&sp.conf, user, to, tosize)) {
		snprintf(why, whysize, "no mail address for %s: set [notify] address = %%u@your.domain or an [addresses] entry",
			 shown);
	} else if (!mail_address_ok(to)) {
		char address[300];
		text_escape(to, address, sizeof address);
		snprintf(why, whysize, "the address for %s, '%s', is not one mail address", shown, address);
	} else {
		if (first && *jd->email && strcasecmp(jd->email, to))
			warnj(name, -1, "%s: job.ini's email '%s' is ignored, mail goes to its owner %s at %s "
				  "([notify] any_address = yes allows other addresses)", name, email, shown, to);
		return true;
	}
	if (first)
		warnj(name, -1, "%s: no mail: %s", name, why);
	return false;
}

/* Whether no notice of the job was logged yet. */
static bool notify_first(int jfd)
{
	struct stat st;
	return job_file_stat(jfd, JOB_FILE_NOTICES, &st) < 0 || st.st_size == 0;
}

/* A notice that cannot go out is logged as not sent: watcherd takes it as
 * dealt with, instead of asking for it again at every pass. */
static void notify_log_unsent(int jfd, const char *name, const char *event, const char *iso, const char *why)
{
	int fd = job_file_open(jfd, JOB_FILE_NOTICES, O_WRONLY | O_CREAT | O_APPEND, 0644);
	struct buf logb = {0};
	buf_printf(&logb, "=== %s %s not sent: %s\n", event, iso, why);
	if (fd < 0 || write(fd, logb.data, logb.len) != (ssize_t)logb.len)
		warnj(name, -1, "unable to append to jobs/%s/%s", name, job_file_name(JOB_FILE_NOTICES));
	if (fd >= 0)
		close(fd);
	buf_free(&logb);
}

/* The log says what went out; watcherd reads it to know which notices
 * were sent. */
static void notify_log_sent(int jfd, const char *name, const char *event, const char *iso, const char *email,
			    const char *subject, const struct buf *msg)
{
	int fd = job_file_open(jfd, JOB_FILE_NOTICES, O_WRONLY | O_CREAT | O_APPEND, 0644);
	struct buf logb = {0};
	buf_printf(&logb, "=== %s %s to %s: %s\n", event, iso, email, subject);
	buf_add(&logb, msg->data, msg->len);
	buf_printf(&logb, "\n");
	if (fd < 0 || write(fd, logb.data, logb.len) != (ssize_t)logb.len)
		warnj(name, -1, "unable to append to jobs/%s/%s", name, job_file_name(JOB_FILE_NOTICES));
	if (fd >= 0)
		close(fd);
	buf_free(&logb);
	sayj(name, -1, "%s: %s notice sent to %s", name, event, email);
}

int main(int argc, char **argv)
{
	const char *usage = "usage: hf-notify --spool DIR JOB accepted|samples|progress|final\n";
	int first = spooler_main(argc, argv, "hf-notify", usage, &sp);
	if (argc - first != 2) {
		fputs(usage, stderr);
		return EXIT_BADINPUT;
	}
	const char *name = argv[first], *event = argv[first + 1];
	if (strcmp(event, "accepted") && strcmp(event, "samples") && strcmp(event, "progress") && strcmp(event, "final"))
		die(EXIT_BADINPUT, "unknown event %s", event);
	if (!*sp.conf.notify_command)
		return EXIT_OK; /* nowhere to send: nothing to do */
	int jfd = job_dir_open(&sp, name);
	if (jfd < 0)
		die(EXIT_BADINPUT, "no job %s", name);
	struct job_desc jd;
	char err[1024];
	if (job_desc_load(jfd, &jd, err, sizeof err) < 0) {
		close(jfd);
		return EXIT_OK;
	}
	char to[256], why[600], iso[32];
	time_iso(now_us(), iso);
	if (!notify_recipient(jfd, name, &jd, notify_first(jfd), to, sizeof to, why, sizeof why)) {
		notify_log_unsent(jfd, name, event, iso, why);
		job_desc_free(&jd);
		close(jfd);
		return EXIT_OK;
	}
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	char entry[ENTRY_MAX_LEN];
	enum job_state state = job_find(&sp, name, entry);

	char subject[300], date[64];
	struct buf body = {0};
	rfc_date(date);
	bool attach = notify_compose(name, event, &st, state, jfd, subject, &body);
	struct buf msg = {0};
	notify_build_message(&msg, name, event, to, subject, date, &body, attach, jfd);
	int rc = deliver(sp.conf.notify_command, &msg);
	if (rc == 0)
		notify_log_sent(jfd, name, event, iso, to, subject, &msg);
	buf_free(&msg);
	buf_free(&body);
	job_status_free(&st);
	job_desc_free(&jd);
	close(jfd);
	return rc == 0 ? EXIT_OK : EXIT_TEMPFAIL;
}
