/* fuzz_sync.c - libFuzzer target: what a linked site's peer sends to
 * `hf-sync --serve` (`hotfarm sync --serve`). The bytes are the peer's side
 * of one session (hello, offers, signatures ignored, deltas, quit), fed to
 * the serving side's own code (spoolers/sync/, linked without its main)
 * from a memory file on a throwaway spool made at start-up; what the
 * server answers goes to /dev/null. Everything received for the peer
 * (in/, .basis/, .incoming/) goes after each run, so that every input
 * starts from the same spool; nothing may have been written elsewhere, nor
 * stay open. */
#define _GNU_SOURCE
#include "../../spoolers/sync/sync.h"
#include "../../layout/store.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzzspool.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PEER "a"

static struct spool sp;
static char *frame_buf;
static int devnull = -1;

/* The store's copy of one content (the corpus's HELD: bytes 0..255 32
 * times over): a member the peer sent once is held for its next offer. */
static void store_seed(void)
{
	static uint8_t held[8192];
	for (size_t i = 0; i < sizeof held; i++)
		held[i] = (uint8_t)i;
	struct sha256_ctx c;
	uint8_t md[SHA256_DIGEST_SIZE];
	char hex[65], sub[3];
	sha256_init(&c);
	sha256_update(&c, sizeof held, held);
	sha256_digest(&c, sizeof md, md);
	sha256_hex(md, hex);
	snprintf(sub, sizeof sub, "%.2s", hex);
	int store = store_open(&sp, true);
	if (store < 0 || (mkdirat(store, sub, 0755) < 0 && errno != EEXIST))
		abort();
	int subfd = openat(store, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd = subfd < 0 ? -1 : openat(subfd, hex, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0 || write(fd, held, sizeof held) != (ssize_t)sizeof held || fchmod(fd, 0444) < 0)
		abort();
	close(fd), close(subfd), close(store);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_sync");
	/* this site is b, linked to a; files of at most 1 MiB keep runs cheap */
	fuzz_spool("fuzz-sync", &sp, "[site]\nname = b\nfsync = no\n[intake]\nmax_bytes = 1M\n"
				     "[site " PEER "]\ntransport = true\n");
	store_seed();
	frame_buf = xmalloc(FRAME_MAX + 1);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (devnull < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds = count_names(AT_FDCWD, "/proc/self/fd"), names = count_names(sp.root, ".");
	int in = memfd_create("peer", MFD_CLOEXEC);
	if (in < 0 || (size && write(in, data, size) != (ssize_t)size) || lseek(in, 0, SEEK_SET) < 0) {
		perror("memfd");
		abort();
	}
	struct wire w = {.in = in, .out = devnull};
	char err[256];
	serve_session(&sp, &w, PEER, frame_buf, err, sizeof err);
	close(in);
	/* one process serves a whole session: a descriptor left open by one
	 * transfer is one less for the next */
	if (count_names(AT_FDCWD, "/proc/self/fd") != fds) {
		fprintf(stderr, "the serving side left %d descriptors open\n", count_names(AT_FDCWD, "/proc/self/fd") - fds);
		abort();
	}
	/* what the peer sent stays below sites/PEER/ */
	if (tree_remove(spool_fd(&sp, DIR_SITES), PEER) < 0) {
		perror("sites/" PEER);
		abort();
	}
	if (count_names(spool_fd(&sp, DIR_SITES), ".") != 2 || count_names(sp.root, ".") != names) {
		fprintf(stderr, "the serving side wrote outside sites/" PEER "/\n");
		abort();
	}
	return 0;
}
