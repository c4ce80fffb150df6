/* IDLE (RFC 2177): a session waiting for DONE is registered here by mailbox;
 * the store's watcher, run after every commit, wakes the sessions idling on
 * the changed mailbox through conn_wake(), and each reports its changes on a
 * worker. An idling session costs no thread: only its entry here. The
 * registry lock is the one conn_wake() requires: a session leaves the
 * registry (in its close callback at the latest) before its connection is
 * freed. */
#include <pthread.h>
#include <string.h>

#include "imap/imap.h"
#include "imap/imap-session.h"

#define IDLE_BUCKETS 1024

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct imap_session *idle_buckets[IDLE_BUCKETS];

static struct imap_session **bucket(int64_t mailbox_id)
{
	return &idle_buckets[(uint64_t)mailbox_id % IDLE_BUCKETS];
}

static void idle_watch(void *ctx, int64_t account_id, int64_t mailbox_id, uint64_t modseq)
{
	(void)ctx;
	(void)account_id;
	(void)modseq;
	pthread_mutex_lock(&idle_lock);
	for (struct imap_session *s = *bucket(mailbox_id); s; s = s->idle_next)
		if (s->idle_mailbox == mailbox_id)
			conn_wake(s->c);
	pthread_mutex_unlock(&idle_lock);
}

void imap_init(struct store *st)
{
	store_watch(st, idle_watch, NULL);
}

static void idle_enter(struct imap_session *s)
{
	s->idling = true;
	if (s->view == NULL)
		return;
	pthread_mutex_lock(&idle_lock);
	s->idle_mailbox = s->view->mailbox_id;
	struct imap_session **b = bucket(s->idle_mailbox);
	s->idle_next = *b;
	*b = s;
	pthread_mutex_unlock(&idle_lock);
}

void imap_idle_leave(struct imap_session *s)
{
	if (!s->idling)
		return;
	s->idling = false;
	if (s->idle_mailbox == 0)
		return;
	pthread_mutex_lock(&idle_lock);
	for (struct imap_session **pp = bucket(s->idle_mailbox); *pp; pp = &(*pp)->idle_next) {
		if (*pp == s) {
			*pp = s->idle_next;
			break;
		}
	}
	pthread_mutex_unlock(&idle_lock);
	s->idle_next = NULL;
	s->idle_mailbox = 0;
}

enum run_result imap_cmd_idle(struct imap_session *s, const struct imap_command *cmd)
{
	if (cmd->n_args != 0)
		return imap_bad(s, "IDLE takes no arguments");
	/* Registered before looking, so that no commit falls in between. */
	idle_enter(s);
	if (s->view != NULL && imap_view_sync(s, true, 0) < 0) {
		imap_idle_leave(s);
		conn_writes(s->c, "* BYE [CLIENTBUG] The selected mailbox was deleted or renamed away\r\n");
		s->state = IS_LOGOUT;
		return RUN_CLOSE;
	}
	conn_writes(s->c, "+ idling\r\n");
	imap_wait_lines(s);
	return RUN_DONE;
}

enum run_result imap_idle_wake(struct imap_session *s)
{
	if (s->view != NULL && imap_view_sync(s, true, 0) < 0) {
		imap_idle_leave(s);
		conn_writes(s->c, "* BYE [CLIENTBUG] The selected mailbox was deleted or renamed away\r\n");
		s->state = IS_LOGOUT;
		return RUN_CLOSE;
	}
	return RUN_DONE;
}

enum run_result imap_idle_line(struct imap_session *s, const char *line, size_t len)
{
	imap_idle_leave(s);
	s->mode = FM_COMMAND;
	s->tag = s->line_tag;
	while (line != NULL && len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (line == NULL || len != 4 || strncasecmp(line, "DONE", 4) != 0)
		return imap_bad(s, "Expected DONE");
	return imap_ok(s, "Idle completed");
}
