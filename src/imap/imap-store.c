/* Changing messages: STORE (+FLAGS, -FLAGS, FLAGS, .SILENT, UNCHANGEDSINCE
 * of RFC 7162), COPY and MOVE (RFC 6851) with COPYUID (RFC 4315). The store
 * applies each command in one transaction; this session reports its own flag
 * changes here and skips them in the view sync (own_modseq), other sessions
 * see them through theirs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"

static uint32_t *seqs_to_uids(const struct imap_view *v, const uint32_t *seqs, size_t n)
{
	uint32_t *u = xmalloc((n ? n : 1) * sizeof *u);
	for (size_t i = 0; i < n; i++)
		u[i] = imap_uids_at(&v->uids, seqs[i] - 1);
	return u;
}

enum run_result imap_cmd_store(struct imap_session *s, const struct imap_command *cmd)
{
	struct imap_view *v = s->view;
	const struct imap_arg *a = cmd->args;
	size_t n = cmd->n_args;
	if (n < 3 || imap_arg_string(&a[0]) == NULL)
		return imap_bad(s, "STORE needs a sequence set, a data item and flags");
	struct store_flag_change ch = {0};
	size_t k = 1;
	if (a[1].type == IMAP_ARG_LIST) {
		const struct imap_arg *m = &a[1];
		if (m->list_count != 2 || m->list[0].type != IMAP_ARG_ATOM || !str_ieq(m->list[0].str, "UNCHANGEDSINCE") ||
		    m->list[1].type != IMAP_ARG_NUMBER)
			return imap_bad(s, "Invalid STORE modifier");
		ch.unchangedsince = m->list[1].num;
		s->condstore = true;
		k = 2;
	}
	bool cond = k == 2;
	if (n < k + 2 || a[k].type != IMAP_ARG_ATOM)
		return imap_bad(s, "STORE needs a data item and flags");
	const char *item = a[k].str;
	bool silent = false;
	if (str_has_iprefix(item, "+")) {
		ch.mode = STORE_FLAGS_ADD;
		item++;
	} else if (str_has_iprefix(item, "-")) {
		ch.mode = STORE_FLAGS_REMOVE;
		item++;
	} else {
		ch.mode = STORE_FLAGS_SET;
	}
	if (str_ieq(item, "FLAGS.SILENT"))
		silent = true;
	else if (!str_ieq(item, "FLAGS"))
		return imap_bad(s, "Unknown STORE data item");
	/* Flags: one list, or atoms. */
	const char **kw = NULL;
	size_t nkw = 0;
	const char *err = NULL;
	struct imap_arg list;
	if (n == k + 2) {
		list = a[k + 1];
	} else {
		list = (struct imap_arg){.type = IMAP_ARG_LIST, .list = &a[k + 1], .list_count = n - k - 1};
	}
	if (imap_parse_flags(&list, &ch.flags, &kw, &nkw, &err) < 0)
		return imap_bad(s, "%s", err);
	ch.keywords = kw;
	ch.n_keywords = nkw;
	uint32_t *seqs = NULL;
	size_t ns = 0;
	if (imap_seqset_resolve(s, a[0].str, s->uid, &seqs, &ns, &err) < 0) {
		free(kw);
		return imap_bad(s, "%s", err);
	}
	if (v->readonly) {
		free(kw);
		free(seqs);
		return imap_no(s, "[READ-ONLY] The mailbox is read-only");
	}
	uint32_t *uids = seqs_to_uids(v, seqs, ns);
	struct store_flag_result r = {0};
	int rc = STORE_OK;
	if (cond && ch.unchangedsince == 0) {
		/* UNCHANGEDSINCE 0 can never hold (every message has a modseq >= 1). */
		r.failed = uids;
		r.n_failed = ns;
		uids = NULL;
	} else if (ns > 0) {
		rc = store_flags_update(s->store, s->account_id, v->mailbox_id, uids, ns, &ch, &r);
	}
	free(kw);
	free(uids);
	if (rc == STORE_LIMIT) {
		free(seqs);
		store_flag_result_clear(&r);
		return imap_no(s, "[LIMIT] Too many keywords in this mailbox");
	}
	if (rc == STORE_INVALID) {
		free(seqs);
		store_flag_result_clear(&r);
		return imap_bad(s, "Invalid keyword");
	}
	if (rc != STORE_OK) {
		free(seqs);
		return imap_store_fail(s, rc, "store");
	}
	imap_view_take_keywords(s, &r.keywords, &r.n_keywords);
	s->own_modseq = r.modseq;
	struct buf *out = conn_outbuf(s->c);
	for (size_t i = 0; i < r.n_entries; i++) {
		const struct store_entry *e = &r.entries[i];
		uint32_t seq = imap_view_seq(v, e->uid);
		if (seq == 0)
			continue;
		bool changed = r.modseq != 0 && e->modseq == r.modseq;
		if (silent && !(changed && s->condstore))
			continue;
		buf_printf(out, "* %u FETCH (", seq);
		if (s->uid)
			buf_printf(out, "UID %u ", e->uid);
		if (!silent) {
			imap_write_flags(s, e->flags, e->keywords);
			if (s->condstore)
				buf_append(out, " ", 1);
		}
		if (s->condstore)
			buf_printf(out, "MODSEQ (%llu)", (unsigned long long)e->modseq);
		buf_appends(out, ")\r\n");
	}
	enum run_result res;
	if (r.n_failed > 0) {
		struct buf set = {0};
		uint32_t *f = r.failed;
		if (!s->uid)
			for (size_t i = 0; i < r.n_failed; i++)
				f[i] = imap_view_seq(v, f[i]);
		imap_write_set(&set, f, r.n_failed);
		buf_append(&set, "", 1);
		res = imap_ok(s, "[MODIFIED %s] Conditional STORE failed for some messages", buf_head(&set));
		buf_free(&set);
	} else {
		res = imap_ok(s, "Store completed");
	}
	free(seqs);
	store_flag_result_clear(&r);
	return res;
}

