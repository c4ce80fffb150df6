/* Local recipients (see smtp-local.h for the rules). */
#include "smtp/smtp-local.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

void local_targets_free(struct local_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].account);
	free(t);
}

/* Is domain one of the names in a comma-separated list? */
static bool domain_in_list(const char *list, const char *domain)
{
	size_t dl = strlen(domain);
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		size_t n = (size_t)(e - p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == dl && n > 0 && strncasecmp(p, domain, n) == 0)
			return true;
		p = e;
	}
	return false;
}

bool local_domain(struct server *srv, const char *domain)
{
	if (domain == NULL || *domain == '\0')
		return true;
	if (str_ieq(domain, "localhost") || str_ieq(domain, srv->hostname) ||
	    domain_in_list(config_str(srv->cfg, "smtp.domains"), domain))
		return true;
	return store_domain_known(srv->store, domain) == STORE_OK;
}

/* Add account `name` as a target (its INBOX, or the mailbox `folder` when
 * asked and present). STORE_NOTFOUND when there is no such account. */
static int add_account(struct server *srv, const char *name, const char *folder, struct local_target **t, size_t *n)
{
	struct store_account a;
	int rc = store_account_find(srv->store, name, &a);
	if (rc != STORE_OK)
		return rc;
	struct store_mailbox mb;
	rc = STORE_NOTFOUND;
	if (folder != NULL && *folder != '\0')
		rc = store_mailbox_find(srv->store, a.id, folder, &mb);
	if (rc == STORE_NOTFOUND)
		rc = store_mailbox_find(srv->store, a.id, "INBOX", &mb);
	if (rc == STORE_OK) {
		*t = xrealloc(*t, (*n + 1) * sizeof **t);
		(*t)[*n] = (struct local_target){.account_id = a.id, .mailbox_id = mb.id, .account = a.name};
		a.name = NULL;
		(*n)++;
		store_mailbox_clear(&mb);
	} else if (rc == STORE_NOTFOUND) {
		rc = STORE_ERROR; /* an account without INBOX is damage, not an unknown user */
	}
	store_account_clear(&a);
	return rc;
}

/* The account or alias named `name`. STORE_NOTFOUND when neither exists (or
 * the alias names no existing account). */
static int try_name(struct server *srv, const char *name, const char *folder, struct local_target **t, size_t *n)
{
	int rc = add_account(srv, name, folder, t, n);
	if (rc != STORE_NOTFOUND)
		return rc;
	char **targets;
	size_t nt;
	rc = store_alias_targets(srv->store, name, &targets, &nt);
	if (rc != STORE_OK)
		return rc;
	size_t before = *n;
	for (size_t i = 0; i < nt && rc != STORE_ERROR; i++) {
		int r = add_account(srv, targets[i], folder, t, n);
		if (r == STORE_ERROR)
			rc = r;
	}
	store_strings_free(targets, nt);
	if (rc == STORE_ERROR)
		return rc;
	return *n > before ? STORE_OK : STORE_NOTFOUND;
}

static enum local_result result_of(int rc)
{
	return rc == STORE_OK ? LOCAL_OK : rc == STORE_NOTFOUND ? LOCAL_UNKNOWN : LOCAL_TEMPFAIL;
}

static enum local_result resolve(struct server *srv, const char *addr, bool any_domain, bool catch_all,
				 struct local_target **targets_r, size_t *n_r)
{
	if (addr == NULL || *addr == '\0')
		return LOCAL_UNKNOWN;
	const char *at = strrchr(addr, '@');
	const char *domain = at ? at + 1 : NULL;
	size_t local_len = at ? (size_t)(at - addr) : strlen(addr);

	/* 1. The whole address as it is. */
	int rc = try_name(srv, addr, NULL, targets_r, n_r);
	if (rc != STORE_NOTFOUND)
		return result_of(rc);
	if (domain != NULL && !any_domain && !local_domain(srv, domain))
		return LOCAL_REMOTE;

