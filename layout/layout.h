/* layout.h - the spool tree: every folder name, every entry name and every
 * rename that changes a job's state lives behind these calls. No program
 * builds a spool path or renames a spool entry by hand. */
#ifndef HOTFARM_LAYOUT_H
#define HOTFARM_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util.h"

#define NAME_MAX_LEN 80     /* a job name, sanitised */
#define SITE_NAME_MAX 32    /* a linked site's name */
/* A job's id: NAME for this site's own jobs, NAME@SITE for a job received
 * from linked site SITE (its folder is sites/SITE/jobs/NAME). */
#define JOBID_MAX_LEN (NAME_MAX_LEN + 1 + SITE_NAME_MAX)
#define ENTRY_MAX_LEN 136   /* PPP-SEQ-ID */

/* A job's state is the folder its entry is in. */
enum job_state {
	STATE_NEW,
	STATE_QUEUED,
	STATE_HELD,
	STATE_OUTSOURCED,
	STATE_DONE,
	STATE_FAILED,
	STATE_CANCELLED,
	STATE_COUNT,
	STATE_NONE = -1,
};
const char *state_dir_name(enum job_state s); /* "queue" */
const char *state_word(enum job_state s);     /* "queued" */
bool state_is_final(enum job_state s);

/* The spool's top-level folders. */
enum spool_dir {
	DIR_INBOX,
	DIR_REJECTED,
	DIR_JOBS,
	DIR_CANCEL,
	DIR_HOSTS,
	DIR_LIMITS,
	DIR_SITES,
	DIR_STATUS,
	DIR_CONF,
	DIR_REQUESTS, /* artists' steering requests (hotfarm hold, cancel... as an artist) */
	DIR_ANSWERS,  /* watcherd's answer to each request, for the artist's hotfarm to print */
	DIR_WORK, /* private: intake's staging folders */
	DIR_RUN,  /* private: the watcherd lock and pid file */
	DIR_STATE_FIRST,
	DIR_COUNT = DIR_STATE_FIRST + STATE_COUNT,
};
const char *spool_dir_name(enum spool_dir d);
/* The spool's own files outside a job's folder, by what they are. */
enum spool_file {
	SPOOL_FILE_REASON,        /* rejected/NAME/reason.txt: why, for a person */
	SPOOL_FILE_CONF,          /* conf/hotfarm.ini */
	SPOOL_FILE_PAGE,          /* status/index.html (and each job's page) */
	SPOOL_FILE_WATCHERD_LOCK, /* run/watcherd.lock */
	SPOOL_FILE_WATCHERD_PID,  /* run/watcherd.pid */
	SPOOL_FILE_WATCHERD_LOG,  /* run/watcherd.log (watcherd -d) */
	SPOOL_FILE_CONTACT,       /* contact.png: a previews folder's contact sheet */
	SPOOL_FILE_STAGE_JOB,     /* work/in.X/job: the job intake is building */
	SPOOL_FILE_STAGE_DROPPED, /* work/in.X/dropped: the files it claimed from inbox/ */
	SPOOL_FILE_STAGE_LOCK,    /* work/in.X/lock: held while its intake lives */
	SPOOL_FILE_CONTACT_LOCK,  /* previews/.lock: held while the contact sheet is rebuilt */
	SPOOL_FILE_AUDIT,         /* run/audit.log: a line for every action (audit.h) */
	SPOOL_FILE_MOVIE,         /* preview.mp4: a previews folder's preview movie */
	SPOOL_FILE_MOVIE_LOCK,    /* previews/.movie.lock: held while the movie is built */
	SPOOL_FILE_MOVIE_TEMP,    /* previews/.preview.mp4.tmp: the movie being built */
	SPOOL_FILE_STAGE_PROBE,   /* work/pre.P.X/probe: the home of a preset drop's scene run */
	SPOOL_FILE_METRICS,       /* status/metrics.prom: the farm's figures for Prometheus */
	SPOOL_FILE_EVENTS,        /* run/events.jsonl: the event stream (events.h) */
	SPOOL_FILE_EVENTS_LOCK,   /* run/events.lock: held while an event is numbered and appended */
	SPOOL_FILE_LINK_STATE,    /* sites/PEER/.link: whether the link was last found up or down */
	SPOOL_FILE_TRASH,         /* work/trash/: what is being removed, out of sight (retain.h); gone when empty */
	SPOOL_FILE_RETAIN_LOCK,   /* run/retain.lock: held by the one clean pass at a time */
	SPOOL_FILE_RETIRING,      /* rejected/.retiring.NAME: a rejected/ entry on its way to the archive */
	SPOOL_FILE_RETIRED,       /* run/retired.ini: what the jobs housekeeping removed had rendered */
	SPOOL_FILE_RETIRED_LOCK,  /* run/retired.lock: held while it is added to */
	SPOOL_FILE_ROUTE_LOCK,    /* run/route.lock: held while one job is routed from new/ */
	SPOOL_FILE_STORE,         /* store/: job files by their SHA-256, linked into each job (store.h) */
	SPOOL_FILE_FARM_COUNTS,   /* run/farm.counts: the farm pass's ticket counts, for the next pass */
	SPOOL_FILE_COUNT,
};
const char *spool_file_name(enum spool_file f);
/* rejected/NAME/reason.txt: its first line says why, for a person; a line
 * "Kind of problem: WORD" sorts it (file, incomplete, archive, disk,
 * owner, route, description). */
