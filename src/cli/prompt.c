/* Reading a password for `roost user add/passwd`: never from argv. From a
 * terminal it asks twice with echo off (restored even on Ctrl-C); from a pipe
 * it takes one line and strips the line ending. The buffer is on the heap,
 * bounded, and wiped when released. */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/util.h"

static struct termios saved_tio;
static volatile sig_atomic_t echo_off;

static void restore_and_die(int sig)
{
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	(void)write(STDERR_FILENO, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Read one line from fd into a heap buffer of at most AUTH_MAX_PASSWORD bytes.
 * Returns the string, or NULL with *why set. A line ending (LF or CRLF) is
 * dropped; end of input also ends the line, but no input at all is an error. */
static char *read_line(int fd, const char **why)
{
	size_t cap = AUTH_MAX_PASSWORD + 2, n = 0;
	char *buf = xmalloc(cap + 1);
	bool got_any = false, too_long = false;
	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			goto fail;
		}
		if (r == 0)
			break;
		got_any = true;
		if (c == '\n')
			break;
		if (c == '\0') {
			*why = "the password contains a NUL byte";
			goto fail;
		}
		if (n < cap)
			buf[n++] = c;
		else
			too_long = true;
	}
	if (!got_any) {
		*why = "no password given on standard input";
		goto fail;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (too_long || n > AUTH_MAX_PASSWORD) {
		*why = "password too long";
		goto fail;
	}
	return buf;
fail:
	explicit_bzero(buf, cap + 1);
	free(buf);
	return NULL;
}

static char *prompt_no_echo(const char *prompt, const char **why)
{
	fputs(prompt, stderr);
	fflush(stderr);
	struct termios tio;
	if (tcgetattr(STDIN_FILENO, &tio) < 0) {
		*why = strerror(errno);
		return NULL;
	}
	saved_tio = tio;
	struct sigaction sa = {.sa_handler = restore_and_die}, old_int, old_term, old_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	tio.c_lflag |= ICANON;
	echo_off = 1;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
	char *pw = read_line(STDIN_FILENO, why);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	echo_off = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	fputc('\n', stderr);
	return pw;
}

void cli_password_free(char *pw)
{
	if (pw == NULL)
		return;
	explicit_bzero(pw, strlen(pw));
	free(pw);
}

char *cli_read_password(void)
{
	const char *why = NULL;
	char *pw;
	if (isatty(STDIN_FILENO)) {
		pw = prompt_no_echo("Password: ", &why);
		if (pw != NULL) {
			char *again = prompt_no_echo("Retype password: ", &why);
			if (again == NULL) {
				cli_password_free(pw);
				pw = NULL;
			} else if (strcmp(pw, again) != 0) {
				why = "the passwords do not match";
				cli_password_free(pw);
				pw = NULL;
			}
			cli_password_free(again);
		}
	} else {
		pw = read_line(STDIN_FILENO, &why);
	}
	if (pw != NULL && pw[0] == '\0') {
		why = "empty password";
		cli_password_free(pw);
		pw = NULL;
	}
	if (pw == NULL)
		cli_error("%s", why ? why : "cannot read the password");
	return pw;
}
