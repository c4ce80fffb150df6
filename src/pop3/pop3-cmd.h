/* POP3 command lines as data: framing, splitting into a verb and arguments,
 * strict number parsing. No sockets and no session state, so that every rule
 * here is unit-tested (tests/unit/test-pop3.c) and can be fuzzed alone. */
#ifndef ROOST_POP3_CMD_H
#define ROOST_POP3_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest command line we accept, terminator included. RFC 2449 allows 255
 * octets for commands, which is too short for AUTH PLAIN with a long password:
 * base64 of authzid NUL authcid NUL passwd at AUTH_MAX_USERNAME (320) and
 * AUTH_MAX_PASSWORD (512) is 1544 characters, plus "AUTH PLAIN " and CRLF. */
#define POP3_MAX_LINE 4096
/* Arguments kept per command; commands taking more are rejected. */
#define POP3_MAX_ARGS 2

struct pop3_token {
	const char *p;
	size_t len;
};

struct pop3_cmd {
	struct pop3_token verb;
	/* Everything after the verb and its single separating space, verbatim:
	 * PASS and USER take it whole because passwords may contain spaces
	 * (RFC 1939 section 7). */
	struct pop3_token rest;
	struct pop3_token args[POP3_MAX_ARGS];
	/* Space-separated arguments found; may exceed POP3_MAX_ARGS, in which case
	 * only the first POP3_MAX_ARGS are stored. */
	unsigned n_args;
};

enum pop3_parse_result {
	POP3_PARSE_OK,
	POP3_PARSE_EMPTY, /* blank line or a line starting with a space */
	POP3_PARSE_NUL,   /* a NUL byte somewhere in the line */
};

/* Length of the first command line in in[0..len) including its LF; 0 when no
 * LF has arrived yet; -1 (FRAME_TOOLONG) when the line is already longer than
 * POP3_MAX_LINE. */
ssize_t pop3_frame(const char *in, size_t len);

/* Length of a framed line without its terminator (CRLF or a bare LF). */
size_t pop3_line_strip(const char *line, size_t len);

/* Split a stripped line. The tokens point into line. Arguments are separated by
 * runs of spaces; trailing spaces are ignored for them (not for rest). */
enum pop3_parse_result pop3_cmd_parse(const char *line, size_t len, struct pop3_cmd *cmd_r);

/* Case-insensitive verb comparison. */
bool pop3_verb_is(const struct pop3_cmd *cmd, const char *name);

/* A message number: decimal digits only (no sign, no spaces), 1..UINT32_MAX. */
bool pop3_parse_msgnum(struct pop3_token t, uint32_t *r);
/* A line count for TOP: decimal digits only, 0..UINT64_MAX. */
bool pop3_parse_count(struct pop3_token t, uint64_t *r);

/* True when s[0..len) holds no byte below 0x20 and no DEL. */
bool pop3_no_controls(const char *s, size_t len);

#endif
