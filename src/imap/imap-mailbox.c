/* Mailbox management: CREATE (with CREATE-SPECIAL-USE, RFC 6154), DELETE,
 * RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE and STATUS (with STATUS=SIZE and
 * CONDSTORE's HIGHESTMODSEQ). LIST and LSUB live in imap-list.c.
 *
 * Names reach the store only after they pass name_problem(): no empty level,
 * no control character, no wildcard, at most IMAP_MAILBOX_NAME_MAX bytes and
 * IMAP_MAILBOX_MAX_LEVELS levels. Failures carry the response codes of RFC
 * 5530 / RFC 9051 ([ALREADYEXISTS], [NONEXISTENT], [CANNOT], [LIMIT]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "imap/imap-session.h"

#define IMAP_MAILBOX_NAME_MAX 1000  /* bytes of the UTF-8 name, as the store takes */
#define IMAP_MAILBOX_MAX_LEVELS 32  /* levels ("a/b/c" has 3) */
#define IMAP_MAX_MAILBOXES 10000    /* per account, counted at CREATE and RENAME */
#define IMAP_MAX_SUBSCRIPTIONS 10000 /* per account, counted at SUBSCRIBE */

/* Why a name cannot be created (or subscribed), or NULL when it can. */
static const char *name_problem(const char *name)
{
	size_t len = strlen(name);
	if (len == 0)
		return "Mailbox name is empty";
	if (len > IMAP_MAILBOX_NAME_MAX)
		return "Mailbox name is too long";
	if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL)
		return "Mailbox name has an empty level";
	unsigned levels = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return "Mailbox name contains a control character";
		/* C1 controls U+0080..U+009F are C2 80..C2 9F in UTF-8. */
		if (c == 0xc2 && i + 1 < len && (unsigned char)name[i + 1] >= 0x80 && (unsigned char)name[i + 1] <= 0x9f)
			return "Mailbox name contains a control character";
		if (c == '*' || c == '%')
			return "Mailbox name contains a wildcard (* or %)";
		if (c == '/' && ++levels > IMAP_MAILBOX_MAX_LEVELS)
			return "Mailbox name has too many levels";
	}
	if (!utf8_valid(name, len))
		return "Mailbox name is not valid UTF-8";
	return NULL;
}

/* The number of mailboxes the account has, or -1 (store error in *rc_r). */
static long count_mailboxes(struct imap_session *s, int *rc_r)
{
	struct store_mailbox *mbs = NULL;
	size_t n = 0;
	*rc_r = store_mailbox_list(s->store, s->account_id, &mbs, &n);
	if (*rc_r != STORE_OK)
		return -1;
	store_mailboxes_free(mbs, n);
	return (long)n;
}

/* Levels above name that are not mailboxes ("a" and "a/b" of "a/b/c"). */
static unsigned missing_parents(struct imap_session *s, const char *name)
{
	unsigned n = 0;
	for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		char *parent = xstrndup(name, (size_t)(p - name));
		struct store_mailbox mb = {0};
		if (store_mailbox_find(s->store, s->account_id, parent, &mb) == STORE_NOTFOUND)
			n++;
		store_mailbox_clear(&mb);
		free(parent);
	}
	return n;
}

/* Create the levels above name that do not exist (RFC 9051 6.3.4: "the server
 * SHOULD create any superior hierarchical names that are needed"). */
static int create_parents(struct imap_session *s, const char *name)
{
	for (const char *p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		char *parent = xstrndup(name, (size_t)(p - name));
		int rc = store_mailbox_create(s->store, s->account_id, parent, NULL, NULL);
		free(parent);
		if (rc != STORE_OK && rc != STORE_EXISTS)
			return rc;
	}
	return STORE_OK;
}

static const char *const special_uses[] = {"\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"};

/* CREATE's parameter list: "(USE (\Drafts))". Returns 1 and sets *use_r (a
 * constant, NULL for none) when valid, 0 for an unsupported use attribute
 * (NO [USEATTR]), -1 for bad syntax. */
