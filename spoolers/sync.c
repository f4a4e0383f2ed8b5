/* sync.c - hf-sync: push each file of sites/PEER/out/ to a linked site as
 * a librsync delta against the best basis the peer already holds, over a
 * byte stream (the [site PEER] transport command: ssh in production); and,
 * with --serve, the peer's side: receive into sites/PEER/in/ (`hotfarm
 * sync` runs this program with the same words). The wire protocol is
 * versioned and framed; every field from the other side is checked (frame
 * sizes, names, sizes, hashes, signature kind). Nothing is renamed into in/
 * before its whole-file SHA-256 matches, and nothing leaves out/ before the
 * peer acknowledged it. */
#define _GNU_SOURCE
#include "../layout/ini.h"
#include "../layout/jobdesc.h"
#include "../layout/site.h"
#include "../layout/events.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <librsync.h>
#include <nettle/sha2.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SYNC_VERSION "hotfarm-sync/1"
#define FRAME_MAX (1u << 20)

enum frame_type {
	F_HELLO = 'H', F_OFFER = 'O', F_SIG = 'S', F_SIG_END = 's', F_DELTA = 'D', F_DELTA_END = 'd',
	F_ACK = 'A', F_NAK = 'N', F_QUIT = 'Q',
};

struct wire {
	int in, out;
	unsigned long long sent, received; /* bytes on the wire */
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w, n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r, n -= (size_t)r;
	}
	return 0;
}

static int frame_send(struct wire *w, char type, const void *data, size_t len)
{
	unsigned char head[5] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8),
				 (unsigned char)len, (unsigned char)type};
	if (write_all(w->out, head, 5) < 0 || (len && write_all(w->out, data, len) < 0))
		return -1;
	w->sent += 5 + len;
	return 0;
}

/* One frame into BUF (FRAME_MAX + 1 bytes, NUL-terminated). */
static int frame_recv(struct wire *w, char *type, char *buf, size_t *len)
{
	unsigned char head[5];
	if (read_all(w->in, head, 5) < 0)
		return -1;
	size_t n = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
	if (n > FRAME_MAX) {
		warn("the peer sent a frame of %zu bytes (at most %u)", n, FRAME_MAX);
		return -1;
	}
	if (n && read_all(w->in, buf, n) < 0)
		return -1;
	buf[n] = 0;
	*type = (char)head[4];
	*len = n;
	w->received += 5 + n;
	return 0;
}

static int stream_send(struct wire *w, FILE *f, char type, char end)
{
	char buf[65536];
	size_t n;
	rewind(f);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (frame_send(w, type, buf, n) < 0)
			return -1;
	return frame_send(w, end, NULL, 0);
}

static int stream_recv(struct wire *w, FILE *f, char type, char end, unsigned long long limit, char *buf)
{
	unsigned long long total = 0;
	for (;;) {
		char t;
		size_t n;
		if (frame_recv(w, &t, buf, &n) < 0)
			return -1;
		if (t == end)
			break;
		if (t != type) {
			warn("the peer sent frame '%c' inside a stream of '%c'", t, type);
			return -1;
		}
		total += n;
		if (total > limit) {
			warn("the peer sent more than %llu bytes", limit);
			return -1;
		}
		if (fwrite(buf, 1, n, f) != n)
			return -1;
	}
	return fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0 ? 0 : -1;
}

static bool sync_name_ok(const char *s) { return site_file_name_ok(s); }

static int sha256_file(FILE *f, char hex[65])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	char buf[65536];
	size_t n;
	rewind(f);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sha256_update(&ctx, n, (const uint8_t *)buf);
	if (ferror(f))
		return -1;
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_digest(&ctx, sizeof md, md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rewind(f);
	return 0;
}

/* ---- the receiving side ----------------------------------------------------- */

/* A file of out/ or the basis store: regular, reached through no link. */
static FILE *open_at(int dirfd, const char *name)
{
	int fd = open_regular(dirfd, name, O_RDONLY);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
	if (fd >= 0 && !f)
		close(fd);
	return f;
}

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
 * travel); else the newest earlier version of the same job (shot.job.tar
 * for shot-2.job.tar). NULL: none. */
static FILE *basis_open(int basis_dir, int sha_dir, const char *name, const char *hex)
{
	FILE *f = open_at(basis_dir, name);
	if (f)
		return f;
	if ((f = open_at(sha_dir, hex)))
		return f;
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
	return *best ? open_at(basis_dir, best) : NULL;
}

