/* Unit tests for src/core: buffers, number and base64 parsing, UTF-8
 * validation and the constant-time comparison every layer relies on. */
#include "test.h"

#include "core/buf.h"
#include "core/util.h"

TEST(utf8_validation)
{
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid("alice", 5));
	CHECK(utf8_valid("j\xc3\xb6rg", 5));            /* ö */
	CHECK(utf8_valid("\xe2\x82\xac", 3));           /* € */
	CHECK(utf8_valid("\xf0\x9f\x90\xa6", 4));       /* 🐦 */
	CHECK(!utf8_valid("\xc3", 1));                  /* truncated */
	CHECK(!utf8_valid("\xe2\x82", 2));
	CHECK(!utf8_valid("\xc0\xaf", 2));              /* overlong '/' */
	CHECK(!utf8_valid("\xe0\x80\xaf", 3));          /* overlong */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));          /* surrogate */
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));      /* > U+10FFFF */
	CHECK(!utf8_valid("\xff", 1));
	CHECK(!utf8_valid("\x80", 1));
	CHECK(!utf8_valid("a\xc3(", 3));
}

TEST(parse_uint_bounds)
{
	uint64_t v = 0;
	CHECK(parse_uint("0", 1, 10, &v) && v == 0);
	CHECK(parse_uint("4294967295", 10, UINT32_MAX, &v) && v == UINT32_MAX);
	CHECK(!parse_uint("4294967296", 10, UINT32_MAX, &v));
	CHECK(!parse_uint("18446744073709551616", 20, UINT64_MAX, &v));
	CHECK(!parse_uint("", 0, 10, &v));
	CHECK(!parse_uint("+1", 2, 10, &v));
	CHECK(!parse_uint("1 ", 2, 10, &v));
	CHECK(!parse_uint("11", 2, 10, &v));
}

TEST(base64_round_trip_and_rejects)
{
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (unsigned i = 0; i < 7; i++) {
		char enc[16];
		unsigned char dec[16];
		base64_encode(in[i], strlen(in[i]), enc);
		CHECK_EQ_STR(enc, want[i]);
		long n = base64_decode(enc, strlen(enc), dec, sizeof dec);
		CHECK_EQ_INT(n, (long)strlen(in[i]));
		CHECK(n >= 0 && memcmp(dec, in[i], (size_t)n) == 0);
	}
	unsigned char out[8];
	CHECK_EQ_INT(base64_decode("Zg=", 3, out, sizeof out), -1);     /* not a multiple of 4 */
	CHECK_EQ_INT(base64_decode("Z===", 4, out, sizeof out), -1);    /* too much padding */
	CHECK_EQ_INT(base64_decode("Zg==Zg==", 8, out, sizeof out), -1); /* padding inside */
	CHECK_EQ_INT(base64_decode("Zm9v!A==", 8, out, sizeof out), -1); /* bad character */
	CHECK_EQ_INT(base64_decode("Zm9vYmFy", 8, out, 5), -1);          /* output too small */
}

TEST(buf_grows_consumes_and_frees)
{
	struct buf b = {0};
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%04d", i);
	CHECK_EQ_INT(buf_used(&b), 4000);
	CHECK(memcmp(buf_head(&b), "00000001", 8) == 0);
	buf_consume(&b, 3996);
	CHECK_EQ_INT(buf_used(&b), 4);
	CHECK(memcmp(buf_head(&b), "0999", 4) == 0);
	buf_consume(&b, 4);
	CHECK(b.data == NULL && b.cap == 0); /* an empty buffer holds no memory */
	char big[600];
	memset(big, 'x', sizeof big);
	buf_printf(&b, "%.*s", 600, big);
	CHECK_EQ_INT(buf_used(&b), 600);
	buf_free(&b);
}

TEST(constant_time_compare)
{
	CHECK(mem_eq_ct("abc", "abc", 3));
	CHECK(!mem_eq_ct("abc", "abd", 3));
	CHECK(mem_eq_ct("", "", 0));
}

TEST(case_insensitive_helpers)
{
	CHECK(str_ieq("INBOX", "inbox"));
	CHECK(!str_ieq("INBOX", "inbox2"));
	CHECK(mem_ieq("RETR", 4, "retr"));
	CHECK(!mem_ieq("RET", 3, "retr"));
	CHECK(str_has_iprefix("AUTH PLAIN", "auth "));
	CHECK(!str_has_iprefix("AU", "auth"));
}

TEST(buf_append_uint_writes_decimal)
{
	struct buf b = {0};
	buf_append_uint(&b, 0);
	buf_append(&b, " ", 1);
	buf_append_uint(&b, 42);
	buf_append(&b, " ", 1);
	buf_append_uint(&b, UINT64_MAX);
	buf_append(&b, "", 1);
	CHECK_EQ_STR(buf_head(&b), "0 42 18446744073709551615");
	buf_free(&b);
}
