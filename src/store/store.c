/* Backend-independent parts of the storage API: releasing the structures the
 * store hands out, the per-thread error text behind store_last_error(), and the
 * input rules every backend applies the same way (CRLF normalisation of
 * content, mailbox-name validation). None of it touches a database. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* Long enough for any message we compose; longer text is cut, never overrun. */
#define STORE_ERROR_MAX 512

static _Thread_local char store_error_text[STORE_ERROR_MAX];

void store_account_clear(struct store_account *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->pwhash);
	free(a->apop_secret);
	memset(a, 0, sizeof *a);
}

void store_uidmap_clear(struct store_uidmap *m)
{
	if (m == NULL)
		return;
	free(m->src);
	free(m->dst);
	memset(m, 0, sizeof *m);
}

void store_flag_result_clear(struct store_flag_result *r)
{
	if (r == NULL)
		return;
	free(r->entries);
	free(r->failed);
	store_strings_free(r->keywords, r->n_keywords);
	memset(r, 0, sizeof *r);
}

void store_mailbox_clear(struct store_mailbox *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->special_use);
	store_strings_free(m->keywords, m->n_keywords);
	memset(m, 0, sizeof *m);
}

void store_mailboxes_free(struct store_mailbox *m, size_t n)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_mailbox_clear(&m[i]);
	free(m);
}

void store_strings_free(char **s, size_t n)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

const char *store_last_error(void)
{
	return store_error_text[0] ? store_error_text : "no error";
}

int store_set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(store_error_text, sizeof store_error_text, fmt, ap);
	va_end(ap);
	return STORE_ERROR;
}

const char *store_crlf_normalise(const char *data, size_t len, size_t *len_r)
{
	/* Count bare LFs first (memchr is fast on the common all-CRLF input), so
	 * that input needing no change is never copied. */
	size_t bare = 0;
	for (const char *p = data, *end = data + len; p < end; p++) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (p == NULL)
			break;
		if (p == data || p[-1] != '\r')
			bare++;
	}
	*len_r = len + bare;
	if (bare == 0)
		return data;
	char *out = xmalloc(len + bare);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			out[o++] = '\r';
		out[o++] = data[i];
	}
	return out;
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without C0 controls or DEL. */
bool store_text_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return utf8_valid(s, len);
}

int store_mailbox_name_normalise(const char *name, char **norm_r)
{
	*norm_r = NULL;
	if (name == NULL)
		return STORE_INVALID;
	size_t len = strlen(name);
	if (len == 0 || len > STORE_MAILBOX_NAME_MAX || !store_text_valid(name, len))
		return STORE_INVALID;
	if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL)
		return STORE_INVALID;
	char *norm = xstrdup(name);
	if (len >= 5 && mem_ieq(norm, 5, "INBOX") && (len == 5 || norm[5] == '/'))
		memcpy(norm, "INBOX", 5);
	*norm_r = norm;
	return STORE_OK;
}

int store_deliver(struct store *st, const char *data, size_t len, struct store_target *targets, size_t n_targets)
{
	if ((data == NULL && len > 0) || targets == NULL || n_targets == 0)
		return STORE_INVALID;
	size_t norm_len = 0;
	const char *norm = len ? store_crlf_normalise(data, len, &norm_len) : "";
	struct mime_info info;
	mime_parse(norm, norm_len, &info);
	int rc = st->ops->deliver(st, norm, norm_len, &info, targets, n_targets);
	mime_info_clear(&info);
	if (norm != data && len > 0)
		free((char *)norm);
	return rc;
}

int store_message_info(struct store *st, int64_t account_id, int64_t message_id, bool with_text, struct mime_info *r)
{
	return st->ops->message_info(st, account_id, message_id, with_text, r);
}
