/* The SEARCH program (RFC 9051 section 6.4.4, the RFC 3501 keys NEW, OLD and
 * RECENT, MODSEQ of RFC 7162, RETURN options of RFC 4731 and RFC 5182) from
 * the parsed arguments to a tree of criteria. It knows no session: sets stay
 * as written and keywords as names until imap_search_compile() resolves them
 * against the selected mailbox. Text keys are case-folded here with
 * mime_casefold(), the function that folded the stored text. Nesting and the
 * number of criteria are capped (IMAP_SEARCH_MAX_*). */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "imap/imap-search.h"
#include "mime/mime.h"

struct search_parser {
	struct search_query *q;
	const char *error;
	enum search_parse_status status;
};

static struct search_key *key_new(struct search_parser *p, enum search_key_type type)
{
	struct search_query *q = p->q;
	struct search_key *k = xcalloc(1, sizeof *k);
	k->type = type;
	k->bit = -1;
	if (q->n_all == q->cap_all) {
		q->cap_all = q->cap_all ? q->cap_all * 2 : 16;
		q->all = xrealloc(q->all, q->cap_all * sizeof *q->all);
	}
	q->all[q->n_all++] = k;
	return k;
}

static struct search_key *fail(struct search_parser *p, enum search_parse_status status, const char *error)
{
	if (p->status == SEARCH_PARSE_OK) {
		p->status = status;
		p->error = error;
	}
	return NULL;
}

/* An astring argument (atom, number, quoted, literal; NIL is the atom "NIL"). */
static bool arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a->type == IMAP_ARG_LIST || a->type == IMAP_ARG_SECTION ||
	    (a->type == IMAP_ARG_LITERAL && (a->flags & IMAP_ARG_LITERAL8)))
		return false;
	*s_r = a->str;
	*len_r = a->len;
	return true;
}

/* An atom-like argument (atom or number), for keywords and sets. */
static const char *arg_atom(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NUMBER ? a->str : NULL;
}

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
				     "jul", "aug", "sep", "oct", "nov", "dec"};

bool imap_search_date(const char *s, int64_t *day_r)
{
	/* date-day "-" date-month "-" date-year: 1*2DIGIT "-" 3ALPHA "-" 4DIGIT */
	int d = 0, nd = 0;
	while (s[nd] >= '0' && s[nd] <= '9' && nd < 2)
		d = d * 10 + (s[nd++] - '0');
	if (nd == 0 || s[nd] != '-')
		return false;
	const char *mon = s + nd + 1;
	int m = 0;
	for (int i = 0; i < 12 && m == 0; i++)
		if (strlen(mon) >= 3 && mem_ieq(mon, 3, months[i]))
			m = i + 1;
	if (m == 0 || mon[3] != '-')
		return false;
	const char *yp = mon + 4;
	int64_t y = 0;
	for (int i = 0; i < 4; i++) {
		if (yp[i] < '0' || yp[i] > '9')
			return false;
		y = y * 10 + (yp[i] - '0');
	}
	if (yp[4] != '\0' || d < 1 || d > days_in_month(y, m))
		return false;
	*day_r = days_from_civil(y, m, d);
	return true;
}

/* A sequence set as RFC 9051 writes it (or "$"). */
static bool set_valid(const char *s)
{
	if (strcmp(s, "$") == 0)
		return true;
	struct imap_range *r;
	size_t n;
	if (imap_seqset_parse(s, 1, &r, &n) < 0)
		return false;
	free(r);
	return true;
}

static bool keyword_valid(const char *k)
{
	if (*k == '\0' || strlen(k) > STORE_KEYWORD_MAX)
		return false;
	for (const char *c = k; *c; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch))
			return false;
	}
	return true;
}

static char *fold(const char *s, size_t len, size_t *len_r)
{
	struct buf b = {0};
	mime_casefold(s, len, &b);
	*len_r = buf_used(&b);
	char *r = xstrndup(buf_used(&b) ? buf_head(&b) : "", buf_used(&b));
	buf_free(&b);
	return r;
}

