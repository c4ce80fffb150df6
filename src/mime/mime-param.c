/* Content-Type and Content-Disposition values: the type, the subtype and the
 * parameter list, with RFC 2231 sections joined back into one parameter. It is
 * lenient the way mail needs: comments anywhere, stray semicolons, unquoted
 * values with blanks in them, junk between parameters. At most MIME_MAX_PARAMS
 * parameters are kept, and the work is linear in the value's length. */
#include "mime/mime-private.h"

#include <string.h>

#include "core/util.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_token(unsigned char c)
{
	return c > 32 && c != 127 && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static void skip_cfws(const char *s, size_t len, size_t *ip)
{
	size_t i = *ip;
	while (i < len) {
		if (is_blank(s[i])) {
			i++;
		} else if (s[i] == '(') {
			int depth = 0;
			while (i < len) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')' && --depth == 0) {
					i++;
					break;
				}
				i++;
			}
		} else {
			break;
		}
	}
	*ip = i;
}

static char *lower_dup(struct mime_arena *a, const char *s, size_t n, const char *suffix)
{
	size_t sl = suffix ? strlen(suffix) : 0;
	char *r = mime_arena_alloc(a, n + sl + 1);
	for (size_t i = 0; i < n; i++)
		r[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
	if (sl)
		memcpy(r + n, suffix, sl);
	r[n + sl] = '\0';
	return r;
}

struct raw_param {
	const char *name; /* lower-cased, without the RFC 2231 section and '*' */
	size_t name_len;
	int section;      /* -1 when not sectioned */
	bool ext;         /* ends in '*': charset'lang'%XX value */
	bool used;
	const char *value;
	size_t value_len;
};

static void split_name(struct raw_param *r)
{
	const char *n = r->name;
	size_t len = r->name_len;
	if (len > 1 && n[len - 1] == '*') {
		r->ext = true;
		len--;
	}
	size_t i = len;
	while (i > 0 && n[i - 1] >= '0' && n[i - 1] <= '9')
		i--;
	if (i > 1 && i < len && len - i <= 4 && n[i - 1] == '*') {
		int sec = 0;
		for (size_t k = i; k < len; k++)
			sec = sec * 10 + (n[k] - '0');
		r->section = sec;
		len = i - 1;
	}
	r->name_len = len;
}

static bool attr_char(unsigned char c)
{
	return c > 32 && c < 127 && strchr("*'%()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool has_key(const struct mime_params *ps, const char *key)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].name, key) == 0)
			return true;
	return false;
}

/* Join the raw parameters into ps, RFC 2231 sections merged. */
static void join_params(struct mime_arena *a, struct raw_param *raw, size_t n, struct mime_params *ps)
{
	ps->v = mime_arena_alloc(a, (n ? n : 1) * sizeof *ps->v);
	ps->n = 0;
	struct buf b = {0};
	for (size_t i = 0; i < n; i++) {
		struct raw_param *r = &raw[i];
		if (r->used)
			continue;
		r->used = true;
		if (r->section < 0) {
			char *key = mime_arena_strndup(a, r->name, r->name_len);
			if (r->ext)
				key = lower_dup(a, key, r->name_len, "*");
			if (!has_key(ps, key))
				ps->v[ps->n++] = (struct mime_param){key, mime_arena_strndup(a, r->value, r->value_len), r->value_len};
			continue;
		}
		/* A sectioned parameter: take sections 0, 1, ... while they follow. */
		bool any_ext = false;
		for (size_t k = i; k < n; k++)
			if (raw[k].section >= 0 && raw[k].name_len == r->name_len && memcmp(raw[k].name, r->name, r->name_len) == 0) {
				raw[k].used = true;
				any_ext |= raw[k].ext;
			}
		buf_clear(&b);
		int sec = 0;
		for (;; sec++) {
			struct raw_param *s = NULL;
			for (size_t k = i; k < n && s == NULL; k++)
				if (raw[k].section == sec && raw[k].name_len == r->name_len &&
					memcmp(raw[k].name, r->name, r->name_len) == 0)
					s = &raw[k];
			if (s == NULL)
				break;
			if (!any_ext || s->ext) {
				buf_append(&b, s->value, s->value_len);
			} else {
				if (sec == 0)
					buf_appends(&b, "''");
				for (size_t j = 0; j < s->value_len; j++) {
					unsigned char c = (unsigned char)s->value[j];
					if (attr_char(c))
						buf_append(&b, &c, 1);
					else
						buf_printf(&b, "%%%02X", c);
				}
			}
		}
		if (sec == 0)
			continue;
		char *key = lower_dup(a, r->name, r->name_len, any_ext ? "*" : NULL);
		if (has_key(ps, key))
			continue;
		size_t vlen = buf_used(&b);
		ps->v[ps->n++] = (struct mime_param){key, mime_arena_strndup(a, vlen ? buf_head(&b) : "", vlen), vlen};
	}
	buf_free(&b);
}

void mime_ctype_parse(struct mime_arena *a, const char *s, size_t len, bool want_subtype, char **type_r,
	char **subtype_r, struct mime_params *params_r)
{
	*type_r = NULL;
	if (subtype_r)
		*subtype_r = NULL;
	params_r->v = NULL;
	params_r->n = 0;
	size_t i = 0;
	skip_cfws(s, len, &i);
	size_t ts = i;
	while (i < len && is_token((unsigned char)s[i]))
		i++;
	if (i == ts)
		return;
	char *type = lower_dup(a, s + ts, i - ts, NULL);
	char *subtype = NULL;
	skip_cfws(s, len, &i);
	if (want_subtype) {
		if (i >= len || s[i] != '/')
			return;
		i++;
		skip_cfws(s, len, &i);
		size_t ss = i;
		while (i < len && is_token((unsigned char)s[i]))
			i++;
		if (i == ss)
			return;
		subtype = lower_dup(a, s + ss, i - ss, NULL);
	}

	struct raw_param raw[MIME_MAX_PARAMS];
	size_t n = 0;
	struct buf qv = {0};
	/* Quoted values are unescaped into qv; the raw entries point into it
	 * only once it has stopped growing, so they record offsets first. */
	size_t qoff[MIME_MAX_PARAMS];
	while (i < len && n < MIME_MAX_PARAMS) {
		while (i < len && s[i] != ';') {
			if (s[i] == '"') {
				i++;
				while (i < len && s[i] != '"')
					i += s[i] == '\\' && i + 1 < len ? 2 : 1;
			}
			if (i < len)
				i++;
		}
		if (i >= len)
			break;
		i++;
		skip_cfws(s, len, &i);
		size_t ns = i;
		while (i < len && !is_blank(s[i]) && s[i] != ';' && s[i] != '=' && s[i] != '"' && s[i] != '(')
			i++;
		size_t ne = i;
		skip_cfws(s, len, &i);
		if (ne == ns || i >= len || s[i] != '=')
			continue;
		i++;
		skip_cfws(s, len, &i);
		struct raw_param *r = &raw[n];
		memset(r, 0, sizeof *r);
		r->name = lower_dup(a, s + ns, ne - ns, NULL);
		r->name_len = ne - ns;
		r->section = -1;
		if (i < len && s[i] == '"') {
			i++;
			qoff[n] = buf_used(&qv);
			while (i < len && s[i] != '"') {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				buf_append(&qv, s + i, 1);
				i++;
			}
			if (i < len)
				i++;
			r->value = NULL;
			r->value_len = buf_used(&qv) - qoff[n];
		} else {
			size_t vs = i;
			while (i < len && s[i] != ';' && !(s[i] == '(' && i > vs && is_blank(s[i - 1])))
				i++;
			size_t ve = i;
			while (ve > vs && is_blank(s[ve - 1]))
				ve--;
			r->value = s + vs;
			r->value_len = ve - vs;
		}
		split_name(r);
		n++;
	}
	char *qs = mime_arena_strndup(a, buf_used(&qv) ? buf_head(&qv) : "", buf_used(&qv));
	buf_free(&qv);
	for (size_t k = 0; k < n; k++)
		if (raw[k].value == NULL)
			raw[k].value = qs + qoff[k];
	join_params(a, raw, n, params_r);
	*type_r = type;
	if (subtype_r)
		*subtype_r = subtype;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

const char *mime_param_get(struct mime_arena *a, const struct mime_params *ps, const char *name, size_t *len_r)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->v[i].name, name) == 0) {
			*len_r = ps->v[i].value_len;
			return ps->v[i].value;
		}
	for (size_t i = 0; i < ps->n; i++) {
		const struct mime_param *p = &ps->v[i];
		if (strncmp(p->name, name, nl) != 0 || strcmp(p->name + nl, "*") != 0)
			continue;
		const char *v = p->value;
		size_t len = p->value_len;
		const char *q1 = memchr(v, '\'', len);
		const char *q2 = q1 ? memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - v)) : NULL;
		if (q2 != NULL) {
			len -= (size_t)(q2 + 1 - v);
			v = q2 + 1;
		}
		char *r = mime_arena_alloc(a, len + 1);
		size_t o = 0;
		for (size_t k = 0; k < len; k++) {
			int h, l;
			if (v[k] == '%' && k + 2 < len && (h = hexval(v[k + 1])) >= 0 && (l = hexval(v[k + 2])) >= 0) {
				r[o++] = (char)(h << 4 | l);
				k += 2;
			} else {
				r[o++] = v[k];
			}
		}
		r[o] = '\0';
		*len_r = o;
		return r;
	}
	return NULL;
}
