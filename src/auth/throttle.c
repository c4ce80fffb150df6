/* Failed-login throttling. Failures are counted per client address and per
 * account name in one mutex-protected hash table of bounded size (the least
 * recently failed entry goes first); once a key reaches max_failures within
 * 15 minutes every further attempt waits 1, 2, 4, 8, then 15 seconds, and it
 * stays so until that key has been quiet for 15 minutes. A successful login
 * clears the account's count, never the address's. */
#include "auth/auth.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth/auth-private.h"
#include "core/util.h"

#define N_BUCKETS (AUTH_THROTTLE_MAX_ENTRIES * 2)
#define MAX_ADDR_LEN 64 /* longer address strings are cut: still one key each */

struct entry {
	struct entry *hnext;            /* hash chain */
	struct entry *newer, *older;    /* recency list */
	uint64_t hash;
	int64_t window_start;           /* ms; failures before it are forgotten */
	unsigned failures;
	size_t keylen;
	char key[];                     /* 'a' or 'u', then the address or lower-cased name */
};

struct auth_throttle {
	pthread_mutex_t lock;
	unsigned max_failures;
	unsigned n_entries;
	uint64_t seed;
	int64_t (*now_ms)(void);
	struct entry *newest, *oldest;
	struct entry *buckets[N_BUCKETS];
};

struct auth_throttle *auth_throttle_new(int max_failures)
{
	struct auth_throttle *t = xcalloc(1, sizeof *t);
	pthread_mutex_init(&t->lock, NULL);
	t->max_failures = max_failures > 0 ? (unsigned)max_failures : 1;
	t->now_ms = time_mono_ms;
	/* A secret seed keeps clients from choosing names that share a chain. */
	if (getrandom(&t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed)
		t->seed = (uint64_t)time_mono_ms() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)t;
	return t;
}

void auth_throttle_free(struct auth_throttle *t)
{
	if (t == NULL)
		return;
	struct entry *e = t->newest;
	while (e != NULL) {
		struct entry *next = e->older;
		free(e);
		e = next;
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void auth_throttle_set_clock(struct auth_throttle *t, int64_t (*now_ms)(void))
{
	t->now_ms = now_ms;
}

unsigned auth_throttle_entries(struct auth_throttle *t)
{
	pthread_mutex_lock(&t->lock);
	unsigned n = t->n_entries;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Build the key into a heap buffer: kind byte then the (bounded) name. */
static char *make_key(char kind, const char *s, size_t *len_r)
{
	size_t max = kind == 'a' ? MAX_ADDR_LEN : AUTH_MAX_USERNAME;
	size_t n = strnlen(s, max);
	char *k = xmalloc(n + 1);
	k[0] = kind;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		k[i + 1] = (kind == 'u' && c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	*len_r = n + 1;
	return k;
}

static uint64_t key_hash(const struct auth_throttle *t, const char *k, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ t->seed;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

static struct entry *lookup(struct auth_throttle *t, const char *k, size_t len, uint64_t h)
{
	for (struct entry *e = t->buckets[h % N_BUCKETS]; e != NULL; e = e->hnext)
		if (e->hash == h && e->keylen == len && memcmp(e->key, k, len) == 0)
			return e;
	return NULL;
}

static void list_unlink(struct auth_throttle *t, struct entry *e)
{
	if (e->newer) e->newer->older = e->older; else t->newest = e->older;
	if (e->older) e->older->newer = e->newer; else t->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void list_push_newest(struct auth_throttle *t, struct entry *e)
{
	e->newer = NULL;
	e->older = t->newest;
	if (t->newest) t->newest->newer = e; else t->oldest = e;
	t->newest = e;
}

static void remove_entry(struct auth_throttle *t, struct entry *e)
{
	struct entry **pp = &t->buckets[e->hash % N_BUCKETS];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(t, e);
	t->n_entries--;
	free(e);
}

static bool expired(const struct entry *e, int64_t now)
{
	return now - e->window_start >= AUTH_THROTTLE_WINDOW_MS;
}

static int delay_for(const struct auth_throttle *t, unsigned failures)
{
	if (failures < t->max_failures)
		return 0;
	unsigned over = failures - t->max_failures;
	int d = over >= 4 ? AUTH_THROTTLE_MAX_DELAY_MS : 1000 << over;
	return d > AUTH_THROTTLE_MAX_DELAY_MS ? AUTH_THROTTLE_MAX_DELAY_MS : d;
}

/* Delay owed by one key; forgets the entry when its window has passed. */
static int key_delay(struct auth_throttle *t, char kind, const char *s, int64_t now)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	size_t len;
	char *k = make_key(kind, s, &len);
	uint64_t h = key_hash(t, k, len);
	struct entry *e = lookup(t, k, len, h);
	free(k);
	if (e == NULL)
		return 0;
	if (expired(e, now)) {
		remove_entry(t, e);
		return 0;
	}
	return delay_for(t, e->failures);
}

int auth_throttle_delay_ms(struct auth_throttle *t, const char *ip, const char *user)
{
	pthread_mutex_lock(&t->lock);
	int64_t now = t->now_ms();
	int a = key_delay(t, 'a', ip, now);
	int u = key_delay(t, 'u', user, now);
	pthread_mutex_unlock(&t->lock);
	return a > u ? a : u;
}

static void key_fail(struct auth_throttle *t, char kind, const char *s, int64_t now)
{
	if (s == NULL || s[0] == '\0')
		return;
	size_t len;
	char *k = make_key(kind, s, &len);
	uint64_t h = key_hash(t, k, len);
	struct entry *e = lookup(t, k, len, h);
	if (e == NULL) {
		if (t->n_entries >= AUTH_THROTTLE_MAX_ENTRIES)
			remove_entry(t, t->oldest);
		e = xcalloc(1, sizeof *e + len);
		memcpy(e->key, k, len);
		e->keylen = len;
		e->hash = h;
		e->window_start = now;
		e->hnext = t->buckets[h % N_BUCKETS];
		t->buckets[h % N_BUCKETS] = e;
		t->n_entries++;
	} else {
		list_unlink(t, e);
		if (expired(e, now)) {
			e->failures = 0;
			e->window_start = now;
		}
	}
	free(k);
	list_push_newest(t, e);
	if (e->failures < UINT_MAX)
		e->failures++;
	/* Over the limit the window restarts with every failure, so a steady
	 * guesser stays slowed down until it stops for a whole window. */
	if (e->failures > t->max_failures)
		e->window_start = now;
}

static void key_clear(struct auth_throttle *t, char kind, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return;
	size_t len;
	char *k = make_key(kind, s, &len);
	uint64_t h = key_hash(t, k, len);
	struct entry *e = lookup(t, k, len, h);
	free(k);
	if (e != NULL)
		remove_entry(t, e);
}

void auth_throttle_record(struct auth_throttle *t, const char *ip, const char *user, bool success)
{
	pthread_mutex_lock(&t->lock);
	int64_t now = t->now_ms();
	if (success) {
		key_clear(t, 'u', user);
	} else {
		key_fail(t, 'a', ip, now);
		key_fail(t, 'u', user, now);
	}
	pthread_mutex_unlock(&t->lock);
}
