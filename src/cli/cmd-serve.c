/* `roost serve`: run the server in the foreground with the configuration the
 * command line built. Everything else (binding, TLS, privileges, the store)
 * belongs to server_run, whose return value is the exit status. */
#include "cli/cli.h"

#include "net/server.h"

int cmd_serve(const struct cli_args *a)
{
	if (cli_check_opts(a, "serve", 0) < 0)
		return CLI_EXIT_USAGE;
	if (a->n_pos > 0) {
		cli_error("serve: unexpected argument '%s' (try roost serve --help)", a->pos[0]);
		return CLI_EXIT_USAGE;
	}
	struct config *cfg = cli_config(a);
	if (cfg == NULL)
		return CLI_EXIT_USAGE;
	int status = server_run(cfg, a->data_dir);
	config_free(cfg);
	return status;
}
