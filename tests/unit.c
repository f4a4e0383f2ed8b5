/* unit.c - unit tests of the layout library: frame lists, samples-first
 * order, names, entry names, the .ini guard, number parsing, host matching,
 * packages (unit-spool.c: the calls that change a real spool; unit-events.c:
 * the event stream). Built plain and under ASan+UBSan; prints TAP. */
#define _GNU_SOURCE
#include "../layout/access.h"
#include "../layout/audit.h"
#include "../layout/env.h"
#include "../layout/host.h"
#include "../layout/ini.h"
#include "../layout/package.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int unit_n, unit_failed;

#include "unit.h"

static void frames(const char *spec, long max, const char *expect)
{
	long *f = NULL;
	size_t k = 0;
	char err[256] = "", got[512] = "";
	int rc = frames_parse(spec, max, &f, &k, err, sizeof err);
	if (rc == 0) {
		size_t off = 0;
		for (size_t i = 0; i < k && off < sizeof got - 16; i++)
			off += (size_t)snprintf(got + off, sizeof got - off, "%s%ld", i ? "," : "", f[i]);
		free(f);
	} else
		snprintf(got, sizeof got, "error");
	CHECK(!strcmp(got, expect), "frames '%s' -> %s (got %s %s)", spec, expect, got, err);
}

static void test_frames(void)
{
	frames("1-5", 100, "1,2,3,4,5");
	frames("1-10x3", 100, "1,4,7,10");
	frames("1,5,9-12", 100, "1,5,9,10,11,12");
	frames(" 3 , 1-2 ", 100, "1,2,3");
	frames("5,5,5", 100, "5");
	frames("0", 100, "0");
	frames("1-1000000000000", 100000, "error");
	frames("1-200", 100, "error");
	frames("10-1", 100, "error");
	frames("", 100, "error");
	frames("1-", 100, "error");
	frames("a-b", 100, "error");
	frames("-1", 100, "error");
	frames("1-10x0", 100, "error");
	frames("1,", 100, "error");
	frames("1-9999999", 1000000, "error"); /* more frames than the site allows */
}

static void test_samples(void)
{
	size_t *o = samples_order(240);
	CHECK(o[0] == 0 && o[1] == 239 && o[2] == 119, "samples: first, last, middle (%zu %zu %zu)", o[0], o[1],
	      o[2]);
	CHECK((o[3] == 59 && o[4] == 179), "samples: then the quartiles (%zu %zu)", o[3], o[4]);
	bool seen[240] = {0}, dup = false;
	for (size_t i = 0; i < 240; i++) {
		if (seen[o[i]])
			dup = true;
		seen[o[i]] = true;
	}
	CHECK(!dup, "samples: every ticket exactly once");
	bool ascending = true;
	for (size_t i = 10; i < 240; i++)
		if (o[i] < o[i - 1])
			ascending = false;
	CHECK(ascending, "samples: the rest in frame order");
	free(o);
	o = samples_order(1);
	CHECK(o[0] == 0, "samples of one");
	free(o);
	o = samples_order(2);
	CHECK(o[0] == 0 && o[1] == 1, "samples of two");
	free(o);
}

static void name(const char *in, const char *expect)
{
	char out[NAME_MAX_LEN + 1];
	name_sanitize(in, out, sizeof out);
	char shown[200];
	text_escape(in, shown, sizeof shown);
	CHECK(!strcmp(out, expect) && name_is_valid(out), "name '%s' -> '%s' (got '%s')", shown, expect, out);
}

static void test_names(void)
{
	name("shot42", "shot42");
	name("Shot 42 \xe2\x80\x93 M\xc3\xbcller's \"final\"", "Shot_42_-_Muller_s_final");
	name("../../etc/passwd", "etc_passwd");
	name("a\nb", "a_b");
	name("...", "job");
	name("", "job");
	name("\xff\xfe", "job");
	name("-rf", "rf");
	CHECK(!name_is_valid("a/b") && !name_is_valid(".x") && !name_is_valid("") && name_is_valid("a-b_c.d"),
	      "name_is_valid");
	char e[ENTRY_MAX_LEN], nm[JOBID_MAX_LEN + 1];
	int p;
	int64_t s;
	entry_format(e, 7, 1234567890123456LL, "shot-2");
	CHECK(!strcmp(e, "007-1234567890123456-shot-2"), "entry_format (%s)", e);
	CHECK(entry_parse(e, &p, &s, nm) && p == 7 && s == 1234567890123456LL && !strcmp(nm, "shot-2"),
	      "entry_parse round trip");
	CHECK(!entry_parse("07-1234567890123456-x", NULL, NULL, NULL) &&
		      !entry_parse("007-123456789012345x-x", NULL, NULL, NULL) &&
		      !entry_parse("007-1234567890123456-", NULL, NULL, NULL) &&
		      !entry_parse("007-1234567890123456-../x", NULL, NULL, NULL),
	      "entry_parse refuses malformed names");
	/* job ids: NAME, or NAME@SITE for a job a linked site sent */
	CHECK(job_id_valid("shot") && job_id_valid("shot@paris") && !job_id_valid("shot@") && !job_id_valid("@paris") &&
		      !job_id_valid("a@b@c") && !job_id_valid("a@../b") && !job_id_valid("a/b@c") &&
		      !job_id_valid("shot@this-site-name-is-far-too-long-for-a-site"),
	      "job_id_valid");
	entry_format(e, 500, 1, "shot@paris");
	CHECK(entry_parse(e, NULL, NULL, nm) && !strcmp(nm, "shot@paris"), "an entry holds a job id");
	char jn[NAME_MAX_LEN + 1], js[SITE_NAME_MAX + 1], rel[200];
	job_id_split("shot@paris", jn, js);
	CHECK(!strcmp(jn, "shot") && !strcmp(js, "paris"), "job_id_split");
	job_relpath("shot@paris", rel, sizeof rel);
	CHECK(!strcmp(rel, "sites/paris/jobs/shot"), "a peer's job lives beneath sites/PEER/ (%s)", rel);
	job_relpath("shot", rel, sizeof rel);
	CHECK(!strcmp(rel, "jobs/shot"), "this site's job lives in jobs/ (%s)", rel);
	CHECK(site_file_name_ok("shot@a.result.tar") && site_file_name_ok("site.summary") && !site_file_name_ok("../x") &&
		      !site_file_name_ok("a/b") && !site_file_name_ok(".hidden") && !site_file_name_ok("") &&
		      !site_file_name_ok("a\nb") && !site_file_name_ok("-rf"),
	      "site_file_name_ok");
	CHECK(path_is_inside("a/b.pov") && !path_is_inside("../a") && !path_is_inside("/a") &&
		      !path_is_inside("a/../b") && !path_is_inside("a//b") && !path_is_inside("a/") &&
		      !path_is_inside(""),
	      "path_is_inside");
}

