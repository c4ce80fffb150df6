/* The IMAP session engine: framing input through the incremental parser
 * (literal continuations included), the command table and its state rules,
 * tagged and untagged responses, and the life of a session from greeting to
 * BYE. Command families live in imap-<family>.c; this file promises them that a
 * command's arguments stay valid until it has completed (also across RUN_MORE)
 * and that every tagged answer is preceded by the mailbox changes the command
 * may report (RFC 9051 section 7.5.1). */
#include "imap/imap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"
#include "net/server.h"

static const struct imap_cmd_def commands[] = {
	{"CAPABILITY", imap_cmd_capability, IN_ANY, 0},
	{"NOOP", imap_cmd_noop, IN_ANY, 0},
	{"LOGOUT", imap_cmd_logout, IN_ANY, 0},
	{"STARTTLS", imap_cmd_starttls, IN_NOTAUTH, 0},
	{"AUTHENTICATE", imap_cmd_authenticate, IN_NOTAUTH, 0},
	{"LOGIN", imap_cmd_login, IN_NOTAUTH, 0},
	{"ENABLE", imap_cmd_enable, IN_LOGGED, 0},
	{"ID", imap_cmd_id, IN_ANY, 0},
	{"SELECT", imap_cmd_select, IN_LOGGED, 0},
	{"EXAMINE", imap_cmd_select, IN_LOGGED, 0},
	{"CREATE", imap_cmd_create, IN_LOGGED, 0},
	{"DELETE", imap_cmd_delete, IN_LOGGED, 0},
	{"RENAME", imap_cmd_rename, IN_LOGGED, 0},
	{"SUBSCRIBE", imap_cmd_subscribe, IN_LOGGED, 0},
	{"UNSUBSCRIBE", imap_cmd_unsubscribe, IN_LOGGED, 0},
	{"LIST", imap_cmd_list, IN_LOGGED, 0},
	{"LSUB", imap_cmd_lsub, IN_LOGGED, 0},
	{"NAMESPACE", imap_cmd_namespace, IN_LOGGED, 0},
	{"STATUS", imap_cmd_status, IN_LOGGED, 0},
	{"APPEND", imap_cmd_append, IN_LOGGED, 0},
	{"IDLE", imap_cmd_idle, IN_LOGGED, 0},
	{"CHECK", imap_cmd_check, IN_SELECTED, 0},
	{"CLOSE", imap_cmd_close, IN_SELECTED, 0},
	{"UNSELECT", imap_cmd_unselect, IN_SELECTED, 0},
	{"EXPUNGE", imap_cmd_expunge, IN_SELECTED, CMDF_UID},
	{"SEARCH", imap_cmd_search, IN_SELECTED, CMDF_UID | CMDF_NO_EXPUNGE},
	{"FETCH", imap_cmd_fetch, IN_SELECTED, CMDF_UID | CMDF_NO_EXPUNGE},
	{"STORE", imap_cmd_store, IN_SELECTED, CMDF_UID | CMDF_NO_EXPUNGE},
	{"COPY", imap_cmd_copy, IN_SELECTED, CMDF_UID | CMDF_NO_EXPUNGE},
	{"MOVE", imap_cmd_move, IN_SELECTED, CMDF_UID},
};

