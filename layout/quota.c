/* quota.c - owners' quotas ([quota] sections of conf/hotfarm.ini) as tokens
 * in limits/quota.u.OWNER/ (quota.p.POOL.u.OWNER/ on a pool's hosts): kept
 * at the quota's count by watcherd alone, taken by agents by rename. */
#define _GNU_SOURCE
#include "layout.h"
#include "quota.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static long quota_find(const struct site_conf *c, const char *who)
{
	for (int i = 0; i < c->nquotas; i++)
		if (!strcmp(c->quotas[i].who, who))
			return c->quotas[i].slots;
	return -1;
}

long quota_slots(const struct site_conf *c, const char *owner)
{
	long q = quota_find(c, owner);
	return q >= 0 ? q : quota_find(c, "");
}

long quota_pool_slots(const struct site_conf *c, const char *pool)
{
	char who[80];
	snprintf(who, sizeof who, "pool:%s", pool);
	return quota_find(c, who);
}

bool quota_limit_name(const char *owner, const char *pool, char *out, size_t outsize)
{
	/* a user "alice", or a linked site's jobs "site:b" */
	bool site = !strncmp(owner, "site:", 5);
	const char *who = site ? owner + 5 : owner;
	int n = pool ? snprintf(out, outsize, "quota.p.%s.%c.%s", pool, site ? 's' : 'u', who)
		     : snprintf(out, outsize, "quota.%c.%s", site ? 's' : 'u', who);
	return *who && n > 0 && (size_t)n < outsize && name_is_valid(out);
}

long quota_held(const struct spool *sp, const char *limit)
{
	DIR *d = dir_open(spool_fd(sp, DIR_LIMITS), limit);
	long n = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		bool held;
		if (limit_token_number(e->d_name, &held) > 0 && held)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

void quota_keep(const struct spool *sp, const char *limit, long slots)
{
	int lfd = spool_fd(sp, DIR_LIMITS);
	if (mkdirat(lfd, limit, 0755) < 0 && errno != EEXIST)
		return;
	int dfd = dir_walk(lfd, limit, false);
	if (dfd < 0)
		return;
	char *have = xcalloc((size_t)slots + 1, 1);
	struct strlist over = {0};
	DIR *d = dir_open(dfd, ".");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		bool held;
		long n = limit_token_number(e->d_name, &held);
		if (n >= 1 && n <= slots)
			have[n] = 1;
		else if (n > slots && !held)
			strlist_add(&over, e->d_name);
	}
	if (d)
		closedir(d);
	/* only watcherd makes tokens: one missing (neither N nor N@HOLDER)
	 * cannot appear meanwhile; one given back meanwhile makes EEXIST */
	for (long n = 1; n <= slots; n++) {
		if (have[n])
			continue;
		char name[32];
		snprintf(name, sizeof name, "%ld", n);
		int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
	}
	/* a quota lowered: its free tokens above go (held ones as they come back) */
	for (size_t i = 0; i < over.n; i++)
		unlinkat(dfd, over.v[i], 0);
	strlist_free(&over);
	free(have);
	close(dfd);
}
