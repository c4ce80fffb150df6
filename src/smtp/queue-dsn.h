/* Delivery status notifications (RFC 3464, RFC 3461 section 6): the
 * multipart/report message the queue sends back to a sender, built from
 * plain data with no store and no sockets so it can be tested alone. */
#ifndef ROOST_SMTP_QUEUE_DSN_H
#define ROOST_SMTP_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Returned content larger than this is cut to its header (RET=FULL too). */
#define QUEUE_DSN_MAX_RETURN (10u * 1024 * 1024)

struct queue_dsn_rcpt {
	const char *addr;        /* Final-Recipient */
	const char *orcpt;       /* "rfc822;addr" as given with ORCPT, or NULL */
	const char *action;      /* "failed", "delayed", "delivered", "relayed" */
	const char *status;      /* "5.1.1" */
	const char *diagnostic;  /* the remote's reply ("550 5.1.1 ..."), or NULL */
	const char *remote_mta;  /* the host that answered, or NULL */
	int64_t will_retry_until; /* "delayed": when the queue gives up, else 0 */
};

struct queue_dsn {
	const char *reporting_mta; /* our host name */
	const char *to;            /* the original's envelope sender */
	const char *envid;         /* or NULL */
	int ret;                   /* enum smtp_ret: what of the original to return */
	int64_t arrival;           /* when the original was queued/received */
	int64_t now;
	const char *orig;          /* the original message (CRLF) */
	size_t orig_len;
	const struct queue_dsn_rcpt *rcpts;
	size_t n;
};

/* The notification as a message in CRLF form, appended to out. RET=HDRS
 * returns the header (text/rfc822-headers), RET=FULL the whole message
 * (message/rfc822); without RET a failure returns the whole message and
 * other notices the header. */
void queue_dsn_build(const struct queue_dsn *d, struct buf *out);

/* The status code of a reply: its enhanced code when it has one, else
 * "C.0.0" from the reply's class. out must hold 16 bytes. */
void queue_dsn_status(int code, const char *enh, char *out);

/* An RFC 5322 date (UTC). out must hold 40 bytes. */
void queue_dsn_date(int64_t t, char *out);

#endif