static const struct imap_cmd_def *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (str_ieq(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* ---------------- responses ---------------- */

void imap_log_safe(const char *in, char *out, size_t cap)
{
	size_t i = 0;
	for (; in && in[i] && i + 1 < cap; i++)
		out[i] = ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f || in[i] == '"' || in[i] == '\\') ? '?' : in[i];
	out[i] = '\0';
}

static void end_command(struct imap_session *s)
{
	s->pending = false;
	s->resume = NULL;
	s->def = NULL;
	s->uid = false;
	s->own_modseq = 0;
}

/* Report the changes this command may report, then the tagged line. */
static enum run_result tagged(struct imap_session *s, const char *status, const char *fmt, va_list ap)
{
	enum run_result r = RUN_DONE;
	if (s->state == IS_SELECTED && s->view != NULL) {
		bool expunge_ok = s->def == NULL || !(s->def->flags & CMDF_NO_EXPUNGE) || s->uid;
		if (imap_view_sync(s, expunge_ok, s->own_modseq) < 0) {
			conn_writes(s->c, "* BYE [CLIENTBUG] The selected mailbox was deleted or renamed away\r\n");
			s->state = IS_LOGOUT;
			r = RUN_CLOSE;
		}
	}
	struct buf *out = conn_outbuf(s->c);
	buf_printf(out, "%s %s ", s->tag ? s->tag : "*", status);
	char small[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	if (n >= 0 && (size_t)n < sizeof small) {
		buf_append(out, small, (size_t)n);
	} else if (n >= 0) {
		char *big = xmalloc((size_t)n + 1);
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
		buf_append(out, big, (size_t)n);
		free(big);
	}
	va_end(ap2);
	buf_append(out, "\r\n", 2);
	end_command(s);
	return r;
}

enum run_result imap_ok(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	s->bad_commands = 0;
	enum run_result r = tagged(s, "OK", fmt, ap);
	va_end(ap);
	return r;
}

enum run_result imap_no(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	s->bad_commands = 0;
	enum run_result r = tagged(s, "NO", fmt, ap);
	va_end(ap);
	return r;
}

enum run_result imap_bad(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum run_result r = tagged(s, "BAD", fmt, ap);
	va_end(ap);
	if (++s->bad_commands >= IMAP_MAX_BAD_COMMANDS) {
		conn_writes(s->c, "* BYE [CLIENTBUG] Too many invalid commands\r\n");
		s->state = IS_LOGOUT;
		return RUN_CLOSE;
	}
	return r;
}

enum run_result imap_store_fail(struct imap_session *s, int rc, const char *what)
{
	log_warn("sid=%s event=store_error op=%s rc=%d error=\"%s\"", s->sid, what, rc, store_last_error());
	return imap_no(s, "[UNAVAILABLE] The mailbox store failed, try again later");
}

static bool quotable(const char *str, size_t len, bool utf8_ok)
{
	if (len > 1024)
		return false;
	bool high = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)str[i];
		if (ch == '\0' || ch == '\r' || ch == '\n')
			return false;
		if (ch >= 0x80)
			high = true;
	}
	return !high || (utf8_ok && utf8_valid(str, len));
}

void imap_write_string(struct conn *c, const char *str, size_t len, bool utf8_ok)
{
	struct buf *out = conn_outbuf(c);
	if (!quotable(str, len, utf8_ok)) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, str, len);
		return;
	}
	char *p = buf_reserve(out, len * 2 + 2);
	size_t k = 0;
	p[k++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\')
			p[k++] = '\\';
		p[k++] = str[i];
	}
	p[k++] = '"';
	buf_commit(out, k);
}

void imap_write_nstring(struct conn *c, const char *str, bool utf8_ok)
{
	if (str == NULL)
		conn_writes(c, "NIL");
	else
		imap_write_string(c, str, strlen(str), utf8_ok);
}

void imap_write_mailbox(struct imap_session *s, const char *name)
{
	if (s->utf8) {
		imap_write_string(s->c, name, strlen(name), true);
		return;
	}
	char *enc = imap_utf8_to_utf7(name);
	if (enc == NULL) /* cannot happen for stored names; say it as it is */
		imap_write_string(s->c, name, strlen(name), false);
	else
		imap_write_string(s->c, enc, strlen(enc), false);
	free(enc);
}

const char *imap_arg_string(const struct imap_arg *a)
{
	/* An unquoted NIL is the atom "NIL" wherever a string is expected. */
	if (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NUMBER || a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_NIL ||
	    (a->type == IMAP_ARG_LITERAL && !(a->flags & IMAP_ARG_LITERAL8)))
		return a->str;
	return NULL;
}

char *imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a, const char **error_r)
{
	const char *str = imap_arg_string(a);
	if (str == NULL || strlen(str) != a->len) {
		*error_r = "Invalid mailbox name";
		return NULL;
	}
	char *name;
	if (s->utf8) {
		if (!utf8_valid(str, a->len)) {
			*error_r = "Mailbox name is not valid UTF-8";
			return NULL;
		}
		name = xstrdup(str);
	} else {
		/* 8-bit names are not modified UTF-7; take valid UTF-8 as such
		 * (clients that send it mean it), refuse the rest. */
		bool high = false;
		for (const char *p = str; *p; p++)
			high |= (unsigned char)*p >= 0x80;
		if (high) {
			if (!utf8_valid(str, a->len)) {
				*error_r = "Mailbox name is not valid modified UTF-7";
				return NULL;
			}
			name = xstrdup(str);
		} else {
			name = imap_utf7_to_utf8(str);
			if (name == NULL) {
				*error_r = "Mailbox name is not valid modified UTF-7";
				return NULL;
			}
		}
	}
	if (str_has_iprefix(name, "INBOX") && (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	return name;
}

static const char *const system_flags[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};

void imap_write_flags(struct imap_session *s, uint32_t flags, uint64_t keywords)
{
	struct buf *out = conn_outbuf(s->c);
	buf_appends(out, "FLAGS (");
	bool first = true;
	for (size_t i = 0; i < ARRAY_LEN(system_flags); i++) {
		if (flags & (1u << i)) {
			if (!first)
				buf_append(out, " ", 1);
			buf_appends(out, system_flags[i]);
			first = false;
		}
	}
	for (size_t i = 0; i < 64 && keywords; i++) {
		if (!(keywords & ((uint64_t)1 << i)))
			continue;
		keywords &= ~((uint64_t)1 << i);
		if (s->view == NULL || i >= s->view->n_keywords)
			continue;
		if (!first)
			buf_append(out, " ", 1);
		buf_appends(out, s->view->keywords[i]);
		first = false;
	}
	buf_append(out, ")", 1);
}

static bool keyword_valid(const char *k)
{
	if (*k == '\0' || strlen(k) > STORE_KEYWORD_MAX)
		return false;
	for (const char *p = k; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch))
			return false;
	}
	return true;
}

