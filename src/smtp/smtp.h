/* The SMTP session engine: one engine, four listeners.
 *   smtp         port 25: mail for local domains from anywhere; no relaying
 *   submission   port 587: authenticated users send (STARTTLS before AUTH)
 *   submissions  port 465: the same over implicit TLS (RFC 8314)
 *   lmtp         LMTP (RFC 2033) for the MTA in front: every domain is local,
 *                one reply per recipient after the message */
#ifndef ROOST_SMTP_H
#define ROOST_SMTP_H

#include "net/conn.h"

extern const struct proto smtp_proto;
extern const struct proto submission_proto;
extern const struct proto submissions_proto;
extern const struct proto lmtp_proto;

#endif