#define REJECT_KIND_LINE "Kind of problem: "


/* Site configuration: SPOOL/conf/hotfarm.ini. */
struct site_conf {
	char name[64];
	unsigned long long max_bytes; /* [intake] */
	long max_entries;
	long max_frames;
	long orphan_grace;  /* seconds */
	long settle;        /* seconds a written-in-place file must stay unchanged */
	long processes;     /* concurrent intake processes */
	long rescan_ms;     /* [watcherd] */
	bool use_inotify;
	bool fsync;
	bool dedupe; /* [intake] dedupe: job files share one copy through store/ */
	long heartbeat;     /* [agent] seconds between heartbeats */
	long host_timeout;  /* [agent] a host silent this long is lost */
	long hang_timeout;  /* [agent] no log growth and no CPU for this long: hung */
	long kill_grace_ms; /* [agent] SIGTERM, then SIGKILL after this */
	long fail_limit;    /* [agent] frames failed in a row before a host skips a job */
	bool fair_share;    /* [agent] share slots among jobs of one priority */
	long slots;         /* [agent] slots: concurrent renders per host; 0: auto */
	long probe_interval; /* [agent] seconds between probes of the host */
	bool confine;        /* [agent] confine: every render sandboxed (wrapper/sandbox.c) */
	char render_user[64]; /* [agent] render_user: as root, renders run as this user */
	unsigned long long render_mem, render_fsize; /* [agent] limits per render, 0: none */
	long render_pids;            /* [agent] most processes a render may have at once, 0: no limit */
	unsigned long long log_max;  /* [agent] the most of a render's output its log keeps, 0: all */
	unsigned long long min_free; /* [agent] below this free on a job's disk, take no frames */
	bool nimby;                  /* [agent] nimby: frames only while the desktop's user is away */
	long nimby_idle;             /* [agent] nimby_idle: seconds idle before the user counts as away */
	char nimby_devices[512];     /* [agent] nimby_devices: globs of what the user touches; "": the usual */
	char notify_command[512]; /* [notify] command: gets RFC 5322 messages on stdin */
	long auto_wait;        /* [site] auto_wait: a longer local wait sends an `auto` job away */
	long summary_interval; /* [site] summary: seconds between load summaries to each peer */
	long retain_days;      /* [site] retain_days: how long received jobs and bases are kept */
	long keep_days;        /* [retain] days: this site's ended jobs and rejected/ entries, 0: for ever */
	char archive[512];     /* [retain] archive: an absolute folder they move to; "": removed */
	struct site_link {
		char name[SITE_NAME_MAX + 1];
		char transport[512];
	} links[16];           /* [site NAME] sections */
	int nlinks;
	long notify_progress;     /* [notify] progress: seconds between progress mails, 0: none */
	char admins[64];          /* [site] admins: the group that may steer every job */
	char notify_address[256]; /* [notify] address: %u the owner's user name, %% a '%'; "": none */
	bool notify_any_address;  /* [notify] any_address: mail job.ini's email whoever the owner is */
	struct site_address {
		char user[64];     /* matched regardless of case: .ini keys are read in lower case */
		char address[256];
	} addresses[256];          /* [addresses] USER = ADDRESS, before the [notify] address template */
	int naddresses;
	long movie_interval; /* [previews] movie_interval: seconds between a rendering job's movies, 0: at its end */
	unsigned long long events_max_bytes; /* [events] max_bytes: run/events.jsonl rotates past this */
	long events_keep;                    /* [events] keep: rotated files kept */
	struct quota_rule {
		char who[80]; /* "": every owner ([quota]); OWNER ([quota OWNER]); "pool:NAME" ([quota pool:NAME]) */
		long slots;   /* renders an owner may have at once */
	} quotas[64];
	int nquotas;
};