int imap_parse_flags(const struct imap_arg *a, uint32_t *flags_r, const char ***keywords_r, size_t *n_keywords_r,
		     const char **error_r)
{
	const struct imap_arg *list = a;
	size_t n = 1;
	if (a->type == IMAP_ARG_LIST) {
		list = a->list;
		n = a->list_count;
	}
	*flags_r = 0;
	*keywords_r = NULL;
	*n_keywords_r = 0;
	const char **kw = n ? xcalloc(n, sizeof *kw) : NULL;
	size_t nk = 0;
	for (size_t i = 0; i < n; i++) {
		if (list[i].type != IMAP_ARG_ATOM) {
			*error_r = "Flags must be atoms";
			free(kw);
			return -1;
		}
		const char *f = list[i].str;
		if (f[0] == '\\') {
			size_t k;
			for (k = 0; k < ARRAY_LEN(system_flags); k++)
				if (str_ieq(f, system_flags[k]))
					break;
			if (k < ARRAY_LEN(system_flags)) {
				*flags_r |= 1u << k;
				continue;
			}
			*error_r = str_ieq(f, "\\Recent") ? "\\Recent cannot be set by a client" : "Unknown system flag";
			free(kw);
			return -1;
		}
		if (!keyword_valid(f)) {
			*error_r = "Invalid keyword";
			free(kw);
			return -1;
		}
		kw[nk++] = f;
	}
	*keywords_r = kw;
	*n_keywords_r = nk;
	return 0;
}

/* ---------------- the session ---------------- */

static void *imap_open(struct conn *c)
{
	struct imap_session *s = xcalloc(1, sizeof *s);
	s->c = c;
	s->store = conn_server(c)->store;
	s->sid = xstrdup(conn_sid(c));
	s->parser = imap_parser_new();
	imap_parser_set_max_literal(s->parser, IMAP_NOTAUTH_MAX_LITERAL);
	return s;
}

static void imap_close(void *session)
{
	struct imap_session *s = session;
	imap_idle_leave(s);
	if (s->fetch)
		imap_fetch_free(s->fetch);
	imap_view_close(s);
	imap_parser_free(s->parser);
	free(s->sid);
	free(s->user);
	free(s->sasl_user);
	free(s->saved);
	free(s);
}

static ssize_t imap_frame(void *session, const char *in, size_t len, size_t *taken_r)
{
	struct imap_session *s = session;
	*taken_r = 0;
	if (s->mode == FM_LINE) {
		size_t scan = len < IMAP_MAX_LINE ? len : IMAP_MAX_LINE;
		const char *lf = memchr(in, '\n', scan);
		if (lf != NULL)
			return (ssize_t)(lf - in) + 1;
		return len >= IMAP_MAX_LINE ? FRAME_TOOLONG : 0;
	}
	if (s->pending)
		return FRAME_TAKEN;
	size_t off = 0;
	for (;;) {
		size_t used = 0;
		enum imap_parse_status st = imap_parse_feed(s->parser, in + off, len - off, &used);
		off += used;
		*taken_r = off;
		switch (st) {
		case IMAP_PARSE_MORE:
			return 0;
		case IMAP_PARSE_LITERAL_WAIT:
			conn_writes(s->c, "+ Ready for literal data\r\n");
			continue;
		case IMAP_PARSE_DONE:
		case IMAP_PARSE_ERROR:
		case IMAP_PARSE_TOOLONG:
			s->pending = true;
			s->pending_status = st;
			return FRAME_TAKEN;
		}
	}
}

