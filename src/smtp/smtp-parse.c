/* SMTP command-line parsing: framing against named limits, verbs, paths (RFC
 * 5321 4.1.2, with SMTPUTF8 from RFC 6531) and ESMTP parameters (RFC 1870,
 * 3030, 3461, 4954, 6152, 6531). Nothing here allocates; paths point into the
 * caller's line, and decoded xtext goes into bounded fields of the result. */
#include "smtp/smtp-parse.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/util.h"
#include "net/conn.h"

const char *smtp_err_reply(enum smtp_err e)
{
	switch (e) {
	case SMTP_OK: return "250 2.0.0 OK";
	case SMTP_ERR_UNKNOWN_CMD: return "500 5.5.1 Command unrecognized";
	case SMTP_ERR_SYNTAX: return "500 5.5.2 Syntax error";
	case SMTP_ERR_LINE_TOO_LONG: return "500 5.5.6 Line too long";
	case SMTP_ERR_ARGS: return "501 5.5.4 Syntax error in parameters or arguments";
	case SMTP_ERR_PATH_TOO_LONG: return "501 5.1.3 Path too long";
	case SMTP_ERR_ADDRESS: return "553 5.1.3 Bad address syntax";
	case SMTP_ERR_UTF8_NEEDED: return "553 5.6.7 Non-ASCII address requires SMTPUTF8";
	case SMTP_ERR_BAD_UTF8: return "501 5.6.7 Malformed UTF-8 in address";
	case SMTP_ERR_PARAM_UNKNOWN: return "555 5.5.4 Unrecognized parameter";
	case SMTP_ERR_PARAM_DUP: return "501 5.5.4 Duplicate parameter";
	case SMTP_ERR_PARAM_VALUE: return "501 5.5.4 Bad parameter value";
	case SMTP_ERR_PARAM_NOTIMPL: return "504 5.5.4 Parameter value not implemented";
	case SMTP_ERR_TOO_MANY_PARAMS: return "501 5.5.4 Too many parameters";
	case SMTP_ERR_SIZE_TOO_BIG: return "552 5.3.4 Message size exceeds fixed maximum";
	}
	return "500 5.5.0 Error";
}

/* ---- framing ---- */

static bool is_auth_prefix(const char *in, size_t len)
{
	return len >= 5 && mem_ieq(in, 4, "AUTH") && in[4] == ' ';
}

ssize_t smtp_frame(const char *in, size_t len, bool sasl)
{
	size_t scan = len < SMTP_MAX_AUTH_LINE ? len : SMTP_MAX_AUTH_LINE;
	const char *lf = memchr(in, '\n', scan);
	/* The AUTH verb is within the first 5 bytes; until they are here the
	 * short limit applies, which is long enough to wait for them. */
	size_t max = (sasl || is_auth_prefix(in, len)) ? SMTP_MAX_AUTH_LINE : SMTP_MAX_LINE;
	if (lf != NULL) {
		size_t n = (size_t)(lf - in) + 1;
		return n <= max ? (ssize_t)n : FRAME_TOOLONG;
	}
	return len >= max ? FRAME_TOOLONG : 0;
}

size_t smtp_line_strip(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

/* ---- verbs ---- */

static const struct {
	const char *name;
	enum smtp_verb verb;
	signed char args; /* 1 required, 0 forbidden, -1 optional */
} verbs[] = {
	{"EHLO", SMTP_VERB_EHLO, 1},  {"HELO", SMTP_VERB_HELO, 1},
	{"LHLO", SMTP_VERB_LHLO, 1},  {"MAIL", SMTP_VERB_MAIL, 1},
	{"RCPT", SMTP_VERB_RCPT, 1},  {"DATA", SMTP_VERB_DATA, 0},
	{"BDAT", SMTP_VERB_BDAT, 1},  {"RSET", SMTP_VERB_RSET, 0},
	{"NOOP", SMTP_VERB_NOOP, -1}, {"QUIT", SMTP_VERB_QUIT, 0},
	{"VRFY", SMTP_VERB_VRFY, 1},  {"HELP", SMTP_VERB_HELP, -1},
	{"STARTTLS", SMTP_VERB_STARTTLS, 0}, {"AUTH", SMTP_VERB_AUTH, 1},
};

enum smtp_err smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd_r)
{
	memset(cmd_r, 0, sizeof *cmd_r);
	if (len == 0 || memchr(line, '\0', len) != NULL)
		return SMTP_ERR_SYNTAX;
	size_t i = 0;
	while (i < len && line[i] != ' ')
		i++;
	for (size_t v = 0; v < ARRAY_LEN(verbs); v++) {
		if (!mem_ieq(line, i, verbs[v].name))
			continue;
		cmd_r->verb = verbs[v].verb;
		size_t a = i < len ? i + 1 : len;
		size_t e = len;
		while (e > a && (line[e - 1] == ' ' || line[e - 1] == '\t'))
			e--;
		cmd_r->args = line + a;
		cmd_r->args_len = e - a;
		if (verbs[v].args == 0 && cmd_r->args_len > 0)
			return SMTP_ERR_ARGS;
		if (verbs[v].args == 1 && cmd_r->args_len == 0)
			return SMTP_ERR_ARGS;
		return SMTP_OK;
	}
	return SMTP_ERR_UNKNOWN_CMD;
}