static struct ini *parse(const char *text, char *err)
{
	return ini_parse(text, strlen(text), job_file_name(JOB_FILE_DESC), err, 512);
}

static void test_ini(void)
{
	char err[512];
	struct ini *ini = parse("[job]\nframes = 1-10 # comment\noutput = shot_####.png\nq = \"a;b#c\"\n"
				"[Render]\nScene = x.pov\nempty =\n",
				err);
	CHECK(ini != NULL, "ini: parses (%s)", ini ? "" : err);
	if (ini) {
		CHECK(!strcmp(ini_get(ini, "job", "frames"), "1-10"), "ini: comment after a blank is cut");
		CHECK(!strcmp(ini_get(ini, "job", "output"), "shot_####.png"), "ini: #### inside a word is kept");
		CHECK(!strcmp(ini_get(ini, "job", "q"), "a;b#c"), "ini: quoted value kept whole");
		CHECK(!strcmp(ini_get(ini, "render", "scene"), "x.pov"), "ini: names are case-insensitive");
		CHECK(!strcmp(ini_get(ini, "render", "empty"), ""), "ini: empty value");
		CHECK(ini_get(ini, "job", "nope") == NULL && ini_get(ini, "job", "") == NULL, "ini: absent key");
		CHECK(ini_line(ini, "render", "scene") == 6, "ini: line numbers");
		ini_free(ini);
	}
	ini = parse("[job]\nargs = \"a b\" \"c\"\n", err);
	CHECK(ini && !strcmp(ini_get(ini, "job", "args"), "\"a b\" \"c\""), "ini: quoted words kept as written");
	ini_free(ini);
	ini = parse("[job]\nframes = 1\nframes = 2\n", err);
	CHECK(!ini && strstr(err, "line 3") && strstr(err, "twice"), "ini: duplicate key named with line (%s)", err);
	ini = parse("[job]\nthis is not ini\n", err);
	CHECK(!ini && strstr(err, "line 2"), "ini: syntax error names the line (%s)", err);
	ini = parse("frames = 1\n", err);
	CHECK(!ini && strstr(err, "line 1"), "ini: key outside a section (%s)", err);
	char longline[2000];
	memset(longline, 'x', sizeof longline);
	memcpy(longline, "[job]\na = ", 10);
	longline[sizeof longline - 1] = 0;
	ini = parse(longline, err);
	CHECK(!ini && strstr(err, "line 2") && strstr(err, "longer"), "ini: long line (%s)", err);
	ini = parse("[job\n", err);
	CHECK(!ini, "ini: broken section header (%s)", err);
	ini = parse("\xef\xbb\xbf[job]\r\nframes = 1-2\r\n", err);
	CHECK(ini && !strcmp(ini_get(ini, "job", "frames"), "1-2"), "ini: BOM and CRLF from Windows editors");
	ini_free(ini);
}

static int desc(const char *text, struct job_desc *jd, char *err)
{
	struct ini *ini = parse(text, err);
	if (!ini)
		return -1;
	int rc = job_desc_parse(ini, "job.ini", 100000, jd, err, 512);
	ini_free(ini);
	return rc;
}