void imap_wait_lines(struct imap_session *s)
{
	if (s->tag != s->line_tag) {
		snprintf(s->line_tag, sizeof s->line_tag, "%s", s->tag ? s->tag : "*");
		s->tag = s->line_tag;
	}
	s->pending = false;
	s->mode = FM_LINE;
}

static enum run_result greet(struct imap_session *s)
{
	struct buf *out = conn_outbuf(s->c);
	buf_appends(out, "* OK [CAPABILITY ");
	imap_capabilities(s, out);
	buf_appends(out, "] Roost IMAP ready\r\n");
	return RUN_DONE;
}

static enum run_result run_command(struct imap_session *s)
{
	struct imap_parser *p = s->parser;
	if (s->pending_status == IMAP_PARSE_ERROR) {
		s->tag = imap_parse_tag(p);
		return imap_bad(s, "%s", imap_parse_error(p));
	}
	if (s->pending_status == IMAP_PARSE_TOOLONG) {
		s->tag = imap_parse_tag(p);
		if (imap_parse_limit(p) == IMAP_LIMIT_LITERAL)
			return imap_no(s, "[TOOBIG] %s", imap_parse_error(p));
		return imap_bad(s, "%s", imap_parse_error(p));
	}
	const struct imap_command *cmd = imap_parse_command(p);
	s->tag = cmd->tag;
	struct imap_command sub = *cmd;
	const char *name = cmd->name;
	if (str_ieq(name, "UID")) {
		if (cmd->n_args == 0 || cmd->args[0].type != IMAP_ARG_ATOM)
			return imap_bad(s, "UID needs a command");
		name = cmd->args[0].str;
		sub.name = name;
		sub.args = cmd->args + 1;
		sub.n_args = cmd->n_args - 1;
		s->uid = true;
	}
	const struct imap_cmd_def *def = find_command(name);
	if (def == NULL || (s->uid && !(def->flags & CMDF_UID)))
		return imap_bad(s, "Unknown command");
	if (!(def->states & (1u << s->state))) {
		if (s->state == IS_NOTAUTH)
			return imap_bad(s, "Log in first");
		if (def->states == IN_NOTAUTH)
			return imap_bad(s, "Already logged in");
		return imap_bad(s, "No mailbox selected");
	}
	s->def = def;
	return def->fn(s, &sub);
}

static enum run_result imap_run(void *session, struct conn *c, enum cmd_kind kind, const char *data, size_t len)
{
	struct imap_session *s = session;
	switch (kind) {
	case CMD_GREET:
		return greet(s);
	case CMD_LINE:
		if (s->idling)
			return imap_idle_line(s, data, len);
		if (s->sasl)
			return imap_auth_continue(s, data, len);
		if (!s->pending)
			return RUN_DONE;
		return run_command(s);
	case CMD_RESUME:
		return s->resume ? s->resume(s) : RUN_DONE;
	case CMD_WAKE:
		return s->idling ? imap_idle_wake(s) : RUN_DONE;
	case CMD_TOOLONG:
		/* Only raw lines (FM_LINE) are framed by length. */
		if (s->idling)
			return imap_idle_line(s, NULL, 0);
		if (s->sasl)
			return imap_auth_continue(s, NULL, 0);
		return RUN_DONE;
	case CMD_TIMEOUT:
		conn_writes(c, "* BYE Autologout; idle for too long\r\n");
		s->state = IS_LOGOUT;
		return RUN_CLOSE;
	case CMD_SHUTDOWN:
		/* In the middle of a streamed response there is nothing to say. */
		if (s->resume == NULL)
			conn_writes(c, "* BYE [UNAVAILABLE] Server shutting down\r\n");
		s->state = IS_LOGOUT;
		return RUN_CLOSE;
	}
	return RUN_DONE;
}

const struct proto imap_proto = {
	.name = "imap",
	.implicit_tls = false,
	.idle_timeout_key = "imap.idle_timeout",
	.max_command = IMAP_MAX_LINE,
	.busy_reply = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
	.open = imap_open,
	.close = imap_close,
	.frame = imap_frame,
	.run = imap_run,
};

const struct proto imaps_proto = {
	.name = "imaps",
	.implicit_tls = true,
	.idle_timeout_key = "imap.idle_timeout",
	.max_command = IMAP_MAX_LINE,
	.busy_reply = NULL,
	.open = imap_open,
	.close = imap_close,
	.frame = imap_frame,
	.run = imap_run,
};
