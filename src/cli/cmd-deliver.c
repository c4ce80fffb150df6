/* `roost deliver --user NAME [--mailbox MAILBOX] < message`: local delivery as
 * an MDA for Postfix, Exim, fetchmail or procmail. It exits 0 only after the
 * store says the message is durable; otherwise it uses the sysexits statuses
 * MTAs understand: 67 (no such user: bounce), 75 (store trouble: retry later),
 * 65 (empty or over the size limit: bounce). A missing --mailbox falls back
 * to INBOX, so a typo in a filter never loses or bounces mail. */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

#define DELIVER_MAX_MESSAGE (64u * 1024 * 1024)

/* Read all of stdin, at most DELIVER_MAX_MESSAGE bytes. Returns 0, or an exit
 * status after printing why. */
static int read_message(char **data_r, size_t *len_r)
{
	size_t cap = 64 * 1024, len = 0;
	char *data = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap > DELIVER_MAX_MESSAGE) {
				free(data);
				cli_error("deliver: message larger than %u MB", DELIVER_MAX_MESSAGE / (1024 * 1024));
				return CLI_EXIT_DATAERR;
			}
			cap *= 2;
			/* One byte beyond the limit is enough to know it is too big. */
			if (cap > DELIVER_MAX_MESSAGE + 1)
				cap = DELIVER_MAX_MESSAGE + 1;
			data = xrealloc(data, cap);
		}
		ssize_t n = read(STDIN_FILENO, data + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cli_error("deliver: reading the message: %s", strerror(errno));
			free(data);
			return CLI_EXIT_TEMPFAIL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > DELIVER_MAX_MESSAGE) {
		free(data);
		cli_error("deliver: message larger than %u MB", DELIVER_MAX_MESSAGE / (1024 * 1024));
		return CLI_EXIT_DATAERR;
	}
	*data_r = data;
	*len_r = len;
	return 0;
}

/* An mbox "From " envelope line in front (procmail, Postfix's F flag) is not
 * part of the message. */
static size_t skip_from_line(const char *data, size_t len)
{
	if (len < 5 || memcmp(data, "From ", 5) != 0)
		return 0;
	const char *nl = memchr(data, '\n', len);
	return nl ? (size_t)(nl + 1 - data) : 0;
}

int cmd_deliver(const struct cli_args *a)
{
	if (cli_check_opts(a, "deliver", OPT_USER | OPT_MAILBOX) < 0)
		return CLI_EXIT_USAGE;
	if (a->user == NULL) {
		cli_error("deliver: --user NAME is required");
		return CLI_EXIT_USAGE;
	}
	if (a->n_pos > 0) {
		cli_error("deliver: unexpected argument '%s' (the message comes on stdin)", a->pos[0]);
		return CLI_EXIT_USAGE;
	}
	struct config *cfg = cli_config(a);
	if (cfg == NULL)
		return CLI_EXIT_USAGE;

	char *data = NULL;
	size_t len = 0;
	int status = read_message(&data, &len);
	if (status != 0) {
		config_free(cfg);
		return status;
	}
	struct store *st = cli_store_open(a, cfg, false);
	if (st == NULL) {
		free(data);
		config_free(cfg);
		return CLI_EXIT_TEMPFAIL;
	}

	struct store_account acct = {0};
	struct store_mailbox box = {0};
	bool have_acct = false, have_box = false;
	int rc = store_account_find(st, a->user, &acct);
	if (rc == STORE_NOTFOUND || rc == STORE_INVALID) {
		cli_error("deliver: no such user: %s", a->user);
		status = CLI_EXIT_NOUSER;
		goto out;
	}
	if (rc != STORE_OK) {
		status = cli_store_error(rc, a->user, true);
		goto out;
	}
	have_acct = true;

	const char *mailbox = a->mailbox != NULL && a->mailbox[0] != '\0' ? a->mailbox : "INBOX";
	rc = store_mailbox_find(st, acct.id, mailbox, &box);
	if ((rc == STORE_NOTFOUND || rc == STORE_INVALID) && !str_ieq(mailbox, "INBOX")) {
		fprintf(stderr, "roost: deliver: no mailbox %s for %s, delivering to INBOX\n", mailbox, acct.name);
		rc = store_mailbox_find(st, acct.id, "INBOX", &box);
	}
	if (rc != STORE_OK) {
		if (rc == STORE_ERROR)
			(void)cli_store_error(rc, "INBOX", true);
		else
			cli_error("deliver: %s has no INBOX", acct.name);
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	have_box = true;

	size_t skip = skip_from_line(data, len);
	if (len - skip == 0) {
		cli_error("deliver: empty message");
		status = CLI_EXIT_DATAERR;
		goto out;
	}
	struct store_target target = {.account_id = acct.id, .mailbox_id = box.id};
	rc = store_deliver(st, data + skip, len - skip, &target, 1);
	if (rc == STORE_OK) {
		status = CLI_EXIT_OK;
	} else if (rc == STORE_INVALID) {
		cli_error("deliver: the store refused the message as invalid");
		status = CLI_EXIT_DATAERR;
	} else {
		(void)cli_store_error(rc, "deliver", true);
		status = CLI_EXIT_TEMPFAIL; /* whatever went wrong, the MTA keeps the mail */
	}
out:
	if (have_box)
		store_mailbox_clear(&box);
	if (have_acct)
		store_account_clear(&acct);
	store_close(st);
	free(data);
	config_free(cfg);
	return status;
}
