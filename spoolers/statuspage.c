/* statuspage.c - hf-status: status/index.html and each job's index.html, plain HTML that works from a share
 * (relative links, refreshing itself): queue, hosts, slots, progress, ETA, thumbnails, failures with their logs.
 * Distrusts every text from the spool (a job's, a host's, a ticket's): all HTML-escaped; pages written atomically. */
#define _GNU_SOURCE
#include "../layout/preset.h"
#include "../layout/host.h"
#include "metrics.h"
#include "../layout/ini.h"
#include "../layout/layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct spool sp;

static void esc(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': buf_printf(b, "&lt;"); break;
		case '>': buf_printf(b, "&gt;"); break;
		case '&': buf_printf(b, "&amp;"); break;
		case '"': buf_printf(b, "&quot;"); break;
		case '\'': buf_printf(b, "&#39;"); break;
		default:
			if ((unsigned char)*s >= 0x20)
				buf_add(b, s, 1);
		}
	}
}

static const char style[] =
	"<style>body{font:14px/1.4 sans-serif;margin:1.5em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
	"table{border-collapse:collapse;background:#fff}td,th{padding:.3em .6em;border-bottom:1px solid #ddd;"
	"text-align:left;vertical-align:top}th{background:#eee}"
	".bar{width:160px;height:12px;background:#ddd;border-radius:3px;overflow:hidden}"
	".bar>div{height:100%;background:#3a7bd5}.why{color:#555}.state-failed,.lost{color:#b00}"
	".state-done{color:#070}.busy{color:#3a7bd5}.idle{color:#888}"
	".thumbs img{margin:2px;border:1px solid #ccc;max-width:160px}"
	".preview{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}"
	".preview video,.preview img{max-width:100%;border:1px solid #ccc;background:#000}</style>";

/* The page's head; it reloads itself every two seconds unless STILL (an
 * ended job's page with its last movie, which a reload would restart). */
static void head(struct buf *b, const char *title, bool still)
{
	buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">%s<title>",
		   still ? "" : "<meta http-equiv=\"refresh\" content=\"2\">");
	esc(b, title);
	buf_printf(b, "</title>%s</head><body>\n", style);
}

static void bar(struct buf *b, long done, long total)
{
	int pct = total > 0 ? (int)(done * 100 / total) : 0;
	buf_printf(b, "<div class=\"bar\" title=\"%d%%\"><div style=\"width:%d%%\"></div></div>", pct, pct);
}

static void eta(struct buf *b, const struct job_status *st)
{
	if (strcmp(st->state, "rendering") || !st->started_us || st->frames_done <= 0 ||
	    st->frames_done >= st->frames_total) {
		buf_printf(b, "-");
		return;
	}
	double el = (double)(now_us() - st->started_us) / 1e6;
	long s = (long)(el * (double)(st->frames_total - st->frames_done) / (double)st->frames_done + 0.5);
	if (s <= 0)
		buf_printf(b, "finishing"); /* frames remain: not "0m00s" */
	else
		buf_printf(b, "%ldm%02lds", s / 60, s % 60);
}

