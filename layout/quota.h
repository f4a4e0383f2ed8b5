/* quota.h - owners' quotas: how many renders an owner may have at once,
 * across every agent of the spool, as tokens in limits/ taken by rename. */
#ifndef HOTFARM_QUOTA_H
#define HOTFARM_QUOTA_H

#include <stdbool.h>
#include <stddef.h>

struct site_conf;
struct spool;

/* OWNER's quota ([quota OWNER], else [quota]) and a pool's ([quota
 * pool:NAME]): renders at once; -1 when none applies. */
long quota_slots(const struct site_conf *c, const char *owner);
long quota_pool_slots(const struct site_conf *c, const char *pool);
/* The folder in limits/ holding OWNER's tokens (POOL: for that pool's
 * hosts; NULL: everywhere): quota.u.alice, quota.p.lighting.u.alice, and
 * quota.s.PEER for a linked site's jobs. False when it cannot be named. */
bool quota_limit_name(const char *owner, const char *pool, char *out, size_t outsize);
/* A token is taken with limit_take_upto (numbered 1..the quota) and
 * given back with limit_give; a lost host's are released with its claims. */
/* How many of LIMIT's tokens are held. */
long quota_held(const struct spool *sp, const char *limit);
/* watcherd only: LIMIT has tokens 1..SLOTS (made when missing, free ones
 * above removed). One maker, so that no number is ever made twice. */
void quota_keep(const struct spool *sp, const char *limit, long slots);

#endif
