/* perms.h - the modes of a spool shared by many artists: checked, repaired
 * (hotfarm init), and required before watcherd or an agent starts. */
#ifndef HOTFARM_PERMS_H
#define HOTFARM_PERMS_H

#include "layout.h"

enum { PERM_REPAIR = 1, /* mend what is unsafe */
       PERM_DEEP = 2,   /* every folder and file, not only the top and conf/ */
       PERM_OWN = 4,    /* with PERM_REPAIR: what root owns becomes the farm's user's too */
};
struct perm_plan {
	uid_t farm;     /* the farm's user */
	gid_t group;    /* the artists' group for the drop folders; -1: keep theirs */
	unsigned flags; /* PERM_... */
};
/* Whether artists drop into top-level folder D (inbox/, cancel/, requests/). */
bool spool_dir_is_drop(enum spool_dir d);
/* Check the spool at ROOTFD (shown as PATH): each unsafe mode or owner, a
 * sentence, into PROBLEMS, or with PERM_REPAIR mended (into FIXED, or into
 * PROBLEMS when it cannot be). Returns how many are left unsafe, -1 on error. */
int spool_perms(int rootfd, const char *path, const struct perm_plan *plan, struct strlist *problems,
		struct strlist *fixed);
/* A daemon's start: 0 when the spool's top, its state folders and conf/
 * are the farm's alone, else -1 and ERR says what and how to fix it. */
int spool_perm_guard(const struct spool *sp, char *err, size_t errsize);

#endif
