/* SMTP and LMTP command lines as data (RFC 5321 section 4.1, RFC 2033): line
 * framing with named limits, verb recognition, MAIL FROM and RCPT TO paths and
 * their ESMTP parameters, HELO/EHLO/LHLO and BDAT arguments. No sockets and no
 * session state: a line goes in, a struct or an error comes out, and
 * smtp_err_reply() turns the error into the reply the session sends. */
#ifndef ROOST_SMTP_PARSE_H
#define ROOST_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A command line, CRLF included (RFC 5321 section 4.5.3.1.4). */
#define SMTP_MAX_LINE 1000
/* An AUTH command or a SASL response line (RFC 4954 section 4). */
#define SMTP_MAX_AUTH_LINE 12288
/* A path, angle brackets and source route included (RFC 5321 4.5.3.1.3). */
#define SMTP_MAX_PATH 256
/* A domain (RFC 5321 4.5.3.1.2). */
#define SMTP_MAX_DOMAIN 255
/* ESMTP parameters on one MAIL or RCPT; more is a 501. */
#define SMTP_MAX_PARAMS 16
/* ENVID and ORCPT values, in their xtext form (RFC 3461 sections 4.4, 4.2). */
#define SMTP_MAX_ENVID 100
#define SMTP_MAX_ORCPT 500
/* A SIZE value: 1*20DIGIT (RFC 1870). */
#define SMTP_MAX_SIZE_DIGITS 20

enum smtp_verb {
	SMTP_VERB_UNKNOWN,
	SMTP_VERB_EHLO,
	SMTP_VERB_HELO,
	SMTP_VERB_LHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

/* Every way a line can be refused. smtp_err_reply() gives the reply. */
enum smtp_err {
	SMTP_OK = 0,
	SMTP_ERR_UNKNOWN_CMD,   /* 500 5.5.1 */
	SMTP_ERR_SYNTAX,        /* 500 5.5.2: empty line, NUL byte */
	SMTP_ERR_LINE_TOO_LONG, /* 500 5.5.6 */
	SMTP_ERR_ARGS,          /* 501 5.5.4: bad or unexpected arguments */
	SMTP_ERR_PATH_TOO_LONG, /* 501 5.1.3 */
	SMTP_ERR_ADDRESS,       /* 553 5.1.3: not an address */
	SMTP_ERR_UTF8_NEEDED,   /* 553 5.6.7: non-ASCII address without SMTPUTF8 */
	SMTP_ERR_BAD_UTF8,      /* 501 5.6.7: ill-formed UTF-8 */
	SMTP_ERR_PARAM_UNKNOWN, /* 555 5.5.4: unknown, or not valid with this command */
	SMTP_ERR_PARAM_DUP,     /* 501 5.5.4 */
	SMTP_ERR_PARAM_VALUE,   /* 501 5.5.4: bad value, bad xtext */
	SMTP_ERR_PARAM_NOTIMPL, /* 504 5.5.4: a value we do not implement */
	SMTP_ERR_TOO_MANY_PARAMS, /* 501 5.5.4 */
	SMTP_ERR_SIZE_TOO_BIG,  /* 552 5.3.4: SIZE beyond any number we hold */
};

/* The reply line for an error, without CRLF, with its RFC 3463 enhanced
 * status code: "501 5.5.4 Syntax error in parameters". Never NULL. */
const char *smtp_err_reply(enum smtp_err e);

/* Length of the first line in in[0..len) including its LF; 0 when no LF has
 * arrived yet; -1 (FRAME_TOOLONG) when the line is longer than allowed. The
 * limit is SMTP_MAX_LINE, or SMTP_MAX_AUTH_LINE for an AUTH command and when
 * sasl is set (the client's responses during an AUTH exchange). */
ssize_t smtp_frame(const char *in, size_t len, bool sasl);

/* Length of a framed line without its terminator (CRLF or a bare LF). */
size_t smtp_line_strip(const char *line, size_t len);

struct smtp_cmd {
	enum smtp_verb verb;
	/* Everything after the verb and its space, trailing spaces removed; it
	 * points into the caller's line. */
	const char *args;
	size_t args_len;
};

/* Recognise the verb of a stripped line (case-insensitive). DATA, RSET, QUIT
 * and STARTTLS with arguments are SMTP_ERR_ARGS; EHLO/HELO/LHLO/MAIL/RCPT/BDAT/
 * AUTH without are too. */
enum smtp_err smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd_r);