static struct search_key *parse_key(struct search_parser *p, const struct imap_arg *args, size_t n, size_t *i,
				    unsigned depth);

/* Criteria args[*i..n) into the children of `and`, all of them. */
static bool parse_list(struct search_parser *p, struct search_key *and, const struct imap_arg *args, size_t n,
		       unsigned depth)
{
	struct search_key **tail = &and->child;
	for (size_t i = 0; i < n;) {
		struct search_key *k = parse_key(p, args, n, &i, depth);
		if (k == NULL)
			return false;
		*tail = k;
		tail = &k->next;
	}
	return true;
}

static const struct {
	const char *name;
	uint32_t flag;
	bool negate;
} flag_keys[] = {
	{"ANSWERED", STORE_FLAG_ANSWERED, false}, {"DELETED", STORE_FLAG_DELETED, false},
	{"DRAFT", STORE_FLAG_DRAFT, false},       {"FLAGGED", STORE_FLAG_FLAGGED, false},
	{"SEEN", STORE_FLAG_SEEN, false},         {"UNANSWERED", STORE_FLAG_ANSWERED, true},
	{"UNDELETED", STORE_FLAG_DELETED, true},  {"UNDRAFT", STORE_FLAG_DRAFT, true},
	{"UNFLAGGED", STORE_FLAG_FLAGGED, true},  {"UNSEEN", STORE_FLAG_SEEN, true},
};

static const struct {
	const char *name;
	const char *field; /* NULL: BODY/TEXT */
	enum search_key_type type;
} text_keys[] = {
	{"BCC", "bcc", SK_HEADER},         {"CC", "cc", SK_HEADER}, {"FROM", "from", SK_HEADER},
	{"SUBJECT", "subject", SK_HEADER}, {"TO", "to", SK_HEADER}, {"BODY", NULL, SK_BODY},
	{"TEXT", NULL, SK_TEXT},
};

static const struct {
	const char *name;
	enum search_key_type type;
} date_keys[] = {
	{"BEFORE", SK_BEFORE},         {"ON", SK_ON},         {"SINCE", SK_SINCE},
	{"SENTBEFORE", SK_SENTBEFORE}, {"SENTON", SK_SENTON}, {"SENTSINCE", SK_SENTSINCE},
};

