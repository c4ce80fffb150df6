/* SEARCH internals shared by imap-search.c (the command and its response
 * forms), imap-search-parse.c (arguments to a tree of criteria) and
 * imap-search-eval.c (the tree against one message). The parser knows no
 * session and no mailbox, so it is unit-tested alone; compiling a tree
 * against a view resolves what depends on the mailbox (sequence sets, "$",
 * keywords); matching then needs only a store entry and the stored text. */
#ifndef ROOST_IMAP_SEARCH_H
#define ROOST_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/imap-session.h"
#include "imap/imap-uids.h"
#include "store/store.h"

/* Nesting of NOT, OR and parenthesized lists in one search program. */
#define IMAP_SEARCH_MAX_DEPTH 64
/* Criteria in one command, and among them those that read text: each text
 * criterion may cost a pass over the whole mailbox's text. */
#define IMAP_SEARCH_MAX_KEYS 1000
#define IMAP_SEARCH_MAX_TEXT_KEYS 100

enum search_key_type {
	SK_AND,     /* children: all hold (a list, the program itself) */
	SK_OR,      /* children: two, either holds */
	SK_NOT,     /* child: one */
	SK_ALL,
	SK_NONE,    /* RECENT, NEW: Roost keeps no \Recent, so nothing is recent */
	SK_SEQSET,  /* a sequence set of message numbers */
	SK_UIDSET,  /* UID set */
	SK_FLAG,    /* flag set (or, with negate, not set) */
	SK_KEYWORD, /* keyword set (negate: UNKEYWORD) */
	SK_BEFORE, SK_ON, SK_SINCE,             /* INTERNALDATE, by day (UTC) */
	SK_SENTBEFORE, SK_SENTON, SK_SENTSINCE, /* Date: header, by its own day */
	SK_LARGER, SK_SMALLER,
	SK_HEADER,  /* field (FROM, TO, CC, BCC, SUBJECT, HEADER name) contains */
	SK_BODY,
	SK_TEXT,
	SK_MODSEQ,
};

struct search_key {
	enum search_key_type type;
	struct search_key *child; /* AND/OR/NOT: first operand */
	struct search_key *next;  /* next operand of the parent */
	bool negate;              /* FLAG, KEYWORD */
	uint32_t flag;            /* FLAG: a STORE_FLAG_* bit */
	const char *set;          /* SEQSET/UIDSET as written ("$" for SEARCHRES) */
	char *keyword;            /* KEYWORD */
	int64_t day;              /* dates: days since 1970-01-01 */
	uint64_t num;             /* LARGER, SMALLER, MODSEQ */
	char *field;              /* HEADER: lower-case field name */
	char *needle;             /* text criteria: case-folded key (NUL-terminated) */
	size_t needle_len;
	/* Filled in by imap_search_compile: */
	struct imap_range *ranges; /* SEQSET/UIDSET: as UID ranges, ascending */
	size_t n_ranges;
	int bit;                  /* KEYWORD: bit in the entry's keyword set, -1 when unknown */
};

/* RETURN options (RFC 4731, RFC 5182). */
#define SEARCH_RET_MIN 1u
#define SEARCH_RET_MAX 2u
#define SEARCH_RET_ALL 4u
#define SEARCH_RET_COUNT 8u
#define SEARCH_RET_SAVE 16u

struct search_query {
	struct search_key *root; /* an SK_AND of the top-level criteria */
	bool esearch;            /* RETURN (...) was given */
	unsigned ret;            /* SEARCH_RET_*; RETURN () means ALL */
	bool modseq;             /* a MODSEQ criterion: say MODSEQ in the result */
	unsigned want;           /* STORE_SCAN_* the criteria read */
	size_t n_keys, n_text;
	const struct store_text_filter *filter; /* for the store's index, or NULL */
	struct store_text_filter *filters;      /* the nodes it is made of */
	struct search_key **all; /* every key, to free them */
	size_t n_all, cap_all;
};

enum search_parse_status {
	SEARCH_PARSE_OK,
	SEARCH_PARSE_BAD,        /* syntax: BAD */
	SEARCH_PARSE_BADCHARSET, /* NO [BADCHARSET (UTF-8 US-ASCII)] */
	SEARCH_PARSE_LIMIT,      /* too many criteria: NO [LIMIT] */
};

/* imap-search-parse.c: the arguments after SEARCH (RETURN, CHARSET, then the
 * criteria) into q. *error_r explains anything but OK. The query points into
 * args for sets; free it with imap_search_free even after an error. */
enum search_parse_status imap_search_parse(const struct imap_arg *args, size_t n, struct search_query *q,
					   const char **error_r);
void imap_search_free(struct search_query *q);
/* A canonical rendering of the tree, for tests and debug logs. */
void imap_search_dump(const struct search_key *k, struct buf *out);
/* Parse an IMAP search date ("1-Feb-1994", quoted or not) to days since the
 * epoch; false when malformed. */
bool imap_search_date(const char *s, int64_t *day_r);

/* imap-search-eval.c */
struct search_env {
	const struct imap_uids *uids; /* the view's sequence numbers */
	const uint32_t *saved;   /* SEARCHRES UIDs (ascending), for "$" */
	size_t n_saved;
	bool saved_valid;
	char *const *keywords;   /* the mailbox's keyword list */
	size_t n_keywords;
};
/* Resolve sets and keywords against env, and build q->filter and the UID
 * bounds the criteria allow (*lo_r > *hi_r when nothing can match). Returns -1
 * with *error_r for a malformed set (BAD). */
int imap_search_compile(struct search_query *q, const struct search_env *env, uint32_t *lo_r, uint32_t *hi_r,
			const char **error_r);

/* One message as the evaluator sees it: its entry, and the search text and
 * sent date when the query wants them. */
struct search_msg {
	const struct store_entry *e;
	int64_t sent_date;
	const char *headers;
	size_t headers_len;
	const char *body;
	size_t body_len;
};
bool imap_search_match(const struct search_key *k, const struct search_msg *m);

/* Case-insensitive substring search over folded text (exported for tests). */
bool imap_search_contains(const char *hay, size_t hay_len, const char *needle, size_t needle_len);
/* HEADER field contains needle, in the "name: value\n" header text; an empty
 * needle matches any message that has the field. */
bool imap_search_header(const char *headers, size_t len, const char *field, const char *needle, size_t needle_len);
/* The day the Date: header was written on (its own time zone), from the
 * header text; false when there is none or it does not parse. */
bool imap_search_sent_day(const char *headers, size_t len, int64_t *day_r);

#endif
