/* Routing for the outbound queue (see smtp-mx.h). MX answers are read with
 * libresolv's ns_parse functions, which check every length against the
 * message; names are expanded with dn_expand. Equal preferences keep the
 * answer's order, which the resolver already randomises. */
#include "smtp/smtp-mx.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int mx_parse(const unsigned char *msg, size_t len, struct mx_host *out, size_t max)
{
	ns_msg h;
	if (len > 65535 || ns_initparse(msg, (int)len, &h) < 0)
		return -1;
	int n = ns_msg_count(h, ns_s_an), found = 0;
	for (int i = 0; i < n; i++) {
		ns_rr rr;
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return -1;
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_class(rr) != ns_c_in)
			continue;
		if (ns_rr_rdlen(rr) < 3)
			return -1;
		const unsigned char *rd = ns_rr_rdata(rr);
		struct mx_host m = {.pref = (uint16_t)(rd[0] << 8 | rd[1])};
		if (dn_expand(ns_msg_base(h), ns_msg_end(h), rd + 2, m.name, sizeof m.name) < 0)
			return -1;
		if (strcmp(m.name, ".") == 0)
			m.name[0] = '\0';
		if ((size_t)found == max)
			break;
		/* Insertion keeps equal preferences in answer order. */
		int j = found++;
		while (j > 0 && out[j - 1].pref > m.pref) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = m;
	}
	return found;
}

enum mx_result mx_lookup(const char *domain, struct mx_host *out, size_t max, size_t *n_r)
{
	*n_r = 0;
	unsigned char ans[8192];
	struct __res_state rs;
	memset(&rs, 0, sizeof rs);
	if (res_ninit(&rs) != 0)
		return MX_TEMP;
	int len = res_nquery(&rs, domain, ns_c_in, ns_t_mx, ans, sizeof ans);
	int herr = rs.res_h_errno;
	res_nclose(&rs);
	if (len < 0) {
		if (herr == HOST_NOT_FOUND)
			return MX_NODOMAIN;
		if (herr == NO_DATA)
			return MX_OK; /* the domain exists without MX: its own address */
		return MX_TEMP;
	}
	int n = mx_parse(ans, (size_t)(len > (int)sizeof ans ? (int)sizeof ans : len), out, max);
	if (n < 0)
		return MX_TEMP;
	if (n == 1 && out[0].name[0] == '\0')
		return MX_NULL;
	/* A null MX among others is meaningless: drop it. */
	size_t k = 0;
	for (int i = 0; i < n; i++)
		if (out[i].name[0] != '\0')
			out[k++] = out[i];
	*n_r = k;
	return MX_OK;
}

bool mx_hostport_parse(const char *s, size_t len, uint16_t defport, char **host_r, uint16_t *port_r)
{
	while (len > 0 && *s == ' ') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	if (len == 0 || len > 300)
		return false;
	const char *host = s, *port = NULL;
	size_t hl = len;
	if (s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		if (rb == NULL || rb == s + 1)
			return false;
		host = s + 1;
		hl = (size_t)(rb - host);
		if (rb + 1 < s + len) {
			if (rb[1] != ':')
				return false;
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon != NULL) {
			if (memchr(colon + 1, ':', (size_t)(s + len - colon - 1)) != NULL)
				return false;
			hl = (size_t)(colon - s);
			port = colon + 1;
		}
		if (hl == 0)
			return false;
	}
	for (size_t i = 0; i < hl; i++)
		if ((unsigned char)host[i] <= ' ' || host[i] == ',' || host[i] == '=' || host[i] == '/')
			return false;
	uint64_t p = defport;
	if (port != NULL && (!parse_uint(port, (size_t)(s + len - port), 65535, &p) || p == 0))
		return false;
	if (host_r != NULL)
		*host_r = xstrndup(host, hl);
	if (port_r != NULL)
		*port_r = (uint16_t)p;
	return true;
}

/* Walk the routes; fn gets each item's domain and target. */
static bool routes_walk(const char *routes, const char *domain, char **host_r, uint16_t *port_r, bool *valid_r)
{
	*valid_r = true;
	const char *p = routes;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		const char *d = p;
		size_t dl = eq ? (size_t)(eq - p) : 0;
		while (dl > 0 && *d == ' ') {
			d++;
			dl--;
		}
		while (dl > 0 && d[dl - 1] == ' ')
			dl--;
		bool blank = true;
		for (size_t i = 0; i < len; i++)
			if (p[i] != ' ')
				blank = false;
		if (!blank) {
			if (eq == NULL || dl == 0 || !mx_hostport_parse(eq + 1, (size_t)(p + len - eq - 1), 25, NULL, NULL)) {
				*valid_r = false;
				return false;
			}
			if (domain != NULL && ((dl == 1 && d[0] == '*') || mem_ieq(d, dl, domain)))
				return mx_hostport_parse(eq + 1, (size_t)(p + len - eq - 1), 25, host_r, port_r);
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return false;
}

bool mx_route_find(const char *routes, const char *domain, char **host_r, uint16_t *port_r)
{
	bool valid;
	return routes != NULL && routes_walk(routes, domain, host_r, port_r, &valid);
}

bool mx_routes_valid(const char *routes)
{
	bool valid;
	(void)routes_walk(routes, NULL, NULL, NULL, &valid);
	return valid;
}
