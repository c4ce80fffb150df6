/* Unit tests for the outbound SMTP client's socket-free parts: replies
 * (single and multi-line, enhanced codes, malformed ones, fed whole and a
 * byte at a time), EHLO keywords, xtext, and routing: MX answers, static
 * routes and HOST:PORT. */
#include <stdint.h>

#include "test.h"

#include "core/util.h"
#include "smtp/smtp-client.h"
#include "smtp/smtp-mx.h"

static ssize_t parse(const char *s, struct smtp_reply *r)
{
	return smtp_reply_parse(s, strlen(s), r);
}

TEST(reply_single_line)
{
	struct smtp_reply r;
	CHECK_EQ_INT(parse("250 2.1.0 Ok\r\n", &r), 14);
	CHECK_EQ_INT(r.code, 250);
	CHECK_EQ_STR(r.enh, "2.1.0");
	CHECK(strcmp(r.text, "250 2.1.0 Ok") == 0);
	CHECK_EQ_INT(parse("220\r\n", &r), 5);
	CHECK_EQ_INT(r.code, 220);
	CHECK_EQ_STR(r.enh, "");
	/* A bare LF ends a line too; what follows is the next reply. */
	CHECK_EQ_INT(parse("354 go ahead\n250 next\r\n", &r), 13);
	CHECK_EQ_INT(r.code, 354);
	/* An enhanced code of another class is text, not a status. */
	CHECK_EQ_INT(parse("550 2.1.0 odd\r\n", &r), 15);
	CHECK_EQ_STR(r.enh, "");
}

TEST(reply_multi_line)
{
	struct smtp_reply r;
	const char *s = "550-5.1.1 The email account that you tried to reach does not exist.\r\n"
			"550-5.1.1 Please try double-checking the recipient's email\r\n"
			"550 5.1.1 address for typos.\r\n";
	CHECK_EQ_INT(parse(s, &r), (ssize_t)strlen(s));
	CHECK_EQ_INT(r.code, 550);
	CHECK_EQ_STR(r.enh, "5.1.1");
	CHECK(strcmp(r.text, "550-5.1.1 The email account that you tried to reach does not exist. Please try "
			     "double-checking the recipient's email address for typos.") == 0);
	/* Incomplete until the last line. */
	CHECK_EQ_INT(parse("250-first\r\n250-second\r\n", &r), 0);
	CHECK_EQ_INT(parse("250-first\r\n250-sec", &r), 0);
	/* Fed a byte at a time, only the whole reply completes it. */
	size_t len = strlen(s);
	for (size_t i = 1; i < len; i++)
		CHECK_EQ_INT(smtp_reply_parse(s, i, &r), 0);
}

TEST(reply_malformed)
{
	struct smtp_reply r;
	CHECK_EQ_INT(parse("hello\r\n", &r), -1);
	CHECK_EQ_INT(parse("25\r\n", &r), -1);
	CHECK_EQ_INT(parse("250x\r\n", &r), -1);
	CHECK_EQ_INT(parse("199 too small\r\n", &r), -1);
	CHECK_EQ_INT(parse("600 too big\r\n", &r), -1);
	CHECK_EQ_INT(parse("250-a\r\n251 b\r\n", &r), -1); /* codes differ */
	/* A line with no end that is already too long. */
	char *big = xmalloc(SMTP_REPLY_MAX + 10);
	memset(big, 'x', SMTP_REPLY_MAX + 9);
	memcpy(big, "250 ", 4);
	big[SMTP_REPLY_MAX + 9] = '\0';
	CHECK_EQ_INT(parse(big, &r), -1);
	free(big);
	/* Too many lines. */
	char *many = xmalloc(8 * (SMTP_REPLY_MAX_LINES + 2) + 1);
	many[0] = '\0';
	for (int i = 0; i <= SMTP_REPLY_MAX_LINES; i++)
		strcat(many, "250-x\r\n");
	strcat(many, "250 x\r\n");
	CHECK_EQ_INT(parse(many, &r), -1);
	free(many);
}

