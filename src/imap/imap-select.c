/* Selecting and leaving a mailbox: SELECT and EXAMINE (with the CONDSTORE and
 * QRESYNC parameters of RFC 7162), CLOSE, UNSELECT (RFC 3691), EXPUNGE and
 * UID EXPUNGE (RFC 4315), CHECK. Expunges are done in the store; the untagged
 * EXPUNGE/VANISHED lines come from the view sync that precedes every tagged
 * answer, so the session that expunged and every other session report them
 * the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"

/* QRESYNC (uidvalidity modseq [known-uids ...]) of SELECT. */
struct qresync_param {
	bool given;
	uint32_t uidvalidity;
	uint64_t modseq;
	const char *known_uids; /* NULL: all */
};

static int parse_select_params(struct imap_session *s, const struct imap_arg *a, struct qresync_param *q,
			       const char **error_r)
{
	if (a->type != IMAP_ARG_LIST) {
		*error_r = "SELECT parameters must be a list";
		return -1;
	}
	for (size_t i = 0; i < a->list_count; i++) {
		const struct imap_arg *p = &a->list[i];
		if (p->type != IMAP_ARG_ATOM) {
			*error_r = "Unknown SELECT parameter";
			return -1;
		}
		if (str_ieq(p->str, "CONDSTORE")) {
			s->condstore = true;
			continue;
		}
		if (!str_ieq(p->str, "QRESYNC") || i + 1 >= a->list_count || a->list[i + 1].type != IMAP_ARG_LIST) {
			*error_r = "Unknown SELECT parameter";
			return -1;
		}
		if (!s->qresync) {
			*error_r = "QRESYNC must be enabled first";
			return -1;
		}
		const struct imap_arg *l = &a->list[++i];
		uint32_t uv;
		if (l->list_count < 2 || l->list_count > 4 || !imap_arg_uint32(&l->list[0], &uv) || uv == 0 ||
		    l->list[1].type != IMAP_ARG_NUMBER || l->list[1].num == 0) {
			*error_r = "Invalid QRESYNC parameters";
			return -1;
		}
		q->given = true;
		q->uidvalidity = uv;
		q->modseq = l->list[1].num;
		if (l->list_count >= 3) {
			if (l->list[2].type != IMAP_ARG_ATOM && l->list[2].type != IMAP_ARG_NUMBER) {
				*error_r = "Invalid QRESYNC known UIDs";
				return -1;
			}
			q->known_uids = l->list[2].str;
		}
	}
	return 0;
}

/* QRESYNC: what changed since the client's modseq. */
static int qresync_report(struct imap_session *s, const struct qresync_param *q)
{
	struct imap_view *v = s->view;
	struct store_entry *e = NULL;
	size_t n = 0;
	uint32_t *gone = NULL;
	size_t n_gone = 0;
	int rc = store_changes(s->store, s->account_id, v->mailbox_id, q->modseq, &e, &n, &gone, &n_gone);
	if (rc != STORE_OK)
		return rc;
	struct imap_range *known = NULL;
	size_t n_known = 0;
	if (q->known_uids && imap_seqset_parse(q->known_uids, UINT32_MAX, &known, &n_known) < 0) {
		free(e);
		free(gone);
		return STORE_INVALID;
	}
	size_t k = 0;
	for (size_t i = 0; i < n_gone; i++) {
		bool in = known == NULL;
		for (size_t j = 0; !in && j < n_known; j++)
			in = gone[i] >= known[j].lo && gone[i] <= known[j].hi;
		if (in && imap_view_seq(v, gone[i]) == 0)
			gone[k++] = gone[i];
	}
	struct buf *out = conn_outbuf(s->c);
	if (k > 0) {
		buf_appends(out, "* VANISHED (EARLIER) ");
		imap_write_set(out, gone, k);
		buf_appends(out, "\r\n");
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t seq = imap_view_seq(v, e[i].uid);
		if (seq == 0)
			continue;
		buf_printf(out, "* %u FETCH (UID %u ", seq, e[i].uid);
		imap_write_flags(s, e[i].flags, e[i].keywords);
		buf_printf(out, " MODSEQ (%llu))\r\n", (unsigned long long)e[i].modseq);
	}
	free(known);
	free(e);
	free(gone);
	return STORE_OK;
}

