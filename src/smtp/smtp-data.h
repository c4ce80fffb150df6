/* The message text after DATA, and BDAT's framing (RFC 3030). The DATA reader
 * is fed bytes in chunks of any size and hands back the unstuffed message in
 * CRLF form, piece by piece, so a message is never held whole; it ends at
 * CRLF "." CRLF and reports what the session must judge: bare LF, bare CR,
 * NUL bytes and overlong lines. */
#ifndef ROOST_SMTP_DATA_H
#define ROOST_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "smtp/smtp-parse.h"

/* A text line, without its CRLF (RFC 5321 4.5.3.1.6). */
#define SMTP_MAX_TEXT_LINE 998

enum smtp_data_state {
	SMTP_DATA_LINE_START, /* after a real CRLF, or at the very start */
	SMTP_DATA_MID,        /* inside a line (or after a bare LF or CR) */
	SMTP_DATA_CR,         /* a CR was seen and not yet written */
	SMTP_DATA_DOT,        /* a '.' at the start of a line, not yet written */
	SMTP_DATA_DOT_CR,     /* ".\r" at the start of a line */
	SMTP_DATA_DONE,       /* CRLF "." CRLF has been read */
};

struct smtp_data {
	enum smtp_data_state state;
	uint64_t octets;      /* bytes written to out so far */
	uint64_t bare_lf;     /* LF not preceded by CR (written as CRLF) */
	uint64_t bare_cr;     /* CR not followed by LF (written as CRLF) */
	uint64_t nul;         /* NUL bytes (written as they are) */
	uint64_t long_lines;  /* lines longer than SMTP_MAX_TEXT_LINE */
	uint64_t longest;     /* the longest line, without its line end */
	uint64_t line_len;    /* the current line so far */
};

void smtp_data_init(struct smtp_data *d);

/* Feed in[0..len); append the message bytes to out. Returns the bytes used:
 * len, or fewer when the end marker arrived inside the chunk (the rest is the
 * client's next command, pipelined). The end marker is not written. */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t len, struct buf *out);

static inline bool smtp_data_done(const struct smtp_data *d) { return d->state == SMTP_DATA_DONE; }

/* BDAT's arguments: "<size> [LAST]" (RFC 3030 section 2). */
struct smtp_bdat {
	uint64_t size;  /* chunk size announced */
	uint64_t left;  /* chunk bytes still to come */
	bool last;
};

/* Parse "size [LAST]" and start counting the chunk. SMTP_ERR_ARGS on bad
 * syntax, SMTP_ERR_SIZE_TOO_BIG on a number beyond 20 digits or UINT64_MAX. */
enum smtp_err smtp_bdat_parse(const char *args, size_t len, struct smtp_bdat *r);

/* Of avail bytes that arrived, how many belong to the chunk; counts them off. */
size_t smtp_bdat_take(struct smtp_bdat *b, size_t avail);

static inline bool smtp_bdat_complete(const struct smtp_bdat *b) { return b->left == 0; }

#endif
