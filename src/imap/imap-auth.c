/* IMAP commands of any state and of logging in: CAPABILITY, NOOP, LOGOUT,
 * STARTTLS, LOGIN, AUTHENTICATE (PLAIN and LOGIN, with SASL-IR, RFC 4959),
 * ENABLE (RFC 5161) and ID (RFC 2971). Plaintext passwords are taken only
 * where conn_plaintext_ok() says so (TLS, loopback, or configured); failed
 * logins are throttled per address and per account like POP3's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/log.h"
#include "core/util.h"
#include "core/version.h"
#include "imap/imap-session.h"
#include "net/server.h"

#define ID_MAX_PAIRS 30 /* RFC 2971 */
#define SASL_MAX_LINE 4096

enum { SASL_NONE, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS };

void imap_capabilities(struct imap_session *s, struct buf *out)
{
	struct conn *c = s->c;
	buf_appends(out, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE");
	if (s->state == IS_NOTAUTH) {
		if (conn_can_starttls(c))
			buf_appends(out, " STARTTLS");
		buf_appends(out, conn_plaintext_ok(c) ? " AUTH=PLAIN AUTH=LOGIN" : " LOGINDISABLED");
		return;
	}
	buf_printf(out, " UIDPLUS MOVE NAMESPACE UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE CONDSTORE QRESYNC"
			" STATUS=SIZE APPENDLIMIT=%llu BINARY UTF8=ACCEPT LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES",
		   (unsigned long long)IMAP_APPENDLIMIT);
}

enum run_result imap_cmd_capability(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "CAPABILITY takes no arguments");
	struct buf *out = conn_outbuf(s->c);
	buf_appends(out, "* CAPABILITY ");
	imap_capabilities(s, out);
	buf_appends(out, "\r\n");
	return imap_ok(s, "Capability completed");
}

enum run_result imap_cmd_noop(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "NOOP takes no arguments");
	return imap_ok(s, "NOOP completed");
}

enum run_result imap_cmd_logout(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "LOGOUT takes no arguments");
	conn_writes(s->c, "* BYE Logging out\r\n");
	if (s->user)
		log_info("sid=%s event=logout proto=imap user=%s reason=logout", s->sid, s->user);
	imap_view_close(s);
	s->state = IS_LOGOUT;
	imap_ok(s, "Logout completed");
	return RUN_CLOSE;
}

enum run_result imap_cmd_starttls(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "STARTTLS takes no arguments");
	if (!conn_can_starttls(s->c))
		return imap_bad(s, conn_is_tls(s->c) ? "TLS is already active" : "TLS is not available");
	imap_ok(s, "Begin TLS negotiation now");
	return RUN_STARTTLS;
}

/* Check the credentials, answer, log one line. */
static enum run_result login(struct imap_session *s, const char *mech, const char *user, const char *password)
{
	struct server *srv = conn_server(s->c);
	const char *ip = conn_peer_ip(s->c);
	char safe_user[AUTH_MAX_USERNAME + 1];
	imap_log_safe(user, safe_user, sizeof safe_user);
	if (strlen(user) > AUTH_MAX_USERNAME || strlen(password) > AUTH_MAX_PASSWORD) {
		log_info("sid=%s event=login proto=imap user=%s mech=%s result=fail reason=too-long", s->sid, safe_user,
			 mech);
		return imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed");
	}
	if (srv->throttle != NULL) {
		int ms = auth_throttle_delay_ms(srv->throttle, ip, user);
		if (ms > 0)
			conn_delay(s->c, ms);
	}
	struct store_account acct = {0};
	enum auth_result r = auth_login(s->store, user, password, &acct);
	if (r != AUTH_TEMPFAIL && srv->throttle != NULL)
		auth_throttle_record(srv->throttle, ip, user, r == AUTH_OK);
	if (r == AUTH_TEMPFAIL) {
		log_warn("sid=%s event=login proto=imap user=%s mech=%s result=fail reason=tempfail error=\"%s\"", s->sid,
			 safe_user, mech, store_last_error());
		return imap_no(s, "[UNAVAILABLE] Authentication is temporarily unavailable, try again later");
	}
	if (r == AUTH_FAILED) {
		log_info("sid=%s event=login proto=imap user=%s mech=%s result=fail", s->sid, safe_user, mech);
		return imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed");
	}
	s->state = IS_AUTH;
	imap_parser_set_max_literal(s->parser, IMAP_APPENDLIMIT);
	s->account_id = acct.id;
	s->user = xstrdup(safe_user);
	store_account_clear(&acct);
	log_info("sid=%s event=login proto=imap user=%s mech=%s result=ok tls=%s", s->sid, s->user, mech,
		 conn_is_tls(s->c) ? "yes" : "no");
	struct buf caps = {0};
	imap_capabilities(s, &caps);
	buf_append(&caps, "", 1);
	enum run_result res = imap_ok(s, "[CAPABILITY %s] Logged in", buf_head(&caps));
	buf_free(&caps);
	return res;
}

