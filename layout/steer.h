/* steer.h - steering a job (cancel, hold, release, priority, retry,
 * kill-frame, suspend, resume), carried out for the farm's user directly and for artists
 * through a request file judged by watcherd; requests and their answers. */
#ifndef HOTFARM_STEER_H
#define HOTFARM_STEER_H

#include "layout.h"

enum steer_action { STEER_CANCEL, STEER_HOLD, STEER_RELEASE, STEER_PRIORITY, STEER_RETRY, STEER_KILL_FRAME,
		    STEER_SUSPEND, STEER_RESUME, STEER_RERENDER, STEER_COUNT };
const char *steer_action_name(enum steer_action a); /* "kill-frame" */
bool steer_action_parse(const char *word, enum steer_action *a);
/* Whether action A takes a value (a priority, a frame), and its bounds. */
bool steer_value_ok(enum steer_action a, long value);

/* Carry out A on job ID (VALUE: the priority or frame; FRAMES: the frames
 * a rerender renders again, "12,40-48") for user WHO (named in the job's
 * status). Returns EXIT_OK with what was done in MSG, or EXIT_BADINPUT
 * (refused: MSG says why) or EXIT_TEMPFAIL. */
int steer_do(const struct spool *sp, enum steer_action a, const char *id, long value, const char *frames,
	     const char *who, char *msg, size_t msgsize);

/* Rerender FRAMES of job ID, which linked site PEER sent here, because
 * PEER asks (from the copy this site kept); as steer_do. */
int steer_rerender_for_peer(const struct spool *sp, const char *id, const char *frames, const char *peer, char *msg,
			    size_t msgsize);

/* ---- requests/ and answers/ ---- */
struct steer_request {
	enum steer_action action;
	char job[JOBID_MAX_LEN + 1];
	long value;
	char frames[256]; /* a rerender's frames */
	uid_t uid;        /* the request file's owner: the requester */
};
/* Drop a request into requests/ (temporary name, then one rename); its
 * name goes to NAME. 0, or -1 with errno. */
int request_drop(const struct spool *sp, const struct steer_request *r, char name[64]);
/* Read request FILE of folder DIR (requests/, or cancel/ where the name is
 * the job's): a regular file with one link, opened without following or
 * blocking. 0, or -1 with one sentence in WHY. */
int request_read(const struct spool *sp, enum spool_dir dir, const char *file, struct steer_request *r, char *why,
		 size_t whysize);
/* Remove request FILE of DIR. */
int request_remove(const struct spool *sp, enum spool_dir dir, const char *file);
/* answers/NAME: the outcome of request NAME (CODE, an EXIT_ code, and MSG). */
int answer_write(const struct spool *sp, const char *name, int code, const char *msg);
/* 1 with the answer read, 0 while there is none yet, -1 with errno. Only
 * an answer the farm's user or root wrote counts. */
int answer_read(const struct spool *sp, const char *name, int *code, char *msg, size_t msgsize);
/* Remove answers older than MAX_AGE seconds (nobody waits for them). */
void answers_expire(const struct spool *sp, long max_age);

#endif
