/* Unit tests for the MIME parser. The expected ENVELOPE, BODY and
 * BODYSTRUCTURE strings were written by hand from RFC 9051 section 7.5.2 for
 * each message; section ranges are checked against offsets found in the
 * message text. Every file of the test corpus (tests/corpus) is parsed and held to the
 * invariants (sections inside their parents, balanced IMAP text, valid UTF-8
 * search text), with exact values for a few of them. Named limits each have a
 * case that crosses them, and hostile inputs have a time limit. */
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/util.h"
#include "mime/mime.h"
#include "mime/mime-private.h"

#define PARSE_LIT(p, lit) parse_raw(p, lit, sizeof(lit) - 1)

/* CHECK_EQ_STR with room for long IMAP text: both strings go to stderr. */
#define CHECK_STR(a, b) check_str(__FILE__, __LINE__, #a, (a), (b))
static void check_str(const char *file, int line, const char *expr, const char *got, const char *want)
{
	if (got != NULL && strcmp(got, want) == 0)
		return;
	fprintf(stderr, "  got:  %s\n  want: %s\n", got ? got : "(null)", want);
	test_fail(file, line, expr);
}

/* Test messages are written with "\n"; the store hands the parser CRLF. */
static char *crlf(const char *s, size_t *len_r)
{
	struct buf b = {0};
	for (const char *p = s; *p; p++) {
		if (*p == '\n' && (p == s || p[-1] != '\r'))
			buf_append(&b, "\r", 1);
		buf_append(&b, p, 1);
	}
	buf_append(&b, "", 1);
	*len_r = buf_used(&b) - 1;
	char *r = xstrndup(buf_head(&b), *len_r);
	buf_free(&b);
	return r;
}

struct parsed {
	char *msg;
	size_t len;
	struct mime_info info;
};

static void parse(struct parsed *p, const char *lf_text)
{
	p->msg = crlf(lf_text, &p->len);
	CHECK_EQ_INT(mime_parse(p->msg, p->len, &p->info), 0);
}

static void parse_raw(struct parsed *p, const char *data, size_t len)
{
	p->msg = xmalloc(len + 1);
	memcpy(p->msg, data, len);
	p->msg[len] = '\0';
	p->len = len;
	CHECK_EQ_INT(mime_parse(p->msg, p->len, &p->info), 0);
}

static void done(struct parsed *p)
{
	mime_info_clear(&p->info);
	free(p->msg);
}

/* Offset of needle in the parsed message (which has no NUL). */
static uint64_t at(const struct parsed *p, const char *needle)
{
	const char *s = strstr(p->msg, needle);
	if (s == NULL) {
		test_fail(__FILE__, __LINE__, needle);
		return 0;
	}
	return (uint64_t)(s - p->msg);
}

static char *folded(const char *s)
{
	struct buf b = {0};
	mime_casefold(s, strlen(s), &b);
	buf_append(&b, "", 1);
	char *r = xstrdup(buf_head(&b));
	buf_free(&b);
	return r;
}

/* ---- IMAP text shape ---- */

/* One parenthesized list of NIL, numbers, quoted strings and literals;
 * returns the number of items at its top level, -1 when malformed. */
static int imap_items(const char *s, size_t len)
{
	size_t i = 0;
	int depth = 0, items = 0, lists = 0;
	while (i < len) {
		char c = s[i];
		if (depth == 1 && c != ')' && c != ' ')
			items++;
		if (c == '(') {
			if (depth == 0)
				lists++;
			depth++;
			i++;
		} else if (c == ')') {
			if (depth == 0)
				return -1;
			depth--;
			i++;
		} else if (c == ' ') {
			if (i == 0 || s[i - 1] == ' ' || s[i - 1] == '(')
				return -1;
			i++;
		} else if (c == '"') {
			i++;
			while (i < len && s[i] != '"') {
				unsigned char q = (unsigned char)s[i];
				if (q == '\\') {
					i++;
					if (i >= len || (s[i] != '"' && s[i] != '\\'))
						return -1;
				} else if (q == 0 || q == '\r' || q == '\n' || q >= 0x80) {
					return -1;
				}
				i++;
			}
			if (i >= len)
				return -1;
			i++;
		} else if (c == '{') {
			uint64_t n = 0;
			i++;
			while (i < len && s[i] >= '0' && s[i] <= '9')
				n = n * 10 + (uint64_t)(s[i++] - '0');
			if (i + 3 > len || s[i] != '}' || s[i + 1] != '\r' || s[i + 2] != '\n' || n > len - i - 3)
				return -1;
			i += 3;
			if (memchr(s + i, '\0', n) != NULL)
				return -1;
			i += n;
		} else if (c >= '0' && c <= '9') {
			while (i < len && s[i] >= '0' && s[i] <= '9')
				i++;
		} else if (len - i >= 3 && memcmp(s + i, "NIL", 3) == 0) {
			i += 3;
		} else {
			return -1;
		}
		if (depth == 0 && i < len)
			return -1;
	}
	if (depth != 0 || lists != 1)
		return -1;
	return items;
}

/* ---- simple shapes ---- */

TEST(simple_text)
{
	struct parsed p;
	parse(&p, "From: Alice <alice@example.org>\n"
		  "To: bob@example.org\n"
		  "Subject: Hello\n"
		  "Date: Sat, 01 Jun 2024 12:00:00 +0000\n"
		  "Message-ID: <1@example.org>\n"
		  "\n"
		  "Hello Bob.\n"
		  "Second line.\n");
	CHECK_STR(p.info.envelope,
		"(\"Sat, 01 Jun 2024 12:00:00 +0000\" \"Hello\" ((\"Alice\" NIL \"alice\" \"example.org\")) "
		"((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) "
		"((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL \"<1@example.org>\")");
	CHECK_STR(p.info.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 26 2)");
	CHECK_STR(p.info.bodystructure,
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 26 2 NIL NIL NIL NIL)");
	CHECK_EQ_INT(p.info.sent_date, 1717243200);
	CHECK_STR(p.info.search_body, "hello bob.\nsecond line.\n\n");
	CHECK(strstr(p.info.search_headers, "subject: hello\n") != NULL);
	CHECK(strstr(p.info.search_headers, "from: alice <alice@example.org>\n") != NULL);

	struct mime_section s;
	uint64_t body = at(&p, "Hello Bob.");
	CHECK_EQ_INT(mime_section_find(p.info.sections, "", false, &s), 0);
	CHECK_EQ_INT(s.header_off, 0);
	CHECK_EQ_INT(s.header_len, body);
	CHECK_EQ_INT(s.body_off, body);
	CHECK_EQ_INT(s.body_len, p.len - body);
	CHECK_EQ_INT(s.all_off, 0);
	CHECK_EQ_INT(s.all_len, p.len);
	CHECK_EQ_INT(s.body_lines, 2);
	CHECK(s.is_message);
	CHECK(!s.is_multipart);
	/* Part 1 of a non-multipart message is its body; its MIME header is the
	 * message header. */
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1", false, &s), 0);
	CHECK_EQ_INT(s.header_off, 0);
	CHECK_EQ_INT(s.header_len, body);
	CHECK_EQ_INT(s.body_off, body);
	CHECK_EQ_INT(s.body_len, p.len - body);
	CHECK_EQ_INT(s.encoding, MIME_ENC_7BIT);
	CHECK(!s.is_message);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "", true, &s), 0);
	CHECK_EQ_INT(s.header_len, body);
	CHECK_EQ_INT(s.body_len, p.len - body);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1", true, &s), -1);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), -1);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1.1", false, &s), -1);
	done(&p);
}

TEST(multipart_alternative)
{
	struct parsed p;
	parse(&p, "From: a@example.org\n"
		  "Subject: alt\n"
		  "MIME-Version: 1.0\n"
		  "Content-Type: multipart/alternative; boundary=\"XX\"\n"
		  "\n"
		  "preamble\n"
		  "--XX\n"
		  "Content-Type: text/plain; charset=utf-8\n"
		  "Content-Transfer-Encoding: quoted-printable\n"
		  "\n"
		  "Gr=C3=BC=C3=9Fe\n"
		  "--XX\n"
		  "Content-Type: text/html; charset=utf-8\n"
		  "\n"
		  "<p>Hello &amp; <b>bye</b></p>\n"
		  "--XX--\n"
		  "epilogue\n");
	CHECK_STR(p.info.body, "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 15 1)"
				  "(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 29 1) \"alternative\")");
	CHECK_STR(p.info.bodystructure,
		"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 15 1 NIL NIL NIL NIL)"
		"(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 29 1 NIL NIL NIL NIL) \"alternative\" "
		"(\"boundary\" \"XX\") NIL NIL NIL)");
	CHECK_STR(p.info.envelope, "(NIL \"alt\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) "
				      "((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)");
	CHECK_STR(p.info.search_body, "gr\xc3\xbc\xc3\x9f" "e\n\nhello & bye\n\n");
	CHECK_EQ_INT(p.info.sent_date, 0);

	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1", false, &s), 0);
	CHECK_EQ_INT(s.header_off, at(&p, "Content-Type: text/plain"));
	CHECK_EQ_INT(s.body_off, at(&p, "Gr=C3"));
	CHECK_EQ_INT(s.body_len, 15);
	CHECK_EQ_INT(s.encoding, MIME_ENC_QP);
	struct buf out = {0};
	CHECK_EQ_INT(mime_decode_cte(s.encoding, p.msg + s.body_off, s.body_len, &out), 0);
	CHECK(buf_used(&out) == 7 && memcmp(buf_head(&out), "Gr\xc3\xbc\xc3\x9f" "e", 7) == 0);
	buf_free(&out);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), 0);
	CHECK_EQ_INT(s.header_off, at(&p, "Content-Type: text/html"));
	CHECK_EQ_INT(s.header_len, at(&p, "<p>") - at(&p, "Content-Type: text/html"));
	CHECK_EQ_INT(s.body_len, 29);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "3", false, &s), -1);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "", false, &s), 0);
	CHECK(s.is_multipart);
	CHECK_EQ_INT(s.body_off, at(&p, "preamble"));
	CHECK_EQ_INT(s.body_off + s.body_len, p.len);
	done(&p);
}