/* ---- paths ---- */

static bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_letdig(unsigned char c) { return is_alpha(c) || is_digit(c); }

/* atext (RFC 5322 3.2.3). */
static bool is_atext(unsigned char c)
{
	return is_letdig(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* The length of a UTF-8 sequence at s[0..len) that encodes a non-ASCII code
 * point, 0 when ill-formed. */
static size_t utf8_seq(const char *s, size_t len)
{
	size_t n;
	if (utf8_next((const unsigned char *)s, len, &n) < 0)
		return 0;
	return n;
}

struct pstate {
	const char *s;
	size_t len, i;
	bool utf8_ok;
	bool utf8_seen;
	enum smtp_err err; /* the error for a non-ASCII byte, when one is seen */
};

/* Take one non-ASCII sequence at the position; false (with err set) when not allowed. */
static bool take_utf8(struct pstate *p)
{
	size_t n = utf8_seq(p->s + p->i, p->len - p->i);
	if (n == 0) {
		p->err = SMTP_ERR_BAD_UTF8;
		return false;
	}
	if (!p->utf8_ok) {
		p->err = SMTP_ERR_UTF8_NEEDED;
		return false;
	}
	p->utf8_seen = true;
	p->i += n;
	return true;
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str], or a
 * U-label with SMTPUTF8. */
static bool parse_domain(struct pstate *p)
{
	size_t start = p->i;
	for (;;) {
		size_t sub = p->i;
		bool last_hyphen = false;
		while (p->i < p->len) {
			unsigned char c = (unsigned char)p->s[p->i];
			if (c >= 0x80) {
				if (!take_utf8(p))
					return false;
				last_hyphen = false;
				continue;
			}
			if (is_letdig(c))
				last_hyphen = false;
			else if (c == '-' && p->i > sub)
				last_hyphen = true;
			else
				break;
			p->i++;
		}
		if (p->i == sub || last_hyphen)
			return false;
		if (p->i < p->len && p->s[p->i] == '.' && p->i + 1 < p->len &&
		    p->s[p->i + 1] != '>' && p->s[p->i + 1] != ',' && p->s[p->i + 1] != ':') {
			p->i++;
			continue;
		}
		break;
	}
	return p->i - start <= SMTP_MAX_DOMAIN;
}

/* address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General ) "]". General
 * literals (tag ":" dcontent) name no address we can use: refused. */
static bool parse_literal(struct pstate *p)
{
	const char *close = memchr(p->s + p->i, ']', p->len - p->i);
	if (close == NULL)
		return false;
	const char *in = p->s + p->i + 1;
	size_t n = (size_t)(close - in);
	char tmp[64];
	unsigned char addr[16];
	if (n >= 5 && mem_ieq(in, 5, "IPv6:")) {
		if (n - 5 >= sizeof tmp)
			return false;
		memcpy(tmp, in + 5, n - 5);
		tmp[n - 5] = '\0';
		if (inet_pton(AF_INET6, tmp, addr) != 1)
			return false;
	} else {
		if (n >= sizeof tmp)
			return false;
		memcpy(tmp, in, n);
		tmp[n] = '\0';
		if (inet_pton(AF_INET, tmp, addr) != 1)
			return false;
	}
	p->i = (size_t)(close - p->s) + 1;
	return true;
}

/* Local-part = Dot-string / Quoted-string. */
static bool parse_local(struct pstate *p, bool *quoted_r)
{
	*quoted_r = false;
	if (p->i < p->len && p->s[p->i] == '"') {
		*quoted_r = true;
		p->i++;
		while (p->i < p->len && p->s[p->i] != '"') {
			unsigned char c = (unsigned char)p->s[p->i];
			if (c == '\\') {
				if (p->i + 1 >= p->len)
					return false;
				unsigned char q = (unsigned char)p->s[p->i + 1];
				if (q < 32 || q > 126)
					return false;
				p->i += 2;
			} else if (c >= 0x80) {
				if (!take_utf8(p))
					return false;
			} else if (c >= 32 && c <= 126) {
				p->i++;
			} else {
				return false;
			}
		}
		if (p->i >= p->len)
			return false;
		p->i++;
		return true;
	}
	for (;;) {
		size_t atom = p->i;
		while (p->i < p->len) {
			unsigned char c = (unsigned char)p->s[p->i];
			if (c >= 0x80) {
				if (!take_utf8(p))
					return false;
			} else if (is_atext(c)) {
				p->i++;
			} else {
				break;
			}
		}
		if (p->i == atom)
			return false;
		if (p->i < p->len && p->s[p->i] == '.') {
			p->i++;
			continue;
		}
		return true;
	}
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>" when null_ok. The source
 * route (A-d-l) is parsed and dropped (RFC 5321 4.1.1.3 and appendix C). */
static enum smtp_err parse_path(struct pstate *p, bool null_ok, bool postmaster_ok,
				struct smtp_path *r)
{
	memset(r, 0, sizeof *r);
	size_t start = p->i;
	p->err = SMTP_ERR_ADDRESS;
	if (p->i >= p->len || p->s[p->i] != '<')
		return SMTP_ERR_ARGS;
	/* Measure the path before looking inside, so an overlong one is
	 * reported as such whatever it holds. */
	const char *gt = memchr(p->s + p->i, '>', p->len - p->i);
	if (gt == NULL)
		return SMTP_ERR_ARGS;
	size_t plen = (size_t)(gt - (p->s + p->i)) + 1;
	if (plen > SMTP_MAX_PATH) {
		/* A quoted local part may hold '>', so this can overestimate
		 * nothing: the real path is at least this long. */
		return SMTP_ERR_PATH_TOO_LONG;
	}
	p->i++;
	if (p->s[p->i] == '>') {
		if (!null_ok)
			return SMTP_ERR_ADDRESS;
		p->i++;
		r->null = true;
		return SMTP_OK;
	}
	if (p->s[p->i] == '@') {
		for (;;) {
			p->i++; /* '@' */
			if (p->i < p->len && p->s[p->i] == '[') {
				if (!parse_literal(p))
					return p->err;
			} else if (!parse_domain(p)) {
				return p->err;
			}
			if (p->i < p->len && p->s[p->i] == ',' && p->i + 1 < p->len && p->s[p->i + 1] == '@') {
				p->i++;
				continue;
			}
			break;
		}
		if (p->i >= p->len || p->s[p->i] != ':')
			return SMTP_ERR_ADDRESS;
		p->i++;
	}
	size_t lstart = p->i;
	if (!parse_local(p, &r->quoted))
		return p->err;
	r->local = p->s + lstart;
	r->local_len = p->i - lstart;
	if (p->i < p->len && p->s[p->i] == '>' && postmaster_ok && !r->quoted &&
	    mem_ieq(r->local, r->local_len, "postmaster")) {
		r->postmaster = true;
		r->addr = r->local;
		r->addr_len = r->local_len;
		p->i++;
		r->utf8 = p->utf8_seen;
		return SMTP_OK;
	}
	if (p->i >= p->len || p->s[p->i] != '@')
		return SMTP_ERR_ADDRESS;
	p->i++;
	size_t dstart = p->i;
	if (p->i < p->len && p->s[p->i] == '[') {
		if (!parse_literal(p))
			return p->err;
		r->literal = true;
	} else if (!parse_domain(p)) {
		return p->err;
	}
	r->domain = p->s + dstart;
	r->domain_len = p->i - dstart;
	if (p->i >= p->len || p->s[p->i] != '>')
		return SMTP_ERR_ADDRESS;
	r->addr = r->local;
	r->addr_len = p->i - lstart;
	p->i++;
	r->utf8 = p->utf8_seen;
	/* The quoted local part may have hidden a '>' from the length check. */
	if (p->i - start > SMTP_MAX_PATH)
		return SMTP_ERR_PATH_TOO_LONG;
	return SMTP_OK;
}

bool smtp_domain_eq(const struct smtp_path *p, const char *domain)
{
	return p->domain != NULL && mem_ieq(p->domain, p->domain_len, domain);
}

size_t smtp_domain_lower(const struct smtp_path *p, char *out, size_t cap)
{
	size_t n = 0;
	if (cap == 0)
		return 0;
	for (; n < p->domain_len && n + 1 < cap; n++) {
		char c = p->domain[n];
		out[n] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[n] = '\0';
	return n;
}

/* ---- parameters ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t smtp_xtext_decode(const char *in, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char b;
		if (c == '+') {
			/* hexchar is "+" and two upper-case hex digits. */
			if (i + 2 >= len)
				return -1;
			int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			b = (char)(h * 16 + l);
			i += 2;
		} else if (c >= 33 && c <= 126 && c != '=') {
			b = (char)c;
		} else {
			return -1;
		}
		if (o >= cap)
			return -1;
		out[o++] = b;
	}
	return (ssize_t)o;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 with SMTPUTF8. */
static bool value_ok(const char *v, size_t n, bool utf8)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c >= 0x80 && utf8) {
			size_t k = utf8_seq(v + i, n - i);
			if (k == 0)
				return false;
			i += k - 1;
			continue;
		}
		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

struct param {
	const char *key, *val;
	size_t key_len, val_len;
	bool has_val;
};

/* Split the rest of the line after the path into parameters. RFC 5321 wants
 * exactly one space between them; runs of spaces are taken. */
static enum smtp_err split_params(const char *s, size_t len, struct param *ps, unsigned *n_r)
{
	size_t i = 0;
	unsigned n = 0;
	if (len > 0 && s[0] != ' ')
		return SMTP_ERR_ARGS; /* junk right after '>' */
	while (i < len) {
		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (n == SMTP_MAX_PARAMS)
			return SMTP_ERR_TOO_MANY_PARAMS;
		struct param *p = &ps[n++];
		const char *eq = memchr(s + start, '=', i - start);
		p->key = s + start;
		p->key_len = eq ? (size_t)(eq - p->key) : i - start;
		p->has_val = eq != NULL;
		p->val = eq ? eq + 1 : NULL;
		p->val_len = eq ? (size_t)(s + i - p->val) : 0;
		/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		if (p->key_len == 0 || !is_letdig((unsigned char)p->key[0]))
			return SMTP_ERR_ARGS;
		for (size_t k = 1; k < p->key_len; k++)
			if (!is_letdig((unsigned char)p->key[k]) && p->key[k] != '-')
				return SMTP_ERR_ARGS;
	}
	*n_r = n;
	return SMTP_OK;
}

static bool key_is(const struct param *p, const char *name)
{
	return mem_ieq(p->key, p->key_len, name);
}

/* "FROM:" or "TO:", then the path. RFC 5321 allows no space after the
 * colon, but many clients send "MAIL FROM: <a@b>"; we accept spaces there, as
 * most servers do, since nothing is ambiguous about it. */
static enum smtp_err path_prefix(const char *args, size_t len, const char *kw, size_t *i_r)
{
	size_t k = strlen(kw);
	if (len < k || !mem_ieq(args, k, kw))
		return SMTP_ERR_ARGS;
	size_t i = k;
	while (i < len && args[i] == ' ')
		i++;
	*i_r = i;
	return SMTP_OK;
}

/* Whether a later parameter on the same line says SMTPUTF8: MAIL FROM's path
 * may be UTF-8 only then, and the parameter follows the path. */
static bool mentions_smtputf8(const char *s, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i++)
		if ((i == 0 || s[i - 1] == ' ') && mem_ieq(s + i, 8, "SMTPUTF8") &&
		    (i + 8 == len || s[i + 8] == ' '))
			return true;
	return false;
}

