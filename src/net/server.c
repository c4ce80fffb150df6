/* `roost serve`: set up the data directory, TLS, listeners, drop root, open
 * the store, start the worker pool and event loops, then wait for SIGTERM or
 * SIGINT. On a signal it stops accepting, lets in-flight commands (and their
 * commits) finish, says goodbye to every session, and exits 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/priv.h"
#include "core/sandbox.h"
#include "core/version.h"
#include "core/util.h"
#include "imap/imap.h"
#include "net/net-internal.h"
#include "smtp/queue.h"

static int fail(const char *what, const char *why)
{
	fprintf(stderr, "roost: %s: %s\n", what, why);
	return 1;
}

/* Every committed change, this process's or another's (roost deliver), is
 * announced here; sessions that wait for changes (IMAP IDLE) hook in the same way. */
static void log_change(void *ctx, int64_t account_id, int64_t mailbox_id, uint64_t modseq)
{
	log_debug("event=mailbox_changed account=%lld mailbox=%lld modseq=%llu", (long long)account_id,
		  (long long)mailbox_id, (unsigned long long)modseq);
}

static void release_store_thread(void *store)
{
	store_release_thread(store);
}

/* Release what start-up acquired, on the way out whether it succeeded or not. */
static void release(struct net *net, struct server *srv)
{
	for (unsigned i = 0; i < net->nlisteners; i++)
		close(net->listeners[i].fd);
	free(net->listeners);
	free(net->loops);
	queue_stop(); /* its thread uses the store */
	if (srv->store)
		store_close(srv->store);
	if (srv->throttle)
		auth_throttle_free(srv->throttle);
	if (net->tls)
		SSL_CTX_free(net->tls);
	net_global = NULL;
}

int server_run(struct config *cfg, const char *data_dir)
{
	struct server srv = {.cfg = cfg, .data_dir = data_dir};
	struct net net = {.srv = &srv};
	const char *err = NULL;
	enum log_level level;

	/* Before any thread exists (the store starts its own): every thread
	 * inherits this mask, so the stop signals reach only the main thread's
	 * sigwait and never end the process the default way. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (log_parse_level(config_str(cfg, "log.level"), &level) == 0)
		log_set_level(level);
	const char *hn = config_str(cfg, "server.hostname");
	if (hn[0])
		snprintf(srv.hostname, sizeof srv.hostname, "%s", hn);
	else if (gethostname(srv.hostname, sizeof srv.hostname - 1) != 0 || srv.hostname[0] == '\0')
		snprintf(srv.hostname, sizeof srv.hostname, "localhost");
	srv.allow_plaintext = config_bool(cfg, "auth.allow_plaintext");

	if (mkdir(data_dir, 0700) < 0 && errno != EEXIST)
		return fail(data_dir, strerror(errno));

	int status = 1;
	net.tls = tls_context_new(data_dir, config_str(cfg, "tls.cert"), config_str(cfg, "tls.key"), srv.hostname, &err);
	if (net.tls == NULL)
		return fail("TLS", err);
	net_global = &net;
	if (listeners_open(&net, cfg, &err) < 0) {
		fail("listen", err);
		goto out;
	}

	if (geteuid() == 0) {
		uid_t uid;
		gid_t gid;
		const char *user = config_str(cfg, "server.user");
		if (strcmp(user, "root") != 0) {
			if (priv_resolve_user(user, &uid, &gid, &err) < 0) {
				fail("server.user", err);
				goto out;
			}
			if (!priv_can_reach(data_dir, uid, gid)) {
				fail(data_dir, "the server's user cannot reach this directory (a parent is not searchable); "
					       "choose another --data or set server.user");
				goto out;
			}
			if (priv_chown_tree(data_dir, uid, gid, &err) < 0 || priv_drop(uid, gid, &err) < 0) {
				fail("dropping root", err);
				goto out;
			}
			log_info("event=privileges_dropped uid=%u gid=%u", (unsigned)uid, (unsigned)gid);
		}
	}

	/* Before any thread exists: a Landlock domain covers the threads created after it. */
	if (config_bool(cfg, "server.sandbox")) {
		/* SQLite's temporary files go to the data directory, the one writable place. */
		setenv("SQLITE_TMPDIR", data_dir, 1);
		int rc = sandbox_confine(data_dir, &err);
		if (rc < 0) {
			fail("sandbox", err);
			goto out;
		}
		log_info("event=sandbox landlock=%s", rc == 0 ? "on" : "unavailable");
	}

	if (store_open_sqlite(data_dir, config_bool(cfg, "store.group_commit"), &srv.store, &err) != STORE_OK) {
		srv.store = NULL;
		fail("store", err);
		goto out;
	}
	store_watch(srv.store, log_change, NULL);
	imap_init(srv.store);
	if (store_listen_external(srv.store, &err) != STORE_OK)
		log_warn("event=notify_unavailable reason=\"%s\"", err);
	srv.throttle = auth_throttle_new((int)config_int(cfg, "auth.max_failures"));
	auth_cache_configure(config_int(cfg, "auth.cache_ttl"));
	queue_start(&srv);

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	unsigned nloops = (unsigned)config_int(cfg, "server.loops");
	unsigned nworkers = (unsigned)config_int(cfg, "server.workers");
	if (nloops == 0)
		nloops = (unsigned)ncpu;
	if (nworkers == 0)
		/* A delivery holds its worker until the group commit's fsync: the
		 * more deliveries wait together, the more share one fsync. */
		nworkers = ncpu * 4 > 16 ? (unsigned)ncpu * 4 : 16;
	net.max_conns = (unsigned)config_int(cfg, "limits.connections");
	net.max_per_ip = (unsigned)config_int(cfg, "limits.connections_per_ip");
	net.rate = (int)config_int(cfg, "limits.commands_per_second");


	if (workers_start(nworkers, release_store_thread, srv.store) < 0 || loops_start(&net, nloops) < 0) {
		fail("threads", strerror(errno));
		exit(1); /* threads may be running: no orderly way back */
	}
	log_info("event=started version=%s data=%s loops=%u workers=%u pid=%d", ROOST_VERSION, data_dir, nloops,
		 nworkers, (int)getpid());
	/* A line on stdout for scripts and tests that wait for readiness. */
	printf("roost: ready\n");
	fflush(stdout);

	for (;;) {
		int sig = 0;
		sigwait(&set, &sig);
		if (sig == SIGHUP) {
			log_info("event=sighup action=ignored");
			continue;
		}
		log_info("event=stopping signal=%s", sig == SIGTERM ? "TERM" : "INT");
		break;
	}
	net.stop_deadline_ms = time_mono_ms() + CONN_SHUTDOWN_GRACE_MS;
	atomic_store(&net.stopping, true);
	loops_wake_all(&net);
	loops_join(&net);
	workers_stop();
	log_info("event=stopped");
	status = 0;
out:
	release(&net, &srv);
	return status;
}
