/* intakeroute.c - hf-intake --from: what a linked site's job says of its
 * way here ([route] hops, checked for loops) and which frames it wants ([route] only). */
#define _GNU_SOURCE
#include "intakedrop.h"
#include "../layout/ini.h"
#include "../layout/jobdesc.h"

#include <stdlib.h>
#include <string.h>

struct peer_route peer_route;

/* The sites the job passed (checked names), this link (FROM) last. */
static enum verdict route_hops(const struct ini *ini, const char *from)
{
	struct strlist *hops = &peer_route.hops;
	const char *v = ini_get(ini, "route", "hops");
	if (v) {
		char *copy = xstrdup(v), *save = NULL;
		for (char *h = strtok_r(copy, ", ", &save); h; h = strtok_r(NULL, ", ", &save)) {
			if (!name_is_valid(h) || strlen(h) > SITE_NAME_MAX || hops->n >= 16) {
				free(copy);
				return reject_as("route", "its route (%.200s) is not a list of at most 16 site names", v);
			}
			if (!strlist_has(hops, h))
				strlist_add(hops, h);
		}
		free(copy);
	}
	if (!hops->n || strcmp(hops->v[hops->n - 1], from))
		strlist_add(hops, from);
	if (strlist_has(hops, sp.conf.name))
		return reject_as("route", "site %s refuses it: it has passed through this site already (a loop: %.200s)",
				 sp.conf.name, v ? v : from);
	return OK;
}

/* [route] only, the frames the sender wants rendered (a job sent again
 * for a re-render): tickets are made for those alone, while the job's
 * frames, which a scene's clock follows, stay as they were. */
static enum verdict route_only(const struct ini *ini, const struct job_desc *jd)
{
	const char *v = ini_get(ini, "route", "only");
	char err[300];
	if (!v)
		return OK;
	if (frames_parse(v, sp.conf.max_frames, &peer_route.only, &peer_route.nonly, err, sizeof err) < 0)
		return reject_as("route", "its [route] only is not a frame list: %s", err);
	size_t hit = 0;
	for (size_t i = 0; i < peer_route.nonly; i++)
		for (size_t k = 0; k < jd->nframes; k++)
			if (jd->frames[k] == peer_route.only[i]) {
				hit++;
				break;
			}
	if (!hit)
		return reject_as("route", "its [route] only (%.200s) names none of its frames", v);
	return OK;
}

enum verdict intake_route_check(const struct ini *ini, const struct job_desc *jd, const char *from)
{
	enum verdict v = route_hops(ini, from);
	return v == OK ? route_only(ini, jd) : v;
}
