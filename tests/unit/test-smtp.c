/* Unit tests for the socket-free parts of SMTP: framing, verbs, MAIL and RCPT
 * paths and parameters, xtext, HELO names, BDAT framing (smtp-parse.c) and the
 * DATA reader (smtp-data.c). Every DATA case is fed whole, in 7-byte pieces
 * and byte by byte, and must give the same bytes and counts each way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "net/conn.h"
#include "smtp/smtp-data.h"
#include "smtp/smtp-parse.h"
#include "test.h"

/* ---- framing ---- */

TEST(frame_waits_for_lf)
{
	CHECK_EQ_INT(smtp_frame("", 0, false), 0);
	CHECK_EQ_INT(smtp_frame("NOOP\r", 5, false), 0);
	CHECK_EQ_INT(smtp_frame("NOOP\r\nQUIT\r\n", 12, false), 6);
	CHECK_EQ_INT(smtp_line_strip("NOOP\r\n", 6), 4);
	CHECK_EQ_INT(smtp_line_strip("NOOP\n", 5), 4);
}

TEST(frame_limit_1000)
{
	char *l = xmalloc(SMTP_MAX_AUTH_LINE + 2);
	memset(l, 'A', SMTP_MAX_AUTH_LINE + 2);
	l[SMTP_MAX_LINE - 2] = '\r';
	l[SMTP_MAX_LINE - 1] = '\n';
	CHECK_EQ_INT(smtp_frame(l, SMTP_MAX_LINE, false), SMTP_MAX_LINE);
	memset(l, 'A', SMTP_MAX_AUTH_LINE + 2);
	l[SMTP_MAX_LINE - 1] = '\r';
	l[SMTP_MAX_LINE] = '\n';
	CHECK_EQ_INT(smtp_frame(l, SMTP_MAX_LINE + 1, false), FRAME_TOOLONG);
	CHECK_EQ_INT(smtp_frame(l, SMTP_MAX_LINE - 1, false), 0);
	memset(l, 'A', SMTP_MAX_AUTH_LINE + 2);
	CHECK_EQ_INT(smtp_frame(l, SMTP_MAX_LINE, false), FRAME_TOOLONG);
	free(l);
}

TEST(frame_limit_auth)
{
	char *l = xmalloc(SMTP_MAX_AUTH_LINE + 2);
	memset(l, 'A', SMTP_MAX_AUTH_LINE + 2);
	memcpy(l, "auth PLAIN ", 11);
	CHECK_EQ_INT(smtp_frame(l, 5000, false), 0);
	l[SMTP_MAX_AUTH_LINE - 2] = '\r';
	l[SMTP_MAX_AUTH_LINE - 1] = '\n';
	CHECK_EQ_INT(smtp_frame(l, SMTP_MAX_AUTH_LINE, false), SMTP_MAX_AUTH_LINE);
	l[SMTP_MAX_AUTH_LINE - 2] = 'A';
	l[SMTP_MAX_AUTH_LINE - 1] = '\r';
	l[SMTP_MAX_AUTH_LINE] = '\n';
	CHECK_EQ_INT(smtp_frame(l, SMTP_MAX_AUTH_LINE + 1, false), FRAME_TOOLONG);
	/* A SASL response has no verb: the caller says so. */
	memset(l, 'A', 20);
	CHECK_EQ_INT(smtp_frame(l, 5000, true), 0);
	CHECK_EQ_INT(smtp_frame(l, 5000, false), FRAME_TOOLONG);
	free(l);
}

/* ---- verbs ---- */

static enum smtp_err cmd(const char *s, struct smtp_cmd *c)
{
	return smtp_cmd_parse(s, strlen(s), c);
}

TEST(verbs_case_insensitive)
{
	static const struct { const char *line; enum smtp_verb v; } t[] = {
		{"EHLO x", SMTP_VERB_EHLO}, {"helo x", SMTP_VERB_HELO}, {"LhLo x", SMTP_VERB_LHLO},
		{"mail FROM:<>", SMTP_VERB_MAIL}, {"RCPT TO:<a@b>", SMTP_VERB_RCPT},
		{"data", SMTP_VERB_DATA}, {"BDAT 10 LAST", SMTP_VERB_BDAT}, {"RSET", SMTP_VERB_RSET},
		{"NOOP", SMTP_VERB_NOOP}, {"noop anything", SMTP_VERB_NOOP}, {"QUIT", SMTP_VERB_QUIT},
		{"VRFY bob", SMTP_VERB_VRFY}, {"HELP", SMTP_VERB_HELP}, {"HELP MAIL", SMTP_VERB_HELP},
		{"StartTLS", SMTP_VERB_STARTTLS}, {"AUTH PLAIN", SMTP_VERB_AUTH},
	};
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		struct smtp_cmd c;
		CHECK_EQ_INT(cmd(t[i].line, &c), SMTP_OK);
		CHECK_EQ_INT(c.verb, t[i].v);
	}
}