	/* 2. Without the extension (+tag), which may name a folder. */
	const char *delim = config_str(srv->cfg, "smtp.recipient_delimiter");
	char *base = NULL, *tag = NULL;
	size_t base_len = local_len;
	if (delim[0] != '\0') {
		const char *d = memchr(addr, delim[0], local_len);
		if (d != NULL && d > addr) {
			base_len = (size_t)(d - addr);
			if (config_bool(srv->cfg, "smtp.plus_folder"))
				tag = xstrndup(d + 1, local_len - base_len - 1);
			base = domain ? xasprintf("%.*s@%s", (int)base_len, addr, domain) : xstrndup(addr, base_len);
			rc = try_name(srv, base, tag, targets_r, n_r);
		}
	}
	/* 3. The bare local part as an account name (single-domain setups). */
	if (rc == STORE_NOTFOUND && domain != NULL) {
		char *bare = xstrndup(addr, base_len);
		rc = add_account(srv, bare, tag, targets_r, n_r);
		free(bare);
	}
	/* 4. The domain's catch-all. */
	if (rc == STORE_NOTFOUND && domain != NULL && catch_all) {
		char *all = xasprintf("@%s", domain);
		rc = try_name(srv, all, NULL, targets_r, n_r);
		free(all);
	}
	free(base);
	free(tag);
	return result_of(rc);
}

enum local_result local_resolve(struct server *srv, const char *addr, bool any_domain,
				struct local_target **targets_r, size_t *n_r)
{
	return resolve(srv, addr, any_domain, true, targets_r, n_r);
}

bool local_may_send_as(struct server *srv, int64_t account_id, const char *addr)
{
	if (addr == NULL || *addr == '\0')
		return false;
	struct local_target *t = NULL;
	size_t n = 0;
	bool ok = false;
	/* Whatever delivers to the account may send as it: its own name, its
	 * bare name at a local domain, an extension of either, an alias of it;
	 * not a catch-all, which would make every address of a domain its own. */
	if (resolve(srv, addr, false, false, &t, &n) == LOCAL_OK)
		for (size_t i = 0; i < n && !ok; i++)
			ok = t[i].account_id == account_id;
	local_targets_free(t, n);
	return ok;
}

enum local_quota local_quota_check(struct server *srv, struct local_target *t, uint64_t extra)
{
	if (!t->quota_known) {
		int64_t limit = config_int(srv->cfg, "quota.bytes");
		char *v = NULL;
		int rc = store_setting_get(srv->store, t->account_id, "quota.bytes", &v);
		if (rc == STORE_OK) {
			const char *why;
			if (config_check("quota.bytes", v, &why) == 0)
				limit = strtoll(v, NULL, 10);
			else
				log_warn("event=bad_setting account=%" PRId64 " key=quota.bytes error=\"%s\"", t->account_id,
					 why);
			free(v);
		} else if (rc != STORE_NOTFOUND) {
			return QUOTA_TEMPFAIL;
		}
		t->quota = limit > 0 ? (uint64_t)limit : 0;
		t->quota_known = true;
	}
	if (t->quota == 0)
		return QUOTA_OK;
	struct store_mailbox *mb;
	size_t n;
	if (store_mailbox_list(srv->store, t->account_id, &mb, &n) != STORE_OK)
		return QUOTA_TEMPFAIL;
	uint64_t used = 0;
	for (size_t i = 0; i < n; i++)
		used += mb[i].bytes;
	store_mailboxes_free(mb, n);
	return used + extra > t->quota ? QUOTA_OVER : QUOTA_OK;
}

int local_deliver(struct server *srv, const char *data, size_t len, const struct local_target *t, size_t n)
{
	struct store_target *st = xcalloc(n ? n : 1, sizeof *st);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t k = 0; k < m && !dup; k++)
			dup = st[k].mailbox_id == t[i].mailbox_id && st[k].account_id == t[i].account_id;
		if (!dup)
			st[m++] = (struct store_target){
				.account_id = t[i].account_id, .mailbox_id = t[i].mailbox_id, .flags = t[i].flags};
	}
	int rc = m ? store_deliver(srv->store, data, len, st, m) : STORE_INVALID;
	free(st);
	return rc;
}
