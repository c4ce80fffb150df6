/* Unit tests for the socket-free parts of POP3: command framing and
 * tokenizing (pop3-cmd.c) and the incremental dot-stuffer behind RETR and TOP
 * (pop3-stuff.c). Every stuffer case is run whole and in chunks of every size
 * from one byte up, and must give the same bytes each way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "net/conn.h"
#include "pop3/pop3-cmd.h"
#include "pop3/pop3-stuff.h"
#include "test.h"

/* ---- framing ---- */

TEST(frame_waits_for_lf)
{
	CHECK_EQ_INT(pop3_frame("", 0), 0);
	CHECK_EQ_INT(pop3_frame("STAT", 4), 0);
	CHECK_EQ_INT(pop3_frame("STAT\r", 5), 0);
	CHECK_EQ_INT(pop3_frame("STAT\r\n", 6), 6);
	CHECK_EQ_INT(pop3_frame("STAT\n", 5), 5);
}

TEST(frame_pipelined_lines_one_at_a_time)
{
	const char *in = "USER a\r\nPASS b\nSTAT\r\n";
	size_t len = strlen(in);
	ssize_t n1 = pop3_frame(in, len);
	CHECK_EQ_INT(n1, 8);
	ssize_t n2 = pop3_frame(in + n1, len - (size_t)n1);
	CHECK_EQ_INT(n2, 7);
	ssize_t n3 = pop3_frame(in + n1 + n2, len - (size_t)(n1 + n2));
	CHECK_EQ_INT(n3, 6);
}

TEST(frame_byte_at_a_time)
{
	const char *in = "RETR 1\r\n";
	size_t len = strlen(in);
	for (size_t i = 1; i < len; i++)
		CHECK_EQ_INT(pop3_frame(in, i), 0);
	CHECK_EQ_INT(pop3_frame(in, len), (ssize_t)len);
}

TEST(frame_limit)
{
	char *line = xmalloc(POP3_MAX_LINE + 2);
	memset(line, 'A', POP3_MAX_LINE + 2);
	/* Exactly POP3_MAX_LINE octets including CRLF: accepted. */
	line[POP3_MAX_LINE - 2] = '\r';
	line[POP3_MAX_LINE - 1] = '\n';
	CHECK_EQ_INT(pop3_frame(line, POP3_MAX_LINE), POP3_MAX_LINE);
	CHECK_EQ_INT(pop3_frame(line, POP3_MAX_LINE + 1), POP3_MAX_LINE);
	/* One octet more: too long, whether or not the LF has arrived. */
	memset(line, 'A', POP3_MAX_LINE + 2);
	line[POP3_MAX_LINE - 1] = '\r';
	line[POP3_MAX_LINE] = '\n';
	CHECK_EQ_INT(pop3_frame(line, POP3_MAX_LINE + 1), FRAME_TOOLONG);
	CHECK_EQ_INT(pop3_frame(line, POP3_MAX_LINE), FRAME_TOOLONG);
	CHECK_EQ_INT(pop3_frame(line, POP3_MAX_LINE - 1), 0);
	/* No LF at all. */
	memset(line, 'A', POP3_MAX_LINE + 2);
	CHECK_EQ_INT(pop3_frame(line, POP3_MAX_LINE + 1), FRAME_TOOLONG);
	free(line);
}

TEST(frame_limit_fits_auth_plain)
{
	/* AUTH PLAIN with the longest user name and password must fit. */
	size_t raw = 320 + 1 + 320 + 1 + 1024;
	CHECK(strlen("AUTH PLAIN ") + base64_encoded_len(raw) + 2 <= POP3_MAX_LINE);
}

TEST(strip_terminators)
{
	CHECK_EQ_INT(pop3_line_strip("STAT\r\n", 6), 4);
	CHECK_EQ_INT(pop3_line_strip("STAT\n", 5), 4);
	CHECK_EQ_INT(pop3_line_strip("STAT", 4), 4);
	CHECK_EQ_INT(pop3_line_strip("\r\n", 2), 0);
	CHECK_EQ_INT(pop3_line_strip("\n", 1), 0);
	CHECK_EQ_INT(pop3_line_strip("", 0), 0);
	/* Only one CR belongs to the terminator. */
	CHECK_EQ_INT(pop3_line_strip("A\r\r\n", 4), 2);
}

/* ---- tokenizing ---- */

static int tok_eq(struct pop3_token t, const char *s)
{
	return t.len == strlen(s) && memcmp(t.p, s, t.len) == 0;
}

