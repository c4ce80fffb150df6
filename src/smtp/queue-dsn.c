/* Building delivery status notifications (see queue-dsn.h): a readable part
 * for people, a message/delivery-status part for programs (one block per
 * recipient, with the original ENVID and ORCPT when there were any) and the
 * original's header or the whole original, as RET asked. */
#include "smtp/queue-dsn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "smtp/smtp-parse.h"

void queue_dsn_status(int code, const char *enh, char *out)
{
	if (enh != NULL && enh[0] && strlen(enh) < 16)
		snprintf(out, 16, "%s", enh);
	else
		snprintf(out, 16, "%d.0.0", code >= 200 && code <= 599 ? code / 100 : 4);
}

void queue_dsn_date(int64_t t, char *out)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The length of the original's header, its blank line included. */
static size_t header_len(const char *m, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (m[i] == '\n' && m[i + 1] == '\n')
			return i + 2;
		if (m[i] == '\n' && m[i + 1] == '\r' && i + 2 < len && m[i + 2] == '\n')
			return i + 3;
	}
	if (len >= 2 && m[0] == '\r' && m[1] == '\n')
		return 2;
	return len;
}

static bool has_8bit(const char *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)m[i] >= 0x80)
			return true;
	return false;
}

/* A text value that cannot break the report's syntax: no CR or LF. */
static void put_clean(struct buf *out, const char *s)
{
	for (; *s; s++)
		buf_append(out, *s == '\r' || *s == '\n' ? " " : s, 1);
}

static void put_crlf_text(struct buf *out, const char *m, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			buf_append(out, "\r", 1);
		buf_append(out, m + i, 1);
	}
	if (len > 0 && m[len - 1] != '\n')
		buf_append(out, "\r\n", 2);
}

void queue_dsn_build(const struct queue_dsn *d, struct buf *out)
{
	bool failed = false, delayed = false;
	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->rcpts[i].action, "failed") == 0)
			failed = true;
		else if (strcmp(d->rcpts[i].action, "delayed") == 0)
			delayed = true;
	}
	char date[40], boundary[96];
	queue_dsn_date(d->now, date);
	static unsigned counter;
	unsigned seq = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(boundary, sizeof boundary, "=_roost_dsn_%lld_%d_%u", (long long)d->now, (int)getpid(), seq);
	const char *subject = failed ? "Undelivered Mail Returned to Sender"
			      : delayed ? "Delayed Mail (still being retried)"
					: "Successful Mail Delivery Report";
	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", d->reporting_mta);
	buf_appends(out, "To: <");
	put_clean(out, d->to);
	buf_appends(out, ">\r\n");
	buf_printf(out, "Subject: %s\r\nDate: %s\r\n", subject, date);
	buf_printf(out, "Message-ID: <dsn.%lld.%d.%u@%s>\r\n", (long long)d->now, (int)getpid(), seq, d->reporting_mta);
	buf_appends(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=\"%s\"\r\n\r\n", boundary);
	buf_appends(out, "This is a MIME-encapsulated message.\r\n\r\n");

	/* The part for people. */
	buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary);
	buf_printf(out, "This is the mail system at %s.\r\n\r\n", d->reporting_mta);
	if (failed)
		buf_appends(out, "Your message could not be delivered to one or more recipients.\r\n"
				 "It is attached below.\r\n\r\n");
	else if (delayed)
		buf_appends(out, "Your message has not been delivered yet to one or more recipients.\r\n"
				 "The mail system will keep trying; you need not send it again.\r\n\r\n");
	else
		buf_appends(out, "Your message was delivered (or passed on) as you asked to be told.\r\n\r\n");
	for (size_t i = 0; i < d->n; i++) {
		const struct queue_dsn_rcpt *r = &d->rcpts[i];
		buf_appends(out, "<");
		put_clean(out, r->addr);
		buf_printf(out, ">: %s", r->action);
		if (r->diagnostic != NULL) {
			buf_appends(out, r->remote_mta ? ", " : ": ");
			if (r->remote_mta != NULL) {
				buf_appends(out, "host ");
				put_clean(out, r->remote_mta);
				buf_appends(out, " said: ");
			}
			put_clean(out, r->diagnostic);
		}
		buf_appends(out, "\r\n");
	}
	buf_appends(out, "\r\n");

	/* The part for programs (RFC 3464 section 2). */
	buf_printf(out, "--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary);
	buf_printf(out, "Reporting-MTA: dns; %s\r\n", d->reporting_mta);
	if (d->envid != NULL && d->envid[0]) {
		buf_appends(out, "Original-Envelope-Id: ");
		put_clean(out, d->envid);
		buf_appends(out, "\r\n");
	}
	if (d->arrival > 0) {
		char ad[40];
		queue_dsn_date(d->arrival, ad);
		buf_printf(out, "Arrival-Date: %s\r\n", ad);
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct queue_dsn_rcpt *r = &d->rcpts[i];
		buf_appends(out, "\r\n");
		if (r->orcpt != NULL && strchr(r->orcpt, ';') != NULL) {
			const char *semi = strchr(r->orcpt, ';');
			buf_printf(out, "Original-Recipient: %.*s; ", (int)(semi - r->orcpt), r->orcpt);
			put_clean(out, semi + 1);
			buf_appends(out, "\r\n");
		}
		buf_appends(out, "Final-Recipient: rfc822; ");
		put_clean(out, r->addr);
		buf_printf(out, "\r\nAction: %s\r\nStatus: %s\r\n", r->action, r->status);
		if (r->remote_mta != NULL) {
			buf_appends(out, "Remote-MTA: dns; ");
			put_clean(out, r->remote_mta);
			buf_appends(out, "\r\n");
		}
		if (r->diagnostic != NULL) {
			buf_appends(out, "Diagnostic-Code: smtp; ");
			put_clean(out, r->diagnostic);
			buf_appends(out, "\r\n");
		}
		buf_printf(out, "Last-Attempt-Date: %s\r\n", date);
		if (r->will_retry_until > 0) {
			char wd[40];
			queue_dsn_date(r->will_retry_until, wd);
			buf_printf(out, "Will-Retry-Until: %s\r\n", wd);
		}
	}
	buf_appends(out, "\r\n");

	/* The original, or its header. */
	bool full = d->ret == SMTP_RET_FULL || (d->ret == SMTP_RET_NONE && failed);
	size_t hl = header_len(d->orig, d->orig_len);
	if (d->orig_len > QUEUE_DSN_MAX_RETURN)
		full = false;
	const char *part = full ? "message/rfc822" : "text/rfc822-headers";
	size_t plen = full ? d->orig_len : hl;
	buf_printf(out, "--%s\r\nContent-Type: %s\r\n", boundary, part);
	if (has_8bit(d->orig, plen))
		buf_appends(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_appends(out, "\r\n");
	put_crlf_text(out, d->orig, plen);
	buf_printf(out, "\r\n--%s--\r\n", boundary);
}