TEST(multipart_mixed_attachment)
{
	struct parsed p;
	parse(&p, "From: \"Doe, Jane\" <jane@example.org>\n"
		  "To: bob@example.org\n"
		  "Subject: report\n"
		  "Content-Type: multipart/mixed; boundary=b1\n"
		  "\n"
		  "--b1\n"
		  "Content-Type: text/plain\n"
		  "\n"
		  "See attached.\n"
		  "--b1\n"
		  "Content-Type: application/pdf; name=\"r.pdf\"\n"
		  "Content-Transfer-Encoding: base64\n"
		  "Content-Disposition: attachment; filename=\"r.pdf\"\n"
		  "\n"
		  "JVBERi0xLjQK\n"
		  "--b1--\n");
	CHECK_STR(p.info.bodystructure,
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1 NIL NIL NIL NIL)"
		"(\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 12 NIL (\"attachment\" (\"filename\" \"r.pdf\")) "
		"NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)");
	CHECK_STR(p.info.body, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1)"
				  "(\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 12) \"mixed\")");
	CHECK(strstr(p.info.envelope, "((\"Doe, Jane\" NIL \"jane\" \"example.org\"))") != NULL);
	/* The PDF is not text: only the first part is searchable. */
	CHECK_STR(p.info.search_body, "see attached.\n");

	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), 0);
	CHECK_EQ_INT(s.encoding, MIME_ENC_BASE64);
	CHECK_EQ_INT(s.body_off, at(&p, "JVBER"));
	CHECK_EQ_INT(s.body_len, 12);
	struct buf out = {0};
	CHECK_EQ_INT(mime_decode_cte(s.encoding, p.msg + s.body_off, s.body_len, &out), 0);
	CHECK(buf_used(&out) == 9 && memcmp(buf_head(&out), "%PDF-1.4\n", 9) == 0);
	buf_free(&out);
	done(&p);
}

static const char nested_msg[] = "From: a@example.org\n"
				 "Subject: nested\n"
				 "Content-Type: multipart/mixed; boundary=\"outer\"\n"
				 "\n"
				 "--outer\n"
				 "Content-Type: multipart/alternative; boundary=\"inner\"\n"
				 "\n"
				 "--inner\n"
				 "Content-Type: text/plain; charset=us-ascii\n"
				 "\n"
				 "plain\n"
				 "--inner\n"
				 "Content-Type: text/html; charset=us-ascii\n"
				 "\n"
				 "<b>html</b>\n"
				 "--inner--\n"
				 "\n"
				 "--outer\n"
				 "Content-Type: image/png\n"
				 "Content-Transfer-Encoding: base64\n"
				 "Content-ID: <img1@example.org>\n"
				 "\n"
				 "iVBORw0K\n"
				 "--outer--\n";

TEST(nested_multipart)
{
	struct parsed p;
	parse(&p, nested_msg);
	CHECK_STR(p.info.bodystructure,
		"(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)"
		"(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1 NIL NIL NIL NIL) \"alternative\" "
		"(\"boundary\" \"inner\") NIL NIL NIL)"
		"(\"image\" \"png\" NIL \"<img1@example.org>\" NIL \"base64\" 8 NIL NIL NIL NIL) \"mixed\" "
		"(\"boundary\" \"outer\") NIL NIL NIL)");
	CHECK_STR(p.info.body, "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1)"
				  "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1) \"alternative\")"
				  "(\"image\" \"png\" NIL \"<img1@example.org>\" NIL \"base64\" 8) \"mixed\")");
	CHECK_STR(p.info.search_body, "plain\nhtml\n");
	done(&p);
}