static enum run_result copy_or_move(struct imap_session *s, const struct imap_command *cmd, bool move)
{
	struct imap_view *v = s->view;
	if (cmd->n_args != 2 || imap_arg_string(&cmd->args[0]) == NULL)
		return imap_bad(s, "%s needs a sequence set and a mailbox", move ? "MOVE" : "COPY");
	const char *err = NULL;
	char *name = imap_mailbox_arg(s, &cmd->args[1], &err);
	if (name == NULL)
		return imap_bad(s, "%s", err);
	uint32_t *seqs = NULL;
	size_t ns = 0;
	if (imap_seqset_resolve(s, cmd->args[0].str, s->uid, &seqs, &ns, &err) < 0) {
		free(name);
		return imap_bad(s, "%s", err);
	}
	if (move && v->readonly) {
		free(name);
		free(seqs);
		return imap_no(s, "[READ-ONLY] The mailbox is read-only");
	}
	struct store_mailbox dst = {0};
	int rc = store_mailbox_find(s->store, s->account_id, name, &dst);
	free(name);
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID) {
		free(seqs);
		return imap_no(s, "[TRYCREATE] No such mailbox");
	}
	if (rc != STORE_OK) {
		free(seqs);
		return imap_store_fail(s, rc, move ? "move" : "copy");
	}
	uint32_t *uids = seqs_to_uids(v, seqs, ns);
	free(seqs);
	struct store_uidmap map = {0};
	if (ns > 0 && move) {
		store_pin_exempt(&s->pin, uids, ns); /* reported below */
		rc = store_move(s->store, s->account_id, v->mailbox_id, dst.id, uids, ns, &map);
		store_pin_exempt(&s->pin, NULL, 0);
	} else if (ns > 0) {
		rc = store_copy(s->store, s->account_id, v->mailbox_id, dst.id, uids, ns, &map);
	}
	free(uids);
	store_mailbox_clear(&dst);
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, move ? "move" : "copy");
	struct buf code = {0};
	if (map.n > 0) {
		buf_printf(&code, "[COPYUID %u ", map.uidvalidity);
		imap_write_set(&code, map.src, map.n);
		buf_append(&code, " ", 1);
		imap_write_set(&code, map.dst, map.n);
		buf_append(&code, "] ", 2);
	}
	buf_append(&code, "", 1);
	enum run_result res;
	if (move) {
		/* The COPYUID comes untagged before the expunges (RFC 6851). */
		if (map.n > 0)
			conn_printf(s->c, "* OK %sMoved\r\n", buf_head(&code));
		res = imap_ok(s, "Move completed");
	} else {
		res = imap_ok(s, "%sCopy completed", buf_head(&code));
	}
	buf_free(&code);
	store_uidmap_clear(&map);
	return res;
}

enum run_result imap_cmd_copy(struct imap_session *s, const struct imap_command *cmd)
{
	return copy_or_move(s, cmd, false);
}

enum run_result imap_cmd_move(struct imap_session *s, const struct imap_command *cmd)
{
	return copy_or_move(s, cmd, true);
}
