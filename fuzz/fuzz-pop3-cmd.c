/* libFuzzer target for the POP3 command-line parser: framing, splitting into
 * verb and arguments, number parsing and the UTF-8 check must never crash,
 * read out of bounds or loop, whatever the bytes. */
#include <stdint.h>
#include <string.h>

#include "core/util.h"
#include "pop3/pop3-cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t off = 0;
	while (off < size) {
		ssize_t n = pop3_frame(in + off, size - off);
		size_t linelen = n > 0 ? (size_t)n : size - off;
		if (n > 0 && (size_t)n > size - off)
			__builtin_trap();
		size_t len = pop3_line_strip(in + off, linelen);
		if (len > linelen)
			__builtin_trap();
		struct pop3_cmd cmd;
		if (pop3_cmd_parse(in + off, len, &cmd) == POP3_PARSE_OK) {
			for (unsigned i = 0; i < cmd.n_args && i < POP3_MAX_ARGS; i++) {
				uint32_t num;
				uint64_t count;
				(void)pop3_parse_msgnum(cmd.args[i], &num);
				(void)pop3_parse_count(cmd.args[i], &count);
			}
			(void)pop3_verb_is(&cmd, "RETR");
			(void)utf8_valid(cmd.rest.p, cmd.rest.len);
			(void)pop3_no_controls(cmd.rest.p, cmd.rest.len);
		}
		off += linelen;
	}
	return 0;
}
