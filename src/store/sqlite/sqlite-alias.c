/* Aliases in the embedded store (schema step 7): address -> account names,
 * and whether a domain is one the store knows (an account or alias in it). */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

/* "local@domain" or "@domain": printable ASCII or UTF-8, no spaces, exactly
 * one '@' with a non-empty domain after it. */
static bool sqlite_alias_address_valid(const char *a)
{
	if (a == NULL)
		return false;
	size_t len = strlen(a);
	const char *at = strchr(a, '@');
	return len > 1 && len <= SQLITE_ACCOUNT_NAME_MAX && store_text_valid(a, len) && strchr(a, ' ') == NULL &&
	       at != NULL && strchr(at + 1, '@') == NULL && at[1] != '\0';
}

static bool sqlite_alias_target_valid(const char *t)
{
	if (t == NULL)
		return false;
	size_t len = strlen(t);
	return len > 0 && len <= SQLITE_ACCOUNT_NAME_MAX && store_text_valid(t, len) && strchr(t, ' ') == NULL;
}

struct sqlite_alias_ctx {
	const char *address;
	const char *target;
};

static int sqlite_alias_add_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_alias_ctx *ctx = arg;
	sqlite3_stmt *s = sqlite_stmt(w, "INSERT OR IGNORE INTO aliases (address, target, created) VALUES (?, ?, ?)");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, ctx->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ctx->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, time_now());
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	return sqlite3_changes(w->db) ? STORE_OK : STORE_EXISTS;
}

int sqlite_alias_add(struct store *base, const char *address, const char *target)
{
	if (!sqlite_alias_address_valid(address) || !sqlite_alias_target_valid(target))
		return STORE_INVALID;
	struct sqlite_alias_ctx ctx = {address, target};
	return sqlite_submit(sqlite_store_of(base), sqlite_alias_add_job, &ctx);
}

static int sqlite_alias_delete_job(struct sqlite_store *st, struct sqlite_conn *w, void *arg, struct sqlite_changes *ch)
{
	struct sqlite_alias_ctx *ctx = arg;
	sqlite3_stmt *s = sqlite_stmt(w, ctx->target ? "DELETE FROM aliases WHERE address = ? AND target = ?"
						     : "DELETE FROM aliases WHERE address = ?");
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, ctx->address, -1, SQLITE_STATIC);
	if (ctx->target)
		sqlite3_bind_text(s, 2, ctx->target, -1, SQLITE_STATIC);
	if (sqlite_step_done(w, s) != STORE_OK)
		return STORE_ERROR;
	return sqlite3_changes(w->db) ? STORE_OK : STORE_NOTFOUND;
}

int sqlite_alias_delete(struct store *base, const char *address, const char *target)
{
	if (address == NULL || *address == '\0')
		return STORE_INVALID;
	struct sqlite_alias_ctx ctx = {address, target};
	return sqlite_submit(sqlite_store_of(base), sqlite_alias_delete_job, &ctx);
}

/* Step s to the end, collecting column 0 (and column 1 when b is given). */
static int sqlite_alias_rows(struct sqlite_conn *c, sqlite3_stmt *s, const char *what, char ***a_r, char ***b_r,
			     size_t *n_r)
{
	char **a = NULL, **b = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			a = xrealloc(a, cap * sizeof *a);
			if (b_r)
				b = xrealloc(b, cap * sizeof *b);
		}
		a[n] = xstrdup((const char *)sqlite3_column_text(s, 0));
		if (b_r)
			b[n] = xstrdup((const char *)sqlite3_column_text(s, 1));
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_strings_free(a, n);
		store_strings_free(b, b_r ? n : 0);
		return sqlite_fail(c, what);
	}
	*a_r = a;
	if (b_r)
		*b_r = b;
	*n_r = n;
	return STORE_OK;
}

int sqlite_alias_list(struct store *base, char ***addresses_r, char ***targets_r, size_t *n_r)
{
	*addresses_r = *targets_r = NULL;
	*n_r = 0;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT address, target FROM aliases ORDER BY address, target") : NULL;
	if (s == NULL)
		return STORE_ERROR;
	return sqlite_alias_rows(c, s, "alias_list", addresses_r, targets_r, n_r);
}

int sqlite_alias_targets(struct store *base, const char *address, char ***targets_r, size_t *n_r)
{
	*targets_r = NULL;
	*n_r = 0;
	if (address == NULL || *address == '\0')
		return STORE_NOTFOUND;
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT target FROM aliases WHERE address = ? ORDER BY target") : NULL;
	if (s == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(s, 1, address, -1, SQLITE_STATIC);
	int rc = sqlite_alias_rows(c, s, "alias_targets", targets_r, NULL, n_r);
	return rc == STORE_OK && *n_r == 0 ? STORE_NOTFOUND : rc;
}

int sqlite_domain_known(struct store *base, const char *domain)
{
	if (domain == NULL || *domain == '\0' || strchr(domain, '@') != NULL)
		return STORE_NOTFOUND;
	/* "%@domain" with LIKE's own characters escaped; LIKE ignores ASCII case. */
	struct buf pat = {0};
	buf_append(&pat, "%@", 2);
	for (const char *p = domain; *p; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			buf_append(&pat, "\\", 1);
		buf_append(&pat, p, 1);
	}
	buf_append(&pat, "", 1);
	struct sqlite_conn *c = sqlite_reader(sqlite_store_of(base));
	sqlite3_stmt *s = c ? sqlite_stmt(c, "SELECT EXISTS (SELECT 1 FROM accounts WHERE name LIKE ?1 ESCAPE '\\')"
					     " OR EXISTS (SELECT 1 FROM aliases WHERE address LIKE ?1 ESCAPE '\\')")
			    : NULL;
	int64_t found = 0;
	int rc = STORE_ERROR;
	if (s != NULL) {
		sqlite3_bind_text(s, 1, pat.data, -1, SQLITE_STATIC);
		rc = sqlite_step_int64(c, s, &found);
	}
	buf_free(&pat);
	if (rc != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	return found ? STORE_OK : STORE_NOTFOUND;
}
