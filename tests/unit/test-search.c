/* Unit tests for SEARCH: the parser (the whole RFC 9051 / RFC 3501 grammar,
 * MODSEQ, RETURN, CHARSET, errors and limits), the evaluator (every criterion
 * against hand-made entries and texts), and the store's side: scans with and
 * without the trigram index, candidates checked exactly, the unindexed tail
 * scanned, expunged messages purged from the index, messages stored before
 * the parser, and the background indexer starting and stopping. */
#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

#include "core/buf.h"
#include "core/util.h"
#include "imap/imap-parse.h"
#include "imap/imap-search.h"
#include "mime/mime.h"
#include "store/sqlite/sqlite-store.h"
#include "store/store.h"

/* ---- helpers ---- */

/* Parse "SEARCH <text>" with the real command parser (literals included). */
struct parsed {
	struct imap_parser *p;
	const struct imap_command *cmd;
};

static bool parse_cmd(struct parsed *pc, const char *text)
{
	pc->p = imap_parser_new();
	char *line = xasprintf("a SEARCH %s\r\n", text);
	size_t len = strlen(line), off = 0;
	enum imap_parse_status st;
	do {
		size_t used = 0;
		st = imap_parse_feed(pc->p, line + off, len - off, &used);
		off += used;
	} while (st == IMAP_PARSE_LITERAL_WAIT || (st == IMAP_PARSE_MORE && off < len));
	free(line);
	if (st != IMAP_PARSE_DONE) {
		fprintf(stderr, "  command parser: %s\n", imap_parse_error(pc->p));
		return false;
	}
	pc->cmd = imap_parse_command(pc->p);
	return true;
}

/* The canonical dump of a search program, or "BAD: ...", "NO: ...". */
static char *parse_dump(const char *text, struct search_query *keep)
{
	struct parsed pc;
	if (!parse_cmd(&pc, text)) {
		imap_parser_free(pc.p);
		return xstrdup("PARSER");
	}
	struct search_query q;
	const char *err = NULL;
	enum search_parse_status st = imap_search_parse(pc.cmd->args, pc.cmd->n_args, &q, &err);
	char *r;
	if (st == SEARCH_PARSE_OK) {
		struct buf b = {0};
		imap_search_dump(q.root, &b);
		r = xstrndup(buf_head(&b), buf_used(&b));
		buf_free(&b);
	} else {
		r = xasprintf("%s: %s", st == SEARCH_PARSE_BAD ? "BAD" : st == SEARCH_PARSE_BADCHARSET ? "BADCHARSET" : "LIMIT",
			      err ? err : "?");
	}
	if (keep != NULL && st == SEARCH_PARSE_OK) {
		keep->esearch = q.esearch;
		keep->ret = q.ret;
		keep->modseq = q.modseq;
		keep->want = q.want;
	}
	imap_search_free(&q);
	imap_parser_free(pc.p);
	return r;
}

#define CHECK_PARSE(text, want)                                                                                 \
	do {                                                                                                     \
		char *_got = parse_dump(text, NULL);                                                             \
		CHECK_EQ_STR(_got, want);                                                                        \
		free(_got);                                                                                      \
	} while (0)

/* Starts with the given prefix (for error texts). */
#define CHECK_PARSE_FAILS(text, prefix)                                                                         \
	do {                                                                                                     \
		char *_got = parse_dump(text, NULL);                                                             \
		if (strncmp(_got, prefix, strlen(prefix)) != 0)                                                  \
			CHECK_EQ_STR(_got, prefix);                                                              \
		free(_got);                                                                                      \
	} while (0)

/* ---- the parser ---- */

TEST(parse_simple_keys)
{
	CHECK_PARSE("ALL", "(ALL)");
	CHECK_PARSE("answered Deleted DRAFT flagged seen", "(ANSWERED DELETED DRAFT FLAGGED SEEN)");
	CHECK_PARSE("UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
		    "(UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN)");
	CHECK_PARSE("NEW OLD RECENT", "(NONE ALL NONE)");
	CHECK_PARSE("KEYWORD $Forwarded UNKEYWORD foo", "(KEYWORD $Forwarded UNKEYWORD foo)");
	CHECK_PARSE("LARGER 100 SMALLER 18446744073709551615", "(LARGER 100 SMALLER 18446744073709551615)");
}

TEST(parse_text_keys)
{
	CHECK_PARSE("BCC a CC b FROM c TO d SUBJECT \"Hello World\"",
		    "(HEADER bcc \"a\" HEADER cc \"b\" HEADER from \"c\" HEADER to \"d\" HEADER subject \"hello world\")");
	CHECK_PARSE("BODY Foo TEXT {3+}\r\nBAR", "(BODY \"foo\" TEXT \"bar\")");
	CHECK_PARSE("HEADER X-Mailer \"\"", "(HEADER x-mailer \"\")");
	CHECK_PARSE("HEADER \"Message-ID\" \"<A@B>\"", "(HEADER message-id \"<a@b>\")");
	/* Keys are folded like the stored text, UTF-8 included. */
	CHECK_PARSE("CHARSET UTF-8 SUBJECT {7+}\r\n\xc3\x89T\xc3\x89 X", "(HEADER subject \"\xc3\xa9t\xc3\xa9 x\")");
	CHECK_PARSE("BODY \"a \\\"q\\\" b\"", "(BODY \"a \\\"q\\\" b\")");
	CHECK_PARSE("SUBJECT NIL", "(HEADER subject \"nil\")");
	CHECK_PARSE("BODY 123", "(BODY \"123\")");
}

TEST(parse_dates)
{
	CHECK_PARSE("BEFORE 1-Feb-1994 ON \"01-feb-1994\" SINCE 29-Feb-2020",
		    "(BEFORE 1-feb-1994 ON 1-feb-1994 SINCE 29-feb-2020)");
	CHECK_PARSE("SENTBEFORE 31-Dec-1999 SENTON 1-Jan-1970 SENTSINCE 28-Feb-2100",
		    "(SENTBEFORE 31-dec-1999 SENTON 1-jan-1970 SENTSINCE 28-feb-2100)");
	CHECK_PARSE_FAILS("BEFORE 29-Feb-2100", "BAD");
	CHECK_PARSE_FAILS("BEFORE 30-Feb-2020", "BAD");
	CHECK_PARSE_FAILS("BEFORE 0-Feb-2020", "BAD");
	CHECK_PARSE_FAILS("BEFORE 1-Foo-2020", "BAD");
	CHECK_PARSE_FAILS("BEFORE 1-Feb-94", "BAD");
	CHECK_PARSE_FAILS("BEFORE 1-Feb-19944", "BAD");
	CHECK_PARSE_FAILS("BEFORE 123-Feb-1994", "BAD");
	CHECK_PARSE_FAILS("BEFORE", "BAD");
	CHECK_PARSE_FAILS("ON (1-Feb-1994)", "BAD");
	int64_t day;
	CHECK(imap_search_date("1-Jan-1970", &day) && day == 0);
	CHECK(imap_search_date("2-Jan-1970", &day) && day == 1);
	CHECK(imap_search_date("31-Dec-1969", &day) && day == -1);
	CHECK(imap_search_date("1-Mar-2000", &day) && day == 11017);
}

