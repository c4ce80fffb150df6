/* Dropping root. The server resolves (or creates) its user, hands it the data
 * directory and switches to it after binding ports; the CLI follows the owner
 * of an existing data directory so that root never leaves root-owned files in
 * a store the server must write. */
#include "core/priv.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

int priv_resolve_user(const char *name, uid_t *uid_r, gid_t *gid_r, const char **error_r)
{
	struct passwd *pw = getpwnam(name);
	if (pw == NULL && strcmp(name, "nobody") != 0) {
		pid_t pid = fork();
		if (pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);
			if (devnull >= 0) {
				dup2(devnull, 1);
				dup2(devnull, 2);
			}
			execlp("useradd", "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
			       "--shell", "/usr/sbin/nologin", "--user-group", name, (char *)NULL);
			_exit(127);
		}
		int status;
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			log_info("event=user_created user=%s", name);
			pw = getpwnam(name);
		}
	}
	if (pw == NULL)
		pw = getpwnam("nobody");
	if (pw == NULL) {
		*error_r = "no unprivileged user to run as (server.user)";
		return -1;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

static uid_t tree_uid;
static gid_t tree_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (st->st_uid != tree_uid || st->st_gid != tree_gid)
		if (lchown(path, tree_uid, tree_gid) < 0)
			return -1;
	return 0;
}

int priv_chown_tree(const char *dir, uid_t uid, gid_t gid, const char **error_r)
{
	tree_uid = uid;
	tree_gid = gid;
	if (nftw(dir, chown_one, 16, FTW_PHYS) != 0) {
		*error_r = strerror(errno);
		return -1;
	}
	return 0;
}

int priv_can_reach(const char *dir, uid_t uid, gid_t gid)
{
	char *path = realpath(dir, NULL);
	if (path == NULL)
		return 0;
	/* The directory itself is handed over; only its parents matter. */
	char *last = strrchr(path, '/');
	if (last == path)
		last[1] = '\0';
	else
		*last = '\0';
	int ok = 1;
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char save = *p;
		*p = '\0';
		struct stat st;
		if (stat(path[0] ? path : "/", &st) < 0)
			ok = 0;
		else if (st.st_uid == uid)
			ok &= (st.st_mode & S_IXUSR) != 0;
		else if (st.st_gid == gid)
			ok &= (st.st_mode & S_IXGRP) != 0;
		else
			ok &= (st.st_mode & S_IXOTH) != 0;
		*p = save;
		if (save == '\0' || !ok)
			break;
	}
	free(path);
	return ok;
}

int priv_drop(uid_t uid, gid_t gid, const char **error_r)
{
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (setuid(0) == 0) {
		*error_r = "could regain root after dropping it";
		return -1;
	}
	/* Keep core dumps and same-user debugging (and sanitizers) working. */
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

int priv_match_data_owner(const char *dir, const char **error_r)
{
	struct stat st;
	if (geteuid() != 0 || stat(dir, &st) < 0 || st.st_uid == 0)
		return 0;
	return priv_drop(st.st_uid, st.st_gid, error_r);
}
