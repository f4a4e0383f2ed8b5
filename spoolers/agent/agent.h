/* agent.h - render-agent: one per render host. Publishes what the host is
 * (hosts/HOST/host.ini) and a heartbeat, takes frame tickets of queued jobs
 * by rename, renders them with the job's package (argv, never a shell),
 * checks each image in a separate process, publishes it, and bills it.
 * Distrusts the jobs: their files, argument words and renderer output.
 * Crash-only: a killed agent's claims go back to todo/ (by itself at
 * restart, or by watcherd when its heartbeat stops).
 *
 * One frame from claim to done/, file by file:
 *
 *   main.c   main, main_loop: every turn calls fill_slots, then waits for
 *            a signal (SIGCHLD: reap), an inotify event or a timer.
 *   claim.c  fill_slots -> slot_fill (which job) -> slot_take (tokens,
 *            then the job's todo/ listing) -> ticket_take: ticket_claim
 *            (a rename into active/) and ticket_read (ticket.c); then
 *            run_begin sizes the run with run_length (learn.c), claims the
 *            frames that follow (claim_frame, run_extend) and calls
 *            run_advance.
 *   render.c run_advance -> run_spawn (spawn.c: output folder, log,
 *            argv, PATH search, hf-confine argv, spawn_in).
 *   render.c while it renders, watch_slots every 20 ms: frames_complete
 *            (frame.c) sees which images are whole, check_next (frame.c)
 *            starts hf-check on one, run_trim may shorten the run; and
 *            timeouts, hangs and kill requests stop it (slot_kill).
 *   render.c reap: the renderer exited -> render_exited (why it failed,
 *            what it taught: run_learn, slots_learn; errors_match in
 *            errors.c: the package's [errors] rule its last output, kept
 *            by runlog.c, matches) -> run_advance; the checker exited ->
 *            check_exited (frame.c).
 *   frame.c  check_next stages the image (out of work/ into output/,
 *            where the render cannot reach it) and checks it there;
 *            check_exited -> frame_publish: output_publish (its name in
 *            output/), bill and run_ticket_done (ticket.c: the ticket
 *            moves to done/); a frame that failed: run_settle (ticket.c:
 *            back to todo/ or to failed/; run_settle_why applies the
 *            rule: fail at once, retry, or a licence wait noted on the
 *            ticket, which claim.c honours).
 *   render.c run_advance, once nothing runs: the next renderer of the
 *            run, or slot_idle (slots.c) and job_done_check (jobs.c:
 *            the last ticket done finishes the job).
 *
 * host.c keeps the host's side (heartbeat, lock, lost, cancels, the other
 * hosts, the disk); probe.c says what the host is; nimby.c, on a desktop,
 * lets frames be taken only while its user is away, and stops them
 * (KILL_NIMBY) when the user comes back. */
#ifndef HOTFARM_AGENT_H
#define HOTFARM_AGENT_H

#include "../../wrapper/cgroup.h"
#include "../../wrapper/sandbox.h"
#include "../../layout/events.h"
#include "../../layout/host.h"
#include "../../layout/ini.h"
#include "../../layout/jobdesc.h"
#include "../../layout/layout.h"
#include "../../layout/package.h"
#include "../../layout/quota.h"
#include "../../layout/util.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* ---- jobs as this agent sees them ---------------------------------------- */

struct byframe {
	long frame;   /* a ticket's first frame */
	size_t index; /* its name in the job's todo listing */
};

/* Every queued job has one; a farm's queue may hold tens of thousands, so
 * what only a job this host works on needs (its description, package,
 * folder) is allocated when it is loaded, and let go again when the job
 * turns out not to be ours to serve. */
