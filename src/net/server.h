/* The running server: what every session can reach (configuration, store,
 * throttling, host name) and the entry point of `roost serve`. */
#ifndef ROOST_NET_SERVER_H
#define ROOST_NET_SERVER_H

#include <stdbool.h>

#include "auth/auth.h"
#include "core/config.h"
#include "store/store.h"

struct server {
	struct config *cfg;
	struct store *store;
	struct auth_throttle *throttle;
	const char *data_dir;
	char hostname[256];
	bool allow_plaintext;
};

/* Run the server until SIGTERM/SIGINT. Returns the process exit status. */
int server_run(struct config *cfg, const char *data_dir);

#endif
