/* Internals shared by the files of src/auth and its unit tests. */
#ifndef ROOST_AUTH_PRIVATE_H
#define ROOST_AUTH_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"

/* Entries the throttle remembers at most; the least recently failed one is
 * forgotten first when the table is full. */
#define AUTH_THROTTLE_MAX_ENTRIES 8192
/* Failures older than this (counted from the last one once over the limit)
 * are forgotten. */
#define AUTH_THROTTLE_WINDOW_MS (15 * 60 * 1000)
#define AUTH_THROTTLE_MAX_DELAY_MS 15000

/* cache.c: successful checks of (account name, password, stored hash)
 * remembered for auth.cache_ttl seconds. */
bool auth_cache_hit(const char *user, const char *password, const char *pwhash);
void auth_cache_add(const char *user, const char *password, const char *pwhash);

/* Replace the monotonic clock (milliseconds) the throttle reads, for tests. */
void auth_throttle_set_clock(struct auth_throttle *t, int64_t (*now_ms)(void));
/* Entries currently remembered. */
unsigned auth_throttle_entries(struct auth_throttle *t);

#endif