struct job {
	char *name;
	char *entry; /* its name in queue/ */
	char *path;  /* SPOOL/jobs/NAME (or sites/SITE/jobs/NAME), while loaded */
	int priority;
	int fd; /* jobs/NAME, while loaded and usable (or running) */
	unsigned long serial; /* new each time fd is opened: which job folder it is */
	bool loaded, usable, queued, blocked;
	struct job_desc *jd; /* while loaded and usable (or running) */
	struct package *pkg;
	struct strlist limits;
	struct strlist todo; /* a cached listing of frames/todo, in order */
	size_t next;  /* where the walk over it is */
	size_t width; /* how many tickets from its front it picks from (claim.c) */
	bool lost;    /* its last claim was lost to another agent */
	struct byframe *byframe; /* todo by frame, for runs */
	double frame_seconds;    /* measured: a frame's render time, start-up not counted */
	long todo_left, todo_active; /* its tickets in todo/ and active/, counted at todo_at */
	int64_t contact_at;          /* when a check last rebuilt its contact sheet */
	enum { SHEET_NONE, SHEET_ASKED, SHEET_MADE } sheet; /* its last contact sheet, at its end */
	int64_t todo_at;
	int64_t retry_at; /* do not look for tickets again before this (mono) */
	int running;      /* our slots busy with it */
	int fails_in_row;
	long active_all;  /* fair share: its active tickets, all hosts */
	char *program_name, *program; /* argv[0], found in $PATH */
	int64_t queued_seen; /* when its entry was last seen in queue/ */
	bool waiting_deps;   /* its [job] after jobs are not done yet (or its not_before has not come) */
	struct strlist after; /* while waiting for them: its [job] after, looked at again on a rescan */
	bool pkg_broken;     /* its package's .ini did not read (an admin may mend it) */
	char owner[128];     /* its verified owner (status.ini): whose quota its renders count against */
	int64_t active_at;
	int64_t licence_until; /* a frame found no licence here: take none of it before this (mono) */
	int64_t ready_at;      /* it entered the queue, or was last found with nothing to take (mono) */
};

/* ---- slots and their runs ------------------------------------------------- */

/* How much of a renderer's last output the [errors] rules are matched
 * against: a failing renderer says why at its end. */
#define RUN_TAIL 16384

enum kill_reason { KILL_NONE, KILL_TIMEOUT, KILL_HANG, KILL_CANCEL, KILL_LOST, KILL_STOP, KILL_USER, KILL_TRIM,
		   KILL_SUSPEND, KILL_NIMBY };
/* A render stopped for one of these was not its frames' fault: the run
 * ends, its frames go back to todo/ as they were (no attempt counted, no
 * check of what it completed); KILL_TRIM ends a run too, after checks.
 * (cancelled, host lost, agent stopping, job suspended, desktop's user back) */
static inline bool kill_gives_back(enum kill_reason why)
{
	return why == KILL_CANCEL || why == KILL_LOST || why == KILL_STOP || why == KILL_SUSPEND || why == KILL_NIMBY;
}
/* Whether the work such a stop cut short is billed (ok=0, no attempt
 * counted): it ran, whatever stopped it; a lost host's tickets are not its
 * own any more. */
static inline bool kill_bills(enum kill_reason why) { return kill_gives_back(why) && why != KILL_LOST; }
/* The words for such a stop, in the agent's log. */
const char *kill_words(enum kill_reason why);

/* A slot works through a run: one or more tickets of one job, each of one
 * frame (older spools: several), rendered by one renderer process when
 * the package renders ranges of frames ([range]), else one process per
 * frame. Each frame is checked and published, and its ticket moved to
 * done/, as soon as its image is complete: when the renderer has begun
 * the next frame's file, or has exited 0. One checker runs at a time per
 * slot, beside the renderer. */
enum frame_state {
	F_TODO,  /* not rendered yet (or being rendered) */
	F_READY, /* its image is complete: to be checked */
	F_CHECK, /* being checked */
	F_DONE,  /* published */
	F_BACK,  /* settled otherwise: failed, or back to todo/ */
};

struct run_frame {
	long frame;
	size_t ticket; /* index into the slot's tickets */
	enum frame_state st;
	char image[NAME_MAX + 1]; /* its file in the renderer's out/ folder; once staged, in output/ */
	bool staged;              /* the image is in output/ under a staging name, being checked */
	unsigned extras_staged;   /* its extra outputs staged (IMAGE.xK for bit K) */
	char ext[8];              /* the extension the renderer gave its image (".exr") */
	unsigned long long bytes; /* the staged image's size */
	bool maybe; /* the renderer failed with this file last: complete only if it passes the check */
	double wall, cpu_user, cpu_sys;
	long rss_kb;
};