TEST(verbs_refused)
{
	struct smtp_cmd c;
	CHECK_EQ_INT(cmd("FOO bar", &c), SMTP_ERR_UNKNOWN_CMD);
	CHECK_EQ_INT(cmd("MAILX FROM:<>", &c), SMTP_ERR_UNKNOWN_CMD);
	CHECK_EQ_INT(cmd(" MAIL", &c), SMTP_ERR_UNKNOWN_CMD);
	CHECK_EQ_INT(smtp_cmd_parse("", 0, &c), SMTP_ERR_SYNTAX);
	CHECK_EQ_INT(smtp_cmd_parse("NOOP\0x", 6, &c), SMTP_ERR_SYNTAX);
	CHECK_EQ_INT(cmd("DATA now", &c), SMTP_ERR_ARGS);
	CHECK_EQ_INT(cmd("QUIT please", &c), SMTP_ERR_ARGS);
	CHECK_EQ_INT(cmd("STARTTLS x", &c), SMTP_ERR_ARGS);
	CHECK_EQ_INT(cmd("MAIL", &c), SMTP_ERR_ARGS);
	CHECK_EQ_INT(cmd("EHLO", &c), SMTP_ERR_ARGS);
	CHECK_EQ_INT(cmd("EHLO ", &c), SMTP_ERR_ARGS);
	/* Trailing spaces are not arguments. */
	CHECK_EQ_INT(cmd("DATA  ", &c), SMTP_OK);
	CHECK_EQ_INT(cmd("MAIL FROM:<a@b>  ", &c), SMTP_OK);
	CHECK_EQ_INT(c.args_len, 10);
}

TEST(err_replies)
{
	CHECK_EQ_STR(smtp_err_reply(SMTP_ERR_UNKNOWN_CMD), "500 5.5.1 Command unrecognized");
	CHECK(strncmp(smtp_err_reply(SMTP_ERR_ARGS), "501 5.5.4 ", 10) == 0);
	CHECK(strncmp(smtp_err_reply(SMTP_ERR_PARAM_UNKNOWN), "555 5.5.4 ", 10) == 0);
	CHECK(strncmp(smtp_err_reply(SMTP_ERR_PARAM_NOTIMPL), "504 5.5.4 ", 10) == 0);
	CHECK(strncmp(smtp_err_reply(SMTP_ERR_ADDRESS), "553 5.1.3 ", 10) == 0);
	CHECK(strncmp(smtp_err_reply(SMTP_ERR_UTF8_NEEDED), "553 5.6.7 ", 10) == 0);
	CHECK(strncmp(smtp_err_reply(SMTP_ERR_SIZE_TOO_BIG), "552 5.3.4 ", 10) == 0);
	CHECK(strncmp(smtp_err_reply(SMTP_ERR_LINE_TOO_LONG), "500 5.5.6 ", 10) == 0);
	for (int e = 0; e <= SMTP_ERR_SIZE_TOO_BIG; e++)
		CHECK(strlen(smtp_err_reply((enum smtp_err)e)) > 10);
}

/* ---- MAIL ---- */

static enum smtp_err mail(const char *s, unsigned flags, struct smtp_mail *m)
{
	return smtp_parse_mail(s, strlen(s), flags, m);
}
static enum smtp_err rcpt(const char *s, unsigned flags, struct smtp_rcpt *r)
{
	return smtp_parse_rcpt(s, strlen(s), flags, r);
}
static bool tok_is(const char *p, size_t n, const char *s)
{
	return p != NULL && n == strlen(s) && memcmp(p, s, n) == 0;
}

TEST(mail_simple)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<Alice.Smith@Example.ORG>", 0, &m), SMTP_OK);
	CHECK(!m.from.null);
	/* The local part is kept as given; the domain compares without case. */
	CHECK(tok_is(m.from.local, m.from.local_len, "Alice.Smith"));
	CHECK(tok_is(m.from.domain, m.from.domain_len, "Example.ORG"));
	CHECK(tok_is(m.from.addr, m.from.addr_len, "Alice.Smith@Example.ORG"));
	CHECK(smtp_domain_eq(&m.from, "example.org"));
	char low[SMTP_MAX_DOMAIN + 1];
	CHECK_EQ_INT(smtp_domain_lower(&m.from, low, sizeof low), 11);
	CHECK_EQ_STR(low, "example.org");
	CHECK_EQ_INT(m.params_seen, 0);
	CHECK_EQ_INT(mail("from:<a@b>", 0, &m), SMTP_OK);
}