TEST(parse_verb_only)
{
	struct pop3_cmd cmd;
	CHECK_EQ_INT(pop3_cmd_parse("STAT", 4, &cmd), POP3_PARSE_OK);
	CHECK(tok_eq(cmd.verb, "STAT"));
	CHECK_EQ_INT(cmd.n_args, 0);
	CHECK_EQ_INT(cmd.rest.len, 0);
	CHECK(pop3_verb_is(&cmd, "stat"));
	CHECK(pop3_verb_is(&cmd, "STAT"));
	CHECK(!pop3_verb_is(&cmd, "STA"));
	CHECK(!pop3_verb_is(&cmd, "STATS"));
}

TEST(parse_case_insensitive)
{
	struct pop3_cmd cmd;
	CHECK_EQ_INT(pop3_cmd_parse("rEtR 5", 6, &cmd), POP3_PARSE_OK);
	CHECK(pop3_verb_is(&cmd, "RETR"));
	CHECK_EQ_INT(cmd.n_args, 1);
	CHECK(tok_eq(cmd.args[0], "5"));
}

TEST(parse_args_and_rest)
{
	struct pop3_cmd cmd;
	const char *l = "TOP 1 10";
	CHECK_EQ_INT(pop3_cmd_parse(l, strlen(l), &cmd), POP3_PARSE_OK);
	CHECK_EQ_INT(cmd.n_args, 2);
	CHECK(tok_eq(cmd.args[0], "1"));
	CHECK(tok_eq(cmd.args[1], "10"));
	CHECK(tok_eq(cmd.rest, "1 10"));
}

TEST(parse_pass_keeps_spaces_in_rest)
{
	struct pop3_cmd cmd;
	const char *l = "PASS  my secret pass ";
	CHECK_EQ_INT(pop3_cmd_parse(l, strlen(l), &cmd), POP3_PARSE_OK);
	CHECK(tok_eq(cmd.rest, " my secret pass "));
	CHECK_EQ_INT(cmd.n_args, 3);
	CHECK(tok_eq(cmd.args[0], "my"));
	CHECK(tok_eq(cmd.args[1], "secret"));
}

TEST(parse_trailing_space_is_not_an_argument)
{
	struct pop3_cmd cmd;
	CHECK_EQ_INT(pop3_cmd_parse("LIST ", 5, &cmd), POP3_PARSE_OK);
	CHECK_EQ_INT(cmd.n_args, 0);
	CHECK_EQ_INT(pop3_cmd_parse("LIST 1  ", 8, &cmd), POP3_PARSE_OK);
	CHECK_EQ_INT(cmd.n_args, 1);
	CHECK(tok_eq(cmd.args[0], "1"));
}

TEST(parse_counts_extra_args)
{
	struct pop3_cmd cmd;
	const char *l = "RETR 1 2 3 4";
	CHECK_EQ_INT(pop3_cmd_parse(l, strlen(l), &cmd), POP3_PARSE_OK);
	CHECK_EQ_INT(cmd.n_args, 4);
	CHECK(tok_eq(cmd.args[0], "1"));
	CHECK(tok_eq(cmd.args[1], "2"));
}

TEST(parse_rejects_empty_and_nul)
{
	struct pop3_cmd cmd;
	CHECK_EQ_INT(pop3_cmd_parse("", 0, &cmd), POP3_PARSE_EMPTY);
	CHECK_EQ_INT(pop3_cmd_parse(" STAT", 5, &cmd), POP3_PARSE_EMPTY);
	CHECK_EQ_INT(pop3_cmd_parse("ST\0AT", 5, &cmd), POP3_PARSE_NUL);
	CHECK_EQ_INT(pop3_cmd_parse("PASS a\0b", 8, &cmd), POP3_PARSE_NUL);
	CHECK_EQ_INT(pop3_cmd_parse("\0", 1, &cmd), POP3_PARSE_NUL);
}

TEST(parse_does_not_read_past_len)
{
	/* The line is not NUL-terminated: tokens must stay inside it. */
	char *l = xmalloc(6);
	memcpy(l, "DELE 7", 6);
	struct pop3_cmd cmd;
	CHECK_EQ_INT(pop3_cmd_parse(l, 6, &cmd), POP3_PARSE_OK);
	CHECK(tok_eq(cmd.args[0], "7"));
	free(l);
}

/* ---- numbers ---- */

static struct pop3_token T(const char *s)
{
	return (struct pop3_token){s, strlen(s)};
}

TEST(msgnum_strict)
{
	uint32_t n = 0;
	CHECK(pop3_parse_msgnum(T("1"), &n));
	CHECK_EQ_INT(n, 1);
	CHECK(pop3_parse_msgnum(T("4294967295"), &n));
	CHECK_EQ_INT(n, 4294967295u);
	CHECK(!pop3_parse_msgnum(T("4294967296"), &n));
	CHECK(!pop3_parse_msgnum(T("99999999999999999999999"), &n));
	CHECK(!pop3_parse_msgnum(T("0"), &n));
	CHECK(!pop3_parse_msgnum(T("00"), &n));
	CHECK(!pop3_parse_msgnum(T(""), &n));
	CHECK(!pop3_parse_msgnum(T("+1"), &n));
	CHECK(!pop3_parse_msgnum(T("-1"), &n));
	CHECK(!pop3_parse_msgnum(T("1a"), &n));
	CHECK(!pop3_parse_msgnum(T("0x1"), &n));
	CHECK(!pop3_parse_msgnum(T(" 1"), &n));
	CHECK(!pop3_parse_msgnum(T("1\t"), &n));
}