/* A path as given on the wire. All pointers point into the caller's line. */
struct smtp_path {
	bool null;       /* <> */
	bool postmaster; /* RCPT TO:<Postmaster>, no domain (RFC 5321 4.1.1.3) */
	bool quoted;     /* the local part is a quoted-string */
	bool literal;    /* the domain is an address literal, brackets included */
	bool utf8;       /* non-ASCII octets somewhere (only with SMTPUTF8) */
	const char *local;  /* as given, quotes included: local parts are case-sensitive */
	size_t local_len;
	const char *domain; /* as given: compare with smtp_domain_eq() */
	size_t domain_len;
	const char *addr;   /* local@domain, without brackets and source route */
	size_t addr_len;
};

/* Domains compare case-insensitively (ASCII only). */
bool smtp_domain_eq(const struct smtp_path *p, const char *domain);
/* The domain lower-cased into out (cap >= SMTP_MAX_DOMAIN + 1 always fits),
 * NUL-terminated; returns its length. */
size_t smtp_domain_lower(const struct smtp_path *p, char *out, size_t cap);

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

/* Bits for params_seen. */
#define SMTP_P_SIZE     (1u << 0)
#define SMTP_P_BODY     (1u << 1)
#define SMTP_P_SMTPUTF8 (1u << 2)
#define SMTP_P_RET      (1u << 3)
#define SMTP_P_ENVID    (1u << 4)
#define SMTP_P_AUTH     (1u << 5)
#define SMTP_P_NOTIFY   (1u << 6)
#define SMTP_P_ORCPT    (1u << 7)

/* NOTIFY bits (RFC 3461 4.1). NEVER excludes the others. */
#define SMTP_NOTIFY_NEVER   (1u << 0)
#define SMTP_NOTIFY_SUCCESS (1u << 1)
#define SMTP_NOTIFY_FAILURE (1u << 2)
#define SMTP_NOTIFY_DELAY   (1u << 3)

struct smtp_mail {
	struct smtp_path from;
	unsigned params_seen;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	/* xtext-decoded values; bounded by the named limits above. */
	char envid[SMTP_MAX_ENVID + 1];
	size_t envid_len;
	bool auth_null; /* AUTH=<> */
	char auth[SMTP_MAX_ORCPT + 1];
	size_t auth_len;
};

struct smtp_rcpt {
	struct smtp_path to;
	unsigned params_seen;
	unsigned notify;
	const char *orcpt_type; /* the addr-type, e.g. "rfc822", into the line */
	size_t orcpt_type_len;
	char orcpt[SMTP_MAX_ORCPT + 1]; /* xtext-decoded */
	size_t orcpt_len;
};

/* Flags for the parsers below. */
#define SMTP_PARSE_UTF8 (1u << 0) /* SMTPUTF8 was given on MAIL: RCPT may be UTF-8 */
#define SMTP_PARSE_LMTP (1u << 1) /* reserved for LMTP-only rules */

/* MAIL's arguments ("FROM:<path> params"). A UTF-8 path is allowed when the
 * same command carries SMTPUTF8 (or flags has SMTP_PARSE_UTF8). */
enum smtp_err smtp_parse_mail(const char *args, size_t len, unsigned flags, struct smtp_mail *r);
/* RCPT's arguments ("TO:<path> params"). */
enum smtp_err smtp_parse_rcpt(const char *args, size_t len, unsigned flags, struct smtp_rcpt *r);

/* HELO/EHLO/LHLO's argument: one token. Many clients send names that are not
 * domains, so any token of visible characters is taken; *valid_r says whether
 * it is a domain or an address literal. */
enum smtp_err smtp_parse_helo(const char *args, size_t len, const char **name_r,
			      size_t *name_len_r, bool *valid_r);

/* Decode xtext (RFC 3461 section 4) into out; -1 on bad xtext or when the
 * result would not fit in cap bytes. */
ssize_t smtp_xtext_decode(const char *in, size_t len, char *out, size_t cap);

#endif