TEST(mail_null_path)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<>", 0, &m), SMTP_OK);
	CHECK(m.from.null);
	CHECK_EQ_INT(mail("FROM:<> SIZE=10", 0, &m), SMTP_OK);
	CHECK(m.from.null);
	CHECK_EQ_INT(m.size, 10);
}

TEST(mail_space_after_colon)
{
	/* RFC 5321 has no space after the colon, but many clients send
	 * "MAIL FROM: <a@b>"; we accept it, as most servers do. */
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM: <a@b.c>", 0, &m), SMTP_OK);
	CHECK(tok_is(m.from.addr, m.from.addr_len, "a@b.c"));
	CHECK_EQ_INT(mail("FROM:  <>", 0, &m), SMTP_OK);
	/* But not a space before the colon. */
	CHECK_EQ_INT(mail("FROM :<a@b>", 0, &m), SMTP_ERR_ARGS);
}

TEST(mail_bad_syntax)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:a@b", 0, &m), SMTP_ERR_ARGS);
	CHECK_EQ_INT(mail("FROM:<a@b", 0, &m), SMTP_ERR_ARGS);
	CHECK_EQ_INT(mail("TO:<a@b>", 0, &m), SMTP_ERR_ARGS);
	CHECK_EQ_INT(mail("FROM<a@b>", 0, &m), SMTP_ERR_ARGS);
	CHECK_EQ_INT(mail("FROM:", 0, &m), SMTP_ERR_ARGS);
	CHECK_EQ_INT(mail("FROM:<a@b>x", 0, &m), SMTP_ERR_ARGS);
	CHECK_EQ_INT(mail("FROM:<a>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<@b>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a..b@c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<.a@c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@b..c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@-b.c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@b-.c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@b.c.>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a b@c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@b c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@b@c>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@b_c.d>", 0, &m), SMTP_ERR_ADDRESS);
}

TEST(mail_source_route_ignored)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<@relay.one,@relay.two:joe@example.com>", 0, &m), SMTP_OK);
	CHECK(tok_is(m.from.addr, m.from.addr_len, "joe@example.com"));
	CHECK(tok_is(m.from.local, m.from.local_len, "joe"));
	CHECK_EQ_INT(mail("FROM:<@a:joe@example.com>", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<@[10.0.0.1]:joe@example.com>", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<@a,joe@example.com>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<@a joe@example.com>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<@:joe@example.com>", 0, &m), SMTP_ERR_ADDRESS);
}

TEST(mail_quoted_local)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<\"john doe\"@example.com>", 0, &m), SMTP_OK);
	CHECK(m.from.quoted);
	CHECK(tok_is(m.from.local, m.from.local_len, "\"john doe\""));
	CHECK_EQ_INT(mail("FROM:<\"a\\\"b\"@example.com>", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<\"a>b\"@example.com>", 0, &m), SMTP_OK);
	CHECK(tok_is(m.from.domain, m.from.domain_len, "example.com"));
	CHECK_EQ_INT(mail("FROM:<\"\"@example.com>", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<\"abc@example.com>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<\"a\tb\"@example.com>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<\"a\"b@example.com>", 0, &m), SMTP_ERR_ADDRESS);
}

TEST(mail_domain_literals)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<a@[192.0.2.1]>", 0, &m), SMTP_OK);
	CHECK(m.from.literal);
	CHECK(tok_is(m.from.domain, m.from.domain_len, "[192.0.2.1]"));
	CHECK_EQ_INT(mail("FROM:<a@[IPv6:2001:db8::1]>", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<a@[ipv6:::1]>", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<a@[192.0.2.256]>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@[2001:db8::1]>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@[IPv6:zz]>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@[x-tag:foo]>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@[1.2.3.4>", 0, &m), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(mail("FROM:<a@[1.2.3.4]x>", 0, &m), SMTP_ERR_ADDRESS);
}

TEST(mail_path_length)
{
	char line[600];
	/* "<" + local + "@" + domain + ">" = 256 exactly. */
	size_t local = 64, dom = 256 - 3 - local;
	char *p = line;
	p += sprintf(p, "FROM:<");
	memset(p, 'a', local); p += local;
	*p++ = '@';
	memset(p, 'b', dom); p += dom;
	/* sub-domains at most 63: put dots in, keeping the length */
	for (size_t i = 60; i < dom; i += 60)
		p[-(long)dom + (long)i] = '.';
	strcpy(p, ">");
	struct smtp_mail m;
	CHECK_EQ_INT(mail(line, 0, &m), SMTP_OK);
	/* One more octet in the local part: too long. */
	memmove(line + 7, line + 6, strlen(line + 6) + 1);
	line[6] = 'a';
	CHECK_EQ_INT(mail(line, 0, &m), SMTP_ERR_PATH_TOO_LONG);
	/* A domain over 255 octets is refused even if the path would fit. */
	char d[300];
	memset(d, 0, sizeof d);
	strcpy(d, "FROM:<a@");
	for (int i = 0; i < 4; i++)
		strcat(d, "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.");
	strcat(d, "x>");
	CHECK_EQ_INT(mail(d, 0, &m), SMTP_ERR_PATH_TOO_LONG);
}

