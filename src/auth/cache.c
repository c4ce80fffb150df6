/* A short-lived cache of successful password checks, so that a client that
 * logs in again and again (a phone polling, a desktop opening a connection
 * per folder) pays the deliberately slow yescrypt once per few minutes
 * rather than on every login. Only successes are kept: a wrong password
 * always costs the full hash, so guessing gets no faster.
 *
 * An entry is HMAC-SHA-256, under a key drawn at random when the process
 * starts, of the account name, the password and the account's stored hash;
 * nothing else is kept, never the password. Because the stored hash is part
 * of the key, a password change (a new hash, read from the store at every
 * login) makes the old entry unreachable at once, in every process; deleting
 * the account makes the lookup fail before the cache is asked. Risk, written
 * down: someone who can read the server's memory learns, for the accounts
 * that logged in within the lifetime, values that let them test password
 * guesses offline as fast as HMAC runs instead of as fast as yescrypt runs;
 * such a reader can see the passwords arriving anyway. auth.cache_ttl = 0
 * turns the cache off. Dovecot's auth cache makes the same trade. */
#include "auth/auth-private.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define CACHE_SLOTS 8192 /* entries at most; a new one replaces whatever shares its slot */
#define CACHE_KEY_BYTES 32

struct cache_slot {
	unsigned char mac[CACHE_KEY_BYTES];
	int64_t expires_ms; /* 0: empty */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_slot *slots;
static unsigned char cache_key[CACHE_KEY_BYTES];
static atomic_int_fast64_t ttl_ms = 120 * 1000; /* auth.cache_ttl's default */

void auth_cache_configure(int64_t ttl_seconds)
{
	atomic_store(&ttl_ms, ttl_seconds > 0 ? ttl_seconds * 1000 : 0);
	pthread_mutex_lock(&cache_lock);
	if (slots != NULL)
		memset(slots, 0, CACHE_SLOTS * sizeof *slots);
	pthread_mutex_unlock(&cache_lock);
}

/* The entry for these credentials; false when the cache is off or failed. */
static bool cache_mac(const char *user, const char *password, const char *pwhash, unsigned char mac[CACHE_KEY_BYTES])
{
	if (slots == NULL) {
		slots = xcalloc(CACHE_SLOTS, sizeof *slots);
		if (RAND_bytes(cache_key, sizeof cache_key) != 1) {
			free(slots);
			slots = NULL;
			return false;
		}
	}
	/* Lengths first, so that no two different triples give the same input. */
	size_t lens[3] = {strlen(user), strlen(password), strlen(pwhash)};
	const char *parts[3] = {user, password, pwhash};
	bool ok = false;
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end()};
	if (ctx != NULL && EVP_MAC_init(ctx, cache_key, sizeof cache_key, params) == 1) {
		ok = EVP_MAC_update(ctx, (const unsigned char *)lens, sizeof lens) == 1;
		for (int i = 0; ok && i < 3; i++)
			ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i], lens[i]) == 1;
		size_t out = 0;
		ok = ok && EVP_MAC_final(ctx, mac, &out, CACHE_KEY_BYTES) == 1 && out == CACHE_KEY_BYTES;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(hmac);
	return ok;
}

static struct cache_slot *slot_of(const unsigned char mac[CACHE_KEY_BYTES])
{
	uint32_t h;
	memcpy(&h, mac, sizeof h);
	return &slots[h % CACHE_SLOTS];
}

bool auth_cache_hit(const char *user, const char *password, const char *pwhash)
{
	int64_t ttl = atomic_load(&ttl_ms);
	if (ttl == 0)
		return false;
	unsigned char mac[CACHE_KEY_BYTES];
	bool hit = false;
	pthread_mutex_lock(&cache_lock);
	if (cache_mac(user, password, pwhash, mac)) {
		struct cache_slot *sl = slot_of(mac);
		hit = sl->expires_ms > time_mono_ms() && mem_eq_ct(sl->mac, mac, CACHE_KEY_BYTES);
	}
	pthread_mutex_unlock(&cache_lock);
	explicit_bzero(mac, sizeof mac);
	return hit;
}

void auth_cache_add(const char *user, const char *password, const char *pwhash)
{
	int64_t ttl = atomic_load(&ttl_ms);
	if (ttl == 0)
		return;
	unsigned char mac[CACHE_KEY_BYTES];
	pthread_mutex_lock(&cache_lock);
	if (cache_mac(user, password, pwhash, mac)) {
		struct cache_slot *sl = slot_of(mac);
		memcpy(sl->mac, mac, CACHE_KEY_BYTES);
		sl->expires_ms = time_mono_ms() + ttl;
	}
	pthread_mutex_unlock(&cache_lock);
	explicit_bzero(mac, sizeof mac);
}
