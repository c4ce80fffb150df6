/* The outbound queue: mail for remote recipients waits in the store until
 * the next hop (a relay host, a static route or the domain's MX) has taken
 * it, is retried with backoff after a 4xx, and comes back to its sender as a
 * delivery status notification (RFC 3464) after a 5xx or when it expires.
 * RFC 3461 parameters (NOTIFY, RET, ENVID, ORCPT) are kept with the message,
 * passed to a next hop that offers DSN and used in notifications. A
 * notification never goes to the null sender.
 *
 * The SMTP session calls queue_submit() (durable before it returns 0, so it
 * may answer 250) and queue_dsn_delivered() after a local delivery; the
 * server starts and stops the runner thread around the store's lifetime. */
#ifndef ROOST_SMTP_QUEUE_H
#define ROOST_SMTP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/server.h"
#include "smtp/smtp-parse.h"

struct queue_envelope {
	const char *sender;   /* NULL or "" for the null sender */
	const char *envid;    /* RFC 3461 ENVID (decoded), or NULL */
	enum smtp_ret ret;
	bool smtputf8;
	enum smtp_body body;
	int64_t account_id;   /* the submitting account, 0 when none */
};

struct queue_rcpt {
	const char *addr;
	unsigned notify;      /* SMTP_NOTIFY_* bits, 0 when not given */
	const char *orcpt;    /* NULL or the decoded "rfc822;addr" */
};

/* Queue data (the message as received, CRLF or LF line ends) for the remote
 * recipients rcpts[0..n). When DATA/dkim holds a key for the domain of the
 * From: header the stored message is DKIM-signed. Returns 0 once it is durable, -1 with *error_r (for logs). */
int queue_submit(struct server *srv, const struct queue_envelope *env, const struct queue_rcpt *rcpts, size_t n,
		 const char *data, size_t len, const char **error_r);

/* After a final local delivery: a "delivered" DSN to the envelope sender for
 * the recipients that asked for NOTIFY=SUCCESS (none: nothing is sent, and
 * never to the null sender). data is the delivered message (its headers are
 * returned). Returns 0, or -1 with *error_r. */
int queue_dsn_delivered(struct server *srv, const struct queue_envelope *env, const struct queue_rcpt *rcpts,
			size_t n, const char *data, size_t len, const char **error_r);

/* The runner thread: started by server_run after the store opened, stopped
 * before it closes. queue_kick makes it look for due mail now. */
void queue_start(struct server *srv);
void queue_stop(void);
void queue_kick(void);

#endif
