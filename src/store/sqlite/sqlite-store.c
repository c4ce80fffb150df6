/* Opening and closing the embedded SQLite store: DIR/roost.db, created with its
 * directory (mode 0700) and migrated to the current schema on open. The store
 * owns its writer thread, every reader connection and the notification
 * sockets; store_close finishes the queued writes first and then releases all
 * of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "store/sqlite/sqlite-store.h"

static void sqlite_close(struct store *base);
static void sqlite_watch(struct store *base, store_watch_fn *fn, void *ctx);

const struct store_ops sqlite_store_ops = {
	.close = sqlite_close,
	.watch = sqlite_watch,
	.pins_settle = sqlite_pins_settle,
	.account_create = sqlite_account_create,
	.account_delete = sqlite_account_delete,
	.account_find = sqlite_account_find,
	.account_list = sqlite_account_list,
	.account_set_password = sqlite_account_set_password,
	.account_set_pop3_first_login = sqlite_account_set_pop3_first_login,
	.setting_get = sqlite_setting_get,
	.setting_set = sqlite_setting_set,
	.mailbox_create = sqlite_mailbox_create,
	.mailbox_delete = sqlite_mailbox_delete,
	.mailbox_find = sqlite_mailbox_find,
	.mailbox_list = sqlite_mailbox_list,
	.mailbox_get = sqlite_mailbox_get,
	.mailbox_modseq = sqlite_mailbox_modseq_get,
	.mailbox_rename = sqlite_mailbox_rename,
	.subscribe = sqlite_subscribe,
	.subscriptions = sqlite_subscriptions,
	.deliver = sqlite_deliver,
	.entries = sqlite_entries,
	.entries_range = sqlite_entries_range,
	.kept_entries = sqlite_kept_entries,
	.message_read = sqlite_message_read,
	.expunge = sqlite_expunge,
	.move = sqlite_move,
	.copy = sqlite_copy,
	.flags_update = sqlite_flags_update,
	.changes = sqlite_changes,
	.message_info = sqlite_message_info,
	.message_infos = sqlite_message_infos,
	.message_info_set = sqlite_message_info_set,
	.release_thread = sqlite_release_thread,
	.search_scan = sqlite_search_scan,
	.search_index = sqlite_search_index,
	.alias_add = sqlite_alias_add,
	.alias_delete = sqlite_alias_delete,
	.alias_list = sqlite_alias_list,
	.alias_targets = sqlite_alias_targets,
	.domain_known = sqlite_domain_known,
	.queue_add = sqlite_queue_add,
	.queue_list = sqlite_queue_list,
	.queue_get = sqlite_queue_get,
	.queue_content = sqlite_queue_content,
	.queue_due = sqlite_queue_due,
	.queue_update = sqlite_queue_update,
	.queue_flush = sqlite_queue_flush,
	.queue_delete = sqlite_queue_delete,
};

/* mkdir -p, with mode 0700 for every directory it creates. */
static int sqlite_mkdirs(const char *dir)
{
	char *path = xstrdup(dir);
	int ret = STORE_OK;
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			ret = store_set_error("cannot create directory %s: %s", path, strerror(errno));
			break;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(path);
	if (ret == STORE_OK) {
		struct stat sb;
		if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
			ret = store_set_error("%s is not a directory", dir);
	}
	return ret;
}

static void sqlite_store_free(struct sqlite_store *st)
{
	sqlite_indexer_stop(st);
	sqlite_writer_stop(st);
	sqlite_listen_stop(st);
	sqlite_conn_close(st->writer);
	sqlite_readers_close(st);
	if (st->notify_fd >= 0)
		close(st->notify_fd);
	pthread_key_delete(st->reader_key);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->work_cond);
	pthread_cond_destroy(&st->settle_cond);
	pthread_mutex_destroy(&st->readers_lock);
	pthread_rwlock_destroy(&st->watchers_lock);
	free(st->watchers);
	free(st->kept);
	free(st->dir);
	free(st->db_path);
	free(st->sock_path);
	free(st);
}

int store_open_sqlite(const char *dir, bool group_commit, struct store **st_r, const char **error_r)
{
	const char *dummy;
	if (error_r == NULL)
		error_r = &dummy;
	*st_r = NULL;
	if (dir == NULL || *dir == '\0') {
		*error_r = "empty store directory";
		return STORE_INVALID;
	}
	if (!sqlite3_threadsafe()) {
		*error_r = "the SQLite library was built without thread support";
		return STORE_ERROR;
	}
	if (sqlite_mkdirs(dir) != STORE_OK) {
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	struct sqlite_store *st = xcalloc(1, sizeof *st);
	st->base.ops = &sqlite_store_ops;
	st->dir = xstrdup(dir);
	st->db_path = xasprintf("%s/roost.db", dir);
	st->sock_path = xasprintf("%s/notify.sock", dir);
	st->group_commit = group_commit;
	st->commit_durable = true; /* sqlite_conn_open sets synchronous = FULL */
	st->notify_fd = -1;
	st->listen_fd = -1;
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->work_cond, NULL);
	pthread_cond_init(&st->settle_cond, NULL);
	pthread_mutex_init(&st->readers_lock, NULL);
	pthread_rwlock_init(&st->watchers_lock, NULL);
	int err = pthread_key_create(&st->reader_key, NULL);
	if (err != 0)
		die("pthread_key_create: %s", strerror(err));

	if (sqlite_conn_open(st->db_path, false, &st->writer) != STORE_OK ||
	    sqlite_migrate(st->writer) != STORE_OK) {
		sqlite_store_free(st);
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	st->writer->store = &st->base;
	sqlite_notify_open(st);
	if (sqlite_writer_start(st) != STORE_OK) {
		sqlite_store_free(st);
		*error_r = store_last_error();
		return STORE_ERROR;
	}
	sqlite_indexer_start(st);
	log_debug("event=store_open backend=sqlite path=\"%s\" group_commit=%d", st->db_path, group_commit);
	*st_r = &st->base;
	return STORE_OK;
}

static void sqlite_close(struct store *base)
{
	if (base != NULL)
		sqlite_store_free(sqlite_store_of(base));
}

static void sqlite_watch(struct store *base, store_watch_fn *fn, void *ctx)
{
	struct sqlite_store *st = sqlite_store_of(base);
	pthread_rwlock_wrlock(&st->watchers_lock);
	st->watchers = xrealloc(st->watchers, (st->n_watchers + 1) * sizeof *st->watchers);
	st->watchers[st->n_watchers++] = (struct sqlite_watcher){fn, ctx};
	pthread_rwlock_unlock(&st->watchers_lock);
}
