/* Password hashes through libcrypt: new passwords get yescrypt ($y$), and the
 * strong schemes libcrypt verifies ($y$, $gy$, $7$, $2b$/$2y$/$2a$, $6$, $5$)
 * are accepted for checking and for import. Results are compared in constant
 * time, and the large struct crypt_data always lives on the heap. */
#include "auth/auth.h"

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Hash prefixes we verify and accept for import. Weak legacy schemes (DES,
 * MD5-crypt, NT) are refused: an account with such a hash cannot log in. */
/* libcrypt refuses longer passphrases, whatever AUTH_MAX_PASSWORD allows. */
#define HASH_MAX_PASSWORD (CRYPT_MAX_PASSPHRASE_SIZE - 1)

static const char *const schemes[] = {"$y$", "$gy$", "$7$", "$2b$", "$2y$", "$2a$", "$6$", "$5$"};

static bool scheme_known(const char *hash)
{
	for (size_t i = 0; i < ARRAY_LEN(schemes); i++)
		if (strncmp(hash, schemes[i], strlen(schemes[i])) == 0)
			return true;
	return false;
}

/* Run crypt_r with heap-allocated state; returns an allocated result, or NULL
 * when libcrypt refused the setting. */
static char *crypt_alloc(const char *password, const char *setting)
{
	struct crypt_data *cd = xcalloc(1, sizeof *cd);
	char *out = crypt_r(password, setting, cd);
	char *r = NULL;
	if (out != NULL && out[0] != '*' && out[0] != '\0')
		r = xstrdup(out);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return r;
}

char *auth_hash_password(const char *password, const char **error_r)
{
	if (strlen(password) > HASH_MAX_PASSWORD) {
		*error_r = "password too long (511 bytes at most)";
		return NULL;
	}
	char *salt = crypt_gensalt_ra("$y$", 0, NULL, 0);
	if (salt == NULL) {
		*error_r = "cannot generate a salt (no entropy source?)";
		return NULL;
	}
	char *hash = crypt_alloc(password, salt);
	free(salt);
	if (hash == NULL)
		*error_r = "libcrypt refused to hash the password";
	return hash;
}

bool auth_verify_password(const char *password, const char *hash)
{
	if (password == NULL || hash == NULL || !scheme_known(hash))
		return false;
	if (strlen(password) > HASH_MAX_PASSWORD)
		return false;
	char *out = crypt_alloc(password, hash);
	if (out == NULL)
		return false;
	size_t n = strlen(hash);
	bool ok = strlen(out) == n && mem_eq_ct(out, hash, n);
	explicit_bzero(out, strlen(out));
	free(out);
	return ok;
}

bool auth_hash_supported(const char *hash)
{
	if (hash == NULL || !scheme_known(hash) || strlen(hash) > CRYPT_OUTPUT_SIZE - 1)
		return false;
	/* A complete hash reproduces its own length when used as the setting; a
	 * bare salt ("$6$abc$") or a truncated hash does not. */
	char *out = crypt_alloc("roost-probe", hash);
	if (out == NULL)
		return false;
	bool ok = strlen(out) == strlen(hash);
	if (ok) {
		/* Everything up to the last '$' is the setting and must come back. */
		const char *last = strrchr(hash, '$');
		ok = last != NULL && strncmp(out, hash, (size_t)(last - hash)) == 0;
	}
	free(out);
	return ok;
}