TEST(section_lookups)
{
	struct parsed p;
	parse(&p, nested_msg);
	const char *t = p.info.sections;
	struct mime_section s;

	/* [1.MIME] and [1]: the multipart/alternative part. */
	CHECK_EQ_INT(mime_section_find(t, "1", false, &s), 0);
	CHECK(s.is_multipart);
	CHECK(!s.is_message);
	CHECK_EQ_INT(s.header_off, at(&p, "Content-Type: multipart/alternative"));
	CHECK_EQ_INT(s.body_off, at(&p, "--inner\r\nContent-Type: text/plain"));
	CHECK_EQ_INT(s.header_off + s.header_len, s.body_off);
	CHECK_EQ_INT(s.body_off + s.body_len, at(&p, "\r\n--outer\r\nContent-Type: image"));
	CHECK_EQ_INT(s.all_off, s.header_off);
	CHECK_EQ_INT(s.all_len, s.header_len + s.body_len);
	/* HEADER / TEXT exist only for messages. */
	CHECK_EQ_INT(mime_section_find(t, "1", true, &s), -1);

	CHECK_EQ_INT(mime_section_find(t, "1.1", false, &s), 0);
	CHECK_EQ_INT(s.header_off, at(&p, "Content-Type: text/plain"));
	CHECK_EQ_INT(s.body_off, at(&p, "plain\r\n--inner"));
	CHECK_EQ_INT(s.body_len, 5);
	CHECK_EQ_INT(s.body_lines, 1);
	CHECK_EQ_INT(mime_section_find(t, "1.2", false, &s), 0);
	CHECK_EQ_INT(s.body_off, at(&p, "<b>html</b>"));
	CHECK_EQ_INT(s.body_len, 11);
	CHECK_EQ_INT(mime_section_find(t, "2", false, &s), 0);
	CHECK_EQ_INT(s.header_off, at(&p, "Content-Type: image/png"));
	CHECK_EQ_INT(s.body_off, at(&p, "iVBOR"));
	CHECK_EQ_INT(s.body_len, 8);
	CHECK_EQ_INT(s.encoding, MIME_ENC_BASE64);
	struct buf out = {0};
	CHECK_EQ_INT(mime_decode_cte(s.encoding, p.msg + s.body_off, s.body_len, &out), 0);
	CHECK(buf_used(&out) == 6 && memcmp(buf_head(&out), "\x89PNG\r\n", 6) == 0);
	buf_free(&out);

	CHECK_EQ_INT(mime_section_find(t, "", false, &s), 0);
	CHECK_EQ_INT(s.all_len, p.len);
	CHECK_EQ_INT(s.header_len, at(&p, "--outer"));
	CHECK(s.is_multipart && s.is_message);

	/* Missing parts and malformed part numbers. */
	static const char *const bad[] = {"3", "1.3", "2.1", "1.1.1", "0", "01", "1.", ".1", "1..2", "a", "1 ", "-1",
		"99999999999999999999"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		CHECK_EQ_INT(mime_section_find(t, bad[i], false, &s), -1);
	CHECK_EQ_INT(mime_section_find(NULL, "1", false, &s), -1);
	CHECK_EQ_INT(mime_section_find("", "1", false, &s), -1);
	CHECK_EQ_INT(mime_section_find("v1\n1 t 1 2", "1", false, &s), -1);
	done(&p);
}

static const char rfc822_msg[] = "From: a@example.org\n"
				 "Subject: fwd\n"
				 "Content-Type: multipart/mixed; boundary=\"o\"\n"
				 "\n"
				 "--o\n"
				 "Content-Type: text/plain\n"
				 "\n"
				 "see below\n"
				 "--o\n"
				 "Content-Type: message/rfc822\n"
				 "Content-Disposition: attachment\n"
				 "\n"
				 "From: c@example.org\n"
				 "Subject: inner\n"
				 "Date: Mon, 3 Jun 2024 08:00:00 +0200\n"
				 "Content-Type: multipart/alternative; boundary=\"i\"\n"
				 "\n"
				 "--i\n"
				 "Content-Type: text/plain\n"
				 "\n"
				 "inner text\n"
				 "--i\n"
				 "Content-Type: text/html\n"
				 "\n"
				 "<i>inner</i>\n"
				 "--i--\n"
				 "\n"
				 "--o--\n";

TEST(message_rfc822_part)
{
	struct parsed p;
	parse(&p, rfc822_msg);
	const char *env = "(\"Mon, 3 Jun 2024 08:00:00 +0200\" \"inner\" ((NIL NIL \"c\" \"example.org\")) "
			  "((NIL NIL \"c\" \"example.org\")) ((NIL NIL \"c\" \"example.org\")) NIL NIL NIL NIL NIL)";
	char *want = xasprintf("((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 1 NIL NIL NIL NIL)"
			       "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 226 %s "
			       "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL)"
			       "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL) "
			       "\"alternative\" (\"boundary\" \"i\") NIL NIL NIL) 14 NIL (\"attachment\" NIL) NIL NIL) "
			       "\"mixed\" (\"boundary\" \"o\") NIL NIL NIL)",
		env);
	CHECK_STR(p.info.bodystructure, want);
	free(want);
	want = xasprintf("((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 9 1)"
			 "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 226 %s "
			 "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1)"
			 "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1) \"alternative\") 14) \"mixed\")",
		env);
	CHECK_STR(p.info.body, want);
	free(want);
	CHECK_STR(p.info.search_body, "see below\n"
					 "from: c@example.org\n"
					 "subject: inner\n"
					 "date: mon, 3 jun 2024 08:00:00 +0200\n"
					 "content-type: multipart/alternative; boundary=\"i\"\n"
					 "inner text\n"
					 "inner\n");
	/* search_headers is the top-level header only. */
	CHECK(strstr(p.info.search_headers, "subject: fwd\n") != NULL);
	CHECK(strstr(p.info.search_headers, "inner") == NULL);

	const char *t = p.info.sections;
	struct mime_section s;
	uint64_t emb = at(&p, "From: c@");
	CHECK_EQ_INT(mime_section_find(t, "2", false, &s), 0);
	CHECK(s.is_message);
	CHECK(!s.is_multipart);
	CHECK_EQ_INT(s.header_off, at(&p, "Content-Type: message/rfc822"));
	CHECK_EQ_INT(s.body_off, emb);
	CHECK_EQ_INT(s.body_len, 226);
	CHECK_EQ_INT(s.body_lines, 14);
	/* [2.HEADER] and [2.TEXT]: the embedded message's. */
	CHECK_EQ_INT(mime_section_find(t, "2", true, &s), 0);
	CHECK(s.is_message);
	CHECK(s.is_multipart);
	CHECK_EQ_INT(s.header_off, emb);
	CHECK_EQ_INT(s.header_len, 128);
	CHECK_EQ_INT(s.body_off, emb + 128);
	CHECK_EQ_INT(s.body_off, at(&p, "--i\r\n"));
	CHECK_EQ_INT(s.body_len, 98);
	CHECK_EQ_INT(s.body_lines, 9);
	CHECK_EQ_INT(s.all_off, emb);
	CHECK_EQ_INT(s.all_len, 226);
	/* [2.1] goes through the embedded message to its first part. */
	CHECK_EQ_INT(mime_section_find(t, "2.1", false, &s), 0);
	CHECK_EQ_INT(s.header_off, at(&p, "Content-Type: text/plain\r\n\r\ninner"));
	CHECK_EQ_INT(s.body_off, at(&p, "inner text"));
	CHECK_EQ_INT(s.body_len, 10);
	CHECK_EQ_INT(mime_section_find(t, "2.2", false, &s), 0);
	CHECK_EQ_INT(s.body_off, at(&p, "<i>inner"));
	CHECK_EQ_INT(s.body_len, 12);
	CHECK_EQ_INT(mime_section_find(t, "2.1", true, &s), -1);
	CHECK_EQ_INT(mime_section_find(t, "2.3", false, &s), -1);
	CHECK_EQ_INT(mime_section_find(t, "1", true, &s), -1);
	done(&p);
}

TEST(message_rfc822_single_part)
{
	/* A whole message that is a forwarded message (Content-Type at the top
	 * level), whose embedded message is not multipart: [1] is the top-level
	 * body and a message, [1.1] the embedded message's body. */
	struct parsed p;
	parse(&p, "From: a@example.org\n"
		  "Content-Type: message/rfc822\n"
		  "\n"
		  "From: b@example.org\n"
		  "Subject: hi\n"
		  "\n"
		  "inner body\n");
	CHECK_STR(p.info.body,
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 48 (NIL \"hi\" ((NIL NIL \"b\" \"example.org\")) "
		"((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1) 4)");
	const char *t = p.info.sections;
	struct mime_section s;
	uint64_t emb = at(&p, "From: b@");
	CHECK_EQ_INT(mime_section_find(t, "", true, &s), 0);
	CHECK_EQ_INT(s.header_off, 0);
	CHECK_EQ_INT(s.header_len, emb);
	CHECK_EQ_INT(s.body_off, emb);
	CHECK_EQ_INT(mime_section_find(t, "1", false, &s), 0);
	CHECK(s.is_message);
	CHECK_EQ_INT(s.header_off, 0);
	CHECK_EQ_INT(s.body_off, emb);
	CHECK_EQ_INT(s.body_len, p.len - emb);
	CHECK_EQ_INT(mime_section_find(t, "1", true, &s), 0);
	CHECK_EQ_INT(s.header_off, emb);
	CHECK_EQ_INT(s.body_off, at(&p, "inner body"));
	CHECK_EQ_INT(s.body_len, 12);
	CHECK(!s.is_multipart);
	CHECK_EQ_INT(mime_section_find(t, "1.1", false, &s), 0);
	CHECK_EQ_INT(s.header_off, emb);
	CHECK_EQ_INT(s.body_off, at(&p, "inner body"));
	CHECK(!s.is_message);
	CHECK_EQ_INT(mime_section_find(t, "1.1", true, &s), -1);
	CHECK_EQ_INT(mime_section_find(t, "1.2", false, &s), -1);
	CHECK_EQ_INT(mime_section_find(t, "2", false, &s), -1);
	done(&p);
}

TEST(rfc2231_parameters)
{
	struct parsed p;
	parse(&p, "From: a@example.org\n"
		  "Content-Type: multipart/mixed; boundary=z\n"
		  "\n"
		  "--z\n"
		  "Content-Type: application/octet-stream;\n"
		  " name*0*=utf-8''%E2%82%AC; name*1*=%20rates; name*2=.txt\n"
		  "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.txt\n"
		  "\n"
		  "AAAA\n"
		  "--z\n"
		  "Content-Type: text/plain; title*0=\"abc\"; title*1=\"def\"; x*0*=us-ascii'en'a%20b; x*1=\"c d\"\n"
		  "Content-Language: en\n"
		  "\n"
		  "text\n"
		  "--z--\n");
	CHECK_STR(p.info.bodystructure,
		"((\"application\" \"octet-stream\" (\"name*\" \"utf-8''%E2%82%AC%20rates.txt\") NIL NIL \"7bit\" 4 NIL "
		"(\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC%20rates.txt\")) NIL NIL)"
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\" \"title\" \"abcdef\" \"x*\" \"us-ascii'en'a%20bc%20d\") NIL NIL "
		"\"7bit\" 4 1 NIL NIL (\"en\") NIL) \"mixed\" (\"boundary\" \"z\") NIL NIL NIL)");
	done(&p);

	/* Quoting, comments, stray semicolons, case; an RFC 2231 boundary and
	 * charset are decoded for use. */
	parse(&p, "Content-Type: MULTIPART/Mixed (comment) ; ; boundary*=us-ascii''b%41; X-Odd=\"q\\\"uote\"\n"
		  "\n"
		  "--bA\n"
		  "Content-Type: text/plain; charset*=iso-8859-1''; charset=iso-8859-1 (Latin)\n"
		  "Content-Transfer-Encoding: Quoted-Printable\n"
		  "\n"
		  "caf=E9\n"
		  "--bA--\n");
	CHECK_STR(p.info.body, "((\"text\" \"plain\" (\"charset*\" \"iso-8859-1''\" \"charset\" \"iso-8859-1\") NIL NIL "
				  "\"quoted-printable\" 6 1) \"mixed\")");
	CHECK(strstr(p.info.bodystructure, "(\"boundary*\" \"us-ascii''b%41\" \"x-odd\" \"q\\\"uote\")") != NULL);
	CHECK_STR(p.info.search_body, "caf\xc3\xa9\n");
	done(&p);
}

TEST(address_groups_and_edge_cases)
{
	struct parsed p;
	parse(&p, "From: root\n"
		  "Sender: joe@example.org (Joe Bloggs)\n"
		  "Reply-To: <@relay.example,@r2.example:joe@example.org>\n"
		  "To: \"A Group\": a@x.org, B <b@y.org>;, c@z.org\n"
		  "Cc: empty:;\n"
		  "Bcc: \"john smith\"@example.org, =?utf-8?q?J=C3=B6rg?= <jorg@example.org>\n"
		  "Subject: groups\n"
		  "In-Reply-To: <0@example.org>\n"
		  "\n"
		  "x\n");
	CHECK_STR(p.info.envelope,
		"(NIL \"groups\" ((NIL NIL \"root\" \"\")) ((\"Joe Bloggs\" NIL \"joe\" \"example.org\")) "
		"((NIL \"@relay.example,@r2.example\" \"joe\" \"example.org\")) "
		"((NIL NIL \"A Group\" NIL)(NIL NIL \"a\" \"x.org\")(\"B\" NIL \"b\" \"y.org\")(NIL NIL NIL NIL)"
		"(NIL NIL \"c\" \"z.org\")) "
		"((NIL NIL \"empty\" NIL)(NIL NIL NIL NIL)) "
		"((NIL NIL \"\\\"john smith\\\"\" \"example.org\")(\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.org\")) "
		"\"<0@example.org>\" NIL)");
	done(&p);

	/* Sender and Reply-To present but empty (or holding no address) mean
	 * From; an empty To is NIL; a group without its ';' is closed. */
	parse(&p, "From: \"Q. Public\" <q@example.org>\n"
		  "Sender:\n"
		  "Reply-To: ,,\n"
		  "To:\n"
		  "Cc: list: a@example.org\n"
		  "\n");
	CHECK_STR(p.info.envelope,
		"(NIL NIL ((\"Q. Public\" NIL \"q\" \"example.org\")) ((\"Q. Public\" NIL \"q\" \"example.org\")) "
		"((\"Q. Public\" NIL \"q\" \"example.org\")) NIL ((NIL NIL \"list\" NIL)(NIL NIL \"a\" \"example.org\")"
		"(NIL NIL NIL NIL)) NIL NIL NIL)");
	done(&p);

	/* Garbage still gives well-formed text. */
	parse(&p, "From: <<>>@@,;:;\"unterminated\n"
		  "To: (comment (nested) only)\n"
		  "Cc: a@b@c, <x@y, @z\n"
		  "\n");
	CHECK_EQ_INT(imap_items(p.info.envelope, strlen(p.info.envelope)), 10);
	done(&p);
}

/* The address examples of RFC 5322 appendix A, and a missing comma. */
TEST(rfc5322_appendix_addresses)
{
	struct parsed p;
	parse(&p, "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\n"
		  "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, Who? <one@y.test>\n"
		  "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\n"
		  "Bcc: Mary Smith <@node.test:mary@example.net>, Joe Q. Public <john.q.public@example.com>,\n"
		  " a@b.example c@d.example\n"
		  "Sender: Joe <joe@example.org> (comment)\n"
		  "\n");
	CHECK_STR(p.info.envelope,
		"(NIL NIL ((\"Pete\" NIL \"pete\" \"silly.test\")) ((\"Joe\" NIL \"joe\" \"example.org\")) "
		"((\"Pete\" NIL \"pete\" \"silly.test\")) "
		"((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")"
		"(\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)(\"Who?\" NIL \"one\" \"y.test\")) "
		"((NIL NIL \"boss\" \"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL \"sysservices\" \"example.net\")) "
		"((\"Mary Smith\" \"@node.test\" \"mary\" \"example.net\")(\"Joe Q. Public\" NIL \"john.q.public\" "
		"\"example.com\")(NIL NIL \"a\" \"b.example\")(NIL NIL \"c\" \"d.example\")) NIL NIL)");
	done(&p);
}

TEST(encoded_words)
{
	struct parsed p;
	parse(&p, "From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.org>\n"
		  "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= und =?UTF-8?B?0J/RgNC40LLQtdGC?=\n"
		  " =?UTF-8?B?IQ==?=\n"
		  "X-Split: =?utf-8?b?w6k=?= =?utf-8?q?=C3?= =?utf-8?q?=A9?= =?koi8-r?b?8NLJ18XU?=\n"
		  "X-Bad: =?utf-8?q?unterminated and =?x?y?z?= and a=?b\n"
		  "\n"
		  "body\n");
	/* ENVELOPE keeps encoded words as they are. */
	CHECK(strstr(p.info.envelope, "\"=?ISO-8859-1?Q?Gr=FC=DFe?= und =?UTF-8?B?0J/RgNC40LLQtdGC?= =?UTF-8?B?IQ==?=\"") != NULL);
	CHECK(strstr(p.info.envelope, "((\"=?ISO-8859-1?Q?Andr=E9?=\" NIL \"andre\" \"example.org\"))") != NULL);
	CHECK(strstr(p.info.search_headers, "from: andr\xc3\xa9 <andre@example.org>\n") != NULL);
	CHECK(strstr(p.info.search_headers,
		      "subject: gr\xc3\xbc\xc3\x9f" "e und \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82!\n") != NULL);
	/* Words split inside a character join up; KOI8-R converts. */
	CHECK(strstr(p.info.search_headers, "x-split: \xc3\xa9\xc3\xa9\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n") !=
		NULL);
	CHECK(strstr(p.info.search_headers, "x-bad: =?utf-8?q?unterminated and =?x?y?z?= and a=?b\n") != NULL);
	/* What a client searches for folds the same way. */
	char *key = folded("GR\xc3\x9c\xe1\xba\x9e" "E");
	CHECK(strstr(p.info.search_headers, key) != NULL);
	free(key);
	key = folded("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2");
	CHECK(strstr(p.info.search_headers, key) != NULL);
	free(key);
	done(&p);
}

TEST(missing_headers)
{
	struct parsed p;
	parse(&p, "no header here\njust text\n");
	CHECK_STR(p.info.envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	CHECK_STR(p.info.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 27 2)");
	CHECK_STR(p.info.sections, "v1\n0 t 0 0 27 2 7\n1 t 0 0 27 2 7\n");
	CHECK_STR(p.info.search_headers, "");
	done(&p);

	/* Header only: no empty line and no final line end. */
	PARSE_LIT(&p, "Subject: only\r\nFrom: a@b.c");
	CHECK_STR(p.info.envelope, "(NIL \"only\" ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) "
				      "((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL)");
	CHECK_STR(p.info.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	CHECK_STR(p.info.sections, "v1\n0 t 0 26 0 0 7\n1 t 0 26 0 0 7\n");
	done(&p);

	PARSE_LIT(&p, "");
	CHECK_STR(p.info.envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	CHECK_STR(p.info.bodystructure, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
	CHECK_STR(p.info.sections, "v1\n0 t 0 0 0 0 7\n1 t 0 0 0 0 7\n");
	CHECK_STR(p.info.search_body, "\n");
	done(&p);

	/* The header ends at the first line that is not a field; empty fields
	 * are NIL. */
	parse(&p, "Subject:\nDate: \nthis is body: text\nFrom: not@header\n");
	CHECK_STR(p.info.envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "", false, &s), 0);
	CHECK_EQ_INT(s.header_len, at(&p, "this is"));
	done(&p);
}

TEST(eight_bit_headers)
{
	struct parsed p;
	parse(&p, "Subject: Gr\xc3\xbc\xc3\x9f" "e\n"
		  "From: J\xc3\xb6rg <j@x.org>\n"
		  "\n"
		  "x\n");
	CHECK_STR(p.info.envelope, "(NIL {7}\r\nGr\xc3\xbc\xc3\x9f" "e (({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.org\")) "
				      "(({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.org\")) (({5}\r\nJ\xc3\xb6rg NIL \"j\" \"x.org\")) "
				      "NIL NIL NIL NIL NIL)");
	CHECK_EQ_INT(imap_items(p.info.envelope, strlen(p.info.envelope)), 10);
	CHECK(strstr(p.info.search_headers, "subject: gr\xc3\xbc\xc3\x9f" "e\n") != NULL);
	done(&p);

	/* A NUL cannot travel in a literal: it goes as 0x80. A bare CR forces a
	 * literal; quotes and backslashes are escaped. */
	PARSE_LIT(&p, "Subject: a\0b\r\nIn-Reply-To: x\ry\r\nMessage-ID: \"q\\\"\r\n\r\n");
	CHECK_STR(p.info.envelope, "(NIL {3}\r\na\x80" "b NIL NIL NIL NIL NIL NIL {3}\r\nx\ry \"\\\"q\\\\\\\"\")");
	done(&p);

	/* Latin-1 in a header is searchable as UTF-8; an 8-bit field name does
	 * not end the header. */
	parse(&p, "X-Gr\xfc\xdf: 1\nSubject: caf\xe9\n\nbody\n");
	CHECK(strstr(p.info.search_headers, "x-gr\xc3\xbc\xc3\x9f: 1\nsubject: caf\xc3\xa9\n") != NULL);
	CHECK(strstr(p.info.envelope, "{4}\r\ncaf\xe9") != NULL);
	CHECK_STR(p.info.search_body, "body\n\n");
	done(&p);
}

TEST(malformed_boundaries)
{
	struct parsed p;
	/* Transport padding after a delimiter, a look-alike line, no close
	 * delimiter. */
	parse(&p, "Content-Type: multipart/mixed; boundary=\"b1\"\n"
		  "\n"
		  "--b1 \t\n"
		  "Content-Type: text/plain\n"
		  "\n"
		  "one\n"
		  "--b1X\n"
		  "still one\n"
		  "--b1\n"
		  "Content-Type: text/plain\n"
		  "\n"
		  "two\n");
	CHECK_STR(p.info.body, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 3)"
				  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1) \"mixed\")");
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), 0);
	CHECK_EQ_INT(s.body_off + s.body_len, p.len);
	done(&p);

	/* A boundary that never appears, or none at all: text/plain. */
	parse(&p, "Content-Type: multipart/mixed; boundary=nope\n\nhello\n");
	CHECK_STR(p.info.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1)");
	CHECK_STR(p.info.search_body, "hello\n\n");
	done(&p);
	parse(&p, "Content-Type: multipart/alternative\n\n--x\n\nhello\n--x--\n");
	CHECK_STR(p.info.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 21 4)");
	done(&p);
	/* Only a close delimiter: no part at all, so text/plain too. */
	parse(&p, "Content-Type: multipart/mixed; boundary=c\n\n--c--\n");
	CHECK_STR(p.info.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1)");
	done(&p);

	/* Part headers without the empty line; the close delimiter is the last
	 * line, without a line end; empty parts. */
	PARSE_LIT(&p, "Content-Type: multipart/mixed; boundary=foo\r\n\r\n"
		      "--foo\r\nContent-Type: text/plain\r\nbar\r\n\r\n"
		      "--foo\r\n--foo\r\n\r\n"
		      "--foo--");
	CHECK_STR(p.info.body, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1)"
				  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
				  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")");
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1", false, &s), 0);
	CHECK_EQ_INT(s.header_len, 26);
	CHECK_EQ_INT(s.body_off, at(&p, "bar"));
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), 0);
	CHECK_EQ_INT(s.header_len, 0);
	CHECK_EQ_INT(s.body_len, 0);
	/* The empty line before the close delimiter belongs to it. */
	CHECK_EQ_INT(mime_section_find(p.info.sections, "3", false, &s), 0);
	CHECK_EQ_INT(s.header_len, 0);
	CHECK_EQ_INT(s.body_len, 0);
	done(&p);

	/* An inner multipart that reuses its parent's boundary: the outer one
	 * wins, the inner finds no delimiter and becomes text. */
	parse(&p, "Content-Type: multipart/mixed; boundary=same\n\n"
		  "--same\nContent-Type: multipart/alternative; boundary=same\n\n"
		  "--same\nContent-Type: text/plain\n\nA\n"
		  "--same--\n");
	CHECK_STR(p.info.body, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
				  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 1) \"mixed\")");
	done(&p);
}

