/* The IMAP server (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1 together) as the
 * network layer sees it: two protocols for the listeners, and the hook that
 * lets commits wake sessions in IDLE. */
#ifndef ROOST_IMAP_H
#define ROOST_IMAP_H

#include "net/conn.h"
#include "store/store.h"

extern const struct proto imap_proto;  /* imap.listen: STARTTLS offered */
extern const struct proto imaps_proto; /* imaps.listen: implicit TLS */

/* Register the store watcher that wakes IDLE sessions; call once before any
 * session runs. */
void imap_init(struct store *st);

#endif
