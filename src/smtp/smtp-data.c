/* The DATA reader as a byte-wise state machine that carries its state across
 * chunks, so its output does not depend on how the input was cut. Only a
 * CRLF that really is CR LF starts a line that can end the message or lose a
 * stuffed dot: a bare LF or bare CR does not, so "\n.\r\n" can never end the
 * data early (the "SMTP smuggling" confusion between servers). Bare line ends
 * are written as CRLF and counted; the session decides whether to refuse. */
#include "smtp/smtp-data.h"

#include <string.h>

#include "core/util.h"

void smtp_data_init(struct smtp_data *d)
{
	memset(d, 0, sizeof *d);
	d->state = SMTP_DATA_LINE_START;
}

static void end_line(struct smtp_data *d)
{
	if (d->line_len > d->longest)
		d->longest = d->line_len;
	if (d->line_len > SMTP_MAX_TEXT_LINE)
		d->long_lines++;
	d->line_len = 0;
}

size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len, struct buf *out)
{
	if (d->state == SMTP_DATA_DONE || len == 0)
		return 0;
	/* Each input byte writes at most 4 bytes (".\r" then a bare LF: CRLF CRLF). */
	if (len > (SIZE_MAX - 8) / 4)
		die("smtp_data_feed: chunk too large");
	char *o = buf_reserve(out, len * 4 + 8);
	size_t w = 0, i = 0;
	while (i < len) {
		char c = in[i];
		switch (d->state) {
		case SMTP_DATA_LINE_START:
			if (c == '.') {
				d->state = SMTP_DATA_DOT;
				i++;
				continue;
			}
			d->state = SMTP_DATA_MID;
			continue; /* the byte again, as part of the line */
		case SMTP_DATA_DOT:
			if (c == '\r') {
				d->state = SMTP_DATA_DOT_CR;
				i++;
				continue;
			}
			/* A stuffed dot: dropped (RFC 5321 4.5.2). */
			d->state = SMTP_DATA_MID;
			continue;
		case SMTP_DATA_DOT_CR:
			if (c == '\n') {
				d->state = SMTP_DATA_DONE;
				i++;
				goto out;
			}
			/* "." then a bare CR: an empty line (the dot was stuffing). */
			d->bare_cr++;
			o[w++] = '\r';
			o[w++] = '\n';
			end_line(d);
			d->state = SMTP_DATA_MID;
			continue;
		case SMTP_DATA_CR:
			if (c == '\n') {
				o[w++] = '\r';
				o[w++] = '\n';
				end_line(d);
				d->state = SMTP_DATA_LINE_START;
				i++;
				continue;
			}
			d->bare_cr++;
			o[w++] = '\r';
			o[w++] = '\n';
			end_line(d);
			d->state = SMTP_DATA_MID;
			continue;
		case SMTP_DATA_MID:
			if (c == '\r') {
				d->state = SMTP_DATA_CR;
			} else if (c == '\n') {
				d->bare_lf++;
				o[w++] = '\r';
				o[w++] = '\n';
				end_line(d);
			} else {
				if (c == '\0')
					d->nul++;
				o[w++] = c;
				d->line_len++;
			}
			i++;
			continue;
		case SMTP_DATA_DONE:
			goto out;
		}
	}
out:
	buf_commit(out, w);
	d->octets += w;
	return i;
}

enum smtp_err smtp_bdat_parse(const char *args, size_t len, struct smtp_bdat *r)
{
	memset(r, 0, sizeof *r);
	size_t n = 0;
	while (n < len && args[n] >= '0' && args[n] <= '9')
		n++;
	if (n == 0 || (n < len && args[n] != ' '))
		return SMTP_ERR_ARGS;
	if (n > SMTP_MAX_SIZE_DIGITS || !parse_uint(args, n, UINT64_MAX, &r->size))
		return SMTP_ERR_SIZE_TOO_BIG;
	size_t i = n;
	while (i < len && args[i] == ' ')
		i++;
	if (i < len) {
		size_t e = len;
		while (e > i && args[e - 1] == ' ')
			e--;
		if (!mem_ieq(args + i, e - i, "LAST"))
			return SMTP_ERR_ARGS;
		r->last = true;
	}
	r->left = r->size;
	return SMTP_OK;
}

size_t smtp_bdat_take(struct smtp_bdat *b, size_t avail)
{
	size_t n = (uint64_t)avail < b->left ? avail : (size_t)b->left;
	b->left -= n;
	return n;
}