TEST(parse_sets_and_uids)
{
	CHECK_PARSE("1:3,5 *:4 $ UID 1:* UID $ 7", "(1:3,5 *:4 $ UID 1:* UID $ 7)");
	CHECK_PARSE_FAILS("1:", "BAD");
	CHECK_PARSE_FAILS("0", "BAD");
	CHECK_PARSE_FAILS("1,,2", "BAD");
	CHECK_PARSE_FAILS("$,1", "BAD");
	CHECK_PARSE_FAILS("UID", "BAD");
	CHECK_PARSE_FAILS("UID abc", "BAD");
	CHECK_PARSE_FAILS("UID (1)", "BAD");
}

TEST(parse_boolean_structure)
{
	CHECK_PARSE("NOT SEEN", "(NOT SEEN)");
	CHECK_PARSE("OR SEEN FLAGGED", "(OR SEEN FLAGGED)");
	CHECK_PARSE("OR (SEEN FLAGGED) NOT DRAFT", "(OR (SEEN FLAGGED) NOT DRAFT)");
	CHECK_PARSE("OR OR 1 2 3 NOT NOT 4", "(OR OR 1 2 3 NOT NOT 4)");
	CHECK_PARSE("((SEEN) (UNSEEN (DRAFT)))", "(((SEEN) (UNSEEN (DRAFT))))");
	CHECK_PARSE_FAILS("NOT", "BAD");
	CHECK_PARSE_FAILS("OR SEEN", "BAD");
	CHECK_PARSE_FAILS("()", "BAD");
	CHECK_PARSE_FAILS("(SEEN", "PARSER");
	CHECK_PARSE_FAILS("FOO", "BAD");
	CHECK_PARSE_FAILS("SEEN FOO", "BAD");
	CHECK_PARSE_FAILS("\"SEEN\"", "BAD");
	CHECK_PARSE_FAILS("", "BAD");
}

TEST(parse_argument_errors)
{
	CHECK_PARSE_FAILS("SUBJECT", "BAD");
	CHECK_PARSE_FAILS("SUBJECT (a)", "BAD");
	CHECK_PARSE_FAILS("HEADER Subject", "BAD");
	CHECK_PARSE_FAILS("HEADER (a) b", "BAD");
	CHECK_PARSE_FAILS("LARGER x", "BAD");
	CHECK_PARSE_FAILS("LARGER", "BAD");
	CHECK_PARSE_FAILS("SMALLER -1", "BAD");
	CHECK_PARSE_FAILS("KEYWORD", "BAD");
	CHECK_PARSE_FAILS("KEYWORD \\Seen", "BAD");
	CHECK_PARSE_FAILS("KEYWORD \"a b\"", "BAD");
	CHECK_PARSE_FAILS("BODY ~{1+}\r\nx", "BAD");
}

TEST(parse_modseq)
{
	struct search_query q = {0};
	char *got = parse_dump("MODSEQ 5", &q);
	CHECK_EQ_STR(got, "(MODSEQ 5)");
	CHECK(q.modseq);
	free(got);
	CHECK_PARSE("MODSEQ 0", "(MODSEQ 0)");
	CHECK_PARSE("MODSEQ \"/flags/\\\\draft\" all 620162338", "(MODSEQ 620162338)");
	CHECK_PARSE("MODSEQ \"/flags/$Junk\" PRIV 9 SEEN", "(MODSEQ 9 SEEN)");
	CHECK_PARSE("MODSEQ 9223372036854775807", "(MODSEQ 9223372036854775807)");
	CHECK_PARSE_FAILS("MODSEQ", "BAD");
	CHECK_PARSE_FAILS("MODSEQ 9223372036854775808", "BAD");
	CHECK_PARSE_FAILS("MODSEQ \"/flags/x\" 5", "BAD");
	CHECK_PARSE_FAILS("MODSEQ \"/flags/x\" other 5", "BAD");
	CHECK_PARSE_FAILS("MODSEQ \"/other/x\" all 5", "BAD");
	CHECK_PARSE_FAILS("MODSEQ x", "BAD");
}

TEST(parse_return_and_charset)
{
	struct search_query q = {0};
	char *got = parse_dump("RETURN (MIN max Count ALL save) CHARSET utf-8 SEEN", &q);
	CHECK_EQ_STR(got, "(SEEN)");
	CHECK(q.esearch);
	CHECK_EQ_INT(q.ret, SEARCH_RET_MIN | SEARCH_RET_MAX | SEARCH_RET_COUNT | SEARCH_RET_ALL | SEARCH_RET_SAVE);
	free(got);
	memset(&q, 0, sizeof q);
	got = parse_dump("RETURN () ALL", &q);
	CHECK(q.esearch);
	CHECK_EQ_INT(q.ret, SEARCH_RET_ALL);
	free(got);
	memset(&q, 0, sizeof q);
	got = parse_dump("ALL", &q);
	CHECK(!q.esearch);
	CHECK_EQ_INT(q.want, 0);
	free(got);
	got = parse_dump("SUBJECT a SENTON 1-Jan-2000", &q);
	CHECK_EQ_INT(q.want, STORE_SCAN_HEADERS | STORE_SCAN_SENT_DATE);
	free(got);
	got = parse_dump("TEXT a", &q);
	CHECK_EQ_INT(q.want, STORE_SCAN_HEADERS | STORE_SCAN_BODY);
	free(got);
	CHECK_PARSE("CHARSET US-ASCII ALL", "(ALL)");
	CHECK_PARSE("CHARSET \"UTF-8\" ALL", "(ALL)");
	CHECK_PARSE_FAILS("CHARSET KOI8-R ALL", "BADCHARSET: [BADCHARSET (UTF-8 US-ASCII)]");
	CHECK_PARSE_FAILS("CHARSET ISO-8859-1 SUBJECT x", "BADCHARSET");
	CHECK_PARSE_FAILS("CHARSET", "BAD");
	CHECK_PARSE_FAILS("CHARSET UTF-8", "BAD");
	CHECK_PARSE_FAILS("RETURN (FOO) ALL", "BAD");
	CHECK_PARSE_FAILS("RETURN (PARTIAL 1:10) ALL", "BAD");
	CHECK_PARSE_FAILS("RETURN ALL", "BAD");
	CHECK_PARSE_FAILS("RETURN (MIN)", "BAD");
	CHECK_PARSE_FAILS("CHARSET UTF-8 RETURN (MIN) ALL", "BAD");
}