static int parse_create_params(const struct imap_arg *a, const char **use_r, const char **error_r)
{
	*use_r = NULL;
	if (a->type != IMAP_ARG_LIST) {
		*error_r = "CREATE parameters must be a list";
		return -1;
	}
	for (size_t i = 0; i < a->list_count; i++) {
		const struct imap_arg *p = &a->list[i];
		if (p->type != IMAP_ARG_ATOM || !str_ieq(p->str, "USE") || i + 1 >= a->list_count ||
		    a->list[i + 1].type != IMAP_ARG_LIST) {
			*error_r = "Unknown CREATE parameter";
			return -1;
		}
		const struct imap_arg *uses = &a->list[++i];
		for (size_t k = 0; k < uses->list_count; k++) {
			if (uses->list[k].type != IMAP_ARG_ATOM || uses->list[k].str[0] != '\\') {
				*error_r = "USE takes special-use attributes";
				return -1;
			}
		}
		for (size_t k = 0; k < uses->list_count; k++) {
			const char *found = NULL;
			for (size_t j = 0; j < ARRAY_LEN(special_uses); j++)
				if (str_ieq(uses->list[k].str, special_uses[j]))
					found = special_uses[j];
			if (found == NULL) {
				*error_r = "[USEATTR] Unsupported special-use attribute";
				return 0;
			}
			if (*use_r != NULL && *use_r != found) {
				*error_r = "[USEATTR] A mailbox has at most one special use here";
				return 0;
			}
			*use_r = found;
		}
	}
	return 1;
}

enum run_result imap_cmd_create(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args < 1 || cmd->n_args > 2)
		return imap_bad(s, "CREATE needs a mailbox name");
	const char *err = NULL;
	const char *use = NULL;
	if (cmd->n_args == 2) {
		int r = parse_create_params(&cmd->args[1], &use, &err);
		if (r < 0)
			return imap_bad(s, "%s", err);
		if (r == 0)
			return imap_no(s, "%s", err);
	}
	char *name = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (name == NULL)
		return imap_bad(s, "%s", err);
	/* A trailing delimiter only declares that names will be created below
	 * this one; we need no declaration, so it is ignored (RFC 9051 6.3.4). */
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '/' && name[len - 2] != '/')
		name[len - 1] = '\0';
	const char *problem = name_problem(name);
	if (problem != NULL) {
		free(name);
		return imap_no(s, "[CANNOT] %s", problem);
	}
	if (strcmp(name, "INBOX") == 0) {
		free(name);
		return imap_no(s, "[ALREADYEXISTS] INBOX always exists");
	}
	struct store_mailbox mb = {0};
	int rc = store_mailbox_find(s->store, s->account_id, name, &mb);
	store_mailbox_clear(&mb);
	if (rc == STORE_OK) {
		free(name);
		return imap_no(s, "[ALREADYEXISTS] Mailbox already exists");
	}
	if (rc != STORE_NOTFOUND) {
		free(name);
		return imap_store_fail(s, rc, "create");
	}
	long have = count_mailboxes(s, &rc);
	if (have >= 0 && (unsigned long)have + missing_parents(s, name) + 1 > IMAP_MAX_MAILBOXES) {
		free(name);
		return imap_no(s, "[LIMIT] Too many mailboxes (at most %d)", IMAP_MAX_MAILBOXES);
	}
	if (rc == STORE_OK)
		rc = create_parents(s, name);
	if (rc == STORE_OK)
		rc = store_mailbox_create(s->store, s->account_id, name, use, NULL);
	char safe[128];
	imap_log_safe(name, safe, sizeof safe);
	free(name);
	if (rc == STORE_EXISTS)
		return imap_no(s, "[ALREADYEXISTS] Mailbox already exists");
	if (rc == STORE_INVALID)
		return imap_no(s, "[CANNOT] Invalid mailbox name");
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, "create");
	log_info("sid=%s event=mailbox_create proto=imap user=%s mailbox=%s special_use=%s", s->sid, s->user, safe,
		 use ? use + 1 : "-");
	return imap_ok(s, "CREATE completed");
}

