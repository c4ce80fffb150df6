/* libFuzzer target for the SEARCH criteria parser: the input is the text
 * after "S SEARCH " of one command, run through the IMAP command parser and
 * then imap_search_parse(). Whatever the input, it must not crash, leak or
 * take more than linear time, and a parsed program must render (dump). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "imap/imap-parse.h"
#include "imap/imap-search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in = {0};
	buf_appends(&in, "S SEARCH ");
	buf_append(&in, data, size);
	buf_appends(&in, "\r\n");
	struct imap_parser *p = imap_parser_new();
	size_t off = 0;
	while (off < buf_used(&in)) {
		size_t used = 0;
		enum imap_parse_status st = imap_parse_feed(p, buf_head(&in) + off, buf_used(&in) - off, &used);
		off += used;
		if (st == IMAP_PARSE_DONE) {
			const struct imap_command *cmd = imap_parse_command(p);
			struct search_query q;
			memset(&q, 0, sizeof q);
			const char *err = NULL;
			if (imap_search_parse(cmd->args, cmd->n_args, &q, &err) == SEARCH_PARSE_OK) {
				struct buf dump = {0};
				imap_search_dump(q.root, &dump);
				buf_free(&dump);
			} else if (err == NULL) {
				__builtin_trap(); /* every refusal says why */
			}
			imap_search_free(&q);
			break;
		}
		if (st != IMAP_PARSE_MORE && st != IMAP_PARSE_LITERAL_WAIT)
			break;
		if (used == 0)
			break;
	}
	imap_parser_free(p);
	buf_free(&in);
	return 0;
}