TEST(parse_limits)
{
	/* NOT, OR and lists nest up to IMAP_SEARCH_MAX_DEPTH. */
	struct buf b = {0};
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH; i++)
		buf_appends(&b, "NOT ");
	buf_appends(&b, "ALL");
	char *text = xstrndup(buf_head(&b), buf_used(&b));
	char *got = parse_dump(text, NULL);
	CHECK(strncmp(got, "(NOT NOT", 8) == 0);
	free(got);
	free(text);
	buf_clear(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH + 1; i++)
		buf_appends(&b, "OR ALL ");
	buf_appends(&b, "ALL");
	text = xstrndup(buf_head(&b), buf_used(&b));
	CHECK_PARSE_FAILS(text, "BAD: Search criteria nested too deeply");
	free(text);
	/* Criteria in all, and text criteria. */
	buf_clear(&b);
	for (int i = 0; i <= IMAP_SEARCH_MAX_KEYS; i++)
		buf_appends(&b, "SEEN ");
	buf_appends(&b, "ALL");
	text = xstrndup(buf_head(&b), buf_used(&b));
	CHECK_PARSE_FAILS(text, "LIMIT: [LIMIT]");
	free(text);
	buf_clear(&b);
	for (int i = 0; i < IMAP_SEARCH_MAX_TEXT_KEYS; i++)
		buf_appends(&b, "BODY x ");
	buf_appends(&b, "ALL");
	text = xstrndup(buf_head(&b), buf_used(&b));
	got = parse_dump(text, NULL);
	CHECK(got[0] == '(');
	free(got);
	free(text);
	buf_appends(&b, " BODY y");
	text = xstrndup(buf_head(&b), buf_used(&b));
	CHECK_PARSE_FAILS(text, "LIMIT: [LIMIT]");
	free(text);
	buf_free(&b);
}

/* ---- the evaluator ---- */

struct test_msg {
	struct store_entry e;
	int64_t sent_date;
	const char *headers; /* as the parser stores them (names lower-case) */
	const char *body;
};

/* 2020-01-01T00:00:00Z */
#define T2020 1577836800

static struct test_msg msgs[] = {
	{.e = {.uid = 1, .size = 100, .internal_date = T2020 + 10 * 3600, .flags = STORE_FLAG_SEEN, .keywords = 1,
	       .modseq = 10},
	 .sent_date = T2020 + 86400 + 7 * 3600 + 1800,
	 .headers = "from: Alice <alice@example.com>\nto: bob@example.org\nsubject: Hello World\n"
		    "date: Wed, 1 Jan 2020 23:30:00 -0800\nx-to: zed\n",
	 .body = "The quick brown fox"},
	{.e = {.uid = 2, .size = 2000, .internal_date = T2020 + 86400, .flags = STORE_FLAG_ANSWERED | STORE_FLAG_FLAGGED,
	       .modseq = 20},
	 .headers = "from: carol\nsubject: Re: hello\ncc: dave@example.net\nx-mailer: Foo 1.0\n",
	 .body = "see below\n> The quick brown fox"},
	{.e = {.uid = 5, .size = 50, .internal_date = T2020 - 1, .flags = STORE_FLAG_DELETED | STORE_FLAG_DRAFT,
	       .modseq = 5},
	 .sent_date = T2020 - 86400,
	 .headers = "subject: \xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9\nbcc: secret@example.com\ndate: 31 Dec 19 12:00 GMT\n",
	 .body = "caf\xc3\xa9 au lait"},
	{.e = {.uid = 7, .size = 1000, .internal_date = T2020 + 366 * 86400, .keywords = 2, .modseq = 7},
	 .headers = "",
	 .body = ""},
	{.e = {.uid = 9, .size = 101, .internal_date = T2020 + 2 * 86400, .flags = STORE_FLAG_SEEN, .modseq = 9},
	 .headers = "subject: hello\nsubject: second\ndate: garbage\n",
	 .sent_date = T2020 + 3 * 86400 + 5,
	 .body = "Hello, World! \"quoted\" 100%"},
};

static const uint32_t view_uids[] = {1, 2, 5, 7, 9};
static char *view_keywords[] = {"$Forwarded", "foo", "unused"};
static const uint32_t saved_uids[] = {9, 5, 100};

/* Run a query over msgs: the matching UIDs, space-separated, or "BAD". */
static char *eval(const char *text)
{
	struct parsed pc;
	if (!parse_cmd(&pc, text)) {
		imap_parser_free(pc.p);
		return xstrdup("PARSER");
	}
	struct search_query q;
	const char *err;
	if (imap_search_parse(pc.cmd->args, pc.cmd->n_args, &q, &err) != SEARCH_PARSE_OK) {
		imap_search_free(&q);
		imap_parser_free(pc.p);
		return xasprintf("BAD %s", err);
	}
	struct imap_uids vu = {0};
	for (size_t i = 0; i < ARRAY_LEN(view_uids); i++)
		imap_uids_append(&vu, view_uids[i]);
	struct search_env env = {.uids = &vu,
				 .saved = saved_uids,
				 .n_saved = ARRAY_LEN(saved_uids),
				 .saved_valid = true,
				 .keywords = view_keywords,
				 .n_keywords = ARRAY_LEN(view_keywords)};
	uint32_t lo, hi;
	struct buf out = {0};
	if (imap_search_compile(&q, &env, &lo, &hi, &err) < 0) {
		buf_appends(&out, "BAD");
	} else {
		for (size_t i = 0; i < ARRAY_LEN(msgs); i++) {
			struct test_msg *t = &msgs[i];
			/* The stored text is folded at delivery. */
			struct buf h = {0}, bd = {0};
			mime_casefold(t->headers, strlen(t->headers), &h);
			mime_casefold(t->body, strlen(t->body), &bd);
			struct search_msg m = {.e = &t->e,
					       .sent_date = t->sent_date,
					       .headers = buf_used(&h) ? buf_head(&h) : "",
					       .headers_len = buf_used(&h),
					       .body = buf_used(&bd) ? buf_head(&bd) : "",
					       .body_len = buf_used(&bd)};
			bool in = t->e.uid >= lo && t->e.uid <= hi;
			if (imap_search_match(q.root, &m)) {
				CHECK(in); /* the bounds never exclude a match */
				buf_printf(&out, "%s%u", buf_used(&out) ? " " : "", t->e.uid);
			}
			buf_free(&h);
			buf_free(&bd);
		}
	}
	char *r = xstrndup(buf_used(&out) ? buf_head(&out) : "", buf_used(&out));
	buf_free(&out);
	imap_uids_free(&vu);
	imap_search_free(&q);
	imap_parser_free(pc.p);
	return r;
}

