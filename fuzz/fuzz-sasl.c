/* libFuzzer target for SASL input: base64 decoding (as AUTH lines arrive) and
 * the PLAIN message parser. */
#include <stdint.h>
#include <stdlib.h>

#include "auth/auth.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *dec = malloc(size + 1);
	long n = base64_decode((const char *)data, size, dec, size);
	if (n > (long)size)
		__builtin_trap();
	char *storage = NULL;
	const char *user, *pass;
	if (auth_sasl_plain_parse(data, size, &storage, &user, &pass) == 0)
		free(storage);
	if (n >= 0 && auth_sasl_plain_parse(dec, (size_t)n, &storage, &user, &pass) == 0)
		free(storage);
	free(dec);
	return 0;
}
