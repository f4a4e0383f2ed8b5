/* sync.h - hotfarm sync: push sites/PEER/out/ to linked sites, or serve. */
#ifndef HOTFARM_SYNC_H
#define HOTFARM_SYNC_H

struct spool;
int cmd_sync(const struct spool *sp, int argc, char **argv);

#endif
