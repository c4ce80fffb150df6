/* The incremental IMAP command parser (RFC 9051, RFC 3501, LITERAL+ RFC 7888,
 * BINARY literal8 RFC 3516): bytes in, complete commands out, as a tree of
 * arguments. No sockets and no session state, so it is unit-tested byte by byte
 * (tests/unit/test-imap-parse.c) and fuzzed (fuzz/fuzz-imap-parse.c).
 *
 * How a session drives it: call imap_parse_feed() with the input it has; it
 * consumes bytes up to the next event and returns
 *   IMAP_PARSE_MORE          everything was consumed; feed more when it arrives
 *   IMAP_PARSE_LITERAL_WAIT  a synchronizing literal {n} was announced: send
 *                            "+ Ready for literal data" and keep feeding
 *                            (imap_parse_literal_size() tells n, so APPEND can
 *                            check quota before saying yes)
 *   IMAP_PARSE_DONE          a complete command: imap_parse_command()
 *   IMAP_PARSE_ERROR         a syntax error: send "TAG BAD reason" (or "* BAD"
 *                            when imap_parse_tag() is NULL) with
 *                            imap_parse_error()
 *   IMAP_PARSE_TOOLONG       a limit was crossed (imap_parse_limit() says which):
 *                            IMAP_LIMIT_LITERAL -> "TAG NO [TOOBIG] ..." (the
 *                            client will not send a synchronizing literal's data),
 *                            the others -> "TAG BAD ..." (or "* BAD").
 * After ERROR and TOOLONG the parser skips the rest of the offending command by
 * itself, including the data of non-synchronizing literals it announces, so the
 * next pipelined command parses normally. The result of DONE/ERROR/TOOLONG stays
 * valid until the next imap_parse_feed(), which starts a new command: there is
 * no separate reset call to forget.
 *
 * Lines end in CRLF; a bare LF is accepted too (telnet users, some scripts). A
 * bare CR is an error. Empty lines between commands are ignored. NUL bytes are
 * an error everywhere except inside literal8 (~{n}). */
#ifndef ROOST_IMAP_PARSE_H
#define ROOST_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Bytes of command text per command outside literal data, line ends not counted. */
#define IMAP_MAX_LINE (64 * 1024)
/* Literal data per command, all literals together (later: the APPENDLIMIT). */
#define IMAP_MAX_LITERAL ((uint64_t)64 * 1024 * 1024)
/* Nesting of parenthesized lists and [section] brackets. */
#define IMAP_MAX_DEPTH 32
/* Arguments per command, counting every list, section and their members. */
#define IMAP_MAX_TOKENS 10000
/* Characters in a tag. */
#define IMAP_MAX_TAG 64

enum imap_parse_status {
	IMAP_PARSE_MORE,
	IMAP_PARSE_DONE,
	IMAP_PARSE_LITERAL_WAIT,
	IMAP_PARSE_ERROR,
	IMAP_PARSE_TOOLONG,
};

enum imap_limit {
	IMAP_LIMIT_NONE,
	IMAP_LIMIT_LINE,
	IMAP_LIMIT_LITERAL,
	IMAP_LIMIT_DEPTH,
	IMAP_LIMIT_TOKENS,
	IMAP_LIMIT_TAG,
};

enum imap_arg_type {
	IMAP_ARG_ATOM,    /* also sequence sets, flags (\Seen), "UID" subcommands */
	IMAP_ARG_NUMBER,  /* an atom of digits only that fits in uint64: num */
	IMAP_ARG_QUOTED,  /* escapes decoded, UTF-8 checked */
	IMAP_ARG_LITERAL, /* {n}, {n+} or ~{n}: see flags */
	IMAP_ARG_NIL,     /* the atom NIL, any case; str still holds it */
	IMAP_ARG_LIST,    /* ( ... ): list/list_count */
	IMAP_ARG_SECTION, /* BODY.PEEK[HEADER.FIELDS (FROM)]<0.1024>: str is the part
	                     before '[' ("BODY.PEEK"), list/list_count what is inside
	                     the brackets, partial the text between < and > or NULL */
};