enum run_result imap_cmd_delete(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 1)
		return imap_bad(s, "DELETE needs a mailbox name");
	const char *err = NULL;
	char *name = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (name == NULL)
		return imap_bad(s, "%s", err);
	if (strcmp(name, "INBOX") == 0) {
		free(name);
		return imap_no(s, "[CANNOT] INBOX cannot be deleted");
	}
	struct store_mailbox mb = {0};
	int rc = store_mailbox_find(s->store, s->account_id, name, &mb);
	int64_t id = mb.id;
	store_mailbox_clear(&mb);
	if (rc == STORE_OK)
		rc = store_mailbox_delete(s->store, s->account_id, name);
	char safe[128];
	imap_log_safe(name, safe, sizeof safe);
	free(name);
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID)
		return imap_no(s, "[NONEXISTENT] No such mailbox");
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, "delete");
	log_info("sid=%s event=mailbox_delete proto=imap user=%s mailbox=%s", s->sid, s->user, safe);
	/* Deleting the selected mailbox is allowed: nothing in RFC 9051 6.3.5
	 * forbids it. The session leaves it, as CLOSE would without expunging
	 * (there is nothing left to expunge), and says so with [CLOSED], the
	 * code that marks the end of a selected mailbox's responses. Other
	 * sessions learn it from their view sync (BYE). */
	if (s->view != NULL && s->view->mailbox_id == id) {
		imap_view_close(s);
		s->state = IS_AUTH;
		conn_writes(s->c, "* OK [CLOSED] The selected mailbox was deleted\r\n");
	}
	return imap_ok(s, "DELETE completed");
}

enum run_result imap_cmd_rename(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 2)
		return imap_bad(s, "RENAME needs two mailbox names");
	const char *err = NULL;
	char *from = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (from == NULL)
		return imap_bad(s, "%s", err);
	char *to = imap_mailbox_arg(s, &cmd->args[1], &err);
	if (to == NULL) {
		free(from);
		return imap_bad(s, "%s", err);
	}
	enum run_result r;
	const char *problem = name_problem(to);
	int rc = STORE_OK;
	if (problem != NULL) {
		r = imap_no(s, "[CANNOT] %s", problem);
		goto out;
	}
	if (strcmp(to, "INBOX") == 0) {
		r = imap_no(s, "[ALREADYEXISTS] INBOX always exists");
		goto out;
	}
	struct store_mailbox mb = {0};
	rc = store_mailbox_find(s->store, s->account_id, from, &mb);
	store_mailbox_clear(&mb);
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID) {
		r = imap_no(s, "[NONEXISTENT] No such mailbox");
		goto out;
	}
	if (rc != STORE_OK) {
		r = imap_store_fail(s, rc, "rename");
		goto out;
	}
	size_t flen = strlen(from);
	if (strcmp(from, to) == 0 ||
	    (strcmp(from, "INBOX") != 0 && strncmp(to, from, flen) == 0 && to[flen] == '/')) {
		r = imap_no(s, "[CANNOT] A mailbox cannot be renamed to itself or below itself");
		goto out;
	}
	/* Renaming INBOX makes one new mailbox; the others only move. */
	long have = count_mailboxes(s, &rc);
	if (have >= 0 &&
	    (unsigned long)have + missing_parents(s, to) + (strcmp(from, "INBOX") == 0) > IMAP_MAX_MAILBOXES) {
		r = imap_no(s, "[LIMIT] Too many mailboxes (at most %d)", IMAP_MAX_MAILBOXES);
		goto out;
	}
	if (rc == STORE_OK)
		rc = store_mailbox_rename(s->store, s->account_id, from, to);
	/* The store creates missing parents of the new name; make sure of it,
	 * as CREATE does (creating one that exists is a no-op). */
	if (rc == STORE_OK && create_parents(s, to) != STORE_OK)
		log_warn("sid=%s event=store_error op=rename_parents error=\"%s\"", s->sid, store_last_error());
	if (rc == STORE_NOTFOUND) {
		r = imap_no(s, "[NONEXISTENT] No such mailbox");
	} else if (rc == STORE_EXISTS) {
		r = imap_no(s, "[ALREADYEXISTS] The new name is taken");
	} else if (rc == STORE_INVALID) {
		r = imap_no(s, "[CANNOT] Cannot rename to that name");
	} else if (rc != STORE_OK) {
		r = imap_store_fail(s, rc, "rename");
	} else {
		char safe_from[128], safe_to[128];
		imap_log_safe(from, safe_from, sizeof safe_from);
		imap_log_safe(to, safe_to, sizeof safe_to);
		log_info("sid=%s event=mailbox_rename proto=imap user=%s from=%s to=%s", s->sid, s->user, safe_from,
			 safe_to);
		/* The selected mailbox keeps its id; keep its name current. */
		struct imap_view *v = s->view;
		if (v != NULL && strcmp(from, "INBOX") != 0 && strncmp(v->name, from, flen) == 0 &&
		    (v->name[flen] == '\0' || v->name[flen] == '/')) {
			char *nn = xasprintf("%s%s", to, v->name + flen);
			free(v->name);
			v->name = nn;
		}
		r = imap_ok(s, "RENAME completed");
	}