enum smtp_err smtp_parse_mail(const char *args, size_t len, unsigned flags, struct smtp_mail *r)
{
	memset(r, 0, sizeof *r);
	size_t i;
	enum smtp_err e = path_prefix(args, len, "FROM:", &i);
	if (e != SMTP_OK)
		return e;
	const char *gt = i < len ? memchr(args + i, '>', len - i) : NULL;
	bool utf8 = (flags & SMTP_PARSE_UTF8) ||
		    (gt != NULL && mentions_smtputf8(gt + 1, (size_t)(args + len - gt - 1)));
	struct pstate ps = {args, len, i, utf8, false, SMTP_ERR_ADDRESS};
	e = parse_path(&ps, true, false, &r->from);
	if (e != SMTP_OK)
		return e;
	struct param p[SMTP_MAX_PARAMS];
	unsigned n;
	e = split_params(args + ps.i, len - ps.i, p, &n);
	if (e != SMTP_OK)
		return e;
	for (unsigned k = 0; k < n; k++) {
		unsigned bit;
		if (key_is(&p[k], "SIZE"))
			bit = SMTP_P_SIZE;
		else if (key_is(&p[k], "BODY"))
			bit = SMTP_P_BODY;
		else if (key_is(&p[k], "SMTPUTF8"))
			bit = SMTP_P_SMTPUTF8;
		else if (key_is(&p[k], "RET"))
			bit = SMTP_P_RET;
		else if (key_is(&p[k], "ENVID"))
			bit = SMTP_P_ENVID;
		else if (key_is(&p[k], "AUTH"))
			bit = SMTP_P_AUTH;
		else
			return SMTP_ERR_PARAM_UNKNOWN;
		if (r->params_seen & bit)
			return SMTP_ERR_PARAM_DUP;
		r->params_seen |= bit;
		if (bit == SMTP_P_SMTPUTF8) {
			if (p[k].has_val)
				return SMTP_ERR_PARAM_VALUE;
			r->smtputf8 = true;
			continue;
		}
		if (!value_ok(p[k].val, p[k].val_len, false))
			return SMTP_ERR_PARAM_VALUE;
		const char *v = p[k].val;
		size_t vl = p[k].val_len;
		switch (bit) {
		case SMTP_P_SIZE:
			for (size_t d = 0; d < vl; d++)
				if (!is_digit((unsigned char)v[d]))
					return SMTP_ERR_PARAM_VALUE;
			if (vl > SMTP_MAX_SIZE_DIGITS || !parse_uint(v, vl, UINT64_MAX, &r->size))
				return SMTP_ERR_SIZE_TOO_BIG;
			break;
		case SMTP_P_BODY:
			if (mem_ieq(v, vl, "7BIT"))
				r->body = SMTP_BODY_7BIT;
			else if (mem_ieq(v, vl, "8BITMIME"))
				r->body = SMTP_BODY_8BITMIME;
			else if (mem_ieq(v, vl, "BINARYMIME"))
				r->body = SMTP_BODY_BINARYMIME;
			else
				return SMTP_ERR_PARAM_NOTIMPL;
			break;
		case SMTP_P_RET:
			if (mem_ieq(v, vl, "FULL"))
				r->ret = SMTP_RET_FULL;
			else if (mem_ieq(v, vl, "HDRS"))
				r->ret = SMTP_RET_HDRS;
			else
				return SMTP_ERR_PARAM_VALUE;
			break;
		case SMTP_P_ENVID: {
			if (vl > SMTP_MAX_ENVID)
				return SMTP_ERR_PARAM_VALUE;
			ssize_t d = smtp_xtext_decode(v, vl, r->envid, SMTP_MAX_ENVID);
			if (d < 0)
				return SMTP_ERR_PARAM_VALUE;
			r->envid_len = (size_t)d;
			r->envid[d] = '\0';
			break;
		}
		case SMTP_P_AUTH: {
			if (vl == 2 && v[0] == '<' && v[1] == '>') {
				r->auth_null = true;
				break;
			}
			ssize_t d = smtp_xtext_decode(v, vl, r->auth, SMTP_MAX_ORCPT);
			if (d < 0)
				return SMTP_ERR_PARAM_VALUE;
			r->auth_len = (size_t)d;
			r->auth[d] = '\0';
			break;
		}
		}
	}
	/* A UTF-8 path needs SMTPUTF8 on this very command, not just somewhere
	 * in the line: mentions_smtputf8() was a look-ahead only. */
	if (r->from.utf8 && !r->smtputf8 && !(flags & SMTP_PARSE_UTF8))
		return SMTP_ERR_UTF8_NEEDED;
	return SMTP_OK;
}

