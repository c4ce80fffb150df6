/* Password hashes, SASL decoding and failed-login throttling. Protocols call
 * auth_login() and never look at hashes themselves. */
#ifndef ROOST_AUTH_H
#define ROOST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define AUTH_MAX_PASSWORD 512  /* longer passwords are refused outright (libcrypt hashes at most 512 bytes) */
#define AUTH_MAX_USERNAME 320  /* a full address at most */

/* Hash a new password with yescrypt ($y$). Returns an allocated string or NULL
 * with *error_r set. */
char *auth_hash_password(const char *password, const char **error_r);
/* Check a password against any crypt(3) hash libcrypt knows ($y$, $gy$, $7$,
 * $6$, $5$, $2b$/$2y$, ...). Constant-time comparison of the result. */
bool auth_verify_password(const char *password, const char *hash);
/* True when the string looks like a crypt(3) hash libcrypt can verify (for
 * importing existing hashes with `roost user add --hash`). */
bool auth_hash_supported(const char *hash);

enum auth_result { AUTH_OK, AUTH_FAILED, AUTH_TEMPFAIL };

/* Wipe len bytes of a secret (a decoded SASL response, a password) and free
 * it; NULL is fine. */
void auth_secret_free(char *p, size_t len);

/* How long a successful password check is remembered (seconds, 0: never),
 * so that repeated logins skip the slow hash; auth.cache_ttl (cache.c says
 * what it keeps and what that risks). Also empties the cache. */
void auth_cache_configure(int64_t ttl_seconds);

/* Look up the account and check the password. On AUTH_OK fills *acct_r
 * (release with store_account_clear). AUTH_TEMPFAIL means the store failed. */
enum auth_result auth_login(struct store *st, const char *user, const char *password, struct store_account *acct_r);

/* APOP (RFC 1939): digest_hex is MD5(timestamp || secret) in lower-case hex.
 * Fails for accounts without an APOP secret. */
enum auth_result auth_apop(struct store *st, const char *user, const char *timestamp, const char *digest_hex, struct store_account *acct_r);

/* SASL PLAIN (RFC 4616) message: authzid NUL authcid NUL passwd, already
 * base64-decoded. Returns -1 if malformed. The outputs point into an allocated
 * copy returned in *storage_r (free it when done). An authzid, if present, must
 * equal the authcid (no proxy logins). */
int auth_sasl_plain_parse(const unsigned char *msg, size_t len, char **storage_r, const char **authcid_r, const char **passwd_r);

/* Failed-login throttling, per client address and per account name: after
 * max_failures failures within 15 minutes, each further attempt (right or wrong)
 * is answered only after a delay that doubles up to 15 seconds. Thread-safe. */
struct auth_throttle;
struct auth_throttle *auth_throttle_new(int max_failures);
void auth_throttle_free(struct auth_throttle *t);
/* Milliseconds to wait before answering this attempt. */
int auth_throttle_delay_ms(struct auth_throttle *t, const char *ip, const char *user);
void auth_throttle_record(struct auth_throttle *t, const char *ip, const char *user, bool success);

#endif
