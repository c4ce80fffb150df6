/* SASL PLAIN (RFC 4616) message parsing: authzid NUL authcid NUL passwd, after
 * base64 decoding. It promises that on success both outputs are non-empty,
 * NUL-free, within AUTH_MAX_USERNAME / AUTH_MAX_PASSWORD, and that any authzid
 * names the same account (no logging in as someone else). */
#include "auth/auth.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int auth_sasl_plain_parse(const unsigned char *msg, size_t len, char **storage_r, const char **authcid_r, const char **passwd_r)
{
	*storage_r = NULL;
	*authcid_r = NULL;
	*passwd_r = NULL;
	if (msg == NULL || len > AUTH_MAX_USERNAME * 2 + AUTH_MAX_PASSWORD + 2)
		return -1;

	const unsigned char *nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL)
		return -1;
	size_t rest = len - (size_t)(nul1 + 1 - msg);
	const unsigned char *nul2 = memchr(nul1 + 1, '\0', rest);
	if (nul2 == NULL)
		return -1;

	size_t zlen = (size_t)(nul1 - msg);
	size_t clen = (size_t)(nul2 - nul1 - 1);
	size_t plen = len - (size_t)(nul2 + 1 - msg);
	/* A third NUL would mean a password with a NUL in it: refuse. */
	if (memchr(nul2 + 1, '\0', plen) != NULL)
		return -1;
	if (clen == 0 || clen > AUTH_MAX_USERNAME || plen == 0 || plen > AUTH_MAX_PASSWORD || zlen > AUTH_MAX_USERNAME)
		return -1;

	/* The copy keeps the NULs, so every part is a C string in place. */
	char *copy = xmalloc(len + 1);
	memcpy(copy, msg, len);
	copy[len] = '\0';
	const char *authzid = copy, *authcid = copy + zlen + 1, *passwd = authcid + clen + 1;
	if (zlen > 0 && !str_ieq(authzid, authcid)) {
		explicit_bzero(copy, len);
		free(copy);
		return -1;
	}
	*storage_r = copy;
	*authcid_r = authcid;
	*passwd_r = passwd;
	return 0;
}

void auth_secret_free(char *p, size_t len)
{
	if (p != NULL) {
		explicit_bzero(p, len);
		free(p);
	}
}
