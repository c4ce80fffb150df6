/* libFuzzer target for the SMTP command-line parser: framing, verbs, MAIL and
 * RCPT paths with their parameters, HELO names and BDAT arguments must never
 * crash, read out of bounds or loop, and every pointer handed back must lie
 * inside the line it came from. */
#include <stdint.h>
#include <string.h>

#include "smtp/smtp-data.h"
#include "smtp/smtp-parse.h"

static void inside(const char *line, size_t len, const char *p, size_t n)
{
	if (p == NULL) {
		if (n != 0)
			__builtin_trap();
		return;
	}
	if (p < line || p + n > line + len)
		__builtin_trap();
}

static void check_path(const char *line, size_t len, const struct smtp_path *p)
{
	inside(line, len, p->local, p->local_len);
	inside(line, len, p->domain, p->domain_len);
	inside(line, len, p->addr, p->addr_len);
	if (p->domain_len > SMTP_MAX_DOMAIN || p->addr_len > SMTP_MAX_PATH)
		__builtin_trap();
	char low[SMTP_MAX_DOMAIN + 1];
	(void)smtp_domain_lower(p, low, sizeof low);
	(void)smtp_domain_eq(p, "example.com");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* The first byte picks the flags the session would pass. */
	unsigned flags = data[0] & (SMTP_PARSE_UTF8 | SMTP_PARSE_LMTP);
	bool sasl = (data[0] & 0x80) != 0;
	const char *in = (const char *)data + 1;
	size--;
	size_t off = 0;
	while (off < size) {
		ssize_t n = smtp_frame(in + off, size - off, sasl);
		if (n > 0 && (size_t)n > size - off)
			__builtin_trap();
		if (n > SMTP_MAX_AUTH_LINE)
			__builtin_trap();
		size_t linelen = n > 0 ? (size_t)n : size - off;
		const char *line = in + off;
		size_t len = smtp_line_strip(line, linelen);
		if (len > linelen)
			__builtin_trap();
		struct smtp_cmd cmd;
		enum smtp_err e = smtp_cmd_parse(line, len, &cmd);
		if (smtp_err_reply(e) == NULL)
			__builtin_trap();
		if (e == SMTP_OK || e == SMTP_ERR_ARGS)
			inside(line, len, cmd.args, cmd.args_len);
		if (e == SMTP_OK) {
			switch (cmd.verb) {
			case SMTP_VERB_MAIL: {
				struct smtp_mail m;
				e = smtp_parse_mail(cmd.args, cmd.args_len, flags, &m);
				if (e == SMTP_OK) {
					check_path(line, len, &m.from);
					if (m.envid_len > SMTP_MAX_ENVID || m.auth_len > SMTP_MAX_ORCPT)
						__builtin_trap();
					if (m.from.utf8 && !m.smtputf8 && !(flags & SMTP_PARSE_UTF8))
						__builtin_trap();
				}
				break;
			}
			case SMTP_VERB_RCPT: {
				struct smtp_rcpt r;
				e = smtp_parse_rcpt(cmd.args, cmd.args_len, flags, &r);
				if (e == SMTP_OK) {
					check_path(line, len, &r.to);
					inside(line, len, r.orcpt_type, r.orcpt_type_len);
					if (r.orcpt_len > SMTP_MAX_ORCPT || r.to.null)
						__builtin_trap();
					if (r.to.utf8 && !(flags & SMTP_PARSE_UTF8))
						__builtin_trap();
				}
				break;
			}
			case SMTP_VERB_EHLO:
			case SMTP_VERB_HELO:
			case SMTP_VERB_LHLO: {
				const char *name;
				size_t nl;
				bool valid;
				if (smtp_parse_helo(cmd.args, cmd.args_len, &name, &nl, &valid) == SMTP_OK)
					inside(line, len, name, nl);
				break;
			}
			case SMTP_VERB_BDAT: {
				struct smtp_bdat b;
				if (smtp_bdat_parse(cmd.args, cmd.args_len, &b) == SMTP_OK) {
					size_t t = smtp_bdat_take(&b, size);
					if (t > size || b.left > b.size)
						__builtin_trap();
				}
				break;
			}
			default:
				break;
			}
			if (smtp_err_reply(e) == NULL)
				__builtin_trap();
		}
		char x[64];
		(void)smtp_xtext_decode(line, len, x, sizeof x);
		off += linelen;
	}
	return 0;
}