/* The patched file goes through a cap: the peer offered SIZE bytes, and
 * copy commands may repeat the basis without end (a delta of a few KiB
 * against a basis of a GiB writes as much as it likes). Past SIZE the
 * write fails, and with it the patch, before the disk is full. */
struct capped {
	FILE *out;
	unsigned long long left;
	bool over;
};

static ssize_t capped_write(void *cookie, const char *data, size_t n)
{
	struct capped *c = cookie;
	if (n > c->left) {
		c->over = true;
		errno = EFBIG;
		return -1;
	}
	if (fwrite(data, 1, n, c->out) != n)
		return -1;
	c->left -= n;
	return (ssize_t)n;
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
};

/* The offer in t->buf: NAME SIZE SHA256. A bad one is refused (NAK). */
static int offer_parse(struct transfer *t)
{
	if (sscanf(t->buf, "%255s %llu %64s", t->name, &t->size, t->hex) != 3 || !sync_name_ok(t->name) ||
	    strlen(t->hex) != 64 || strspn(t->hex, "0123456789abcdef") != 64 || t->size > t->sp->conf.max_bytes) {
		char shown[120];
		text_escape(t->buf, shown, sizeof shown);
		warn("peer %s offered a file hotfarm refuses: '%s'", t->peer, shown);
		frame_send(t->w, F_NAK, "- bad offer", 11);
		return -1;
	}
	return 0;
}

static void transfer_end(struct transfer *t)
{
	if (*t->tmp)
		unlinkat(t->inc, t->tmp, 0);
	if (t->out)
		fclose(t->out);
	if (t->basis)
		fclose(t->basis);
	if (t->sig)
		fclose(t->sig);
	if (t->delta)
		fclose(t->delta);
	close(t->basis_dir), close(t->sha), close(t->inc), close(t->in);
}

/* The file is here already (its acknowledgement was lost): no signature,
 * the delta ignored, acknowledged again; nothing is delivered twice. */
static int serve_again(struct transfer *t)
{
	frame_send(t->w, F_SIG_END, NULL, 0);
	char type;
	size_t n;
	while (frame_recv(t->w, &type, t->buf, &n) == 0 && type == F_DELTA)
		;
	snprintf(t->buf, FRAME_MAX, "%s %s", t->name, t->hex);
	return frame_send(t->w, F_ACK, t->buf, strlen(t->buf));
}