enum smtp_err smtp_parse_rcpt(const char *args, size_t len, unsigned flags, struct smtp_rcpt *r)
{
	memset(r, 0, sizeof *r);
	size_t i;
	enum smtp_err e = path_prefix(args, len, "TO:", &i);
	if (e != SMTP_OK)
		return e;
	struct pstate ps = {args, len, i, (flags & SMTP_PARSE_UTF8) != 0, false, SMTP_ERR_ADDRESS};
	e = parse_path(&ps, false, true, &r->to);
	if (e != SMTP_OK)
		return e;
	struct param p[SMTP_MAX_PARAMS];
	unsigned n;
	e = split_params(args + ps.i, len - ps.i, p, &n);
	if (e != SMTP_OK)
		return e;
	for (unsigned k = 0; k < n; k++) {
		unsigned bit;
		if (key_is(&p[k], "NOTIFY"))
			bit = SMTP_P_NOTIFY;
		else if (key_is(&p[k], "ORCPT"))
			bit = SMTP_P_ORCPT;
		else
			return SMTP_ERR_PARAM_UNKNOWN;
		if (r->params_seen & bit)
			return SMTP_ERR_PARAM_DUP;
		r->params_seen |= bit;
		if (!value_ok(p[k].val, p[k].val_len, false))
			return SMTP_ERR_PARAM_VALUE;
		const char *v = p[k].val;
		size_t vl = p[k].val_len;
		if (bit == SMTP_P_NOTIFY) {
			/* "NEVER" alone, or a comma list of SUCCESS, FAILURE, DELAY. */
			size_t s = 0;
			while (s <= vl) {
				const char *c = memchr(v + s, ',', vl - s);
				size_t end = c ? (size_t)(c - v) : vl;
				unsigned b;
				if (mem_ieq(v + s, end - s, "NEVER"))
					b = SMTP_NOTIFY_NEVER;
				else if (mem_ieq(v + s, end - s, "SUCCESS"))
					b = SMTP_NOTIFY_SUCCESS;
				else if (mem_ieq(v + s, end - s, "FAILURE"))
					b = SMTP_NOTIFY_FAILURE;
				else if (mem_ieq(v + s, end - s, "DELAY"))
					b = SMTP_NOTIFY_DELAY;
				else
					return SMTP_ERR_PARAM_VALUE;
				if (r->notify & b)
					return SMTP_ERR_PARAM_VALUE;
				r->notify |= b;
				s = end + 1;
			}
			if ((r->notify & SMTP_NOTIFY_NEVER) && r->notify != SMTP_NOTIFY_NEVER)
				return SMTP_ERR_PARAM_VALUE;
		} else {
			/* ORCPT = addr-type ";" xtext */
			if (vl > SMTP_MAX_ORCPT)
				return SMTP_ERR_PARAM_VALUE;
			const char *semi = memchr(v, ';', vl);
			if (semi == NULL || semi == v)
				return SMTP_ERR_PARAM_VALUE;
			r->orcpt_type = v;
			r->orcpt_type_len = (size_t)(semi - v);
			for (size_t t = 0; t < r->orcpt_type_len; t++)
				if (!is_letdig((unsigned char)v[t]) && v[t] != '-')
					return SMTP_ERR_PARAM_VALUE;
			size_t rest = vl - r->orcpt_type_len - 1;
			ssize_t d = smtp_xtext_decode(semi + 1, rest, r->orcpt, SMTP_MAX_ORCPT);
			if (d <= 0)
				return SMTP_ERR_PARAM_VALUE;
			r->orcpt_len = (size_t)d;
			r->orcpt[d] = '\0';
		}
	}
	return SMTP_OK;
}

enum smtp_err smtp_parse_helo(const char *args, size_t len, const char **name_r,
			      size_t *name_len_r, bool *valid_r)
{
	*name_r = args;
	*name_len_r = 0;
	*valid_r = false;
	size_t n = 0;
	while (n < len && args[n] != ' ')
		n++;
	if (n == 0)
		return SMTP_ERR_ARGS;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)args[i];
		if (c < 33 || c == 127)
			return SMTP_ERR_ARGS;
	}
	*name_len_r = n;
	struct pstate ps = {args, n, 0, true, false, SMTP_ERR_ARGS};
	if (args[0] == '[')
		*valid_r = parse_literal(&ps) && ps.i == n;
	else
		*valid_r = parse_domain(&ps) && ps.i == n;
	return SMTP_OK;
}