TEST(mail_utf8_needs_smtputf8)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.de>", 0, &m), SMTP_ERR_UTF8_NEEDED);
	CHECK_EQ_INT(mail("FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.de> SMTPUTF8", 0, &m), SMTP_OK);
	CHECK(m.from.utf8);
	CHECK(m.smtputf8);
	CHECK_EQ_INT(mail("FROM:<j\xc3\xb6rg@example.de> BODY=8BITMIME smtputf8", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<j\xc3\xb6rg@example.de>", SMTP_PARSE_UTF8, &m), SMTP_OK);
	/* Ill-formed UTF-8 is refused even with SMTPUTF8. */
	CHECK_EQ_INT(mail("FROM:<j\xc3rg@example.de> SMTPUTF8", 0, &m), SMTP_ERR_BAD_UTF8);
	CHECK_EQ_INT(mail("FROM:<a@\xc0\xaf.de> SMTPUTF8", 0, &m), SMTP_ERR_BAD_UTF8);
	/* SMTPUTF8 inside another parameter's value does not count. */
	CHECK_EQ_INT(mail("FROM:<j\xc3\xb6rg@x.de> ENVID=SMTPUTF8x", 0, &m), SMTP_ERR_UTF8_NEEDED);
	CHECK_EQ_INT(mail("FROM:<a@b> SMTPUTF8=yes", 0, &m), SMTP_ERR_PARAM_VALUE);
}

TEST(mail_params)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=12345 BODY=8BITMIME RET=HDRS ENVID=QQ314159 AUTH=<>", 0, &m), SMTP_OK);
	CHECK_EQ_INT(m.size, 12345);
	CHECK_EQ_INT(m.body, SMTP_BODY_8BITMIME);
	CHECK_EQ_INT(m.ret, SMTP_RET_HDRS);
	CHECK_EQ_STR(m.envid, "QQ314159");
	CHECK(m.auth_null);
	CHECK_EQ_INT(m.params_seen, SMTP_P_SIZE | SMTP_P_BODY | SMTP_P_RET | SMTP_P_ENVID | SMTP_P_AUTH);
	CHECK_EQ_INT(mail("FROM:<a@b> body=7bit ret=full", 0, &m), SMTP_OK);
	CHECK_EQ_INT(m.body, SMTP_BODY_7BIT);
	CHECK_EQ_INT(m.ret, SMTP_RET_FULL);
	CHECK_EQ_INT(mail("FROM:<a@b> BODY=BINARYMIME", 0, &m), SMTP_OK);
	CHECK_EQ_INT(m.body, SMTP_BODY_BINARYMIME);
	CHECK_EQ_INT(mail("FROM:<a@b> AUTH=e+2Bmc@example.com", 0, &m), SMTP_OK);
	CHECK(tok_is(m.auth, m.auth_len, "e+mc@example.com"));
	CHECK_EQ_INT(mail("FROM:<a@b> ENVID=a+2Bb+3Dc", 0, &m), SMTP_OK);
	CHECK_EQ_STR(m.envid, "a+b=c");
	/* Runs of spaces between parameters are taken. */
	CHECK_EQ_INT(mail("FROM:<a@b>  SIZE=1   BODY=7BIT", 0, &m), SMTP_OK);
}

