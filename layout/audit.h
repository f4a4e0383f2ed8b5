/* audit.h - the farm's audit log, SPOOL/run/audit.log: one key=value line
 * per action (who, what, which job, how it ended, why), and its reader. */
#ifndef HOTFARM_AUDIT_H
#define HOTFARM_AUDIT_H

#include "layout.h"

/* A line of the log, at most AUDIT_LINE_MAX bytes with its newline:
 *   time=2026-12-06T21:40:01.123Z uid=1001 user=alice action=cancel job=shot42 result=done reason="..."
 * The keys in that order. user is the uid's name, or #UID when it has
 * none. user, action, job and result are bare when they hold only
 * printable ASCII other than space, '"', '\' and '=' (job may be empty:
 * "job="), else quoted as reason always is: in double quotes, '"' and '\'
 * escaped with '\', control characters (and DEL) written \xNN. A reason
 * too long for the line is cut, never in the middle of a UTF-8 character;
 * the other values are cut at AUDIT_FIELD_MAX bytes. */
enum { AUDIT_LINE_MAX = 4000, AUDIT_FIELD_MAX = 128 };

/* Append one line to SPOOL/run/audit.log: time, uid and user, action,
 * job, result, reason (JOB and REASON may be NULL or ""). One write(2)
 * of the whole line to a file opened O_APPEND, so that writers at once
 * never interleave; a regular file only, through no link, never blocking.
 * Made mode 0640, in the [site] admins group when there is one. A log
 * that cannot be written is warned about, never fatal. */
void audit_record(const struct spool *sp, uid_t uid, const char *action, const char *job, const char *result,
		  const char *reason);
/* The line audit_record writes for time US (microseconds since the
 * epoch), with its newline, into OUT (AUDIT_LINE_MAX bytes); its length. */
size_t audit_format(char out[AUDIT_LINE_MAX], int64_t us, uid_t uid, const char *action, const char *job,
		    const char *result, const char *reason);

/* A line read back, its values unescaped. */
struct audit_line {
	char time[32]; /* as written: 2026-12-06T21:40:01.123Z */
	int64_t us;    /* the same, microseconds since the epoch */
	uid_t uid;
	char user[AUDIT_FIELD_MAX + 1], action[AUDIT_FIELD_MAX + 1], job[AUDIT_FIELD_MAX + 1];
	char result[AUDIT_FIELD_MAX + 1];
	char reason[AUDIT_LINE_MAX];
};
/* Parse LINE (without its newline) into OUT. A line lacking time, uid,
 * user, action or result, holding a key twice, or with a value that is
 * not as audit_format writes it, is malformed: false. Keys it does not
 * know are passed over (a later version may add some). */
bool audit_parse(const char *line, struct audit_line *out);

/* Which lines audit_read hands on; NULL or zeroed: all. */
struct audit_filter {
	const char *job;  /* this job's lines only */
	const char *user; /* this user's: a user name, or a uid number */
	int64_t since_us; /* lines of this time or later */
};
typedef void audit_each(const struct audit_line *line, void *arg);
/* Hand each well-formed line of run/audit.log that FILTER lets through to
 * EACH, in the order they were appended (oldest first). Returns how many
 * malformed lines were passed over (0 also when there is no log yet), or
 * -1 with errno (EACCES: not readable by this user; EINVAL: not a
 * regular file). */
long audit_read(const struct spool *sp, const struct audit_filter *filter, audit_each *each, void *arg);

#endif