#define CHECK_EVAL(text, want)                                                                                  \
	do {                                                                                                     \
		char *_got = eval(text);                                                                         \
		CHECK_EQ_STR(_got, want);                                                                        \
		free(_got);                                                                                      \
	} while (0)

TEST(eval_flags_and_keywords)
{
	CHECK_EVAL("ALL", "1 2 5 7 9");
	CHECK_EVAL("SEEN", "1 9");
	CHECK_EVAL("UNSEEN", "2 5 7");
	CHECK_EVAL("ANSWERED", "2");
	CHECK_EVAL("UNANSWERED", "1 5 7 9");
	CHECK_EVAL("FLAGGED", "2");
	CHECK_EVAL("UNFLAGGED", "1 5 7 9");
	CHECK_EVAL("DELETED", "5");
	CHECK_EVAL("UNDELETED", "1 2 7 9");
	CHECK_EVAL("DRAFT", "5");
	CHECK_EVAL("UNDRAFT", "1 2 7 9");
	CHECK_EVAL("RECENT", "");
	CHECK_EVAL("NEW", "");
	CHECK_EVAL("OLD", "1 2 5 7 9");
	CHECK_EVAL("KEYWORD $forwarded", "1");
	CHECK_EVAL("KEYWORD FOO", "7");
	CHECK_EVAL("UNKEYWORD foo", "1 2 5 9");
	CHECK_EVAL("KEYWORD unused", "");
	CHECK_EVAL("KEYWORD $NeverSeen", "");
	CHECK_EVAL("UNKEYWORD $NeverSeen", "1 2 5 7 9");
}

TEST(eval_sizes_modseq)
{
	CHECK_EVAL("LARGER 100", "2 7 9");
	CHECK_EVAL("SMALLER 100", "5");
	CHECK_EVAL("LARGER 100 SMALLER 1001", "7 9");
	CHECK_EVAL("LARGER 18446744073709551615", "");
	CHECK_EVAL("MODSEQ 9", "1 2 9");
	CHECK_EVAL("MODSEQ 0", "1 2 5 7 9");
	CHECK_EVAL("MODSEQ \"/flags/\\\\seen\" all 20", "2");
}

TEST(eval_dates)
{
	/* INTERNALDATE by its day in UTC. */
	CHECK_EVAL("ON 1-Jan-2020", "1");
	CHECK_EVAL("ON 31-Dec-2019", "5");
	CHECK_EVAL("BEFORE 1-Jan-2020", "5");
	CHECK_EVAL("BEFORE 2-Jan-2020", "1 5");
	CHECK_EVAL("SINCE 2-Jan-2020", "2 7 9");
	CHECK_EVAL("SINCE 1-Jan-2021", "7");
	CHECK_EVAL("SINCE 2-Jan-2021", "");
	/* The Date: header's own day: message 1 was sent late on 1 January
	 * in -0800 (2 January in UTC); message 5 uses a two-digit year;
	 * message 2 has no Date: (its arrival day counts); message 9's does
	 * not parse (the parser's UTC time counts); 7 has neither. */
	CHECK_EVAL("SENTON 1-Jan-2020", "1");
	CHECK_EVAL("SENTON 2-Jan-2020", "2");
	CHECK_EVAL("SENTON 31-Dec-2019", "5");
	CHECK_EVAL("SENTON 4-Jan-2020", "9");
	CHECK_EVAL("SENTON 1-Jan-2021", "7");
	CHECK_EVAL("SENTBEFORE 2-Jan-2020", "1 5");
	CHECK_EVAL("SENTSINCE 2-Jan-2020", "2 7 9");
}

TEST(eval_text)
{
	CHECK_EVAL("SUBJECT HELLO", "1 2 9");
	CHECK_EVAL("SUBJECT \"hello world\"", "1");
	CHECK_EVAL("SUBJECT second", "9");
	CHECK_EVAL("SUBJECT \"\"", "1 2 5 9");
	CHECK_EVAL("FROM ALICE@", "1");
	CHECK_EVAL("FROM carol", "2");
	CHECK_EVAL("TO bob", "1");
	CHECK_EVAL("TO zed", "");  /* x-to: is another field */
	CHECK_EVAL("CC dave", "2");
	CHECK_EVAL("BCC secret", "5");
	CHECK_EVAL("HEADER X-Mailer \"\"", "2");
	CHECK_EVAL("HEADER x-mailer \"FOO 1\"", "2");
	CHECK_EVAL("HEADER X-To zed", "1");
	CHECK_EVAL("HEADER Date \"\"", "1 5 9");
	CHECK_EVAL("HEADER nothing \"\"", "");
	CHECK_EVAL("BODY quick", "1 2");
	CHECK_EVAL("BODY \"> the quick\"", "2");
	CHECK_EVAL("BODY hello", "9");
	CHECK_EVAL("BODY \"\\\"quoted\\\" 100%\"", "9");
	CHECK_EVAL("BODY \"\"", "1 2 5 7 9");
	CHECK_EVAL("TEXT hello", "1 2 9");
	CHECK_EVAL("TEXT fox", "1 2");
	CHECK_EVAL("TEXT subject:", "1 2 5 9");
	CHECK_EVAL("TEXT nowhere", "");
	/* Non-ASCII keys fold like the text. */
	CHECK_EVAL("CHARSET UTF-8 SUBJECT {6+}\r\n\xc3\x9cN\xc3\x8f" "C", "5");
	CHECK_EVAL("CHARSET UTF-8 BODY {5+}\r\nCAF\xc3\x89", "5");
	CHECK_EVAL("CHARSET UTF-8 BODY {5+}\r\ncafe\xcc", "");
}

