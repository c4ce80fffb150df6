/* The incremental dot-stuffer behind RETR and TOP: message content goes in, in
 * chunks of any size, and the bytes of the multi-line response come out. It
 * carries its position (at the start of a line, inside the headers, TOP's line
 * budget) between chunks, so a message is never held in memory whole. */
#ifndef ROOST_POP3_STUFF_H
#define ROOST_POP3_STUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum pop3_blank { POP3_BLANK_EMPTY, POP3_BLANK_CR, POP3_BLANK_NO };

struct pop3_stuffer {
	uint64_t body_lines_left; /* TOP: body lines still to send */
	bool top;                 /* stop after the headers and body_lines_left lines */
	bool in_body;             /* the blank line ending the headers has been fed */
	bool line_start;          /* the next byte begins a line */
	bool prev_cr;             /* the last byte fed was CR */
	bool ends_crlf;           /* the bytes fed so far end with CRLF, or none were fed */
	bool done;                /* TOP's budget is used up: further input is ignored */
	enum pop3_blank blank;    /* how the current line looks so far (header end detection) */
};

/* RETR: top=false. TOP n k: top=true, body_lines=k. */
void pop3_stuff_init(struct pop3_stuffer *s, bool top, uint64_t body_lines);

/* Append the stuffed form of in[0..len) to out. Returns the number of input
 * bytes used: len, unless TOP's budget ran out within the chunk (then the
 * stuffer is done and the rest is not wanted). */
size_t pop3_stuff_feed(struct pop3_stuffer *s, const char *in, size_t len, struct buf *out);

static inline bool pop3_stuff_done(const struct pop3_stuffer *s) { return s->done; }

/* End the response: CRLF if the content did not end with one, then ".\r\n". */
void pop3_stuff_finish(struct pop3_stuffer *s, struct buf *out);

/* Octets RETR sends for stored content of size bytes, dot-stuffing not
 * counted: size, plus 2 when the content is not empty and does not end with
 * CRLF (the store records which: struct store_entry's ends_crlf). */
uint64_t pop3_wire_size(uint64_t size, bool ends_crlf);

#endif
