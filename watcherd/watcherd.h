/* watcherd.h - what the parts of watcherd share: the spool it runs on, the
 * table of stage programs it started (children.c), and what each part
 * offers the loop in watcherd.c: the inbox (inbox.c), new/, requests/ and cancel/
 * (entries.c), the linked sites (sites.c). */
#ifndef HOTFARM_WATCHERD_H
#define HOTFARM_WATCHERD_H

#include "../layout/layout.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

extern struct spool sp;
extern bool verbose; /* log every event, also in busy inboxes */

/* Call EACH with every name in spool folder D but dot files. */
void scan_dir(enum spool_dir d, void (*each)(const char *name));

/* ---- children.c: the stage programs watcherd runs --------------------- */

enum child_kind {
	CHILD_INTAKE, CHILD_ROUTE, CHILD_REQUEST, CHILD_RECOVER, CHILD_STATUS, CHILD_NOTIFY, CHILD_SYNC, CHILD_COLLECT,
	CHILD_SEND, CHILD_FARM, CHILD_SUMMARY, CHILD_MOVIE, CHILD_CLEAN, CHILD_KINDS
};

/* Where the stage programs are (HOTFARM_LIBEXECDIR, else compiled in). */
void children_init(void);
/* The full path of stage program NAME, to free. */
char *prog(const char *name);
/* Start ARGV (argv[0] a full path) in a process group of its own, with
 * stdin and stdout on /dev/null; KEY is what it works on (a stem, a job,
 * a peer). Returns its pid, or -1 with a warning. */
pid_t spawn(enum child_kind kind, const char *key, char *const argv[]);
/* This program in one of its passes (farm.c): PASS is --farm-pass or
 * --site-summaries; its stdout is OUT, or /dev/null (-1). */
pid_t spawn_pass(enum child_kind kind, const char *pass, int out);
bool child_has_key(enum child_kind kind, const char *key);
int child_count(enum child_kind kind);
bool children_left(void);
/* Collect every child that ended and act on how it ended. */
void reap(void);
/* hf-intake --recover: at start (WAIT: before anything else), and now
 * and then for spoolers run by hand that died half way. */
void run_recovery(bool wait);
/* One hf-notify for each "NAME\tEVENT" in DUE (at most four at once, one
 * per job). */
void notices_start(struct strlist *due);
/* `watcherd --farm-pass`, unless one runs (one stuck for 5 minutes is
 * killed). Its stdout is farm_pass_fd() (-1: none), to poll, and
 * farm_pass_read() reads what came; at its end the notices due start. */
void farm_pass_start(void);
int farm_pass_fd(void);
void farm_pass_read(void);
/* The status page: hf-status after changes, at most about once a second;
 * status_page_wait says in how many ms it is due (-1: not). */
void status_page_changed(void);
void status_page(void);
int status_page_wait(int64_t now);
/* At the stop: let running children finish their step (10 s at most,
 * draining SFD, the signalfd), then kill what is left. */
void children_stop(int sfd);

/* ---- inbox.c: files dropped into inbox/ and their intake -------------- */

/* Whether the spool's filesystem is local (the read lease can tell
 * whether a file is still being written). */
bool inbox_init(void);
void inbox_update(const char *name, bool moved_in);
void inbox_forget(const char *name);
void inbox_rescan(void);
/* Read conf/presets/ again and make the presets' folders (at start and on
 * SIGHUP); the list, for the watches. */
void inbox_presets(void);
const struct strlist *inbox_preset_list(void);
/* Start intakes for the stems that changed, as far as slots allow. */
void inbox_schedule(void);
/* Stems waiting for a free intake slot, with one free. */
bool inbox_ready(void);
/* Stems whose wait is over are looked at again. */
void inbox_retry(void);
/* When a lone archive stops waiting for its .ini (monotonic us, 0: none);
 * inbox_pair_wake looks at those whose time came. */
int64_t inbox_pair_due(void);
void inbox_pair_wake(void);
/* hf-intake for STEM ended with STATUS (from waitpid) after MS. */
void intake_done(const char *stem, int status, double ms);

/* ---- entries.c: new/ entries to route, requests/ and cancel/ requests ---- */

void route_note(const char *entry);
/* A request appeared in DIR (requests/ or cancel/): hf-request judges it. */
void request_note(enum spool_dir dir, const char *name);
/* Look at new/, cancel/ and requests/ again. */
void entries_rescan(void);
/* Start hf-route and the hf-request runs that can go. */
void entries_start(void);

/* ---- movie.c: the preview movies (hf-movie) ---------------------------- */

/* Job entry ENTRY reached done/, failed/ or cancelled/: its last movie. */
void movie_job_ended(const char *entry);
/* Start the hf-movie runs that are due: ended jobs' last ones, and those
 * of rendering jobs whose previews changed, each at most every [previews]
 * movie_interval. */
void movies_schedule(void);
/* hf-movie for job ID ended with CODE. */
void movie_done(const char *id, int code);

/* ---- sites.c: linked sites ------------------------------------------- */

/* Now and then, and at each rescan (RESCANNING): this site's summary to
 * every peer, hf-collect for what peers delivered, hf-send, sync. */
void sites_tick(bool rescanning);
/* hf-collect PEER, if sites/PEER/in/ holds something and none runs. */
void collect_due(const char *peer);
/* `hf-sync PEER` for each peer with something in sites/PEER/out/. */
void sync_due(void);
/* How a sync or a collect for PEER ended. */
void sync_done(const char *peer, int code);
void collect_done(const char *peer, int code);
/* Something was routed or collected: hf-send has work. */
void send_wanted(void);
/* `watcherd --site-summaries` ended with CODE: push what it wrote. */
void summaries_done(int code);

#endif