TEST(bare_lf_and_obsolete_syntax)
{
	struct parsed p;
	PARSE_LIT(&p, "Subject : spaced\nSubject: second\nFrom: a@example.org\n\nline one\nline two");
	CHECK_STR(p.info.envelope, "(NIL \"spaced\" ((NIL NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) "
				      "((NIL NIL \"a\" \"example.org\")) NIL NIL NIL NIL NIL)");
	CHECK_STR(p.info.body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 2)");
	CHECK_STR(p.info.sections, "v1\n0 t 0 54 17 2 7\n1 t 0 54 17 2 7\n");
	done(&p);

	/* Folding with tabs and whitespace-only continuation lines; an mbox
	 * "From " line before the header. */
	parse(&p, "From alice@example.org Mon Jan  1 00:00:00 2001\n"
		  "Subject: one\n"
		  "\ttwo\n"
		  " \n"
		  "  three\n"
		  "Date: 1 Jun 24 12:27 EDT\n"
		  "\n"
		  "x\n");
	CHECK_STR(p.info.envelope, "(\"1 Jun 24 12:27 EDT\" \"one\ttwo   three\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	CHECK_EQ_INT(p.info.sent_date, 1717259220);
	done(&p);

	/* Multipart with bare LF line ends. */
	PARSE_LIT(&p, "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b\nContent-Type: text/html\n\n<p>y\n--b--\n");
	CHECK_STR(p.info.body, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 1)"
				  "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1) \"mixed\")");
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), 0);
	CHECK_EQ_INT(s.body_off, at(&p, "<p>y"));
	CHECK_EQ_INT(s.body_len, 4);
	done(&p);
}