/* A text criterion's key string, folded. */
static struct search_key *text_key(struct search_parser *p, enum search_key_type type, const char *field,
				   const struct imap_arg *a)
{
	const char *s;
	size_t len;
	if (!arg_astring(a, &s, &len))
		return fail(p, SEARCH_PARSE_BAD, "Search key needs a string");
	if (++p->q->n_text > IMAP_SEARCH_MAX_TEXT_KEYS)
		return fail(p, SEARCH_PARSE_LIMIT, "[LIMIT] Too many text criteria in one search");
	struct search_key *k = key_new(p, type);
	if (field != NULL) {
		k->field = xstrdup(field);
		for (char *c = k->field; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	}
	k->needle = fold(s, len, &k->needle_len);
	p->q->want |= type == SK_BODY ? STORE_SCAN_BODY
		    : type == SK_TEXT ? STORE_SCAN_HEADERS | STORE_SCAN_BODY
				      : STORE_SCAN_HEADERS;
	return k;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162). */
static struct search_key *modseq_key(struct search_parser *p, const struct imap_arg *args, size_t n, size_t *i)
{
	const char *s;
	size_t len;
	if (*i < n && args[*i].type != IMAP_ARG_NUMBER) {
		if (!arg_astring(&args[*i], &s, &len) || len < 7 || strncmp(s, "/flags/", 7) != 0)
			return fail(p, SEARCH_PARSE_BAD, "MODSEQ needs an entry name /flags/<flag>");
		const char *type = *i + 1 < n ? arg_atom(&args[*i + 1]) : NULL;
		if (type == NULL || !(str_ieq(type, "priv") || str_ieq(type, "shared") || str_ieq(type, "all")))
			return fail(p, SEARCH_PARSE_BAD, "MODSEQ needs an entry type (priv, shared or all)");
		*i += 2;
	}
	if (*i >= n || args[*i].type != IMAP_ARG_NUMBER || args[*i].num > INT64_MAX)
		return fail(p, SEARCH_PARSE_BAD, "MODSEQ needs a mod-sequence value");
	struct search_key *k = key_new(p, SK_MODSEQ);
	k->num = args[(*i)++].num;
	p->q->modseq = true;
	return k;
}

static struct search_key *parse_key(struct search_parser *p, const struct imap_arg *args, size_t n, size_t *i,
				    unsigned depth)
{
	if (*i >= n)
		return fail(p, SEARCH_PARSE_BAD, "Missing search key");
	if (depth > IMAP_SEARCH_MAX_DEPTH)
		return fail(p, SEARCH_PARSE_BAD, "Search criteria nested too deeply");
	if (++p->q->n_keys > IMAP_SEARCH_MAX_KEYS)
		return fail(p, SEARCH_PARSE_LIMIT, "[LIMIT] Too many criteria in one search");
	const struct imap_arg *a = &args[(*i)++];
	if (a->type == IMAP_ARG_LIST) {
		if (a->list_count == 0)
			return fail(p, SEARCH_PARSE_BAD, "Empty parenthesized search key");
		struct search_key *k = key_new(p, SK_AND);
		return parse_list(p, k, a->list, a->list_count, depth + 1) ? k : NULL;
	}
	const char *name = arg_atom(a);
	if (name == NULL)
		return fail(p, SEARCH_PARSE_BAD, "Unknown search key");
	/* A sequence set starts with a digit, '*' or is "$". */
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' || name[0] == '$') {
		if (!set_valid(name))
			return fail(p, SEARCH_PARSE_BAD, "Invalid sequence set");
		struct search_key *k = key_new(p, SK_SEQSET);
		k->set = name;
		return k;
	}
	for (size_t f = 0; f < ARRAY_LEN(flag_keys); f++) {
		if (str_ieq(name, flag_keys[f].name)) {
			struct search_key *k = key_new(p, SK_FLAG);
			k->flag = flag_keys[f].flag;
			k->negate = flag_keys[f].negate;
			return k;
		}
	}
	for (size_t f = 0; f < ARRAY_LEN(text_keys); f++) {
		if (str_ieq(name, text_keys[f].name)) {
			if (*i >= n)
				return fail(p, SEARCH_PARSE_BAD, "Search key needs a string");
			return text_key(p, text_keys[f].type, text_keys[f].field, &args[(*i)++]);
		}
	}
	for (size_t f = 0; f < ARRAY_LEN(date_keys); f++) {
		if (str_ieq(name, date_keys[f].name)) {
			const char *s;
			size_t len;
			int64_t day;
			if (*i >= n || !arg_astring(&args[*i], &s, &len) || strlen(s) != len || !imap_search_date(s, &day))
				return fail(p, SEARCH_PARSE_BAD, "Search key needs a date (d-Mon-yyyy)");
			(*i)++;
			struct search_key *k = key_new(p, date_keys[f].type);
			k->day = day;
			if (k->type >= SK_SENTBEFORE)
				p->q->want |= STORE_SCAN_SENT_DATE | STORE_SCAN_HEADERS;
			return k;
		}
	}
	if (str_ieq(name, "ALL") || str_ieq(name, "OLD"))
		return key_new(p, SK_ALL);
	if (str_ieq(name, "RECENT") || str_ieq(name, "NEW"))
		return key_new(p, SK_NONE);
	if (str_ieq(name, "KEYWORD") || str_ieq(name, "UNKEYWORD")) {
		const char *kw = *i < n ? arg_atom(&args[*i]) : NULL;
		if (kw == NULL || !keyword_valid(kw))
			return fail(p, SEARCH_PARSE_BAD, "Search key needs a keyword");
		(*i)++;
		struct search_key *k = key_new(p, SK_KEYWORD);
		k->keyword = xstrdup(kw);
		k->negate = name[0] == 'U' || name[0] == 'u';
		return k;
	}
	if (str_ieq(name, "LARGER") || str_ieq(name, "SMALLER")) {
		if (*i >= n || args[*i].type != IMAP_ARG_NUMBER)
			return fail(p, SEARCH_PARSE_BAD, "Search key needs a number");
		struct search_key *k = key_new(p, str_ieq(name, "LARGER") ? SK_LARGER : SK_SMALLER);
		k->num = args[(*i)++].num;
		return k;
	}
	if (str_ieq(name, "HEADER")) {
		const char *field;
		size_t flen;
		if (*i + 1 >= n || !arg_astring(&args[*i], &field, &flen) || strlen(field) != flen)
			return fail(p, SEARCH_PARSE_BAD, "HEADER needs a field name and a string");
		(*i)++;
		return text_key(p, SK_HEADER, field, &args[(*i)++]);
	}
	if (str_ieq(name, "UID")) {
		const char *set = *i < n ? arg_atom(&args[*i]) : NULL;
		if (set == NULL || !set_valid(set))
			return fail(p, SEARCH_PARSE_BAD, "UID needs a sequence set");
		(*i)++;
		struct search_key *k = key_new(p, SK_UIDSET);
		k->set = set;
		return k;
	}
	if (str_ieq(name, "NOT")) {
		struct search_key *k = key_new(p, SK_NOT);
		k->child = parse_key(p, args, n, i, depth + 1);
		return k->child ? k : NULL;
	}
	if (str_ieq(name, "OR")) {
		struct search_key *k = key_new(p, SK_OR);
		k->child = parse_key(p, args, n, i, depth + 1);
		if (k->child == NULL)
			return NULL;
		k->child->next = parse_key(p, args, n, i, depth + 1);
		return k->child->next ? k : NULL;
	}
	if (str_ieq(name, "MODSEQ"))
		return modseq_key(p, args, n, i);
	return fail(p, SEARCH_PARSE_BAD, "Unknown search key");
}

