/* The `roost` help texts: the overview (`roost help`), one page per command
 * (`roost COMMAND --help`, `roost help COMMAND`) and the configuration key
 * table (`roost help config`), generated from the config table itself so it
 * never disagrees with what the parser accepts. */
#include "cli/cli.h"

#include <string.h>

#include "core/util.h"

#define COMMON_OPTIONS \
	"Options every command takes:\n" \
	"  --data DIR        data directory (default ./var)\n" \
	"  --config FILE     configuration file of \"key = value\" lines\n" \
	"  --set KEY=VALUE   override one configuration key; may be repeated\n" \
	"  --help            this help\n"

void cli_usage(FILE *f)
{
	fputs("usage: roost COMMAND [ARGS] [OPTIONS]\n"
	      "\n"
	      "Commands:\n"
	      "  serve                              run the server in the foreground\n"
	      "  user add|del|list|passwd NAME      manage accounts (password from stdin or a prompt)\n"
	      "  user set NAME KEY=VALUE...         per-account POP3 settings\n"
	      "  user show NAME                     print an account and its settings\n"
	      "  mailbox list|create|delete --user NAME [MAILBOX]\n"
	      "                                     manage an account's mailboxes\n"
	      "  deliver --user NAME [--mailbox MAILBOX] < message\n"
	      "                                     local delivery (an MDA for your MTA)\n"
	      "  queue list|flush|delete [ID]       the outbound queue: show it, retry now, drop a message\n"
	      "  alias add|del|list ...             addresses that deliver to accounts\n"
	      "  dkim keygen|list|record|sign ...   DKIM keys for outbound mail, their DNS records\n"
	      "  help [COMMAND|config]              this text, a command's help, or the configuration keys\n"
	      "  --version                          print the version\n"
	      "\n" COMMON_OPTIONS,
	      f);
}