TEST(mail_params_refused)
{
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<a@b> FOO=bar", 0, &m), SMTP_ERR_PARAM_UNKNOWN);
	CHECK_EQ_INT(mail("FROM:<a@b> NOTIFY=NEVER", 0, &m), SMTP_ERR_PARAM_UNKNOWN);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=1 SIZE=2", 0, &m), SMTP_ERR_PARAM_DUP);
	CHECK_EQ_INT(mail("FROM:<a@b> size=1 SIZE=1", 0, &m), SMTP_ERR_PARAM_DUP);
	CHECK_EQ_INT(mail("FROM:<a@b> SMTPUTF8 SMTPUTF8", 0, &m), SMTP_ERR_PARAM_DUP);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=-1", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=1k", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=18446744073709551615", 0, &m), SMTP_OK);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=18446744073709551616", 0, &m), SMTP_ERR_SIZE_TOO_BIG);
	CHECK_EQ_INT(mail("FROM:<a@b> SIZE=999999999999999999999999", 0, &m), SMTP_ERR_SIZE_TOO_BIG);
	CHECK_EQ_INT(mail("FROM:<a@b> BODY=9BIT", 0, &m), SMTP_ERR_PARAM_NOTIMPL);
	CHECK_EQ_INT(mail("FROM:<a@b> RET=SOME", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> ENVID=a+2", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> ENVID=a+2b", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> ENVID=a+GG", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> ENVID=a=b", 0, &m), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(mail("FROM:<a@b> =x", 0, &m), SMTP_ERR_ARGS);
	CHECK_EQ_INT(mail("FROM:<a@b> -X=1", 0, &m), SMTP_ERR_ARGS);
	char big[200] = "FROM:<a@b> ENVID=";
	memset(big + strlen(big), 'x', SMTP_MAX_ENVID + 1);
	CHECK_EQ_INT(mail(big, 0, &m), SMTP_ERR_PARAM_VALUE);
	big[strlen(big) - 1] = '\0';
	CHECK_EQ_INT(mail(big, 0, &m), SMTP_OK);
	CHECK_EQ_INT(m.envid_len, SMTP_MAX_ENVID);
	char many[400] = "FROM:<a@b>";
	for (int i = 0; i <= SMTP_MAX_PARAMS; i++)
		strcat(many, " X-A=1");
	CHECK_EQ_INT(mail(many, 0, &m), SMTP_ERR_TOO_MANY_PARAMS);
}

TEST(xtext)
{
	char out[16];
	CHECK_EQ_INT(smtp_xtext_decode("abc", 3, out, sizeof out), 3);
	CHECK_EQ_INT(smtp_xtext_decode("+41+2B", 6, out, sizeof out), 2);
	CHECK(memcmp(out, "A+", 2) == 0);
	CHECK_EQ_INT(smtp_xtext_decode("", 0, out, sizeof out), 0);
	CHECK_EQ_INT(smtp_xtext_decode("+4", 2, out, sizeof out), -1);
	CHECK_EQ_INT(smtp_xtext_decode("+", 1, out, sizeof out), -1);
	CHECK_EQ_INT(smtp_xtext_decode("+4a", 3, out, sizeof out), -1);
	CHECK_EQ_INT(smtp_xtext_decode("a b", 3, out, sizeof out), -1);
	CHECK_EQ_INT(smtp_xtext_decode("a=b", 3, out, sizeof out), -1);
	CHECK_EQ_INT(smtp_xtext_decode("abcd", 4, out, 3), -1);
	CHECK_EQ_INT(smtp_xtext_decode("+00", 3, out, sizeof out), 1);
	CHECK_EQ_INT(out[0], 0);
}

/* ---- RCPT ---- */

TEST(rcpt_simple)
{
	struct smtp_rcpt r;
	CHECK_EQ_INT(rcpt("TO:<Bob@Example.com>", 0, &r), SMTP_OK);
	CHECK(tok_is(r.to.addr, r.to.addr_len, "Bob@Example.com"));
	CHECK_EQ_INT(rcpt("to: <bob@example.com>", 0, &r), SMTP_OK);
	CHECK_EQ_INT(rcpt("TO:<>", 0, &r), SMTP_ERR_ADDRESS);
	CHECK_EQ_INT(rcpt("TO:bob@example.com", 0, &r), SMTP_ERR_ARGS);
	CHECK_EQ_INT(rcpt("FROM:<bob@example.com>", 0, &r), SMTP_ERR_ARGS);
	CHECK_EQ_INT(rcpt("TO:<@x,@y:bob@example.com>", 0, &r), SMTP_OK);
	CHECK(tok_is(r.to.addr, r.to.addr_len, "bob@example.com"));
}

TEST(rcpt_postmaster)
{
	struct smtp_rcpt r;
	CHECK_EQ_INT(rcpt("TO:<Postmaster>", 0, &r), SMTP_OK);
	CHECK(r.to.postmaster);
	CHECK_EQ_INT(r.to.domain_len, 0);
	CHECK_EQ_INT(rcpt("TO:<POSTMASTER>", 0, &r), SMTP_OK);
	CHECK_EQ_INT(rcpt("TO:<postmaster@example.com>", 0, &r), SMTP_OK);
	CHECK(!r.to.postmaster);
	CHECK_EQ_INT(rcpt("TO:<webmaster>", 0, &r), SMTP_ERR_ADDRESS);
	struct smtp_mail m;
	CHECK_EQ_INT(mail("FROM:<postmaster>", 0, &m), SMTP_ERR_ADDRESS);
}

