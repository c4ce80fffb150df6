/* Matching a SEARCH tree against one message, exactly as RFC 9051 says:
 * flags, keywords, sizes and modseqs from the store entry; dates by day
 * (INTERNALDATE's day in UTC, the zone FETCH INTERNALDATE reports; the Date:
 * header's day as written in its own zone); text criteria as case-insensitive
 * substrings of the decoded text the store kept at delivery, which is folded
 * with the same function as the key, so a byte comparison is exact.
 *
 * imap_search_compile() prepares a parsed tree for one mailbox: sequence sets
 * and "$" become UID ranges, keywords become bits, and the text criteria
 * become the filter the store's index may use to skip messages. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "imap/imap-search.h"

/* ---- text ---- */

bool imap_search_contains(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
	if (needle_len == 0)
		return true;
	if (hay == NULL || needle_len > hay_len)
		return false;
	return memmem(hay, hay_len, needle, needle_len) != NULL;
}

/* Find the line of `field` from p on; returns the value's start and end, or
 * false when there is no further line for it. */
static bool header_next(const char **p, const char *end, const char *field, size_t flen, const char **v_r,
			const char **vend_r)
{
	while (*p < end) {
		const char *line = *p;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			eol = end;
		*p = eol < end ? eol + 1 : end;
		if ((size_t)(eol - line) > flen && memcmp(line, field, flen) == 0 && line[flen] == ':') {
			const char *v = line + flen + 1;
			if (v < eol && *v == ' ')
				v++;
			*v_r = v;
			*vend_r = eol;
			return true;
		}
	}
	return false;
}

bool imap_search_header(const char *headers, size_t len, const char *field, const char *needle, size_t needle_len)
{
	if (headers == NULL)
		return false;
	/* Most messages lack the needle altogether: one memmem says so. */
	if (needle_len > 0 && memmem(headers, len, needle, needle_len) == NULL)
		return false;
	size_t flen = strlen(field);
	const char *p = headers, *end = headers + len, *v, *vend;
	while (header_next(&p, end, field, flen, &v, &vend))
		if (imap_search_contains(v, (size_t)(vend - v), needle, needle_len))
			return true;
	return false;
}

/* ---- dates ---- */

static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

/* Skip white space and (nested) comments. */
static const char *skip_cfws(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && *p != ' ' && *p != '\t')
			break;
		p++;
	}
	return p;
}

