/* Listing mailboxes: LIST (RFC 9051 6.3.9 with LIST-EXTENDED RFC 5258,
 * SPECIAL-USE RFC 6154 and LIST-STATUS RFC 5819) and LSUB (IMAP4rev1), and
 * the wildcard matcher behind both.
 *
 * The matcher runs in time linear in the name for every pattern: a pattern is
 * compiled once into bit masks and a name is run through it as a bit-parallel
 * NFA (shift-and), so no pattern, however many '*' and '%' it holds, can make
 * matching backtrack. Patterns are capped at IMAP_LIST_PATTERN_MAX bytes.
 *
 * Names are strings in the store; the hierarchy is what the '/' in them make.
 * A LIST works on "nodes": every mailbox name, every subscribed name where
 * subscriptions select, and every level above them, so that a level that
 * exists only as part of a longer name ("a" of "a/b") can be reported as
 * \NonExistent (\Noselect for IMAP4rev1 clients and LSUB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"

/* ---------------- the wildcard matcher ---------------- */

enum { EL_LIT, EL_PERCENT, EL_STAR };

struct imap_pattern {
	size_t m;          /* elements after merging runs of wildcards */
	size_t words;      /* uint64 words per state set (m + 1 bits) */
	uint64_t *lit;     /* 256 sets: bit j+1 when element j is that byte */
	uint64_t *wall;    /* bit j+1 when element j is a wildcard */
	uint64_t *wstar;   /* bit j+1 when element j is '*' (may match '/') */
	uint64_t *wbefore; /* bit j when element j is a wildcard (matches empty) */
	uint64_t *d, *n;   /* scratch state sets */
};

static void set_bit(uint64_t *v, size_t bit)
{
	v[bit / 64] |= (uint64_t)1 << (bit % 64);
}

/* dst = src << 1 over `words` words. */
static void shift1(uint64_t *dst, const uint64_t *src, size_t words)
{
	uint64_t carry = 0;
	for (size_t w = 0; w < words; w++) {
		uint64_t x = src[w];
		dst[w] = (x << 1) | carry;
		carry = x >> 63;
	}
}

/* Wildcards match the empty string: state j with a wildcard at j also means
 * state j+1. Runs of wildcards were merged, so one step is the closure. */
static void close_empty(struct imap_pattern *p, uint64_t *v)
{
	uint64_t carry = 0;
	for (size_t w = 0; w < p->words; w++) {
		uint64_t x = v[w] & p->wbefore[w];
		uint64_t shifted = (x << 1) | carry;
		carry = x >> 63;
		v[w] |= shifted;
	}
}

int imap_pattern_compile(const char *pattern, struct imap_pattern **r, const char **error_r)
{
	size_t len = strlen(pattern);
	*r = NULL;
	if (len > IMAP_LIST_PATTERN_MAX) {
		*error_r = "Mailbox pattern too long";
		return -1;
	}
	unsigned char *el = xmalloc(len + 1);
	unsigned char *ch = xmalloc(len + 1);
	size_t m = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)pattern[i];
		int kind = c == '*' ? EL_STAR : c == '%' ? EL_PERCENT : EL_LIT;
		if (kind != EL_LIT && m > 0 && el[m - 1] != EL_LIT) {
			if (kind == EL_STAR) /* "%*" and "*%" match what "*" does */
				el[m - 1] = EL_STAR;
			continue;
		}
		el[m] = (unsigned char)kind;
		ch[m] = c;
		m++;
	}
	struct imap_pattern *p = xcalloc(1, sizeof *p);
	p->m = m;
	p->words = (m + 1 + 63) / 64;
	p->lit = xcalloc(256 * p->words, sizeof *p->lit);
	p->wall = xcalloc(p->words, sizeof *p->wall);
	p->wstar = xcalloc(p->words, sizeof *p->wstar);
	p->wbefore = xcalloc(p->words, sizeof *p->wbefore);
	p->d = xcalloc(p->words, sizeof *p->d);
	p->n = xcalloc(p->words, sizeof *p->n);
	for (size_t j = 0; j < m; j++) {
		if (el[j] == EL_LIT) {
			set_bit(p->lit + (size_t)ch[j] * p->words, j + 1);
			continue;
		}
		set_bit(p->wall, j + 1);
		set_bit(p->wbefore, j);
		if (el[j] == EL_STAR)
			set_bit(p->wstar, j + 1);
	}
	free(el);
	free(ch);
	*r = p;
	return 0;
}

void imap_pattern_free(struct imap_pattern *p)
{
	if (p == NULL)
		return;
	free(p->lit);
	free(p->wall);
	free(p->wstar);
	free(p->wbefore);
	free(p->d);
	free(p->n);
	free(p);
}

