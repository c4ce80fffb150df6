/* The DKIM header handling on untrusted messages: the From address and
 * domain (which also decide who may send as whom on submission),
 * relaxed canonicalization of a header field and of a body, and the body
 * hash. Whatever the input: no crash, an address holds one '@' at least and
 * no line break, a domain is lower case, and canonical forms are stable
 * (canonicalizing a canonical body gives it back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char *addr = dkim_from_address(in, size);
	if (addr != NULL && (strchr(addr, '@') == NULL || strpbrk(addr, "\r\n") != NULL))
		abort();
	char *domain = dkim_from_domain(in, size);
	if (domain != NULL) {
		for (const char *p = domain; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
		if (addr == NULL)
			abort();
	}
	free(addr);
	free(domain);

	struct buf once = {0}, twice = {0}, hash = {0};
	dkim_canon_body(in, size, &once);
	dkim_canon_body(once.len ? buf_head(&once) : "", buf_used(&once), &twice);
	if (buf_used(&once) != buf_used(&twice) || (buf_used(&once) && memcmp(buf_head(&once), buf_head(&twice), buf_used(&once)) != 0))
		abort();
	buf_clear(&once);
	dkim_canon_header(in, size, &once);
	dkim_body_hash(in, size, &hash);
	buf_free(&once);
	buf_free(&twice);
	buf_free(&hash);
	return 0;
}