TEST(digest_default_type)
{
	struct parsed p;
	parse(&p, "Content-Type: multipart/digest; boundary=d\n"
		  "\n"
		  "--d\n"
		  "\n"
		  "From: x@example.org\n"
		  "Subject: one\n"
		  "\n"
		  "body one\n"
		  "--d\n"
		  "Content-Type: text/plain\n"
		  "\n"
		  "not a message\n"
		  "--d--\n");
	CHECK_STR(p.info.body,
		"((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 45 (NIL \"one\" ((NIL NIL \"x\" \"example.org\")) "
		"((NIL NIL \"x\" \"example.org\")) ((NIL NIL \"x\" \"example.org\")) NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1) 4)"
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 13 1) \"digest\")");
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1", false, &s), 0);
	CHECK(s.is_message);
	CHECK_EQ_INT(s.header_len, 2);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1.1", false, &s), 0);
	CHECK_EQ_INT(s.body_off, at(&p, "body one"));
	CHECK_EQ_INT(s.body_len, 8);
	done(&p);
}

TEST(bodystructure_extension_fields)
{
	struct parsed p;
	parse(&p, "Content-Type: multipart/related; boundary=r; type=\"text/html\"\n"
		  "Content-Disposition: inline\n"
		  "Content-Language: en, (comment) fr-CA\n"
		  "Content-Location: http://example.org/\n"
		  "\n"
		  "--r\n"
		  "Content-Type: text/html; charset=UTF-8\n"
		  "Content-ID: <a@b>\n"
		  "Content-Description:  the page \n"
		  "Content-MD5: MD5SUM==\n"
		  "Content-Disposition: INLINE; FileName=\"a b.html\"; size=5\n"
		  "Content-Transfer-Encoding: 8BIT (we mean it)\n"
		  "Content-Location:\n"
		  "  page.html\n"
		  "\n"
		  "<p>x\n"
		  "--r\n"
		  "Content-Type: Image/GIF\n"
		  "Content-Transfer-Encoding: x-uuencode\n"
		  "\n"
		  "begin\n"
		  "--r--\n");
	CHECK_STR(p.info.bodystructure,
		"((\"text\" \"html\" (\"charset\" \"UTF-8\") \"<a@b>\" \"the page\" \"8bit\" 4 1 \"MD5SUM==\" "
		"(\"inline\" (\"filename\" \"a b.html\" \"size\" \"5\")) NIL \"page.html\")"
		"(\"image\" \"gif\" NIL NIL NIL \"x-uuencode\" 5 NIL NIL NIL NIL) \"related\" "
		"(\"boundary\" \"r\" \"type\" \"text/html\") (\"inline\" NIL) (\"en\" \"fr-CA\") \"http://example.org/\")");
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), 0);
	CHECK_EQ_INT(s.encoding, MIME_ENC_OTHER);
	CHECK_EQ_INT(mime_decode_cte(s.encoding, p.msg + s.body_off, s.body_len, &(struct buf){0}), -1);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1", false, &s), 0);
	CHECK_EQ_INT(s.encoding, MIME_ENC_8BIT);
	done(&p);
}

/* ---- search text ---- */