TEST(eval_sets)
{
	CHECK_EVAL("1", "1");
	CHECK_EVAL("2:3", "2 5");
	CHECK_EVAL("*", "9");
	CHECK_EVAL("4:*", "7 9");
	CHECK_EVAL("*:4", "7 9");
	CHECK_EVAL("1,3,5", "1 5 9");
	CHECK_EVAL("6:10", "");   /* beyond the mailbox: nothing */
	CHECK_EVAL("5:100", "9");
	CHECK_EVAL("UID 3:7", "5 7");
	CHECK_EVAL("UID 5", "5");
	CHECK_EVAL("UID 3", "");
	CHECK_EVAL("UID *", "9");
	CHECK_EVAL("UID 100:*", "9"); /* RFC 9051: n:* includes the last */
	CHECK_EVAL("UID 1:2,7", "1 2 7");
	CHECK_EVAL("$", "5 9");
	CHECK_EVAL("UID $", "5 9");
	CHECK_EVAL("NOT $", "1 2 7");
	CHECK_EVAL("1:3 UID 2:9", "2 5");
	CHECK_EVAL("1:2 UID 5:9", "");
}

TEST(eval_boolean)
{
	CHECK_EVAL("NOT SEEN", "2 5 7");
	CHECK_EVAL("NOT NOT SEEN", "1 9");
	CHECK_EVAL("OR SEEN FLAGGED", "1 2 9");
	CHECK_EVAL("OR (SEEN LARGER 100) DELETED", "5 9");
	CHECK_EVAL("OR OR ANSWERED DELETED KEYWORD foo", "2 5 7");
	CHECK_EVAL("SEEN SUBJECT hello", "1 9");
	CHECK_EVAL("NOT (SEEN SUBJECT hello)", "2 5 7");
	CHECK_EVAL("OR BODY fox SUBJECT \"\xc3\xbcn\"", "1 2 5");
	CHECK_EVAL("NOT BODY fox", "5 7 9");
	CHECK_EVAL("(((ALL)))", "1 2 5 7 9");
}

TEST(eval_empty_mailbox)
{
	struct parsed pc;
	CHECK(parse_cmd(&pc, "1:* UID 1:*"));
	struct search_query q;
	const char *err;
	CHECK_EQ_INT(imap_search_parse(pc.cmd->args, pc.cmd->n_args, &q, &err), SEARCH_PARSE_OK);
	struct imap_uids none = {0};
	struct search_env env = {.uids = &none};
	uint32_t lo, hi;
	CHECK_EQ_INT(imap_search_compile(&q, &env, &lo, &hi, &err), 0);
	CHECK(lo > hi);
	imap_search_free(&q);
	imap_parser_free(pc.p);
}

TEST(header_matching)
{
	const char *h = "subject: abc\nto: x\nto-long: y\nsubject:\nempty: \n";
	size_t n = strlen(h);
	CHECK(imap_search_header(h, n, "subject", "abc", 3));
	CHECK(imap_search_header(h, n, "subject", "", 0));
	CHECK(imap_search_header(h, n, "to", "x", 1));
	CHECK(!imap_search_header(h, n, "to", "y", 1));
	CHECK(imap_search_header(h, n, "to-long", "y", 1));
	CHECK(imap_search_header(h, n, "empty", "", 0));
	CHECK(!imap_search_header(h, n, "empty", " ", 1));
	CHECK(!imap_search_header(h, n, "subject", "abc\nto", 6)); /* never across lines */
	CHECK(!imap_search_header(h, n, "missing", "", 0));
	CHECK(!imap_search_header(NULL, 0, "to", "", 0));
	/* A last line without its newline. */
	CHECK(imap_search_header("to: tail", 8, "to", "tail", 4));
	int64_t day;
	CHECK(imap_search_sent_day("date: (comment) Fri , 13 Mar (x) 2015 10:00 +1400\n", 50, &day));
	CHECK_EQ_INT(day, 16507);
	CHECK(imap_search_sent_day("date: 1 jan 70\n", 15, &day) && day == 0);
	CHECK(imap_search_sent_day("date: 1 jan 099\n", 16, &day) && day == 10592);
	CHECK(!imap_search_sent_day("date: 32 jan 2000\n", 18, &day));
	CHECK(!imap_search_sent_day("date: jan 1 2000\n", 17, &day));
	CHECK(!imap_search_sent_day("subject: x\n", 11, &day));
}

/* ---- the store: scans, the index, the indexer ---- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static char *tmpdir(void)
{
	char *dir = xstrdup("/tmp/roost-test-search-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return dir;
}

static void rmrf(char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* A store whose background indexer is stopped: the tests index by hand. */
static struct store *open_store(const char *dir, int64_t *account_r, int64_t *inbox_r)
{
	struct store *st = NULL;
	const char *err = NULL;
	if (store_open_sqlite(dir, true, &st, &err) != STORE_OK) {
		fprintf(stderr, "store_open_sqlite: %s\n", err);
		exit(1);
	}
	sqlite_indexer_stop(sqlite_store_of(st));
	if (account_r != NULL) {
		CHECK_EQ_INT(store_account_create(st, "searcher", "x", account_r), STORE_OK);
		struct store_mailbox m;
		CHECK_EQ_INT(store_mailbox_find(st, *account_r, "INBOX", &m), STORE_OK);
		*inbox_r = m.id;
		store_mailbox_clear(&m);
	}
	return st;
}

static int64_t sql_int(const char *dir, const char *sql)
{
	char *path = xasprintf("%s/roost.db", dir);
	sqlite3 *db;
	int64_t v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		sqlite3_stmt *s;
		if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
			int rc = sqlite3_step(s);
			v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
			sqlite3_finalize(s);
		} else {
			fprintf(stderr, "sql error: %s\n", sqlite3_errmsg(db));
		}
	}
	sqlite3_close(db);
	free(path);
	return v;
}

static uint32_t deliver(struct store *st, int64_t account, int64_t mailbox, const char *subject, const char *body)
{
	char *msg = xasprintf("From: test@example.com\r\nSubject: %s\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n"
			      "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
			      subject, body);
	struct store_target t = {.account_id = account, .mailbox_id = mailbox};
	CHECK_EQ_INT(store_deliver(st, msg, strlen(msg), &t, 1), STORE_OK);
	free(msg);
	return t.uid_r;
}

struct scan_out {
	struct buf uids;
	size_t rows, unparsed;
};

static int scan_row(void *ctx, const struct store_scan_row *row)
{
	struct scan_out *o = ctx;
	o->rows++;
	if (!row->parsed)
		o->unparsed++;
	buf_printf(&o->uids, "%s%u", buf_used(&o->uids) ? " " : "", row->entry.uid);
	return 0;
}

