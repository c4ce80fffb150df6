/* `roost queue list|flush|delete`: look at the outbound queue and act on it
 * from outside the server. Changes go through the store, so a running server
 * sees them: a flushed message is picked up at the queue runner's next look
 * (within a few seconds), a deleted one is never tried again. */
#include "cli/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const char *state_name(enum store_queue_state s)
{
	switch (s) {
	case STORE_QUEUE_PENDING:
		return "pending";
	case STORE_QUEUE_SENT:
		return "sent";
	case STORE_QUEUE_FAILED:
		return "failed";
	}
	return "?";
}

/* "3d4h", "2h5m", "40s": how long ago. */
static void age_text(int64_t secs, char *out, size_t cap)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(out, cap, "%" PRId64 "d%" PRId64 "h", secs / 86400, secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(out, cap, "%" PRId64 "h%" PRId64 "m", secs / 3600, secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(out, cap, "%" PRId64 "m%" PRId64 "s", secs / 60, secs % 60);
	else
		snprintf(out, cap, "%" PRId64 "s", secs);
}

static int queue_list(struct store *st)
{
	struct store_queue_msg *m;
	size_t n;
	int rc = store_queue_list(st, &m, &n);
	if (rc != STORE_OK)
		return cli_store_error(rc, "queue", false);
	int64_t now = time_now();
	for (size_t i = 0; i < n; i++) {
		char age[32];
		age_text(now - m[i].created, age, sizeof age);
		printf("%" PRId64 "\t%s\t<%s>\t%" PRIu64 " bytes\n", m[i].id, age, m[i].sender, m[i].size);
		for (size_t j = 0; j < m[i].n_rcpts; j++) {
			const struct store_queue_rcpt *r = &m[i].rcpts[j];
			printf("\t<%s>\t%s\tattempts=%u", r->addr, state_name(r->state), r->attempts);
			if (r->state == STORE_QUEUE_PENDING) {
				char next[32];
				if (r->next_attempt <= now)
					snprintf(next, sizeof next, "now");
				else
					age_text(r->next_attempt - now, next, sizeof next);
				printf("\tnext=%s", next);
			}
			if (r->last_reply != NULL)
				printf("\t%s", r->last_reply);
			printf("\n");
		}
	}
	if (n == 0)
		printf("the queue is empty\n");
	store_queue_msgs_free(m, n);
	return CLI_EXIT_OK;
}

static bool parse_id(const char *s, int64_t *id_r)
{
	uint64_t v;
	if (!parse_uint(s, strlen(s), INT64_MAX, &v) || v == 0)
		return false;
	*id_r = (int64_t)v;
	return true;
}

int cmd_queue(const struct cli_args *a)
{
	if (cli_check_opts(a, "queue", 0) < 0)
		return CLI_EXIT_USAGE;
	const char *verb = a->n_pos > 0 ? a->pos[0] : NULL;
	if (verb == NULL || (strcmp(verb, "list") != 0 && strcmp(verb, "flush") != 0 && strcmp(verb, "delete") != 0)) {
		cli_error("queue: expected list, flush or delete (try roost queue --help)");
		return CLI_EXIT_USAGE;
	}
	bool is_list = strcmp(verb, "list") == 0, is_flush = strcmp(verb, "flush") == 0;
	size_t max_args = is_list ? 1 : 2;
	if (a->n_pos > max_args) {
		cli_error("queue %s: unexpected argument '%s'", verb, a->pos[max_args]);
		return CLI_EXIT_USAGE;
	}
	int64_t id = 0;
	if (!is_list && a->n_pos == 2 && !parse_id(a->pos[1], &id)) {
		cli_error("queue %s: '%s' is not a queue id (see roost queue list)", verb, a->pos[1]);
		return CLI_EXIT_USAGE;
	}
	if (!is_list && !is_flush && id == 0) {
		cli_error("queue delete: which message? (roost queue delete ID)");
		return CLI_EXIT_USAGE;
	}
	struct config *cfg;
	struct store *st;
	int open_status = cli_open(a, false, &cfg, &st);
	if (open_status != 0)
		return open_status;
	int status;
	if (is_list) {
		status = queue_list(st);
	} else {
		int rc = is_flush ? store_queue_flush(st, id) : store_queue_delete(st, id);
		if (rc == STORE_NOTFOUND) {
			cli_error("queue %s: no message %" PRId64 " in the queue", verb, id);
			status = CLI_EXIT_FAIL;
		} else if (rc != STORE_OK) {
			status = cli_store_error(rc, "queue", false);
		} else {
			status = CLI_EXIT_OK;
		}
	}
	cli_close(cfg, st);
	return status;
}
