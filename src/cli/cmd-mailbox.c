/* `roost mailbox list|create|delete --user NAME [MAILBOX]`: an administrator's
 * view of one account's folders. `list` prints one line per mailbox: name,
 * messages and bytes separated by tabs (names may contain spaces). */
#include "cli/cli.h"

#include <inttypes.h>
#include <string.h>

#include "core/util.h"

static int mailbox_list(struct store *st, int64_t account_id)
{
	struct store_mailbox *boxes = NULL;
	size_t n = 0;
	int rc = store_mailbox_list(st, account_id, &boxes, &n);
	if (rc != STORE_OK)
		return cli_store_error(rc, "listing mailboxes", false);
	for (size_t i = 0; i < n; i++)
		printf("%s\t%" PRIu32 "\t%" PRIu64 "\n", boxes[i].name, boxes[i].messages, boxes[i].bytes);
	store_mailboxes_free(boxes, n);
	return CLI_EXIT_OK;
}

static int mailbox_create(struct store *st, int64_t account_id, const char *name)
{
	int64_t id;
	int rc = store_mailbox_create(st, account_id, name, NULL, &id);
	switch (rc) {
	case STORE_OK:
		printf("created mailbox %s\n", name);
		return CLI_EXIT_OK;
	case STORE_EXISTS:
		cli_error("mailbox %s already exists", name);
		return CLI_EXIT_FAIL;
	case STORE_INVALID:
		cli_error("invalid mailbox name: %s", name);
		return CLI_EXIT_FAIL;
	default:
		return cli_store_error(rc, name, false);
	}
}

static int mailbox_delete(struct store *st, int64_t account_id, const char *name)
{
	int rc = store_mailbox_delete(st, account_id, name);
	switch (rc) {
	case STORE_OK:
		printf("deleted mailbox %s\n", name);
		return CLI_EXIT_OK;
	case STORE_NOTFOUND:
		cli_error("no such mailbox: %s", name);
		return CLI_EXIT_FAIL;
	case STORE_INVALID:
		if (str_ieq(name, "INBOX"))
			cli_error("INBOX cannot be deleted");
		else
			cli_error("invalid mailbox name: %s", name);
		return CLI_EXIT_FAIL;
	default:
		return cli_store_error(rc, name, false);
	}
}

int cmd_mailbox(const struct cli_args *a)
{
	if (a->n_pos == 0) {
		cli_error("mailbox: expected list, create or delete (try roost mailbox --help)");
		return CLI_EXIT_USAGE;
	}
	const char *action = a->pos[0];
	size_t want;
	if (strcmp(action, "list") == 0) {
		want = 0;
	} else if (strcmp(action, "create") == 0 || strcmp(action, "delete") == 0) {
		want = 1;
	} else {
		cli_error("mailbox: unknown action '%s' (expected list, create or delete)", action);
		return CLI_EXIT_USAGE;
	}
	char what[32];
	snprintf(what, sizeof what, "mailbox %s", action);
	if (cli_check_opts(a, what, OPT_USER) < 0)
		return CLI_EXIT_USAGE;
	if (a->user == NULL) {
		cli_error("mailbox %s: --user NAME is required", action);
		return CLI_EXIT_USAGE;
	}
	if (a->n_pos - 1 < want) {
		cli_error("mailbox %s: missing mailbox name", action);
		return CLI_EXIT_USAGE;
	}
	if (a->n_pos - 1 > want) {
		cli_error("mailbox %s: unexpected argument '%s'", action, a->pos[1 + want]);
		return CLI_EXIT_USAGE;
	}
	if (!cli_valid_user_name(a->user))
		return CLI_EXIT_USAGE;

	struct config *cfg;
	struct store *st;
	int open_status = cli_open(a, false, &cfg, &st);
	if (open_status != 0)
		return open_status;
	struct store_account acct = {0};
	int status;
	int rc = store_account_find(st, a->user, &acct);
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID) {
		cli_error("no such user: %s", a->user);
		status = CLI_EXIT_FAIL;
	} else if (rc != STORE_OK) {
		status = cli_store_error(rc, a->user, false);
	} else if (want == 0) {
		status = mailbox_list(st, acct.id);
	} else if (strcmp(action, "create") == 0) {
		status = mailbox_create(st, acct.id, a->pos[1]);
	} else {
		status = mailbox_delete(st, acct.id, a->pos[1]);
	}
	if (rc == STORE_OK)
		store_account_clear(&acct);
	cli_close(cfg, st);
	return status;
}
