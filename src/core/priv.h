/* Giving up root: the server binds its ports as root, then runs as its own
 * user; the CLI, run as root on a data directory that belongs to that user,
 * becomes that user too so that every file of the store keeps one owner. */
#ifndef ROOST_CORE_PRIV_H
#define ROOST_CORE_PRIV_H

#include <sys/types.h>

/* Find the user to run as (creating a system user of that name when missing,
 * falling back to nobody). */
int priv_resolve_user(const char *name, uid_t *uid_r, gid_t *gid_r, const char **error_r);
/* chown the directory and everything below it. */
int priv_chown_tree(const char *dir, uid_t uid, gid_t gid, const char **error_r);
/* True when every parent directory of dir lets uid/gid search it (dir itself
 * is not checked: the server hands it over). */
int priv_can_reach(const char *dir, uid_t uid, gid_t gid);
/* Switch to uid/gid for good (supplementary groups dropped). */
int priv_drop(uid_t uid, gid_t gid, const char **error_r);
/* When running as root on an existing directory owned by another user, become
 * that user. A no-op otherwise. */
int priv_match_data_owner(const char *dir, const char **error_r);

#endif