static void test_desc(void)
{
	char err[512];
	struct job_desc jd;
	int rc = desc("[job]\nframes = 1-240\npriority = 0010\nprioritty = 3\n[render]\nscene = ./a.pov\n"
		      "args = +A0.3 \"+L/my lib\" \"x y\"\n[requires]\nversion = 3.7.*\nmin_ram_mb = 512\n",
		      &jd, err);
	CHECK(rc == 0, "desc: parses (%s)", rc ? err : "");
	if (rc == 0) {
		CHECK(jd.priority == 10, "desc: 0010 is ten, not octal eight (%d)", jd.priority);
		CHECK(jd.nframes == 240 && jd.chunk == 0 && !strcmp(jd.package, "povray"), "desc: defaults (chunk auto)");
		CHECK(!strcmp(jd.scene, "a.pov"), "desc: ./ stripped from scene");
		CHECK(jd.argv.n == 3 && !strcmp(jd.argv.v[1], "+L/my lib") && !strcmp(jd.argv.v[2], "x y"),
		      "desc: args split into words, quotes group");
		CHECK(jd.nreq == 1 && !strcmp(jd.req[0].pattern, "3.7.*") && jd.min_ram_mb == 512,
		      "desc: requirements");
		CHECK(jd.warnings.n == 1 && strstr(jd.warnings.v[0], "did you mean 'priority'") &&
			      strstr(jd.warnings.v[0], "line 4"),
		      "desc: unknown key reported with a suggestion");
		job_desc_free(&jd);
	}
	struct {
		const char *text, *want;
	} bad[] = {
		{"[job]\nframes = 1\n[render]\n", "scene is missing"},
		{"[job]\n[render]\nscene = a\n", "frames is missing"},
		{"[job]\nframes = 1-1000000000000\n[render]\nscene = a\n", "line 2"},
		{"[job]\nframes = 1\nchunk = 0\n[render]\nscene = a\n", "chunk"},
		{"[job]\nframes = 1\npriority = -1\n[render]\nscene = a\n", "priority"},
		{"[job]\nframes = 1\npriority = 1000\n[render]\nscene = a\n", "priority"},
		{"[job]\nframes = 1\n[render]\nscene = a\nwidth = 0\n", "width"},
		{"[job]\nframes = 1\n[render]\nscene = ../a\n", "inside"},
		{"[job]\nframes = 1\n[render]\nscene = /etc/passwd\n", "inside"},
		{"[job]\nframes = 1\n[render]\nscene = a\noutput = ../../x_####.png\n", "output"},
		{"[job]\nframes = 1\n[render]\nscene = a\nargs = \"unterminated\n", "quote"},
		{"[job]\nframes = 1\nemail = a@b; rm -rf /\n[render]\nscene = a\n", "email"},
		{"[job]\nframes = 1\n[render]\nscene = a\npackage = ../x\n", "package"},
		{"[render]\nscene = a\n", "[job]"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		rc = desc(bad[i].text, &jd, err);
		CHECK(rc < 0 && strstr(err, bad[i].want), "desc: refuses case %zu with '%s' (%s)", i, bad[i].want,
		      rc < 0 ? err : "accepted");
		if (rc == 0)
			job_desc_free(&jd);
	}
	rc = desc("[job]\nframes = 1\n[render]\nscene = a\noutput = img.png\n", &jd, err);
	CHECK(rc == 0 && !strcmp(jd.output, "img_####.png"), "desc: output without #### gets it (%s)", jd.output);
	if (rc == 0)
		job_desc_free(&jd);
}

/* What intake writes back (job_desc_format) is read again by route and the
 * agents through the same line limit: a line that fits as the user wrote
 * it but outgrows the limit once quoted, joined with ", " or given its ####
 * is refused at once, naming the key and its line (found by fuzz_jobini). */
static void test_desc_written_back(void)
{
	char err[512], text[2400], long_path[1000];
	struct job_desc jd;
	long_path[0] = 0;
	for (int i = 0; i < 247; i++)
		strcat(long_path, "abc/");
	struct {
		const char *key, *line;
		char text[2400];
	} cases[3] = {{"scene", "line 4", ""}, {"after", "line 3", ""}, {"output", "line 5", ""}};
	snprintf(cases[0].text, sizeof cases[0].text, "[job]\nframes = 1\n[render]\nscene=%sabc/ab\n", long_path);
	size_t len = (size_t)snprintf(cases[1].text, sizeof cases[1].text, "[job]\nframes = 1\nafter=j0");
	for (int i = 1; i < 220; i++)
		len += (size_t)snprintf(cases[1].text + len, sizeof cases[1].text - len, ",j%d", i);
	snprintf(cases[1].text + len, sizeof cases[1].text - len, "\n[render]\nscene = a.pov\n");
	snprintf(cases[2].text, sizeof cases[2].text, "[job]\nframes = 1\n[render]\nscene = a.pov\noutput=%sa.png\n",
		 long_path);
	for (size_t i = 0; i < 3; i++) {
		int rc = desc(cases[i].text, &jd, err);
		CHECK(rc < 0 && strstr(err, cases[i].key) && strstr(err, cases[i].line) && strstr(err, "too long"),
		      "desc: a %s that outgrows its line when written back is refused (%s)", cases[i].key,
		      rc < 0 ? err : "accepted");
		if (rc == 0)
			job_desc_free(&jd);
	}
	/* the longest scene that fits, written back and read again */
	snprintf(text, sizeof text, "[job]\nframes = 1\n[render]\nscene = %sab\n", long_path);
	int rc = desc(text, &jd, err);
	struct buf b = {0};
	struct job_desc again;
	int rc2 = -1;
	if (rc == 0) {
		job_desc_format(&jd, &b);
		rc2 = desc(b.data, &again, err);
		if (rc2 == 0)
			job_desc_free(&again);
		job_desc_free(&jd);
	}
	CHECK(rc == 0 && rc2 == 0, "desc: a scene of %zu characters is kept and reads back (%s)", strlen(long_path) + 2,
	      rc2 ? err : "");
	buf_free(&b);
	/* an output name that passed, then got _#### and 258 characters */
	char name[254];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = 0;
	snprintf(text, sizeof text, "[job]\nframes = 1\n[render]\nscene = a.pov\noutput = out/%s\n", name);
	rc = desc(text, &jd, err);
	CHECK(rc < 0 && strstr(err, "line 5") && strstr(err, "255"),
	      "desc: an output name that outgrows 255 characters with its _#### is refused (%s)", rc < 0 ? err : "accepted");
	if (rc == 0)
		job_desc_free(&jd);
}

/* [env]: names keep their case; what a job and a package may set; the
 * package's values first, the job's over them, all checked again */
static void test_env(void)
{
	char err[512];
	struct ini *ini = parse("[Env]\nMyVar = a\n[job]\nFrames = 1\n", err);
	CHECK(ini && !strcmp(ini_key_written(ini, "env", "myvar"), "MyVar") && !strcmp(ini_get(ini, "env", "myvar"), "a") &&
		      !strcmp(ini_key_written(ini, "job", "frames"), "Frames") && !ini_key_written(ini, "env", "nope"),
	      "env: a key is kept as written and matched whatever its case");
	ini_free(ini);
	ini = parse("[env]\nFoo = 1\nFOO = 2\n", err);
	CHECK(!ini && strstr(err, "'FOO' in [env] is set twice"), "env: names differing only in case are refused (%s)",
	      ini ? "accepted" : err);
	ini_free(ini);
	struct job_desc jd, again;
	int rc = desc("[job]\nframes = 1\n[render]\nscene = a\n[env]\nMyVar = \"a #b\"\nOCIO = x\n", &jd, err);
	CHECK(rc == 0 && jd.env_names.n == 2 && !strcmp(jd.env_names.v[0], "MyVar") &&
		      !strcmp(jd.env_values.v[0], "a #b") && jd.warnings.n == 0,
	      "env: a job's [env] is read, names as written (%s)", rc ? err : "");
	if (rc < 0)
		return;
	struct buf b = {0};
	job_desc_format(&jd, &b);
	int rc2 = desc(b.data, &again, err);
	CHECK(rc2 == 0 && again.env_names.n == 2 && !strcmp(again.env_names.v[0], "MyVar") &&
		      !strcmp(again.env_values.v[0], "a #b"),
	      "env: [env] written back reads the same (%s)", rc2 ? err : "");
	if (rc2 == 0)
		job_desc_free(&again);
	buf_free(&b);
	struct package p = {0};
	snprintf(p.name, sizeof p.name, "pk");
	strlist_add(&p.env_names, "OCIO"), strlist_add(&p.env_values, "studio");
	strlist_add(&p.env_names, "PKG"), strlist_add(&p.env_values, "p");
	struct strlist out = {0};
	rc = env_merge(&p, &jd, &out, err, sizeof err);
	CHECK(rc == 0 && out.n == 3 && !strcmp(out.v[0], "OCIO=x") && !strcmp(out.v[1], "PKG=p") &&
		      !strcmp(out.v[2], "MyVar=a #b"),
	      "env: the package's values first, the job's over them (%s)", rc ? err : "");
	strlist_free(&out);
	strlist_add(&p.env_fixed, "OC*");
	rc = env_merge(&p, &jd, &out, err, sizeof err);
	CHECK(rc < 0 && strstr(err, "may not set OCIO: package pk fixes it"), "env: a fixed name is refused (%s)",
	      rc ? err : "merged");
	strlist_free(&out);
	strlist_free(&p.env_fixed);
	strlist_add(&jd.env_names, "PATH"), strlist_add(&jd.env_values, "/x");
	rc = env_merge(&p, &jd, &out, err, sizeof err);
	CHECK(rc < 0 && strstr(err, "env_path = yes"), "env: PATH only where the package allows it (%s)", rc ? err : "merged");
	strlist_free(&out);
	p.env_path = true;
	CHECK(env_merge(&p, &jd, &out, err, sizeof err) == 0 && out.n == 4, "env: ... and with env_path = yes");
	strlist_free(&out);
	/* a job.ini changed on disk after intake: the agent checks again */
	strlist_add(&jd.env_names, "LD_PRELOAD"), strlist_add(&jd.env_values, "/x.so");
	CHECK(env_merge(&p, &jd, &out, err, sizeof err) < 0 && strstr(err, "LD_PRELOAD"), "env: merging checks the names again");
	strlist_free(&out);
	job_desc_free(&jd);
	CHECK(!env_name_refused("LD_LIBRARY_PATH", ENV_FROM_PACKAGE) && env_name_refused("LD_PRELOAD", ENV_FROM_PACKAGE) &&
		      env_name_refused("HOTFARM_SLOT", ENV_FROM_PACKAGE) && env_name_refused("ld_library_path", ENV_FROM_JOB),
	      "env: a package may set its LD_LIBRARY_PATH, not the farm's own names");
	package_free(&p);
	const char *bad[][2] = {{"LD_PRELOAD = x", "may not set LD_PRELOAD"}, {"Hotfarm_Slot = x", "HOTFARM_"},
				{"TMPDIR = x", "TMPDIR"}, {"1A = x", "not an environment variable name"},
				{"A-B = x", "not an environment"}, {"a.b = x", "not an environment"}};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char text[256];
		snprintf(text, sizeof text, "[job]\nframes = 1\n[render]\nscene = a\n[env]\n%s\n", bad[i][0]);
		rc = desc(text, &jd, err);
		CHECK(rc < 0 && strstr(err, bad[i][1]) && strstr(err, "line 6"), "env: '%s' is refused (%s)", bad[i][0],
		      rc ? err : "accepted");
		if (rc == 0)
			job_desc_free(&jd);
	}
	struct buf big = {0}, many = {0};
	buf_printf(&big, "[job]\nframes = 1\n[render]\nscene = a\n[env]\n");
	buf_printf(&many, "%s", big.data);
	for (int i = 0; i < 17; i++)
		buf_printf(&big, "V%d = %0990d\n", i, i);
	for (int i = 0; i <= ENV_MAX_VARS; i++)
		buf_printf(&many, "V%d = %d\n", i, i);
	rc = desc(big.data, &jd, err);
	CHECK(rc < 0 && strstr(err, "more than 16384 bytes"), "env: the size is bounded (%s)", rc ? err : "accepted");
	if (rc == 0)
		job_desc_free(&jd);
	rc = desc(many.data, &jd, err);
	CHECK(rc < 0 && strstr(err, "more than 64 variables"), "env: the count is bounded (%s)", rc ? err : "accepted");
	if (rc == 0)
		job_desc_free(&jd);
	buf_free(&big);
	buf_free(&many);
}