bool imap_pattern_match(struct imap_pattern *p, const char *name, size_t len)
{
	/* INBOX is case-insensitive (RFC 9051 5.1): the stored "INBOX" level
	 * matches "inbox", "Inbox", "inb*" ... */
	size_t ci = len >= 5 && memcmp(name, "INBOX", 5) == 0 && (len == 5 || name[5] == '/') ? 5 : 0;
	size_t words = p->words;
	uint64_t *d = p->d, *n = p->n;
	memset(d, 0, words * sizeof *d);
	d[0] = 1;
	close_empty(p, d);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		const uint64_t *lit = p->lit + (size_t)c * words;
		const uint64_t *lit2 = i < ci ? p->lit + (size_t)(c | 0x20) * words : lit;
		const uint64_t *allow = c == '/' ? p->wstar : p->wall;
		shift1(n, d, words);
		uint64_t any = 0;
		for (size_t w = 0; w < words; w++)
			n[w] = (n[w] & (lit[w] | lit2[w])) | (d[w] & allow[w]);
		close_empty(p, n);
		for (size_t w = 0; w < words; w++)
			any |= n[w];
		uint64_t *t = d;
		d = n;
		n = t;
		if (any == 0)
			return false;
	}
	return (d[p->m / 64] >> (p->m % 64)) & 1;
}

/* ---------------- nodes of the hierarchy ---------------- */

struct list_node {
	const char *name; /* not NUL-terminated at len when a level of a longer name */
	size_t len;
	const struct store_mailbox *mb; /* NULL: no mailbox of this name */
	bool subscribed;
	bool matches;        /* matches one of the patterns */
	bool meets;          /* meets the selection criteria */
	bool sub_exists;     /* a mailbox exists below */
	bool sub_meets;      /* something below meets the criteria */
	bool sub_meets_out;  /* ... and does not match any pattern */
};

struct list_nodes {
	struct list_node *v;
	size_t n, cap;
};

static struct list_node *node_add(struct list_nodes *ns, const char *name, size_t len)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 64;
		ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
	}
	struct list_node *nd = &ns->v[ns->n++];
	memset(nd, 0, sizeof *nd);
	nd->name = name;
	nd->len = len;
	return nd;
}

/* Order names so that '/' sorts before every other byte: a name's
 * descendants then directly follow it. */
static int node_cmp(const void *a, const void *b)
{
	const struct list_node *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char cx = (unsigned char)x->name[i], cy = (unsigned char)y->name[i];
		if (cx == cy)
			continue;
		cx = cx == '/' ? 1 : cx;
		cy = cy == '/' ? 1 : cy;
		return cx < cy ? -1 : 1;
	}
	return x->len < y->len ? -1 : x->len > y->len;
}

static bool node_same(const struct list_node *a, const struct list_node *b)
{
	return a->len == b->len && memcmp(a->name, b->name, a->len) == 0;
}

static bool node_below(const struct list_node *parent, const struct list_node *child)
{
	return parent->len < child->len && child->name[parent->len] == '/' &&
	       memcmp(parent->name, child->name, parent->len) == 0;
}

/* Add every level above each node, sort, and merge duplicates. */
static void nodes_complete(struct list_nodes *ns)
{
	size_t base = ns->n;
	for (size_t i = 0; i < base; i++) {
		const char *name = ns->v[i].name;
		size_t len = ns->v[i].len;
		for (size_t k = 1; k < len; k++)
			if (name[k] == '/')
				node_add(ns, name, k);
	}
	if (ns->n == 0)
		return;
	qsort(ns->v, ns->n, sizeof *ns->v, node_cmp);
	size_t w = 0;
	for (size_t r = 0; r < ns->n; r++) {
		if (w > 0 && node_same(&ns->v[w - 1], &ns->v[r])) {
			struct list_node *d = &ns->v[w - 1];
			if (d->mb == NULL)
				d->mb = ns->v[r].mb;
			d->subscribed |= ns->v[r].subscribed;
			continue;
		}
		ns->v[w++] = ns->v[r];
	}
	ns->n = w;
}

