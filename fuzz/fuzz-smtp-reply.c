/* libFuzzer target for what the outbound SMTP client reads from a remote
 * server: replies (multi-line, enhanced codes), EHLO keywords and MX answers
 * must never crash, read out of bounds or loop; a reply that parses spans
 * no more than the input, and its text stays within its bound. */
#include <stdint.h>
#include <string.h>

#include "smtp/smtp-client.h"
#include "smtp/smtp-mx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t off = 0;
	while (off < size) {
		struct smtp_reply r;
		ssize_t n = smtp_reply_parse(in + off, size - off, &r);
		if (n <= 0)
			break;
		if ((size_t)n > size - off || r.code < 200 || r.code > 599 || strlen(r.text) >= sizeof r.text ||
		    strlen(r.enh) >= sizeof r.enh)
			__builtin_trap();
		struct smtp_ehlo e;
		smtp_ehlo_parse(in + off, (size_t)n, &e);
		off += (size_t)n;
	}
	struct mx_host h[MX_MAX_HOSTS];
	int m = mx_parse(data, size, h, MX_MAX_HOSTS);
	if (m > MX_MAX_HOSTS)
		__builtin_trap();
	for (int i = 1; i < m; i++)
		if (h[i - 1].pref > h[i].pref)
			__builtin_trap();
	return 0;
}