#define IMAP_ARG_NONSYNC 1u  /* literal was {n+} */
#define IMAP_ARG_LITERAL8 2u /* literal was ~{n} (may contain NUL) */

struct imap_arg {
	enum imap_arg_type type;
	unsigned flags;
	/* Text of every type but LIST, NUL-terminated (a literal8 may also hold NULs
	 * inside: use len). Points into the parser; valid until the next feed. */
	const char *str;
	size_t len;
	uint64_t num;
	const struct imap_arg *list;
	size_t list_count;
	const char *partial;
	size_t partial_len;
};

struct imap_command {
	const char *tag;
	const char *name; /* upper-cased copy; "UID" keeps its subcommand as args[0] */
	const struct imap_arg *args;
	size_t n_args;
};

struct imap_ptok; /* internal token */

struct imap_parser {
	int state;
	enum imap_limit limit;
	const char *error;
	bool finished; /* DONE/ERROR/TOOLONG was returned: next feed starts afresh */
	bool have_tag, have_name;
	size_t tag_off, name_off;
	size_t line_bytes;   /* command text outside literals so far */
	uint64_t lit_total;  /* literal bytes so far in this command */
	uint64_t max_literal; /* literal bytes allowed per command (IMAP_MAX_LITERAL at most) */
	/* literal being announced or read */
	uint64_t lit_size, lit_left;
	unsigned lit_digits;
	unsigned lit_flags;
	/* skipping after an error */
	uint64_t skip_bytes; /* literal data still to drop */
	int skip_lit;        /* 0 none, 1 digits, 2 '+', 3 '}' seen, 4 '}' CR seen */
	uint64_t skip_n;
	unsigned skip_digits;
	bool skip_nonsync;
	struct buf text; /* tag, name, and every argument's bytes */
	struct imap_ptok *toks;
	size_t n_toks, cap_toks;
	unsigned depth;
	uint32_t sect_tok; /* the section whose ']' was seen last */
	uint32_t open[IMAP_MAX_DEPTH]; /* indexes of the open lists/sections */
	/* result of the last DONE */
	struct imap_arg *args;
	size_t cap_args;
	uint32_t *order;
	struct imap_command cmd;
};

struct imap_parser *imap_parser_new(void);
void imap_parser_free(struct imap_parser *p);
/* Literal data allowed per command from now on (a session allows little
 * before login); IMAP_MAX_LITERAL is the most. */
void imap_parser_set_max_literal(struct imap_parser *p, uint64_t max);

enum imap_parse_status imap_parse_feed(struct imap_parser *p, const char *in, size_t len, size_t *consumed_r);

/* After DONE, until the next feed. */
const struct imap_command *imap_parse_command(struct imap_parser *p);
/* The current command's tag once it has been read, else NULL. */
const char *imap_parse_tag(const struct imap_parser *p);
/* After ERROR/TOOLONG: a short human-readable reason. */
const char *imap_parse_error(const struct imap_parser *p);
/* After TOOLONG: which limit. */
enum imap_limit imap_parse_limit(const struct imap_parser *p);
/* The announced size of the literal being announced or read (after
 * LITERAL_WAIT, or after TOOLONG with IMAP_LIMIT_LITERAL), else 0. */
uint64_t imap_parse_literal_size(const struct imap_parser *p);

/* Case-insensitive command-name comparison. */
bool imap_command_is(const struct imap_command *cmd, const char *name);
/* A NUMBER argument that fits in 32 bits. */
bool imap_arg_uint32(const struct imap_arg *a, uint32_t *r);
/* Append a canonical one-line rendering of args to out (tests, debug logs):
 * atoms bare, strings and literals as quoted with escapes, lists in (). */
void imap_args_dump(const struct imap_arg *args, size_t n, struct buf *out);

#endif