/* The node of exactly this name, or NULL (binary search). */
static struct list_node *node_find(struct list_nodes *ns, const char *name)
{
	struct list_node key = {.name = name, .len = strlen(name)};
	size_t lo = 0, hi = ns->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = node_cmp(&ns->v[mid], &key);
		if (c == 0)
			return &ns->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* What lies below each node, in one pass over the sorted nodes with a stack
 * of the current node's ancestors. */
static void nodes_summarise(struct list_nodes *ns)
{
	size_t *stack = xmalloc((ns->n ? ns->n : 1) * sizeof *stack);
	size_t depth = 0;
	for (size_t i = 0; i <= ns->n; i++) {
		while (depth > 0 && (i == ns->n || !node_below(&ns->v[stack[depth - 1]], &ns->v[i]))) {
			struct list_node *c = &ns->v[stack[--depth]];
			if (depth == 0)
				continue;
			struct list_node *p = &ns->v[stack[depth - 1]];
			p->sub_exists |= c->mb != NULL || c->sub_exists;
			p->sub_meets |= c->meets || c->sub_meets;
			p->sub_meets_out |= (c->meets && !c->matches) || c->sub_meets_out;
		}
		if (i < ns->n)
			stack[depth++] = i;
	}
	free(stack);
}

/* ---------------- LIST and LSUB ---------------- */

#define SEL_SUBSCRIBED 1u
#define SEL_REMOTE 2u
#define SEL_RECURSIVE 4u
#define SEL_SPECIAL 8u

#define RET_SUBSCRIBED 1u
#define RET_CHILDREN 2u
#define RET_SPECIAL 4u
#define RET_STATUS 8u

struct list_req {
	bool lsub;
	bool extended; /* LIST-EXTENDED syntax was used: \NonExistent is understood */
	unsigned sel, ret;
	unsigned status_items;
	struct imap_pattern **pats;
	size_t n_pats;
	bool root; /* an empty pattern: report the hierarchy delimiter */
};

static bool any_match(const struct list_req *q, const struct list_node *nd)
{
	for (size_t i = 0; i < q->n_pats; i++)
		if (imap_pattern_match(q->pats[i], nd->name, nd->len))
			return true;
	return false;
}

static bool node_meets(const struct list_req *q, const struct list_node *nd)
{
	if (q->lsub)
		return nd->subscribed;
	bool ok = true;
	if (q->sel & SEL_SUBSCRIBED)
		ok = nd->subscribed;
	else
		ok = nd->mb != NULL;
	if (q->sel & SEL_SPECIAL)
		ok = ok && nd->mb != NULL && nd->mb->special_use != NULL;
	return ok;
}

static void write_node(struct imap_session *s, const struct list_req *q, const struct list_node *nd, bool childinfo)
{
	struct buf *out = conn_outbuf(s->c);
	char *name = xstrndup(nd->name, nd->len);
	const char *sep = "";
	buf_appends(out, q->lsub ? "* LSUB (" : "* LIST (");
#define ATTR(a)                          \
	do {                             \
		buf_appends(out, sep);   \
		buf_appends(out, a);     \
		sep = " ";               \
	} while (0)
	if (q->lsub) {
		/* LSUB's \Noselect: not selectable, or a level shown only
		 * because something below it is subscribed (RFC 3501 6.3.9). */
		if (nd->mb == NULL || !nd->subscribed)
			ATTR("\\Noselect");
	} else {
		if (nd->mb == NULL)
			ATTR(q->extended || s->rev2 ? "\\NonExistent" : "\\Noselect");
		if ((q->sel & SEL_SUBSCRIBED || q->ret & RET_SUBSCRIBED) && nd->subscribed)
			ATTR("\\Subscribed");
		if (nd->sub_exists)
			ATTR("\\HasChildren");
		else if (nd->mb != NULL || q->ret & RET_CHILDREN)
			ATTR("\\HasNoChildren");
		if (nd->mb != NULL && nd->mb->special_use != NULL)
			ATTR(nd->mb->special_use);
	}
#undef ATTR
	buf_appends(out, ") \"/\" ");
	imap_write_mailbox(s, name);
	if (childinfo) {
		buf_appends(out, " (\"CHILDINFO\" (");
		if (q->sel & SEL_SUBSCRIBED)
			buf_appends(out, q->sel & SEL_SPECIAL ? "\"SUBSCRIBED\" \"SPECIAL-USE\"" : "\"SUBSCRIBED\"");
		else
			buf_appends(out, "\"SPECIAL-USE\"");
		buf_appends(out, "))");
	}
	buf_appends(out, "\r\n");
	if (q->ret & RET_STATUS && nd->mb != NULL)
		imap_write_status(s, nd->mb, q->status_items);
	free(name);
}

/* Run a parsed LIST/LSUB against the account's mailboxes. */
static enum run_result list_run(struct imap_session *s, struct list_req *q)
{
	struct store_mailbox *mbs = NULL;
	size_t n_mbs = 0;
	char **subs = NULL;
	size_t n_subs = 0;
	int rc = store_mailbox_list(s->store, s->account_id, &mbs, &n_mbs);
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, "list");
	bool want_subs = q->lsub || q->sel & SEL_SUBSCRIBED || q->ret & RET_SUBSCRIBED;
	if (want_subs) {
		rc = store_subscriptions(s->store, s->account_id, &subs, &n_subs);
		if (rc != STORE_OK) {
			store_mailboxes_free(mbs, n_mbs);
			return imap_store_fail(s, rc, "subscriptions");
		}
	}
	struct list_nodes ns = {0};
	for (size_t i = 0; i < n_mbs; i++)
		node_add(&ns, mbs[i].name, strlen(mbs[i].name))->mb = &mbs[i];
	bool subs_are_nodes = q->lsub || q->sel & SEL_SUBSCRIBED;
	if (subs_are_nodes)
		for (size_t i = 0; i < n_subs; i++)
			node_add(&ns, subs[i], strlen(subs[i]))->subscribed = true;
	nodes_complete(&ns);
	if (want_subs && !subs_are_nodes) {
		for (size_t i = 0; i < n_subs; i++) {
			struct list_node *nd = node_find(&ns, subs[i]);
			if (nd != NULL)
				nd->subscribed = true;
		}
	}
	for (size_t i = 0; i < ns.n; i++) {
		ns.v[i].matches = any_match(q, &ns.v[i]);
		ns.v[i].meets = node_meets(q, &ns.v[i]);
	}
	nodes_summarise(&ns);

