/* fuzzspool.h - what the fuzz targets that need a spool share: a throwaway
 * spool made once at start-up and removed at exit, and a name counter. */
#include <sys/resource.h>

static char spool_path[4096];
static struct spool *fuzz_sp;

static void spool_remove(void)
{
	spool_close(fuzz_sp);
	char *slash = strrchr(spool_path, '/');
	*slash = 0;
	int parent = open(spool_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent >= 0)
		tree_remove(parent, slash + 1);
}

/* Makes $TMPDIR/hf-NAME.XXXXXX a spool whose conf/hotfarm.ini is CONF,
 * opens it into INTO and removes it at exit. Files are capped at 4 MiB: with
 * the spool's limits at 1 MiB, a file of 4 (a sparse entry, a size that
 * lied, a delta that repeats its basis) means a limit was not kept, and
 * SIGXFSZ makes that a crash. */
static void fuzz_spool(const char *name, struct spool *into, const char *conf)
{
	const char *t = getenv("TMPDIR");
	snprintf(spool_path, sizeof spool_path, "%s/hf-%s.XXXXXX", t && *t ? t : "/tmp", name);
	char err[1024] = "";
	if (!mkdtemp(spool_path) || spool_init(spool_path, HOTFARM_CONFDIR, NULL, err, sizeof err) < 0) {
		fprintf(stderr, "%s: cannot make a spool in %s: %s\n", name, spool_path, err);
		abort();
	}
	char confdir[4200];
	snprintf(confdir, sizeof confdir, "%s/conf", spool_path);
	int cfd = open(confdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0 || file_write_atomic(cfd, "hotfarm.ini", conf, strlen(conf), 0644) < 0 ||
	    spool_open(spool_path, into, err, sizeof err) < 0) {
		fprintf(stderr, "%s: cannot set up %s: %s\n", name, spool_path, err);
		abort();
	}
	close(cfd);
	fuzz_sp = into;
	atexit(spool_remove);
	struct rlimit fsize = {4 << 20, 4 << 20};
	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0)
		abort();
}

/* How many names PATH under DIRFD holds (with . and ..; 0 when it cannot
 * be read). */
static int count_names(int dirfd, const char *path)
{
	DIR *d = dir_open(dirfd, path);
	int n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}