/* Whether S is one plain mail address: one '@' with text on each side, no
 * blanks, control characters, commas, semicolons, <> or quotes (conf.c). */
bool mail_address_ok(const char *s);
/* USER's mail address: their [addresses] entry, else [notify] address
 * with %u replaced; false when the configuration gives none. What a
 * template makes of a user name is for the caller to check. */
bool site_conf_address(const struct site_conf *c, const char *user, char *out, size_t outsize);

struct spool {
	char *path;
	int root;
	int dir[DIR_COUNT];
	struct site_conf conf;
	struct strlist conf_warnings;
	uid_t farm_uid; /* the farm's user: the owner of the spool's folder */
};

/* The start of every spooler: its name for messages, dying with watcherd
 * when started by it, --spool DIR (else the default) and --help (USAGE,
 * exit 0; anything else unknown: USAGE on stderr, exit 100), the spool
 * opened (or exit 111). Returns the index of the first other argument. */
int spooler_main(int argc, char **argv, const char *name, const char *usage, struct spool *sp);
/* Create every folder of the tree below PATH (creating PATH too), seed
 * PATH/conf from CONFSRC without overwriting, and never delete anything.
 * Each folder or file made is added to MADE. Returns 0 or -1 with ERR. */
int spool_init(const char *path, const char *confsrc, struct strlist *made, char *err, size_t errsize);
/* Open an existing spool and read its site configuration. */
int spool_open(const char *path, struct spool *sp, char *err, size_t errsize);
/* Read conf/hotfarm.ini again (SIGHUP): on an error the spool keeps the
 * configuration it had, and ERR says what is wrong. */
int spool_conf_reload(struct spool *sp, char *err, size_t errsize);
/* Say (warn) what in conf/hotfarm.ini is ignored: unknown sections, keys. */
void spool_conf_warn(const struct spool *sp);
void spool_close(struct spool *sp);
int spool_fd(const struct spool *sp, enum spool_dir d);
/* Whether the spool is on this host's own filesystem, where inotify sees
 * every change (not NFS, SMB or FUSE: there only this host's own). */
bool spool_is_local(const struct spool *sp);
int state_fd(const struct spool *sp, enum job_state s);
/* Where the spool is when no --spool is given: $HOTFARM_SPOOL, else the
 * site default. */
const char *spool_default(void);
/* This spool's short name on this host, 12 hex digits of a hash of its
 * real path: what a host's local things (a render's cgroup, the mark on
 * its processes) carry, so that the agents of two spools never touch each
 * other's even when they have one name. */
void spool_key(const struct spool *sp, char out[13]);

/* Job entries are named PPP-SEQ-NAME: priority, then submission order in
 * microseconds, so that a plain sort of queue/ is the queue. */
void entry_format(char out[ENTRY_MAX_LEN], int priority, int64_t seq, const char *name);
bool entry_parse(const char *entry, int *priority, int64_t *seq, char name[JOBID_MAX_LEN + 1]);
/* NAME or NAME@SITE, each part a valid name. */
bool job_id_valid(const char *id);
/* The site a job id came from ("" for this site's own) and its name there. */
void job_id_split(const char *id, char name[NAME_MAX_LEN + 1], char site[SITE_NAME_MAX + 1]);
/* Find a job's entry in whichever state folder holds it. */
enum job_state job_find(const struct spool *sp, const char *name, char entry[ENTRY_MAX_LEN]);
/* Move an entry from one state to another (and maybe a new name: a
 * priority change) with one rename. Returns 0, or -1 with errno
 * (ENOENT: somebody else moved it first). */