static void job_row(struct buf *b, const char *name, enum job_state state, const char *prefix)
{
	int jfd = job_dir_open(&sp, name);
	struct job_status st;
	if (jfd < 0 || job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	char word[16];
	snprintf(word, sizeof word, "%s", job_state_shown(jfd, state, st.state));
	if (jfd >= 0)
		close(jfd);
	snprintf(st.state, sizeof st.state, "%s", word);
	char rel[200];
	job_relpath(name, rel, sizeof rel);
	buf_printf(b, "<tr class=\"job\"><td><a href=\"%s%s/%s\">", prefix, rel, job_file_name(JOB_FILE_PAGE));
	esc(b, name);
	buf_printf(b, "</a></td><td class=\"state-%s\">%s</td><td>%d</td><td>", word, word, st.priority);
	char owner[300];
	job_status_owner(&st, owner, sizeof owner);
	esc(b, owner);
	buf_printf(b, "</td><td>");
	bar(b, st.frames_done, st.frames_total);
	buf_printf(b, "</td><td>%ld/%ld</td><td>", st.frames_done, st.frames_total);
	eta(b, &st);
	buf_printf(b, "</td><td class=\"why\">");
	esc(b, st.reason);
	buf_printf(b, "</td></tr>\n");
	job_status_free(&st);
}

static void write_page(int dirfd, const char *name, struct buf *b)
{
	bool sync = sync_writes;
	sync_writes = false; /* a page is a picture, rewritten every second */
	if (file_write_atomic(dirfd, name, b->data, b->len, 0644) < 0)
		warn("unable to write %s: %s", name, strerror(errno));
	sync_writes = sync;
}

/* The presets: each folder, and a line on what dropping into it does. */
static void presets_table(struct buf *b)
{
	struct strlist names = {0};
	preset_names(spool_fd(&sp, DIR_CONF), &names);
	buf_printf(b, "<h2>Hot folders</h2>\n<table id=\"presets\"><tr><th>drop into</th><th>what it does</th></tr>\n");
	for (size_t i = 0; i < names.n; i++) {
		struct preset p;
		char err[1024], gives[1024], rel[PRESET_NAME_MAX + 16];
		preset_folder_relpath(names.v[i], rel, sizeof rel);
		buf_printf(b, "<tr><td>");
		esc(b, rel);
		buf_printf(b, "/</td><td>");
		if (preset_load(spool_fd(&sp, DIR_CONF), names.v[i], &p, err, sizeof err) < 0) {
			buf_printf(b, "broken, drops there wait: ");
			esc(b, err);
		} else {
			preset_summary(&p, gives, sizeof gives);
			esc(b, *p.about ? p.about : gives);
			preset_free(&p);
		}
		buf_printf(b, "</td></tr>\n");
	}
	if (!names.n)
		buf_printf(b, "<tr><td colspan=\"2\">no presets: drop an archive with its job.ini into inbox/</td></tr>\n");
	buf_printf(b, "</table>\n");
	strlist_free(&names);
}

/* One host's row: its state (and, for a desktop, its user: [agent] nimby),
 * heartbeat, CPUs, RAM, packages and slots. */
static void host_row(struct buf *b, const struct host_record *h, int64_t now)
{
	const char *state = host_state(&sp, h, now);
	struct buf slots = {0};
	long busy = 0;
	int hfd = host_dir_open(&sp, h->name, false);
	for (int k = 0; hfd >= 0 && k < 4096; k++) {
		struct slot_view v;
		if (slot_read(hfd, k, &v) < 0)
			break;
		if (!strcmp(v.state, "busy")) {
			busy++;
			buf_printf(&slots, "<div class=\"busy\">slot %d: busy, ", k);
			esc(&slots, v.job);
			buf_printf(&slots, " frame ");
			esc(&slots, v.frame);
			buf_printf(&slots, "</div>");
		} else {
			buf_printf(&slots, "<div class=\"idle\">slot %d: idle</div>", k);
		}
	}
	if (hfd >= 0)
		close(hfd);
	char nimby[120];
	host_nimby_text(h, now, busy, nimby, sizeof nimby);
	buf_printf(b, "<tr class=\"host\"><td>");
	esc(b, h->name);
	buf_printf(b, "</td><td class=\"%s\">%s", state, state);
	if (*nimby) {
		buf_printf(b, "<br><span class=\"nimby\">");
		esc(b, nimby);
		buf_printf(b, "</span>");
	}
	if (h->offline)
		buf_printf(b, "</td><td>stopped</td><td>");
	else
		buf_printf(b, "</td><td>%lds ago</td><td>", (long)((now - h->heartbeat_us) / 1000000));
	for (size_t k = 0; k < h->pools.n; k++) {
		buf_printf(b, "%s", k ? ", " : "");
		esc(b, h->pools.v[k]);
	}
	buf_printf(b, "</td><td>");
	esc(b, host_get(h, "cpus"));
	buf_printf(b, "</td><td>");
	esc(b, host_get(h, "ram_mb"));
	buf_printf(b, " MB</td><td>");
	for (size_t k = 0; k < h->packages.n; k++) {
		buf_printf(b, "%s", k ? ", " : "");
		esc(b, h->packages.v[k]);
		buf_printf(b, " ");
		esc(b, h->versions.v[k]);
	}
	buf_printf(b, "</td><td>%s</td></tr>\n", slots.data ? slots.data : "");
	buf_free(&slots);
}

static void farm_page(void)
{
	struct buf b = {0};
	char iso[32], title[128];
	time_iso(now_us(), iso);
	snprintf(title, sizeof title, "hotfarm: %s", sp.conf.name);
	head(&b, title, false);
	buf_printf(&b, "<h1>");
	esc(&b, title);
	buf_printf(&b, "</h1><p>as of %s (refreshes itself)</p>\n", iso);

	buf_printf(&b, "<h2>Queue</h2>\n<table id=\"queue\"><tr><th>job</th><th>state</th><th>priority</th>"
		       "<th>owner</th><th>progress</th><th>frames</th><th>ETA</th><th>why</th></tr>\n");
	enum job_state live[] = {STATE_NEW, STATE_QUEUED, STATE_HELD, STATE_OUTSOURCED};
	int n = 0;
	for (size_t k = 0; k < 4; k++) {
		struct strlist l = {0};
		state_list(&sp, live[k], &l);
		for (size_t i = 0; i < l.n; i++) {
			char name[JOBID_MAX_LEN + 1];
			entry_parse(l.v[i], NULL, NULL, name);
			job_row(&b, name, live[k], "../");
			n++;
		}
		strlist_free(&l);
	}
	if (!n)
		buf_printf(&b, "<tr><td colspan=\"8\">nothing queued</td></tr>\n");
	buf_printf(&b, "</table>\n");

	buf_printf(&b, "<h2>Hosts</h2>\n<table id=\"hosts\"><tr><th>host</th><th>state</th><th>heartbeat</th><th>pools</th>"
		       "<th>CPUs</th><th>RAM</th><th>packages</th><th>slots</th></tr>\n");
	struct strlist hosts = {0};
	host_list(&sp, &hosts);
	int64_t now = server_now_us(&sp);
	for (size_t i = 0; i < hosts.n; i++) {
		struct host_record h;
		if (host_read(&sp, hosts.v[i], &h) < 0)
			continue;
		host_row(&b, &h, now);
		host_free(&h);
	}
	if (!hosts.n)
		buf_printf(&b, "<tr><td colspan=\"7\">no render host is running</td></tr>\n");
	strlist_free(&hosts);
	buf_printf(&b, "</table>\n");

	buf_printf(&b, "<h2>Finished</h2>\n<table id=\"finished\"><tr><th>job</th><th>state</th><th>priority</th>"
		       "<th>owner</th><th>progress</th><th>frames</th><th>ETA</th><th>why</th></tr>\n");
	enum job_state over[] = {STATE_FAILED, STATE_CANCELLED, STATE_DONE};
	for (size_t k = 0; k < 3; k++) {
		struct strlist l = {0};
		state_list(&sp, over[k], &l);
		/* the newest 50 of each: entries sort by submission */
		for (size_t i = l.n > 50 ? l.n - 50 : 0; i < l.n; i++) {
			char name[JOBID_MAX_LEN + 1];
			entry_parse(l.v[i], NULL, NULL, name);
			job_row(&b, name, over[k], "../");
		}
		strlist_free(&l);
	}
	buf_printf(&b, "</table>\n");
	presets_table(&b);
	buf_printf(&b, "</body></html>\n");
	write_page(spool_fd(&sp, DIR_STATUS), spool_file_name(SPOOL_FILE_PAGE), &b);
	buf_free(&b);
}

/* The head of a job's page: state, why, progress and who owns it. */
static void job_page_summary(struct buf *b, const char *name, const char *word, const struct job_status *st,
			     bool still)
{
	char title[200];
	snprintf(title, sizeof title, "%s: %s", name, word);
	head(b, title, still);
	/* back to the spool: two levels up from jobs/NAME, four from sites/PEER/jobs/NAME */
	buf_printf(b, "<p><a href=\"%s%s/%s\">&larr; the farm</a></p><h1>", strchr(name, '@') ? "../../../../" : "../../",
		   spool_dir_name(DIR_STATUS), spool_file_name(SPOOL_FILE_PAGE));
	esc(b, name);
	buf_printf(b, "</h1>\n<table id=\"summary\"><tr><th>state</th><td class=\"state-%s\">%s</td></tr>"
		      "<tr><th>why</th><td class=\"why\">", word, word);
	esc(b, st->reason);
	buf_printf(b, "</td></tr><tr><th>progress</th><td>");
	bar(b, st->frames_done, st->frames_total);
	buf_printf(b, " %ld/%ld frames, %ld failed</td></tr><tr><th>ETA</th><td>", st->frames_done, st->frames_total,
		   st->frames_failed);
	eta(b, st);
	buf_printf(b, "</td></tr><tr><th>owner</th><td>");
	char owner[300];
	job_status_owner(st, owner, sizeof owner);
	esc(b, owner);
	buf_printf(b, "</td></tr><tr><th>priority</th><td>%d</td></tr>", st->priority);
	if (*st->preset) {
		buf_printf(b, "<tr><th>dropped into</th><td>");
		esc(b, st->preset);
		buf_printf(b, "</td></tr><tr><th>described by</th><td>");
		esc(b, st->described);
		buf_printf(b, "</td></tr>");
	}
	buf_printf(b, "</table>\n");
	const char *status = job_file_name(JOB_FILE_STATUS), *desc = job_file_name(JOB_FILE_DESC);
	buf_printf(b, "<p><a href=\"%s/\">frames</a> &middot; <a href=\"%s/\">logs</a> &middot; "
		      "<a href=\"%s\">%s</a> &middot; <a href=\"%s\">%s</a></p>\n",
		   job_dir_name(JOB_DIR_OUTPUT), job_dir_name(JOB_DIR_LOGS), status, status, desc, desc);
}

/* The preview movie (hf-movie) next to the contact sheet, each when
 * there is one. */
static void job_page_preview(struct buf *b, int jfd)
{
	struct stat st;
	bool movie = job_file_stat(jfd, JOB_FILE_MOVIE, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
	bool sheet = job_file_stat(jfd, JOB_FILE_CONTACT, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
	if (!movie && !sheet)
		return;
	buf_printf(b, "<h2>Preview</h2><div class=\"preview\">");
	if (movie) {
		buf_printf(b, "<video src=\"");
		esc(b, job_file_name(JOB_FILE_MOVIE));
		buf_printf(b, "\" controls muted loop playsinline></video>");
	}
	if (sheet) {
		buf_printf(b, "<a href=\"");
		esc(b, job_file_name(JOB_FILE_CONTACT));
		buf_printf(b, "\"><img src=\"");
		esc(b, job_file_name(JOB_FILE_CONTACT));
		buf_printf(b, "\" alt=\"contact sheet\"></a>");
	}
	buf_printf(b, "</div>\n");
}

/* Thumbnails, when there are any; the contact sheet (contact.png) goes
 * with the samples mail and is not one of them. */
static void job_page_samples(struct buf *b, int jfd)
{
	const char *previews = job_dir_name(JOB_DIR_PREVIEWS);
	struct strlist names = {0}, thumbs = {0};
	dir_names(jfd, previews, &names);
	for (size_t i = 0; i < names.n; i++)
		if (has_suffix(names.v[i], ".png") && strcmp(names.v[i], spool_file_name(SPOOL_FILE_CONTACT)))
			strlist_add(&thumbs, names.v[i]);
	strlist_free(&names);
	strlist_sort(&thumbs);
	if (thumbs.n) {
		buf_printf(b, "<h2>Samples</h2><div class=\"thumbs\">");
		for (size_t i = 0; i < thumbs.n; i++) {
			buf_printf(b, "<img src=\"%s/", previews);
			esc(b, thumbs.v[i]);
			buf_printf(b, "\" alt=\"");
			esc(b, thumbs.v[i]);
			buf_printf(b, "\">");
		}
		buf_printf(b, "</div>\n");
	}
	strlist_free(&thumbs);
}

/* One row per failed attempt ticket TICKET (of frames/STATE) records,
 * linked to that attempt's log (the log of its first frame); how many rows.
 * FOR_GOOD: the ticket is in frames/failed, out of retries, rather than one
 * that went on after a failure. */
static int job_page_ticket_failures(struct buf *b, int jfd, enum ticket_state state, const char *ticket, bool for_good)
{
	struct ticket t;
	if (ticket_load(jfd, state, ticket, &t) < 0)
		return 0;
	long frame = t.nframes ? t.frames[0] : -1;
	for (size_t i = 0; i < t.nattempts; i++) {
		const struct ticket_attempt *a = &t.attempts[i];
		buf_printf(b, "<tr class=\"failure\"><td>");
		esc(b, ticket);
		buf_printf(b, "%s</td><td>", for_good ? " (failed for good)" : "");
		esc(b, a->text);
		char log[200];
		job_log_name(log, sizeof log, frame, frame, a->n, a->owner);
		buf_printf(b, "</td><td><a href=\"%s/", job_dir_name(JOB_DIR_LOGS));
		esc(b, log);
		buf_printf(b, "\">log</a></td></tr>\n");
	}
	int rows = (int)t.nattempts;
	ticket_free(&t);
	return rows;
}

/* The rows of the tickets of STATE named in MARKED (failures/), from NF
 * on (at most 200 in all); a claimed ticket (active/) is found by its name
 * before '@', the others by their names alone. */
static int failures_marked(struct buf *b, int jfd, enum ticket_state state, const struct strlist *marked, int nf)
{
	if (state == TICKET_ACTIVE) {
		struct strlist here = {0};
		ticket_list(jfd, state, &here);
		strlist_sort(&here);
		for (size_t i = 0; i < here.n && nf < 200; i++) {
			char base[256];
			snprintf(base, sizeof base, "%.*s", (int)strcspn(here.v[i], "@"), here.v[i]);
			if (strlist_has(marked, base))
				nf += job_page_ticket_failures(b, jfd, state, here.v[i], false);
		}
		strlist_free(&here);
		return nf;
	}
	for (size_t i = 0; i < marked->n && nf < 200; i++) {
		char path[300];
		snprintf(path, sizeof path, "%s/%s/%s", job_dir_name(JOB_DIR_FRAMES), ticket_dir_name(state), marked->v[i]);
		if (faccessat(jfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			nf += job_page_ticket_failures(b, jfd, state, marked->v[i], state == TICKET_FAILED);
	}
	return nf;
}

/* Failures, with links to the logs: tickets that failed for good first,
 * then failed attempts of tickets that went on (todo, active, done). No
 * ticket is started past 200 rows, and a started one is shown whole. The
 * tickets looked at are those failures/ names (a job of a million frames
 * that never failed costs nothing); a job from before failures/ existed
 * has every ticket read. */
static void job_page_failures(struct buf *b, int jfd)
{
	buf_printf(b, "<h2>Failures</h2>\n<table id=\"failures\"><tr><th>ticket</th><th>attempt</th><th>log</th></tr>\n");
	int nf = 0;
	const enum ticket_state states[] = {TICKET_FAILED, TICKET_TODO, TICKET_ACTIVE, TICKET_DONE};
	int dir = job_subdir_open(jfd, JOB_DIR_FAILURES, false);
	if (dir >= 0) {
		struct strlist marked = {0};
		dir_names(dir, ".", &marked);
		close(dir);
		strlist_sort(&marked);
		for (int k = 0; k < 4 && nf < 200 && marked.n; k++)
			nf = failures_marked(b, jfd, states[k], &marked, nf);
		strlist_free(&marked);
	}
	for (int k = 0; dir < 0 && k < 4 && nf < 200; k++) {
		struct strlist tickets = {0};
		ticket_list(jfd, states[k], &tickets);
		strlist_sort(&tickets);
		for (size_t i = 0; i < tickets.n && nf < 200; i++)
			nf += job_page_ticket_failures(b, jfd, states[k], tickets.v[i], k == 0);
		strlist_free(&tickets);
	}
	if (!nf)
		buf_printf(b, "<tr><td colspan=\"3\">none</td></tr>\n");
	buf_printf(b, "</table>\n");
}

/* jobs/NAME/index.html */
static void job_page(const char *name, enum job_state state)
{
	int jfd = job_dir_open(&sp, name);
	if (jfd < 0)
		return;
	struct job_status st;
	if (job_status_read(jfd, &st) < 0)
		memset(&st, 0, sizeof st);
	char word[16];
	snprintf(word, sizeof word, "%s", job_state_shown(jfd, state, st.state));
	snprintf(st.state, sizeof st.state, "%s", word);
	struct buf b = {0};
	struct stat movie;
	bool still = state_is_final(state) && job_file_stat(jfd, JOB_FILE_MOVIE, &movie) == 0;
	job_page_summary(&b, name, word, &st, still);
	job_page_preview(&b, jfd);
	job_page_samples(&b, jfd);
	job_page_failures(&b, jfd);
	buf_printf(&b, "</body></html>\n");
	write_page(jfd, job_file_name(JOB_FILE_PAGE), &b);
	buf_free(&b);
	job_status_free(&st);
	close(jfd);
}

int main(int argc, char **argv)
{
	spooler_main(argc, argv, "hf-status",
		     "usage: hf-status --spool DIR\nWrite status/index.html, status/metrics.prom and each live job's index.html.\n", &sp);
	farm_page();
	metrics_write(&sp);
	/* the pages of jobs that change: live ones, and those that ended
	 * within the last minute */
	for (int s = 0; s < STATE_COUNT; s++) {
		struct strlist l = {0};
		state_list(&sp, (enum job_state)s, &l);
		for (size_t i = 0; i < l.n; i++) {
			char name[JOBID_MAX_LEN + 1];
			entry_parse(l.v[i], NULL, NULL, name);
			if (state_is_final((enum job_state)s)) {
				int jfd = job_dir_open(&sp, name);
				struct stat st;
				bool fresh = jfd >= 0 && job_file_stat(jfd, JOB_FILE_STATUS, &st) == 0 &&
					     now_us() / 1000000 - st.st_mtim.tv_sec < 60;
				bool missing = jfd >= 0 && job_file_stat(jfd, JOB_FILE_PAGE, &st) < 0;
				/* its last movie, put in place after the page */
				struct stat movie;
				bool moved = jfd >= 0 && !missing && job_file_stat(jfd, JOB_FILE_MOVIE, &movie) == 0 &&
					     (movie.st_ctim.tv_sec > st.st_mtim.tv_sec ||
					      (movie.st_ctim.tv_sec == st.st_mtim.tv_sec &&
					       movie.st_ctim.tv_nsec >= st.st_mtim.tv_nsec));
				if (jfd >= 0)
					close(jfd);
				if (!fresh && !missing && !moved)
					continue;
			}
			job_page(name, (enum job_state)s);
		}
		strlist_free(&l);
	}
	spool_close(&sp);
	return EXIT_OK;
}
