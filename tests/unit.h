/* unit.h - what the unit tests share: TAP checks counted across their
 * files, and the tests of unit-spool.c (the calls that change a real spool). */
#ifndef HOTFARM_UNIT_H
#define HOTFARM_UNIT_H

#include <stdio.h>

extern int unit_n, unit_failed;

#define CHECK(cond, ...)                                                             \
	do {                                                                         \
		unit_n++;                                                                 \
		if (cond)                                                            \
			printf("ok %d - ", unit_n);                                       \
		else {                                                               \
			printf("not ok %d - ", unit_n);                                   \
			unit_failed++;                                                    \
		}                                                                    \
		printf(__VA_ARGS__);                                                 \
		printf("\n");                                                        \
	} while (0)

void test_ticket_claim_race(void);
void test_ticket_file(void);
void test_entry_and_finish(void);
void test_find_and_deps(void);
void test_billing_cancelled(void);
void test_open_beneath(void);
void test_attempt_renew(void);
void test_audit_writers(void);
void test_audit_file(void);
void test_events_writers(void);
void test_json(void);
/* unit-spool.c: a spool in a temporary folder ROOT with job NAME queued,
 * frames 1..NFRAMES a ticket each (its folder returned); and removed. */
struct spool;
int state_spool(struct spool *sp, char root[64], const char *name, int nframes);
void state_spool_drop(struct spool *sp, const char *root);
void test_events_file(void);
void test_nimby(void);
void test_job_remove_crash(void);
/* unit-store.c */
void test_store(void);

#endif
