/* Confining the server to what it needs from the file system (Landlock): its
 * data directory read-write, the system's libraries and configuration
 * read-only, nothing else. Must run before any thread is started, because a
 * Landlock domain covers the calling thread and the threads it creates. */
#ifndef ROOST_CORE_SANDBOX_H
#define ROOST_CORE_SANDBOX_H

/* Returns 0 when confined, 1 when the kernel has no Landlock (nothing done),
 * -1 with *error_r on failure. */
int sandbox_confine(const char *data_dir, const char **error_r);

#endif
