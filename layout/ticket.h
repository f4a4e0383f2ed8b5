/* ticket.h - frame tickets, the one owner of their names and their file:
 * the renames that move them between frames/{todo,active,done,failed}/
 * and every line written into or read from a ticket. */
#ifndef HOTFARM_TICKET_H
#define HOTFARM_TICKET_H

#include <stdbool.h>
#include <stddef.h>

/* Frame tickets: RANK-FIRST[-LAST] so that a sort of todo/ gives the
 * samples-first order; the ticket file lists its frames. */
enum ticket_state { TICKET_TODO, TICKET_ACTIVE, TICKET_DONE, TICKET_FAILED, TICKET_COUNT };
const char *ticket_dir_name(enum ticket_state s);
void ticket_format(char out[64], long rank, long first, long last);
long ticket_count(int jobfd, enum ticket_state s);

/* Claim frames/todo/T for OWNER (HOST.SLOT): one rename to
 * frames/active/T@OWNER. Returns 0 when we own it, -1 with errno ENOENT
 * when another took it first. A failed rename is checked: on NFS the
 * winner can be told it lost. */
int ticket_claim(int jobfd, const char *ticket, const char *owner);
/* Move our frames/active/T@OWNER to frames/TO/T. */
int ticket_finish(int jobfd, const char *ticket, const char *owner, enum ticket_state to);
/* Move any frames/active/NAME (T@OWNER) back to frames/todo/T, or to
 * frames/done/T when its notes show every frame of it published (its
 * holder died between publishing the last frame and moving the ticket). */
int ticket_return(int jobfd, const char *active_name);
/* A ticket settled elsewhere (a linked site rendered it): SRCDIR/SRC
 * becomes frames/TO/T, then frames/todo/T goes. */
int ticket_place(int jobfd, int srcdir, const char *src, const char *ticket, enum ticket_state to);
/* frames/todo/T moves to frames/TO/T as it is. */
int ticket_settle(int jobfd, const char *ticket, enum ticket_state to);
/* A failed ticket gets another go: its attempt lines are dropped (kept as
 * "retried" lines) and it moves from failed/ to todo/. */
int ticket_retry(int jobfd, const char *ticket);
/* A done ticket is rendered again (hotfarm rerender, by WHO): its attempt
 * lines set aside as for a retry, a "rerender" line that makes its frames
 * unpublished again (their bills stay), and one move from done/ to todo/.
 * Its old images stay in output/ until the new ones replace them. */
int ticket_rerender(int jobfd, const char *ticket, const char *who);
/* Whether frames/STATE has no tickets (1), has some (0), or -1. */
int tickets_none(int jobfd, enum ticket_state s);
/* Ticket counts of a job, by state. */
struct job_counts {
	long todo, active, done, failed;
};
int job_counts(int jobfd, struct job_counts *c);

/* A ticket's file: lines "key = value", appended as the ticket lives.
 *   frames = F [F...]            the frames it covers (intake)
 *   attempt = N OWNER REASON     try N failed on OWNER (HOST.SLOT)
 *   nospace = OWNER REASON       a try lost to a full disk: not counted
 *   licence = UNTIL OWNER REASON a try that found no licence ([errors]
 *                                licence): not counted; not tried again
 *                                before UNTIL (seconds since the epoch)
 *   billing = frame=F ok=0|1 host=OWNER wall=S user=S sys=S rss_kb=K bytes=B [pool=P[,P...]]
 *                                one per attempt at a frame, published or
 *                                not; pool: the pools of the host that ran
 *                                it ("-": none; lines older than pools
 *                                lack it). A peer's returned lines are
 *                                hostile: figures that are not finite or
 *                                are negative count 0, huge ones are capped
 *   retried = N OWNER REASON     an attempt an admin's retry set aside
 *   rerender = TIME WHO          rendered again: frames published before
 *                                this line count as not done
 * They are parsed warily: a damaged line is skipped, at most 1 MiB read. */
#define BILL_SECONDS_MAX (366.0 * 86400)   /* per attempt: wall, user, sys */
#define BILL_BYTES_MAX (1ULL << 50)           /* per attempt: output bytes */
#define BILL_LINES_MAX 20000                  /* per ticket */
#define BILL_TOTAL_MAX (1ULL << 62)           /* any sum of bytes */
struct ticket_bill {
	long frame;
	bool ok;
	char owner[80];
	double wall, user, sys;
	long rss_kb;
	unsigned long long bytes;
	char pool[80]; /* "" when the line names none; only [A-Za-z0-9._,-] kept */
};
struct ticket_attempt {
	int n;
	char owner[80];
	char text[1024]; /* the whole value: "N OWNER REASON" (a line is at most 1 KiB) */
};
struct ticket {
	long *frames;     /* the frames = line */
	bool *published;  /* per frame: a billing line with ok=1 */
	size_t nframes, npublished;
	struct ticket_attempt *attempts;
	size_t nattempts;
	struct ticket_bill *bills;
	size_t nbills;
	long nlicences;      /* licence lines: tries that found no licence */
	long long licence_until; /* the latest UNTIL of them (epoch seconds; 0: none) */
};
/* Parse ticket text TEXT into T (free with ticket_free). */
void ticket_parse(const char *text, struct ticket *t);
/* Read ticket NAME of frames/STATE (NAME@OWNER in active/). -1 with errno. */
int ticket_load(int jobfd, enum ticket_state s, const char *name, struct ticket *t);
void ticket_free(struct ticket *t);
/* A ticket name RANK-FIRST[-LAST][@OWNER]: its parts (OWNER "" when none;
 * any pointer may be NULL). False when it is not one. */
bool ticket_name_parse(const char *name, long *rank, long *first, long *last, char owner[128]);
/* Write a new ticket for FRAMES as frames/todo/NAME (it must not exist). */
int ticket_create(int jobfd, const char *name, const long *frames, size_t n);
/* Lines appended to the ticket OWNER holds (frames/active/T@OWNER). */
int ticket_note_attempt(int jobfd, const char *ticket, const char *owner, int attempt, const char *reason);
int ticket_note_nospace(int jobfd, const char *ticket, const char *owner, const char *reason);
int ticket_note_licence(int jobfd, const char *ticket, const char *owner, long long until, const char *reason);
int ticket_note_billing(int jobfd, const char *ticket, const struct ticket_bill *b);
/* The name ticket T has in frames/active/ while OWNER holds it (T@OWNER). */
void ticket_held_name(char *out, size_t outsize, const char *ticket, const char *owner);
/* The ticket names in frames/STATE (T, or T@OWNER in active/), sorted
 * (todo/ in the order it is taken); added to OUT. -1 with errno when the
 * folder cannot be listed. */
struct strlist;
int ticket_list(int jobfd, enum ticket_state s, struct strlist *out);
/* FN for each ticket of frames/STATE that can be read (NAME: its name
 * there), with ARG; damaged ones are parsed as far as they go. */
void ticket_walk(int jobfd, enum ticket_state s, void (*fn)(const struct ticket *t, const char *name, void *arg),
		 void *arg);
/* FN for each billing line of every ticket of the job, in every state
 * folder (todo/, active/, done/, failed/): every attempt that ran. */
void job_bills_each(int jobfd, void (*fn)(const struct ticket_bill *b, void *arg), void *arg);
/* Whether ticket NAME is in frames/STATE now. */
bool ticket_exists(int jobfd, enum ticket_state s, const char *name);

#endif