int entry_move(const struct spool *sp, enum job_state from, const char *entry, enum job_state to,
	       const char *newentry);
/* List the entries of one state folder, sorted (the queue order). */
int state_list(const struct spool *sp, enum job_state s, struct strlist *out);

/* A job's own folder: jobs/NAME, or sites/SITE/jobs/NAME for NAME@SITE. */
int job_dir_open(const struct spool *sp, const char *name);

/* Where job ID lives, relative to the spool ("jobs/NAME" or
 * "sites/SITE/jobs/NAME"), and as a full path below the spool. */
void job_relpath(const char *id, char *out, size_t outsize);
void job_path(const struct spool *sp, const char *id, char *out, size_t outsize);
/* Remove a finished job whose time is over, crash-safely (retain.c): its
 * entry moves into its folder (one rename: no longer listed), the folder
 * into work/trash/ (one rename: its name is free), and goes there. 0, or
 * -1 with errno (ENOENT: no such finished job; EBUSY: it has not ended). */
int job_remove(const struct spool *sp, const char *id);
/* What the jobs removed so far had rendered (run/retired.ini): the
 * metrics' frame counters add it, so that they never fall when jobs go. */
struct retired_counts {
	long jobs, frames_done, frames_failed;
};
void retired_read(const struct spool *sp, struct retired_counts *c);
/* The kind of rejected/NAME (REJECT_KIND_LINE), into OUT: one word, or
 * "other" when it says none. */
void rejected_kind(const struct spool *sp, const char *name, char *out, size_t outsize);

/* ---- linked sites ---- */
/* A file name that may travel between sites: a job id's characters
 * (letters, digits, '.', '_', '-', '@'), not starting with '.' or '-', at
 * most 200 bytes. */
bool site_file_name_ok(const char *s);
/* The [site NAME] link of this site to PEER, or NULL. */
const struct site_link *site_link_find(const struct spool *sp, const char *peer);
/* A linked site's folders: sites/PEER/ itself, its hot folders, the jobs
 * it sent and those refused, and the sync's private stores. */
enum site_sub {
	SITE_TOP,      /* sites/PEER/ (summary.ini) */
	SITE_IN,       /* in/: what PEER delivered */
	SITE_OUT,      /* out/: what goes to PEER */
	SITE_JOBS,     /* jobs/: jobs PEER sent, NAME@PEER */
	SITE_REJECTED, /* rejected/ */
	SITE_BASIS,    /* .basis/: what PEER holds, for deltas */
	SITE_BASIS_SHA, /* .basis/.sha/: their checksums */
	SITE_INCOMING, /* .incoming/: files arriving; its lock */
	SITE_BASIS_KNOWN, /* .basis/.known/SHA256: contents PEER sent */
	SITE_BASIS_PATHS, /* .basis/.paths/KEY: what PEER last sent at a path */
	SITE_BASIS_NAMES, /* .basis/.names/KEY: ... and under a file name */
	SITE_SUB_COUNT,
};
/* sites/PEER/SUB, made when missing. PEER must be a valid site name. -1
 * with errno. */
int site_dir_open(const struct spool *sp, const char *peer, enum site_sub sub);
/* Where sites/PEER/SUB is, relative to the spool (for a watch). */
void site_dir_relpath(const char *peer, enum site_sub sub, char *out, size_t outsize);
/* sites/PEER/summary.ini, PEER's last summary, parsed (NULL when none). */
struct ini *site_summary_ini(const struct spool *sp, const char *peer, struct stat *st);
/* Make SP look at what PEER sent as if it were the spool's own: inbox/ is
 * sites/PEER/in/, jobs/ is sites/PEER/jobs/, rejected/ is
 * sites/PEER/rejected/ (intake --from uses this view). */
int spool_view_site(struct spool *sp, const char *peer);
/* A file for PEER: SRCDIR/SRC (complete, same filesystem) becomes
 * sites/PEER/out/NAME in one rename, replacing an unsent older one. */
int site_out_publish(const struct spool *sp, const char *peer, int srcdir, const char *src, const char *name);
/* Write DATA as sites/PEER/out/NAME (temporary name, flush, rename). */
int site_out_write(const struct spool *sp, const char *peer, const char *name, const char *data, size_t len);
/* Move sites/PEER/in/NAME to sites/PEER/rejected/ under a free name. */
int site_in_reject(const struct spool *sp, const char *peer, const char *name);
/* Keep sites/PEER/in/NAME as PEER's summary (sites/PEER/summary.ini),
 * replacing the last one. */
