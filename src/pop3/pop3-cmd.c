/* Framing and tokenizing of POP3 command lines. A line ends at LF (CRLF or a
 * bare LF, both stripped); the verb is everything up to the first space and is
 * compared case-insensitively; numbers are plain decimal digits with explicit
 * bounds. Nothing here allocates, and tokens always point into the caller's line. */
#include "pop3/pop3-cmd.h"

#include <string.h>

#include "core/util.h"
#include "net/conn.h"

ssize_t pop3_frame(const char *in, size_t len)
{
	size_t scan = len < POP3_MAX_LINE ? len : POP3_MAX_LINE;
	const char *lf = memchr(in, '\n', scan);
	if (lf != NULL)
		return (ssize_t)(lf - in) + 1;
	/* POP3_MAX_LINE bytes without an LF: the line is longer than allowed. */
	return len >= POP3_MAX_LINE ? FRAME_TOOLONG : 0;
}

size_t pop3_line_strip(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

enum pop3_parse_result pop3_cmd_parse(const char *line, size_t len, struct pop3_cmd *cmd_r)
{
	memset(cmd_r, 0, sizeof *cmd_r);
	if (memchr(line, '\0', len) != NULL)
		return POP3_PARSE_NUL;
	size_t i = 0;
	while (i < len && line[i] != ' ')
		i++;
	if (i == 0)
		return POP3_PARSE_EMPTY;
	cmd_r->verb = (struct pop3_token){line, i};
	if (i == len) {
		cmd_r->rest = (struct pop3_token){line + len, 0};
		return POP3_PARSE_OK;
	}
	i++; /* the one space after the verb */
	cmd_r->rest = (struct pop3_token){line + i, len - i};
	while (i < len) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && line[i] != ' ')
			i++;
		if (cmd_r->n_args < POP3_MAX_ARGS)
			cmd_r->args[cmd_r->n_args] = (struct pop3_token){line + start, i - start};
		cmd_r->n_args++;
	}
	return POP3_PARSE_OK;
}

bool pop3_verb_is(const struct pop3_cmd *cmd, const char *name)
{
	return mem_ieq(cmd->verb.p, cmd->verb.len, name);
}

bool pop3_parse_msgnum(struct pop3_token t, uint32_t *r)
{
	uint64_t v;
	if (!parse_uint(t.p, t.len, UINT32_MAX, &v) || v == 0)
		return false;
	*r = (uint32_t)v;
	return true;
}

bool pop3_parse_count(struct pop3_token t, uint64_t *r)
{
	return parse_uint(t.p, t.len, UINT64_MAX, r);
}

bool pop3_no_controls(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}
