/* push.c - hf-sync's sending side: each file of sites/PEER/out/ offered to
 * the peer (with its manifest of members, a job package's files by hash),
 * sent as a librsync delta against the signature the peer answers, and
 * removed from out/ only once the peer acknowledged it whole. */
#define _GNU_SOURCE
#include "sync.h"
#include "../../layout/events.h"
#include "../../layout/site.h"

#include <errno.h>
#include <fcntl.h>
#include <librsync.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The package as the delta reads it: its bytes less the members the peer
 * holds ('h' in HAVE), which it puts back from its own store. */
struct residual {
	int fd;
	const struct manifest *m;
	const char *have;
	size_t next; /* the next member that may be held */
	unsigned long long pos, size;
};

static ssize_t residual_read(void *cookie, char *buf, size_t n)
{
	struct residual *r = cookie;
	unsigned long long limit = r->size;
	for (; r->have && r->next < r->m->n; r->next++) {
		const struct member *e = &r->m->v[r->next];
		if (r->have[r->next] != 'h')
			continue;
		if (e->offset > r->pos) {
			limit = e->offset;
			break;
		}
		if (e->offset == r->pos)
			r->pos += e->size;
	}
	if (r->pos >= limit)
		return 0;
	if (n > limit - r->pos)
		n = (size_t)(limit - r->pos);
	ssize_t got = pread(r->fd, buf, n, (off_t)r->pos);
	if (got > 0)
		r->pos += (unsigned long long)got;
	return got;
}

/* The peer's answer to an offer: which members it holds (version 2). */
static int have_recv(struct wire *w, const struct manifest *m, char **have, char *buf)
{
	*have = NULL;
	if (w->version < 2)
		return 0;
	char type;
	size_t n;
	if (frame_recv(w, &type, buf, &n) < 0)
		return -1;
	if (type == F_NAK) {
		warn("the peer refused the offer: %.200s", buf);
		return -1;
	}
	if (type != F_HAVE || (n && n != m->n) || strspn(buf, "hb-") != n) {
		warn("the peer answered an offer of %zu members with '%c' of %zu bytes", m->n, type, n);
		return -1;
	}
	if (n)
		*have = xstrdup(buf);
	return 0;
}

/* The peer's signature in SIG, checked: of a kind we accept, or empty. */
static int delta_make(struct wire *w, FILE *sig, FILE *f, const struct manifest *m, const char *have,
		      unsigned long long size, char *buf)
{
	FILE *delta = tmpfile();
	int rc = -1;
	if (!delta || stream_recv(w, sig, F_SIG, F_SIG_END, 64ULL << 20, buf) < 0)
		goto out;
	struct stat sst;
	fstat(fileno(sig), &sst);
	if (sst.st_size == 0) { /* the peer has it already: it answers without a delta */
		rc = frame_send(w, F_DELTA_END, NULL, 0);
		goto out;
	}
	unsigned char mg[4];
	if (fread(mg, 1, 4, sig) != 4)
		goto out;
	unsigned magic = (unsigned)mg[0] << 24 | (unsigned)mg[1] << 16 | (unsigned)mg[2] << 8 | mg[3];
	if (magic != RS_BLAKE2_SIG_MAGIC && magic != RS_RK_BLAKE2_SIG_MAGIC) {
		warn("the peer sent a signature of kind %08x; only BLAKE2 ones are accepted", magic);
		goto out;
	}
	rewind(sig);
	rs_signature_t *sums;
	if (rs_loadsig_file(sig, &sums, NULL) != RS_DONE || rs_build_hash_table(sums) != RS_DONE)
		goto out;
	struct residual res = {.fd = fileno(f), .m = m, .have = have, .size = size};
	FILE *in = fopencookie(&res, "r", (cookie_io_functions_t){.read = residual_read});
	rs_result r = in ? rs_delta_file(sums, in, delta, NULL) : RS_IO_ERROR;
	if (in)
		fclose(in);
	rs_free_sumset(sums);
	if (r == RS_DONE && stream_send(w, delta, F_DELTA, F_DELTA_END) == 0)
		rc = 0;
out:
	if (delta)
		fclose(delta);
	return rc;
}