/* The UIDs a scan hands over for a filter on one needle. */
static char *scan_needle(struct store *st, int64_t account, int64_t mailbox, unsigned where, const char *needle)
{
	struct store_text_filter f = {.op = STORE_TEXT_NEEDLE, .where = where, .needle = needle, .len = needle ? strlen(needle) : 0};
	struct store_scan scan = {.uid_lo = 1, .uid_hi = UINT32_MAX, .want = where, .filter = needle ? &f : NULL};
	struct scan_out o = {0};
	CHECK_EQ_INT(store_search_scan(st, account, mailbox, &scan, scan_row, &o), STORE_OK);
	char *r = xstrndup(buf_used(&o.uids) ? buf_head(&o.uids) : "", buf_used(&o.uids));
	buf_free(&o.uids);
	return r;
}

/* What SEARCH answers: a query run over a store mailbox the way
 * imap-search.c runs it (scan, exact check of every row). */
static char *search(struct store *st, int64_t account, int64_t mailbox, const char *text)
{
	struct parsed pc;
	if (!parse_cmd(&pc, text)) {
		imap_parser_free(pc.p);
		return xstrdup("PARSER");
	}
	struct search_query q;
	const char *err;
	CHECK_EQ_INT(imap_search_parse(pc.cmd->args, pc.cmd->n_args, &q, &err), SEARCH_PARSE_OK);
	struct store_entry *e = NULL;
	size_t n = 0;
	CHECK_EQ_INT(store_entries(st, account, mailbox, 0, &e, &n), STORE_OK);
	struct imap_uids uids = {0};
	for (size_t i = 0; i < n; i++)
		imap_uids_append(&uids, e[i].uid);
	free(e);
	struct search_env env = {.uids = &uids};
	uint32_t lo, hi;
	CHECK_EQ_INT(imap_search_compile(&q, &env, &lo, &hi, &err), 0);
	struct buf out = {0};
	struct store_scan scan = {.uid_lo = lo, .uid_hi = hi, .want = q.want, .filter = q.filter};
	struct scan_out o = {0};
	/* Collect rows, then check them (the callback may not call the store). */
	CHECK_EQ_INT(store_search_scan(st, account, mailbox, &scan, scan_row, &o), STORE_OK);
	char *rows = xstrndup(buf_used(&o.uids) ? buf_head(&o.uids) : "", buf_used(&o.uids));
	buf_free(&o.uids);
	for (char *tok = strtok(rows, " "); tok; tok = strtok(NULL, " ")) {
		uint32_t uid = (uint32_t)strtoul(tok, NULL, 10);
		CHECK_EQ_INT(store_entries(st, account, mailbox, 0, &e, &n), STORE_OK);
		for (size_t i = 0; i < n; i++) {
			if (e[i].uid != uid)
				continue;
			struct mime_info info;
			CHECK_EQ_INT(store_message_info(st, account, e[i].message_id, true, &info), STORE_OK);
			struct search_msg m = {.e = &e[i],
					       .sent_date = info.sent_date,
					       .headers = info.search_headers,
					       .headers_len = strlen(info.search_headers),
					       .body = info.search_body,
					       .body_len = strlen(info.search_body)};
			if (imap_search_match(q.root, &m))
				buf_printf(&out, "%s%u", buf_used(&out) ? " " : "", uid);
			mime_info_clear(&info);
		}
		free(e);
	}
	free(rows);
	imap_uids_free(&uids);
	char *r = xstrndup(buf_used(&out) ? buf_head(&out) : "", buf_used(&out));
	buf_free(&out);
	imap_search_free(&q);
	imap_parser_free(pc.p);
	return r;
}

#define CHECK_SCAN(st, a, m, where, needle, want)                                                               \
	do {                                                                                                     \
		char *_got = scan_needle(st, a, m, where, needle);                                               \
		CHECK_EQ_STR(_got, want);                                                                        \
		free(_got);                                                                                      \
	} while (0)
#define CHECK_SEARCH(st, a, m, text, want)                                                                      \
	do {                                                                                                     \
		char *_got = search(st, a, m, text);                                                             \
		CHECK_EQ_STR(_got, want);                                                                        \
		free(_got);                                                                                      \
	} while (0)

TEST(scan_without_index)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	deliver(st, acct, inbox, "alpha", "one two");
	deliver(st, acct, inbox, "beta", "three");
	deliver(st, acct, inbox, "gamma", "four");
	/* Nothing indexed yet: every row comes, text and all. */
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "three", "1 2 3");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, NULL, "1 2 3");
	CHECK_SEARCH(st, acct, inbox, "BODY three", "2");
	CHECK_SEARCH(st, acct, inbox, "SUBJECT GAMMA", "3");
	CHECK_SEARCH(st, acct, inbox, "OR SUBJECT alpha BODY four", "1 3");
	CHECK_SEARCH(st, acct, inbox, "SENTON 2-Jan-2006 NOT 2", "1 3");
	/* The UID range bounds a scan. */
	struct store_scan scan = {.uid_lo = 2, .uid_hi = 2, .want = STORE_SCAN_HEADERS | STORE_SCAN_SENT_DATE};
	struct scan_out o = {0};
	CHECK_EQ_INT(store_search_scan(st, acct, inbox, &scan, scan_row, &o), STORE_OK);
	CHECK_EQ_INT(o.rows, 1);
	CHECK_EQ_INT(o.unparsed, 0);
	buf_free(&o.uids);
	store_close(st);
	rmrf(dir);
}