struct run_ticket {
	char name[64];
	int attempt;  /* this try's number: 1 + earlier attempt lines */
	long licences; /* tries that found no licence ([errors] licence), not counted */
	bool settled; /* moved out of active/ */
};

struct slot {
	int index;
	char owner[96]; /* HOST.N */
	struct job *job; /* NULL: idle */
	struct run_ticket *tk;
	size_t ntk;
	struct run_frame *fr;
	size_t nfr;
	size_t pos, end;       /* the renderer at work renders fr[pos..end) */
	bool range;            /* with the package's [range] argv */
	struct strlist tokens; /* "limit\ttoken@owner" */
	pid_t pid;             /* the renderer; 0 when none runs */
	pid_t check_pid;       /* the checker; 0 when none runs */
	bool check_served;     /* ... a worker of hf-check --serve (checker.c), not a child */
	unsigned check_seq;    /* ... and the request's number there */
	size_t checking;       /* the frame it checks */
	bool check_hung;
	int64_t started, frame_started, last_progress, check_started;
	int64_t idle_since; /* when it last fell idle (mono): dispatch latency counts from here */
	long ticks_user, ticks_sys; /* the renderer's CPU when the last frame was complete */
	double queued;              /* seconds it waited on a run queue for a CPU, as last read */
	long cpu_seen;
	char workdir[PATH_MAX], log[PATH_MAX]; /* the renderer's folder (work/ATTEMPT) and log, full paths */
	char workname[NAME_MAX + 1];           /* its folder's name in work/ ("": none) */
	char logname[NAME_MAX + 1];            /* its log's name in logs/ */
	int outfd, logfd;                      /* its out/ folder and log, open while in use (-1: not) */
	int check_out;                         /* what the checker says (a memfd; -1: none) */
	int logpipe;                           /* the renderer's output, to be copied into its log (-1: none) */
	unsigned long long log_bytes;          /* how much of it the log holds */
	bool log_capped;                       /* it reached log_max: the rest is dropped */
	char tail[RUN_TAIL];                   /* the last of its output (kept also past log_max), for [errors] */
	size_t tail_len;
	enum package_rule rule;                /* the [errors] rule its output matched (RULE_NONE: none) */
	char rule_pattern[200];                /* ... and the pattern that did */
	struct rusage ru;             /* what the renderer used (all its cgroup used, when it has one) */
	struct cg_attempt cg;         /* its cgroup, when has_cg (or kept for the next) */
	bool has_cg;                  /* the renderer runs in cg */
	bool cg_kept;                 /* cg is empty and the next renderer joins it */
	double cg_user0, cg_sys0;     /* cg's CPU before this renderer (it served others) */
	unsigned long long cg_mem;    /* the memory limit cg was made with (0: none) */
	int area_fd, area_jobfd;      /* its folder in work/ (workname) and its job's folder; -1: none */
	unsigned long area_serial;    /* the job it is for (job.serial) */
	int area_uses;                /* renderers it served */
	struct sandbox sb;            /* their sandbox, when sb_ok, for the program sb_program */
	bool sb_ok;
	char *sb_program;
	bool oom;                     /* it ran out of its memory (render_mem) */
	enum kill_reason killing;
	int64_t kill_at;
	char why[400]; /* the renderer failed: why */
	bool counted;  /* ... and it counts as an attempt of the frame it was at */
	bool charged;  /* ... and that frame was charged with it already */
	size_t trim;   /* nonzero: the run ends once fr[trim - 1] is complete (see run_trim) */
	bool shown;    /* its slot file says busy */
};

/* ---- the state every file shares ---------------------------------------- */

/* One agent per process: what it was started with and what its slots and
 * the queue are now. Set up by main (main.c) before the loop; everything
 * else the files keep to themselves (static) or pass as arguments. */
