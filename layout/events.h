/* events.h - the farm's event stream, SPOOL/run/events.jsonl: one JSON
 * object a line for each thing that happens, numbered, rotated by size. */
#ifndef HOTFARM_EVENTS_H
#define HOTFARM_EVENTS_H

#include "layout.h"

/* What happened. Each kind's word is the line's "event" value. */
enum event_kind {
	EVENT_ARRIVED,      /* "arrived": watcherd saw a drop in inbox/ (job: its name there) */
	EVENT_ACCEPTED,     /* "accepted": intake made it a job */
	EVENT_REJECTED,     /* "rejected": intake refused it (job: its folder in rejected/) */
	EVENT_QUEUED,       /* "queued": route put it in the queue */
	EVENT_STARTED,      /* "started": its first frame was claimed (host) */
	EVENT_FRAME_DONE,   /* "frame_done": frame, host, attempt, seconds */
	EVENT_FRAME_FAILED, /* "frame_failed": the same */
	EVENT_FRAME_STOPPED, /* "frame_stopped": a cancel, suspend, agent stop or nimby cut it short (the same) */
	EVENT_STATE,        /* "state": its state changed (state, from) */
	EVENT_HOST_UP,      /* "host_up": an agent started, or came back after it was lost */
	EVENT_HOST_LOST,    /* "host_lost": watcherd found its heartbeat stopped */
	EVENT_LINK_UP,      /* "link_up": a linked site answered (site) */
	EVENT_LINK_DOWN,    /* "link_down": it did not */
	EVENT_KIND_COUNT,
};
const char *event_word(enum event_kind k);

/* One event. Strings may be NULL (left out) and come from anywhere:
 * they are escaped and cut to fit. frame, attempt and seconds are
 * written for the frame events only. */
struct event {
	enum event_kind kind;
	const char *job;
	long frame;
	const char *host;
	int attempt;
	double seconds;
	const char *state, *from;
	const char *site;
	const char *reason;
};

/* A line: {"seq":12,"time":"2026-12-07T12:00:00.123Z","event":"frame_done",
 * "job":"shot42","frame":7,"host":"h1.0","attempt":1,"seconds":2.310,...,
 * "prog":"render-agent"} and a newline, at most EVENTS_LINE_MAX bytes.
 * seq, time and event come first, in that order, then job when there is
 * one: readers (events_read) rely on it. */
enum { EVENTS_LINE_MAX = 4096 };

/* Append E to run/events.jsonl with the next sequence number. Under the
 * flock of run/events.lock (taken within EVENTS_LOCK_MS or not at all):
 * the last number is read from the log's tail, the log rotated when the
 * line would take it past [events] max_bytes (events.jsonl becomes
 * events.1.jsonl, ..., [events] keep files kept), and the line appended
 * with one write(2) to a regular file opened O_APPEND through no link.
 * Failures are warned about, never fatal: the event is lost, not the
 * farm's work. */
enum { EVENTS_LOCK_MS = 2000 };
void events_record(const struct spool *sp, const struct event *e);
/* The line events_record writes for E as number SEQ at time US, with its
 * newline, into OUT; its length. */
size_t events_format(char out[EVENTS_LINE_MAX], int64_t seq, int64_t us, const struct event *e);

/* Append S (NULL: "") to B as a JSON string: quotes, backslashes and
 * control characters escaped, each byte that is not part of valid UTF-8
 * written \ufffd; cut (at a character's end) so that what it adds,
 * quotes included, is at most MAX bytes (MAX >= 2). */
void json_string_put(struct buf *b, const char *s, size_t max);

/* The first frame of job JOB (folder JOBFD) was claimed on HOST: a
 * "started" event, once per job (jobs/NAME/started is made O_EXCL). */
void events_job_started(const struct spool *sp, int jobfd, const char *job, const char *host);
/* The link to PEER was found UP (or not): an event when that differs
 * from what sites/PEER/.link last said (it is written then). */
void events_link(const struct spool *sp, const char *peer, bool up, const char *why);

/* ---- reading ---- */
typedef void events_each(const char *line, size_t len, void *arg);
/* Where a reader of the stream is: the file it reads and what it has
 * handed on. Zero it, then set since/job/each/arg and fd = -1. */
struct events_reader {
	int64_t since;   /* lines numbered above this are handed on; it follows the last one */
	const char *job; /* this job's lines only (a valid job id), or NULL */
	events_each *each;
	void *arg;
	int fd; /* the file being read (the current log, or one rotated meanwhile); -1: none */
	dev_t dev;
	ino_t ino;
	char part[EVENTS_LINE_MAX]; /* a line read in part */
	size_t partlen;
	long skipped; /* malformed lines passed over */
};
/* Hand on every line of the stream not handed on yet, oldest first: the
 * rest of the file being read, then (when the log rotated since) the
 * files that came after it, up to the end of the current log, which is
 * kept open. Safe across rotations: the old file is read to its end
 * before the next one is opened. 0, or -1 with errno (EACCES...). */
int events_read(const struct spool *sp, struct events_reader *r);
/* Whether LINE (LEN bytes, no newline) is well formed; its number and,
 * when it has one, its job (pointing into LINE, JOBLEN bytes). */
bool events_parse(const char *line, size_t len, int64_t *seq, const char **job, size_t *joblen);

#endif