int site_in_keep_summary(const struct spool *sp, const char *peer, const char *name);

/* jobs/NAME/status.ini: what scripts read. The entry's folder is the truth;
 * status.ini follows it and says why in words. */
struct job_status {
	char state[16];
	char reason[512];
	char original[256]; /* the name the user dropped, escaped */
	char owner[128];       /* the verified owner: a user, or site:PEER */
	char owner_label[128]; /* the owner job.ini claimed, when it differs */
	char preset[64];       /* the preset folder it was dropped into */
	char described[600];   /* where a preset drop's keys came from */
	int priority;
	long frames_total, frames_done, frames_failed, tickets;
	int64_t submitted_us, updated_us, started_us, finished_us;
	struct strlist warnings;
};
int job_status_read(int jobfd, struct job_status *st);
int job_status_write(int jobfd, const struct job_status *st);
/* Its owner as people see it: "alice", "alice (label: Bob)", "site:b (ann)". */
void job_status_owner(const struct job_status *st, char *out, size_t outsize);
void job_status_free(struct job_status *st);
/* Hold a job's status lock (close the result to let go): whoever writes
 * status.ini from what it saw earlier (watcherd's updates of queued jobs)
 * checks under it that the job is still where it saw it, and the writers
 * that move an entry write their status under it. Taken within ten
 * seconds or not at all (-1 with errno, ETIMEDOUT): callers go on
 * without it rather than stall. */
int job_status_lock(int jobfd);
/* Bring status.ini in line with a move already made (STATE_NONE: keep the
 * state; PRIORITY < 0: keep it). */
int job_status_update(const struct spool *sp, const char *name, enum job_state to, const char *reason,
		      int priority);
/* A job's sizes (sizes.ini, billing.c): the archive as dropped (intake),
 * the packages sent to and received from linked sites for it. */
struct job_sizes {
	unsigned long long submitted, site_sent, site_received;
	unsigned long long shared; /* of its files, the bytes it shares with other jobs (store/) */
};
/* Read them (all 0 and -1 when there is no sizes.ini). */
int job_sizes_read(int jobfd, struct job_sizes *z);
/* Add ADD to them (a lock of their own; written atomically). */
int job_sizes_add(int jobfd, const struct job_sizes *add);
/* (Re)write job ID's billing.ini from every billing line of its tickets, in
 * every state folder, with its sizes, owner (and the owner a peer reported)
 * and the site that rendered it. At every end: done, failed, cancelled
 * (again once the cancelled renders have stopped). */
int job_bill(const struct spool *sp, const char *id);
/* Every job's id, sorted: this site's (NAME) then those linked sites sent
 * (NAME@PEER, beneath sites/PEER/jobs/). Added to OUT. */
void job_ids_all(const struct spool *sp, struct strlist *out);
/* The site that rendered job JOBFD: the linked site it was outsourced to
 * (outsourced.ini), else this one ([site] name). */
void job_bill_site(const struct spool *sp, int jobfd, char *out, size_t outsize);
/* Move a job to STATE and bring its status.ini along, with REASON. */
int job_change_state(const struct spool *sp, const char *name, enum job_state to, const char *reason);
/* Change a job's priority: a rename within its state folder. */
int job_change_priority(const struct spool *sp, const char *name, int priority);

#include "ticket.h"

/* A job's own files and folders, by what they are: the one place their
 * names are spelled (jobs/NAME/...). */