TEST(index_candidates_are_checked)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	deliver(st, acct, inbox, "plain", "nothing here");                 /* 1 */
	deliver(st, acct, inbox, "zebra crossing", "qqzebraqq in the body"); /* 2 */
	deliver(st, acct, inbox, "other", "abcx bcdx");                     /* 3: trigrams of abcd, not abcd */
	deliver(st, acct, inbox, "abcd", "ABCD upper");                     /* 4 */
	deliver(st, acct, inbox, "quote", "say \"hi\" now, caf\xc3\xa9 cr\xc3\xa8me"); /* 5 */
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 5);
	size_t done = 0, pending = 9;
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 5);
	CHECK_EQ_INT(pending, 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 0);

	/* Candidates: every trigram of the needle, in the right column. */
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "qqzebraqq", "2");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_HEADERS, "qqzebraqq", "");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_HEADERS, "zebra", "2");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_HEADERS | STORE_SCAN_BODY, "zebra", "2");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "abcd", "3 4");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "\"hi\"", "5");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "caf\xc3\xa9 cr", "5");
	/* Too short for a trigram: everything is scanned. */
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "ab", "1 2 3 4 5");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "\xc3\xa9\xc3\xa8", "1 2 3 4 5");

	/* ... and SEARCH checks each candidate against the text. */
	CHECK_SEARCH(st, acct, inbox, "BODY abcd", "4");
	CHECK_SEARCH(st, acct, inbox, "TEXT abcd", "4");
	CHECK_SEARCH(st, acct, inbox, "BODY ab", "3 4");
	CHECK_SEARCH(st, acct, inbox, "BODY \"\\\"HI\\\"\"", "5");
	CHECK_SEARCH(st, acct, inbox, "CHARSET UTF-8 BODY {6+}\r\nCAF\xc3\x89 ", "5");
	CHECK_SEARCH(st, acct, inbox, "SUBJECT zebra BODY qqzebra", "2");
	CHECK_SEARCH(st, acct, inbox, "SUBJECT zebra BODY nothing", "");
	CHECK_SEARCH(st, acct, inbox, "OR SUBJECT plain BODY upper", "1 4");
	CHECK_SEARCH(st, acct, inbox, "OR SUBJECT plain SEEN", "1");
	CHECK_SEARCH(st, acct, inbox, "NOT BODY abcd", "1 2 3 5");
	CHECK_SEARCH(st, acct, inbox, "OR (SUBJECT zebra BODY crossing) (TEXT quote BODY now)", "5");
	store_close(st);
	rmrf(dir);
}

TEST(index_tail_and_expunge)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	deliver(st, acct, inbox, "a", "needle one");
	deliver(st, acct, inbox, "b", "haystack");
	CHECK_EQ_INT(store_search_index(st, 1000, NULL, NULL), STORE_OK);
	/* Delivered after the index ran: handed over until it is indexed. */
	deliver(st, acct, inbox, "c", "needle three");
	deliver(st, acct, inbox, "d", "haystack again");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "needle", "1 3 4");
	CHECK_SEARCH(st, acct, inbox, "BODY needle", "1 3");
	size_t done = 0, pending = 9;
	CHECK_EQ_INT(store_search_index(st, 1, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 1);
	CHECK_EQ_INT(pending, 1);
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "needle", "1 3 4");
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(pending, 0);
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "needle", "1 3");

	/* Expunged: never handed over, and purged from the index. */
	CHECK_EQ_INT(store_expunge(st, acct, inbox, (uint32_t[]){1}, 1), STORE_OK);
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "needle", "3");
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_purge"), 1);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_body WHERE search_body MATCH '\"eed\"'"), 2);
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 1);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_purge"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_body WHERE search_body MATCH '\"eed\"'"), 1);
	/* Expunged before it was indexed: dropped from the queue, no purge. */
	uint32_t uid = deliver(st, acct, inbox, "e", "needle five");
	CHECK_EQ_INT(store_expunge(st, acct, inbox, &uid, 1), STORE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_purge"), 0);
	/* A copy keeps the shared text (and its index entry) alive. */
	int64_t other;
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Other", NULL, &other), STORE_OK);
	CHECK_EQ_INT(store_copy(st, acct, inbox, other, (uint32_t[]){3}, 1, NULL), STORE_OK);
	CHECK_EQ_INT(store_expunge(st, acct, inbox, (uint32_t[]){3}, 1), STORE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_purge"), 0);
	CHECK_SCAN(st, acct, other, STORE_SCAN_BODY, "needle", "1");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "needle", "");
	CHECK(sql_int(dir, "INSERT INTO search_body (search_body) VALUES ('integrity-check')") >= 0);
	CHECK(sql_int(dir, "INSERT INTO search_headers (search_headers) VALUES ('integrity-check')") >= 0);
	store_close(st);
	rmrf(dir);
}

TEST(index_other_accounts_and_mailboxes)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	int64_t acct2, other;
	CHECK_EQ_INT(store_account_create(st, "someone", "x", &acct2), STORE_OK);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct2, "INBOX", &m), STORE_OK);
	int64_t inbox2 = m.id;
	store_mailbox_clear(&m);
	CHECK_EQ_INT(store_mailbox_create(st, acct, "Other", NULL, &other), STORE_OK);
	deliver(st, acct, inbox, "mine", "secretword");
	deliver(st, acct2, inbox2, "theirs", "secretword");
	deliver(st, acct, other, "elsewhere", "secretword");
	for (int pass = 0; pass < 2; pass++) {
		CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "secretword", "1");
		CHECK_SCAN(st, acct2, inbox2, STORE_SCAN_BODY, "secretword", "1");
		CHECK_SCAN(st, acct, other, STORE_SCAN_BODY, "secretword", "1");
		CHECK_SCAN(st, acct, inbox2, STORE_SCAN_BODY, "secretword", "");
		CHECK_EQ_INT(store_search_index(st, 1000, NULL, NULL), STORE_OK);
	}
	store_close(st);
	rmrf(dir);
}

TEST(index_big_and_odd_text)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	/* Too long to index: scanned by every search instead. */
	size_t big = 300 * 1024;
	char *body = xmalloc(big + 32);
	for (size_t i = 0; i < big; i++)
		body[i] = (char)('a' + (i * 7 + i / 26) % 26);
	strcpy(body + big, " lastwordhere");
	deliver(st, acct, inbox, "big", body);
	free(body);
	deliver(st, acct, inbox, "small", "lastwordhere too");
	size_t done = 0, pending = 9;
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 2);
	CHECK_EQ_INT(pending, 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue WHERE big = 1"), 1);
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "lastwordhere", "1 2");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "nowhere at all", "1");
	CHECK_SEARCH(st, acct, inbox, "BODY lastwordhere", "1 2");
	/* Expunging it needs no purge: it never was in the index. */
	CHECK_EQ_INT(store_expunge(st, acct, inbox, (uint32_t[]){1}, 1), STORE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_purge"), 0);
	store_close(st);
	rmrf(dir);
}

/* A text in the index and in the queue at once (indexed again while its
 * purge is pending) is still one candidate. */
TEST(index_and_queue_overlap)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	deliver(st, acct, inbox, "alpha beta", "gamma delta");
	deliver(st, acct, inbox, "other", "nothing");
	size_t done = 0, pending = 9;
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 2);
	CHECK_EQ_INT(sql_int(dir, "INSERT INTO search_queue (message_id) VALUES (1)"), 1);
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_HEADERS, "alpha", "1");
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_HEADERS | STORE_SCAN_BODY, "delta", "1");
	CHECK_SEARCH(st, acct, inbox, "SUBJECT alpha", "1");
	CHECK_SEARCH(st, acct, inbox, "OR SUBJECT alpha BODY nothing", "1 2");
	store_close(st);
	rmrf(dir);
}

