/* errors.c - the package's [errors] rules applied to a failed renderer: the
 * last of its output (kept in memory as runlog.c copies it, never read back
 * from a file) is matched, and the rule noted in its log; licence waits.
 * Distrusts the output: it is only text handed to regexec. */
#define _GNU_SOURCE
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* N more bytes of S's renderer's output: the last RUN_TAIL are kept
 * (only for a package with rules: others need none). */
void errors_keep(struct slot *s, const char *buf, size_t n)
{
	if (!s->job || !package_has_rules(s->job->pkg) || n == 0)
		return;
	if (n >= RUN_TAIL) {
		memcpy(s->tail, buf + n - RUN_TAIL, RUN_TAIL);
		s->tail_len = RUN_TAIL;
		return;
	}
	if (s->tail_len + n > RUN_TAIL) {
		size_t drop = s->tail_len + n - RUN_TAIL;
		memmove(s->tail, s->tail + drop, s->tail_len - drop);
		s->tail_len -= drop;
	}
	memcpy(s->tail + s->tail_len, buf, n);
	s->tail_len += n;
}

/* What becomes of a frame under each rule, for its log. */
static const char *rule_meaning(enum package_rule r)
{
	switch (r) {
	case RULE_FAIL:
		return "the frame fails now and is not retried (a scene error)";
	case RULE_LICENCE:
		return "no licence: the frame goes back to todo/, not counted as an attempt, and waits before its next try";
	case RULE_RETRY:
		return "counted as an attempt; the next try is on another host when one can take it";
	default:
		return "";
	}
}

/* S's renderer failed (s->why): which rule of its package its last
 * output matches (s->rule), said at the end of its log. A frame stopped
 * by a user is not judged. */
void errors_match(struct slot *s)
{
	struct job *j = s->job;
	s->rule = RULE_NONE;
	s->rule_pattern[0] = 0;
	if (!*s->why || s->killing == KILL_USER || !package_has_rules(j->pkg))
		return;
	static char text[RUN_TAIL + 1];
	memcpy(text, s->tail, s->tail_len);
	/* a NUL would end the text early */
	for (size_t i = 0; i < s->tail_len; i++)
		if (!text[i])
			text[i] = ' ';
	text[s->tail_len] = 0;
	const char *pattern;
	s->rule = package_rule_match(j->pkg, text, &pattern);
	if (s->rule == RULE_NONE)
		return;
	char clean[sizeof s->rule_pattern];
	text_escape(pattern, clean, sizeof clean);
	snprintf(s->rule_pattern, sizeof s->rule_pattern, "%s", clean);
	char note[600];
	int k = snprintf(note, sizeof note, "\n# hotfarm: the renderer failed; its output matched [errors] %s \"%s\": %s\n",
			 package_rule_name(s->rule), clean, rule_meaning(s->rule));
	if (s->logfd >= 0 && write(s->logfd, note, (size_t)(k < (int)sizeof note ? k : (int)sizeof note - 1)) < 0)
		warn("unable to write %s: %s", s->log, strerror(errno));
}

/* Whether a ticket found no licence lately (SEEN, what its notes say) and
 * is not to be tried before its wait is over. */
bool licence_waits(const struct ticket_seen *seen)
{
	return seen->licence_until > now_us() / 1000000;
}
