/* unit.c - unit tests of the layout library: frame lists, samples-first
 * order, names, entry names, the .ini guard, number parsing, and the calls
 * that change state on a real spool in a temporary folder (ticket claims
 * raced by several processes, entry moves, a job's end, the open seam). Built plain
 * and under ASan+UBSan; prints TAP. */
#define _GNU_SOURCE
#include "../layout/host.h"
#include "../layout/ini.h"
#include "../layout/package.h"
#include "../layout/jobdesc.h"
#include "../layout/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int n, failed;

#define CHECK(cond, ...)                                                             \
	do {                                                                         \
		n++;                                                                 \
		if (cond)                                                            \
			printf("ok %d - ", n);                                       \
		else {                                                               \
			printf("not ok %d - ", n);                                   \
			failed++;                                                    \
		}                                                                    \
		printf(__VA_ARGS__);                                                 \
		printf("\n");                                                        \
	} while (0)

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
	return ini_parse(text, strlen(text), "job.ini", err, 512);
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
}

/* A spool in a temporary folder with job NAME queued: frames 1..NFRAMES
 * as one ticket each in todo/. Returns the job's folder. */
static int state_spool(struct spool *sp, char root[64], const char *name, int nframes)
{
	snprintf(root, 64, "/tmp/hf-unit.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	struct strlist made = {0};
	char err[512], path[128];
	sync_writes = false;
	if (spool_init(root, NULL, &made, err, sizeof err) < 0 || spool_open(root, sp, err, sizeof err) < 0)
		return -1;
	strlist_free(&made);
	snprintf(path, sizeof path, "%s/frames", name);
	int jobs = spool_fd(sp, DIR_JOBS);
	if (mkdirat(jobs, name, 0755) < 0 || mkdirat(jobs, path, 0755) < 0)
		return -1;
	for (int s = 0; s < TICKET_COUNT; s++) {
		snprintf(path, sizeof path, "%s/frames/%s", name, ticket_dir_name(s));
		mkdirat(jobs, path, 0755);
	}
	int jfd = job_dir_open(sp, name);
	for (long f = 1; f <= nframes; f++) {
		char t[64];
		ticket_format(t, f - 1, f, f);
		ticket_create(jfd, t, &f, 1);
	}
	struct job_status st = {0};
	snprintf(st.state, sizeof st.state, "queued");
	st.frames_total = nframes;
	job_status_write(jfd, &st);
	char entry[ENTRY_MAX_LEN];
	entry_format(entry, 500, 1, name);
	int q = state_fd(sp, STATE_QUEUED);
	int fd = openat(q, entry, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0)
		close(fd);
	return jfd;
}

static void state_spool_drop(struct spool *sp, const char *root)
{
	spool_close(sp);
	tree_remove(AT_FDCWD, root);
}

/* Eight processes claim the same ticket at once: one wins, the others are
 * told ENOENT, and the ticket is in active/ once, under the winner. */
static void test_ticket_claim_race(void)
{
	struct spool sp;
	char root[64];
	int jfd = state_spool(&sp, root, "race", 1);
	char t[64];
	ticket_format(t, 0, 1, 1);
	pid_t pids[8];
	for (int i = 0; i < 8; i++) {
		if ((pids[i] = fork()) == 0) {
			char owner[32];
			snprintf(owner, sizeof owner, "host%d.0", i);
			int rc = ticket_claim(jfd, t, owner);
			_exit(rc == 0 ? 0 : errno == ENOENT ? 1 : 2);
		}
	}
	int won = 0, lost = 0;
	for (int i = 0; i < 8; i++) {
		int st;
		waitpid(pids[i], &st, 0);
		won += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		lost += WIFEXITED(st) && WEXITSTATUS(st) == 1;
	}
	struct strlist active = {0};
	dir_names(jfd, "frames/active", &active);
	CHECK(won == 1 && lost == 7, "ticket_claim: of 8 racing claimants one wins, 7 get ENOENT (%d, %d)", won, lost);
	CHECK(active.n == 1 && tickets_none(jfd, TICKET_TODO) == 1, "and the ticket is in active/ once (%zu), not in todo/",
	      active.n);
	char owner[128] = "";
	long first = 0;
	CHECK(active.n == 1 && ticket_name_parse(active.v[0], NULL, &first, NULL, owner) && first == 1 &&
		      !strncmp(owner, "host", 4),
	      "under the winner's name (%s)", active.n ? active.v[0] : "none");
	strlist_free(&active);
	close(jfd);
	state_spool_drop(&sp, root);
}

/* A ticket's life on disk: claimed, a failed try noted, billed, returned,
 * finished; what ticket_load reads back at each step. */
static void test_ticket_file(void)
{
	struct spool sp;
	char root[64];
	int jfd = state_spool(&sp, root, "life", 2);
	char t[64];
	ticket_format(t, 0, 1, 1);
	struct ticket k;
	CHECK(ticket_load(jfd, TICKET_TODO, t, &k) == 0 && k.nframes == 1 && k.frames[0] == 1 && k.nattempts == 0,
	      "ticket_create writes the frames line ticket_load reads");
	ticket_free(&k);
	CHECK(ticket_claim(jfd, t, "h.0") == 0, "ticket_claim takes it");
	CHECK(ticket_note_attempt(jfd, t, "h.0", 1, "exit 1\nsecond line") == 0, "an attempt is noted");
	char held[128];
	snprintf(held, sizeof held, "%s@h.0", t);
	CHECK(ticket_load(jfd, TICKET_ACTIVE, held, &k) == 0 && k.nattempts == 1 && k.attempts[0].n == 1 &&
		      !strcmp(k.attempts[0].owner, "h.0") && !strcmp(k.attempts[0].text, "1 h.0 exit 1 second line"),
	      "read back: try 1 on h.0, its newline made a space (%s)", k.nattempts ? k.attempts[0].text : "none");
	ticket_free(&k);
	CHECK(ticket_return(jfd, held) == 0 && tickets_none(jfd, TICKET_ACTIVE) == 1,
	      "ticket_return: nothing published, back to todo/");
	CHECK(ticket_claim(jfd, t, "h.1") == 0, "claimed again");
	struct ticket_bill b = {.frame = 1, .ok = true, .wall = 1.5, .user = 1, .sys = 0.25, .rss_kb = 1000, .bytes = 42};
	snprintf(b.owner, sizeof b.owner, "h.1");
	CHECK(ticket_note_billing(jfd, t, &b) == 0, "a published frame is billed");
	snprintf(held, sizeof held, "%s@h.1", t);
	CHECK(ticket_load(jfd, TICKET_ACTIVE, held, &k) == 0 && k.nbills == 1 && k.npublished == 1 && k.published[0] &&
		      k.bills[0].wall == 1.5 && k.bills[0].bytes == 42 && k.nattempts == 1,
	      "read back: frame 1 published, its figures, the earlier attempt kept");
	ticket_free(&k);
	CHECK(ticket_return(jfd, held) == 0 && tickets_none(jfd, TICKET_DONE) == 0,
	      "ticket_return of a ticket whose frames are all published: to done/, not rendered again");
	CHECK(ticket_claim(jfd, t, "h.2") < 0 && errno == ENOENT, "a settled ticket cannot be claimed (ENOENT)");
	long r = 0, f = 0, l = 0;
	char o[128];
	CHECK(ticket_name_parse("000003-0000007-0000009@h.0", &r, &f, &l, o) && r == 3 && f == 7 && l == 9 &&
		      !strcmp(o, "h.0"),
	      "ticket_name_parse: a chunk held by h.0");
	CHECK(ticket_name_parse("000001-0000004", &r, &f, &l, o) && f == 4 && l == 4 && !*o,
	      "ticket_name_parse: one frame, nobody's");
	CHECK(!ticket_name_parse("x-1", NULL, NULL, NULL, NULL) && !ticket_name_parse("1-2junk", NULL, NULL, NULL, NULL) &&
		      !ticket_name_parse("-1-2", NULL, NULL, NULL, NULL),
	      "ticket_name_parse: refuses what is not a ticket name");
	close(jfd);
	state_spool_drop(&sp, root);
}

/* Entries move by one rename; a job ends once, when its last ticket is. */
static void test_entry_and_finish(void)
{
	struct spool sp;
	char root[64];
	int jfd = state_spool(&sp, root, "fin", 2);
	char entry[ENTRY_MAX_LEN];
	CHECK(job_find(&sp, "fin", entry) == STATE_QUEUED, "the job is queued");
	CHECK(entry_move(&sp, STATE_QUEUED, entry, STATE_HELD, NULL) == 0 && job_find(&sp, "fin", entry) == STATE_HELD,
	      "entry_move: queue/ to held/");
	CHECK(entry_move(&sp, STATE_QUEUED, entry, STATE_HELD, NULL) < 0 && errno == ENOENT,
	      "a second mover from queue/ is told ENOENT");
	entry_move(&sp, STATE_HELD, entry, STATE_QUEUED, NULL);
	CHECK(job_try_finish(&sp, "fin") == 0 && job_find(&sp, "fin", entry) == STATE_QUEUED,
	      "job_try_finish: tickets left, the job stays queued");
	for (long f = 1; f <= 2; f++) {
		char t[64];
		ticket_format(t, f - 1, f, f);
		ticket_claim(jfd, t, "h.0");
		struct ticket_bill b = {.frame = f, .ok = true, .wall = 2};
		snprintf(b.owner, sizeof b.owner, "h.0");
		ticket_note_billing(jfd, t, &b);
		ticket_finish(jfd, t, "h.0", TICKET_DONE);
	}
	CHECK(job_try_finish(&sp, "fin") == 1 && job_find(&sp, "fin", entry) == STATE_DONE,
	      "job_try_finish: all tickets done, the entry is in done/");
	struct job_status st;
	CHECK(job_status_read(jfd, &st) == 0 && !strcmp(st.state, "done") && st.frames_done == 2,
	      "status.ini says done with 2 frames (%s)", st.state);
	job_status_free(&st);
	size_t len;
	char *bill = file_read_small(jfd, "billing.ini", 4096, &len);
	CHECK(bill && strstr(bill, "frames = 2") && strstr(bill, "wall_seconds = 4.000"),
	      "billing.ini sums the tickets' billing lines");
	free(bill);
	CHECK(job_try_finish(&sp, "fin") == 0, "a second finisher finds nothing to do");
	close(jfd);
	state_spool_drop(&sp, root);
}

/* The open seam: beneath its folder, through no link, never blocking. */
static void test_open_beneath(void)
{
	char root[64] = "/tmp/hf-unit.XXXXXX";
	if (!mkdtemp(root))
		return;
	int d = open(root, O_RDONLY | O_DIRECTORY);
	mkdirat(d, "a", 0755);
	mkdirat(d, "a/b", 0755);
	int fd = openat(d, "a/b/f", O_WRONLY | O_CREAT, 0644);
	close(fd);
	symlinkat("a", d, "link");
	mkfifoat(d, "a/fifo", 0644);
	fd = open_beneath(d, "a/b/f", O_RDONLY, 0);
	CHECK(fd >= 0, "open_beneath opens a file two folders down");
	if (fd >= 0)
		close(fd);
	CHECK(open_beneath(d, "link/b/f", O_RDONLY, 0) < 0, "but not through a symlinked folder");
	CHECK(open_beneath(d, "a/../../etc/passwd", O_RDONLY, 0) < 0, "nor up out of its folder");
	CHECK(open_regular(d, "a/fifo", O_RDONLY) < 0 && errno == EINVAL, "open_regular refuses a FIFO without blocking");
	CHECK(dir_open(d, "link") == NULL, "dir_open does not follow a link");
	/* locks: a FIFO in a lock's place is refused at once, a lock held
	 * elsewhere is given up on at the deadline */
	mkfifoat(d, "fifo.lock", 0644);
	int64_t t0 = mono_us();
	CHECK(lock_open(d, "fifo.lock", 5000) < 0 && errno == EINVAL && mono_us() - t0 < 1000000,
	      "lock_open refuses a FIFO without blocking");
	int held = lock_open(d, "status.lock", 1000);
	CHECK(held >= 0, "lock_open takes a free lock");
	pid_t pid = fork();
	if (pid == 0) {
		int64_t t1 = mono_us();
		int fd2 = lock_open(d, "status.lock", 200);
		int64_t took = mono_us() - t1;
		_exit(fd2 < 0 && errno == ETIMEDOUT && took >= 200000 && took < 10000000 ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a lock held elsewhere is given up on at its deadline (ETIMEDOUT)");
	close(held);
	held = lock_open(d, "status.lock", 200);
	CHECK(held >= 0, "and taken once it is let go");
	if (held >= 0)
		close(held);
	close(d);
	tree_remove(AT_FDCWD, root);
}

/* A render's folder serves the next renderer: whatever the last one left
 * (hidden files, a FIFO, a link, a tree, files in out/ and tmp/) goes,
 * nothing beyond the link is followed, out/ and tmp/ are made again. */
static void test_attempt_renew(void)
{
	char root[64] = "/tmp/hf-unit.XXXXXX";
	if (!mkdtemp(root))
		return;
	int job = open(root, O_RDONLY | O_DIRECTORY);
	mkdirat(job, "keep", 0755);
	close(openat(job, "keep/precious", O_WRONLY | O_CREAT, 0644));
	int out = -1;
	char name[NAME_MAX + 1];
	job_temp_name(name, sizeof name, "h.0", 1, 1);
	int a = job_attempt_make(job, name, (uid_t)-1, (gid_t)-1, &out);
	CHECK(a >= 0 && out >= 0, "an attempt folder is made");
	close(out);
	close(openat(a, ".hidden", O_WRONLY | O_CREAT, 0644));
	close(openat(a, "out/frame.png", O_WRONLY | O_CREAT, 0644));
	close(openat(a, "tmp/x", O_WRONLY | O_CREAT, 0644));
	mkfifoat(a, "fifo", 0644);
	mkdirat(a, "deep", 0755);
	mkdirat(a, "deep/er", 0755);
	char keep[128];
	snprintf(keep, sizeof keep, "%s/keep", root);
	symlinkat(keep, a, "link");
	struct strlist names = {0};
	CHECK(dir_entries(a, &names) == 0 && names.n == 6, "dir_entries lists hidden names, not . and .. (%zu)", names.n);
	strlist_free(&names);
	CHECK(job_attempt_renew(a, (uid_t)-1, (gid_t)-1, &out) == 0 && out >= 0, "job_attempt_renew empties it");
	close(out);
	CHECK(dir_entries(a, &names) == 0 && names.n == 2, "and it holds out/ and tmp/ only (%zu)", names.n);
	strlist_free(&names);
	struct stat st;
	CHECK(fstatat(a, "out", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
		  dir_entries(a, &names) == 0, "out/ is a folder again");
	strlist_free(&names);
	int o = openat(a, "out", O_RDONLY | O_DIRECTORY);
	CHECK(o >= 0 && dir_entries(o, &names) == 0 && names.n == 0, "an empty one");
	strlist_free(&names);
	if (o >= 0)
		close(o);
	CHECK(fstatat(job, "keep/precious", &st, 0) == 0, "what the link pointed at is left alone");
	close(a);
	close(job);
	tree_remove(AT_FDCWD, root);
}

int main(void)
{
	test_attempt_renew();
	test_ticket_claim_race();
	test_ticket_file();
	test_entry_and_finish();
	test_open_beneath();
	test_slots_want();
	test_contact_holds();
	test_ticket_parse();
	test_matching();
	test_package();
	test_frames();
	test_samples();
	test_names();
	test_ini();
	test_desc();
	test_desc_written_back();
	test_numbers();
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