static int send_file(struct wire *w, int outdir, const char *name, char *buf)
{
	FILE *f = file_open_at(outdir, name), *sig = tmpfile();
	struct stat st;
	char hex[65];
	struct manifest m = {0};
	char *have = NULL;
	int rc = -1;
	if (!f || !sig || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    manifest_build(f, w->version >= 2 && has_suffix(name, SITE_JOB) ? name : NULL, &m, hex) < 0)
		goto out;
	snprintf(buf, FRAME_MAX, "%s %lld %s", name, (long long)st.st_size, hex);
	if (frame_send(w, F_OFFER, buf, strlen(buf)) < 0 || (w->version >= 2 && manifest_send(w, &m, buf) < 0) ||
	    have_recv(w, &m, &have, buf) < 0 ||
	    delta_make(w, sig, f, &m, have, (unsigned long long)st.st_size, buf) < 0)
		goto out;
	char type;
	size_t n;
	if (frame_recv(w, &type, buf, &n) < 0)
		goto out;
	char want[300];
	snprintf(want, sizeof want, "%s %s", name, hex);
	if (type != F_ACK || strcmp(buf, want)) {
		char shown[300];
		text_escape(buf, shown, sizeof shown);
		warn("the peer did not take %s: %s", name, shown);
		goto out;
	}
	rc = 0;
	/* acknowledged: only now does it leave out/ (unless it changed) */
	struct stat now;
	if (fstatat(outdir, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino &&
	    now.st_size == st.st_size && now.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
		unlinkat(outdir, name, 0);
out:
	if (f)
		fclose(f);
	if (sig)
		fclose(sig);
	free(have);
	manifest_free(&m);
	return rc;
}

/* The transport to PEER started, its stdin and stdout in W; its pid. */
static pid_t transport_start(const char *peer, const char *transport, struct wire *w)
{
	struct strlist argv = {0};
	char err[256];
	if (args_split(transport, &argv, err, sizeof err) < 0 || !argv.n)
		die(EXIT_BADINPUT, "[site %s] transport: %s", peer, argv.n ? err : "empty");
	strlist_take(&argv, NULL);
	int to[2], from[2];
	if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0)
		die_errno(EXIT_TEMPFAIL, "pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, to[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from[1], 1);
	pid_t pid;
	int e = posix_spawnp(&pid, argv.v[0], &fa, NULL, argv.v, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(to[0]), close(from[1]);
	argv.n--;
	strlist_free(&argv);
	if (e) {
		errno = e;
		die_errno(EXIT_TEMPFAIL, "unable to run the transport to %s", peer);
	}
	*w = (struct wire){.in = from[0], .out = to[1], .version = 2};
	return pid;
}

/* Every file of sites/PEER/out/ in name order, until one fails (the
 * stream is then in an unknown state: the rest goes next time). */
static int push_files(const struct spool *sp, const char *peer, struct wire *w, char *buf, int *failed)
{
	int sent = 0;
	int outdir = site_dir_open(sp, peer, SITE_OUT);
	struct strlist all = {0}, names = {0};
	if (outdir >= 0)
		dir_names(outdir, ".", &all);
	for (size_t i = 0; i < all.n; i++)
		if (site_file_name_ok(all.v[i]))
			strlist_add(&names, all.v[i]);
	strlist_free(&all);
	strlist_sort(&names);
	for (size_t i = 0; i < names.n && !*failed; i++) {
		if (send_file(w, outdir, names.v[i], buf) < 0)
			(*failed)++;
		else
			sent++;
	}
	strlist_free(&names);
	if (!*failed)
		frame_send(w, F_QUIT, NULL, 0);
	if (outdir >= 0)
		close(outdir);
	return sent;
}

static int push_peer(const struct spool *sp, const char *peer, const char *transport)
{
	struct wire w;
	pid_t pid = transport_start(peer, transport, &w);
	char *buf = xmalloc(FRAME_MAX + 1);
	char hello[128], type;
	const char *name;
	size_t n;
	snprintf(hello, sizeof hello, "%s %s", SYNC_VERSION, sp->conf.name);
	int sent = 0, failed = 0;
	if (frame_send(&w, F_HELLO, hello, strlen(hello)) < 0 || frame_recv(&w, &type, buf, &n) < 0 ||
	    type != F_HELLO || !(w.version = hello_parse(buf, &name))) {
		warn("%s does not answer as a hotfarm site", peer);
		events_link(sp, peer, false, "it does not answer as a hotfarm site");
		failed = 1;
	} else {
		events_link(sp, peer, true, NULL);
		sent = push_files(sp, peer, &w, buf, &failed);
	}
	close(w.out), close(w.in);
	int status;
	waitpid(pid, &status, 0);
	printf("%s: %d file%s sent, %llu bytes on the wire out, %llu in%s\n", peer, sent, sent == 1 ? "" : "s", w.sent,
	       w.received, failed ? " (interrupted: the rest goes next time)" : "");
	if (site_traffic_add(sp, peer, w.sent, w.received) < 0)
		warn("unable to count the bytes on the wire with %s: %s", peer, strerror(errno));
	free(buf);
	return failed ? EXIT_TEMPFAIL : EXIT_OK;
}

int push_all(const struct spool *sp, const char *peer)
{
	int rc = EXIT_OK, linked = 0;
	for (int i = 0; i < sp->conf.nlinks; i++) {
		const struct site_link *l = &sp->conf.links[i];
		if (peer && strcmp(peer, l->name))
			continue;
		linked++;
		int r = push_peer(sp, l->name, l->transport);
		if (r != EXIT_OK)
			rc = r;
	}
	if (!linked)
		die(EXIT_BADINPUT, peer ? "no [site %s] in conf/hotfarm.ini" : "no linked sites in conf/hotfarm.ini", peer);
	return rc;
}
