/* Unit tests for the incremental IMAP command parser. Every case is fed whole
 * and one byte at a time and must give the same transcript of events (DONE with
 * the parsed command, literal waits, errors, limits), which is also checked
 * against the expected text. Every named limit has a case that crosses it, and
 * most also one that just fits. */
#include "test.h"

#include <stdint.h>

#include "core/buf.h"
#include "core/util.h"
#include "imap/imap-parse.h"

/* Feed in[0..len) in pieces of at most chunk bytes; record every event. */
static char *transcript(const char *in, size_t len, size_t chunk)
{
	struct imap_parser *p = imap_parser_new();
	struct buf out = {0};
	size_t off = 0, stuck = 0;
	while (off < len && stuck < 4) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used;
		enum imap_parse_status st = imap_parse_feed(p, in + off, n, &used);
		off += used;
		stuck = used ? 0 : stuck + 1;
		const char *tag = imap_parse_tag(p);
		switch (st) {
		case IMAP_PARSE_MORE:
			if (used != n)
				buf_appends(&out, "BUG: MORE without consuming everything\n");
			break;
		case IMAP_PARSE_DONE: {
			const struct imap_command *cmd = imap_parse_command(p);
			buf_printf(&out, "DONE %s %s", cmd->tag, cmd->name);
			if (cmd->n_args) {
				buf_appends(&out, " ");
				imap_args_dump(cmd->args, cmd->n_args, &out);
			}
			buf_appends(&out, "\n");
			break;
		}
		case IMAP_PARSE_LITERAL_WAIT:
			buf_printf(&out, "WAIT %s %llu\n", tag ? tag : "*", (unsigned long long)imap_parse_literal_size(p));
			break;
		case IMAP_PARSE_ERROR:
			buf_printf(&out, "ERROR %s %s\n", tag ? tag : "*", imap_parse_error(p));
			break;
		case IMAP_PARSE_TOOLONG:
			buf_printf(&out, "TOOLONG %s %d\n", tag ? tag : "*", (int)imap_parse_limit(p));
			break;
		}
	}
	if (stuck)
		buf_appends(&out, "BUG: no progress\n");
	buf_append(&out, "", 1);
	char *s = xstrdup(buf_head(&out));
	buf_free(&out);
	imap_parser_free(p);
	return s;
}

static void expect_n(const char *in, size_t len, const char *want)
{
	char *whole = transcript(in, len, len ? len : 1);
	char *bytes = transcript(in, len, 1);
	char *sevens = transcript(in, len, 7);
	CHECK_EQ_STR(whole, want);
	CHECK_EQ_STR(bytes, want);
	CHECK_EQ_STR(sevens, want);
	free(whole);
	free(bytes);
	free(sevens);
}

#define EXPECT(in, want) expect_n(in, sizeof(in) - 1, want)

TEST(simple_commands)
{
	EXPECT("a1 NOOP\r\n", "DONE a1 NOOP\n");
	EXPECT("A2 capability\r\n", "DONE A2 CAPABILITY\n");
	EXPECT("A3 LOGIN alice secret\r\n", "DONE A3 LOGIN alice secret\n");
	EXPECT("A4 LOGIN \"al\\\"ice\" \"pa\\\\ss word\"\r\n", "DONE A4 LOGIN \"al\\\"ice\" \"pa\\\\ss word\"\n");
	EXPECT("A5 LOGIN \"user\" {5}\r\npass!\r\n", "WAIT A5 5\nDONE A5 LOGIN \"user\" {5}\"pass!\"\n");
	EXPECT("A6 LOGIN {4}\r\nuser {0}\r\n\r\n", "WAIT A6 4\nWAIT A6 0\nDONE A6 LOGIN {4}\"user\" {0}\"\"\n");
	EXPECT("A7 LOGIN \"\" \"\"\r\n", "DONE A7 LOGIN \"\" \"\"\n");
}

