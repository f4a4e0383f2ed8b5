/* serve.c - hf-sync's receiving side (--serve): each offer of the peer
 * received against the best basis this site holds (the file last received
 * under that name or with that content; else the members it holds and
 * files similar to the rest, held.c; else an earlier version of the same
 * job), checked whole (size, SHA-256) and only then delivered into
 * sites/PEER/in/; an offer already delivered is acknowledged again. */
#define _GNU_SOURCE
#include "held.h"
#include "../../layout/site.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* NAME without its kind (".job.tar", or its last extension) and without a
 * "-N" that intake adds to a repeated name: shot-3.job.tar -> shot. */
static void family(const char *name, char *stem, size_t stemsize, const char **kind)
{
	static const char *const kinds[] = {SITE_JOB, SITE_RESULT, SITE_PROGRESS, NULL};
	*kind = strrchr(name, '.');
	for (const char *const *k = kinds; *k; k++)
		if (strlen(name) > strlen(*k) && !strcmp(name + strlen(name) - strlen(*k), *k))
			*kind = name + strlen(name) - strlen(*k);
	if (!*kind)
		*kind = name + strlen(name);
	snprintf(stem, stemsize, "%.*s", (int)(*kind - name), name);
	char *dash = strrchr(stem, '-');
	if (dash && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1))
		*dash = 0;
}

/* The best basis this side holds for NAME (content HEX): the file last
 * received under that name (in BASIS_DIR); else a received file with that
 * very content (in SHA_DIR, by its SHA-256; then only copy instructions
 * travel) - basis_exact; else (basis_family) the newest earlier version of
 * the same job (shot.job.tar for shot-2.job.tar). NULL: none. */
static FILE *basis_exact(int basis_dir, int sha_dir, const char *name, const char *hex)
{
	FILE *f = file_open_at(basis_dir, name);
	return f ? f : file_open_at(sha_dir, hex);
}

static FILE *basis_family(int basis_dir, const char *name)
{
	char stem[256], best[256] = "";
	const char *kind;
	family(name, stem, sizeof stem, &kind);
	struct timespec newest = {0, 0};
	DIR *d = dir_open(basis_dir, ".");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char estem[256];
		const char *ekind;
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		family(e->d_name, estem, sizeof estem, &ekind);
		if (strcmp(estem, stem) || strcmp(ekind, kind) || fstatat(basis_dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!*best || st.st_mtim.tv_sec > newest.tv_sec ||
		    (st.st_mtim.tv_sec == newest.tv_sec && st.st_mtim.tv_nsec > newest.tv_nsec)) {
			newest = st.st_mtim;
			snprintf(best, sizeof best, "%s", e->d_name);
		}
	}
	if (d)
		closedir(d);
	return *best ? file_open_at(basis_dir, best) : NULL;
}

static ssize_t capped_write(void *cookie, const char *data, size_t n)
{
	return capped_put(cookie, data, n) < 0 ? -1 : (ssize_t)n;
}

/* One file being received: what the steps of serve_file share, all
 * closed by transfer_end. */
struct transfer {
	const struct spool *sp;
	struct wire *w;
	const char *peer;
	char *buf; /* FRAME_MAX + 1 bytes */
	char name[256], hex[65];
	unsigned long long size;
	int basis_dir, sha, inc, in; /* sites/PEER/.basis, .basis/.sha, .incoming, in */
	FILE *basis, *sig, *delta, *out;
	char tmp[300]; /* its name in .incoming/ until delivered; "" then */
	struct manifest m; /* the offer's members (version 2) */
	struct held held;  /* and which of them this side holds, when m.n */
	bool by_members;   /* the delta is against held.c's basis */
};

/* The offer in t->buf: NAME SIZE SHA256, and its manifest. A bad one is
 * refused (NAK). */
static int offer_parse(struct transfer *t)
{
	if (sscanf(t->buf, "%255s %llu %64s", t->name, &t->size, t->hex) != 3 || !site_file_name_ok(t->name) ||
	    strlen(t->hex) != 64 || strspn(t->hex, "0123456789abcdef") != 64 || t->size > t->sp->conf.max_bytes) {
		char shown[120];
		text_escape(t->buf, shown, sizeof shown);
		warn("peer %s offered a file hotfarm refuses: '%s'", t->peer, shown);
		frame_send(t->w, F_NAK, "- bad offer", 11);
		return -1;
	}
	char err[300];
	if (t->w->version >= 2 && manifest_recv(t->w, &t->m, t->size, t->buf, err, sizeof err) < 0) {
		warn("peer %s offered %s with a manifest hotfarm refuses: %s", t->peer, t->name, err);
		frame_send(t->w, F_NAK, "- bad manifest", 14);
		return -1;
	}
	return 0;
}