	if (q->root)
		conn_printf(s->c, "* %s (\\Noselect) \"/\" \"\"\r\n", q->lsub ? "LSUB" : "LIST");
	/* Without selection options the criteria are "exists" (LIST) or
	 * "subscribed" (LSUB); a level that does not meet them is shown when
	 * something below it does but is not listed itself, so the client
	 * learns the level (RFC 9051 6.3.9's "%" rule, RFC 5258 example 11). */
	bool plain = q->lsub || (q->sel & (SEL_SUBSCRIBED | SEL_SPECIAL)) == 0;
	bool recursive = (q->sel & SEL_RECURSIVE) != 0;
	for (size_t i = 0; i < ns.n; i++) {
		const struct list_node *nd = &ns.v[i];
		if (!nd->matches)
			continue;
		if (nd->meets)
			write_node(s, q, nd, recursive && nd->sub_meets);
		else if (recursive && nd->sub_meets_out)
			write_node(s, q, nd, true);
		else if (plain && nd->sub_meets_out)
			write_node(s, q, nd, false);
	}
	free(ns.v);
	store_mailboxes_free(mbs, n_mbs);
	store_strings_free(subs, n_subs);
	return imap_ok(s, "%s completed", q->lsub ? "LSUB" : "LIST");
}

static void list_req_clear(struct list_req *q)
{
	for (size_t i = 0; i < q->n_pats; i++)
		imap_pattern_free(q->pats[i]);
	free(q->pats);
	q->pats = NULL;
	q->n_pats = 0;
}

/* Reference + pattern as the canonical pattern (RFC 9051 6.3.9): a pattern
 * that starts with the delimiter ignores the reference. */
static int add_pattern(struct imap_session *s, struct list_req *q, const char *ref, const struct imap_arg *a,
		       const char **error_r)
{
	char *pat = imap_mailbox_arg(s, a, error_r);
	if (pat == NULL)
		return -1;
	/* An empty pattern asks for the delimiter and the reference's root,
	 * which is "" in our one flat namespace. */
	char *full = pat[0] == '/' || pat[0] == '\0' ? xstrdup(pat) : xasprintf("%s%s", ref, pat);
	free(pat);
	if (full[0] == '\0') {
		q->root = true;
		free(full);
		return 0;
	}
	struct imap_pattern *p;
	int rc = imap_pattern_compile(full, &p, error_r);
	free(full);
	if (rc < 0)
		return -1;
	q->pats = xrealloc(q->pats, (q->n_pats + 1) * sizeof *q->pats);
	q->pats[q->n_pats++] = p;
	return 0;
}