/* The signature of the basis out, the peer's delta in. */
static int delta_receive(struct transfer *t)
{
	if (!t->basis)
		t->basis = basis_open(t->basis_dir, t->sha, t->name, t->hex);
	if (!t->basis)
		t->basis = fopen("/dev/null", "rbe");
	struct stat bst;
	fstat(fileno(t->basis), &bst);
	/* recommended kind and block size; the shortest strong sum that is
	 * safe for this size (librsync's "minimum"): a smaller signature on
	 * the wire, and BLAKE2 all the same */
	rs_magic_number magic = 0;
	size_t block = 0, strong = (size_t)-1;
	t->sig = tmpfile(), t->delta = tmpfile();
	if (!t->sig || !t->delta || rs_sig_args(bst.st_size, &magic, &block, &strong) != RS_DONE ||
	    rs_sig_file(t->basis, t->sig, block, strong, magic, NULL) != RS_DONE)
		die(EXIT_TEMPFAIL, "unable to make a signature");
	if (stream_send(t->w, t->sig, F_SIG, F_SIG_END) < 0 ||
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
	rewind(t->basis);
	struct capped cap = {.out = t->out, .left = t->size};
	FILE *patched = t->out ? fopencookie(&cap, "w", (cookie_io_functions_t){.write = capped_write}) : NULL;
	rs_result pr = patched ? rs_patch_file(t->basis, t->delta, patched, NULL) : RS_IO_ERROR;
	if (patched && fclose(patched) != 0)
		pr = RS_IO_ERROR;
	if (cap.over) {
		warn("peer %s: the delta for %s makes more than the %llu bytes offered; not taken", t->peer, t->name,
		     t->size);
		frame_send(t->w, F_NAK, "- delta makes more than offered", 31);
		return -1;
	}
	if (pr != RS_DONE || fflush(t->out) != 0) {
		warn("peer %s: the delta for %s does not apply", t->peer, t->name);
		frame_send(t->w, F_NAK, "- delta does not apply", 22);
		return -1;
	}
	return 0;
}

/* The patched file must have the size and SHA-256 offered (NAK if not). */
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
static int serve_file(const struct spool *sp, struct wire *w, const char *peer, char *buf)
{
	struct transfer t = {.sp = sp, .w = w, .peer = peer, .buf = buf};
	unsigned long long wire0 = w->received;
	if (offer_parse(&t) < 0)
		return -1;
	t.basis_dir = site_dir_open(sp, peer, SITE_BASIS);
	t.sha = site_dir_open(sp, peer, SITE_BASIS_SHA);
	t.inc = site_dir_open(sp, peer, SITE_INCOMING);
	t.in = site_dir_open(sp, peer, SITE_IN);
	if (t.basis_dir < 0 || t.sha < 0 || t.inc < 0 || t.in < 0)
		die_errno(EXIT_TEMPFAIL, "unable to open sites/%s", peer);
	/* what we last received under this name: the same again is not
	 * delivered twice */
	t.basis = open_at(t.basis_dir, t.name);
	char have[65] = "";
	int rc = -1;
	if (t.basis && sha256_file(t.basis, have) == 0 && !strcmp(have, t.hex)) {
		rc = serve_again(&t);
	} else if (delta_receive(&t) == 0 && delta_apply(&t) == 0 && received_check(&t) == 0 &&
		   received_store(&t) == 0) {
		say("received %s from %s (%llu bytes; %llu on the wire)", t.name, peer, t.size, w->received - wire0);
		snprintf(buf, FRAME_MAX, "%s %s", t.name, t.hex);
		rc = frame_send(w, F_ACK, buf, strlen(buf));
	}
	transfer_end(&t);
	return rc;
}

/* One session on W, the lock held: the peer's hello, then its offers until
 * it quits or a transfer fails (it sends that file again next time). -1
 * with ERR when the peer does not speak the protocol as PEER. BUF holds
 * FRAME_MAX + 1 bytes. */
static int serve_session(const struct spool *sp, struct wire *w, const char *peer, char *buf, char *err,
			 size_t errsize)
{
	char type;
	size_t n;
	if (frame_recv(w, &type, buf, &n) < 0 || type != F_HELLO || strncmp(buf, SYNC_VERSION " ", strlen(SYNC_VERSION) + 1)) {
		snprintf(err, errsize, "peer %s does not speak %s", peer, SYNC_VERSION);
		return -1;
	}
	if (strcmp(buf + strlen(SYNC_VERSION) + 1, peer)) {
		snprintf(err, errsize, "the peer says it is '%.80s', but this link is for %s", buf + strlen(SYNC_VERSION) + 1,
			 peer);
		return -1;
	}
	char hello[128];
	snprintf(hello, sizeof hello, "%s %s", SYNC_VERSION, sp->conf.name);
	frame_send(w, F_HELLO, hello, strlen(hello));
	while (frame_recv(w, &type, buf, &n) == 0) {
		if (type == F_QUIT)
			break;
		if (type != F_OFFER || serve_file(sp, w, peer, buf) < 0)
			break;
	}
	return 0;
}

static int sync_serve(const struct spool *sp, const char *peer)
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

/* ---- the sending side ----------------------------------------------------------- */

static int send_file(struct wire *w, int outdir, const char *name, char *buf)
{
	FILE *f = open_at(outdir, name);
	struct stat st;
	char hex[65];
	if (!f || fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || sha256_file(f, hex) < 0)
		return -1;
	snprintf(buf, FRAME_MAX, "%s %lld %s", name, (long long)st.st_size, hex);
	FILE *sig = tmpfile(), *delta = tmpfile();
	if (!sig || !delta || frame_send(w, F_OFFER, buf, strlen(buf)) < 0 ||
	    stream_recv(w, sig, F_SIG, F_SIG_END, 64ULL << 20, buf) < 0)
		return -1;
	struct stat sst;
	fstat(fileno(sig), &sst);
	if (sst.st_size > 0) {
		unsigned char m[4];
		if (fread(m, 1, 4, sig) != 4)
			return -1;
		unsigned magic = (unsigned)m[0] << 24 | (unsigned)m[1] << 16 | (unsigned)m[2] << 8 | m[3];
		if (magic != RS_BLAKE2_SIG_MAGIC && magic != RS_RK_BLAKE2_SIG_MAGIC) {
			warn("the peer sent a signature of kind %08x; only BLAKE2 ones are accepted", magic);
			return -1;
		}
		rewind(sig);
		rs_signature_t *sums;
		if (rs_loadsig_file(sig, &sums, NULL) != RS_DONE || rs_build_hash_table(sums) != RS_DONE)
			return -1;
		rewind(f);
		rs_result r = rs_delta_file(sums, f, delta, NULL);
		rs_free_sumset(sums);
		if (r != RS_DONE || stream_send(w, delta, F_DELTA, F_DELTA_END) < 0)
			return -1;
	} else if (frame_send(w, F_DELTA_END, NULL, 0) < 0) {
		/* the peer has it already: it answers without a delta */
		return -1;
	}
	fclose(sig), fclose(delta), fclose(f);
	char type;
	size_t n;
	if (frame_recv(w, &type, buf, &n) < 0)
		return -1;
	char want[300];
	snprintf(want, sizeof want, "%s %s", name, hex);
	if (type != F_ACK || strcmp(buf, want)) {
		char shown[300];
		text_escape(buf, shown, sizeof shown);
		warn("the peer did not take %s: %s", name, shown);
		return -1;
	}
	/* acknowledged: only now does it leave out/ (unless it changed) */
	struct stat now;
	if (fstatat(outdir, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino &&
	    now.st_size == st.st_size && now.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
		unlinkat(outdir, name, 0);
	return 0;
}

static int push_peer(const struct spool *sp, const char *peer, const char *transport)
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
	struct wire w = {.in = from[0], .out = to[1]};
	char *buf = xmalloc(FRAME_MAX + 1);
	char hello[128], type;
	size_t n;
	snprintf(hello, sizeof hello, "%s %s", SYNC_VERSION, sp->conf.name);
	int sent = 0, failed = 0;
	if (frame_send(&w, F_HELLO, hello, strlen(hello)) < 0 || frame_recv(&w, &type, buf, &n) < 0 ||
	    type != F_HELLO || strncmp(buf, SYNC_VERSION " ", strlen(SYNC_VERSION) + 1)) {
		warn("%s does not answer as a hotfarm site", peer);
		events_link(sp, peer, false, "it does not answer as a hotfarm site");
		failed = 1;
	} else {
		events_link(sp, peer, true, NULL);
		int outdir = site_dir_open(sp, peer, SITE_OUT);
		struct strlist all = {0}, names = {0};
		if (outdir >= 0)
			dir_names(outdir, ".", &all);
		for (size_t i = 0; i < all.n; i++)
			if (sync_name_ok(all.v[i]))
				strlist_add(&names, all.v[i]);
		strlist_free(&all);
		strlist_sort(&names);
		for (size_t i = 0; i < names.n; i++) {
			if (send_file(&w, outdir, names.v[i], buf) < 0) {
				failed++;
				break; /* the stream is in an unknown state: next time */
			}
			sent++;
		}
		strlist_free(&names);
		if (!failed)
			frame_send(&w, F_QUIT, NULL, 0);
		if (outdir >= 0)
			close(outdir);
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

/* Push to PEER, or to every linked site when PEER is NULL. */
static int push_all(const struct spool *sp, const char *peer)
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

/* ---- main ------------------------------------------------------------------------- */

#define USAGE "usage: hf-sync [--spool DIR] [PEER] | hf-sync [--spool DIR] --serve --peer PEER"

int main(int argc, char **argv)
{
	msg_init("hf-sync");
	spooler_start(); /* started by watcherd: dies with it, logs in its form */
	const char *spool = NULL, *peer = NULL;
	bool serve = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s\nPush the files in sites/PEER/out/ (every linked PEER's, without one) to\n"
			       "that site as librsync deltas; or, with --serve, be the receiving end of a\n"
			       "link from PEER on stdin and stdout. hotfarm sync runs this.\n",
			       USAGE);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--spool") && i + 1 < argc) {
			spool = argv[++i];
		} else if (!strncmp(argv[i], "--spool=", 8)) {
			spool = argv[i] + 8;
		} else if (!strcmp(argv[i], "--serve")) {
			serve = true;
		} else if (!strcmp(argv[i], "--peer") && i + 1 < argc) {
			peer = argv[++i];
		} else if (!peer && argv[i][0] != '-') {
			peer = argv[i];
		} else {
			die(EXIT_BADINPUT, USAGE);
		}
	}
	struct spool sp;
	char err[1024];
	if (spool_open(spool ? spool : spool_default(), &sp, err, sizeof err) < 0)
		die(EXIT_TEMPFAIL, "%s", err);
	signal(SIGPIPE, SIG_IGN);
	char lower[128] = "";
	if (peer) {
		snprintf(lower, sizeof lower, "%s", peer);
		str_lower(lower);
		peer = lower;
	}
	int rc;
	if (serve) {
		if (!peer)
			die(EXIT_BADINPUT, "hotfarm sync --serve needs --peer NAME (pinned by the ssh key's forced command)");
		rc = sync_serve(&sp, peer);
	} else {
		rc = push_all(&sp, peer);
	}
	spool_close(&sp);
	return rc;
}