static const struct {
	const char *command;
	const char *text;
} pages[] = {
	{"serve",
	 "usage: roost serve [--data DIR] [--config FILE] [--set KEY=VALUE]...\n"
	 "\n"
	 "Run the server in the foreground until SIGTERM or SIGINT. With no configuration\n"
	 "it uses an embedded store under DIR, a self-signed certificate generated there,\n"
	 "and unprivileged ports when not started as root. Listeners are set with keys\n"
	 "such as pop3.listen=127.0.0.1:1110 (empty turns one off); see roost help config.\n"
	 "\n" COMMON_OPTIONS},
	{"user",
	 "usage: roost user add NAME [--hash HASH] [--apop]\n"
	 "       roost user del NAME\n"
	 "       roost user list\n"
	 "       roost user passwd NAME [--apop]\n"
	 "       roost user set NAME KEY=VALUE...\n"
	 "       roost user show NAME\n"
	 "\n"
	 "NAME is the login name: a full address (alice@example.com) or a bare name.\n"
	 "Passwords are read from standard input (one line) or, on a terminal, asked\n"
	 "twice without echo; never from the command line. They are stored as yescrypt\n"
	 "hashes.\n"
	 "\n"
	 "  add --hash HASH   import an existing crypt(3) hash ($y$, $gy$, $7$, $2b$, $2y$,\n"
	 "                    $6$, $5$) instead of reading a password\n"
	 "  --apop            also keep the password as the account's APOP secret; it is\n"
	 "                    then stored in a plaintext-equivalent form (off by default;\n"
	 "                    passwd without --apop turns APOP off)\n"
	 "  set KEY=VALUE     override pop3.delete_mode, pop3.delete_folder,\n"
	 "                    pop3.only_new or quota.bytes for this account; KEY= removes\n"
	 "                    the override\n"
	 "  show              print the account, its password scheme and its settings\n"
	 "\n" COMMON_OPTIONS},
	{"mailbox",
	 "usage: roost mailbox list --user NAME\n"
	 "       roost mailbox create --user NAME MAILBOX\n"
	 "       roost mailbox delete --user NAME MAILBOX\n"
	 "\n"
	 "list prints one line per mailbox: name, messages and bytes, separated by tabs.\n"
	 "Levels of a mailbox name are separated by '/'. INBOX cannot be deleted;\n"
	 "deleting a mailbox deletes the messages in it.\n"
	 "\n" COMMON_OPTIONS},
	{"deliver",
	 "usage: roost deliver --user NAME [--mailbox MAILBOX] < message\n"
	 "\n"
	 "Deliver one message from standard input (64 MB at most) into the account's\n"
	 "INBOX, or MAILBOX when given and it exists (otherwise INBOX). A leading mbox\n"
	 "\"From \" line is dropped. The exit status is what MTAs expect of an MDA:\n"
	 "  0   delivered and on disk\n"
	 "  65  the message is empty or too large (bounce)\n"
	 "  67  no such user (bounce)\n"
	 "  75  the store failed or is unreachable (try again later)\n"
	 "Postfix example (master.cf):\n"
	 "  roost unix - n n - - pipe flags=DR user=roost\n"
	 "    argv=/usr/local/bin/roost deliver --data /var/lib/roost --user ${recipient}\n"
	 "\n" COMMON_OPTIONS},
	{"queue",
	 "usage: roost queue list\n"
	 "       roost queue flush [ID]\n"
	 "       roost queue delete ID\n"
	 "\n"
	 "The outbound queue: mail for remote recipients waiting for its next hop.\n"
	 "list prints one line per message (id, age, sender, size) and below it one\n"
	 "line per recipient: state (pending, sent, failed), attempts, when the next\n"
	 "attempt is due and the last reply. flush makes message ID (every message\n"
	 "without ID) due now; a running server tries it within a few seconds.\n"
	 "delete drops message ID without telling its sender.\n"
	 "\n" COMMON_OPTIONS},
	{"alias",
	 "usage: roost alias add ADDRESS ACCOUNT...\n"
	 "       roost alias del ADDRESS [ACCOUNT]\n"
	 "       roost alias list\n"
	 "\n"
	 "Mail to ADDRESS (local@domain) is delivered to each ACCOUNT's INBOX;\n"
	 "@domain is the domain's catch-all, for addresses no account or alias has.\n"
	 "An alias makes its domain one of the server's own, and lets its accounts\n"
	 "send mail as ADDRESS through submission (a catch-all does not).\n"
	 "del without ACCOUNT removes every account of the alias.\n"
	 "\n" COMMON_OPTIONS},
	{"dkim",
	 "usage: roost dkim keygen DOMAIN [--selector NAME] [--type rsa|ed25519]\n"
	 "       roost dkim list\n"
	 "       roost dkim record DOMAIN [--selector NAME]\n"
	 "       roost dkim sign [DOMAIN] [--selector NAME] < message\n"
	 "\n"
	 "Outbound mail whose From is in a domain with a key is signed with DKIM\n"
	 "(relaxed/relaxed). Keys are DIR/dkim/DOMAIN.SELECTOR.key (PEM, mode 0600).\n"
	 "\n"
	 "  keygen   make a key (RSA 2048 bits, or Ed25519 with --type ed25519) and print\n"
	 "           the TXT record to publish at SELECTOR._domainkey.DOMAIN; the default\n"
	 "           selector is \"roost\"; an existing key is never replaced\n"
	 "  list     one line per key: domain, selector, type, and \"signing\" for the key\n"
	 "           used for its domain (the oldest file when there are several)\n"
	 "  record   print the TXT record of a key again\n"
	 "  sign     print the message from standard input with a DKIM-Signature on top\n"
	 "           (line ends made CRLF), by the key of DOMAIN or else of the From\n"
	 "           domain, to check the DNS record with a verifier\n"
	 "\n" COMMON_OPTIONS},
	{"help",
	 "usage: roost help [COMMAND|config]\n"
	 "\n"
	 "Print the overview, the help of one command, or every configuration key with\n"
	 "its type, default and meaning.\n"},
};

bool cli_command_help(FILE *f, const char *command)
{
	for (size_t i = 0; i < ARRAY_LEN(pages); i++)
		if (strcmp(pages[i].command, command) == 0) {
			fputs(pages[i].text, f);
			return true;
		}
	return false;
}

void cli_config_help(FILE *f)
{
	unsigned n;
	const struct config_key_info *keys = config_keys(&n);
	fputs("Configuration keys (\"key = value\" in a --config file, or --set key=value):\n\n", f);
	for (unsigned i = 0; i < n; i++) {
		fprintf(f, "%s (%s, default \"%s\")\n", keys[i].key, keys[i].type, keys[i].def);
		fprintf(f, "    %s\n", keys[i].doc);
	}
}

int cmd_help(const struct cli_args *a)
{
	if (a->n_pos == 0) {
		cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (a->n_pos > 1) {
		cli_error("help: unexpected argument '%s'", a->pos[1]);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(a->pos[0], "config") == 0) {
		cli_config_help(stdout);
		return CLI_EXIT_OK;
	}
	if (!cli_command_help(stdout, a->pos[0])) {
		cli_error("help: unknown command '%s' (try roost help)", a->pos[0]);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}