struct agent {
	struct spool spool;      /* the spool, opened at start-up */
	char host[64];           /* this host's name in hosts/ (no dots: HOST.SLOT splits at the last) */
	char key[13];            /* spool_key: marks this spool's renders and cgroups on this host */
	int hostfd;              /* hosts/HOST */
	struct host_record self; /* hosts/HOST/host.ini as published, read back (publish_host) */
	char checker[PATH_MAX];  /* hf-check */
	bool stopping;           /* SIGTERM or SIGINT: what runs is stopped, nothing new taken */
	bool draining;           /* hosts/HOST/drain: finish what runs, take nothing new */
	int nimby_opt;           /* --nimby (1), --no-nimby (0), else -1: [agent] nimby decides */

	struct slot *slots;
	int nslots;      /* allocated: the most this host may run */
	int nslots_on;   /* taking work now: fixed, or sized as renders are measured */
	bool slots_auto; /* slots = auto: nslots_on follows the renders (slots.c) */

	struct job **queue; /* the jobs in queue/, in queue order (queue_refresh) */
	size_t nqueue;

	struct dispatch_hist dispatch; /* hosts/HOST/dispatch (dispatch_note) */
	bool dispatch_dirty;
};
extern struct agent agent;

/* ---- what each file offers the others ----------------------------------- */

/* jobs.c */
struct job *job_get(const char *name);
void job_load(struct job *j);
void queue_refresh(bool rescan);
void queue_unload_idle(void);
void jobs_tidy(void);
void job_done_check(struct job *j);
/* The contact sheet asked for job NAME is made (or given up): it may end. */
void job_sheet_made(const char *name);
/* queue/ changed by one entry (inotify): the cached queue follows it */
void queue_entry_added(const char *entry);
void queue_entry_removed(const char *entry);
void todo_relist(struct job *j);
const char *todo_find(const struct job *j, long frame);
/* FRAME's ticket's place in J's by-frame index (runs), or NULL */
struct byframe *byframe_of(const struct job *j, long frame);
const char *todo_has(const struct job *j, long frame);
long active_all(struct job *j);

/* slots.c */
void slots_init(long want_slots);
size_t slot_current(const struct slot *s);
void slot_idle(struct slot *s);
void slots_show(void);
bool slots_busy(void);
void slots_learn(double cpu, double queued, double wall, long rss_kb);
/* Before any render was measured: size the slots by UTIL, the CPU share
 * of the renderer's start-up probe (the job about to be claimed's). */
void slots_seed(double util);

/* claim.c */
void fill_slots(void);

/* ticket.c: the ticket files of a run, in frames/active/ */
/* What ticket_read finds besides the frames. */
struct ticket_seen {
	int attempt;       /* this try's number */
	bool failed_here;  /* an attempt failed on this host */
	long licences;     /* tries that found no licence */
	long long licence_until; /* ... not to be tried before this (epoch seconds; 0: no wait) */
};
bool ticket_read(struct job *j, const char *name, const char *owner, long **frames, size_t *n,
		 struct ticket_seen *seen);
long ticket_first_frame(const char *name);
void bill(struct slot *s, size_t i, bool ok, unsigned long long bytes);
void run_settle(struct slot *s, size_t t, bool failed, const char *reason);
void run_settle_why(struct slot *s, size_t t);
void run_ticket_done(struct slot *s, size_t t);

/* spawn.c */
void render_user_ids(uid_t *uid, gid_t *gid);
/* what a renderer gets besides argv (spawn_in's X; NULL for the agent's own helpers) */
struct spawn_extra {
	int stdin_fd;                /* its standard input (0: /dev/null) */
	const char *tmpdir;          /* TMPDIR */
	const struct sandbox *sb;    /* entered before exec, or NULL */
	const struct cg_attempt *cg; /* joined first, or NULL */
	const struct strlist *env;   /* NAME=value: the package's and the job's [env] (env_merge), or NULL */
};
pid_t spawn_in(const char *dir, char *const argv[], int outfd, const char *owner, const struct spawn_extra *x);
const char *spawn_failed_step(void);
void kill_leftovers(void);
bool find_program(const char *name, char *out, size_t outsize);
void slot_kill(struct slot *s, enum kill_reason why);
bool run_spawn(struct slot *s);
void run_release(struct slot *s);