static void test_numbers(void)
{
	long v;
	unsigned long long b;
	CHECK(parse_long("42", 0, 100, &v) && v == 42, "parse_long 42");
	CHECK(!parse_long("42x", 0, 100, &v) && !parse_long("", 0, 100, &v) && !parse_long("101", 0, 100, &v) &&
		      !parse_long("99999999999999999999", 0, 100, &v),
	      "parse_long refuses garbage, range, overflow");
	CHECK(parse_bytes("20G", &b) && b == 20ULL << 30, "parse_bytes 20G");
	CHECK(parse_bytes("512MiB", &b) && b == 512ULL << 20, "parse_bytes 512MiB");
	CHECK(!parse_bytes("-1", &b) && !parse_bytes("1X", &b) && !parse_bytes("99999999999999T", &b),
	      "parse_bytes refuses garbage and overflow");
	CHECK(parse_seconds("5m", 1000, &v) && v == 300, "parse_seconds 5m");
	CHECK(!parse_seconds("2h", 1000, &v), "parse_seconds over the limit");
}

static void host_set(struct host_record *h, const char *key, const char *value)
{
	strlist_add(&h->keys, key);
	strlist_add(&h->values, value);
}

static bool match(const struct host_record *h, const char *requires, char *why)
{
	char text[1024], err[512];
	snprintf(text, sizeof text, "[job]\nframes = 1\n[render]\nscene = a.pov\n%s\n[requires]\n%s\n",
		 strstr(requires, "package=") ? "package = blender" : "", strstr(requires, "package=") ? "" : requires);
	struct ini *ini = ini_parse(text, strlen(text), "job.ini", err, sizeof err);
	struct job_desc jd;
	if (!ini || job_desc_parse(ini, "job.ini", 100, &jd, err, sizeof err) < 0) {
		printf("# %s\n", err);
		ini_free(ini);
		return false;
	}
	*why = 0;
	bool ok = host_matches(h, &jd, why, 200);
	job_desc_free(&jd);
	ini_free(ini);
	return ok;
}