enum job_file {
	JOB_FILE_DESC,      /* job.ini: the normalised description intake wrote */
	JOB_FILE_STATUS,    /* status.ini */
	JOB_FILE_BILLING,   /* billing.ini: written when the job ends (done, failed or cancelled) */
	JOB_FILE_NOTICES,   /* notifications.log: the mails sent about it */
	JOB_FILE_PAGE,      /* index.html: its status page */
	JOB_FILE_CONTACT,   /* previews/contact.png: the contact sheet */
	JOB_FILE_RESULT,    /* result.ini: in a linked site's result, what it says */
	JOB_FILE_OUTSOURCED,      /* outsourced.ini: a job sent away: where, when, who refused */
	JOB_FILE_OUTSOURCED_SENT, /* outsourced.sent: packed for that site (its name) */
	JOB_FILE_CANCEL_SENT,     /* cancel.sent: that site told of a cancel (its name) */
	JOB_FILE_RETURNED,        /* returned: a job a site sent us answered (how it ended) */
	JOB_FILE_PROGRESS_SENT,   /* progress.sent: the progress last sent back, and when */
	JOB_FILE_MOVIE,           /* previews/preview.mp4: the preview movie (hf-movie) */
	JOB_FILE_SUSPENDED,       /* suspended: beside a held/ entry, its frames were stopped (who, when) */
	JOB_FILE_RERENDER,        /* rerender.want: frames the site that rendered it renders again */
	JOB_FILE_RERENDER_SENT,   /* rerender.sent: that site was asked (the frames) */
	JOB_FILE_SIZES,           /* sizes.ini: the archive submitted, packages sent to and received from sites */
	JOB_FILE_STARTED,         /* started: made when its first frame is claimed (the "started" event) */
	JOB_FILE_RETIRED,         /* retired: its state entry, moved in: the job is being removed (retain.h) */
	JOB_FILE_ENDED,           /* ended.ini: an archived job's end state, and when it was archived */
	JOB_FILE_COUNT,
};
enum job_dir {
	JOB_DIR_FILES,    /* files/: the unpacked scene */
	JOB_DIR_FRAMES,   /* frames/: the tickets' folders */
	JOB_DIR_OUTPUT,   /* output/: published frames */
	JOB_DIR_PREVIEWS, /* previews/: thumbnails and the contact sheet */
	JOB_DIR_LOGS,     /* logs/: one log per attempt */
	JOB_DIR_BLOCKED,  /* blocked/: hosts that stopped taking its frames */
	JOB_DIR_WORK,     /* work/: the renders' own folders, the one place they write */
	JOB_DIR_FAILURES, /* failures/TICKET: a ticket that had a failed attempt (its page lists them) */
	JOB_DIR_COUNT,
};
const char *job_file_name(enum job_file f);
const char *job_dir_name(enum job_dir d);
/* jobs/NAME/D (made when MAKE), beneath the job's folder, through no link. */
int job_subdir_open(int jobfd, enum job_dir d, bool make);
/* Open, read (at most MAX bytes; a regular file only), write (atomically),
 * stat or parse (.ini) one of a job's files. -1/NULL with errno. */
int job_file_open(int jobfd, enum job_file f, int flags, mode_t mode);
char *job_file_read(int jobfd, enum job_file f, size_t max, size_t *len);
int job_file_write(int jobfd, enum job_file f, const char *data, size_t len);
int job_file_stat(int jobfd, enum job_file f, struct stat *st);
/* Remove one of a job's files (gone already is fine). */
int job_file_remove(int jobfd, enum job_file f);
/* Whether a held job was suspended: its suspended file is there. */
bool job_suspended(int jobfd);
/* The word a person is shown for a job in state S whose status.ini says
 * STATUS_STATE: "rendering" or "waiting" for a queued job that is, and
 * "suspended" for a held job that was (JOBFD, -1: not known). */
const char *job_state_shown(int jobfd, enum job_state s, const char *status_state);
struct ini *job_file_ini(int jobfd, enum job_file f, char *err, size_t errsize);
/* A job's description, read back from the job.ini intake normalised (the
 * one loader after intake). 0, or -1 with one sentence in ERR. */
struct job_desc;
int job_desc_load(int jobfd, struct job_desc *jd, char *err, size_t errsize);
/* An attempt's log: logs/frameF.tryN.OWNER.log, or frameF-L.tryN... for a
 * run of frames in one process; parsed back (OWNER may be NULL). */
void job_log_name(char *out, size_t outsize, long first, long last, int attempt, const char *owner);
bool job_log_parse(const char *name, long *first, long *last, long *attempt);
/* Make a new job's folders in JOBFD: frames/{todo,active,done,failed},
 * output, previews, logs (none may exist). -1 with errno, and FAILED (when
 * not NULL) names the folder that could not be made. */
int job_tree_make(int jobfd, const char **failed);

