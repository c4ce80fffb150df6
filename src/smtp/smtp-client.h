/* The outbound SMTP client the queue delivers with (RFC 5321): blocking
 * sockets with timeouts, EHLO (HELO when refused), STARTTLS, AUTH PLAIN or
 * LOGIN, the SIZE/8BITMIME/SMTPUTF8/DSN parameters when the server offers
 * them, a reply per recipient and a dot-stuffed DATA. Replies are parsed by
 * smtp_reply_parse() and EHLO keywords by smtp_ehlo_parse(), which never
 * touch a socket, so they are unit-tested and fuzzed alone. */
#ifndef ROOST_SMTP_CLIENT_H
#define ROOST_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "smtp/smtp-parse.h"

/* A reply of up to this many bytes (all lines) and lines is accepted. */
#define SMTP_REPLY_MAX 16384
#define SMTP_REPLY_MAX_LINES 200
/* Text kept of a reply (for logs, the queue and DSN Diagnostic-Codes). */
#define SMTP_REPLY_TEXT_MAX 512

/* Timeouts in seconds: RFC 5321 4.5.3.2 asks for 5 minutes for most steps
 * and 10 for the final dot; a queue that retries anyway can wait less. */
#define SMTP_CLIENT_CONNECT_TIMEOUT 30
#define SMTP_CLIENT_GREETING_TIMEOUT 120
#define SMTP_CLIENT_CMD_TIMEOUT 120
#define SMTP_CLIENT_DATA_TIMEOUT 180
#define SMTP_CLIENT_DOT_TIMEOUT 300

struct smtp_reply {
	int code;                          /* 200..599 */
	char enh[16];                      /* "5.1.1", or "" when the reply has none */
	char text[SMTP_REPLY_TEXT_MAX];    /* "550 5.1.1 text" of every line, joined by spaces */
};

/* One complete reply from in[0..len): the bytes it spans (> 0), 0 when more
 * input is needed, -1 when it is malformed (no 3-digit code, codes that
 * differ between lines, a line or a reply too long). r is filled on > 0. */
ssize_t smtp_reply_parse(const char *in, size_t len, struct smtp_reply *r);

/* Extensions of an EHLO reply. */
#define SMTP_EXT_STARTTLS (1u << 0)
#define SMTP_EXT_SIZE (1u << 1)
#define SMTP_EXT_8BITMIME (1u << 2)
#define SMTP_EXT_SMTPUTF8 (1u << 3)
#define SMTP_EXT_DSN (1u << 4)
#define SMTP_EXT_PIPELINING (1u << 5)
#define SMTP_EXT_AUTH_PLAIN (1u << 6)
#define SMTP_EXT_AUTH_LOGIN (1u << 7)
#define SMTP_EXT_ENHANCEDSTATUSCODES (1u << 8)
struct smtp_ehlo {
	unsigned ext;
	uint64_t size; /* SIZE's limit, 0 when none is given */
};
/* The keywords of a raw EHLO reply (as parsed by smtp_reply_parse, lines
 * after the first); unknown ones are ignored. */
void smtp_ehlo_parse(const char *in, size_t len, struct smtp_ehlo *e);

/* xtext (RFC 3461 section 4) of s appended to out (NUL-terminated); false
 * when it would not fit in cap. */
bool smtp_xtext_encode(const char *s, char *out, size_t cap);

enum smtp_client_tls {
	SMTP_TLS_NONE,          /* never */
	SMTP_TLS_OPPORTUNISTIC, /* STARTTLS when offered, unverified (RFC 7435) */
	SMTP_TLS_STARTTLS,      /* STARTTLS required */
	SMTP_TLS_IMPLICIT,      /* TLS from the first byte */
};

struct smtp_client_config {
	const char *helo;       /* the name we give in EHLO */
	enum smtp_client_tls tls;
	bool verify;            /* check the certificate and host name (not for opportunistic) */
	const char *user;       /* AUTH when set (only over TLS or to a loopback address) */
	const char *password;
};

/* What a step ended with. */
enum smtp_client_status {
	SMTP_CLIENT_OK = 0,
	SMTP_CLIENT_TEMP = 1, /* try again later (or another host) */
	SMTP_CLIENT_PERM = 2, /* give up */
};

struct smtp_client;

/* Connect to host:port (every address it resolves to, in turn), read the
 * greeting, EHLO, STARTTLS and AUTH as configured. On failure *why_r says
 * why as a reply (a local problem reads "451 4.4.1 ..."). */
enum smtp_client_status smtp_client_open(const char *host, uint16_t port, const struct smtp_client_config *cfg,
					 struct smtp_client **c_r, struct smtp_reply *why_r);
/* The server's extensions and whether the session is encrypted. */
const struct smtp_ehlo *smtp_client_ehlo(const struct smtp_client *c);
bool smtp_client_tls_active(const struct smtp_client *c);
/* QUIT (best effort) and free. */
void smtp_client_close(struct smtp_client *c);
/* on: cut every open client connection short now and every one opened from
 * now on (a stopping server); off: connect normally again. Any thread. */
void smtp_client_abort(bool on);

struct smtp_client_rcpt {
	const char *addr;
	unsigned notify;        /* SMTP_NOTIFY_* as given, 0: none */
	const char *orcpt;      /* "rfc822;addr", or NULL */
	struct smtp_reply reply; /* filled: the outcome for this recipient */
};

struct smtp_client_msg {
	const char *sender;     /* "" for the null sender */
	bool smtputf8;
	enum smtp_body body;
	enum smtp_ret ret;
	const char *envid;      /* or NULL */
	const char *data;       /* CRLF form */
	size_t len;
	struct smtp_client_rcpt *rcpts;
	size_t n;
};

/* One transaction: MAIL, RCPT for each recipient, DATA. Every recipient's
 * reply tells its outcome (2xx: the server took responsibility; 4xx: try
 * again; 5xx: failed). Returns false when the connection can no longer be
 * used. */
bool smtp_client_send(struct smtp_client *c, struct smtp_client_msg *m);

/* Fill r with a locally made reply: "CODE ENH text". */
void smtp_reply_set(struct smtp_reply *r, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
