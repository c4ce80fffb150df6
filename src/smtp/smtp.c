/* The SMTP, submission and LMTP session (RFC 5321, 6409, 8314, 2033) with
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING,
 * BINARYMIME, DSN, STARTTLS and AUTH PLAIN/LOGIN.
 *
 * Message text never passes through run() as lines: after "354" (DATA) or a
 * BDAT command, frame() takes the bytes into the session as they arrive
 * (dot-unstuffed by smtp-data.c, or counted off a BDAT chunk), behind the
 * Received: header written when the message started, and run() gets the
 * finished message once. So a message is held once, a slow sender holds no
 * worker, and nothing is stored before the whole message is here: a client
 * that vanishes mid-DATA leaves nothing behind. A message is on disk (one
 * store_deliver for all local recipients, group commit) before 250 is sent. */
#include "smtp/smtp.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "mime/mime.h"
#include "net/server.h"
#include "smtp/dkim.h"
#include "smtp/queue.h"
#include "smtp/smtp-data.h"
#include "smtp/smtp-local.h"
#include "smtp/smtp-parse.h"
#include "store/store.h"

/* A reply line we send (RFC 5321 4.5.3.1.5 allows 512 with CRLF; ours
 * quote at most one path of SMTP_MAX_PATH). */
#define SMTP_MAX_REPLY 512

enum smtp_mode { MODE_SMTP, MODE_SUBMISSION, MODE_LMTP };
enum frame_mode { FM_LINE, FM_DATA, FM_BDAT };
enum sasl_step { SASL_NONE, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS };

struct rcpt {
	char *addr;
	unsigned notify;
	char *orcpt; /* "type;address" as decoded, or NULL */
	bool remote; /* goes to the outbound queue */
	struct local_target *t;
	size_t nt;
	const char *refused; /* LMTP: this recipient's reply after the message, when not 250 */
};

struct smtp_session {
	enum smtp_mode mode;
	struct conn *c;
	char *sid;
	uint64_t max_size;       /* smtp.max_message_size */
	int64_t data_timeout_ms; /* smtp.data_timeout */
	unsigned errors;    /* refused commands so far */
	unsigned junk;      /* NOOP/RSET/VRFY/HELP/HELO since the last message */
	char *helo;         /* NULL until HELO/EHLO/LHLO */
	bool ehlo;          /* extensions may be used */

	/* AUTH */
	enum sasl_step sasl;
	char *sasl_user;
	int64_t account_id; /* 0 until logged in */
	char *account;

	/* The transaction: MAIL, RCPTs, and the message. */
	bool mail;
	char *sender;       /* "" for the null path */
	uint64_t size;      /* SIZE= declared */
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char *envid;
	struct rcpt *rcpts;
	size_t n_rcpts;

	enum frame_mode fm;
	bool pending;       /* frame() finished a message or chunk; run() has not seen it */
	struct smtp_data data;
	struct smtp_bdat bdat;
	bool bdat_active;   /* a BDAT sequence has started (DATA is no longer allowed) */
	bool bdat_store;    /* this chunk is kept (the transaction can take it) */
	bool bdat_failed;   /* a chunk was refused: the rest are discarded until LAST or RSET */
	struct buf msg;     /* Received: header + message */
	size_t msg_header;  /* bytes of msg before the client's message */
	uint64_t octets;    /* the client's message octets so far */
	bool too_big;
	bool too_slow;      /* the message took longer than data_timeout_ms */
	int64_t started_ms; /* when the message text started (monotonic) */
	struct buf scratch; /* unstuffed text of a message being discarded */
};

static const char *mode_name(enum smtp_mode m)
{
	return m == MODE_LMTP ? "lmtp" : m == MODE_SUBMISSION ? "submission" : "smtp";
}

/* ---- The transaction ---- */

