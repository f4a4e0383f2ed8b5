/* main.c - hf-sync: push each file of sites/PEER/out/ to a linked site as
 * a librsync delta against the best basis the peer already holds, over a
 * byte stream (the [site PEER] transport command: ssh in production); and,
 * with --serve, the peer's side: receive into sites/PEER/in/ (`hotfarm
 * sync` runs this program with the same words). The wire protocol is
 * versioned and framed; every field from the other side is checked.
 * Nothing is renamed into in/ before its whole-file SHA-256 matches, and
 * nothing leaves out/ before the peer acknowledged it. */
#define _GNU_SOURCE
#include "sync.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

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
