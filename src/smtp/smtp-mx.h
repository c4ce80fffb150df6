/* Where mail for a domain goes: static routes from queue.routes
 * ("domain=host:port,..."), HOST:PORT parsing, and MX records (RFC 5321
 * section 5.1) from the system resolver. The parsers (routes, host:port and
 * the DNS answer) never touch a socket and are unit-tested alone. */
#ifndef ROOST_SMTP_MX_H
#define ROOST_SMTP_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MX records used of one answer at most. */
#define MX_MAX_HOSTS 16

struct mx_host {
	uint16_t pref;
	char name[256];  /* "" for a null MX (RFC 7505: the domain takes no mail) */
};

/* The MX records of a DNS answer (msg[0..len), as res_query returns it),
 * sorted by preference (ties in answer order). Returns the number found
 * (0 when none), or -1 when the answer is malformed. */
int mx_parse(const unsigned char *msg, size_t len, struct mx_host *out, size_t max);

enum mx_result {
	MX_OK,       /* *n_r hosts (0: no MX; use the domain itself, RFC 5321 5.1) */
	MX_NULL,     /* a null MX: the domain accepts no mail */
	MX_NODOMAIN, /* NXDOMAIN */
	MX_TEMP,     /* the resolver failed: try later */
};
/* Look up the MX records of domain with res_query. */
enum mx_result mx_lookup(const char *domain, struct mx_host *out, size_t max, size_t *n_r);

/* "host:port", "[v6]:port" or "host" (with defport): host allocated.
 * false on a malformed value. */
bool mx_hostport_parse(const char *s, size_t len, uint16_t defport, char **host_r, uint16_t *port_r);

/* The route for domain in a queue.routes value ("a.example=h:25,b=[::1]:2525",
 * domains compared without regard to case, "*" matching any domain):
 * true with host and port when there is one. */
bool mx_route_find(const char *routes, const char *domain, char **host_r, uint16_t *port_r);
/* true when a queue.routes value is well-formed. */
bool mx_routes_valid(const char *routes);

#endif
