/* Dot-stuffing for RETR and TOP (RFC 1939 section 3), fed chunk by chunk. A
 * line is whatever ends at LF; a line that starts with '.' gets one more '.';
 * the response always ends with CRLF "." CRLF, and pop3_wire_size() predicts
 * exactly the unstuffed octets this module sends, so LIST, STAT and "+OK n
 * octets" agree with what the client receives. */
#include "pop3/pop3-stuff.h"

#include <string.h>

void pop3_stuff_init(struct pop3_stuffer *s, bool top, uint64_t body_lines)
{
	memset(s, 0, sizeof *s);
	s->top = top;
	s->body_lines_left = body_lines;
	s->line_start = true;
	s->ends_crlf = true;
	s->blank = POP3_BLANK_EMPTY;
}

/* Header end detection: a line is blank when it holds nothing, or one CR,
 * before its LF. Only the first two bytes of a line can matter. */
static void track_blank(struct pop3_stuffer *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n && s->blank != POP3_BLANK_NO; i++) {
		if (p[i] == '\n')
			break;
		s->blank = (s->blank == POP3_BLANK_EMPTY && p[i] == '\r') ? POP3_BLANK_CR : POP3_BLANK_NO;
	}
}

size_t pop3_stuff_feed(struct pop3_stuffer *s, const char *in, size_t len, struct buf *out)
{
	size_t i = 0;
	while (i < len && !s->done) {
		if (s->line_start) {
			if (in[i] == '.')
				buf_append(out, ".", 1);
			s->line_start = false;
		}
		const char *lf = memchr(in + i, '\n', len - i);
		size_t end = lf != NULL ? (size_t)(lf - in) + 1 : len;
		if (!s->in_body)
			track_blank(s, in + i, end - i);
		buf_append(out, in + i, end - i);
		if (lf != NULL) {
			s->ends_crlf = end - i >= 2 ? in[end - 2] == '\r' : s->prev_cr;
			s->prev_cr = false;
		} else {
			s->ends_crlf = false;
			s->prev_cr = in[end - 1] == '\r';
		}
		i = end;
		if (lf == NULL)
			break;
		s->line_start = true;
		if (!s->in_body) {
			if (s->blank != POP3_BLANK_NO) {
				s->in_body = true;
				if (s->top && s->body_lines_left == 0)
					s->done = true;
			}
			s->blank = POP3_BLANK_EMPTY;
		} else if (s->top) {
			if (--s->body_lines_left == 0)
				s->done = true;
		}
	}
	return i;
}

void pop3_stuff_finish(struct pop3_stuffer *s, struct buf *out)
{
	if (!s->ends_crlf)
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
	s->ends_crlf = true;
	s->line_start = true;
	s->done = true;
}

uint64_t pop3_wire_size(uint64_t size, bool ends_crlf)
{
	return size == 0 || ends_crlf ? size : size + 2;
}