/* Open folder PATH below DIRFD, each part without following a link and
 * made when MAKE and missing. -1 with errno. */
int dir_walk(int dirfd, const char *path, bool make);
/* The folder holding PATH's last part, opened as dir_walk does (DIRFD
 * itself, duplicated, when PATH has no '/'); BASE points at the last part. */
int dir_walk_parent(int dirfd, const char *path, bool make, const char **base);
/* A file received for a job (SRCDIR/SRC, complete, same filesystem)
 * becomes the job's PATH (output/..., logs/..., previews/...; folders
 * made, an older one replaced) in one rename. */
int job_file_place(int jobfd, int srcdir, const char *src, const char *path);
/* ---- work/: what a render may write (DESIGN invariant 6) ----
 * Each renderer process gets work/ATTEMPT/ (a name from job_temp_name),
 * with out/ for its images and tmp/ for its TMPDIR; it is confined to that
 * folder (and reads files/). Nothing the farm keeps is in it: its images
 * leave it one by one for output/, under a staging name, before they are
 * checked. */
/* Make work/NAME/ with out/ and tmp/ (mode 0700; owned by UID:GID when
 * UID is not -1): the folder's descriptor, and out/'s in *OUTFD. An old
 * folder of that name goes first. */
int job_attempt_make(int jobfd, const char *name, uid_t uid, gid_t gid, int *outfd);
/* The names of an attempt folder's two: out/ (its images), tmp/ (TMPDIR). */
enum attempt_sub { ATTEMPT_OUT, ATTEMPT_TMP };
const char *attempt_sub_name(enum attempt_sub a);
/* Attempt folder ATTEMPTFD (as job_attempt_make made it) serves another
 * renderer: everything in it goes, out/ and tmp/ are made again; out/'s
 * descriptor in *OUTFD. 0, or -1 with errno. */
int job_attempt_renew(int attemptfd, uid_t uid, gid_t gid, int *outfd);
/* Remove work/NAME/ and everything the render left in it. */
int job_attempt_remove(int jobfd, const char *name);
/* Image SRC of render folder SRCDIR moves into output/ as STAGE (a
 * temporary name): once there, out of the render's reach, it must be a
 * regular file with one link (else it is removed, -1 with EPERM); its
 * size goes to *BYTES. */
int output_stage(int jobfd, int srcdir, const char *src, const char *stage, unsigned long long *bytes);
/* Publish a checked frame: the staged image STAGE becomes output/NAME
 * (folders in NAME made), flushed first when the site flushes. One
 * rename: a reader of output/ never sees a partial frame. Or it goes. */
int output_publish(int jobfd, const char *stage, const char *name);
int output_unstage(int jobfd, const char *stage);
/* Remove what HOST's slots left: their folders in work/, images staged
 * in output/ (.HOST.SLOT...), and the image folders an older agent made
 * in output/. */
void layout_clear_temp(int jobfd, const char *host);
/* A renderer's folder in work/ (and its staged images' prefix in output/):
 * .OWNER.PID.SEQ (what layout_clear_temp removes of a host's). */
void job_temp_name(char *out, size_t outsize, const char *owner, long pid, unsigned long seq);
/* Frame F's thumbnail in previews/ (hf-check writes it). */
void job_preview_name(char *out, size_t outsize, long frame);
/* Frame F's view in previews/: the frame at most VIEW_MAX_W wide, 8-bit
 * sRGB JPEG (hf-check writes it; the preview movie is made of them). */
void job_view_name(char *out, size_t outsize, long frame);
/* The frame a view's NAME shows, or -1 when NAME is not a view's. */
long job_view_frame(const char *name);
enum { VIEW_MAX_W = 960 };
/* The movie built in previews folder PREVIEWSFD (its temporary,
 * complete and flushed) becomes its preview.mp4 in one rename. */
int movie_publish(int previewsfd);
/* The contact sheet's geometry (hf-check makes it): thumbnails of at most
 * CONTACT_THUMB_W x _H in cells with a CONTACT_GAP border, CONTACT_COLS
 * to a row. */
enum { CONTACT_THUMB_W = 160, CONTACT_THUMB_H = 120, CONTACT_GAP = 4, CONTACT_COLS = 8 };
/* The first samples: so many frames (or all, if fewer) on the sheet before
 * the artist is mailed it; until it shows them it is rebuilt unthrottled. */
