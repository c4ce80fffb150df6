/* libFuzzer target for the DATA reader, with an oracle: the output, the bytes
 * taken and every count must be the same whether the input is fed whole, in
 * pieces of a size taken from the input, or byte by byte; and the output
 * must be in CRLF form (no bare CR, no bare LF) and never end the data
 * anywhere but at a real CRLF "." CRLF. */
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "smtp/smtp-data.h"

static size_t run(const char *in, size_t len, size_t piece, struct smtp_data *d, struct buf *out)
{
	smtp_data_init(d);
	size_t off = 0;
	while (off < len && !smtp_data_done(d)) {
		size_t n = len - off < piece ? len - off : piece;
		size_t u = smtp_data_feed(d, in + off, n, out);
		if (u > n)
			__builtin_trap();
		off += u;
		if (u < n && !smtp_data_done(d))
			__builtin_trap();
	}
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t piece = (size_t)(data[0] % 13) + 1;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;

	struct smtp_data d[3];
	struct buf out[3] = {{0}, {0}, {0}};
	size_t used[3];
	used[0] = run(in, len, len ? len : 1, &d[0], &out[0]);
	used[1] = run(in, len, piece, &d[1], &out[1]);
	used[2] = run(in, len, 1, &d[2], &out[2]);
	for (int k = 1; k < 3; k++) {
		if (used[k] != used[0] || buf_used(&out[k]) != buf_used(&out[0]) ||
		    (buf_used(&out[0]) > 0 &&
		     memcmp(buf_head(&out[k]), buf_head(&out[0]), buf_used(&out[0])) != 0) ||
		    memcmp(&d[k], &d[0], sizeof d[0]) != 0)
			__builtin_trap();
	}
	size_t on = buf_used(&out[0]);
	const char *o = on > 0 ? buf_head(&out[0]) : "";
	if (d[0].octets != on || on > 2 * len)
		__builtin_trap();
	for (size_t i = 0; i < on; i++) {
		if (o[i] == '\r' && (i + 1 == on || o[i + 1] != '\n'))
			__builtin_trap();
		if (o[i] == '\n' && (i == 0 || o[i - 1] != '\r'))
			__builtin_trap();
	}
	/* Done only right after CRLF "." CRLF, or ".\r\n" at the very start. */
	if (smtp_data_done(&d[0])) {
		size_t u = used[0];
		if (u < 3 || memcmp(in + u - 3, ".\r\n", 3) != 0)
			__builtin_trap();
		if (u > 3 && (u < 5 || in[u - 4] != '\n' || in[u - 5] != '\r'))
			__builtin_trap();
	} else if (used[0] != len) {
		__builtin_trap();
	}
	for (int k = 0; k < 3; k++)
		buf_free(&out[k]);
	return 0;
}