static void transfer_end(struct transfer *t)
{
	if (*t->tmp)
		unlinkat(t->inc, t->tmp, 0);
	FILE *files[] = {t->out, t->basis, t->sig, t->delta};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		if (files[i])
			fclose(files[i]);
	close(t->basis_dir), close(t->sha), close(t->inc), close(t->in);
	if (t->m.n)
		held_free(&t->held);
	manifest_free(&t->m);
}

/* Which members the peer need not send (version 2: empty when none). */
static int have_send(struct transfer *t)
{
	if (t->w->version < 2)
		return 0;
	return t->by_members ? frame_send(t->w, F_HAVE, t->held.have, t->m.n) : frame_send(t->w, F_HAVE, NULL, 0);
}

/* The file is here already (its acknowledgement was lost): no signature,
 * the delta ignored, acknowledged again; nothing is delivered twice. */
static int serve_again(struct transfer *t)
{
	have_send(t);
	frame_send(t->w, F_SIG_END, NULL, 0);
	char type;
	size_t n;
	while (frame_recv(t->w, &type, t->buf, &n) == 0 && type == F_DELTA)
		;
	snprintf(t->buf, FRAME_MAX, "%s %s", t->name, t->hex);
	return frame_send(t->w, F_ACK, t->buf, strlen(t->buf));
}

/* The basis: the file of that name or content; else the members held and
 * files similar to the rest, when they help; else an earlier version of
 * the job; else nothing. */
static void basis_choose(struct transfer *t)
{
	if (!t->basis)
		t->basis = basis_exact(t->basis_dir, t->sha, t->name, t->hex);
	if (!t->basis && t->m.n && held_plan(&t->held, t->sp, t->peer, &t->m) > 0)
		t->by_members = true;
	else if (!t->basis)
		t->basis = basis_family(t->basis_dir, t->name);
	if (t->m.n && !t->held.have) /* planned all the same: what the peer sent is learnt */
		held_plan(&t->held, t->sp, t->peer, &t->m);
	if (t->by_members) {
		t->basis = held_basis(&t->held);
		size_t held = 0;
		for (size_t i = 0; i < t->m.n; i++)
			held += t->held.have[i] == 'h';
		say("%s from %s: %zu of its %zu members held here, %zu similar files as the basis", t->name, t->peer,
		    held, t->m.n, t->held.nparts);
	}
	if (!t->basis)
		t->basis = fopen("/dev/null", "rbe");
}

/* The signature of the basis out, the peer's delta in. */
static int delta_receive(struct transfer *t)
{
	basis_choose(t);
	long long bsize = (long long)t->held.total;
	struct stat bst;
	if (!t->by_members)
		bsize = t->basis && fstat(fileno(t->basis), &bst) == 0 ? (long long)bst.st_size : 0;
	/* recommended kind and block size; the shortest strong sum that is
	 * safe for this size (librsync's "minimum"): a smaller signature on
	 * the wire, and BLAKE2 all the same */
	rs_magic_number magic = 0;
	size_t block = 0, strong = (size_t)-1;
	t->sig = tmpfile(), t->delta = tmpfile();
	if (!t->basis || !t->sig || !t->delta || rs_sig_args(bsize, &magic, &block, &strong) != RS_DONE ||
	    rs_sig_file(t->basis, t->sig, block, strong, magic, NULL) != RS_DONE)
		die(EXIT_TEMPFAIL, "unable to make a signature");
	if (have_send(t) < 0 || stream_send(t->w, t->sig, F_SIG, F_SIG_END) < 0 ||
	    stream_recv(t->w, t->delta, F_DELTA, F_DELTA_END, t->size + t->size / 4 + (1 << 20), t->buf) < 0)
		return -1;
	return 0;
}

/* The basis patched with the delta into .incoming/, at most the size
 * offered; a delta that does not apply or makes more is refused (NAK). */