static bool parse_return(struct search_parser *p, const struct imap_arg *a)
{
	struct search_query *q = p->q;
	if (a->type != IMAP_ARG_LIST) {
		fail(p, SEARCH_PARSE_BAD, "RETURN needs a list of options");
		return false;
	}
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {{"MIN", SEARCH_RET_MIN},
		    {"MAX", SEARCH_RET_MAX},
		    {"ALL", SEARCH_RET_ALL},
		    {"COUNT", SEARCH_RET_COUNT},
		    {"SAVE", SEARCH_RET_SAVE}};
	q->esearch = true;
	for (size_t i = 0; i < a->list_count; i++) {
		const char *o = arg_atom(&a->list[i]);
		size_t k = 0;
		while (o != NULL && k < ARRAY_LEN(opts) && !str_ieq(o, opts[k].name))
			k++;
		if (o == NULL || k == ARRAY_LEN(opts)) {
			fail(p, SEARCH_PARSE_BAD, "Unknown RETURN option");
			return false;
		}
		q->ret |= opts[k].bit;
	}
	if (q->ret == 0)
		q->ret = SEARCH_RET_ALL; /* RETURN () */
	return true;
}

enum search_parse_status imap_search_parse(const struct imap_arg *args, size_t n, struct search_query *q,
					   const char **error_r)
{
	memset(q, 0, sizeof *q);
	struct search_parser p = {.q = q, .status = SEARCH_PARSE_OK};
	size_t i = 0;
	*error_r = NULL;
	if (i < n && arg_atom(&args[i]) != NULL && str_ieq(args[i].str, "RETURN")) {
		if (i + 1 >= n || !parse_return(&p, &args[i + 1])) {
			fail(&p, SEARCH_PARSE_BAD, "RETURN needs a list of options");
			*error_r = p.error;
			return p.status;
		}
		i += 2;
	}
	if (i < n && arg_atom(&args[i]) != NULL && str_ieq(args[i].str, "CHARSET")) {
		const char *cs;
		size_t len;
		if (i + 1 >= n || !arg_astring(&args[i + 1], &cs, &len)) {
			*error_r = "CHARSET needs a name";
			return SEARCH_PARSE_BAD;
		}
		if (!str_ieq(cs, "UTF-8") && !str_ieq(cs, "US-ASCII")) {
			*error_r = "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset";
			return SEARCH_PARSE_BADCHARSET;
		}
		i += 2;
	}
	if (i >= n) {
		*error_r = "Missing search criteria";
		return SEARCH_PARSE_BAD;
	}
	q->root = key_new(&p, SK_AND);
	if (!parse_list(&p, q->root, args + i, n - i, 0)) {
		*error_r = p.error;
		return p.status;
	}
	return SEARCH_PARSE_OK;
}