/* checker.c */
/* Start the check ARGV (hf-check's) for slot S, its words to OUTFD. */
pid_t checker_spawn(struct slot *s, char *const argv[], int outfd);
/* The server's socket (-1: none), and what came on it handled. */
int checker_fd(void);
void checker_events(void);
/* PID was the server's: it is gone (true). */
bool checker_reaped(pid_t pid);
/* Ask the server for job J's contact sheet (ARGV: hf-check's words);
 * job_sheet_made says when it is made. False: no server to ask. */
bool checker_sheet(const struct job *j, char *const argv[]);

/* render.c */
void run_advance(struct slot *s);
void reap(void);
void watch_slots(void);

/* contain.c */
void contain_start(void);
bool contain_build(struct slot *s, const char *files, struct sandbox *sb);
void contain_group(struct slot *s);
bool contain_usage(const struct slot *s, long *user, long *sys);
void contain_kill(struct slot *s, pid_t pid);
void contain_exited(struct slot *s, pid_t pid);
void contain_release(struct slot *s);
unsigned long long contain_cpu(const struct slot *s);
/* area.c */
void area_drop(struct slot *s);
void area_release(struct slot *s);
void area_forget(unsigned long serial);
bool area_folder(struct slot *s);
struct sandbox *area_sandbox(struct slot *s, const char *files);
/* a memory limit on the agent's own group, in kB, or -1 (none) */
long long contain_mem_limit_kb(void);
void contain_stop(void);
void contain_end(void); /* at the agent's end: contain_stop, and its cgroup subtree goes */
void contain_tidy(void);
bool contain_pending(void);

/* runlog.c */
int runlog_open(struct slot *s);
bool runlog_drain(struct slot *s);
void runlog_close(struct slot *s);

/* errors.c */
void errors_keep(struct slot *s, const char *buf, size_t n);
void errors_match(struct slot *s);
bool licence_waits(const struct ticket_seen *seen);

/* frame.c */
bool proc_usage(pid_t pid, long *user, long *sys, long *rss_kb);
double proc_queued(pid_t pid);
void frame_measure(struct slot *s, size_t i, bool exited);
void frames_complete(struct slot *s, bool exited_ok, bool died);
void check_next(struct slot *s);
/* Frame I's staged image and extra outputs leave output/ (not published). */
void frame_unstage(struct slot *s, size_t i);
void check_exited(struct slot *s, int status);

/* learn.c */
struct overhead {
	char package[64];
	double seconds; /* what a process costs before its first frame; -1: not known */
	double util;    /* its share of a CPU over that time (waits for one count); -1 */
};
struct overhead *overhead_of(const char *package);
void startups_spawn(void);
bool startup_exited(pid_t pid, int status, const struct rusage *ru, double queued);
bool startups_running(void);
long run_length(struct job *j, long also);
void run_learn(struct slot *s, double first, double each);

/* host.c */
void host_enter(void);
void host_leave(void);
void heartbeat(void);
/* Slot S began a render of J: how long work and slot waited for each other. */
void dispatch_note(const struct slot *s, const struct job *j);
void publish_host(bool force);
void host_slots_update(void);
void return_stale(void);
void job_cancelled(const char *entry);
int run_capture(char *const argv[], bool stderr_too, char *out, size_t outsize, int64_t timeout_us);
void check_left_queue(void);
void check_running_jobs(void);
long hosts_live(void);
bool others_can(struct job *j);
bool disk_short(int fd, unsigned long long *avail);
void disk_wait(unsigned long long avail);
bool disk_ok(void);

/* nimby.c: a desktop's agent renders only while its user is away */
void nimby_check(void);
int64_t nimby_due(void);
bool nimby_allows(void);

/* probe.c: this render host as hosts/HOST/host.ini text */
void probe_host(const struct spool *sp, const char *name, int slots, struct buf *out);

#endif