enum run_result imap_cmd_login(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 2)
		return imap_bad(s, "LOGIN needs a user name and a password");
	const char *user = imap_arg_string(&cmd->args[0]);
	const char *pass = imap_arg_string(&cmd->args[1]);
	if (user == NULL || pass == NULL || strlen(user) != cmd->args[0].len || strlen(pass) != cmd->args[1].len)
		return imap_bad(s, "LOGIN needs a user name and a password");
	if (!conn_plaintext_ok(s->c))
		return imap_no(s, "[PRIVACYREQUIRED] Plaintext login is not allowed without TLS (use STARTTLS)");
	return login(s, "LOGIN", user, pass);
}

static void sasl_reset(struct imap_session *s)
{
	s->sasl = SASL_NONE;
	s->mode = FM_COMMAND;
	free(s->sasl_user);
	s->sasl_user = NULL;
}

/* Decode a SASL response; "=" is the empty response. Returns the length or -1. */
static long sasl_decode(const char *b64, size_t len, unsigned char *out, size_t cap)
{
	if (len == 1 && b64[0] == '=')
		return 0;
	return base64_decode(b64, len, out, cap);
}

/* One client response of the exchange in step `step`. */
static enum run_result sasl_step(struct imap_session *s, int step, const char *b64, size_t len)
{
	unsigned char dec[SASL_MAX_LINE];
	long n = len > SASL_MAX_LINE ? -1 : sasl_decode(b64, len, dec, sizeof dec - 1);
	if (n < 0) {
		sasl_reset(s);
		return imap_bad(s, "Invalid base64 in the SASL response");
	}
	dec[n] = '\0';
	if (step == SASL_PLAIN) {
		char *storage = NULL;
		const char *authcid, *passwd;
		sasl_reset(s);
		if (auth_sasl_plain_parse(dec, (size_t)n, &storage, &authcid, &passwd) < 0)
			return imap_no(s, "[AUTHENTICATIONFAILED] Malformed PLAIN response");
		enum run_result r = login(s, "PLAIN", authcid, passwd);
		free(storage);
		return r;
	}
	if (step == SASL_LOGIN_USER) {
		if (memchr(dec, '\0', (size_t)n) != NULL) {
			sasl_reset(s);
			return imap_no(s, "[AUTHENTICATIONFAILED] Malformed user name");
		}
		free(s->sasl_user);
		s->sasl_user = xstrndup((const char *)dec, (size_t)n);
		s->sasl = SASL_LOGIN_PASS;
		imap_wait_lines(s);
		conn_writes(s->c, "+ UGFzc3dvcmQ6\r\n"); /* "Password:" */
		return RUN_DONE;
	}
	/* SASL_LOGIN_PASS */
	char *user = s->sasl_user;
	s->sasl_user = NULL;
	sasl_reset(s);
	if (memchr(dec, '\0', (size_t)n) != NULL) {
		free(user);
		return imap_no(s, "[AUTHENTICATIONFAILED] Malformed password");
	}
	enum run_result r = login(s, "LOGIN", user, (const char *)dec);
	free(user);
	return r;
}