bool imap_search_sent_day(const char *headers, size_t len, int64_t *day_r)
{
	static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
					     "jul", "aug", "sep", "oct", "nov", "dec"};
	if (headers == NULL)
		return false;
	const char *p = headers, *end = headers + len, *v, *vend;
	if (!header_next(&p, end, "date", 4, &v, &vend))
		return false;
	/* [day-of-week ","] day month year ... (RFC 5322 3.3, obsolete forms too) */
	v = skip_cfws(v, vend);
	const char *w = v;
	while (w < vend && ((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z')))
		w++;
	if (w > v) {
		w = skip_cfws(w, vend);
		if (w < vend && *w == ',')
			v = skip_cfws(w + 1, vend);
	}
	int d = 0, nd = 0;
	while (v < vend && *v >= '0' && *v <= '9' && nd < 3) {
		d = d * 10 + (*v++ - '0');
		nd++;
	}
	if (nd == 0 || nd > 2)
		return false;
	v = skip_cfws(v, vend);
	if (vend - v < 3)
		return false;
	int m = 0;
	for (int i = 0; i < 12 && m == 0; i++)
		if (mem_ieq(v, 3, months[i]))
			m = i + 1;
	if (m == 0)
		return false;
	v = skip_cfws(v + 3, vend);
	int64_t y = 0;
	int ny = 0;
	while (v < vend && *v >= '0' && *v <= '9' && ny < 5) {
		y = y * 10 + (*v++ - '0');
		ny++;
	}
	if (ny < 2 || ny > 4)
		return false;
	if (ny == 2)
		y += y < 50 ? 2000 : 1900; /* obs-year */
	else if (ny == 3)
		y += 1900;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (d < 1 || d > mdays[m - 1])
		return false;
	*day_r = days_from_civil(y, m, d);
	return true;
}

/* The day a message was sent: the Date: header's own day, else its time in
 * UTC as the parser read it, else (no usable Date:, as RFC 5256 does for
 * SORT) the day it arrived. */
static int64_t sent_day(const struct search_msg *m)
{
	int64_t day;
	if (imap_search_sent_day(m->headers, m->headers_len, &day))
		return day;
	return day_of(m->sent_date != 0 ? m->sent_date : m->e->internal_date);
}

/* ---- matching ---- */

static bool in_ranges(const struct search_key *k, uint32_t uid)
{
	size_t lo = 0, hi = k->n_ranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (k->ranges[mid].hi < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < k->n_ranges && k->ranges[lo].lo <= uid;
}

bool imap_search_match(const struct search_key *k, const struct search_msg *m)
{
	const struct store_entry *e = m->e;
	switch (k->type) {
	case SK_AND:
		for (const struct search_key *c = k->child; c; c = c->next)
			if (!imap_search_match(c, m))
				return false;
		return true;
	case SK_OR:
		return imap_search_match(k->child, m) || imap_search_match(k->child->next, m);
	case SK_NOT:
		return !imap_search_match(k->child, m);
	case SK_ALL:
		return true;
	case SK_NONE:
		return false;
	case SK_SEQSET:
	case SK_UIDSET:
		return in_ranges(k, e->uid);
	case SK_FLAG:
		return ((e->flags & k->flag) != 0) != k->negate;
	case SK_KEYWORD:
		return (k->bit >= 0 && (e->keywords >> k->bit) & 1) != k->negate;
	case SK_BEFORE:
		return day_of(e->internal_date) < k->day;
	case SK_ON:
		return day_of(e->internal_date) == k->day;
	case SK_SINCE:
		return day_of(e->internal_date) >= k->day;
	case SK_SENTBEFORE:
		return sent_day(m) < k->day;
	case SK_SENTON:
		return sent_day(m) == k->day;
	case SK_SENTSINCE:
		return sent_day(m) >= k->day;
	case SK_LARGER:
		return e->size > k->num;
	case SK_SMALLER:
		return e->size < k->num;
	case SK_MODSEQ:
		return e->modseq >= k->num;
	case SK_HEADER:
		return imap_search_header(m->headers, m->headers_len, k->field, k->needle, k->needle_len);
	case SK_BODY:
		return m->body != NULL && imap_search_contains(m->body, m->body_len, k->needle, k->needle_len);
	case SK_TEXT:
		return (m->headers != NULL && imap_search_contains(m->headers, m->headers_len, k->needle, k->needle_len)) ||
		       (m->body != NULL && imap_search_contains(m->body, m->body_len, k->needle, k->needle_len));
	}
	return false;
}

/* ---- compiling against a mailbox ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void add_range(struct search_key *k, size_t *cap, uint32_t lo, uint32_t hi)
{
	if (k->n_ranges > 0 && (uint64_t)k->ranges[k->n_ranges - 1].hi + 1 >= lo) {
		if (hi > k->ranges[k->n_ranges - 1].hi)
			k->ranges[k->n_ranges - 1].hi = hi;
		return;
	}
	if (k->n_ranges == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		k->ranges = xrealloc(k->ranges, *cap * sizeof *k->ranges);
	}
	k->ranges[k->n_ranges++] = (struct imap_range){lo, hi};
}

static int resolve_set(struct search_key *k, const struct search_env *env, const char **error_r)
{
	free(k->ranges);
	k->ranges = NULL;
	k->n_ranges = 0;
	size_t cap = 0;
	if (strcmp(k->set, "$") == 0) {
		/* SEARCHRES: the saved UIDs, whichever form the key had. */
		if (!env->saved_valid || env->n_saved == 0)
			return 0;
		uint32_t *u = xmalloc(env->n_saved * sizeof *u);
		memcpy(u, env->saved, env->n_saved * sizeof *u);
		qsort(u, env->n_saved, sizeof *u, cmp_u32);
		for (size_t i = 0; i < env->n_saved; i++)
			add_range(k, &cap, u[i], u[i]);
		free(u);
		return 0;
	}
	bool uid = k->type == SK_UIDSET;
	size_t n = env->uids->n;
	uint32_t star = uid ? imap_uids_last(env->uids) : (uint32_t)n;
	struct imap_range *r;
	size_t nr;
	if (imap_seqset_parse(k->set, star ? star : 1, &r, &nr) < 0) {
		*error_r = "Invalid sequence set";
		return -1;
	}
	if (n == 0) {
		free(r);
		return 0; /* nothing to select, "*" included */
	}
	for (size_t i = 0; i < nr; i++) {
		if (uid) {
			add_range(k, &cap, r[i].lo, r[i].hi);
			continue;
		}
		/* Message numbers beyond the mailbox select nothing. */
		if (r[i].lo > n)
			continue;
		uint32_t hi = r[i].hi > n ? (uint32_t)n : r[i].hi;
		add_range(k, &cap, imap_uids_at(env->uids, r[i].lo - 1), imap_uids_at(env->uids, hi - 1));
	}
	free(r);
	return 0;
}

/* The filter for the store's index: what any matching message's text must
 * contain. NULL when the criteria do not say (NOT, OR with a side that does
 * not, flags alone...). */
static struct store_text_filter *filter_of(struct search_query *q, const struct search_key *k, size_t *used,
					   size_t cap)
{
	struct store_text_filter *f = NULL;
	switch (k->type) {
	case SK_HEADER:
	case SK_BODY:
	case SK_TEXT:
		if (k->needle_len == 0 || *used == cap)
			return NULL;
		f = &q->filters[(*used)++];
		f->op = STORE_TEXT_NEEDLE;
		f->where = k->type == SK_BODY ? STORE_SCAN_BODY
			 : k->type == SK_TEXT ? STORE_SCAN_HEADERS | STORE_SCAN_BODY
					      : STORE_SCAN_HEADERS;
		f->needle = k->needle;
		f->len = k->needle_len;
		return f;
	case SK_AND:
		for (const struct search_key *c = k->child; c; c = c->next) {
			struct store_text_filter *cf = filter_of(q, c, used, cap);
			if (cf == NULL)
				continue;
			if (f == NULL) {
				f = cf;
			} else if (*used < cap) {
				struct store_text_filter *and = &q->filters[(*used)++];
				*and = (struct store_text_filter){.op = STORE_TEXT_AND, .left = f, .right = cf};
				f = and;
			}
		}
		return f;
	case SK_OR: {
		struct store_text_filter *a = filter_of(q, k->child, used, cap);
		struct store_text_filter *b = a ? filter_of(q, k->child->next, used, cap) : NULL;
		if (a == NULL || b == NULL || *used == cap)
			return NULL;
		f = &q->filters[(*used)++];
		*f = (struct store_text_filter){.op = STORE_TEXT_OR, .left = a, .right = b};
		return f;
	}
	default:
		return NULL;
	}
}

int imap_search_compile(struct search_query *q, const struct search_env *env, uint32_t *lo_r, uint32_t *hi_r,
			const char **error_r)
{
	for (size_t i = 0; i < q->n_all; i++) {
		struct search_key *k = q->all[i];
		if ((k->type == SK_SEQSET || k->type == SK_UIDSET) && resolve_set(k, env, error_r) < 0)
			return -1;
		if (k->type == SK_KEYWORD) {
			k->bit = -1;
			for (size_t j = 0; j < env->n_keywords && j < STORE_MAX_KEYWORDS; j++)
				if (str_ieq(env->keywords[j], k->keyword))
					k->bit = (int)j;
		}
	}
	/* Messages outside the view never match, and a set among the top-level
	 * criteria narrows the UIDs to scan. */
	uint32_t lo = env->uids->n ? imap_uids_at(env->uids, 0) : 1, hi = imap_uids_last(env->uids);
	for (const struct search_key *c = q->root ? q->root->child : NULL; c; c = c->next) {
		if (c->type != SK_SEQSET && c->type != SK_UIDSET)
			continue;
		if (c->n_ranges == 0) {
			lo = 1;
			hi = 0;
			break;
		}
		if (c->ranges[0].lo > lo)
			lo = c->ranges[0].lo;
		if (c->ranges[c->n_ranges - 1].hi < hi)
			hi = c->ranges[c->n_ranges - 1].hi;
	}
	*lo_r = lo;
	*hi_r = hi;
	free(q->filters);
	q->filters = NULL;
	q->filter = NULL;
	if (q->n_text > 0 && q->root != NULL) {
		size_t cap = 2 * q->n_all + 1, used = 0;
		q->filters = xcalloc(cap, sizeof *q->filters);
		q->filter = filter_of(q, q->root, &used, cap);
	}
	return 0;
}
