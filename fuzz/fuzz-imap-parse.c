/* libFuzzer target for the incremental IMAP command parser: the input is fed
 * whole, one byte at a time and in pieces whose sizes come from the input, with
 * the parser restarting after every DONE/ERROR/TOOLONG. It must never crash,
 * leak or stall, and the three ways must give the same sequence of events. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "imap/imap-parse.h"

/* chunk 0: sizes from the seed, else fixed-size pieces. */
static void run(const char *in, size_t len, size_t chunk, uint32_t seed, struct buf *out)
{
	struct imap_parser *p = imap_parser_new();
	size_t off = 0;
	int stuck = 0;
	while (off < len) {
		size_t n = chunk;
		if (chunk == 0) {
			seed = seed * 1103515245u + 12345u;
			n = (seed >> 16) % 97 + 1;
		}
		if (n > len - off)
			n = len - off;
		size_t used = SIZE_MAX;
		enum imap_parse_status st = imap_parse_feed(p, in + off, n, &used);
		if (used > n || (st == IMAP_PARSE_MORE && used != n))
			__builtin_trap();
		/* A status that consumes nothing is fine once; twice is a stall. */
		stuck = used ? 0 : stuck + 1;
		if (stuck > 1)
			__builtin_trap();
		off += used;
		const char *tag = imap_parse_tag(p);
		switch (st) {
		case IMAP_PARSE_MORE:
			break;
		case IMAP_PARSE_DONE: {
			const struct imap_command *cmd = imap_parse_command(p);
			if (cmd == NULL || cmd->tag == NULL || cmd->name == NULL)
				__builtin_trap();
			buf_printf(out, "D %s %s ", cmd->tag, cmd->name);
			imap_args_dump(cmd->args, cmd->n_args, out);
			for (size_t i = 0; i < cmd->n_args; i++) {
				uint32_t v;
				(void)imap_arg_uint32(&cmd->args[i], &v);
			}
			(void)imap_command_is(cmd, "APPEND");
			buf_appends(out, "\n");
			break;
		}
		case IMAP_PARSE_LITERAL_WAIT:
			buf_printf(out, "W %s %llu\n", tag ? tag : "*", (unsigned long long)imap_parse_literal_size(p));
			break;
		case IMAP_PARSE_ERROR:
		case IMAP_PARSE_TOOLONG:
			if (imap_parse_error(p) == NULL)
				__builtin_trap();
			buf_printf(out, "%c %s %d %s\n", st == IMAP_PARSE_ERROR ? 'E' : 'T', tag ? tag : "*",
				(int)imap_parse_limit(p), imap_parse_error(p));
			break;
		}
	}
	imap_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t seed = (uint32_t)data[0] << 8 | data[1];
	const char *in = (const char *)data + 2;
	size_t len = size - 2;
	struct buf whole = {0}, bytes = {0}, pieces = {0};
	run(in, len, len ? len : 1, 0, &whole);
	run(in, len, 1, 0, &bytes);
	run(in, len, 0, seed, &pieces);
	if (buf_used(&whole) != buf_used(&bytes) || buf_used(&whole) != buf_used(&pieces) ||
		(buf_used(&whole) && (memcmp(buf_head(&whole), buf_head(&bytes), buf_used(&whole)) != 0 ||
			memcmp(buf_head(&whole), buf_head(&pieces), buf_used(&whole)) != 0)))
		__builtin_trap();
	buf_free(&whole);
	buf_free(&bytes);
	buf_free(&pieces);
	return 0;
}