static void test_matching(void)
{
	struct host_record h = {0};
	host_set(&h, "os", "Linux");
	host_set(&h, "os_version", "6.1.0-13-amd64");
	host_set(&h, "cpus", "16");
	host_set(&h, "ram_mb", "32000");
	host_set(&h, "gpu", "nvidia:0x2204");
	strlist_add(&h.packages, "povray");
	strlist_add(&h.versions, "3.7.0.10");
	char why[200];
	CHECK(match(&h, "", why), "match: no requirements, package present");
	CHECK(match(&h, "version = 3.7.*", why), "match: version wildcard");
	CHECK(!match(&h, "version = 3.8.*", why) && !strcmp(why, "package povray 3.8.*"),
	      "match: wrong version says which (%s)", why);
	CHECK(match(&h, "os_version = 6.*\ngpu = nvidia*", why), "match: wildcards on host keys");
	CHECK(!match(&h, "gpu = amd*", why) && !strcmp(why, "gpu = amd*"), "match: a key that differs (%s)", why);
	CHECK(match(&h, "gpu = *", why), "match: * is don't care");
	CHECK(!match(&h, "license_key = *", why), "match: a key the host lacks does not match");
	CHECK(match(&h, "min_ram_mb = 32000\nmin_cpus = 16", why), "match: minimums met exactly");
	CHECK(!match(&h, "min_ram_mb = 32001", why) && !strcmp(why, "ram_mb >= 32001"), "match: RAM minimum (%s)",
	      why);
	CHECK(!match(&h, "min_cpus = 17", why) && !strcmp(why, "cpus >= 17"), "match: CPU minimum (%s)", why);
	CHECK(!match(&h, "package=", why) && !strcmp(why, "package blender"), "match: package absent (%s)", why);
	strlist_add(&h.packages, "blender");
	strlist_add(&h.versions, "3.4.1");
	CHECK(match(&h, "package=", why), "match: package present");
	host_free(&h);
	/* a host without a GPU records gpu = none */
	struct host_record nog = {0};
	host_set(&nog, "gpu", "none");
	strlist_add(&nog.packages, "povray");
	strlist_add(&nog.versions, "3.7.0.10");
	CHECK(!match(&nog, "gpu = *", why) && !strcmp(why, "a GPU (gpu = *)"), "match: gpu = * wants a GPU (%s)", why);
	CHECK(!match(&nog, "gpu = n*", why), "match: no pattern finds a GPU in none");
	CHECK(match(&nog, "gpu = none", why), "match: gpu = none asks for a host without one");
	host_free(&nog);
}

static void test_package(void)
{
	struct package p = {0};
	args_split("povray +I{scene} +O{output} +SF{frame} +W{width} x{frame4}y {args}", &p.argv, NULL, 0);
	struct strlist jargs = {0}, argv = {0};
	args_split("+A0.3 \"+L{files}/inc\"", &jargs, NULL, 0);
	struct render_vars v = {.scene = "/s/a.pov", .output = "/o/f.png", .files = "/f", .frame = 7,
				.width = 320, .height = 240, .args = &jargs};
	char err[200];
	int rc = package_argv(&p, &v, false, &argv, err, sizeof err);
	CHECK(rc == 0 && argv.n == 8 && !strcmp(argv.v[1], "+I/s/a.pov") && !strcmp(argv.v[3], "+SF7") &&
		      !strcmp(argv.v[5], "x0007y") && !strcmp(argv.v[6], "+A0.3") && !strcmp(argv.v[7], "+L/f/inc"),
	      "package: placeholders expand inside words, {args} becomes words");
	strlist_free(&argv);
	strlist_free(&p.argv);
	args_split("run {nosuch}", &p.argv, NULL, 0);
	CHECK(package_argv(&p, &v, false, &argv, err, sizeof err) < 0 && strstr(err, "{nosuch}"),
	      "package: an unknown placeholder is an error (%s)", err);
	strlist_free(&argv);
	strlist_free(&p.argv);
	/* a run: its own template, and each frame's file found by number */
	args_split("povray +SF{run_first} +EF{run_last}", &p.range_argv, NULL, 0);
	v.run_first = 5, v.run_last = 9;
	CHECK(package_argv(&p, &v, true, &argv, err, sizeof err) == 0 && argv.n == 3 && !strcmp(argv.v[1], "+SF5") &&
		      !strcmp(argv.v[2], "+EF9"),
	      "package: a range template gets the run's first and last frame");
	strlist_free(&argv);
	strlist_free(&p.range_argv);
	snprintf(p.range_file, sizeof p.range_file, "frame");
	CHECK(package_range_frame(&p, "frame07.png") == 7 && package_range_frame(&p, "frame0120.png") == 120 &&
		      package_range_frame(&p, "frame.png") == -1 && package_range_frame(&p, "other07.png") == -1 &&
		      package_range_frame(&p, "frame99999999999999.png") == -1,
	      "package: a run's frame files are told apart by their number");
	strlist_free(&jargs);
}

