/* Logging in: look the account up in the store and check a password (USER/PASS,
 * SASL PLAIN) or an APOP digest. An unknown user costs the same password work
 * as a known one, so response times do not reveal which names exist; a store
 * failure is AUTH_TEMPFAIL, never a wrong-password answer. */
#include "auth/auth.h"
#include "auth/auth-private.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* yescrypt of a random password with the default cost, checked when the user
 * does not exist so that the miss takes as long as a wrong password. */
static const char dummy_hash[] = "$y$j9T$UZNakRPpCkwcD7Hk6SgQr.$0odU2OH1p1XOLAykMHOMov6Inu/MWGV9zIueGJLfPz/";

#define APOP_DIGEST_HEX 32

static bool name_acceptable(const char *user)
{
	size_t n = strlen(user);
	return n > 0 && n <= AUTH_MAX_USERNAME;
}

enum auth_result auth_login(struct store *st, const char *user, const char *password, struct store_account *acct_r)
{
	memset(acct_r, 0, sizeof *acct_r);
	if (user == NULL || password == NULL || !name_acceptable(user) || strlen(password) > AUTH_MAX_PASSWORD)
		return AUTH_FAILED;

	struct store_account a = {0};
	int rc = store_account_find(st, user, &a);
	if (rc == STORE_ERROR)
		return AUTH_TEMPFAIL;
	if (rc != STORE_OK) {
		(void)auth_verify_password(password, dummy_hash);
		return AUTH_FAILED;
	}
	if (a.pwhash == NULL) {
		store_account_clear(&a);
		return AUTH_FAILED;
	}
	if (!auth_cache_hit(a.name, password, a.pwhash)) {
		if (!auth_verify_password(password, a.pwhash)) {
			store_account_clear(&a);
			return AUTH_FAILED;
		}
		auth_cache_add(a.name, password, a.pwhash);
	}
	*acct_r = a;
	return AUTH_OK;
}

static EVP_MD *md5;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_fetch(void)
{
	md5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

/* MD5(timestamp || secret) as 32 lower-case hex digits into hex (33 bytes).
 * Returns -1 when MD5 is unavailable (e.g. a FIPS-only OpenSSL). */
static int apop_digest(const char *timestamp, const char *secret, char hex[APOP_DIGEST_HEX + 1])
{
	pthread_once(&md5_once, md5_fetch);
	if (md5 == NULL)
		return -1;
	size_t tl = strlen(timestamp), sl = strlen(secret);
	char *data = xmalloc(tl + sl);
	memcpy(data, timestamp, tl);
	memcpy(data + tl, secret, sl);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ok = EVP_Digest(data, tl + sl, md, &mdlen, md5, NULL);
	explicit_bzero(data, tl + sl);
	free(data);
	if (!ok || mdlen != APOP_DIGEST_HEX / 2)
		return -1;
	static const char digits[] = "0123456789abcdef";
	for (unsigned i = 0; i < mdlen; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[APOP_DIGEST_HEX] = '\0';
	return 0;
}

/* Compare a client's digest with ours; the client's hex is folded to lower
 * case first (RFC 1939 asks for lower case, some clients send upper). */
static bool apop_digest_matches(const char *client_hex, const char *ours)
{
	if (strlen(client_hex) != APOP_DIGEST_HEX)
		return false;
	char folded[APOP_DIGEST_HEX];
	for (size_t i = 0; i < APOP_DIGEST_HEX; i++) {
		char c = client_hex[i];
		folded[i] = (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
	}
	return mem_eq_ct(folded, ours, APOP_DIGEST_HEX);
}

enum auth_result auth_apop(struct store *st, const char *user, const char *timestamp, const char *digest_hex, struct store_account *acct_r)
{
	memset(acct_r, 0, sizeof *acct_r);
	if (user == NULL || timestamp == NULL || digest_hex == NULL || !name_acceptable(user))
		return AUTH_FAILED;

	struct store_account a = {0};
	int rc = store_account_find(st, user, &a);
	if (rc == STORE_ERROR)
		return AUTH_TEMPFAIL;

	char ours[APOP_DIGEST_HEX + 1];
	bool usable = rc == STORE_OK && a.apop_secret != NULL && a.apop_secret[0] != '\0';
	/* Do the digest work even for a miss, as auth_login does. */
	if (apop_digest(timestamp, usable ? a.apop_secret : "roost-no-apop-secret", ours) < 0) {
		if (rc == STORE_OK)
			store_account_clear(&a);
		return AUTH_TEMPFAIL;
	}
	bool ok = usable && apop_digest_matches(digest_hex, ours);
	explicit_bzero(ours, sizeof ours);
	if (rc != STORE_OK)
		return AUTH_FAILED;
	if (!ok) {
		store_account_clear(&a);
		return AUTH_FAILED;
	}
	*acct_r = a;
	return AUTH_OK;
}