static int parse_select_opts(const struct imap_arg *a, unsigned *sel_r, const char **error_r)
{
	unsigned sel = 0;
	for (size_t i = 0; i < a->list_count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (o->type != IMAP_ARG_ATOM) {
			*error_r = "Invalid LIST selection option";
			return -1;
		}
		if (str_ieq(o->str, "SUBSCRIBED"))
			sel |= SEL_SUBSCRIBED;
		else if (str_ieq(o->str, "REMOTE"))
			sel |= SEL_REMOTE; /* no remote mailboxes here: nothing to add */
		else if (str_ieq(o->str, "RECURSIVEMATCH"))
			sel |= SEL_RECURSIVE;
		else if (str_ieq(o->str, "SPECIAL-USE"))
			sel |= SEL_SPECIAL;
		else {
			*error_r = "Unknown LIST selection option";
			return -1;
		}
	}
	if (sel & SEL_RECURSIVE && !(sel & (SEL_SUBSCRIBED | SEL_SPECIAL))) {
		*error_r = "RECURSIVEMATCH needs another selection option (RFC 5258)";
		return -1;
	}
	*sel_r = sel;
	return 0;
}

static int parse_return_opts(struct imap_session *s, const struct imap_arg *a, struct list_req *q,
			     const char **error_r)
{
	for (size_t i = 0; i < a->list_count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (o->type != IMAP_ARG_ATOM) {
			*error_r = "Invalid LIST return option";
			return -1;
		}
		if (str_ieq(o->str, "SUBSCRIBED")) {
			q->ret |= RET_SUBSCRIBED;
		} else if (str_ieq(o->str, "CHILDREN")) {
			q->ret |= RET_CHILDREN;
		} else if (str_ieq(o->str, "SPECIAL-USE")) {
			q->ret |= RET_SPECIAL;
		} else if (str_ieq(o->str, "STATUS") && i + 1 < a->list_count && a->list[i + 1].type == IMAP_ARG_LIST) {
			if (imap_status_items(s, &a->list[++i], &q->status_items, error_r) < 0)
				return -1;
			q->ret |= RET_STATUS;
		} else {
			*error_r = "Unknown LIST return option";
			return -1;
		}
	}
	return 0;
}

enum run_result imap_cmd_list(struct imap_session *s, const struct imap_command *cmd)
{
	struct list_req q = {0};
	const char *err = "LIST needs a reference and a mailbox pattern";
	size_t i = 0;
	if (cmd->n_args > 0 && cmd->args[0].type == IMAP_ARG_LIST) {
		if (parse_select_opts(&cmd->args[0], &q.sel, &err) < 0)
			return imap_bad(s, "%s", err);
		q.extended = true;
		i = 1;
	}
	if (cmd->n_args < i + 2)
		return imap_bad(s, "%s", err);
	const struct imap_arg *ref_arg = &cmd->args[i], *pat_arg = &cmd->args[i + 1];
	i += 2;
	if (i < cmd->n_args) {
		if (i + 2 != cmd->n_args || cmd->args[i].type != IMAP_ARG_ATOM || !str_ieq(cmd->args[i].str, "RETURN") ||
		    cmd->args[i + 1].type != IMAP_ARG_LIST)
			return imap_bad(s, "Invalid LIST arguments");
		if (parse_return_opts(s, &cmd->args[i + 1], &q, &err) < 0)
			return imap_bad(s, "%s", err);
		q.extended = true;
	}
	char *ref = imap_mailbox_arg(s, ref_arg, &err);
	if (ref == NULL)
		return imap_bad(s, "%s", err);
	int rc = 0;
	if (pat_arg->type == IMAP_ARG_LIST) {
		q.extended = true;
		if (pat_arg->list_count == 0 || pat_arg->list_count > IMAP_LIST_MAX_PATTERNS) {
			err = pat_arg->list_count ? "Too many LIST patterns" : "Empty LIST pattern list";
			rc = -1;
		}
		for (size_t k = 0; rc == 0 && k < pat_arg->list_count; k++)
			rc = add_pattern(s, &q, ref, &pat_arg->list[k], &err);
	} else {
		rc = add_pattern(s, &q, ref, pat_arg, &err);
	}
	free(ref);
	if (rc < 0) {
		list_req_clear(&q);
		return imap_bad(s, "%s", err);
	}
	if (q.ret & RET_STATUS && q.status_items & IMAP_STATUS_HIGHESTMODSEQ)
		s->condstore = true;
	enum run_result r = list_run(s, &q);
	list_req_clear(&q);
	return r;
}

enum run_result imap_cmd_lsub(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 2)
		return imap_bad(s, "LSUB needs a reference and a mailbox pattern");
	const char *err = NULL;
	char *ref = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (ref == NULL)
		return imap_bad(s, "%s", err);
	struct list_req q = {.lsub = true};
	int rc = add_pattern(s, &q, ref, &cmd->args[1], &err);
	free(ref);
	if (rc < 0) {
		list_req_clear(&q);
		return imap_bad(s, "%s", err);
	}
	enum run_result r = list_run(s, &q);
	list_req_clear(&q);
	return r;
}