TEST(line_ends_and_pipelining)
{
	EXPECT("A1 NOOP\nA2 NOOP\n", "DONE A1 NOOP\nDONE A2 NOOP\n");
	EXPECT("\r\n\nA1 NOOP\r\n\r\nA2 CHECK\r\nA3 LOGOUT\r\n", "DONE A1 NOOP\nDONE A2 CHECK\nDONE A3 LOGOUT\n");
	EXPECT("A1 NOOP \r\n", "DONE A1 NOOP\n");
	/* A bare CR is an error; the rest of that line is dropped. */
	EXPECT("A1 NOOP\rA2 NOOP\r\nA3 NOOP\r\n", "ERROR A1 CR not followed by LF\nDONE A3 NOOP\n");
	/* Incomplete input is not an event. */
	EXPECT("A1 NOO", "");
}

TEST(utf8_quoted_and_search)
{
	EXPECT("A3 SELECT \"Entw\xc3\xbcrfe/Gr\xc3\xbc\xc3\x9f\x65\"\r\n",
		"DONE A3 SELECT \"Entw\xc3\xbcrfe/Gr\xc3\xbc\xc3\x9f\x65\"\n");
	EXPECT("A5 UID SEARCH CHARSET UTF-8 SUBJECT \"Gr\xc3\xbc\xc3\x9f\x65\"\r\n",
		"DONE A5 UID SEARCH CHARSET UTF-8 SUBJECT \"Gr\xc3\xbc\xc3\x9f\x65\"\n");
	EXPECT("A1 SELECT \"a\xff\"\r\nA2 NOOP\r\n", "ERROR A1 Invalid UTF-8 in quoted string\nDONE A2 NOOP\n");
	EXPECT("A1 SELECT caf\xc3\xa9\r\nA2 NOOP\r\n", "ERROR A1 Invalid character in atom\nDONE A2 NOOP\n");
}

