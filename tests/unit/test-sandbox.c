/* Unit tests for the Landlock confinement: in a child process, after
 * sandbox_confine(), files below the data directory can be created and read,
 * system configuration can be read, and writing anywhere else is refused. */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sandbox.h"
#include "core/util.h"

/* Child exit codes: 0 confined and every check held, 10 + n check n failed,
 * 99 no Landlock on this kernel. */
static int child(const char *data, const char *outside)
{
	const char *err = NULL;
	int rc = sandbox_confine(data, &err);
	if (rc == 1)
		return 99;
	if (rc != 0)
		return 10;
	char *inside = xasprintf("%s/sub/file", data);
	char *sub = xasprintf("%s/sub", data);
	if (mkdir(sub, 0700) != 0)
		return 11;
	int fd = open(inside, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "x", 1) != 1)
		return 12;
	close(fd);
	if (unlink(inside) != 0 || rmdir(sub) != 0)
		return 13;
	fd = open("/etc/passwd", O_RDONLY);
	if (fd < 0)
		return 14;
	close(fd);
	fd = open(outside, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0 || errno != EACCES)
		return 15;
	fd = open("/etc/passwd", O_WRONLY);
	if (fd >= 0)
		return 16;
	return 0;
}

TEST(confines_to_the_data_directory)
{
	char base[] = "/tmp/roost-sandbox-XXXXXX";
	CHECK(mkdtemp(base) != NULL);
	char *data = xasprintf("%s/data", base);
	char *outside = xasprintf("%s/outside", base);
	CHECK(mkdir(data, 0700) == 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(child(data, outside)); /* _exit: no leak check in the confined child */
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	int code = WEXITSTATUS(status);
	if (code == 99)
		printf("# no Landlock on this kernel: sandbox_confine() is a no-op\n");
	else
		CHECK_EQ_INT(code, 0);
	CHECK(access(outside, F_OK) != 0); /* nothing was created outside */
	rmdir(data);
	rmdir(base);
	free(data);
	free(outside);
}