/* A message the index refuses is left to be scanned, and the others around
 * it are indexed all the same. */
TEST(index_refusal_skips_one_message)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	deliver(st, acct, inbox, "first", "harmless words");
	deliver(st, acct, inbox, "second", "a poisoned body");
	deliver(st, acct, inbox, "third", "more harmless words");
	/* An index table that refuses one text, as a damaged index might. */
	CHECK(sql_int(dir, "DROP TABLE search_body") >= 0);
	CHECK(sql_int(dir, "CREATE TABLE search_body (t)") >= 0);
	CHECK(sql_int(dir, "CREATE TRIGGER refuse BEFORE INSERT ON search_body WHEN new.t LIKE '%poisoned%'"
			   " BEGIN SELECT RAISE(ABORT, 'refused'); END") >= 0);
	size_t done = 0, pending = 9;
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 2);
	CHECK_EQ_INT(pending, 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT group_concat(message_id) FROM search_queue WHERE big = 1"), 2);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 1);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_body"), 2);
	store_close(st);
	rmrf(dir);
}

TEST(index_parses_old_messages)
{
	char *dir = tmpdir();
	int64_t acct, inbox;
	struct store *st = open_store(dir, &acct, &inbox);
	deliver(st, acct, inbox, "old one", "ancient text");
	deliver(st, acct, inbox, "old two", "modern text");
	/* As if stored before the parser existed (and the migration queued it). */
	CHECK(sql_int(dir, "DELETE FROM message_info") == 2);
	CHECK(sql_int(dir, "DELETE FROM message_text") == 2);
	CHECK(sql_int(dir, "DELETE FROM search_purge") == 0);
	CHECK(sql_int(dir, "INSERT INTO search_queue (message_id) SELECT id FROM messages") == 2);
	struct store_scan scan = {.uid_lo = 1, .uid_hi = 9, .want = STORE_SCAN_BODY};
	struct scan_out o = {0};
	CHECK_EQ_INT(store_search_scan(st, acct, inbox, &scan, scan_row, &o), STORE_OK);
	CHECK_EQ_INT(o.unparsed, 2);
	buf_free(&o.uids);
	size_t done = 0, pending = 9;
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 2);
	CHECK_EQ_INT(pending, 0);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM message_text"), 2);
	CHECK_SCAN(st, acct, inbox, STORE_SCAN_BODY, "ancient", "1");
	CHECK_SEARCH(st, acct, inbox, "BODY ancient", "1");
	/* Queued ids whose message is gone are forgotten. */
	CHECK(sql_int(dir, "INSERT INTO search_queue (message_id) VALUES (9999)") == 1);
	CHECK_EQ_INT(store_search_index(st, 1000, &done, &pending), STORE_OK);
	CHECK_EQ_INT(done, 1);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 0);
	store_close(st);
	rmrf(dir);
}

TEST(migration_queues_stored_mail)
{
	char *dir = tmpdir();
	char *path = xasprintf("%s/roost.db", dir);
	struct sqlite_conn *c;
	CHECK_EQ_INT(sqlite_conn_open(path, false, &c), STORE_OK);
	CHECK_EQ_INT(sqlite_migrate_to(c, 4), STORE_OK);
	const char *rows =
		"INSERT INTO accounts (id, name, pwhash, created) VALUES (1, 'old', 'x', 1);"
		"INSERT INTO mailboxes (account_id, id, name, uidvalidity, uidnext, highestmodseq, messages, bytes)"
		"  VALUES (1, 1, 'INBOX', 100, 3, 3, 2, 40);"
		"UPDATE store_meta SET value = 1 WHERE key = 'last_mailbox_id';"
		"INSERT INTO messages (id, size, created, content) VALUES"
		"  (1, 20, 1, CAST('Subject: first' || char(13, 10) AS BLOB)),"
		"  (2, 20, 1, CAST('Subject: second' || char(13, 10) AS BLOB));"
		"INSERT INTO entries (account_id, mailbox_id, uid, message_id, size, flags, modseq, internal_date)"
		"  VALUES (1, 1, 1, 1, 20, 0, 2, 1), (1, 1, 2, 2, 20, 0, 3, 1);";
	CHECK(sqlite3_exec(c->db, rows, NULL, NULL, NULL) == SQLITE_OK);
	sqlite_conn_close(c);
	free(path);
	struct store *st = open_store(dir, NULL, NULL);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 2);
	CHECK_SEARCH(st, 1, 1, "SUBJECT second", "2");
	CHECK_EQ_INT(store_search_index(st, 1000, NULL, NULL), STORE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 0);
	CHECK_SCAN(st, 1, 1, STORE_SCAN_HEADERS, "second", "2");
	store_close(st);
	rmrf(dir);
}

TEST(background_indexer)
{
	char *dir = tmpdir();
	struct store *st = NULL;
	const char *err;
	CHECK_EQ_INT(store_open_sqlite(dir, true, &st, &err), STORE_OK);
	int64_t acct;
	CHECK_EQ_INT(store_account_create(st, "bg", "x", &acct), STORE_OK);
	struct store_mailbox m;
	CHECK_EQ_INT(store_mailbox_find(st, acct, "INBOX", &m), STORE_OK);
	for (int i = 0; i < 20; i++)
		deliver(st, acct, m.id, "background", "indexed by the thread");
	/* The thread starts within SQLITE_INDEX_START_MS and catches up. */
	int64_t deadline = time_mono_ms() + 20000;
	while (sql_int(dir, "SELECT count(*) FROM search_queue") != 0 && time_mono_ms() < deadline)
		usleep(50 * 1000);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 0);
	CHECK_SCAN(st, acct, m.id, STORE_SCAN_BODY, "thread", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20");
	/* Closing with a backlog is prompt: the running job stops between
	 * two messages. */
	for (int i = 0; i < 300; i++)
		deliver(st, acct, m.id, "backlog", "waiting for the indexer");
	usleep(1200 * 1000);
	int64_t t0 = time_mono_ms();
	store_close(st);
	CHECK(time_mono_ms() - t0 < 1000);
	store_mailbox_clear(&m);
	/* What was indexed is kept; the rest waits for the next run. */
	st = open_store(dir, NULL, NULL);
	int64_t left = sql_int(dir, "SELECT count(*) FROM search_queue");
	CHECK(left >= 0 && left <= 300);
	CHECK_EQ_INT(store_search_index(st, 100000, NULL, NULL), STORE_OK);
	CHECK_EQ_INT(sql_int(dir, "SELECT count(*) FROM search_queue"), 0);
	store_close(st);
	rmrf(dir);
}