TEST(reply_text_is_bounded_and_clean)
{
	struct smtp_reply r;
	char *s = xmalloc(3000);
	strcpy(s, "451 4.3.0 ");
	memset(s + 10, 'y', 2000);
	strcpy(s + 2010, "\r\n");
	CHECK(parse(s, &r) > 0);
	CHECK(strlen(r.text) < SMTP_REPLY_TEXT_MAX);
	free(s);
	CHECK(parse("550 bad\ttab\r\n", &r) > 0);
	CHECK(strcmp(r.text, "550 bad tab") == 0);
}

TEST(ehlo_keywords)
{
	const char *s = "250-mx.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
			"250-AUTH LOGIN PLAIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
			"250 SMTPUTF8\r\n";
	struct smtp_ehlo e;
	smtp_ehlo_parse(s, strlen(s), &e);
	CHECK_EQ_INT(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_STARTTLS | SMTP_EXT_AUTH_LOGIN |
				    SMTP_EXT_AUTH_PLAIN | SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_8BITMIME | SMTP_EXT_DSN |
				    SMTP_EXT_SMTPUTF8);
	CHECK_EQ_INT(e.size, 10240000);
	/* The first line is the server's name, not a keyword; AUTH= is old-style. */
	s = "250-DSN hello\r\n250-AUTH=LOGIN\r\n250 SIZE\r\n";
	smtp_ehlo_parse(s, strlen(s), &e);
	CHECK_EQ_INT(e.ext, SMTP_EXT_AUTH_LOGIN | SMTP_EXT_SIZE);
	CHECK_EQ_INT(e.size, 0);
}

TEST(xtext_encoding)
{
	char out[64];
	CHECK(smtp_xtext_encode("a+b=c d", out, sizeof out));
	CHECK_EQ_STR(out, "a+2Bb+3Dc+20d");
	CHECK(smtp_xtext_encode("", out, sizeof out));
	CHECK_EQ_STR(out, "");
	CHECK(!smtp_xtext_encode("++++", out, 12));
	CHECK(smtp_xtext_encode("++++", out, 13));
}