/* frameout: formats, a frame's names, extra output patterns, {format} */
static void test_frameout(void)
{
	char out[300], err[300];
	CHECK(frame_format_parse("exr-multilayer") == FORMAT_EXR_MULTILAYER && frame_format_parse("PNG16") == FORMAT_PNG16 &&
		      frame_format_parse("") < 0 && frame_format_parse("webp") < 0,
	      "frameout: format names parse, case aside; others do not");
	CHECK(frame_format_of_name("a_####.EXR") == FORMAT_EXR && frame_format_of_name("x.jpeg") == FORMAT_JPEG &&
		      frame_format_of_name("dir.exr/x") < 0 && frame_format_of_name("frame_####") < 0,
	      "frameout: an output name's extension implies its format");
	frame_name("f_####.exr", 7, out, sizeof out);
	CHECK(!strcmp(out, "f_0007.exr"), "frameout: #### becomes the frame, padded to four (%s)", out);
	frame_name("f_######.exr", 123, out, sizeof out);
	CHECK(!strcmp(out, "f_000123.exr"), "frameout: a longer run pads further (%s)", out);
	frame_name_as("frame_####", ".exr", 3, out, sizeof out);
	CHECK(!strcmp(out, "frame_0003.exr"), "frameout: the renderer's extension is added (%s)", out);
	frame_name_as("shots/x_####.png", ".jpg", 3, out, sizeof out);
	CHECK(!strcmp(out, "shots/x_0003.jpg"), "frameout: ... in place of the pattern's (%s)", out);
	frame_name_as("frame_####", "./../x", 3, out, sizeof out);
	CHECK(!strcmp(out, "frame_0003"), "frameout: an extension that is no extension is not taken (%s)", out);
	CHECK(frame_name_is("depth_####.exr", 12, "depth_0012.exr") && !frame_name_is("depth_####.exr", 12, "depth_0013.exr"),
	      "frameout: an extra output's file is told by its frame");
	CHECK(frame_pattern_check("depth_####.exr", err, sizeof err) == 0, "frameout: a plain pattern is fine");
	CHECK(frame_pattern_check("../x_####.exr", err, sizeof err) < 0 && strstr(err, "not a file name"),
	      "frameout: a pattern outside the frame's folder is refused (%s)", err);
	CHECK(frame_pattern_check(".x_####.exr", err, sizeof err) < 0, "frameout: a hidden name is refused");
	CHECK(frame_pattern_check("x_##_##.exr", err, sizeof err) < 0 && frame_pattern_check("x.exr", err, sizeof err) < 0,
	      "frameout: one run of # exactly");
	struct package p = {0};
	args_split("r {format} -f", &p.argv, NULL, 0);
	args_split("+FE", &p.formats[FORMAT_EXR], NULL, 0);
	p.has_format[FORMAT_EXR] = true;
	struct strlist argv = {0};
	struct render_vars v = {.format = FORMAT_EXR};
	CHECK(package_argv(&p, &v, false, &argv, err, sizeof err) == 0 && argv.n == 3 && !strcmp(argv.v[1], "+FE"),
	      "package: {format} becomes the format's words");
	strlist_free(&argv);
	v.format = FORMAT_SCENE;
	CHECK(package_argv(&p, &v, false, &argv, err, sizeof err) == 0 && argv.n == 2, "package: no format, no words");
	strlist_free(&argv);
	v.format = FORMAT_TIFF;
	CHECK(package_argv(&p, &v, false, &argv, err, sizeof err) < 0 && strstr(err, "cannot write format tiff") &&
		      !package_writes(&p, FORMAT_TIFF),
	      "package: a format it has no words for is refused (%s)", err);
	strlist_free(&argv);
	package_free(&p);
}

/* contact_holds: how many samples a contact sheet of that size shows */
static void test_contact_holds(void)
{
	CHECK(contact_holds(3 * 164, 124) == 3, "contact sheet: one row of three holds three");
	CHECK(contact_holds(8 * 164, 124) == 8, "contact sheet: one full row holds eight");
	CHECK(contact_holds(8 * 164, 2 * 124) == 9, "contact sheet: a second row holds at least nine");
	CHECK(contact_holds(1000, 124) < 0 && contact_holds(9 * 164, 124) < 0, "contact sheet: other sizes are none");
}

/* slots_want: concurrency sized to the renders */
static void test_slots_want(void)
{
	CHECK(slots_want(2, 1.0, 0, 0, 0, 8) == 2, "slots: CPU-bound renders, a slot per CPU");
	CHECK(slots_want(2, 1.01, 0, 0, 0, 8) == 2, "slots: ... measured a hair over one CPU, still one per CPU");
	CHECK(slots_want(2, 1.3, 0, 0, 0, 8) == 1, "slots: renders using 1.3 CPUs: fewer slots than CPUs");
	CHECK(slots_want(2, 0.25, 0, 0, 0, 8) == 8, "slots: renders idle 3/4 of their time, 4 per CPU");
	CHECK(slots_want(2, 0.01, 0, 0, 0, 8) == 8, "slots: never more than the most allowed");
	CHECK(slots_want(2, 2.0, 0, 0, 0, 8) == 1, "slots: a renderer using both CPUs gets one slot");
	CHECK(slots_want(2, 0.25, 10 << 20, 4 << 20, 0, 8) == 2, "slots: RAM for two renders of 4 GB in 10 GB free");
	CHECK(slots_want(2, 0.25, 10 << 20, 4 << 20, 3, 8) == 5, "slots: ... beside three already running");
	CHECK(slots_want(8, 1.0, 1 << 20, 4 << 20, 0, 8) == 1, "slots: at least one, even short of RAM");
}