void imap_search_free(struct search_query *q)
{
	for (size_t i = 0; i < q->n_all; i++) {
		struct search_key *k = q->all[i];
		free(k->keyword);
		free(k->field);
		free(k->needle);
		free(k->ranges);
		free(k);
	}
	free(q->all);
	free(q->filters);
	memset(q, 0, sizeof *q);
}

/* ---- rendering ---- */

static void dump_date(struct buf *out, int64_t day)
{
	/* civil_from_days (H. Hinnant). */
	int64_t z = day + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	buf_printf(out, "%lld-%s-%04lld", (long long)d, months[m - 1], (long long)(y + (m <= 2)));
}

static void dump_string(struct buf *out, const char *s, size_t len)
{
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, &s[i], 1);
	}
	buf_append(out, "\"", 1);
}

void imap_search_dump(const struct search_key *k, struct buf *out)
{
	static const char *const dates[] = {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"};
	switch (k->type) {
	case SK_AND:
		buf_append(out, "(", 1);
		for (const struct search_key *c = k->child; c; c = c->next) {
			if (c != k->child)
				buf_append(out, " ", 1);
			imap_search_dump(c, out);
		}
		buf_append(out, ")", 1);
		return;
	case SK_OR:
		buf_appends(out, "OR ");
		imap_search_dump(k->child, out);
		buf_append(out, " ", 1);
		imap_search_dump(k->child->next, out);
		return;
	case SK_NOT:
		buf_appends(out, "NOT ");
		imap_search_dump(k->child, out);
		return;
	case SK_ALL:
		buf_appends(out, "ALL");
		return;
	case SK_NONE:
		buf_appends(out, "NONE");
		return;
	case SK_SEQSET:
		buf_appends(out, k->set);
		return;
	case SK_UIDSET:
		buf_printf(out, "UID %s", k->set);
		return;
	case SK_FLAG:
		for (size_t f = 0; f < ARRAY_LEN(flag_keys); f++)
			if (flag_keys[f].flag == k->flag && flag_keys[f].negate == k->negate)
				buf_appends(out, flag_keys[f].name);
		return;
	case SK_KEYWORD:
		buf_printf(out, "%s %s", k->negate ? "UNKEYWORD" : "KEYWORD", k->keyword);
		return;
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
		buf_printf(out, "%s ", dates[k->type - SK_BEFORE]);
		dump_date(out, k->day);
		return;
	case SK_LARGER:
		buf_printf(out, "LARGER %llu", (unsigned long long)k->num);
		return;
	case SK_SMALLER:
		buf_printf(out, "SMALLER %llu", (unsigned long long)k->num);
		return;
	case SK_MODSEQ:
		buf_printf(out, "MODSEQ %llu", (unsigned long long)k->num);
		return;
	case SK_HEADER:
		buf_printf(out, "HEADER %s ", k->field);
		dump_string(out, k->needle, k->needle_len);
		return;
	case SK_BODY:
	case SK_TEXT:
		buf_appends(out, k->type == SK_BODY ? "BODY " : "TEXT ");
		dump_string(out, k->needle, k->needle_len);
		return;
	}
}
