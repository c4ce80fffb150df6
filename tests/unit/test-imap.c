/* Unit tests for the IMAP session helpers that need no connection: modified
 * UTF-7 mailbox names (RFC 3501 5.1.3) and sequence-set parsing. */
#include <stdlib.h>
#include <string.h>

#include "imap/imap-session.h"
#include "test.h"

static void utf7_pair(const char *utf8, const char *utf7)
{
	char *e = imap_utf8_to_utf7(utf8);
	CHECK_EQ_STR(e, utf7);
	char *d = imap_utf7_to_utf8(utf7);
	CHECK_EQ_STR(d, utf8);
	free(e);
	free(d);
}

TEST(utf7_round_trips)
{
	utf7_pair("INBOX", "INBOX");
	utf7_pair("Entwürfe", "Entw&APw-rfe");
	utf7_pair("a&b", "a&-b");
	utf7_pair("台北", "&U,BTFw-");
	utf7_pair("~peter/mail/日本語/台北", "~peter/mail/&ZeVnLIqe-/&U,BTFw-");
	utf7_pair("😀", "&2D3eAA-");
	utf7_pair("", "");
}

TEST(utf7_rejects_non_canonical)
{
	const char *bad[] = {
		"&AGE-",     /* encoded printable ASCII "a" */
		"&U,BTFw",   /* unterminated */
		"&-&U,B-",   /* bits left over */
		"&2D0-",     /* lone high surrogate */
		"&3gA-",     /* lone low surrogate */
		"&U,A-&U,A-", /* two runs back to back */
		"a\x80",     /* 8-bit */
		"&Jjo!-",    /* bad base64 */
		"&-\x01",    /* control */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *d = imap_utf7_to_utf8(bad[i]);
		if (d != NULL)
			fprintf(stderr, "  accepted %s\n", bad[i]);
		CHECK(d == NULL);
		free(d);
	}
	CHECK(imap_utf8_to_utf7("\xff") == NULL);
}

TEST(seqset_parse_merges_and_sorts)
{
	struct imap_range *r;
	size_t n;
	CHECK_EQ_INT(imap_seqset_parse("5,1:3,4,10:8,*", 20, &r, &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(r[0].lo, 1);
	CHECK_EQ_INT(r[0].hi, 5);
	CHECK_EQ_INT(r[1].lo, 8);
	CHECK_EQ_INT(r[1].hi, 10);
	CHECK_EQ_INT(r[2].lo, 20);
	CHECK_EQ_INT(r[2].hi, 20);
	free(r);
	CHECK_EQ_INT(imap_seqset_parse("7:*", 3, &r, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(r[0].lo, 3);
	CHECK_EQ_INT(r[0].hi, 7);
	free(r);
	CHECK_EQ_INT(imap_seqset_parse("4294967295", 1, &r, &n), 0);
	free(r);
	const char *bad[] = {"", "0", "1,", ",1", "1::2", "a", "1:0", "4294967296", "1 2", "-1", "1:*:2"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(imap_seqset_parse(bad[i], 5, &r, &n) == -1);
}

TEST(write_set_compacts)
{
	struct buf b = {0};
	uint32_t v[] = {1, 2, 3, 5, 7, 8, 10};
	imap_write_set(&b, v, 7);
	buf_append(&b, "", 1);
	CHECK_EQ_STR(buf_head(&b), "1:3,5,7:8,10");
	buf_free(&b);
}