TEST(search_text)
{
	struct parsed p;
	parse(&p, "Subject: =?iso-8859-1?q?=C4rger?=\n"
		  "Content-Type: multipart/mixed; boundary=s\n"
		  "\n"
		  "--s\n"
		  "Content-Type: text/plain; charset=iso-8859-1\n"
		  "Content-Transfer-Encoding: quoted-printable\n"
		  "\n"
		  "The N=E4rwhal sw=\n"
		  "ims =3D fast \n"
		  "--s\n"
		  "Content-Type: text/html; charset=utf-8\n"
		  "Content-Transfer-Encoding: base64\n"
		  "\n"
		  "PHA+SGVsbG8mbmJzcDs8Yj5Xw7ZybGQ8L2I+ICYjMTY5OyAmI3gyNjNBOyAmbHQ7eCZndDs8\n"
		  "L3A+PHNjcmlwdD52YXIgcz0nPHNlY3JldD4nOzwvc2NyaXB0PjxzdHlsZT5we308L3N0eWxl\n"
		  "PjwhLS0gaGlkZGVuIC0tPkVuZA==\n"
		  "--s\n"
		  "Content-Type: application/octet-stream\n"
		  "\n"
		  "attachmentword\n"
		  "--s\n"
		  "Content-Type: text/plain; charset=koi8-r\n"
		  "\n"
		  "\xf0\xd2\xc9\xd7\xc5\xd4\n"
		  "--s--\n");
	CHECK(strstr(p.info.search_headers, "subject: \xc3\xa4rger\n") != NULL);
	/* <p>Hello&nbsp;<b>W\xc3\xb6rld</b> &#169; &#x263A; &lt;x&gt;</p>
	 * <script>var s='<secret>';</script><style>p{}</style><!-- hidden -->End */
	CHECK_STR(p.info.search_body, "the n\xc3\xa4rwhal swims = fast\n"
					 "\nhello w\xc3\xb6rld \xc2\xa9 \xe2\x98\xba <x>\nend\n"
					 "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\n");
	char *key = folded("N\xc3\x84RWHAL");
	CHECK(strstr(p.info.search_body, key) != NULL);
	free(key);
	CHECK(strstr(p.info.search_body, "attachmentword") == NULL);
	CHECK(strstr(p.info.search_body, "secret") == NULL);
	CHECK(strstr(p.info.search_body, "hidden") == NULL);
	done(&p);

	/* Undeclared 8-bit text is read as windows-1252 unless it is UTF-8;
	 * broken UTF-8 becomes U+FFFD, and NUL a blank. */
	PARSE_LIT(&p, "Content-Type: text/plain; charset=utf-8\r\n\r\na\xff" "b\0c\x80\r\n");
	CHECK_STR(p.info.search_body, "a\xef\xbf\xbd" "b c\xef\xbf\xbd\n\n");
	done(&p);
	parse(&p, "\nsmart \x93quotes\x94 \x80\n");
	CHECK_STR(p.info.search_body, "smart \xe2\x80\x9cquotes\xe2\x80\x9d \xe2\x82\xac\n\n");
	done(&p);
	/* An HTML charset declared only in a <meta>. */
	parse(&p, "Content-Type: text/html\n\n<meta charset=\"windows-1251\"><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>\n");
	CHECK(strstr(p.info.search_body, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82") != NULL);
	done(&p);
	/* Unknown charsets and hostile names fall back instead of failing. */
	parse(&p, "Content-Type: text/plain; charset=\"x-no-such/../../etc\"\n\nplain caf\xc3\xa9\n");
	CHECK_STR(p.info.search_body, "plain caf\xc3\xa9\n\n");
	done(&p);
}

TEST(casefold)
{
	char *f = folded("\xc3\x84\xc3\x96\xc3\x9c \xce\xa3\xce\x91\xce\xa3 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 ABC");
	CHECK_STR(f, "\xc3\xa4\xc3\xb6\xc3\xbc \xcf\x83\xce\xb1\xcf\x83 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 abc");
	free(f);
	/* Final sigma, capital sharp s, Kelvin sign, Latin Extended-A pairs,
	 * dotless/dotted i kept as Unicode simple folding has them, micro sign,
	 * fullwidth letters, Armenian, Cyrillic Extended. */
	f = folded("\xcf\x82 \xe1\xba\x9e \xe2\x84\xaa \xc5\x81\xc5\xbd \xc4\xb0\xc4\xb1 \xc2\xb5 \xef\xbc\xa1 \xd4\xb1 \xd2\x90");
	CHECK_STR(f, "\xcf\x83 \xc3\x9f k \xc5\x82\xc5\xbe \xc4\xb0\xc4\xb1 \xce\xbc \xef\xbd\x81 \xd5\xa1 \xd2\x91");
	free(f);
	/* A folding that grows the encoding (U+023A -> U+2C65), many times. */
	struct buf in = {0}, out = {0};
	for (int i = 0; i < 1000; i++)
		buf_appends(&in, "\xc8\xba");
	mime_casefold(buf_head(&in), buf_used(&in), &out);
	CHECK_EQ_INT(buf_used(&out), 3000);
	CHECK(memcmp(buf_head(&out), "\xe2\xb1\xa5", 3) == 0);
	buf_free(&in);
	buf_free(&out);
	/* Invalid bytes are copied; folding is idempotent. */
	f = folded("A\xff\xc3(\xe2\x82Z");
	CHECK_STR(f, "a\xff\xc3(\xe2\x82z");
	free(f);
	char *g = folded("\xc3\xa4\xc3\xb6 \xcf\x83");
	char *h = folded(g);
	CHECK_STR(g, h);
	free(g);
	free(h);
}

/* ---- dates ---- */

static int64_t date(const char *s)
{
	int64_t t = -12345;
	if (mime_parse_date(s, strlen(s), &t) != 0)
		return -1;
	return t;
}

TEST(dates)
{
	CHECK_EQ_INT(date("Sat, 01 Jun 2024 12:00:00 +0000"), 1717243200);
	CHECK_EQ_INT(date("01 Jun 2024 12:00:00 GMT"), 1717243200);
	CHECK_EQ_INT(date("Sat, 1 Jun 2024 14:00:00 +0200"), 1717243200);
	CHECK_EQ_INT(date("1 Jun 24 12:27 EDT"), 1717259220);
	CHECK_EQ_INT(date("01 Jan 2001 00:01+0000"), 978307260);
	CHECK_EQ_INT(date("Fri, 20 Apr 2001 20:18:00 -0400 (EDT)"), 987812280);
	CHECK_EQ_INT(date("Fri, 20 Apr 01 16:18:00 PST"), 987812280);
	CHECK_EQ_INT(date("Mon Jan  1 12:34:56 2001"), 978352496);
	CHECK_EQ_INT(date("(comment) 2 Mar 1999 (x) 10:00 (y) -0130 (z)"), 920374200);
	CHECK_EQ_INT(date("Thu, 1 Jan 70 00:00:00 UT"), 0);
	CHECK_EQ_INT(date("1 Jan 099 00:00:00 +0000"), 915148800);
	CHECK_EQ_INT(date("29 Feb 2000 00:00:00 +0000"), 951782400);
	CHECK_EQ_INT(date("1 June 2024 12:00:00 Z"), 1717243200);
	CHECK_EQ_INT(date("01-Jun-2024 12:00:00 +0000"), 1717243200);
	CHECK_EQ_INT(date("2024-06-01 12:00:00"), 1717243200);
	CHECK_EQ_INT(date("Sat, 01 Jun 2024 12:00:60 +0000"), 1717243259);
	CHECK_EQ_INT(date("1 Jun 2024"), 1717200000);
	CHECK_EQ_INT(date("Sat, 01 Jun 2024 12:00:00 +0000 (GMT)"), 1717243200);
	CHECK_EQ_INT(date("Sat, 01 Jun 2024 12:00:00 A"), 1717243200);
	CHECK_EQ_INT(date(""), -1);
	CHECK_EQ_INT(date("not a date"), -1);
	CHECK_EQ_INT(date("29 Feb 2001 00:00:00 +0000"), -1);
	CHECK_EQ_INT(date("32 Jan 2001 00:00:00 +0000"), -1);
	CHECK_EQ_INT(date("1 Foo 2001 00:00:00 +0000"), -1);
	CHECK_EQ_INT(date("1 Jan 2001 24:00:00 +0000"), -1);
	CHECK_EQ_INT(date("1 Jan 2001 12:61:00 +0000"), -1);
	CHECK_EQ_INT(date("1 Jan 1800 12:00:00 +0000"), -1);
	CHECK_EQ_INT(date("1 Jan 2001 123:00:00"), -1);
	CHECK_EQ_INT(date("(unterminated comment 1 Jan 2001 00:00"), -1);
	int64_t t = 99;
	CHECK_EQ_INT(mime_parse_date("1 Jan 2001 00:00:00 +0000", 5, &t), -1);
	CHECK_EQ_INT(t, 0);
}

/* ---- transfer decoding ---- */

static int decode(int enc, const char *in, size_t len, char **out_r, size_t *len_r)
{
	struct buf b = {0};
	int r = mime_decode_cte(enc, in, len, &b);
	buf_append(&b, "", 1);
	*len_r = buf_used(&b) - 1;
	*out_r = xstrndup(buf_head(&b), *len_r);
	buf_free(&b);
	return r;
}

#define DECODE_LIT(enc, lit, o, n) decode(enc, lit, sizeof(lit) - 1, o, n)

TEST(decode_cte)
{
	char *o;
	size_t n;
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BASE64, "SGVs\r\nbG8s\r\n IHdv cmxk\tIQ==\r\n", &o, &n), 0);
	CHECK_STR(o, "Hello, world!");
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BASE64, "SGk", &o, &n), 0); /* missing padding */
	CHECK_STR(o, "Hi");
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BASE64, "SGk=SGk=", &o, &n), 0); /* concatenated */
	CHECK_STR(o, "HiHi");
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BASE64, "SGV*sbG8=", &o, &n), -1);
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BASE64, "SGVsb", &o, &n), -1); /* a lone sextet */
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BASE64, "", &o, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BASE64, "AA==", &o, &n), 0);
	CHECK(n == 1 && o[0] == '\0');
	free(o);

	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_QP, "foo=\r\nbar=3D=41 \r\nx=\n y= \t\r\nz", &o, &n), 0);
	CHECK_STR(o, "foobar=A\r\nx yz");
	free(o);
	/* Bad escapes stay; lower-case hex is accepted; a final '=' goes. */
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_QP, "a=ZZb=e9c=4\td=", &o, &n), 0);
	CHECK_STR(o, "a=ZZb\xe9" "c=4\td");
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_QP, "tab\t \r\nend  ", &o, &n), 0);
	CHECK_STR(o, "tab\r\nend");
	free(o);

	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_7BIT, "a\0b", &o, &n), 0);
	CHECK(n == 3 && memcmp(o, "a\0b", 3) == 0);
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_BINARY, "\xff", &o, &n), 0);
	free(o);
	CHECK_EQ_INT(DECODE_LIT(MIME_ENC_OTHER, "begin", &o, &n), -1);
	free(o);
	CHECK_EQ_INT(DECODE_LIT(42, "x", &o, &n), -1);
	free(o);
}

/* ---- limits and hostile input ---- */

/* "1.1.1..." with n ones. */
static char *ones(int n)
{
	struct buf b = {0};
	for (int i = 0; i < n; i++)
		buf_appends(&b, i ? ".1" : "1");
	buf_append(&b, "", 1);
	char *r = xstrdup(buf_head(&b));
	buf_free(&b);
	return r;
}

TEST(limit_depth)
{
	struct buf m = {0};
	int levels = MIME_MAX_DEPTH + 8;
	for (int i = 0; i < levels; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
	buf_appends(&m, "Content-Type: text/plain\r\n\r\ndeep\r\n");
	for (int i = levels - 1; i >= 0; i--)
		buf_printf(&m, "--b%d--\r\n", i);
	struct parsed p;
	parse_raw(&p, buf_head(&m), buf_used(&m));
	buf_free(&m);
	CHECK(imap_items(p.info.bodystructure, strlen(p.info.bodystructure)) > 0);
	/* The part at MIME_MAX_DEPTH exists and is opaque text. */
	char *path = ones(MIME_MAX_DEPTH);
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, path, false, &s), 0);
	CHECK(!s.is_multipart);
	free(path);
	path = ones(MIME_MAX_DEPTH + 1);
	CHECK_EQ_INT(mime_section_find(p.info.sections, path, false, &s), -1);
	free(path);
	int depth = 0, max = 0;
	for (const char *c = p.info.body; *c; c++) {
		depth += *c == '(' ? 1 : *c == ')' ? -1 : 0;
		if (depth > max)
			max = depth;
	}
	CHECK(max <= MIME_MAX_DEPTH + 2);
	done(&p);

	/* Nested messages stop the same way, and a very deep message costs no
	 * stack. */
	buf_appends(&m, "Subject: top\r\n");
	for (int i = 0; i < 5000; i++)
		buf_appends(&m, "Content-Type: message/rfc822\r\n\r\n");
	buf_appends(&m, "end\r\n");
	parse_raw(&p, buf_head(&m), buf_used(&m));
	buf_free(&m);
	CHECK(imap_items(p.info.bodystructure, strlen(p.info.bodystructure)) > 0);
	/* The message at depth d is part 1 repeated d + 1 times; the one at
	 * MIME_MAX_DEPTH is an opaque leaf. */
	char *deepest = ones(MIME_MAX_DEPTH + 1);
	CHECK_EQ_INT(mime_section_find(p.info.sections, deepest, false, &s), 0);
	CHECK(!s.is_message);
	CHECK_EQ_INT(mime_section_find(p.info.sections, deepest, true, &s), -1);
	free(deepest);
	deepest = ones(MIME_MAX_DEPTH);
	CHECK_EQ_INT(mime_section_find(p.info.sections, deepest, true, &s), 0);
	free(deepest);
	deepest = ones(MIME_MAX_DEPTH + 2);
	CHECK_EQ_INT(mime_section_find(p.info.sections, deepest, false, &s), -1);
	free(deepest);
	done(&p);
}