TEST(count_strict)
{
	uint64_t n = 7;
	CHECK(pop3_parse_count(T("0"), &n));
	CHECK_EQ_INT(n, 0);
	CHECK(pop3_parse_count(T("18446744073709551615"), &n));
	CHECK(n == UINT64_MAX);
	CHECK(!pop3_parse_count(T("18446744073709551616"), &n));
	CHECK(!pop3_parse_count(T("-0"), &n));
	CHECK(!pop3_parse_count(T("+5"), &n));
	CHECK(!pop3_parse_count(T(""), &n));
}


TEST(no_controls)
{
	CHECK(pop3_no_controls("alice@example.com", 17));
	CHECK(pop3_no_controls("j\xc3\xb6rg", 5));
	CHECK(!pop3_no_controls("a\tb", 3));
	CHECK(!pop3_no_controls("a\rb", 3));
	CHECK(!pop3_no_controls("a\x7f", 2));
}

/* ---- the dot-stuffer ---- */

/* Stuff in[0..len) fed in chunks of `chunk` bytes; returns the output as an
 * allocated string. */
static char *stuff(const char *in, size_t len, bool top, uint64_t lines, size_t chunk)
{
	struct pop3_stuffer s;
	struct buf out = {0};
	pop3_stuff_init(&s, top, lines);
	size_t off = 0;
	while (off < len && !pop3_stuff_done(&s)) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used = pop3_stuff_feed(&s, in + off, n, &out);
		CHECK(used <= n);
		if (used < n)
			CHECK(pop3_stuff_done(&s));
		off += used;
	}
	pop3_stuff_finish(&s, &out);
	char *r = xstrndup(buf_used(&out) ? buf_head(&out) : "", buf_used(&out));
	buf_free(&out);
	return r;
}

static bool ends_crlf(const char *in, size_t len)
{
	return len >= 2 && in[len - 2] == '\r' && in[len - 1] == '\n';
}

/* Check the expected output for every chunk size, and (for RETR) that
 * pop3_wire_size predicts the unstuffed length. */
static void check_stuff(const char *in, bool top, uint64_t lines, const char *want)
{
	size_t len = strlen(in);
	for (size_t chunk = 1; chunk <= len + 1; chunk++) {
		char *got = stuff(in, len, top, lines, chunk);
		CHECK_EQ_STR(got, want);
		free(got);
	}
	if (!top) {
		uint64_t wire = pop3_wire_size(len, ends_crlf(in, len));
		/* want minus the terminator and the added dots = wire size */
		size_t dots = 0;
		size_t wl = strlen(want);
		for (size_t i = 0; i + 3 < wl; i++)
			if (want[i] == '.' && (i == 0 || want[i - 1] == '\n'))
				dots++;
		CHECK_EQ_INT(wire, wl - 3 - dots);
	}
}

TEST(retr_plain)
{
	check_stuff("Subject: hi\r\n\r\nHello\r\n", false, 0, "Subject: hi\r\n\r\nHello\r\n.\r\n");
}

TEST(retr_dot_lines_are_stuffed)
{
	check_stuff("A: b\r\n\r\n.\r\n..x\r\nx.\r\n.\r\n", false, 0,
		    "A: b\r\n\r\n..\r\n...x\r\nx.\r\n..\r\n.\r\n");
	/* A dot at the very start of the content is at a line start too. */
	check_stuff(".hidden\r\n", false, 0, "..hidden\r\n.\r\n");
}

TEST(retr_adds_missing_final_crlf)
{
	check_stuff("A: b\r\n\r\nno newline", false, 0, "A: b\r\n\r\nno newline\r\n.\r\n");
	check_stuff("A: b\r\n\r\n.", false, 0, "A: b\r\n\r\n..\r\n.\r\n");
	check_stuff("x\r", false, 0, "x\r\r\n.\r\n");
	check_stuff("x", false, 0, "x\r\n.\r\n");
}

TEST(retr_empty_content)
{
	check_stuff("", false, 0, ".\r\n");
	CHECK_EQ_INT(pop3_wire_size(0, true), 0);
}

TEST(retr_lone_cr_does_not_end_a_line)
{
	check_stuff("a\r.b\r\n", false, 0, "a\r.b\r\n.\r\n");
}

