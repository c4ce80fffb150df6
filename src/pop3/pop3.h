/* The POP3 service (RFC 1939 with CAPA, STLS, AUTH, UTF8 and response codes)
 * as the event loops see it: two protocol descriptions, one for port 110 style
 * listeners (STLS offered when a certificate is loaded) and one for implicit
 * TLS (port 995). Both take their idle timeout from pop3.idle_timeout. */
#ifndef ROOST_POP3_H
#define ROOST_POP3_H

#include "net/conn.h"

extern const struct proto pop3_proto, pop3s_proto;

#endif
