/* libFuzzer target for the RETR/TOP dot-stuffer: the first byte picks the mode
 * (RETR or TOP with a small line budget) and a chunk size; the output must not
 * depend on how the input was chunked, and RETR output must un-stuff back to
 * the input (plus a final CRLF when it lacked one). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "pop3/pop3-stuff.h"

static void run(const char *in, size_t len, bool top, uint64_t lines, size_t chunk, struct buf *out)
{
	struct pop3_stuffer s;
	pop3_stuff_init(&s, top, lines);
	for (size_t off = 0; off < len && !pop3_stuff_done(&s);) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used = pop3_stuff_feed(&s, in + off, n, out);
		if (used > n)
			__builtin_trap();
		off += n;
	}
	pop3_stuff_finish(&s, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool top = data[0] & 1;
	uint64_t lines = (data[0] >> 1) & 7;
	size_t chunk = (size_t)(data[0] >> 4) + 1;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	struct buf whole = {0}, pieces = {0};
	run(in, len, top, lines, len ? len : 1, &whole);
	run(in, len, top, lines, chunk, &pieces);
	if (buf_used(&whole) != buf_used(&pieces) || memcmp(buf_head(&whole), buf_head(&pieces), buf_used(&whole)) != 0)
		__builtin_trap();
	if (!top) {
		/* Un-stuff: drop the final ".\r\n", then one leading '.' of each line. */
		size_t n = buf_used(&whole);
		const char *o = buf_head(&whole);
		if (n < 3 || memcmp(o + n - 3, ".\r\n", 3) != 0)
			__builtin_trap();
		n -= 3;
		struct buf back = {0};
		bool bol = true;
		for (size_t i = 0; i < n; i++) {
			if (bol && o[i] == '.') {
				bol = false;
				continue;
			}
			buf_append(&back, o + i, 1);
			bol = o[i] == '\n';
		}
		size_t want = len;
		bool add_crlf = len > 0 && !(len >= 2 && in[len - 2] == '\r' && in[len - 1] == '\n');
		if (buf_used(&back) != want + (add_crlf ? 2 : 0) || (want && memcmp(buf_head(&back), in, want) != 0))
			__builtin_trap();
		if (pop3_wire_size(len, !add_crlf) != buf_used(&back))
			__builtin_trap();
		buf_free(&back);
	}
	buf_free(&whole);
	buf_free(&pieces);
	return 0;
}
