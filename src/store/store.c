/* Backend-independent parts of the storage API: releasing the structures the
 * store hands out, the per-thread error text behind store_last_error(), the
 * input rules every backend applies the same way (CRLF normalisation of
 * content, mailbox-name and keyword validation), and the parsing around
 * delivery: a message is parsed once before the backend stores it, and one
 * stored before the parser existed is parsed on first use and the result
 * kept. None of it touches a database itself. */
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* Long enough for any message we compose; longer text is cut, never overrun. */
#define STORE_ERROR_MAX 512

static _Thread_local char store_error_text[STORE_ERROR_MAX];

/* Slices in which a message is read for a late parse. */
#define STORE_READ_CHUNK (256 * 1024)

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

void store_info_rows_free(struct store_info_row *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		mime_info_clear(&r[i].info);
	free(r);
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

bool store_keywords_valid(const char *const *names, size_t n)
{
	if (n > 0 && names == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t len = names[i] ? strlen(names[i]) : 0;
		if (len == 0 || len > STORE_KEYWORD_MAX)
			return false;
		for (size_t j = 0; j < len; j++) {
			unsigned char c = (unsigned char)names[i][j];
			if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
				return false;
		}
	}
	return true;
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
	const char *norm = len > 0 ? store_crlf_normalise(data, len, &norm_len) : "";
	/* Parsed here, outside the writer, so that the one writer thread only
	 * stores what the parser found. */
	struct mime_info info;
	mime_parse(norm, norm_len, &info);
	int rc = st->ops->deliver(st, norm, norm_len, &info, targets, n_targets);
	mime_info_clear(&info);
	if (len > 0 && norm != data)
		free((char *)norm);
	return rc;
}

/* The whole content of a message (messages are below 2 GB: SQLite's limit). */
static int store_content_read(struct store *st, int64_t account_id, int64_t message_id, struct buf *b)
{
	uint64_t off = 0;
	for (;;) {
		char *p = buf_reserve(b, STORE_READ_CHUNK);
		size_t n = 0;
		int rc = st->ops->message_read(st, account_id, message_id, off, p, STORE_READ_CHUNK, &n);
		if (rc != STORE_OK)
			return rc;
		buf_commit(b, n);
		off += n;
		if (n < STORE_READ_CHUNK)
			return STORE_OK;
	}
}

int store_message_info(struct store *st, int64_t account_id, int64_t message_id, bool with_text, struct mime_info *r)
{
	int rc = st->ops->message_info(st, account_id, message_id, with_text, r);
	if (rc != STORE_OK || r->envelope != NULL)
		return rc;
	/* Stored before the parser existed: parse it now and keep the result. */
	mime_info_clear(r);
	struct buf b = {0};
	rc = store_content_read(st, account_id, message_id, &b);
	st->ops->release_thread(st);
	if (rc != STORE_OK) {
		buf_free(&b);
		return rc;
	}
	mime_parse(buf_used(&b) ? buf_head(&b) : "", buf_used(&b), r);
	buf_free(&b);
	/* The result is a cache: failing to keep it costs a parse next time,
	 * not this answer. */
	int set = st->ops->message_info_set(st, message_id, r);
	if (set != STORE_OK && set != STORE_NOTFOUND)
		log_warn("event=store_info_keep_failed message=%lld error=\"%s\"", (long long)message_id,
			 store_last_error());
	if (!with_text) {
		free(r->search_headers);
		free(r->search_body);
		r->search_headers = r->search_body = NULL;
	}
	return STORE_OK;
}
