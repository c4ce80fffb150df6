/* Keywords of the embedded store: each mailbox has a list of at most
 * STORE_MAX_KEYWORDS names, and each entry keeps its keywords as a bit set over
 * that list, so a STORE of one keyword on a whole mailbox is arithmetic on an
 * integer column. Names are matched without regard to ASCII case (keywords are
 * atoms, hence ASCII); a name keeps the spelling it was first given. The list
 * only grows: an index, once given, always means the same name. Also the small
 * helpers the message and flag code share: entry rows, and UID lists cut into
 * batches that one statement each can handle. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

int sqlite_keywords_load(struct sqlite_conn *c, int64_t account_id, int64_t mailbox_id, struct sqlite_keywords *kw)
{
	memset(kw, 0, sizeof *kw);
	sqlite3_stmt *s = sqlite_stmt(c, "SELECT idx, name FROM mailbox_keywords"
					 " WHERE account_id = ? AND mailbox_id = ? ORDER BY idx");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 1);
		if (sqlite3_column_int64(s, 0) != (int64_t)kw->n || kw->n >= STORE_MAX_KEYWORDS) {
			sqlite3_reset(s);
			sqlite_keywords_clear(kw);
			return store_set_error("mailbox %lld has a broken keyword list", (long long)mailbox_id);
		}
		kw->names[kw->n++] = xstrdup(t ? (const char *)t : "");
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		sqlite_keywords_clear(kw);
		return sqlite_fail(c, "load keywords");
	}
	return STORE_OK;
}

void sqlite_keywords_clear(struct sqlite_keywords *kw)
{
	for (size_t i = 0; i < kw->n; i++)
		free(kw->names[i]);
	kw->n = 0;
}

int sqlite_keyword_bit(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, struct sqlite_keywords *kw,
		       const char *name, bool add, uint64_t *bit_r)
{
	for (size_t i = 0; i < kw->n; i++)
		if (strcasecmp(kw->names[i], name) == 0) {
			*bit_r = UINT64_C(1) << i;
			return STORE_OK;
		}
	if (!add)
		return STORE_NOTFOUND;
	if (kw->n >= STORE_MAX_KEYWORDS)
		return STORE_LIMIT;
	sqlite3_stmt *s = sqlite_stmt(w, "INSERT INTO mailbox_keywords (account_id, mailbox_id, idx, name)"
					 " VALUES (?, ?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(s, 1, account_id);
	sqlite3_bind_int64(s, 2, mailbox_id);
	sqlite3_bind_int64(s, 3, (int64_t)kw->n);
	sqlite3_bind_text(s, 4, name, -1, SQLITE_STATIC);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	*bit_r = UINT64_C(1) << kw->n;
	kw->names[kw->n++] = xstrdup(name);
	return STORE_OK;
}

int sqlite_keyword_bits(struct sqlite_conn *w, int64_t account_id, int64_t mailbox_id, struct sqlite_keywords *kw,
			const char *const *names, size_t n, uint64_t *bits_r)
{
	uint64_t bits = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t bit;
		int rc = sqlite_keyword_bit(w, account_id, mailbox_id, kw, names[i], true, &bit);
		if (rc != STORE_OK)
			return rc;
		bits |= bit;
	}
	*bits_r = bits;
	return STORE_OK;
}

void sqlite_keywords_export(const struct sqlite_keywords *kw, char ***names_r, size_t *n_r)
{
	*names_r = NULL;
	*n_r = kw->n;
	if (kw->n == 0)
		return;
	char **v = xcalloc(kw->n, sizeof *v);
	for (size_t i = 0; i < kw->n; i++)
		v[i] = xstrdup(kw->names[i]);
	*names_r = v;
}

/* --- shared row helpers --- */

void sqlite_entry_row(sqlite3_stmt *s, struct store_entry *e)
{
	*e = (struct store_entry){
		.uid = (uint32_t)sqlite3_column_int64(s, 0),
		.message_id = sqlite3_column_int64(s, 1),
		.size = (uint64_t)sqlite3_column_int64(s, 2),
		.internal_date = sqlite3_column_int64(s, 3),
		.flags = (uint32_t)sqlite3_column_int64(s, 4),
		.modseq = (uint64_t)sqlite3_column_int64(s, 5),
		.ends_crlf = sqlite3_column_int(s, 6) != 0,
		.keywords = (uint64_t)sqlite3_column_int64(s, 7),
	};
}

int sqlite_entry_rows(struct sqlite_conn *c, sqlite3_stmt *s, const char *what, struct store_entry **v, size_t *n,
		      size_t *cap)
{
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*v = xrealloc(*v, *cap * sizeof **v);
		}
		sqlite_entry_row(s, &(*v)[(*n)++]);
	}
	int ret = rc == SQLITE_DONE ? STORE_OK : sqlite_fail(c, what);
	sqlite3_reset(s);
	return ret;
}

static int sqlite_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

uint32_t *sqlite_uids_sorted(const uint32_t *uids, size_t n, size_t *n_r)
{
	uint32_t *v = xmalloc((n ? n : 1) * sizeof *v);
	if (n > 0)
		memcpy(v, uids, n * sizeof *v);
	/* A sequence set from IMAP usually arrives in order already. */
	bool sorted = true;
	for (size_t i = 1; i < n && sorted; i++)
		sorted = v[i - 1] < v[i];
	if (!sorted)
		qsort(v, n, sizeof *v, sqlite_uid_cmp);
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] != 0 && (out == 0 || v[out - 1] != v[i]))
			v[out++] = v[i];
	*n_r = out;
	return v;
}

size_t sqlite_uid_run(const uint32_t *uids, size_t n, size_t i)
{
	size_t j = i + 1;
	while (j < n && uids[j] == uids[j - 1] + 1)
		j++;
	return j;
}

void sqlite_uid_iter_init(struct sqlite_uid_iter *it, const uint32_t *uids, size_t n)
{
	memset(it, 0, sizeof *it);
	it->uids = uids;
	it->n = n;
}

bool sqlite_uid_iter_next(struct sqlite_uid_iter *it, struct sqlite_uid_batch *b)
{
	if (it->i >= it->n)
		return false;
	size_t j = sqlite_uid_run(it->uids, it->n, it->i);
	if (j - it->i >= SQLITE_UID_RUN_MIN) {
		*b = (struct sqlite_uid_batch){.lo = it->uids[it->i], .hi = it->uids[j - 1]};
		it->i = j;
		return true;
	}
	/* Short runs up to the next long one, or until the list is full. */
	buf_clear(&it->json);
	size_t listed = 0;
	while (it->i < it->n) {
		j = sqlite_uid_run(it->uids, it->n, it->i);
		if (j - it->i >= SQLITE_UID_RUN_MIN || (listed > 0 && listed + (j - it->i) > SQLITE_UID_LIST_MAX))
			break;
		for (size_t k = it->i; k < j; k++)
			buf_printf(&it->json, "%c%u", listed++ == 0 ? '[' : ',', it->uids[k]);
		it->i = j;
	}
	buf_append(&it->json, "]", 2); /* with the NUL */
	*b = (struct sqlite_uid_batch){.json = buf_head(&it->json)};
	return true;
}

void sqlite_uid_iter_free(struct sqlite_uid_iter *it)
{
	buf_free(&it->json);
}

void sqlite_json_ids(struct buf *b, const int64_t *ids, size_t n)
{
	buf_clear(b);
	buf_appends(b, "[");
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%lld", i ? "," : "", (long long)ids[i]);
	buf_append(b, "]", 2); /* with the NUL */
}
