/* unit-events.c - unit tests of the event stream (layout/events.c): the JSON
 * escaper, a line as written and parsed, writers at once across rotations
 * with a reader along, a cut line, a removed log, a link or FIFO in its place. */
#define _GNU_SOURCE
#include "../layout/events.h"
#include "../layout/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit.h"

/* S as json_string_put writes it with at most MAX bytes: is it WANT? */
static bool json_is(const char *s, size_t max, const char *want)
{
	struct buf b = {0};
	json_string_put(&b, s, max);
	buf_add(&b, "", 1);
	bool same = !strcmp(b.data, want);
	if (!same)
		printf("# got %s want %s\n", b.data, want);
	buf_free(&b);
	return same;
}

/* The JSON escaper of the event stream, and one line of it. */
void test_json(void)
{
	CHECK(json_is("shot42", 100, "\"shot42\"") && json_is(NULL, 100, "\"\"") && json_is("", 2, "\"\""),
	      "json: plain text as it is; NULL and \"\" empty");
	CHECK(json_is("a\"b\\c", 100, "\"a\\\"b\\\\c\""), "json: quote and backslash escaped");
	CHECK(json_is("l1\nl2\tt\r\x01\x1b[31m\x7f", 100, "\"l1\\nl2\\tt\\r\\u0001\\u001b[31m\\u007f\""),
	      "json: newline, tab, CR, other control characters and DEL escaped");
	CHECK(json_is("\xc2\x9b" "31m\xc2\x80\xc2\xa0", 100, "\"\\u009b31m\\u0080\xc2\xa0\""),
	      "json: C1 controls (U+0080 to U+009F) escaped, U+00A0 kept");
	CHECK(json_is("\xc3\xbc \xe2\x82\xac \xf0\x9f\x8e\xac", 100, "\"\xc3\xbc \xe2\x82\xac \xf0\x9f\x8e\xac\""),
	      "json: valid UTF-8 (2, 3 and 4 bytes) kept");
	CHECK(json_is("a\xff" "b\xc3(\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82", 100,
		      "\"a\\ufffdb\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""),
	      "json: invalid UTF-8 (stray, cut, overlong, surrogate, too high, at the end) each byte \\ufffd");
	CHECK(json_is("abcdef", 6, "\"abcd\"") && json_is("ab\xc3\xbc", 5, "\"ab\"") && json_is("a\nb", 4, "\"a\""),
	      "json: cut to fit, never inside a character or an escape");
	char line[EVENTS_LINE_MAX], big[9000];
	memset(big, '"', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct event e = {.kind = EVENT_FRAME_DONE, .job = "shot42", .frame = 7, .host = "h1.0", .attempt = 2,
			  .seconds = 2.3104, .reason = big};
	size_t n = events_format(line, 12, 1796644800123456LL, &e);
	CHECK(n <= EVENTS_LINE_MAX && line[n - 1] == '\n' && !memchr(line, '\n', n - 1) &&
		      !strncmp(line, "{\"seq\":12,\"time\":\"2026-12-07T12:00:00.123456Z\",\"event\":\"frame_done\",\"job\":\"shot42\","
				     "\"frame\":7,\"host\":\"h1.0\",\"attempt\":2,\"seconds\":2.310,\"reason\":\"\\\"", 143),
	      "events: a line as documented, one line however long its reason (%zu bytes)", n);
	int64_t seq;
	const char *job;
	size_t joblen;
	CHECK(events_parse(line, n - 1, &seq, &job, &joblen) && seq == 12 && joblen == 6 && !memcmp(job, "shot42", 6),
	      "events: its number and job read back");
	CHECK(!events_parse("{\"seq\":x}", 10, &seq, &job, &joblen) && !events_parse("garbage", 7, &seq, &job, &joblen) &&
		      !events_parse("{\"seq\":1,\"event\":\"a\nb\"}", 20, &seq, &job, &joblen),
	      "events: a line not as written is refused");
}

/* The event stream: 8 processes recording 500 events each at once while
 * the log rotates every 64 KiB, and a reader reading along: each line
 * whole, numbered 1 to 4000 without a gap, each writer's in its order,
 * and the reader, across the rotations, missing none. */
struct events_tally {
	long lines, next[8], wrong;
	int64_t seq;
};

static void events_tally(const char *line, size_t len, void *arg)
{
	struct events_tally *t = arg;
	char text[EVENTS_LINE_MAX];
	int w = -1;
	long i = -1;
	long long seq = -1;
	memcpy(text, line, len < sizeof text ? len : sizeof text - 1);
	text[len < sizeof text ? len : sizeof text - 1] = 0;
	const char *job = strstr(text, "\"job\":\"w");
	if (sscanf(text, "{\"seq\":%lld,", &seq) != 1 || !job || sscanf(job, "\"job\":\"w%d\",\"frame\":%ld", &w, &i) != 2 ||
	    w < 0 || w >= 8) {
		t->wrong++;
		return;
	}
	t->wrong += seq != t->seq + 1 || i != t->next[w];
	t->seq = seq;
	t->next[w] = i + 1;
	t->lines++;
}

void test_events_writers(void)
{
	struct spool sp;
	char root[64];
	close(state_spool(&sp, root, "events", 0));
	sp.conf.events_max_bytes = 64 * 1024;
	sp.conf.events_keep = 1000;
	pid_t pids[8];
	for (int w = 0; w < 8; w++)
		if ((pids[w] = fork()) == 0) {
			char job[8], reason[300];
			snprintf(job, sizeof job, "w%d", w);
			memset(reason, 'a' + w, sizeof reason - 1);
			reason[sizeof reason - 1] = 0;
			for (long i = 0; i < 500; i++)
				events_record(&sp, &(struct event){.kind = EVENT_FRAME_DONE, .job = job, .frame = i,
								   .host = "h\"1\n", .attempt = 1, .reason = reason});
			_exit(0);
		}
	struct events_tally t;
	memset(&t, 0, sizeof t);
	struct events_reader r = {.each = events_tally, .arg = &t, .fd = -1};
	int ended = 0, st, reads = 0, failed = 0;
	for (int w = 0; w < 8; w++) {
		while (waitpid(pids[w], &st, WNOHANG) == 0) {
			failed += events_read(&sp, &r) < 0;
			reads++;
		}
		ended += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	failed += events_read(&sp, &r) < 0;
	long rotated = 0;
	for (int i = 1; i <= 1000; i++) {
		char name[64];
		snprintf(name, sizeof name, "events.%d.jsonl", i);
		rotated += faccessat(spool_fd(&sp, DIR_RUN), name, F_OK, 0) == 0;
	}
	CHECK(ended == 8 && failed == 0 && t.wrong == 0 && t.lines == 4000 && t.seq == 4000 && r.skipped == 0 &&
		      rotated >= 10,
	      "events: 8 writers x 500 at once, rotated %ld times; read along (%d reads): numbered 1-4000, none "
	      "lost (lines %ld, wrong %ld, skipped %ld)",
	      rotated, reads, t.lines, t.wrong, r.skipped);
	if (r.fd >= 0)
		close(r.fd);
	state_spool_drop(&sp, root);
}

static void events_keep_last(const char *line, size_t len, void *arg)
{
	struct events_tally *t = arg;
	long long seq;
	t->lines++;
	if (len > 8 && sscanf(line, "{\"seq\":%lld,", &seq) == 1)
		t->seq = seq;
}

/* What the stream does with a line a crash cut short, a log that went
 * away, and a link or a FIFO in its place. */
void test_events_file(void)
{
	struct spool sp;
	char root[64];
	close(state_spool(&sp, root, "events", 0));
	sp.conf.events_max_bytes = 1 << 20;
	sp.conf.events_keep = 3;
	int run = spool_fd(&sp, DIR_RUN);
	const char *log = spool_file_name(SPOOL_FILE_EVENTS);
	struct event e = {.kind = EVENT_STATE, .job = "shot42", .state = "queued", .from = "new"};
	events_record(&sp, &e);
	int fd = openat(run, log, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "{\"seq\":2,\"ti", 12) == 12, "events: a line cut short (a crash)");
	if (fd >= 0)
		close(fd);
	events_record(&sp, &e);
	struct events_tally t;
	memset(&t, 0, sizeof t);
	struct events_reader r = {.each = events_keep_last, .arg = &t, .fd = -1};
	CHECK(events_read(&sp, &r) == 0 && t.lines == 2 && t.seq == 2 && r.skipped == 1,
	      "events: the next line starts on its own, numbered 2; the cut one is passed over (lines %ld, last %lld, "
	      "skipped %ld)", t.lines, (long long)t.seq, r.skipped);
	close(r.fd);
	sp.conf.events_max_bytes = 1024;
	for (int i = 0; i < 20; i++)
		events_record(&sp, &e);
	unlinkat(run, log, 0);
	events_record(&sp, &e);
	memset(&t, 0, sizeof t);
	struct events_reader r2 = {.each = events_keep_last, .arg = &t, .fd = -1};
	CHECK(events_read(&sp, &r2) == 0 && t.seq == 23, "events: the log removed, numbers go on (%lld)",
	      (long long)t.seq);
	close(r2.fd);
	char *rotated = file_read_small(run, "events.4.jsonl", 1 << 20, NULL);
	CHECK(!rotated, "events: keep = 3: no fourth rotated file");
	free(rotated);
	unlinkat(run, log, 0);
	CHECK(symlinkat("/etc/passwd", run, log) == 0, "events: a link in the log's place");
	events_record(&sp, &e);
	unlinkat(run, log, 0);
	CHECK(mkfifoat(run, log, 0600) == 0, "events: a FIFO in the log's place");
	events_record(&sp, &e); /* would block for ever if it opened it for writing */
	memset(&t, 0, sizeof t);
	struct events_reader r3 = {.each = events_keep_last, .arg = &t, .fd = -1};
	errno = 0;
	CHECK(events_read(&sp, &r3) < 0 && errno == EINVAL, "events: neither is written to nor read (%s)", strerror(errno));
	unlinkat(run, log, 0);
	state_spool_drop(&sp, root);
}
