/* held.h - the receiver's plan for an offer's members (held.c): which it
 * holds, which it has a similar file for, the package put together again,
 * and what the peer is known to have sent, learnt once a file arrived. */
#ifndef HOTFARM_SYNC_HELD_H
#define HOTFARM_SYNC_HELD_H

#include "sync.h"
#include "../../layout/store.h"

#include <librsync.h>

/* One similar file in the basis, at START of it. */
struct held_part {
	unsigned long long start, size;
	char hex[65];
};

struct held {
	const struct manifest *m;
	/* per member: 'h' held, 'b' a similar file is in the basis, '-' */
	char *have;
	struct held_part *part;
	size_t nparts, cur; /* cur: the part cur_fd reads */
	unsigned long long total; /* the basis's size */
	int cur_fd, storefd, known, paths, names;
	size_t bad; /* a held member whose copy did not hash right: m->n when none */
	bool assembled; /* held_patch put the held members in (and checked them) */
};

/* The plan for M from PEER's index and the site's store: the number of
 * members held or with a similar file (0: the plan is no help). */
size_t held_plan(struct held *h, const struct spool *sp, const char *peer, const struct manifest *m);
void held_free(struct held *h);
/* The basis (the similar files, one after the other) as a stream. */
FILE *held_basis(struct held *h);
/* DELTA applied to the basis, the held members put back at their places,
 * into OUT: at most SIZE bytes (OVER set past them). -1 when it does not
 * apply or a held copy's bytes are not its hash (h->bad; forgotten). */
int held_patch(struct held *h, FILE *delta, FILE *out, unsigned long long size, bool *over);
/* What the peer is now known to have sent: each member of the file OUTFD
 * whose bytes hash as the manifest says (held ones put in by held_patch
 * were checked there), by content, path and name. */
void held_learn(struct held *h, int outfd);

#endif
