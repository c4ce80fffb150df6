/* Sequence sets (RFC 9051 sequence-set): parsing into sorted, merged ranges
 * and writing ascending numbers back in compact form. Pure functions with no
 * session or mailbox, so SEARCH's parser and the fuzz targets use them alone. */
#include <stdlib.h>

#include "core/buf.h"
#include "core/util.h"
#include "imap/imap-session.h"

static int cmp_range(const void *a, const void *b)
{
	const struct imap_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static bool parse_number(const char **pp, uint32_t star, uint32_t *r)
{
	const char *p = *pp;
	if (*p == '*') {
		*r = star;
		*pp = p + 1;
		return true;
	}
	if (*p < '1' || *p > '9')
		return false;
	uint64_t v = 0;
	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
		p++;
	}
	*r = (uint32_t)v;
	*pp = p;
	return true;
}

int imap_seqset_parse(const char *set, uint32_t star, struct imap_range **r, size_t *n_r)
{
	size_t cap = 8, n = 0;
	struct imap_range *v = xmalloc(cap * sizeof *v);
	const char *p = set;
	for (;;) {
		uint32_t a, b;
		if (!parse_number(&p, star, &a))
			goto bad;
		b = a;
		if (*p == ':') {
			p++;
			if (!parse_number(&p, star, &b))
				goto bad;
		}
		if (n == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = (struct imap_range){a < b ? a : b, a < b ? b : a};
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	qsort(v, n, sizeof *v, cmp_range);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && (uint64_t)v[i].lo <= (uint64_t)v[m - 1].hi + 1) {
			if (v[i].hi > v[m - 1].hi)
				v[m - 1].hi = v[i].hi;
		} else {
			v[m++] = v[i];
		}
	}
	*r = v;
	*n_r = m;
	return 0;
bad:
	free(v);
	return -1;
}

void imap_write_set(struct buf *out, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			buf_append(out, ",", 1);
		if (j == i)
			buf_printf(out, "%u", v[i]);
		else
			buf_printf(out, "%u:%u", v[i], v[j]);
		i = j + 1;
	}
}