TEST(rcpt_utf8)
{
	struct smtp_rcpt r;
	CHECK_EQ_INT(rcpt("TO:<\xe7\x94\xa8\xe6\x88\xb7@example.com>", 0, &r), SMTP_ERR_UTF8_NEEDED);
	CHECK_EQ_INT(rcpt("TO:<\xe7\x94\xa8\xe6\x88\xb7@example.com>", SMTP_PARSE_UTF8, &r), SMTP_OK);
	CHECK(r.to.utf8);
	/* A parameter does not make RCPT UTF-8: only MAIL's SMTPUTF8 does. */
	CHECK_EQ_INT(rcpt("TO:<a@b> SMTPUTF8", 0, &r), SMTP_ERR_PARAM_UNKNOWN);
}

TEST(rcpt_dsn_params)
{
	struct smtp_rcpt r;
	CHECK_EQ_INT(rcpt("TO:<a@b> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;a+40b", 0, &r), SMTP_OK);
	CHECK_EQ_INT(r.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
	CHECK(tok_is(r.orcpt_type, r.orcpt_type_len, "rfc822"));
	CHECK(tok_is(r.orcpt, r.orcpt_len, "a@b"));
	CHECK_EQ_INT(rcpt("TO:<a@b> notify=never", 0, &r), SMTP_OK);
	CHECK_EQ_INT(r.notify, SMTP_NOTIFY_NEVER);
	CHECK_EQ_INT(rcpt("TO:<a@b> NOTIFY=NEVER,DELAY", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> NOTIFY=DELAY,DELAY", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> NOTIFY=SUCCESS,", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> NOTIFY=", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> NOTIFY=SOMETIMES", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> NOTIFY=DELAY NOTIFY=DELAY", 0, &r), SMTP_ERR_PARAM_DUP);
	CHECK_EQ_INT(rcpt("TO:<a@b> ORCPT=rfc822", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> ORCPT=;a@b", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> ORCPT=rfc822;", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> ORCPT=rfc822;a+4", 0, &r), SMTP_ERR_PARAM_VALUE);
	CHECK_EQ_INT(rcpt("TO:<a@b> SIZE=10", 0, &r), SMTP_ERR_PARAM_UNKNOWN);
	CHECK_EQ_INT(rcpt("TO:<a@b> ORCPT=rfc822;x ORCPT=rfc822;y", 0, &r), SMTP_ERR_PARAM_DUP);
}

TEST(rcpt_orcpt_limit)
{
	char line[SMTP_MAX_ORCPT + 64] = "TO:<a@b> ORCPT=rfc822;";
	size_t type_len = strlen("rfc822;");
	memset(line + strlen(line), 'x', SMTP_MAX_ORCPT - type_len);
	struct smtp_rcpt r;
	CHECK_EQ_INT(rcpt(line, 0, &r), SMTP_OK);
	CHECK_EQ_INT(r.orcpt_len, SMTP_MAX_ORCPT - type_len);
	strcat(line, "x");
	CHECK_EQ_INT(rcpt(line, 0, &r), SMTP_ERR_PARAM_VALUE);
}

/* ---- HELO ---- */

TEST(helo_names)
{
	const char *n;
	size_t nl;
	bool valid;
	CHECK_EQ_INT(smtp_parse_helo("mail.example.com", 16, &n, &nl, &valid), SMTP_OK);
	CHECK(valid);
	CHECK_EQ_INT(nl, 16);
	CHECK_EQ_INT(smtp_parse_helo("[192.0.2.1]", 11, &n, &nl, &valid), SMTP_OK);
	CHECK(valid);
	CHECK_EQ_INT(smtp_parse_helo("my_laptop", 9, &n, &nl, &valid), SMTP_OK);
	CHECK(!valid);
	CHECK_EQ_INT(smtp_parse_helo("host extra words", 16, &n, &nl, &valid), SMTP_OK);
	CHECK_EQ_INT(nl, 4);
	CHECK_EQ_INT(smtp_parse_helo("", 0, &n, &nl, &valid), SMTP_ERR_ARGS);
	CHECK_EQ_INT(smtp_parse_helo("a\tb", 3, &n, &nl, &valid), SMTP_ERR_ARGS);
}

/* ---- BDAT ---- */

TEST(bdat_parse)
{
	struct smtp_bdat b;
	CHECK_EQ_INT(smtp_bdat_parse("100", 3, &b), SMTP_OK);
	CHECK_EQ_INT(b.size, 100);
	CHECK(!b.last);
	CHECK_EQ_INT(smtp_bdat_parse("0 LAST", 6, &b), SMTP_OK);
	CHECK(b.last);
	CHECK(smtp_bdat_complete(&b));
	CHECK_EQ_INT(smtp_bdat_parse("5 last", 6, &b), SMTP_OK);
	CHECK(b.last);
	CHECK_EQ_INT(smtp_bdat_parse("", 0, &b), SMTP_ERR_ARGS);
	CHECK_EQ_INT(smtp_bdat_parse("LAST", 4, &b), SMTP_ERR_ARGS);
	CHECK_EQ_INT(smtp_bdat_parse("10 FIRST", 8, &b), SMTP_ERR_ARGS);
	CHECK_EQ_INT(smtp_bdat_parse("10 LAST x", 9, &b), SMTP_ERR_ARGS);
	CHECK_EQ_INT(smtp_bdat_parse("-1", 2, &b), SMTP_ERR_ARGS);
	CHECK_EQ_INT(smtp_bdat_parse("1x", 2, &b), SMTP_ERR_ARGS);
	CHECK_EQ_INT(smtp_bdat_parse("18446744073709551616", 20, &b), SMTP_ERR_SIZE_TOO_BIG);
	CHECK_EQ_INT(smtp_bdat_parse("000000000000000000001", 21, &b), SMTP_ERR_SIZE_TOO_BIG);
}

TEST(bdat_take)
{
	struct smtp_bdat b;
	CHECK_EQ_INT(smtp_bdat_parse("10 LAST", 7, &b), SMTP_OK);
	CHECK_EQ_INT(smtp_bdat_take(&b, 4), 4);
	CHECK_EQ_INT(b.left, 6);
	CHECK_EQ_INT(smtp_bdat_take(&b, 100), 6);
	CHECK(smtp_bdat_complete(&b));
	CHECK_EQ_INT(smtp_bdat_take(&b, 100), 0);
}

/* ---- DATA ---- */

struct data_result {
	struct buf out;
	struct smtp_data d;
	size_t used;
};

static void data_run(const char *in, size_t len, size_t piece, struct data_result *r)
{
	memset(r, 0, sizeof *r);
	smtp_data_init(&r->d);
	size_t off = 0;
	while (off < len && !smtp_data_done(&r->d)) {
		size_t n = len - off < piece ? len - off : piece;
		size_t u = smtp_data_feed(&r->d, in + off, n, &r->out);
		CHECK(u <= n);
		off += u;
		if (u < n)
			break;
	}
	r->used = off;
}

/* Run whole, in 7-byte pieces and byte by byte; all three must agree. */
static void data_case(const char *in, size_t len, const char *want, size_t want_len,
		      bool done, size_t used, struct smtp_data *d_r)
{
	struct data_result r[3];
	size_t pieces[3] = {len ? len : 1, 7, 1};
	for (int k = 0; k < 3; k++) {
		data_run(in, len, pieces[k], &r[k]);
		CHECK_EQ_INT(buf_used(&r[k].out), want_len);
		CHECK(buf_used(&r[k].out) == want_len && (want_len == 0 || memcmp(buf_head(&r[k].out), want, want_len) == 0));
		CHECK_EQ_INT(smtp_data_done(&r[k].d), done);
		CHECK_EQ_INT(r[k].used, used);
		CHECK_EQ_INT(r[k].d.octets, want_len);
		CHECK(memcmp(&r[k].d, &r[0].d, sizeof r[0].d) == 0);
	}
	*d_r = r[0].d;
	for (int k = 0; k < 3; k++)
		buf_free(&r[k].out);
}

#define DATA_CASE(in, want, done, used, d) \
	data_case(in, sizeof(in) - 1, want, sizeof(want) - 1, done, used, d)

TEST(data_plain)
{
	struct smtp_data d;
	DATA_CASE("Subject: hi\r\n\r\nbody\r\n.\r\n", "Subject: hi\r\n\r\nbody\r\n", true, 24, &d);
	CHECK_EQ_INT(d.bare_lf + d.bare_cr + d.nul + d.long_lines, 0);
	CHECK_EQ_INT(d.longest, 11);
}

TEST(data_empty_message)
{
	struct smtp_data d;
	/* The "." line may be the very first line. */
	DATA_CASE(".\r\n", "", true, 3, &d);
	DATA_CASE(".\r\nQUIT\r\n", "", true, 3, &d);
}

TEST(data_pipelined_rest_not_taken)
{
	struct smtp_data d;
	DATA_CASE("a\r\n.\r\nMAIL FROM:<>\r\n", "a\r\n", true, 6, &d);
}

TEST(data_unstuffing)
{
	struct smtp_data d;
	DATA_CASE("..\r\n..x\r\n.y\r\n...\r\n.\r\n", ".\r\n.x\r\ny\r\n..\r\n", true, 21, &d);
	DATA_CASE("a.\r\n. \r\n.\r\n", "a.\r\n \r\n", true, 11, &d);
}

TEST(data_not_finished)
{
	struct smtp_data d;
	DATA_CASE("abc\r\n.", "abc\r\n", false, 6, &d);
	DATA_CASE("abc\r\n.\r", "abc\r\n", false, 7, &d);
	DATA_CASE("abc\r", "abc", false, 4, &d);
	DATA_CASE("", "", false, 0, &d);
}

TEST(data_bare_lf)
{
	struct smtp_data d;
	DATA_CASE("a\nb\r\n.\r\n", "a\r\nb\r\n", true, 8, &d);
	CHECK_EQ_INT(d.bare_lf, 1);
	/* A bare LF does not start a line that can end the data or be
	 * unstuffed: "\n.\r\n" is content, never the end (SMTP smuggling). */
	DATA_CASE("a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true, 11, &d);
	CHECK_EQ_INT(d.bare_lf, 1);
	/* Nor does ".\n" end it. */
	DATA_CASE("a\r\n.\nb\r\n.\r\n", "a\r\n\r\nb\r\n", true, 11, &d);
	CHECK_EQ_INT(d.bare_lf, 1);
	DATA_CASE("x\n.\n", "x\r\n.\r\n", false, 4, &d);
	CHECK_EQ_INT(d.bare_lf, 2);
}

TEST(data_bare_cr)
{
	struct smtp_data d;
	DATA_CASE("a\rb\r\n.\r\n", "a\r\nb\r\n", true, 8, &d);
	CHECK_EQ_INT(d.bare_cr, 1);
	DATA_CASE("a\r\r\n.\r\n", "a\r\n\r\n", true, 7, &d);
	CHECK_EQ_INT(d.bare_cr, 1);
	/* "\r.\r\n" after a bare CR is content too. */
	DATA_CASE("a\r.\r\n.\r\n", "a\r\n.\r\n", true, 8, &d);
	CHECK_EQ_INT(d.bare_cr, 1);
	/* ".\r" then something else: the dot was stuffing, then a bare CR. */
	DATA_CASE(".\rx\r\n.\r\n", "\r\nx\r\n", true, 8, &d);
	CHECK_EQ_INT(d.bare_cr, 1);
	DATA_CASE(".\r\r\n.\r\n", "\r\n\r\n", true, 7, &d);
	CHECK_EQ_INT(d.bare_cr, 1);
}

TEST(data_nul)
{
	struct smtp_data d;
	DATA_CASE("a\0b\r\n\0\r\n.\r\n", "a\0b\r\n\0\r\n", true, 11, &d);
	CHECK_EQ_INT(d.nul, 2);
}

TEST(data_long_lines)
{
	size_t n = 3000;
	char *in = xmalloc(n + 16), *want = xmalloc(n + 16);
	memset(in, 'x', n);
	/* Lines of 998, 999 and 1001 octets. */
	memcpy(in + 998, "\r\n", 2);
	memcpy(in + 998 + 2 + 999, "\r\n", 2);
	size_t l3 = 998 + 2 + 999 + 2;
	memcpy(in + l3 + 1001, "\r\n.\r\n", 5);
	size_t len = l3 + 1001 + 5;
	memcpy(want, in, len - 3);
	struct smtp_data d;
	data_case(in, len, want, len - 3, true, len, &d);
	CHECK_EQ_INT(d.longest, 1001);
	CHECK_EQ_INT(d.long_lines, 2);
	free(in);
	free(want);
}

TEST(data_after_done_takes_nothing)
{
	struct smtp_data d;
	struct buf out = {0};
	smtp_data_init(&d);
	CHECK_EQ_INT(smtp_data_feed(&d, ".\r\n", 3, &out), 3);
	CHECK(smtp_data_done(&d));
	CHECK_EQ_INT(smtp_data_feed(&d, "more", 4, &out), 0);
	CHECK_EQ_INT(buf_used(&out), 0);
	buf_free(&out);
}

TEST(data_large_in_pieces)
{
	/* A 1 MB message never needs more than the piece it is fed. */
	struct smtp_data d;
	struct buf out = {0};
	smtp_data_init(&d);
	const char *line = "The quick brown fox\r\n..stuffed\r\n";
	uint64_t total = 0;
	for (int i = 0; i < 30000; i++) {
		CHECK_EQ_INT(smtp_data_feed(&d, line, strlen(line), &out), strlen(line));
		total += buf_used(&out);
		buf_clear(&out);
	}
	CHECK_EQ_INT(smtp_data_feed(&d, ".\r\n", 3, &out), 3);
	CHECK(smtp_data_done(&d));
	CHECK_EQ_INT(total, 30000u * (strlen(line) - 1));
	CHECK_EQ_INT(d.octets, total);
	buf_free(&out);
}