enum { CONTACT_SAMPLES = 9 };
/* The fewest thumbnails a contact sheet of W x H pixels holds (its full
 * rows and one cell of its last), or -1 when W x H is no sheet's size. */
long contact_holds(unsigned long w, unsigned long h);
/* The same, read from the contact sheet in folder PREVIEWSFD, or from the
 * job's previews/contact.png: 0 when there is none. */
long contact_file_holds(int previewsfd);
long job_contact_holds(int jobfd);

/* License and concurrency tokens: limits/NAME/TOKEN is free,
 * limits/NAME/TOKEN@OWNER is held. Take one (its held name goes to OUT),
 * give it back. -1 with errno EAGAIN when none is free. */
int limit_take(const struct spool *sp, const char *limit, const char *owner, char out[256]);
/* A numbered token's number (N or N@OWNER: 1 or more; -1: no number) and
 * whether it is HELD (may be NULL). */
long limit_token_number(const char *name, bool *held);
/* The same, of tokens named 1..MAX only (MAX < 0: any name): a quota's. */
int limit_take_upto(const struct spool *sp, const char *limit, long max, const char *owner, char out[256]);
/* Whether limits/LIMIT/ holds any token at all, free or held. */
bool limit_has_tokens(const struct spool *sp, const char *limit);
int limit_give(const struct spool *sp, const char *limit, const char *held);

/* When a job has no ticket left to do or running, move its entry to done/
 * (or failed/ when frames failed every retry), write its final status.ini
 * and billing.ini. Safe when several call it at once: one rename wins.
 * Returns 1 when this call finished it, 0 when not finished (or another
 * did), -1 on error. */
int job_try_finish(const struct spool *sp, const char *name);

/* Dependencies ([job] after): 1 when every job named is done, 0 when some
 * still run or wait (WHY says which), -1 when one failed, was cancelled
 * or does not exist (WHY says which). */
int job_deps_ready(const struct spool *sp, const struct strlist *after, char *why, size_t whysize);
/* The same, each job named looked at once while MEMO lives (a tree,
 * NULL at first; deps_memo_free forgets it): a queue of thousands of
 * jobs waiting for one costs one look at that one. */
int job_deps_ready_memo(const struct spool *sp, void **memo, const struct strlist *after, char *why,
			size_t whysize);
void deps_memo_free(void **memo);
/* Whether MEMO holds an answer for job NAME (some job waits for it). */
bool deps_memo_has(void *const *memo, const char *name);

/* The intake commit: jobs/NAME/intake.pending becomes the new/ entry in one
 * rename. */
#define INTAKE_PENDING "intake.pending"
int intake_commit(const struct spool *sp, const char *name, const char *entry);

/* Claim dropped files: inbox/NAME -> DIRFD/NAME, each by rename (a user's
 * "reason.txt" becomes "dropped-reason.txt": the name is ours). Returns 0,
 * or -1 with errno (ENOENT: somebody else took one first); whatever was
 * claimed is put back then. */
int drop_claim(const struct spool *sp, int dirfd, const char *const names[], int n);
/* Put a claimed file back into inbox/ under the name it came with, never
 * replacing anything. Returns that name, or NULL with errno. */
const char *drop_return(const struct spool *sp, int dirfd, const char *name);
/* A file received from a linked site: SRCDIR/SRC becomes DSTDIR/DST in
 * one rename; REPLACE says whether an older one may be replaced (the
 * basis store) or not (sites/PEER/in/, where a job may still wait). */
int site_publish(int srcdir, const char *src, int dstdir, const char *dst, bool replace);
/* Drop inbox/TMP as inbox/NAME (a careful writer's last step), never
 * replacing a file already there. */
int inbox_drop(const struct spool *sp, const char *tmp, const char *name);
/* Rename SRC to DIRFD/BASE, or BASE-2, BASE-3... never replacing
 * anything; OUT gets the name used. Returns 0 or -1 with errno. */
int rename_unique(int srcfd, const char *src, int dirfd, const char *base, char out[NAME_MAX_LEN + 1]);

/* The stem that pairs a dropped archive with its .ini:
 * shot42.tar.gz and shot42.ini -> shot42. */
void drop_stem(const char *file, char *out, size_t outsize);

#endif