/* ticket_parse: which frames of a ticket its notes show published */
static void test_ticket_parse(void)
{
	struct ticket t;
	const char *text = "frames = 7 8 9\nbilling = frame=7 ok=1 host=a.0 wall=1\nattempt = 1 a.0 x\n"
			   "billing = frame=8 ok=0 host=a.0\nbilling = frame=9 ok=1 host=b.0\nbilling = frame=9 ok=1 host=b.0\n";
	ticket_parse(text, &t);
	CHECK(t.nframes == 3 && t.frames[0] == 7 && t.frames[2] == 9 && t.npublished == 2 && t.published[0] &&
		      !t.published[1] && t.published[2],
	      "ticket_parse: 3 frames, 7 and 9 published (%zu, %zu)", t.nframes, t.npublished);
	ticket_free(&t);
	ticket_parse("billing = frame=1 ok=1\nframes = 1\n", &t);
	CHECK(t.nframes == 1 && t.npublished == 1, "ticket_parse: the frames line need not come first");
	ticket_free(&t);
	ticket_parse("nothing here\n", &t);
	CHECK(t.nframes == 0 && t.npublished == 0 && !t.frames, "ticket_parse: no frames line, no frames");
	ticket_free(&t);
	ticket_parse("frames = 3\n", &t);
	CHECK(t.nframes == 1 && t.frames[0] == 3, "ticket_parse: frames alone");
	ticket_free(&t);
	/* a peer's billing lines are hostile: absurd figures count 0 or are capped, the pool keeps its alphabet */
	ticket_parse("frames = 1\nbilling = frame=1 ok=0 host=x.0 wall=nan user=-5 sys=1e300 rss_kb=-1 bytes=-7 pool=a,b;rm\n"
		     "billing = frame=1 ok=1 host=x.0 wall=inf user=2 sys=0 rss_kb=99999999999 bytes=99999999999999999999\n"
		     "billing = frame=1 ok=1 host=x.0 wall=1 user=1 sys=1 rss_kb=1 bytes=1 pool=gpu\n",
		     &t);
	CHECK(t.nbills == 3 && t.bills[0].wall == 0 && t.bills[0].user == 0 && t.bills[0].sys == BILL_SECONDS_MAX &&
		      t.bills[0].rss_kb == 0 && t.bills[0].bytes == 0 && !strcmp(t.bills[0].pool, "a,b") &&
		      t.bills[1].wall == 0 && t.bills[1].bytes == BILL_BYTES_MAX && t.bills[1].rss_kb == (1L << 30) &&
		      !*t.bills[1].pool && !strcmp(t.bills[2].pool, "gpu") && t.npublished == 1,
	      "ticket_parse: hostile billing figures are zeroed or capped, pools kept to their alphabet");
	ticket_free(&t);
}

/* A package NAME.ini holding TEXT in CONF/packages (made by the caller),
 * loaded into P: package_load's return. */
static int rules_load(int conf, const char *name, const char *text, struct package *p, char *err, size_t errsize)
{
	char path[64];
	snprintf(path, sizeof path, "packages/%s.ini", name);
	int fd = openat(conf, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0)
		return -2;
	return package_load(conf, name, p, err, errsize);
}

/* [errors]: one pattern per value or several quoted, compiled at load; a
 * bad one refused naming file, line and key; the first rule to match;
 * licence waits double up to 10 minutes; licence notes on a ticket. */