TEST(wire_size_rules)
{
	CHECK_EQ_INT(pop3_wire_size(10, ends_crlf("12345678\r\n", 10)), 10);
	CHECK_EQ_INT(pop3_wire_size(10, ends_crlf("1234567\r\r\n", 10)), 10);
	CHECK_EQ_INT(pop3_wire_size(10, ends_crlf("12345678\r\r", 10)), 12);
	CHECK_EQ_INT(pop3_wire_size(1, ends_crlf("x", 1)), 3);
	CHECK_EQ_INT(pop3_wire_size(0, false), 0);
}

TEST(top_zero_lines)
{
	check_stuff("A: 1\r\nB: 2\r\n\r\nbody1\r\nbody2\r\n", true, 0, "A: 1\r\nB: 2\r\n\r\n.\r\n");
}

TEST(top_some_lines)
{
	const char *m = "A: 1\r\n\r\nl1\r\n.l2\r\nl3\r\n";
	check_stuff(m, true, 1, "A: 1\r\n\r\nl1\r\n.\r\n");
	check_stuff(m, true, 2, "A: 1\r\n\r\nl1\r\n..l2\r\n.\r\n");
	check_stuff(m, true, 3, "A: 1\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	check_stuff(m, true, 1000, "A: 1\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
	check_stuff(m, true, UINT64_MAX, "A: 1\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n");
}

TEST(top_partial_last_line_counts)
{
	check_stuff("A: 1\r\n\r\nl1\r\nl2", true, 5, "A: 1\r\n\r\nl1\r\nl2\r\n.\r\n");
}

TEST(top_headers_only_message)
{
	/* No blank line: the whole message is headers. */
	check_stuff("A: 1\r\nB: 2\r\n", true, 0, "A: 1\r\nB: 2\r\n.\r\n");
	check_stuff("A: 1\r\nB: 2", true, 0, "A: 1\r\nB: 2\r\n.\r\n");
}

TEST(top_empty_body_lines_count)
{
	check_stuff("A: 1\r\n\r\n\r\n\r\nx\r\n", true, 2, "A: 1\r\n\r\n\r\n\r\n.\r\n");
}

TEST(top_blank_line_detection)
{
	/* A header line holding only spaces or a dot is not the blank line. */
	check_stuff("A: 1\r\n \r\nB: 2\r\n\r\nbody\r\n", true, 0, "A: 1\r\n \r\nB: 2\r\n\r\n.\r\n");
	check_stuff("A: 1\r\n.\r\nB: 2\r\n\r\nbody\r\n", true, 0, "A: 1\r\n..\r\nB: 2\r\n\r\n.\r\n");
	/* "\r\r\n" is not blank either. */
	check_stuff("A: 1\r\n\r\r\nB: 2\r\n\r\nbody\r\n", true, 0, "A: 1\r\n\r\r\nB: 2\r\n\r\n.\r\n");
	/* A message starting with the blank line has empty headers. */
	check_stuff("\r\nbody\r\nmore\r\n", true, 1, "\r\nbody\r\n.\r\n");
	/* Bare LF (never stored, but harmless) ends lines too. */
	check_stuff("A: 1\n\nbody\nmore\n", true, 1, "A: 1\n\nbody\n\r\n.\r\n");
}

TEST(top_stops_consuming_input)
{
	struct pop3_stuffer s;
	struct buf out = {0};
	const char *m = "A: 1\r\n\r\nl1\r\nl2\r\nl3\r\n";
	pop3_stuff_init(&s, true, 1);
	size_t used = pop3_stuff_feed(&s, m, strlen(m), &out);
	CHECK_EQ_INT(used, strlen("A: 1\r\n\r\nl1\r\n"));
	CHECK(pop3_stuff_done(&s));
	CHECK_EQ_INT(pop3_stuff_feed(&s, "more\r\n", 6, &out), 0);
	buf_free(&out);
}

TEST(retr_large_input_chunked)
{
	/* A big message with many dot lines: 64 KiB-ish pieces and single bytes agree. */
	struct buf in = {0};
	for (int i = 0; i < 5000; i++)
		buf_printf(&in, i % 3 == 0 ? ".line %d\r\n" : "line %d\r\n", i);
	char *whole = stuff(buf_head(&in), buf_used(&in), false, 0, buf_used(&in));
	char *bytes = stuff(buf_head(&in), buf_used(&in), false, 0, 1);
	char *odd = stuff(buf_head(&in), buf_used(&in), false, 0, 4093);
	CHECK_EQ_STR(whole, bytes);
	CHECK_EQ_STR(whole, odd);
	CHECK_EQ_INT(strlen(whole), buf_used(&in) + 1667 + 3);
	free(whole);
	free(bytes);
	free(odd);
	buf_free(&in);
}