enum run_result imap_cmd_authenticate(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args < 1 || cmd->n_args > 2 || cmd->args[0].type != IMAP_ARG_ATOM)
		return imap_bad(s, "AUTHENTICATE needs a mechanism");
	const char *mech = cmd->args[0].str;
	int step;
	if (str_ieq(mech, "PLAIN"))
		step = SASL_PLAIN;
	else if (str_ieq(mech, "LOGIN"))
		step = SASL_LOGIN_USER;
	else
		return imap_no(s, "Unsupported authentication mechanism");
	if (!conn_plaintext_ok(s->c))
		return imap_no(s, "[PRIVACYREQUIRED] Plaintext authentication is not allowed without TLS (use STARTTLS)");
	if (cmd->n_args == 2) {
		if (cmd->args[1].type != IMAP_ARG_ATOM)
			return imap_bad(s, "Invalid initial response");
		return sasl_step(s, step, cmd->args[1].str, cmd->args[1].len);
	}
	s->sasl = step;
	imap_wait_lines(s);
	conn_writes(s->c, step == SASL_PLAIN ? "+ \r\n" : "+ VXNlcm5hbWU6\r\n"); /* "Username:" */
	return RUN_DONE;
}

enum run_result imap_auth_continue(struct imap_session *s, const char *line, size_t len)
{
	s->tag = s->line_tag;
	if (line == NULL) {
		sasl_reset(s);
		return imap_bad(s, "SASL response too long");
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 1 && line[0] == '*') {
		sasl_reset(s);
		return imap_bad(s, "Authentication canceled");
	}
	return sasl_step(s, s->sasl, line, len);
}

enum run_result imap_cmd_enable(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args == 0)
		return imap_bad(s, "ENABLE needs capability names");
	char line[256] = "* ENABLED";
	for (size_t i = 0; i < cmd->n_args; i++) {
		if (cmd->args[i].type != IMAP_ARG_ATOM)
			return imap_bad(s, "ENABLE takes capability names");
		const char *cap = cmd->args[i].str;
		bool *flag = NULL;
		if (str_ieq(cap, "CONDSTORE"))
			flag = &s->condstore;
		else if (str_ieq(cap, "QRESYNC"))
			flag = &s->qresync;
		else if (str_ieq(cap, "IMAP4rev2"))
			flag = &s->rev2;
		else if (str_ieq(cap, "UTF8=ACCEPT"))
			flag = &s->utf8;
		if (flag == NULL || *flag)
			continue; /* unknown or already enabled: not listed (RFC 5161) */
		*flag = true;
		if (flag == &s->qresync)
			s->condstore = true;
		if (flag == &s->rev2)
			s->utf8 = true;
		if (strlen(line) + strlen(cap) + 2 < sizeof line) {
			strcat(line, " ");
			strcat(line, cap);
		}
	}
	conn_printf(s->c, "%s\r\n", line);
	return imap_ok(s, "Enabled");
}

enum run_result imap_cmd_id(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 1)
		return imap_bad(s, "ID needs NIL or a parameter list");
	const struct imap_arg *a = &cmd->args[0];
	if (a->type == IMAP_ARG_LIST) {
		if (a->list_count % 2 != 0 || a->list_count / 2 > ID_MAX_PAIRS)
			return imap_bad(s, "ID parameters must be at most 30 field/value pairs");
		for (size_t i = 0; i < a->list_count; i++) {
			const struct imap_arg *f = &a->list[i];
			bool nil_ok = i % 2 == 1;
			if (!(f->type == IMAP_ARG_QUOTED || f->type == IMAP_ARG_LITERAL || (nil_ok && f->type == IMAP_ARG_NIL)))
				return imap_bad(s, "ID fields and values are strings");
		}
	} else if (a->type != IMAP_ARG_NIL) {
		return imap_bad(s, "ID needs NIL or a parameter list");
	}
	conn_printf(s->c, "* ID (\"name\" \"Roost\" \"version\" \"%s\")\r\n", ROOST_VERSION);
	return imap_ok(s, "ID completed");
}