static void rcpts_free(struct smtp_session *s)
{
	for (size_t i = 0; i < s->n_rcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
		local_targets_free(s->rcpts[i].t, s->rcpts[i].nt);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->n_rcpts = 0;
}

static void message_reset(struct smtp_session *s)
{
	buf_free(&s->msg);
	buf_free(&s->scratch);
	s->msg_header = 0;
	s->octets = 0;
	s->too_big = s->too_slow = false;
	s->started_ms = time_mono_ms();
	smtp_data_init(&s->data);
	s->fm = FM_LINE;
	s->pending = false;
	s->bdat_active = s->bdat_store = s->bdat_failed = false;
}

static void transaction_reset(struct smtp_session *s)
{
	s->mail = false;
	free(s->sender);
	s->sender = NULL;
	free(s->envid);
	s->envid = NULL;
	s->size = 0;
	s->body = SMTP_BODY_NONE;
	s->smtputf8 = false;
	s->ret = SMTP_RET_NONE;
	rcpts_free(s);
	message_reset(s);
}

/* RFC 3848/6531 "with" keyword of the Received: header. */
static const char *with_protocol(const struct smtp_session *s)
{
	static const char *const names[2][2][2][2] = {
		/* [lmtp][utf8][tls][auth] */
		{{{"ESMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}}, {{"UTF8SMTP", "UTF8SMTPA"}, {"UTF8SMTPS", "UTF8SMTPSA"}}},
		{{{"LMTP", "LMTPA"}, {"LMTPS", "LMTPSA"}}, {{"UTF8LMTP", "UTF8LMTPA"}, {"UTF8LMTPS", "UTF8LMTPSA"}}},
	};
	if (!s->ehlo)
		return "SMTP";
	return names[s->mode == MODE_LMTP][s->smtputf8][conn_is_tls(s->c)][s->account_id != 0];
}

/* The Received: trace header (RFC 5321 4.4), first in the stored message. */
static void add_received(struct smtp_session *s)
{
	struct server *srv = conn_server(s->c);
	char date[64];
	time_t now = (time_t)time_now();
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm);
	char *helo = log_safe_dup(s->helo ? s->helo : "unknown", strlen(s->helo ? s->helo : "unknown"));
	buf_printf(&s->msg, "Received: from %s ([%s])\r\n\tby %s (Roost) with %s id %s", helo, conn_peer_ip(s->c),
		   srv->hostname, with_protocol(s), s->sid);
	if (s->n_rcpts == 1 && strlen(s->rcpts[0].addr) < 200 && strpbrk(s->rcpts[0].addr, "\r\n") == NULL)
		buf_printf(&s->msg, "\r\n\tfor <%s>", s->rcpts[0].addr);
	buf_printf(&s->msg, ";\r\n\t%s\r\n", date);
	s->msg_header = buf_used(&s->msg);
	free(helo);
}

/* ---- Replies ---- */

/* A refused command: counted, and past smtp.max_errors the session ends. */
static enum run_result refuse(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static enum run_result refuse(struct smtp_session *s, const char *fmt, ...)
{
	char line[SMTP_MAX_REPLY];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	conn_printf(s->c, "%s\r\n", line);
	if (++s->errors >= (unsigned)config_int(conn_server(s->c)->cfg, "smtp.max_errors")) {
		log_info("sid=%s event=disconnect proto=%s reason=too_many_errors", s->sid, mode_name(s->mode));
		conn_writes(s->c, "421 4.7.0 Too many errors, closing the connection\r\n");
		return RUN_CLOSE;
	}
	return RUN_DONE;
}

/* NOOP, RSET, VRFY, HELP, HELO: fine, but not forever without a message. */
static bool junk_over(struct smtp_session *s)
{
	if (++s->junk <= (unsigned)config_int(conn_server(s->c)->cfg, "smtp.max_junk_commands"))
		return false;
	log_info("sid=%s event=disconnect proto=%s reason=too_many_commands", s->sid, mode_name(s->mode));
	conn_writes(s->c, "421 4.7.0 Too many commands without mail, closing the connection\r\n");
	return true;
}

/* ---- HELO / EHLO / LHLO ---- */

static bool offer_auth(const struct smtp_session *s)
{
	return s->mode == MODE_SUBMISSION && s->account_id == 0 && conn_plaintext_ok(s->c);
}

static enum run_result cmd_hello(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	bool lmtp = s->mode == MODE_LMTP;
	if (lmtp != (cmd->verb == SMTP_VERB_LHLO))
		return refuse(s, lmtp ? "500 5.5.1 This is LMTP: use LHLO" : "500 5.5.1 Unknown command");
	const char *name;
	size_t name_len;
	bool valid;
	enum smtp_err e = smtp_parse_helo(cmd->args, cmd->args_len, &name, &name_len, &valid);
	if (e != SMTP_OK)
		return refuse(s, "%s", smtp_err_reply(e));
	if (junk_over(s))
		return RUN_CLOSE;
	transaction_reset(s);
	free(s->helo);
	s->helo = xstrndup(name, name_len);
	s->ehlo = cmd->verb != SMTP_VERB_HELO;
	struct server *srv = conn_server(s->c);
	if (!s->ehlo) {
		conn_printf(s->c, "250 %s\r\n", srv->hostname);
		return RUN_DONE;
	}
	struct buf *out = conn_outbuf(s->c);
	buf_printf(out, "250-%s\r\n", srv->hostname);
	buf_appends(out, "250-PIPELINING\r\n");
	buf_printf(out, "250-SIZE %" PRIu64 "\r\n", s->max_size);
	buf_appends(out, "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n"
			 "250-DSN\r\n");
	if (conn_can_starttls(s->c))
		buf_appends(out, "250-STARTTLS\r\n");
	if (offer_auth(s))
		buf_appends(out, "250-AUTH PLAIN LOGIN\r\n");
	buf_appends(out, "250 HELP\r\n");
	return RUN_DONE;
}

/* ---- AUTH (submission only) ---- */

static void sasl_reset(struct smtp_session *s)
{
	s->sasl = SASL_NONE;
	free(s->sasl_user);
	s->sasl_user = NULL;
}

static bool text_ok(const char *p, size_t len, size_t max)
{
	if (len == 0 || len > max || !utf8_valid(p, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

static enum run_result login(struct smtp_session *s, const char *mech, const char *user, const char *password)
{
	struct server *srv = conn_server(s->c);
	const char *ip = conn_peer_ip(s->c);
	if (!text_ok(user, strlen(user), AUTH_MAX_USERNAME) || strlen(password) > AUTH_MAX_PASSWORD)
		return refuse(s, "535 5.7.8 Authentication credentials invalid");
	if (srv->throttle != NULL) {
		int ms = auth_throttle_delay_ms(srv->throttle, ip, user);
		if (ms > 0)
			conn_delay(s->c, ms);
	}
	struct store_account acct = {0};
	enum auth_result r = auth_login(srv->store, user, password, &acct);
	if (r != AUTH_TEMPFAIL && srv->throttle != NULL)
		auth_throttle_record(srv->throttle, ip, user, r == AUTH_OK);
	char *safe = log_safe_dup(user, strlen(user));
	enum run_result res = RUN_DONE;
	if (r == AUTH_OK) {
		s->account_id = acct.id;
		s->account = acct.name;
		acct.name = NULL;
		log_info("sid=%s event=login proto=%s user=%s mech=%s result=ok", s->sid, mode_name(s->mode), safe, mech);
		conn_writes(s->c, "235 2.7.0 Authentication successful\r\n");
	} else if (r == AUTH_TEMPFAIL) {
		log_warn("sid=%s event=login proto=%s user=%s mech=%s result=fail reason=tempfail error=\"%s\"", s->sid,
			 mode_name(s->mode), safe, mech, store_last_error());
		conn_writes(s->c, "454 4.7.0 Temporary authentication failure\r\n");
	} else {
		log_info("sid=%s event=login proto=%s user=%s mech=%s result=fail", s->sid, mode_name(s->mode), safe, mech);
		res = refuse(s, "535 5.7.8 Authentication credentials invalid");
	}
	store_account_clear(&acct);
	free(safe);
	return res;
}

static enum run_result sasl_response(struct smtp_session *s, enum sasl_step step, const char *b64, size_t len)
{
	s->sasl = SASL_NONE;
	if (len == 1 && b64[0] == '=')
		len = 0; /* RFC 4954: "=" is an empty initial response */
	size_t cap = len / 4 * 3 + 1;
	unsigned char *dec = xmalloc(cap);
	long n = base64_decode(b64, len, dec, cap);
	enum run_result r = RUN_DONE;
	if (n < 0) {
		sasl_reset(s);
		r = refuse(s, "501 5.5.2 Invalid base64 data");
		goto out;
	}
	switch (step) {
	case SASL_PLAIN: {
		char *storage = NULL;
		const char *authcid, *passwd;
		if (auth_sasl_plain_parse(dec, (size_t)n, &storage, &authcid, &passwd) < 0)
			r = refuse(s, "501 5.5.2 Malformed PLAIN response");
		else
			r = login(s, "PLAIN", authcid, passwd);
		auth_secret_free(storage, (size_t)n);
		break;
	}
	case SASL_LOGIN_USER:
		if (memchr(dec, '\0', (size_t)n) != NULL || !text_ok((const char *)dec, (size_t)n, AUTH_MAX_USERNAME)) {
			r = refuse(s, "501 5.5.2 Invalid user name");
			break;
		}
		s->sasl_user = xstrndup((const char *)dec, (size_t)n);
		s->sasl = SASL_LOGIN_PASS;
		conn_writes(s->c, "334 UGFzc3dvcmQ6\r\n"); /* "Password:" */
		break;
	case SASL_LOGIN_PASS: {
		char *user = s->sasl_user;
		s->sasl_user = NULL;
		if (memchr(dec, '\0', (size_t)n) != NULL) {
			r = refuse(s, "535 5.7.8 Authentication credentials invalid");
		} else {
			char *pass = xstrndup((const char *)dec, (size_t)n);
			r = login(s, "LOGIN", user, pass);
			auth_secret_free(pass, (size_t)n);
		}
		free(user);
		break;
	}
	case SASL_NONE:
		break;
	}
out:
	explicit_bzero(dec, cap);
	free(dec);
	return r;
}

static enum run_result cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->mode != MODE_SUBMISSION)
		return refuse(s, "502 5.5.1 AUTH is offered on the submission ports only");
	if (s->helo == NULL || !s->ehlo)
		return refuse(s, "503 5.5.1 Send EHLO first");
	if (s->account_id != 0)
		return refuse(s, "503 5.5.1 Already authenticated");
	if (s->mail)
		return refuse(s, "503 5.5.1 AUTH is not allowed during a mail transaction");
	if (!conn_plaintext_ok(s->c))
		return refuse(s, "538 5.7.11 Encryption required: issue STARTTLS first");
	const char *sp = memchr(cmd->args, ' ', cmd->args_len);
	size_t mlen = sp ? (size_t)(sp - cmd->args) : cmd->args_len;
	enum sasl_step step;
	if (mem_ieq(cmd->args, mlen, "PLAIN"))
		step = SASL_PLAIN;
	else if (mem_ieq(cmd->args, mlen, "LOGIN"))
		step = SASL_LOGIN_USER;
	else
		return refuse(s, "504 5.5.4 Unrecognized authentication type");
	if (sp != NULL) {
		const char *ir = sp + 1;
		size_t irlen = cmd->args_len - mlen - 1;
		if (irlen == 0 || memchr(ir, ' ', irlen) != NULL)
			return refuse(s, "501 5.5.4 Syntax: AUTH mechanism [initial-response]");
		return sasl_response(s, step, ir, irlen);
	}
	s->sasl = step;
	conn_writes(s->c, step == SASL_PLAIN ? "334 \r\n" : "334 VXNlcm5hbWU6\r\n"); /* "Username:" */
	return RUN_DONE;
}

static enum run_result sasl_continue(struct smtp_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		sasl_reset(s);
		return refuse(s, "501 5.0.0 Authentication cancelled");
	}
	return sasl_response(s, s->sasl, line, len);
}

/* ---- MAIL / RCPT ---- */

static enum run_result cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->helo == NULL)
		return refuse(s, "503 5.5.1 Send %s first", s->mode == MODE_LMTP ? "LHLO" : "EHLO/HELO");
	if (s->mode == MODE_SUBMISSION && s->account_id == 0)
		return refuse(s, "530 5.7.0 Authentication required");
	if (s->mail)
		return refuse(s, "503 5.5.1 Nested MAIL command");
	struct smtp_mail m;
	enum smtp_err e = smtp_parse_mail(cmd->args, cmd->args_len, 0, &m);
	if (e != SMTP_OK)
		return refuse(s, "%s", smtp_err_reply(e));
	if (!s->ehlo && m.params_seen != 0)
		return refuse(s, "555 5.5.4 Parameters need EHLO");
	if ((m.params_seen & SMTP_P_SIZE) && m.size > s->max_size)
		return refuse(s, "552 5.3.4 Message size exceeds fixed maximum message size (%" PRIu64 ")", s->max_size);
	char *sender = m.from.null ? xstrdup("") : xstrndup(m.from.addr, m.from.addr_len);
	if (s->mode == MODE_SUBMISSION && !local_may_send_as(conn_server(s->c), s->account_id, sender)) {
		char *safe = log_safe_dup(sender, strlen(sender));
		log_info("sid=%s event=mail proto=%s user=%s from=%s result=refused reason=not_own_address", s->sid,
			 mode_name(s->mode), s->account, safe);
		free(safe);
		free(sender);
		return refuse(s, "553 5.7.1 Sender address not owned by the authenticated user");
	}
	s->mail = true;
	s->sender = sender;
	s->size = m.size;
	s->body = m.body;
	s->smtputf8 = m.smtputf8;
	s->ret = m.ret;
	s->envid = (m.params_seen & SMTP_P_ENVID) ? xstrndup(m.envid, m.envid_len) : NULL;
	conn_writes(s->c, "250 2.1.0 Sender ok\r\n");
	return RUN_DONE;
}

/* Drop the targets whose account cannot take `extra` more octets. Returns
 * QUOTA_OVER when none is left, QUOTA_TEMPFAIL when the store failed. */
static enum local_quota quota_filter(struct server *srv, struct local_target *t, size_t *nt, uint64_t extra)
{
	size_t kept = 0;
	for (size_t i = 0; i < *nt; i++) {
		enum local_quota q = local_quota_check(srv, &t[i], extra);
		if (q == QUOTA_TEMPFAIL)
			return q;
		if (q == QUOTA_OVER) {
			free(t[i].account);
			continue;
		}
		t[kept++] = t[i];
	}
	bool none = kept == 0 && *nt > 0;
	*nt = kept;
	return none ? QUOTA_OVER : QUOTA_OK;
}

static enum run_result cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (!s->mail)
		return refuse(s, "503 5.5.1 Need MAIL before RCPT");
	if (s->bdat_active)
		return refuse(s, "503 5.5.1 RCPT is not allowed after BDAT");
	struct smtp_rcpt r;
	enum smtp_err e = smtp_parse_rcpt(cmd->args, cmd->args_len, s->smtputf8 ? SMTP_PARSE_UTF8 : 0, &r);
	if (e != SMTP_OK)
		return refuse(s, "%s", smtp_err_reply(e));
	struct server *srv = conn_server(s->c);
	if (s->n_rcpts >= (size_t)config_int(srv->cfg, "smtp.max_recipients")) {
		conn_writes(s->c, "452 4.5.3 Too many recipients\r\n");
		return RUN_DONE;
	}
	/* RCPT TO:<Postmaster> without a domain is the postmaster of this host. */
	char *addr = r.to.postmaster ? xasprintf("postmaster@%s", srv->hostname) : xstrndup(r.to.addr, r.to.addr_len);
	struct local_target *t = NULL;
	size_t nt = 0;
	enum local_result lr = local_resolve(srv, addr, s->mode == MODE_LMTP, &t, &nt);
	bool remote = false;
	enum run_result res = RUN_DONE;
	switch (lr) {
	case LOCAL_OK:
		switch (quota_filter(srv, t, &nt, s->size)) {
		case QUOTA_OK:
			break;
		case QUOTA_OVER:
			conn_printf(s->c, "452 4.2.2 <%s>: Mailbox full\r\n", addr);
			goto fail;
		case QUOTA_TEMPFAIL:
			conn_writes(s->c, "451 4.3.0 Temporary lookup failure, try again later\r\n");
			goto fail;
		}
		break;
	case LOCAL_REMOTE:
		if (s->mode == MODE_SUBMISSION) {
			remote = true;
			break;
		}
		res = refuse(s, "554 5.7.1 <%s>: Relay access denied", addr);
		goto fail;
	case LOCAL_UNKNOWN:
		/* LMTP's client is the MTA in front: its unknown users are not abuse. */
		if (s->mode == MODE_LMTP)
			conn_printf(s->c, "550 5.1.1 <%s>: User unknown\r\n", addr);
		else
			res = refuse(s, "550 5.1.1 <%s>: User unknown", addr);
		goto fail;
	case LOCAL_TEMPFAIL:
		log_warn("sid=%s event=rcpt proto=%s result=tempfail error=\"%s\"", s->sid, mode_name(s->mode),
			 store_last_error());
		conn_writes(s->c, "451 4.3.0 Temporary lookup failure, try again later\r\n");
		goto fail;
	}
	s->rcpts = xrealloc(s->rcpts, (s->n_rcpts + 1) * sizeof *s->rcpts);
	s->rcpts[s->n_rcpts++] = (struct rcpt){
		.addr = addr,
		.notify = r.notify,
		.orcpt = (r.params_seen & SMTP_P_ORCPT) ? xasprintf("%.*s;%.*s", (int)r.orcpt_type_len, r.orcpt_type,
								    (int)r.orcpt_len, r.orcpt)
							: NULL,
		.remote = remote,
		.t = t,
		.nt = nt,
	};
	conn_writes(s->c, "250 2.1.5 Recipient ok\r\n");
	return RUN_DONE;
fail:
	local_targets_free(t, nt);
	free(addr);
	return res;
}

/* ---- The message ---- */

static enum run_result cmd_data(struct smtp_session *s)
{
	if (!s->mail)
		return refuse(s, "503 5.5.1 Need MAIL before DATA");
	if (s->bdat_active)
		return refuse(s, "503 5.5.1 DATA is not allowed after BDAT");
	if (s->n_rcpts == 0)
		return refuse(s, "554 5.5.1 No valid recipients");
	if (s->body == SMTP_BODY_BINARYMIME)
		return refuse(s, "503 5.5.1 BODY=BINARYMIME needs BDAT, not DATA");
	message_reset(s);
	add_received(s);
	s->fm = FM_DATA;
	conn_writes(s->c, "354 End data with <CR><LF>.<CR><LF>\r\n");
	return RUN_DONE;
}

/* Reply for every recipient (LMTP) or once (SMTP). */
static void reply_all(struct smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_all(struct smtp_session *s, const char *fmt, ...)
{
	char line[SMTP_MAX_REPLY];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	size_t n = s->mode == MODE_LMTP ? s->n_rcpts : 1;
	for (size_t i = 0; i < n; i++)
		conn_printf(s->c, "%s\r\n", line);
}

/* The copy for the sender's Sent folder (submission.sent_copy): the mailbox
 * marked \Sent, else the one named Sent. */
static bool sent_copy_target(struct smtp_session *s, struct local_target *t)
{
	struct server *srv = conn_server(s->c);
	if (s->mode != MODE_SUBMISSION || !config_bool(srv->cfg, "submission.sent_copy"))
		return false;
	struct store_mailbox *mb;
	size_t n;
	if (store_mailbox_list(srv->store, s->account_id, &mb, &n) != STORE_OK)
		return false;
	int64_t id = 0;
	for (size_t i = 0; i < n && id == 0; i++)
		if (mb[i].special_use != NULL && strcmp(mb[i].special_use, "\\Sent") == 0)
			id = mb[i].id;
	for (size_t i = 0; i < n && id == 0; i++)
		if (strcmp(mb[i].name, "Sent") == 0)
			id = mb[i].id;
	store_mailboxes_free(mb, n);
	if (id == 0)
		return false;
	*t = (struct local_target){
		.account_id = s->account_id, .mailbox_id = id, .account = s->account, .flags = STORE_FLAG_SEEN};
	return true;
}

/* The whole message is here: check it, store it, answer. */
static enum run_result message_done(struct smtp_session *s)
{
	struct server *srv = conn_server(s->c);
	const char *why = NULL;
	if (s->too_big)
		why = "552 5.3.4 Message size exceeds fixed maximum message size";
	else if (s->data.nul > 0)
		why = "554 5.6.0 Message contains NUL characters";
	else if (s->data.bare_lf + s->data.bare_cr > 0 && strcmp(config_str(srv->cfg, "smtp.bare_lf"), "reject") == 0)
		why = "550 5.6.2 Message contains a bare CR or LF (RFC 5321 2.3.8)";

	if (why == NULL && s->mode == MODE_SUBMISSION && config_bool(srv->cfg, "submission.check_from")) {
		/* The From: header is what recipients see: the user's own too. */
		char *from = dkim_from_address(buf_head(&s->msg) + s->msg_header, buf_used(&s->msg) - s->msg_header);
		if (from != NULL && !local_may_send_as(srv, s->account_id, from))
			why = "550 5.7.1 From: header address not owned by the authenticated user";
		free(from);
	}
	if (why != NULL) {
		log_info("sid=%s event=message proto=%s result=refused octets=%" PRIu64 " reason=\"%s\"", s->sid,
			 mode_name(s->mode), s->octets, why + 10);
		reply_all(s, "%s", why);
		transaction_reset(s);
		return RUN_DONE;
	}
	if (s->body == SMTP_BODY_BINARYMIME) {
		/* The store keeps CRLF lines: binary parts go in as base64. */
		struct buf conv = {0};
		mime_unbinary(buf_head(&s->msg), buf_used(&s->msg), &conv);
		buf_free(&s->msg);
		s->msg = conv;
	}
	const char *data = buf_head(&s->msg);
	size_t len = buf_used(&s->msg);
	/* LMTP can refuse recipients one by one after the message: the ones
	 * whose accounts it would take over quota. */
	size_t n_refused = 0;
	if (s->mode == MODE_LMTP) {
		for (size_t i = 0; i < s->n_rcpts; i++) {
			enum local_quota q = quota_filter(srv, s->rcpts[i].t, &s->rcpts[i].nt, len);
			if (q != QUOTA_OK) {
				s->rcpts[i].refused = q == QUOTA_OVER ? "552 5.2.2 Quota exceeded"
								      : "451 4.3.0 Temporary failure, try again later";
				n_refused++;
			}
		}
	}

	/* Local recipients: one store_deliver for all of them. */
	struct local_target *all = NULL;
	size_t n_all = 0, n_remote = 0;
	for (size_t i = 0; i < s->n_rcpts; i++) {
		if (s->rcpts[i].remote) {
			n_remote++;
			continue;
		}
		if (s->rcpts[i].refused != NULL)
			continue;
		all = xrealloc(all, (n_all + s->rcpts[i].nt + 1) * sizeof *all);
		memcpy(all + n_all, s->rcpts[i].t, s->rcpts[i].nt * sizeof *all);
		n_all += s->rcpts[i].nt;
	}
	struct local_target sent;
	if (sent_copy_target(s, &sent)) {
		all = xrealloc(all, (n_all + 1) * sizeof *all);
		all[n_all++] = sent;
	}
	int rc = n_all > 0 ? local_deliver(srv, data, len, all, n_all) : STORE_OK;
	free(all); /* the targets' strings belong to the recipients */
	const char *error = NULL;
	if (rc == STORE_OK && n_remote > 0) {
		struct queue_rcpt *qr = xcalloc(n_remote, sizeof *qr);
		size_t k = 0;
		for (size_t i = 0; i < s->n_rcpts; i++)
			if (s->rcpts[i].remote)
				qr[k++] = (struct queue_rcpt){s->rcpts[i].addr, s->rcpts[i].notify, s->rcpts[i].orcpt};
		struct queue_envelope env = {
			.sender = s->sender,
			.envid = s->envid,
			.ret = s->ret,
			.smtputf8 = s->smtputf8,
			/* No binary part is left (see above). */
			.body = s->body == SMTP_BODY_BINARYMIME ? SMTP_BODY_8BITMIME : s->body,
			.account_id = s->account_id,
		};
		/* The Received: header stays: it is the trace of this hop. */
		if (queue_submit(srv, &env, qr, n_remote, data, len, &error) != 0)
			rc = STORE_ERROR;
		free(qr);
	}
	char *from = log_safe_dup(s->sender, strlen(s->sender));
	if (rc != STORE_OK) {
		log_warn("sid=%s event=message proto=%s from=%s rcpts=%zu result=tempfail error=\"%s\"", s->sid,
			 mode_name(s->mode), from, s->n_rcpts, error ? error : store_last_error());
		reply_all(s, "451 4.3.0 Could not store the message, try again later");
	} else {
		log_info("sid=%s event=message proto=%s from=%s rcpts=%zu local=%zu remote=%zu refused=%zu octets=%" PRIu64
			 " bare_lf=%" PRIu64 " bare_cr=%" PRIu64 " long_lines=%" PRIu64 " result=ok",
			 s->sid, mode_name(s->mode), from, s->n_rcpts, s->n_rcpts - n_remote - n_refused, n_remote,
			 n_refused, s->octets, s->data.bare_lf, s->data.bare_cr, s->data.long_lines);
		if (s->mode == MODE_LMTP) {
			for (size_t i = 0; i < s->n_rcpts; i++)
				if (s->rcpts[i].refused != NULL)
					conn_printf(s->c, "%s\r\n", s->rcpts[i].refused);
				else
					conn_printf(s->c, "250 2.0.0 <%s> Delivered id %s\r\n", s->rcpts[i].addr, s->sid);
		} else {
			conn_printf(s->c, "250 2.0.0 Ok: %s id %s\r\n", n_remote ? "queued" : "delivered", s->sid);
		}
		/* DSN (RFC 3461): local delivery is final; tell a sender who asked. */
		for (size_t i = 0; i < s->n_rcpts; i++)
			if (!s->rcpts[i].remote && s->rcpts[i].refused == NULL &&
			    (s->rcpts[i].notify & SMTP_NOTIFY_SUCCESS) && s->sender[0] != '\0') {
				struct queue_rcpt q = {s->rcpts[i].addr, s->rcpts[i].notify, s->rcpts[i].orcpt};
				struct queue_envelope env = {.sender = s->sender, .envid = s->envid, .ret = s->ret};
				if (queue_dsn_delivered(srv, &env, &q, 1, data + s->msg_header, len - s->msg_header,
							&error) != 0)
					log_warn("sid=%s event=dsn result=fail error=\"%s\"", s->sid, error ? error : "");
			}
		s->junk = 0;
	}
	free(from);
	transaction_reset(s);
	return RUN_DONE;
}

/* A BDAT chunk has been taken by frame(). */
static enum run_result bdat_done(struct smtp_session *s)
{
	bool last = s->bdat.last;
	if (!s->bdat_store) {
		/* Refused before it came; RFC 3030: the chunk is read and dropped. */
		const char *why = !s->mail ? "503 5.5.1 Need MAIL before BDAT"
			       : s->n_rcpts == 0 ? "554 5.5.1 No valid recipients"
						 : "503 5.5.1 An earlier BDAT failed: send RSET";
		s->fm = FM_LINE;
		if (last && s->bdat_failed)
			transaction_reset(s);
		return refuse(s, "%s", why);
	}
	s->fm = FM_BDAT; /* message_done tells BDAT from DATA by this */
	if (s->too_big) {
		s->bdat_failed = true;
		s->fm = FM_LINE;
		if (last)
			transaction_reset(s);
		return refuse(s, "552 5.3.4 Message size exceeds fixed maximum message size");
	}
	if (!last) {
		s->fm = FM_LINE;
		conn_printf(s->c, "250 2.0.0 %" PRIu64 " octets received\r\n", s->bdat.size);
		return RUN_DONE;
	}
	enum run_result r = message_done(s);
	s->fm = FM_LINE;
	return r;
}

/* ---- Other commands ---- */

static enum run_result cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (junk_over(s))
		return RUN_CLOSE;
	struct server *srv = conn_server(s->c);
	if (!config_bool(srv->cfg, "smtp.vrfy") || s->mode == MODE_LMTP) {
		conn_writes(s->c, "252 2.5.0 Cannot VRFY user, but will accept the message and attempt delivery\r\n");
		return RUN_DONE;
	}
	char *arg = xstrndup(cmd->args, cmd->args_len);
	char *a = arg;
	size_t l = strlen(a);
	if (l >= 2 && a[0] == '<' && a[l - 1] == '>') {
		a[l - 1] = '\0';
		a++;
	}
	struct local_target *t = NULL;
	size_t nt = 0;
	enum local_result lr = local_resolve(srv, a, false, &t, &nt);
	local_targets_free(t, nt);
	enum run_result r = RUN_DONE;
	if (lr == LOCAL_OK)
		conn_printf(s->c, "250 2.1.5 <%s>\r\n", a);
	else if (lr == LOCAL_TEMPFAIL)
		conn_writes(s->c, "451 4.3.0 Temporary lookup failure\r\n");
	else
		r = refuse(s, "550 5.1.1 User unknown");
	free(arg);
	return r;
}

static enum run_result cmd_starttls(struct smtp_session *s)
{
	if (conn_is_tls(s->c))
		return refuse(s, "503 5.5.1 TLS is already active");
	if (!conn_can_starttls(s->c))
		return refuse(s, "454 4.7.0 TLS not available");
	conn_writes(s->c, "220 2.0.0 Ready to start TLS\r\n");
	/* RFC 3207 4.2: forget everything learned before TLS, a login too. */
	transaction_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->ehlo = false;
	free(s->account);
	s->account = NULL;
	s->account_id = 0;
	return RUN_STARTTLS;
}

static enum run_result handle_line(struct smtp_session *s, const char *line, size_t len)
{
	len = smtp_line_strip(line, len);
	if (s->sasl != SASL_NONE)
		return sasl_continue(s, line, len);
	struct smtp_cmd cmd;
	enum smtp_err e = smtp_cmd_parse(line, len, &cmd);
	if (e != SMTP_OK)
		return refuse(s, "%s", smtp_err_reply(e));
	switch (cmd.verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
	case SMTP_VERB_LHLO:
		return cmd_hello(s, &cmd);
	case SMTP_VERB_MAIL:
		return cmd_mail(s, &cmd);
	case SMTP_VERB_RCPT:
		return cmd_rcpt(s, &cmd);
	case SMTP_VERB_DATA:
		return cmd_data(s);
	case SMTP_VERB_BDAT:
		/* frame() takes a well-formed BDAT with its chunk; this one is not. */
		return refuse(s, "501 5.5.4 Syntax: BDAT size [LAST]");
	case SMTP_VERB_RSET:
		if (junk_over(s))
			return RUN_CLOSE;
		transaction_reset(s);
		conn_writes(s->c, "250 2.0.0 Ok\r\n");
		return RUN_DONE;
	case SMTP_VERB_NOOP:
		if (junk_over(s))
			return RUN_CLOSE;
		conn_writes(s->c, "250 2.0.0 Ok\r\n");
		return RUN_DONE;
	case SMTP_VERB_QUIT:
		conn_printf(s->c, "221 2.0.0 %s closing connection\r\n", conn_server(s->c)->hostname);
		return RUN_CLOSE;
	case SMTP_VERB_VRFY:
		return cmd_vrfy(s, &cmd);
	case SMTP_VERB_HELP:
		if (junk_over(s))
			return RUN_CLOSE;
		conn_writes(s->c, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH\r\n"
				  "214 2.0.0 See RFC 5321\r\n");
		return RUN_DONE;
	case SMTP_VERB_STARTTLS:
		return cmd_starttls(s);
	case SMTP_VERB_AUTH:
		return cmd_auth(s, &cmd);
	case SMTP_VERB_UNKNOWN:
		break;
	}
	return refuse(s, "500 5.5.1 Unknown command");
}

/* ---- Framing: command lines, DATA text and BDAT chunks ---- */

/* Take chunk bytes of the current BDAT; true when the chunk is complete. */
static bool bdat_take(struct smtp_session *s, const char *in, size_t len, size_t *taken)
{
	size_t k = smtp_bdat_take(&s->bdat, len);
	if (s->bdat_store && !s->too_big) {
		s->octets += k;
		if (s->octets > s->max_size) {
			s->too_big = true;
			buf_free(&s->msg);
		} else {
			buf_append(&s->msg, in, k);
			/* NUL is for BINARYMIME only (RFC 3030); counted as DATA counts it. */
			if (s->body != SMTP_BODY_BINARYMIME && memchr(in, '\0', k) != NULL)
				s->data.nul++;
		}
	}
	*taken += k;
	return smtp_bdat_complete(&s->bdat);
}

/* A complete BDAT line: start taking its chunk. False when it is not a
 * well-formed BDAT (run() answers it as a command). */
static bool bdat_start(struct smtp_session *s, const char *line, size_t n)
{
	size_t len = smtp_line_strip(line, n);
	if (len < 5 || !mem_ieq(line, 4, "BDAT") || line[4] != ' ')
		return false;
	struct smtp_bdat b;
	if (smtp_bdat_parse(line + 5, len - 5, &b) != SMTP_OK)
		return false;
	bool store = s->mail && s->n_rcpts > 0 && !s->bdat_failed;
	if (store && !s->bdat_active) {
		message_reset(s);
		s->bdat_active = true;
		add_received(s);
	}
	s->bdat = b;
	s->bdat_store = store;
	s->fm = FM_BDAT;
	return true;
}

/* A client that trickles its message in stays within the idle timeout; the
 * whole message must still arrive within smtp.data_timeout. */
static bool data_too_slow(struct smtp_session *s)
{
	return time_mono_ms() - s->started_ms > s->data_timeout_ms;
}

static ssize_t smtp_frame_cb(void *session, const char *in, size_t len, size_t *taken_r)
{
	struct smtp_session *s = session;
	*taken_r = 0;
	if (s->pending)
		return FRAME_TAKEN;
	if ((s->fm == FM_DATA || (s->fm == FM_BDAT && s->bdat_active)) && data_too_slow(s)) {
		s->too_slow = s->pending = true;
		return FRAME_TAKEN;
	}
	if (s->fm == FM_LINE) {
		ssize_t n = smtp_frame(in, len, s->sasl != SASL_NONE);
		if (n <= 0 || s->sasl != SASL_NONE || !bdat_start(s, in, (size_t)n))
			return n;
		*taken_r = (size_t)n;
		in += n;
		len -= (size_t)n;
	}
	if (s->fm == FM_BDAT) {
		if (!bdat_take(s, in, len, taken_r))
			return 0;
		s->pending = true;
		return FRAME_TAKEN;
	}
	/* FM_DATA */
	struct buf *out = s->too_big ? &s->scratch : &s->msg;
	size_t used = smtp_data_feed(&s->data, in, len, out);
	*taken_r = used;
	s->octets = s->data.octets;
	if (s->too_big) {
		buf_free(&s->scratch);
	} else if (s->octets > s->max_size) {
		s->too_big = true;
		buf_free(&s->msg);
	}
	if (!smtp_data_done(&s->data))
		return 0;
	s->pending = true;
	return FRAME_TAKEN;
}

/* ---- The protocol callbacks ---- */

static struct smtp_session *session_new(struct conn *c, enum smtp_mode mode)
{
	struct smtp_session *s = xcalloc(1, sizeof *s);
	s->mode = mode;
	s->c = c;
	/* Read once: frame() checks them for every piece of message text. */
	const struct config *cfg = conn_server(c)->cfg;
	s->max_size = (uint64_t)config_int(cfg, "smtp.max_message_size");
	s->data_timeout_ms = config_int(cfg, "smtp.data_timeout") * 1000;
	smtp_data_init(&s->data);
	return s;
}

static void *smtp_open(struct conn *c) { return session_new(c, MODE_SMTP); }
static void *submission_open(struct conn *c) { return session_new(c, MODE_SUBMISSION); }
static void *lmtp_open(struct conn *c) { return session_new(c, MODE_LMTP); }

static void smtp_close(void *session)
{
	struct smtp_session *s = session;
	if (s->mail && (s->fm != FM_LINE || s->bdat_active))
		log_info("sid=%s event=message proto=%s result=abandoned octets=%" PRIu64, s->sid ? s->sid : "-",
			 mode_name(s->mode), s->octets);
	transaction_reset(s);
	sasl_reset(s);
	free(s->helo);
	free(s->account);
	free(s->sid);
	free(s);
}

static enum run_result smtp_run(void *session, struct conn *c, enum cmd_kind kind, const char *data, size_t len)
{
	struct smtp_session *s = session;
	switch (kind) {
	case CMD_GREET:
		s->sid = xstrdup(conn_sid(c));
		conn_printf(c, "220 %s %s Roost ready\r\n", conn_server(c)->hostname,
			    s->mode == MODE_LMTP ? "LMTP" : "ESMTP");
		return RUN_DONE;
	case CMD_LINE:
		if (s->pending) {
			s->pending = false;
			if (s->too_slow) {
				log_info("sid=%s event=message proto=%s result=refused octets=%" PRIu64 " reason=too_slow",
					 s->sid, mode_name(s->mode), s->octets);
				conn_writes(c, "421 4.4.2 The message took too long, closing the connection\r\n");
				return RUN_CLOSE;
			}
			if (s->fm == FM_BDAT)
				return bdat_done(s);
			enum run_result r = message_done(s);
			s->fm = FM_LINE;
			return r;
		}
		return handle_line(s, data, len);
	case CMD_TOOLONG:
		if (s->sasl != SASL_NONE)
			sasl_reset(s);
		return refuse(s, "%s", smtp_err_reply(SMTP_ERR_LINE_TOO_LONG));
	case CMD_RESUME:
	case CMD_WAKE:
		return RUN_DONE;
	case CMD_TIMEOUT:
		conn_writes(c, "421 4.4.2 Timeout, closing the connection\r\n");
		return RUN_CLOSE;
	case CMD_SHUTDOWN:
		conn_writes(c, "421 4.3.2 Server shutting down, try again later\r\n");
		return RUN_CLOSE;
	}
	return RUN_DONE;
}

#define SMTP_PROTO(var, nm, tls, openfn)                                          \
	const struct proto var = {                                                 \
		.name = nm,                                                        \
		.implicit_tls = tls,                                               \
		.busy_reply = "421 4.7.0 Too many connections, try again later\r\n", \
		.idle_timeout_key = "smtp.idle_timeout",                           \
		.max_command = SMTP_MAX_AUTH_LINE,                                 \
		.open = openfn,                                                    \
		.close = smtp_close,                                               \
		.frame = smtp_frame_cb,                                            \
		.run = smtp_run,                                                   \
	}

SMTP_PROTO(smtp_proto, "smtp", false, smtp_open);
SMTP_PROTO(submission_proto, "submission", false, submission_open);
SMTP_PROTO(submissions_proto, "submissions", true, submission_open);
SMTP_PROTO(lmtp_proto, "lmtp", false, lmtp_open);