static int delta_apply(struct transfer *t)
{
	snprintf(t->tmp, sizeof t->tmp, "%s.%ld", t->name, (long)getpid());
	int nfd = open_beneath(t->inc, t->tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
	t->out = nfd < 0 ? NULL : fdopen(nfd, "w+b");
	if (nfd >= 0 && !t->out)
		close(nfd);
	rs_result pr = RS_IO_ERROR;
	struct capped cap = {.out = t->out, .left = t->size};
	if (t->by_members) {
		pr = t->out && held_patch(&t->held, t->delta, t->out, t->size, &cap.over) == 0 ? RS_DONE : RS_IO_ERROR;
	} else {
		rewind(t->basis);
		FILE *patched = t->out ? fopencookie(&cap, "w", (cookie_io_functions_t){.write = capped_write}) : NULL;
		pr = patched ? rs_patch_file(t->basis, t->delta, patched, NULL) : RS_IO_ERROR;
		if (patched && fclose(patched) != 0)
			pr = RS_IO_ERROR;
	}
	if (cap.over) {
		warn("peer %s: the delta for %s makes more than the %llu bytes offered; not taken", t->peer, t->name,
		     t->size);
		frame_send(t->w, F_NAK, "- delta makes more than offered", 31);
		return -1;
	}
	if (t->by_members && t->held.bad < t->m.n) {
		warn("peer %s: %s: this site's copy of %s is not what it should be; it is sent again next time", t->peer,
		     t->name, t->m.v[t->held.bad].path);
		frame_send(t->w, F_NAK, "- a held member is damaged here", 31);
		return -1;
	}
	if (pr != RS_DONE || fflush(t->out) != 0) {
		warn("peer %s: the delta for %s does not apply", t->peer, t->name);
		frame_send(t->w, F_NAK, "- delta does not apply", 22);
		return -1;
	}
	return 0;
}

static int received_check(struct transfer *t)
{
	struct stat nst;
	char got[65] = "";
	fstat(fileno(t->out), &nst);
	if ((unsigned long long)nst.st_size != t->size || sha256_file(t->out, got) < 0 || strcmp(got, t->hex)) {
		warn("peer %s: %s arrived damaged (size %lld, sha256 %s); not taken", t->peer, t->name,
		     (long long)nst.st_size, got);
		snprintf(t->buf, FRAME_MAX, "%s damaged in transit", t->name);
		frame_send(t->w, F_NAK, t->buf, strlen(t->buf));
		return -1;
	}
	return 0;
}

/* Keep the file as the next basis, then deliver it: in/ never sees a
 * partial file, and a repeated offer finds it in .basis/. NAK if not. */
static int received_store(struct transfer *t)
{
	if (sync_writes)
		fsync(fileno(t->out));
	char btmp[300];
	snprintf(btmp, sizeof btmp, ".%s.%ld", t->name, (long)getpid());
	/* jobs and results are also found by their content (a job sent again
	 * under another name) */
	if ((has_suffix(t->name, SITE_JOB) || has_suffix(t->name, SITE_RESULT)) &&
	    linkat(t->inc, t->tmp, t->sha, t->hex, 0) < 0 && errno != EEXIST)
		warn("unable to index %s by its content: %s", t->name, strerror(errno));
	if (linkat(t->inc, t->tmp, t->basis_dir, btmp, 0) < 0 ||
	    site_publish(t->basis_dir, btmp, t->basis_dir, t->name, true) < 0 ||
	    site_publish(t->inc, t->tmp, t->in, t->name, false) < 0) {
		int e = errno;
		snprintf(t->buf, FRAME_MAX, "%s could not be stored: %s", t->name, strerror(e));
		frame_send(t->w, F_NAK, t->buf, strlen(t->buf));
		return -1;
	}
	*t->tmp = 0; /* delivered: nothing to clear */
	return 0;
}

/* One offer (in BUF): refused, acknowledged again, or received whole and
 * delivered. -1 ends the session (the peer sends that file again next
 * time). Every way out goes through transfer_end: a failed transfer ends
 * the session, but its folders and files must not stay open. */

/* One offer (in BUF): refused, acknowledged again, or received whole and
 * delivered. -1 ends the session (the peer sends that file again next
 * time). Every way out goes through transfer_end: a failed transfer ends
 * the session, but its folders and files must not stay open. */
static int serve_file(const struct spool *sp, struct wire *w, const char *peer, char *buf)
{
	struct transfer t = {.sp = sp, .w = w, .peer = peer, .buf = buf};
	unsigned long long wire0 = w->received;
	t.basis_dir = t.sha = t.inc = t.in = -1;
	if (offer_parse(&t) < 0) {
		manifest_free(&t.m);
		return -1;
	}
	t.basis_dir = site_dir_open(sp, peer, SITE_BASIS);
	t.sha = site_dir_open(sp, peer, SITE_BASIS_SHA);
	t.inc = site_dir_open(sp, peer, SITE_INCOMING);
	t.in = site_dir_open(sp, peer, SITE_IN);
	if (t.basis_dir < 0 || t.sha < 0 || t.inc < 0 || t.in < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open sites/%s", peer);
	/* what we last received under this name: the same again is not
	 * delivered twice */
	t.basis = file_open_at(t.basis_dir, t.name);
	char have[65] = "";
	int rc = -1;
	if (t.basis && sha256_file(t.basis, have) == 0 && !strcmp(have, t.hex)) {
		rc = serve_again(&t);
	} else if (delta_receive(&t) == 0 && delta_apply(&t) == 0 && received_check(&t) == 0) {
		if (t.m.n) /* before it is delivered: a kill after it loses nothing */
			held_learn(&t.held, fileno(t.out));
		if (received_store(&t) == 0) {
			say("received %s from %s (%llu bytes; %llu on the wire)", t.name, peer, t.size,
			    w->received - wire0);
			snprintf(buf, FRAME_MAX, "%s %s", t.name, t.hex);
			rc = frame_send(w, F_ACK, buf, strlen(buf));
		}
	}
	transfer_end(&t);
	return rc;
}

int serve_session(const struct spool *sp, struct wire *w, const char *peer, char *buf, char *err, size_t errsize)
{
	char type;
	size_t n;
	const char *name = "";
	if (frame_recv(w, &type, buf, &n) < 0 || type != F_HELLO || !(w->version = hello_parse(buf, &name))) {
		snprintf(err, errsize, "peer %s does not speak %s", peer, SYNC_VERSION);
		return -1;
	}
	if (strcmp(name, peer)) {
		snprintf(err, errsize, "the peer says it is '%.80s', but this link is for %s", name, peer);
		return -1;
	}
	char hello[128];
	/* answered in the peer's version */
	snprintf(hello, sizeof hello, "%s %s", w->version >= 2 ? SYNC_VERSION : SYNC_VERSION_1, sp->conf.name);
	frame_send(w, F_HELLO, hello, strlen(hello));
	while (frame_recv(w, &type, buf, &n) == 0) {
		if (type == F_QUIT)
			break;
		if (type != F_OFFER || serve_file(sp, w, peer, buf) < 0)
			break;
	}
	return 0;
}

int sync_serve(const struct spool *sp, const char *peer)
{
	if (!name_is_valid(peer) || strlen(peer) > SITE_NAME_MAX)
		die(EXIT_BADINPUT, "'%.80s' is not a site name", peer);
	if (!site_link_find(sp, peer))
		die(EXIT_BADINPUT, "site %s is not linked to this site (%s): no [site %s] in conf/hotfarm.ini", peer,
		    sp->conf.name, peer);
	struct wire w = {.in = 0, .out = 1};
	char *buf = xmalloc(FRAME_MAX + 1);
	/* one session per peer at a time */
	int lock = site_dir_open(sp, peer, SITE_INCOMING);
	if (lock < 0 || flock(lock, LOCK_EX) < 0)
		die_errno(EXIT_TEMPFAIL, "unable to lock sites/%s", peer);
	/* what an interrupted session left half-received goes: it is sent again */
	DIR *d = dir_open(lock, ".");
	struct dirent *de;
	struct strlist stale = {0};
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strlist_add(&stale, de->d_name);
	if (d)
		closedir(d);
	for (size_t i = 0; i < stale.n; i++)
		unlinkat(lock, stale.v[i], 0);
	strlist_free(&stale);
	char err[256];
	int rc = serve_session(sp, &w, peer, buf, err, sizeof err);
	free(buf);
	/* counted under the session's lock (stdout is the wire: nothing said) */
	if (site_traffic_add(sp, peer, w.sent, w.received) < 0)
		warn("unable to count the bytes on the wire with %s: %s", peer, strerror(errno));
	if (rc < 0)
		die(EXIT_BADINPUT, "%s", err);
	close(lock);
	return EXIT_OK;
}