enum run_result imap_cmd_select(struct imap_session *s, const struct imap_command *cmd)
{
	bool examine = str_ieq(cmd->name, "EXAMINE");
	if (cmd->n_args < 1 || cmd->n_args > 2)
		return imap_bad(s, "%s needs a mailbox name", cmd->name);
	const char *err = NULL;
	struct qresync_param q = {0};
	if (cmd->n_args == 2 && parse_select_params(s, &cmd->args[1], &q, &err) < 0)
		return imap_bad(s, "%s", err);
	char *name = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (name == NULL)
		return imap_bad(s, "%s", err);
	/* Selecting again first leaves the current mailbox (RFC 9051 6.3.2). */
	if (s->view != NULL) {
		imap_view_close(s);
		s->state = IS_AUTH;
		conn_writes(s->c, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	struct store_mailbox mb = {0};
	imap_view_pin(s);
	int rc = store_mailbox_find(s->store, s->account_id, name, &mb);
	free(name);
	if (rc != STORE_OK)
		store_pin_remove(&s->pin);
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID)
		return imap_no(s, "[NONEXISTENT] No such mailbox");
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, "select");
	uint32_t first_unseen = 0;
	rc = imap_view_open(s, &mb, examine, &first_unseen);
	if (rc != STORE_OK) {
		store_mailbox_clear(&mb);
		return imap_store_fail(s, rc, "select");
	}
	s->state = IS_SELECTED;
	struct imap_view *v = s->view;
	struct buf *out = conn_outbuf(s->c);
	imap_write_flag_lists(s);
	buf_printf(out, "* %zu EXISTS\r\n", v->uids.n);
	if (!s->rev2) {
		buf_appends(out, "* 0 RECENT\r\n");
		if (first_unseen)
			buf_printf(out, "* OK [UNSEEN %u] First unseen\r\n", first_unseen);
	}
	buf_printf(out, "* OK [UIDVALIDITY %u] UIDs valid\r\n", mb.uidvalidity);
	buf_printf(out, "* OK [UIDNEXT %u] Predicted next UID\r\n", mb.uidnext);
	buf_printf(out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n", (unsigned long long)mb.highestmodseq);
	if (s->rev2) {
		buf_appends(out, "* LIST () \"/\" ");
		imap_write_mailbox(s, mb.name);
		buf_appends(out, "\r\n");
	}
	store_mailbox_clear(&mb);
	if (q.given && q.uidvalidity == v->uidvalidity) {
		rc = qresync_report(s, &q);
		if (rc == STORE_INVALID)
			return imap_bad(s, "Invalid QRESYNC known UIDs");
		if (rc != STORE_OK)
			return imap_store_fail(s, rc, "qresync");
	}
	return imap_ok(s, "[%s] %s completed", examine ? "READ-ONLY" : "READ-WRITE", examine ? "EXAMINE" : "SELECT");
}

/* UIDs of the view's messages with \Deleted, optionally only those in seqs. */
static int deleted_uids(struct imap_session *s, const uint32_t *seqs, size_t n_seqs, uint32_t **uids_r, size_t *n_r)
{
	struct imap_view *v = s->view;
	struct store_entry *e = NULL;
	size_t n = 0;
	int rc = store_entries(s->store, s->account_id, v->mailbox_id, 0, &e, &n);
	if (rc != STORE_OK)
		return rc;
	uint32_t *u = xmalloc((n ? n : 1) * sizeof *u);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(e[i].flags & STORE_FLAG_DELETED))
			continue;
		uint32_t seq = imap_view_seq(v, e[i].uid);
		if (seq == 0)
			continue; /* new to the store, not yet known to the client */
		if (seqs != NULL) {
			size_t lo = 0, hi = n_seqs;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (seqs[mid] < seq)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo == n_seqs || seqs[lo] != seq)
				continue;
		}
		u[k++] = e[i].uid;
	}
	free(e);
	*uids_r = u;
	*n_r = k;
	return STORE_OK;
}

static int expunge_deleted(struct imap_session *s, const uint32_t *seqs, size_t n_seqs)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	int rc = deleted_uids(s, seqs, n_seqs, &uids, &n);
	if (rc == STORE_OK && n > 0) {
		store_pin_exempt(&s->pin, uids, n); /* reported by the caller */
		rc = store_expunge(s->store, s->account_id, s->view->mailbox_id, uids, n);
		store_pin_exempt(&s->pin, NULL, 0);
	}
	if (rc == STORE_OK)
		log_info("sid=%s event=expunge proto=imap user=%s mailbox_id=%lld count=%zu", s->sid, s->user,
			 (long long)s->view->mailbox_id, n);
	free(uids);
	return rc;
}

enum run_result imap_cmd_expunge(struct imap_session *s, const struct imap_command *cmd)
{
	uint32_t *seqs = NULL;
	size_t n = 0;
	if (s->uid) {
		const char *err = "UID EXPUNGE needs a UID set";
		if (cmd->n_args != 1 || imap_arg_string(&cmd->args[0]) == NULL ||
		    imap_seqset_resolve(s, cmd->args[0].str, true, &seqs, &n, &err) < 0)
			return imap_bad(s, "%s", err);
	} else if (cmd->n_args != 0) {
		return imap_bad(s, "EXPUNGE takes no arguments");
	}
	if (s->view->readonly) {
		free(seqs);
		return imap_no(s, "[READ-ONLY] The mailbox is read-only");
	}
	int rc = s->uid && n == 0 ? STORE_OK : expunge_deleted(s, s->uid ? seqs : NULL, n);
	free(seqs);
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, "expunge");
	return imap_ok(s, "Expunge completed");
}

enum run_result imap_cmd_close(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "CLOSE takes no arguments");
	int rc = s->view->readonly ? STORE_OK : expunge_deleted(s, NULL, 0);
	/* CLOSE reports nothing: the mailbox is left either way. */
	imap_view_close(s);
	s->state = IS_AUTH;
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, "close");
	return imap_ok(s, "Close completed");
}

enum run_result imap_cmd_unselect(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "UNSELECT takes no arguments");
	imap_view_close(s);
	s->state = IS_AUTH;
	return imap_ok(s, "Unselect completed");
}

enum run_result imap_cmd_check(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "CHECK takes no arguments");
	return imap_ok(s, "Check completed");
}