/* A DNS answer for example.com MX with the given (pref, name) records. */
static size_t dns_answer(unsigned char *b, const uint16_t *prefs, const char *const *names, size_t n)
{
	size_t o = 0;
	static const unsigned char head[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(b, head, sizeof head);
	b[7] = (unsigned char)n;
	o = sizeof head;
	static const unsigned char q[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 15, 0, 1};
	memcpy(b + o, q, sizeof q);
	o += sizeof q;
	for (size_t i = 0; i < n; i++) {
		unsigned char rr[] = {0xc0, 12, 0, 15, 0, 1, 0, 0, 1, 0};
		memcpy(b + o, rr, sizeof rr);
		o += sizeof rr;
		size_t rdlen_at = o;
		o += 2;
		b[o++] = (unsigned char)(prefs[i] >> 8);
		b[o++] = (unsigned char)prefs[i];
		/* name: labels, then a pointer to example.com */
		const char *p = names[i];
		while (*p) {
			const char *dot = strchr(p, '.');
			size_t l = dot ? (size_t)(dot - p) : strlen(p);
			b[o++] = (unsigned char)l;
			memcpy(b + o, p, l);
			o += l;
			p += l + (dot ? 1 : 0);
			if (!dot)
				break;
		}
		if (names[i][0] == '\0') {
			b[o++] = 0; /* the root: a null MX */
		} else {
			b[o++] = 0xc0;
			b[o++] = 12;
		}
		size_t rdlen = o - rdlen_at - 2;
		b[rdlen_at] = (unsigned char)(rdlen >> 8);
		b[rdlen_at + 1] = (unsigned char)rdlen;
	}
	return o;
}

TEST(mx_answers_sorted_by_preference)
{
	unsigned char b[1024];
	uint16_t prefs[] = {20, 10, 20, 5};
	const char *names[] = {"b", "a", "c", "z"};
	size_t len = dns_answer(b, prefs, names, 4);
	struct mx_host h[MX_MAX_HOSTS];
	CHECK_EQ_INT(mx_parse(b, len, h, MX_MAX_HOSTS), 4);
	CHECK_EQ_STR(h[0].name, "z.example.com");
	CHECK_EQ_INT(h[0].pref, 5);
	CHECK_EQ_STR(h[1].name, "a.example.com");
	CHECK_EQ_STR(h[2].name, "b.example.com"); /* ties keep the answer's order */
	CHECK_EQ_STR(h[3].name, "c.example.com");
	/* At most max records are taken. */
	CHECK_EQ_INT(mx_parse(b, len, h, 2), 2);
	/* Truncated answers are malformed, never read past their end. */
	for (size_t cut = 12; cut < len; cut++) {
		unsigned char *copy = xmalloc(cut);
		memcpy(copy, b, cut);
		int n = mx_parse(copy, cut, h, MX_MAX_HOSTS);
		CHECK(n <= 4);
		free(copy);
	}
	CHECK_EQ_INT(mx_parse(b, 5, h, MX_MAX_HOSTS), -1);
}

TEST(mx_null_record)
{
	unsigned char b[512];
	uint16_t prefs[] = {0};
	const char *names[] = {""};
	size_t len = dns_answer(b, prefs, names, 1);
	struct mx_host h[MX_MAX_HOSTS];
	CHECK_EQ_INT(mx_parse(b, len, h, MX_MAX_HOSTS), 1);
	CHECK_EQ_STR(h[0].name, "");
}

TEST(hostport_and_routes)
{
	char *host;
	uint16_t port;
	CHECK(mx_hostport_parse("smtp.example.com:587", 20, 25, &host, &port));
	CHECK_EQ_STR(host, "smtp.example.com");
	CHECK_EQ_INT(port, 587);
	free(host);
	CHECK(mx_hostport_parse("relay", 5, 25, &host, &port));
	CHECK_EQ_STR(host, "relay");
	CHECK_EQ_INT(port, 25);
	free(host);
	CHECK(mx_hostport_parse("[::1]:2525", 10, 25, &host, &port));
	CHECK_EQ_STR(host, "::1");
	CHECK_EQ_INT(port, 2525);
	free(host);
	CHECK(!mx_hostport_parse("h:0", 3, 25, NULL, NULL));
	CHECK(!mx_hostport_parse("h:70000", 7, 25, NULL, NULL));
	CHECK(!mx_hostport_parse(":25", 3, 25, NULL, NULL));
	CHECK(!mx_hostport_parse("a:b:c", 5, 25, NULL, NULL));
	CHECK(!mx_hostport_parse("", 0, 25, NULL, NULL));

	const char *routes = "remote.test=127.0.0.1:2525, Other.Test = mx.other:26 ,*=fallback";
	CHECK(mx_routes_valid(routes));
	CHECK(mx_route_find(routes, "REMOTE.test", &host, &port));
	CHECK_EQ_STR(host, "127.0.0.1");
	CHECK_EQ_INT(port, 2525);
	free(host);
	CHECK(mx_route_find(routes, "other.test", &host, &port));
	CHECK_EQ_STR(host, "mx.other");
	CHECK_EQ_INT(port, 26);
	free(host);
	CHECK(mx_route_find(routes, "anything.example", &host, &port));
	CHECK_EQ_STR(host, "fallback");
	CHECK_EQ_INT(port, 25);
	free(host);
	CHECK(!mx_route_find("a.test=h:1", "b.test", &host, &port));
	CHECK(!mx_route_find("", "b.test", &host, &port));
	CHECK(mx_routes_valid(""));
	CHECK(!mx_routes_valid("a.test"));
	CHECK(!mx_routes_valid("=h:1"));
	CHECK(!mx_routes_valid("a=h:x"));
}