TEST(fetch_sections)
{
	EXPECT("A4 FETCH 1:*,5 (FLAGS UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.1024>)\r\n",
		"DONE A4 FETCH 1:*,5 (FLAGS UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.1024>)\n");
	EXPECT("A5 UID FETCH $ (BODY[] BINARY.PEEK[1.2]<0.100> BODY[1.2.MIME] RFC822.SIZE)\r\n",
		"DONE A5 UID FETCH $ (BODY[] BINARY.PEEK[1.2]<0.100> BODY[1.2.MIME] RFC822.SIZE)\n");
	EXPECT("A6 FETCH 1 BODY[HEADER.FIELDS.NOT (\"X-Spam\" {4+}\r\nDate)]\r\n",
		"DONE A6 FETCH 1 BODY[HEADER.FIELDS.NOT (\"X-Spam\" {4+}\"Date\")]\n");
	EXPECT("A7 FETCH 1 BODY[TEXT\r\nA8 NOOP\r\n", "ERROR A7 Unbalanced brackets\nDONE A8 NOOP\n");
	EXPECT("A7 FETCH 1 BODY[TEXT]<>\r\nA8 NOOP\r\n", "ERROR A7 Invalid partial range\nDONE A8 NOOP\n");
	/* ']' outside a section is an ordinary astring character. */
	EXPECT("A9 LOGIN us]er pass\r\n", "DONE A9 LOGIN us]er pass\n");

	struct imap_parser *p = imap_parser_new();
	const char *in = "A4 FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.1024>)\r\n";
	size_t used;
	CHECK_EQ_INT(imap_parse_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	CHECK_EQ_INT(used, strlen(in));
	const struct imap_command *cmd = imap_parse_command(p);
	CHECK(imap_command_is(cmd, "fetch"));
	CHECK_EQ_INT(cmd->n_args, 2);
	CHECK_EQ_INT(cmd->args[0].type, IMAP_ARG_NUMBER);
	CHECK_EQ_INT(cmd->args[1].type, IMAP_ARG_LIST);
	CHECK_EQ_INT(cmd->args[1].list_count, 2);
	const struct imap_arg *s = &cmd->args[1].list[1];
	CHECK_EQ_INT(s->type, IMAP_ARG_SECTION);
	CHECK_EQ_STR(s->str, "BODY.PEEK");
	CHECK_EQ_INT(s->list_count, 2);
	CHECK_EQ_STR(s->list[0].str, "HEADER.FIELDS");
	CHECK_EQ_INT(s->list[1].type, IMAP_ARG_LIST);
	CHECK_EQ_INT(s->list[1].list_count, 2);
	CHECK_EQ_STR(s->list[1].list[1].str, "SUBJECT");
	CHECK_EQ_STR(s->partial, "0.1024");
	CHECK_EQ_INT(s->partial_len, 6);
	imap_parser_free(p);
}

TEST(numbers_nil_and_flags)
{
	EXPECT("A6 STORE 2:4 +FLAGS.SILENT (\\Seen \\Deleted)\r\n", "DONE A6 STORE 2:4 +FLAGS.SILENT (\\Seen \\Deleted)\n");
	struct imap_parser *p = imap_parser_new();
	const char *in = "A1 X 42 nil 18446744073709551615 18446744073709551616 4294967296 ~x ()\r\n";
	size_t used;
	CHECK_EQ_INT(imap_parse_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	const struct imap_command *cmd = imap_parse_command(p);
	CHECK_EQ_INT(cmd->n_args, 7);
	uint32_t n32 = 0;
	CHECK_EQ_INT(cmd->args[0].type, IMAP_ARG_NUMBER);
	CHECK(imap_arg_uint32(&cmd->args[0], &n32) && n32 == 42);
	CHECK_EQ_INT(cmd->args[1].type, IMAP_ARG_NIL);
	CHECK_EQ_INT(cmd->args[2].type, IMAP_ARG_NUMBER);
	CHECK(cmd->args[2].num == UINT64_MAX);
	CHECK_EQ_INT(cmd->args[3].type, IMAP_ARG_ATOM);
	CHECK_EQ_INT(cmd->args[4].type, IMAP_ARG_NUMBER);
	CHECK(!imap_arg_uint32(&cmd->args[4], &n32));
	CHECK_EQ_STR(cmd->args[5].str, "~x");
	CHECK_EQ_INT(cmd->args[6].type, IMAP_ARG_LIST);
	CHECK_EQ_INT(cmd->args[6].list_count, 0);
	imap_parser_free(p);
}

TEST(append_literals)
{
	EXPECT("A7 APPEND INBOX (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {11}\r\nHello world\r\nA8 NOOP\r\n",
		"WAIT A7 11\nDONE A7 APPEND INBOX (\\Seen) \"01-Jan-2024 10:00:00 +0000\" {11}\"Hello world\"\nDONE A8 NOOP\n");
	EXPECT("A7 APPEND INBOX (\\Seen) {12+}\r\nHello\r\nworld\r\n",
		"DONE A7 APPEND INBOX (\\Seen) {12+}\"Hello\\x0d\\x0aworld\"\n");
	EXPECT("A8 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n", "DONE A8 LOGIN {5+}\"alice\" {6+}\"secret\"\n");
	EXPECT("A9 APPEND INBOX ~{3}\r\na\0b\r\n", "WAIT A9 3\nDONE A9 APPEND INBOX ~{3}\"a\\x00b\"\n");
	EXPECT("A9 APPEND INBOX (\\Seen) {2}\r\nab ~{1+}\r\n\0\r\n",
		"WAIT A9 2\nDONE A9 APPEND INBOX (\\Seen) {2}\"ab\" ~{1+}\"\\x00\"\n");
}

TEST(syntax_errors_recover)
{
	EXPECT(" NOOP\r\nA1 NOOP\r\n", "ERROR * Missing tag\nDONE A1 NOOP\n");
	EXPECT("* NOOP\r\nA1 NOOP\r\n", "ERROR * Invalid tag\nDONE A1 NOOP\n");
	EXPECT("A1\r\nA2 NOOP\r\n", "ERROR A1 Missing command\nDONE A2 NOOP\n");
	EXPECT("A1 \r\nA2 NOOP\r\n", "ERROR A1 Missing command\nDONE A2 NOOP\n");
	EXPECT("A1 FETCH 1 (FLAGS\r\nA2 NOOP\r\n", "ERROR A1 Unbalanced parentheses\nDONE A2 NOOP\n");
	EXPECT("A1 FETCH 1 FLAGS)\r\nA2 NOOP\r\n", "ERROR A1 Unexpected )\nDONE A2 NOOP\n");
	EXPECT("A1 X a  b\r\nA2 NOOP\r\n", "ERROR A1 Unexpected space\nDONE A2 NOOP\n");
	EXPECT("A1 X \"a\"b\r\nA2 NOOP\r\n", "ERROR A1 Missing space between arguments\nDONE A2 NOOP\n");
	EXPECT("A1 LOGIN \"abc\r\nA2 NOOP\r\n", "ERROR A1 Unterminated quoted string\nDONE A2 NOOP\n");
	EXPECT("A1 LOGIN \"a\rb\" x\r\nA2 NOOP\r\n", "ERROR A1 Unterminated quoted string\nDONE A2 NOOP\n");
	EXPECT("A1 LOGIN \"a\\xb\" x\r\nA2 NOOP\r\n", "ERROR A1 Invalid escape in quoted string\nDONE A2 NOOP\n");
	EXPECT("A1 LOGIN {abc}\r\nA2 NOOP\r\n", "ERROR A1 Invalid literal size\nDONE A2 NOOP\n");
	EXPECT("A1 LOGIN {}\r\nA2 NOOP\r\n", "ERROR A1 Invalid literal size\nDONE A2 NOOP\n");
	EXPECT("A1 LOGIN {5} x\r\nA2 NOOP\r\n", "ERROR A1 Expected CRLF after literal size\nDONE A2 NOOP\n");
	EXPECT("A1 X\0\r\nA2 NOOP\r\n", "ERROR A1 Invalid command name\nDONE A2 NOOP\n");
	EXPECT("A1 X \"a\0\"\r\nA2 NOOP\r\n", "ERROR A1 NUL in quoted string\nDONE A2 NOOP\n");
	/* The rest of a bad line announces a non-synchronizing literal: its data is
	 * dropped, not parsed as a command. */
	EXPECT("A1 X \"a\0\" {9+}\r\nA3 NOOP\r\n x\r\nA2 NOOP\r\n", "ERROR A1 NUL in quoted string\nDONE A2 NOOP\n");
	/* A synchronizing one is not sent after our BAD: the line ends there. */
	EXPECT("A1 X \"a\0\" {9}\r\nA2 NOOP\r\n", "ERROR A1 NUL in quoted string\nDONE A2 NOOP\n");
	/* NUL inside an ordinary literal: the rest of the literal is dropped. */
	EXPECT("A1 LOGIN {5+}\r\na\0b\r\n x\r\nA2 NOOP\r\n", "ERROR A1 NUL in literal (use literal8)\nDONE A2 NOOP\n");
	/* An error in the middle of a literal announcement. */
	EXPECT("A1 LOGIN {5+x}\r\nA2 NOOP\r\n", "ERROR A1 Invalid literal size\nDONE A2 NOOP\n");
}

TEST(limit_literal)
{
	EXPECT("A1 APPEND INBOX {67108865}\r\nA2 NOOP\r\n", "TOOLONG A1 2\nDONE A2 NOOP\n");
	EXPECT("A1 APPEND INBOX {99999999999999999999999}\r\nA2 NOOP\r\n",
		"ERROR A1 Invalid literal size\nDONE A2 NOOP\n");

	struct imap_parser *p = imap_parser_new();
	const char *in = "A1 APPEND INBOX {99999999999}\r\n";
	size_t used;
	CHECK_EQ_INT(imap_parse_feed(p, in, strlen(in), &used), IMAP_PARSE_TOOLONG);
	CHECK_EQ_INT(imap_parse_limit(p), IMAP_LIMIT_LITERAL);
	CHECK(imap_parse_literal_size(p) == 99999999999ull);
	CHECK_EQ_STR(imap_parse_tag(p), "A1");
	imap_parser_free(p);

	/* A non-synchronizing literal over the limit is skipped byte for byte; the
	 * literals of one command count together. */
	const char *head = "A1 APPEND INBOX {33554432+}\r\n";
	const char *head2 = " {33554433+}\r\n";
	const char *tail = "\r\nA2 NOOP\r\n";
	size_t big = 33554432;
	struct buf b = {0};
	buf_appends(&b, head);
	memset(buf_reserve(&b, big), 'x', big);
	buf_commit(&b, big);
	buf_appends(&b, head2);
	memset(buf_reserve(&b, big + 1), 'A', big + 1);
	buf_commit(&b, big + 1);
	buf_appends(&b, tail);
	char *whole = transcript(buf_head(&b), buf_used(&b), buf_used(&b));
	char *pieces = transcript(buf_head(&b), buf_used(&b), 4093);
	CHECK_EQ_STR(whole, "TOOLONG A1 2\nDONE A2 NOOP\n");
	CHECK_EQ_STR(pieces, "TOOLONG A1 2\nDONE A2 NOOP\n");
	free(whole);
	free(pieces);
	buf_free(&b);
}

static void expect_buf(struct buf *b, const char *want)
{
	expect_n(buf_head(b), buf_used(b), want);
	buf_free(b);
}

TEST(limit_depth)
{
	struct buf b = {0};
	buf_appends(&b, "A1 X ");
	for (int i = 0; i < IMAP_MAX_DEPTH; i++)
		buf_appends(&b, "(");
	for (int i = 0; i < IMAP_MAX_DEPTH; i++)
		buf_appends(&b, ")");
	buf_appends(&b, "\r\n");
	struct buf want = {0};
	buf_appends(&want, "DONE A1 X ");
	buf_append(&want, buf_head(&b) + 5, buf_used(&b) - 7);
	buf_appends(&want, "\n");
	buf_append(&want, "", 1);
	expect_buf(&b, buf_head(&want));
	buf_free(&want);

	buf_appends(&b, "A1 X ");
	for (int i = 0; i <= IMAP_MAX_DEPTH; i++)
		buf_appends(&b, "(");
	buf_appends(&b, "\r\nA2 NOOP\r\n");
	expect_buf(&b, "TOOLONG A1 3\nDONE A2 NOOP\n");

	buf_appends(&b, "A1 FETCH 1 ");
	for (int i = 0; i < IMAP_MAX_DEPTH; i++)
		buf_appends(&b, "B[");
	buf_appends(&b, "\r\nA2 NOOP\r\n");
	expect_buf(&b, "ERROR A1 Unbalanced brackets\nDONE A2 NOOP\n");
	buf_appends(&b, "A1 FETCH 1 ");
	for (int i = 0; i <= IMAP_MAX_DEPTH; i++)
		buf_appends(&b, "B[");
	buf_appends(&b, "\r\nA2 NOOP\r\n");
	expect_buf(&b, "TOOLONG A1 3\nDONE A2 NOOP\n");
}

TEST(limit_line)
{
	struct buf b = {0};
	buf_appends(&b, "A1 X ");
	size_t n = IMAP_MAX_LINE - 5;
	memset(buf_reserve(&b, n), 'a', n);
	buf_commit(&b, n);
	buf_appends(&b, "\r\n");
	struct imap_parser *p = imap_parser_new();
	size_t used;
	CHECK_EQ_INT(imap_parse_feed(p, buf_head(&b), buf_used(&b), &used), IMAP_PARSE_DONE);
	CHECK_EQ_INT(imap_parse_command(p)->args[0].len, n);
	imap_parser_free(p);
	buf_free(&b);

	buf_appends(&b, "A1 X ");
	n = IMAP_MAX_LINE - 4;
	memset(buf_reserve(&b, n), 'a', n);
	buf_commit(&b, n);
	buf_appends(&b, " {3+}\r\nabc\r\nA2 NOOP\r\n");
	expect_buf(&b, "TOOLONG A1 1\nDONE A2 NOOP\n");

	/* Text after a literal counts towards the same command. */
	buf_appends(&b, "A1 X {1+}\r\n");
	buf_appends(&b, "x ");
	n = IMAP_MAX_LINE;
	memset(buf_reserve(&b, n), 'a', n);
	buf_commit(&b, n);
	buf_appends(&b, "\r\nA2 NOOP\r\n");
	expect_buf(&b, "TOOLONG A1 1\nDONE A2 NOOP\n");
}

TEST(limit_tokens)
{
	struct buf b = {0};
	buf_appends(&b, "A1 X");
	for (int i = 0; i < IMAP_MAX_TOKENS; i++)
		buf_appends(&b, " a");
	buf_appends(&b, "\r\n");
	struct imap_parser *p = imap_parser_new();
	size_t used;
	CHECK_EQ_INT(imap_parse_feed(p, buf_head(&b), buf_used(&b), &used), IMAP_PARSE_DONE);
	CHECK_EQ_INT(imap_parse_command(p)->n_args, IMAP_MAX_TOKENS);
	imap_parser_free(p);
	buf_free(&b);

	buf_appends(&b, "A1 X (");
	for (int i = 0; i < IMAP_MAX_TOKENS; i++)
		buf_appends(&b, " a" + (i == 0));
	buf_appends(&b, ")\r\nA2 NOOP\r\n");
	expect_buf(&b, "TOOLONG A1 4\nDONE A2 NOOP\n");
}

TEST(limit_tag)
{
	struct buf b = {0};
	for (int i = 0; i < IMAP_MAX_TAG; i++)
		buf_appends(&b, "t");
	buf_appends(&b, " NOOP\r\n");
	struct buf want = {0};
	buf_appends(&want, "DONE ");
	buf_append(&want, buf_head(&b), IMAP_MAX_TAG);
	buf_appends(&want, " NOOP\n");
	buf_append(&want, "", 1);
	expect_buf(&b, buf_head(&want));
	buf_free(&want);

	for (int i = 0; i <= IMAP_MAX_TAG; i++)
		buf_appends(&b, "t");
	buf_appends(&b, " NOOP\r\nA2 NOOP\r\n");
	expect_buf(&b, "TOOLONG * 5\nDONE A2 NOOP\n");
}

TEST(result_lives_until_next_feed)
{
	struct imap_parser *p = imap_parser_new();
	size_t used;
	const char *in = "A1 LOGIN {5}\r\n";
	CHECK_EQ_INT(imap_parse_feed(p, in, strlen(in), &used), IMAP_PARSE_LITERAL_WAIT);
	CHECK_EQ_INT(used, strlen(in));
	CHECK(imap_parse_literal_size(p) == 5);
	CHECK_EQ_STR(imap_parse_tag(p), "A1");
	CHECK(imap_parse_command(p) == NULL);
	in = "alice\r\nA2 NOOP\r\n";
	CHECK_EQ_INT(imap_parse_feed(p, in, strlen(in), &used), IMAP_PARSE_DONE);
	CHECK_EQ_INT(used, 7);
	const struct imap_command *cmd = imap_parse_command(p);
	CHECK(cmd != NULL && cmd->n_args == 1 && cmd->args[0].type == IMAP_ARG_LITERAL);
	CHECK_EQ_STR(cmd->args[0].str, "alice");
	CHECK_EQ_INT(imap_parse_feed(p, in + used, strlen(in) - used, &used), IMAP_PARSE_DONE);
	CHECK_EQ_STR(imap_parse_command(p)->tag, "A2");
	CHECK_EQ_INT(imap_parse_feed(p, "", 0, &used), IMAP_PARSE_MORE);
	CHECK(imap_parse_tag(p) == NULL);
	imap_parser_free(p);
}