TEST(limit_parts)
{
	struct buf m = {0};
	buf_appends(&m, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int i = 0; i < MIME_MAX_PARTS + 500; i++)
		buf_printf(&m, "--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i);
	buf_appends(&m, "--p--\r\nepilogue\r\n");
	struct parsed p;
	parse_raw(&p, buf_head(&m), buf_used(&m));
	buf_free(&m);
	size_t lines = 0;
	for (const char *c = p.info.sections; *c; c++)
		lines += *c == '\n';
	/* "v1", the message, and MIME_MAX_PARTS - 1 parts. */
	CHECK_EQ_INT(lines, MIME_MAX_PARTS + 1);
	char last[16];
	snprintf(last, sizeof last, "%d", MIME_MAX_PARTS - 1);
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, last, false, &s), 0);
	/* The last part holds the rest, up to the close delimiter. */
	CHECK_EQ_INT(s.body_off + s.body_len, at(&p, "\r\n--p--"));
	CHECK(s.body_lines > 1000);
	snprintf(last, sizeof last, "%d", MIME_MAX_PARTS);
	CHECK_EQ_INT(mime_section_find(p.info.sections, last, false, &s), -1);
	CHECK(imap_items(p.info.bodystructure, strlen(p.info.bodystructure)) == MIME_MAX_PARTS - 1 + 5);
	done(&p);
}

TEST(limit_field_and_text)
{
	struct buf m = {0};
	buf_appends(&m, "Subject: ");
	for (int i = 0; i < MIME_MAX_FIELD + 1000; i++)
		buf_append(&m, "a", 1);
	buf_appends(&m, "\r\n\r\n");
	for (int i = 0; i < MIME_MAX_TEXT / 16; i++)
		buf_appends(&m, "0123456789abcdefghijklmnopqrst\r\n");
	struct parsed p;
	parse_raw(&p, buf_head(&m), buf_used(&m));
	buf_free(&m);
	CHECK_EQ_INT(strlen(p.info.envelope), strlen("(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)") + MIME_MAX_FIELD);
	CHECK_EQ_INT(strlen(p.info.search_body), MIME_MAX_TEXT);
	CHECK(strlen(p.info.search_headers) <= MIME_MAX_FIELD + 20);
	done(&p);

	/* The cut falls on a character boundary. */
	buf_appends(&m, "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	for (int i = 0; i < MIME_MAX_TEXT / 3 + 10; i++)
		buf_appends(&m, "\xe2\x82\xac");
	parse_raw(&p, buf_head(&m), buf_used(&m));
	buf_free(&m);
	size_t n = strlen(p.info.search_body);
	CHECK(n <= MIME_MAX_TEXT && n > MIME_MAX_TEXT - 3);
	CHECK(utf8_valid(p.info.search_body, n));
	done(&p);
}

TEST(limit_params_and_words)
{
	struct buf m = {0};
	buf_appends(&m, "Content-Type: text/plain");
	for (int i = 0; i < MIME_MAX_PARAMS + 30; i++)
		buf_printf(&m, "; p%d=%d", i, i);
	buf_appends(&m, "\r\nSubject: ");
	/* One encoded word that just fits, one a byte too long. */
	for (int k = 0; k < 2; k++) {
		buf_appends(&m, k ? " =?utf-8?q?" : "=?utf-8?q?");
		for (int i = 0; i < MIME_MAX_WORD - 12 + k; i++)
			buf_append(&m, k ? "b" : "a", 1);
		buf_appends(&m, "?=");
	}
	buf_appends(&m, "\r\n\r\nx\r\n");
	struct parsed p;
	parse_raw(&p, buf_head(&m), buf_used(&m));
	buf_free(&m);
	char last[32];
	snprintf(last, sizeof last, "\"p%d\" \"%d\")", MIME_MAX_PARAMS - 1, MIME_MAX_PARAMS - 1);
	CHECK(strstr(p.info.body, last) != NULL);
	snprintf(last, sizeof last, "\"p%d\"", MIME_MAX_PARAMS);
	CHECK(strstr(p.info.body, last) == NULL);
	CHECK(strstr(p.info.search_headers, "subject: aaaa") != NULL);
	CHECK(strstr(p.info.search_headers, "a =?utf-8?q?bbbb") != NULL);
	done(&p);
}

TEST(hostile_inputs_are_linear)
{
	static const char *const units[] = {
		"x=?a?q?",        /* false starts of encoded words */
		"=?utf-8?q?a?= ", /* real ones */
		"((((",           /* comments */
		"\"a\\",          /* quoted strings */
		"<@a,",           /* routes */
		"a@b,",           /* addresses */
		";x*0*=a",        /* parameters */
		"\r\n ",          /* folds */
		"--b\r\n",        /* delimiters */
		"\n\n",           /* empty lines */
	};
	for (size_t u = 0; u < ARRAY_LEN(units); u++) {
		struct buf m = {0};
		buf_appends(&m, "Content-Type: multipart/mixed; boundary=b; ");
		size_t ul = strlen(units[u]);
		while (buf_used(&m) < 512 * 1024)
			buf_append(&m, units[u], ul);
		buf_appends(&m, "\r\nTo: ");
		while (buf_used(&m) < 1024 * 1024)
			buf_append(&m, units[u], ul);
		buf_appends(&m, "\r\nSubject: x\r\n\r\n");
		while (buf_used(&m) < 2 * 1024 * 1024)
			buf_append(&m, units[u], ul);
		int64_t t0 = time_mono_ms();
		struct parsed p;
		parse_raw(&p, buf_head(&m), buf_used(&m));
		int64_t ms = time_mono_ms() - t0;
		buf_free(&m);
		if (ms > 10000) {
			char msg[64];
			snprintf(msg, sizeof msg, "unit %zu took %lld ms", u, (long long)ms);
			test_fail(__FILE__, __LINE__, msg);
		}
		CHECK_EQ_INT(imap_items(p.info.envelope, strlen(p.info.envelope)), 10);
		CHECK(imap_items(p.info.bodystructure, strlen(p.info.bodystructure)) > 0);
		CHECK(utf8_valid(p.info.search_headers, strlen(p.info.search_headers)));
		done(&p);
	}
}

/* ---- the corpus ---- */

static char *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = {0};
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	buf_append(&b, "", 1);
	*len_r = buf_used(&b) - 1;
	char *r = xmalloc(*len_r + 1);
	memcpy(r, buf_head(&b), *len_r + 1);
	buf_free(&b);
	return r;
}

/* What the store does on delivery: bare LF becomes CRLF. */
static char *to_crlf(const char *s, size_t len, size_t *len_r)
{
	struct buf b = {0};
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			buf_append(&b, "\r", 1);
		buf_append(&b, s + i, 1);
	}
	buf_append(&b, "", 1);
	*len_r = buf_used(&b) - 1;
	char *r = xmalloc(*len_r + 1);
	memcpy(r, buf_head(&b), *len_r + 1);
	buf_free(&b);
	return r;
}

/* Every line of the section table: ranges inside the message, body right
 * after the header, a part inside its parent's body. */
static void check_sections(const char *name, const struct parsed *p)
{
	const char *t = p->info.sections;
	int bad = 0;
	CHECK(strncmp(t, "v1\n0 ", 5) == 0);
	for (const char *l = strchr(t, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
		char part[256];
		size_t pl = strcspn(l, " ");
		if (pl >= sizeof part) {
			bad++;
			break;
		}
		memcpy(part, l, pl);
		part[pl] = '\0';
		const char *key = strcmp(part, "0") == 0 ? "" : part;
		for (int want = 0; want < 2; want++) {
			struct mime_section s;
			int r = mime_section_find(t, key, want, &s);
			if (r != 0) {
				/* Only messages have a header and text of their own. */
				if (!(want && *key && l[pl + 1] != 'r'))
					bad++;
				continue;
			}
			if (s.header_off + s.header_len != s.body_off || s.body_off + s.body_len > p->len ||
				s.all_off != s.header_off || s.all_len != s.header_len + s.body_len)
				bad++;
			if (*key == '\0' && (s.all_len != p->len || s.header_off != 0))
				bad++;
			/* Inside the parent's body. */
			const char *dot = strrchr(part, '.');
			if (dot != NULL && !want) {
				char parent[256];
				memcpy(parent, part, (size_t)(dot - part));
				parent[dot - part] = '\0';
				struct mime_section ps;
				if (mime_section_find(t, parent, false, &ps) != 0)
					bad++;
				else if (s.all_off < ps.body_off || s.all_off + s.all_len > ps.body_off + ps.body_len)
					bad++;
			}
		}
	}
	if (bad) {
		char msg[600];
		snprintf(msg, sizeof msg, "%s: %d section problems", name, bad);
		test_fail(__FILE__, __LINE__, msg);
	}
}

static const char *corpus_dir(void)
{
	const char *d = getenv("ROOST_CORPUS");
	return d ? d : "tests/corpus"; /* tests run from the repository root */
}

static bool load_corpus(const char *file, struct parsed *p)
{
	char *path = xasprintf("%s/%s", corpus_dir(), file);
	size_t len;
	char *raw = read_file(path, &len);
	free(path);
	if (raw == NULL)
		return false;
	p->msg = to_crlf(raw, len, &p->len);
	free(raw);
	CHECK_EQ_INT(mime_parse(p->msg, p->len, &p->info), 0);
	return true;
}

TEST(corpus_invariants)
{
	DIR *d = opendir(corpus_dir());
	CHECK(d != NULL);
	if (d == NULL)
		return;
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)) != NULL) {
		size_t nl = strlen(e->d_name);
		if (nl < 5 || strcmp(e->d_name + nl - 4, ".eml") != 0)
			continue;
		struct parsed p;
		if (!load_corpus(e->d_name, &p))
			continue;
		files++;
		check_sections(e->d_name, &p);
		int env = imap_items(p.info.envelope, strlen(p.info.envelope));
		int body = imap_items(p.info.body, strlen(p.info.body));
		int bs = imap_items(p.info.bodystructure, strlen(p.info.bodystructure));
		bool ok = env == 10 && body > 0 && bs > body && utf8_valid(p.info.search_headers, strlen(p.info.search_headers)) &&
			  utf8_valid(p.info.search_body, strlen(p.info.search_body));
		if (!ok) {
			char msg[600];
			snprintf(msg, sizeof msg, "%s: envelope %d body %d bodystructure %d or invalid search text", e->d_name,
				env, body, bs);
			test_fail(__FILE__, __LINE__, msg);
		}
		/* The parse is a pure function of the bytes. */
		struct mime_info again;
		mime_parse(p.msg, p.len, &again);
		CHECK(strcmp(again.bodystructure, p.info.bodystructure) == 0 && strcmp(again.sections, p.info.sections) == 0);
		mime_info_clear(&again);
		done(&p);
	}
	closedir(d);
	CHECK(files >= 90);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

