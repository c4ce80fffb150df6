/* The top of the `roost` program: parse the command line, answer --version and
 * --help, and hand over to the subcommand. Every failure leaves exactly one
 * "roost: ..." line on stderr; usage mistakes exit 2. */
#include "cli/cli.h"

#include <string.h>
#include <sys/stat.h>

#include "core/version.h"

static const struct {
	const char *name;
	int (*run)(const struct cli_args *a);
} commands[] = {
	{"serve", cmd_serve},
	{"user", cmd_user},
	{"mailbox", cmd_mailbox},
	{"deliver", cmd_deliver},
	{"queue", cmd_queue},
	{"alias", cmd_alias},
	{"dkim", cmd_dkim},
	{"help", cmd_help},
};

int cli_main(int argc, char **argv)
{
	struct cli_args a;
	if (cli_parse(argc, argv, &a) < 0)
		return CLI_EXIT_USAGE;
	/* Mail and keys are private: nothing Roost creates is for other users. */
	umask(077);

	int status = CLI_EXIT_USAGE;
	if (a.version && a.command == NULL) {
		printf("roost %s\n", ROOST_VERSION);
		status = CLI_EXIT_OK;
		goto out;
	}
	if (a.command == NULL) {
		if (a.help) {
			cli_usage(stdout);
			status = CLI_EXIT_OK;
		} else {
			cli_error("missing command (try roost help)");
		}
		goto out;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(commands[i].name, a.command) != 0)
			continue;
		if (a.version) {
			cli_error("--version is not an option of %s (try roost --version)", a.command);
		} else if (a.help) {
			cli_command_help(stdout, a.command);
			status = CLI_EXIT_OK;
		} else {
			status = commands[i].run(&a);
		}
		goto out;
	}
	cli_error("unknown command '%s' (try roost help)", a.command);
out:
	if (fflush(stdout) != 0 && status == CLI_EXIT_OK) {
		cli_error("writing the output failed");
		status = CLI_EXIT_FAIL;
	}
	cli_args_free(&a);
	return status;
}