static void test_rules(void)
{
	char root[] = "/tmp/hotfarm-unit-rules.XXXXXX", err[512] = "";
	if (!mkdtemp(root)) {
		CHECK(0, "rules: a temporary folder");
		return;
	}
	int conf = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mkdirat(conf, "packages", 0755);
	struct package p;
	const char *head = "[package]\nversion = 1\n[render]\nargv = true\n[errors]\n";
	char text[1024];
	snprintf(text, sizeof text, "%sfail = \"Parse Error\"\nretry = out of memory\n"
		 "licence = \"license .* unavailable\" \"no (licence|license) server\"\nlicence_wait = 2m\n", head);
	int rc = rules_load(conf, "r", text, &p, err, sizeof err);
	CHECK(rc == 0 && p.rules.patterns[RULE_FAIL].n == 1 && !strcmp(p.rules.patterns[RULE_FAIL].v[0], "Parse Error") &&
		      p.rules.patterns[RULE_RETRY].n == 1 && !strcmp(p.rules.patterns[RULE_RETRY].v[0], "out of memory") &&
		      p.rules.patterns[RULE_LICENCE].n == 2 &&
		      !strcmp(p.rules.patterns[RULE_LICENCE].v[1], "no (licence|license) server") && package_has_rules(&p),
	      "rules: a value is one pattern, blanks and all; quoted ones are several (%s)", err);
	const char *pat = NULL;
	CHECK(rc == 0 && package_rule_match(&p, "line 3: Parse Error: x\nout of memory\n", &pat) == RULE_FAIL &&
		      !strcmp(pat, "Parse Error"),
	      "rules: fail is tried first");
	CHECK(rc == 0 && package_rule_match(&p, "out of memory\nno license server\n", &pat) == RULE_LICENCE &&
		      !strcmp(pat, "no (licence|license) server"),
	      "rules: then licence, any of its patterns");
	CHECK(rc == 0 && package_rule_match(&p, "warning\nout of memory", &pat) == RULE_RETRY, "rules: then retry");
	CHECK(rc == 0 && package_rule_match(&p, "license x\n unavailable", &pat) == RULE_NONE && !pat,
	      "rules: . does not cross a line; nothing matched is RULE_NONE");
	long w[7];
	for (int i = 0; i < 7; i++)
		w[i] = rc == 0 ? package_licence_wait(&p, i) : 0;
	CHECK(w[0] == 120 && w[1] == 240 && w[2] == 480 && w[3] == 600 && w[6] == 600,
	      "rules: licence_wait 2m doubles up to 10 minutes (%ld %ld %ld %ld)", w[0], w[1], w[2], w[3]);
	if (rc == 0)
		package_free(&p);
	snprintf(text, sizeof text, "%sretry = x\n", head);
	rc = rules_load(conf, "d", text, &p, err, sizeof err);
	CHECK(rc == 0 && package_licence_wait(&p, 0) == 30 && package_licence_wait(&p, 1) == 60 &&
		      package_licence_wait(&p, 5) == 600,
	      "rules: the wait is 30 s, 1, 2, 4, 8 and 10 minutes by default");
	if (rc == 0)
		package_free(&p);
	snprintf(text, sizeof text, "%sretry = x\nfail = \"ok\" \"Parse (Error\"\n", head);
	rc = rules_load(conf, "bad", text, &p, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "conf/packages/bad.ini line 7: [errors] fail: 'Parse (Error' is not a regular expression"),
	      "rules: a bad pattern is refused naming file, line and key (%s)", err);
	snprintf(text, sizeof text, "%sretries = x\n", head);
	rc = rules_load(conf, "bad", text, &p, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "not 'retries'"), "rules: an unknown key is refused (%s)", err);
	snprintf(text, sizeof text, "%slicence_wait = soon\n", head);
	rc = rules_load(conf, "bad", text, &p, err, sizeof err);
	CHECK(rc == -1 && strstr(err, "licence_wait is a time"), "rules: a wait that is no time is refused (%s)", err);
	rc = rules_load(conf, "none", "[package]\nversion = 1\n[render]\nargv = true\n", &p, err, sizeof err);
	CHECK(rc == 0 && !package_has_rules(&p) && package_rule_match(&p, "Parse Error", &pat) == RULE_NONE,
	      "rules: a package without [errors] has none");
	if (rc == 0)
		package_free(&p);
	const char *names[] = {"packages/r.ini", "packages/d.ini", "packages/bad.ini", "packages/none.ini", "packages"};
	for (size_t i = 0; i < 5; i++)
		unlinkat(conf, names[i], i == 4 ? AT_REMOVEDIR : 0);
	close(conf);
	rmdir(root);

	struct ticket t;
	ticket_parse("frames = 1\nlicence = 1700000100 a.0 x\nlicence = garbage\nlicence = 1700000050 b.0 y\n", &t);
	CHECK(t.nlicences == 3 && t.licence_until == 1700000100 && t.nattempts == 0,
	      "ticket_parse: licence lines counted, the latest wait kept, none an attempt");
	ticket_free(&t);
}

/* owner_decide: the dropped files' user, never the claim; the farm's own
 * submitters believed; two users refused; a peer's job its site's. */
static void test_owner(void)
{
	struct spool sp = {.farm_uid = 0};
	struct job_owner o;
	char why[300] = "";
	uid_t one[2] = {1, 1}, two[2] = {1, 2}, farm[2] = {0, 0}, mixed[2] = {0, 1};
	int rc = owner_decide(&sp, one, 2, "bob", NULL, &o, why, sizeof why);
	CHECK(rc == 0 && o.uid == 1 && !strcmp(o.by, "file") && !strcmp(o.label, "bob") && strcmp(o.user, "bob"),
	      "owner: the files' uid, the claim a label (%s, label %s)", o.user, o.label);
	rc = owner_decide(&sp, two, 2, "", NULL, &o, why, sizeof why);
	CHECK(rc < 0 && strstr(why, "two users"), "owner: files of two users refused (%s)", why);
	rc = owner_decide(&sp, farm, 2, "ann", NULL, &o, why, sizeof why);
	CHECK(rc == 0 && !strcmp(o.user, "ann") && !strcmp(o.by, "submitter") && !*o.label,
	      "owner: the farm's user submits for ann");
	rc = owner_decide(&sp, mixed, 2, "ann", NULL, &o, why, sizeof why);
	CHECK(rc == 0 && o.uid == 1 && !strcmp(o.by, "file"), "owner: one file the farm's, one a user's: the user's");
	rc = owner_decide(&sp, one, 1, "ann", "studio-b", &o, why, sizeof why);
	CHECK(rc == 0 && !strcmp(o.user, "site:studio-b") && !strcmp(o.label, "ann") && o.uid == -1,
	      "owner: a peer's job is site:studio-b (ann)");
	struct buf b = {0};
	owner_format(&o, &b);
	struct ini *ini = b.data ? ini_parse(b.data, b.len, "owner", why, sizeof why) : NULL;
	const char *u = ini ? ini_get(ini, "owner", "user") : NULL, *l = ini ? ini_get(ini, "owner", "label") : NULL;
	CHECK(u && l && !strcmp(u, "site:studio-b") && !strcmp(l, "ann") && !strcmp(ini_get(ini, "owner", "by"), "site"),
	      "owner: written as an [owner] section that reads back");
	ini_free(ini);
	buf_free(&b);
}

int main(void)
{
	test_owner();
	test_audit_writers();
	test_audit_file();
	test_json();
	test_events_writers();
	test_events_file();
	test_nimby();
	test_job_remove_crash();
	test_store();
	test_attempt_renew();
	test_ticket_claim_race();
	test_ticket_file();
	test_entry_and_finish();
	test_find_and_deps();
	test_billing_cancelled();
	test_open_beneath();
	test_slots_want();
	test_contact_holds();
	test_ticket_parse();
	test_matching();
	test_package();
	test_rules();
	test_frameout();
	test_frames();
	test_samples();
	test_names();
	test_ini();
	test_desc();
	test_desc_written_back();
	test_env();
	test_numbers();
	printf("1..%d\n", unit_n);
	return unit_failed ? 1 : 0;
}
