/* Landlock confinement of the server process. After it, the process can read,
 * write, create and remove files only below its data directory, and read (and
 * map) the system's libraries, configuration and device nodes; every other
 * path is refused by the kernel, whatever a bug in a parser might try. On a
 * kernel without Landlock it does nothing and says so. */
#include "core/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Read-only system paths: libraries loaded late (NSS, OpenSSL providers),
 * resolver and TLS configuration, /proc and /sys for the runtime and the
 * sanitizers, /dev for /dev/null and /dev/urandom. */
static const char *const readonly_paths[] = {"/etc", "/usr", "/lib", "/lib64", "/proc", "/sys", "/dev"};

static uint64_t fs_rights(int abi)
{
	uint64_t r = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
		     LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
		     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
		     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		     LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifdef LANDLOCK_ACCESS_FS_REFER
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
	return r;
}

static int add_path(int ruleset, const char *path, uint64_t allowed)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct landlock_path_beneath_attr attr = {.allowed_access = allowed, .parent_fd = fd};
	int r = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	close(fd);
	return r;
}

int sandbox_confine(const char *data_dir, const char **error_r)
{
	static __thread char msg[256];
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return 1;
	uint64_t all = fs_rights(abi);
	struct landlock_ruleset_attr rs = {.handled_access_fs = all};
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &rs, sizeof rs, 0);
	if (ruleset < 0) {
		snprintf(msg, sizeof msg, "landlock_create_ruleset: %s", strerror(errno));
		*error_r = msg;
		return -1;
	}
	uint64_t readonly = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	uint64_t data = all & ~(uint64_t)(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
					  LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
					  LANDLOCK_ACCESS_FS_MAKE_SYM);
	int ret = add_path(ruleset, data_dir, data);
	for (size_t i = 0; ret == 0 && i < sizeof readonly_paths / sizeof readonly_paths[0]; i++)
		ret = add_path(ruleset, readonly_paths[i], readonly);
	/* /dev/null is written to. */
	if (ret == 0)
		ret = add_path(ruleset, "/dev/null", LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE);
	if (ret == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		ret = -1;
	if (ret == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
		ret = -1;
	if (ret != 0) {
		snprintf(msg, sizeof msg, "landlock: %s", strerror(errno));
		*error_r = msg;
	}
	close(ruleset);
	return ret;
}
