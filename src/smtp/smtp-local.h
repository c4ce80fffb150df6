/* Local recipients: which addresses this server keeps mail for, and where a
 * message for one of them goes. Shared by the SMTP/LMTP sessions (at RCPT
 * time) and the outbound queue (bounces to a local sender).
 *
 * An address is local when its domain is one of smtp.domains, the server's
 * host name, "localhost", or the domain of an account or alias. A local
 * address resolves, in this order, to: the account of that name; the alias of
 * that name; with the part after the recipient delimiter ("+tag") removed,
 * the same two again; the bare local part as an account name (single-domain
 * setups name accounts "alice"); the domain's catch-all alias "@domain".
 * With smtp.plus_folder on, user+tag@ delivers into the user's mailbox
 * "tag" when it exists (INBOX otherwise). */
#ifndef ROOST_SMTP_LOCAL_H
#define ROOST_SMTP_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/server.h"

/* Targets of one recipient address (an alias may name several accounts). */
struct local_target {
	int64_t account_id;
	int64_t mailbox_id; /* INBOX, or the +tag folder */
	char *account;      /* the account's login name */
	uint32_t flags;     /* initial flags (enum store_flag), 0 for new mail */
	bool quota_known;   /* quota below has been looked up (local_quota_check) */
	uint64_t quota;     /* the account's quota.bytes, 0 for none */
};

enum local_result {
	LOCAL_OK,       /* *targets_r holds at least one target */
	LOCAL_UNKNOWN,  /* a local domain, but nobody of that name: 550 5.1.1 */
	LOCAL_REMOTE,   /* not one of our domains */
	LOCAL_TEMPFAIL, /* the store failed: 451 4.3.0 */
};

/* Resolve addr ("local@domain", or a bare local part). any_domain treats
 * every domain as local (LMTP: the MTA in front already decided). The targets
 * are appended to *targets_r / *n_r (realloc'd); free them with
 * local_targets_free. */
enum local_result local_resolve(struct server *srv, const char *addr, bool any_domain,
				struct local_target **targets_r, size_t *n_r);
void local_targets_free(struct local_target *t, size_t n);

/* Is domain (any case) one of ours? */
bool local_domain(struct server *srv, const char *domain);

/* May the account send with this envelope sender / From: address? Its own
 * name (a bare name at any local domain), an extension of it, or an alias
 * that reaches it; never through a catch-all. */
bool local_may_send_as(struct server *srv, int64_t account_id, const char *addr);

/* Quota (quota.bytes, per account or from the configuration): whether the
 * target account's mail plus `extra` octets stays within it. The limit is
 * looked up once per target and kept in it, so checking again after the
 * message costs nothing for accounts without a quota. QUOTA_TEMPFAIL when
 * the store failed. */
enum local_quota { QUOTA_OK, QUOTA_OVER, QUOTA_TEMPFAIL };
enum local_quota local_quota_check(struct server *srv, struct local_target *t, uint64_t extra);

/* Store a message for local targets, once for all of them (duplicates of one
 * mailbox collapse), durable before it returns; STORE_* codes. */
int local_deliver(struct server *srv, const char *data, size_t len, const struct local_target *t, size_t n);

#endif