out:
	free(from);
	free(to);
	return r;
}

static enum run_result subscribe(struct imap_session *s, const struct imap_command *cmd, bool on)
{
	const char *what = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
	if (cmd->n_args != 1)
		return imap_bad(s, "%s needs a mailbox name", what);
	const char *err = NULL;
	char *name = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (name == NULL)
		return imap_bad(s, "%s", err);
	int rc = STORE_OK;
	if (on) {
		/* Any name that could be created may be subscribed, existing or
		 * not (RFC 9051 6.3.7). */
		const char *problem = name_problem(name);
		if (problem != NULL) {
			free(name);
			return imap_no(s, "[CANNOT] %s", problem);
		}
		char **subs = NULL;
		size_t n = 0;
		rc = store_subscriptions(s->store, s->account_id, &subs, &n);
		bool known = false;
		for (size_t i = 0; rc == STORE_OK && i < n && !known; i++)
			known = strcmp(subs[i], name) == 0;
		store_strings_free(subs, n);
		if (rc == STORE_OK && !known && n >= IMAP_MAX_SUBSCRIPTIONS) {
			free(name);
			return imap_no(s, "[LIMIT] Too many subscriptions (at most %d)", IMAP_MAX_SUBSCRIPTIONS);
		}
	}
	if (rc == STORE_OK)
		rc = store_subscribe(s->store, s->account_id, name, on);
	free(name);
	/* Unsubscribing a name that is not subscribed is still OK (RFC 9051
	 * 6.3.8); a name the store cannot hold is never subscribed. */
	if (!on && (rc == STORE_NOTFOUND || rc == STORE_INVALID))
		rc = STORE_OK;
	if (rc == STORE_INVALID)
		return imap_no(s, "[CANNOT] Invalid mailbox name");
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, on ? "subscribe" : "unsubscribe");
	return imap_ok(s, "%s completed", what);
}

enum run_result imap_cmd_subscribe(struct imap_session *s, const struct imap_command *cmd)
{
	return subscribe(s, cmd, true);
}

enum run_result imap_cmd_unsubscribe(struct imap_session *s, const struct imap_command *cmd)
{
	return subscribe(s, cmd, false);
}

enum run_result imap_cmd_namespace(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "NAMESPACE takes no arguments");
	conn_writes(s->c, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	return imap_ok(s, "NAMESPACE completed");
}

