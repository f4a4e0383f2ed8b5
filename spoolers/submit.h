/* submit.h - hotfarm submit: pack and drop a job. */
#ifndef HOTFARM_SUBMIT_H
#define HOTFARM_SUBMIT_H

struct spool;
int cmd_submit(const struct spool *sp, int argc, char **argv);

#endif
