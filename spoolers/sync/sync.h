/* sync.h - hf-sync's parts: the framed wire (wire.c), the receiving side
 * (serve.c), the sending side (push.c) and the members of a job package
 * that cross only when the peer does not hold their bytes (members.c). */
#ifndef HOTFARM_SYNC_H
#define HOTFARM_SYNC_H

#include "../../layout/layout.h"

#include <stdint.h>
#include <stdio.h>

/* version 2 carries each offer's manifest of members; a version 1 peer is
 * still served (its offers have none) */
#define SYNC_VERSION "hotfarm-sync/2"
#define SYNC_VERSION_1 "hotfarm-sync/1"
#define FRAME_MAX (1u << 20)

enum frame_type {
	F_HELLO = 'H', F_OFFER = 'O', F_MANIFEST = 'M', F_MANIFEST_END = 'm', F_HAVE = 'K', F_HAVE_END = 'k',
	F_SIG = 'S', F_SIG_END = 's', F_DELTA = 'D', F_DELTA_END = 'd', F_ACK = 'A', F_NAK = 'N', F_QUIT = 'Q',
};

struct wire {
	int in, out;
	unsigned long long sent, received; /* bytes on the wire */
	int version;                       /* 1 or 2: what the session speaks */
};

int frame_send(struct wire *w, char type, const void *data, size_t len);
/* One frame into BUF (FRAME_MAX + 1 bytes, NUL-terminated). */
int frame_recv(struct wire *w, char *type, char *buf, size_t *len);
/* F from its start as frames of TYPE, then one END frame. */
int stream_send(struct wire *w, FILE *f, char type, char end);
/* Frames of TYPE into F until END, at most LIMIT bytes; F rewound. */
int stream_recv(struct wire *w, FILE *f, char type, char end, unsigned long long limit, char *buf);
/* The hello's words: "hotfarm-sync/N NAME"; the version (1 or 2) and the
 * name after it, or 0 when BUF is not a hello. */
int hello_parse(const char *buf, const char **name);

/* A received file goes through a cap: the peer offered so many bytes,
 * and copy commands may repeat the basis without end (a delta of a few
 * KiB against a basis of a GiB writes as much as it likes). Past LEFT the
 * write fails (OVER set), and with it the patch, before the disk is full. */
struct capped {
	FILE *out;
	unsigned long long left;
	bool over;
};
int capped_put(struct capped *c, const void *data, size_t n);

/* SHA-256 of F from its start (rewound after), as 64 hex digits. */
int sha256_file(FILE *f, char hex[65]);
void sha256_hex(const uint8_t md[32], char hex[65]);

/* A regular file of DIRFD reached through no link, for reading; NULL. */
FILE *file_open_at(int dirfd, const char *name);

/* ---- members: the files a job package holds -------------------------------- */

/* Only members of this size or more are offered by their hash: the store
 * shares no smaller file (spoolers/intakestore.c). */
#define MEMBER_MIN_BYTES 4096
#define MEMBERS_MAX 200000
#define MEMBER_PATH_MAX 1024

struct member {
	unsigned long long offset, size; /* its bytes in the package */
	char hex[65];
	char *path; /* as the package names it */
};

struct manifest {
	struct member *v;
	size_t n;
};

void manifest_free(struct manifest *m);
/* The sender's: the members of the job package F (a tar) of at least
 * MEMBER_MIN_BYTES, each hashed, and the whole file's SHA-256 in the same
 * read. A file that is no tar has no members. -1 when F cannot be read. */
int manifest_build(FILE *f, const char *name, struct manifest *m, char hex[65]);
int manifest_send(struct wire *w, const struct manifest *m, char *buf);
/* The receiver's: the peer's manifest frames, checked against the size
 * offered (in order, apart, inside it, hashes and paths sane). -1 with ERR. */
int manifest_recv(struct wire *w, struct manifest *m, unsigned long long size, char *buf, char *err,
		  size_t errsize);

/* ---- serving ------------------------------------------------------------------ */

/* One session on W: the peer's hello, then its offers until it quits or a
 * transfer fails. -1 with ERR when the peer does not speak the protocol
 * as PEER. BUF holds FRAME_MAX + 1 bytes. */
int serve_session(const struct spool *sp, struct wire *w, const char *peer, char *buf, char *err, size_t errsize);
int sync_serve(const struct spool *sp, const char *peer);
/* Push to PEER, or to every linked site when PEER is NULL. */
int push_all(const struct spool *sp, const char *peer);

#endif