static const struct {
	const char *name;
	unsigned bit;
} status_names[] = {
	{"MESSAGES", IMAP_STATUS_MESSAGES},   {"UIDNEXT", IMAP_STATUS_UIDNEXT},
	{"UIDVALIDITY", IMAP_STATUS_UIDVALIDITY}, {"UNSEEN", IMAP_STATUS_UNSEEN},
	{"DELETED", IMAP_STATUS_DELETED},     {"SIZE", IMAP_STATUS_SIZE},
	{"HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ}, {"RECENT", IMAP_STATUS_RECENT},
};

int imap_status_items(struct imap_session *s, const struct imap_arg *list, unsigned *items_r, const char **error_r)
{
	(void)s;
	unsigned items = 0;
	if (list->type != IMAP_ARG_LIST || list->list_count == 0) {
		*error_r = "STATUS needs a list of items";
		return -1;
	}
	for (size_t i = 0; i < list->list_count; i++) {
		const struct imap_arg *a = &list->list[i];
		size_t k = 0;
		if (a->type == IMAP_ARG_ATOM)
			for (; k < ARRAY_LEN(status_names); k++)
				if (str_ieq(a->str, status_names[k].name))
					break;
		if (a->type != IMAP_ARG_ATOM || k == ARRAY_LEN(status_names)) {
			*error_r = "Unknown STATUS item";
			return -1;
		}
		items |= status_names[k].bit;
	}
	*items_r = items;
	return 0;
}

void imap_write_status(struct imap_session *s, const struct store_mailbox *mb, unsigned items)
{
	struct buf *out = conn_outbuf(s->c);
	buf_appends(out, "* STATUS ");
	imap_write_mailbox(s, mb->name);
	buf_appends(out, " (");
	const char *sep = "";
	for (size_t k = 0; k < ARRAY_LEN(status_names); k++) {
		unsigned bit = status_names[k].bit;
		if (!(items & bit))
			continue;
		unsigned long long v = 0;
		switch (bit) {
		case IMAP_STATUS_MESSAGES: v = mb->messages; break;
		case IMAP_STATUS_UIDNEXT: v = mb->uidnext; break;
		case IMAP_STATUS_UIDVALIDITY: v = mb->uidvalidity; break;
		case IMAP_STATUS_UNSEEN: v = mb->unseen; break;
		case IMAP_STATUS_DELETED: v = mb->deleted; break;
		case IMAP_STATUS_SIZE: v = mb->bytes; break;
		case IMAP_STATUS_HIGHESTMODSEQ: v = mb->highestmodseq; break;
		case IMAP_STATUS_RECENT: v = 0; break; /* \Recent is not kept (RFC 9051 dropped it) */
		}
		buf_printf(out, "%s%s %llu", sep, status_names[k].name, v);
		sep = " ";
	}
	buf_appends(out, ")\r\n");
}

enum run_result imap_cmd_status(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 2)
		return imap_bad(s, "STATUS needs a mailbox name and a list of items");
	const char *err = NULL;
	unsigned items = 0;
	if (imap_status_items(s, &cmd->args[1], &items, &err) < 0)
		return imap_bad(s, "%s", err);
	char *name = imap_mailbox_arg(s, &cmd->args[0], &err);
	if (name == NULL)
		return imap_bad(s, "%s", err);
	struct store_mailbox mb = {0};
	int rc = store_mailbox_find(s->store, s->account_id, name, &mb);
	free(name);
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID)
		return imap_no(s, "[NONEXISTENT] No such mailbox");
	if (rc != STORE_OK)
		return imap_store_fail(s, rc, "status");
	if (items & IMAP_STATUS_HIGHESTMODSEQ)
		s->condstore = true; /* a CONDSTORE-enabling command (RFC 7162 3.1) */
	imap_write_status(s, &mb, items);
	store_mailbox_clear(&mb);
	return imap_ok(s, "STATUS completed");
}
