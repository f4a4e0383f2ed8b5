/* confine.c - hf-confine: run one program (a render, or one an admin wants to try) confined to a job folder, as
 * wrapper/sandbox.c builds it; says on stderr (the frame log) what it allowed. Exit 100 usage, 111 set-up. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

extern char **environ;

static _Noreturn void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "hf-confine: fatal: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(111);
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: hf-confine --root DIR [--files DIR] [--ro PATH]... [--rw PATH]... [--cpu SECONDS]\n"
		"                  [--mem BYTES] [--fsize BYTES] [--user NAME] [--network] -- PROGRAM ARGS...\n"
		"Run PROGRAM confined: it may read the system's program and library folders\n"
		"(and each --ro PATH), read and write DIR (and each --rw PATH), nothing else;\n"
		"an absolute path it opens that the job shipped a copy of in --files (read-only;\n"
		"DIR/files when not given) opens that copy;\n"
		"no sockets (but socketpair) unless --network, and no TCP, signals or abstract\n"
		"sockets out of it where the kernel's Landlock can say so; no io_uring, ptrace,\n"
		"mounts, namespaces, bpf, perf, keyrings or modules; no new privileges; the\n"
		"limits given. As root, --user runs it as that user.\n"
		"Exit: the program's; 100 usage; 111 confinement could not be set up.\n");
	exit(code);
}

static unsigned long long number(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		fail("%s must be a whole number, not '%s'", what, s);
	switch (*end) {
	case 'K': v <<= 10, end++; break;
	case 'M': v <<= 20, end++; break;
	case 'G': v <<= 30, end++; break;
	}
	if (*end)
		fail("%s must be a whole number (K, M, G allowed), not '%s'", what, s);
	return v;
}

/* The command line into REQ; the program's argv (from PROGRAM on) is returned. */
static char **confine_parse_args(int argc, char **argv, struct sandbox_request *req)
{
	static const struct option opts[] = {
		{"root", required_argument, 0, 'r'}, {"ro", required_argument, 0, 'o'},
		{"rw", required_argument, 0, 'w'},   {"cpu", required_argument, 0, 'c'},
		{"files", required_argument, 0, 'F'}, {"mem", required_argument, 0, 'm'},
		{"fsize", required_argument, 0, 'f'}, {"user", required_argument, 0, 'u'},
		{"network", no_argument, 0, 'n'},    {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	*req = (struct sandbox_request){0};
	int c;
	/* "+": options end at PROGRAM, whose own options are its business */
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'r': req->root = optarg; break;
		case 'F': req->files = optarg; break;
		case 'o':
			if (req->nro == SANDBOX_PATHS)
				fail("at most %d --ro", SANDBOX_PATHS);
			req->ro[req->nro++] = optarg;
			break;
		case 'w':
			if (req->nrw == SANDBOX_PATHS)
				fail("at most %d --rw", SANDBOX_PATHS);
			req->rw[req->nrw++] = optarg;
			break;
		case 'c': req->cpu = number(optarg, "--cpu"); break;
		case 'm': req->mem = number(optarg, "--mem"); break;
		case 'f': req->fsize = number(optarg, "--fsize"); break;
		case 'u': req->user = optarg; break;
		case 'n': req->network = true; break;
		case 'h': usage(0); break;
		default: usage(100);
		}
	}
	if (!req->root || optind >= argc)
		usage(100);
	req->program = argv[optind];
	return argv + optind;
}

/* The I/O wrapper beside this program, into LIB. */
static const char *confine_wrapper(char *lib, size_t libsize)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	*strrchr(self, '/') = 0;
	snprintf(lib, libsize, "%s/libhfwrap.so", self);
	return lib;
}

int main(int argc, char **argv)
{
	struct sandbox_request req;
	char **program = confine_parse_args(argc, argv, &req);
	char lib[4200], err[512];
	req.wrapper = confine_wrapper(lib, sizeof lib);
	struct sandbox sb;
	if (sandbox_build(&req, &sb, err, sizeof err) < 0)
		fail("%s", err);
	char **env = sandbox_env(&sb, environ);
	if (!env)
		fail("out of memory");
	fprintf(stderr, "%s\n", sandbox_said(&sb));
	fflush(stderr);
	const char *step = "?";
	if (sandbox_enter(&sb, &step) < 0)
		fail("%s: %s", step, strerror(errno));
	execvpe(program[0], program, env);
	fail("unable to run %s: %s", program[0], strerror(errno));
}