TEST(corpus_exact_values)
{
	struct parsed p;
	bool loaded = load_corpus("gen-bodystructure-extensions.eml", &p);
	CHECK(loaded);
	if (!loaded)
		return;
	CHECK_STR(p.info.bodystructure,
		"((\"text\" \"plain\" (\"charset\" \"us-ascii\" \"name\" \"note.txt\") \"<part1@corpus.example>\" "
		"\"A described part\" \"7bit\" 13 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"inline\" (\"filename\" \"note.txt\" "
		"\"size\" \"12\" \"creation-date\" \"Sat, 01 Jun 2024 12:00:00 +0000\")) (\"en-GB\" \"de\") "
		"\"https://example.org/note.txt\") \"mixed\" (\"boundary\" \"ext40\" \"x-extra\" \"1\") NIL NIL NIL)");
	CHECK_EQ_INT(p.info.sent_date, 1717245600);
	done(&p);

	CHECK(load_corpus("gen-address-edge-cases.eml", &p));
	CHECK_STR(p.info.envelope,
		"(\"Sat, 01 Jun 2024 12:25:00 +0000\" \"Address edge cases\" "
		"((\"Doe, John (Sales)\" NIL \"john.doe\" \"example.org\")) "
		"((\"quoted \\\"escaped\\\" name\" NIL \"\\\"quoted local part\\\"\" \"example.org\")) "
		"((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
		"((NIL NIL \"Team\" NIL)(NIL NIL \"alice\" \"example.org\")(\"Bob B.\" NIL \"bob\" \"example.org\")"
		"(NIL NIL NIL NIL)(\"Carol in a comment\" NIL \"carol\" \"example.org\")"
		"(NIL NIL \"bare-angle\" \"example.org\")(NIL NIL \"dave\" \"[192.0.2.1]\")"
		"(\"Mallory <m@example.org>\" NIL \"real\" \"example.org\")) "
		"((NIL NIL \"eve\" \"example.org\")) NIL NIL \"<gen-25@corpus.example>\")");
	done(&p);

	CHECK(load_corpus("gen-malformed-boundaries.eml", &p));
	CHECK_STR(p.info.body, "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 55 1) \"alternative\")"
				  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 126 3)"
				  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 77 1) \"mixed\")");
	done(&p);

	/* A top-level message/rfc822: [1] is the forwarded message. */
	CHECK(load_corpus("cpython-msg_06.eml", &p));
	struct mime_section s;
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1", true, &s), 0);
	CHECK_EQ_INT(s.header_off, at(&p, "MIME-Version: 1.0\r\nContent-Type: text/plain"));
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1.1", false, &s), 0);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "2", false, &s), -1);
	CHECK(starts_with(p.info.body, "(\"message\" \"rfc822\" NIL NIL \"forwarded message\" \"7bit\" "));
	done(&p);

	/* The digest: parts without headers default to message/rfc822. */
	CHECK(load_corpus("cpython-msg_30.eml", &p));
	CHECK(starts_with(p.info.body, "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" "));
	CHECK(strstr(p.info.body, ") \"digest\")") != NULL);
	done(&p);

	/* RFC 2231 continuations with charset and language. */
	CHECK(load_corpus("cpython-msg_29.eml", &p));
	CHECK(strstr(p.info.body, "\"title*\" \"us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!\"") !=
		NULL);
	done(&p);

	CHECK(load_corpus("gen-search-needles.eml", &p));
	static const char *const needles[] = {"haystack", "zebrafish", ("gr\xc3\xbc\xc3\x9f" "e"), "narwhal", "\xc3\xa4rger"};
	for (size_t i = 0; i < ARRAY_LEN(needles); i++)
		CHECK(strstr(p.info.search_body, needles[i]) != NULL);
	done(&p);

	CHECK(load_corpus("gen-deep-nesting.eml", &p));
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", false, &s), 0);
	CHECK(!s.is_multipart);
	CHECK_EQ_INT(mime_section_find(p.info.sections, "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", false, &s), 0);
	CHECK(s.is_multipart);
	done(&p);

	CHECK(load_corpus("gen-headers-only.eml", &p));
	CHECK_EQ_INT(mime_section_find(p.info.sections, "", false, &s), 0);
	CHECK_EQ_INT(s.header_len, p.len);
	CHECK_EQ_INT(s.body_len, 0);
	done(&p);

	CHECK(load_corpus("gen-utf16-utf7-parts.eml", &p));
	CHECK(strstr(p.info.search_body, "utf-16 text: gr\xc3\xbc\xc3\x9f" "e") != NULL);
	done(&p);

	CHECK(load_corpus("gen-iso-2022-jp.eml", &p));
	CHECK(strstr(p.info.search_headers, "subject: \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\n") != NULL);
	CHECK_EQ_INT(p.info.sent_date, 1717212780);
	done(&p);
}

/* Parsing keeps no shared state: threads parsing at once agree with a
 * parse made alone (charset conversion and folding included). */
struct par_job {
	const char *msg;
	size_t len;
	char *search;
	bool same;
};

static void *par_run(void *arg)
{
	struct par_job *j = arg;
	j->same = true;
	for (int i = 0; i < 20; i++) {
		struct mime_info info;
		mime_parse(j->msg, j->len, &info);
		if (strcmp(info.search_body, j->search) != 0)
			j->same = false;
		mime_info_clear(&info);
	}
	return NULL;
}

TEST(parallel_parses_agree)
{
	static const char *const files[] = {"gen-rfc2047-charsets.eml", "gen-iso-2022-jp.eml", "gen-utf16-utf7-parts.eml",
		"gen-alternative-qp.eml"};
	struct parsed p[ARRAY_LEN(files)];
	struct par_job jobs[ARRAY_LEN(files)];
	pthread_t th[ARRAY_LEN(files)];
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_LEN(files); i++)
		if (load_corpus(files[i], &p[n])) {
			jobs[n] = (struct par_job){p[n].msg, p[n].len, p[n].info.search_body, false};
			n++;
		}
	CHECK_EQ_INT(n, ARRAY_LEN(files));
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		CHECK(pthread_create(&th[i], NULL, par_run, &jobs[i]) == 0);
	for (size_t i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		CHECK(jobs[i].same);
		done(&p[i]);
	}
}

TEST(unbinary)
{
	/* A binary part becomes base64 that decodes to the same bytes; other
	 * parts and the headers stay as they were. */
	static const char bin[] = "a\0b\nc\rd\r\n.\r\n\xff";
	struct buf in = {0}, out = {0};
	buf_appends(&in, "Subject: x\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n"
			 "--q\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nh\xc3\xa9\r\n"
			 "--q\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: BINARY\r\n\r\n");
	buf_append(&in, bin, sizeof bin - 1);
	buf_appends(&in, "\r\n--q--\r\n");
	CHECK_EQ_INT(mime_unbinary(buf_head(&in), buf_used(&in), &out), 1);
	buf_append(&out, "", 1);
	CHECK(strstr(buf_head(&out), "Content-Transfer-Encoding: 8bit\r\n\r\nh\xc3\xa9\r\n--q\r\n") != NULL);
	CHECK(strstr(buf_head(&out), "Content-Transfer-Encoding: base64\r\n\r\n") != NULL);
	CHECK(memchr(buf_head(&out), '\0', buf_used(&out) - 1) == NULL);
	struct mime_info info;
	mime_parse(buf_head(&out), buf_used(&out) - 1, &info);
	struct mime_section sec;
	CHECK_EQ_INT(mime_section_find(info.sections, "2", false, &sec), 0);
	CHECK_EQ_INT(sec.encoding, MIME_ENC_BASE64);
	struct buf dec = {0};
	CHECK_EQ_INT(mime_decode_cte(sec.encoding, buf_head(&out) + sec.body_off, sec.body_len, &dec), 0);
	CHECK_EQ_INT(buf_used(&dec), sizeof bin - 1);
	CHECK(buf_used(&dec) == sizeof bin - 1 && memcmp(buf_head(&dec), bin, sizeof bin - 1) == 0);
	mime_info_clear(&info);
	buf_free(&dec);
	buf_free(&out);

	/* Nothing binary: copied unchanged. A single-part binary message too. */
	CHECK_EQ_INT(mime_unbinary("Subject: y\r\n\r\nplain\r\n", 21, &out), 0);
	CHECK(buf_used(&out) == 21 && memcmp(buf_head(&out), "Subject: y\r\n\r\nplain\r\n", 21) == 0);
	buf_free(&out);
	CHECK_EQ_INT(mime_unbinary("Content-Transfer-Encoding: binary\r\n\r\n\x01\n\x02", 40, &out), 1);
	buf_append(&out, "", 1);
	CHECK_EQ_STR(buf_head(&out), "Content-Transfer-Encoding: base64\r\n\r\nAQoC\r\n");
	buf_free(&out);
	buf_free(&in);
}
