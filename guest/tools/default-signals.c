/* Runs a command with every signal's disposition back to the default.
 *
 * The guest's init (a busybox sh script) starts the console shell in the
 * background so that it can take busybox reboot's and poweroff's signals
 * while the shell runs; but a non-interactive sh starts background commands
 * with SIGINT and SIGQUIT ignored, and an interactive ash keeps a signal
 * that was ignored when it started ignored for good, so Ctrl-C at the
 * console would interrupt nothing. Built static like the other tools.
 *
 * usage: tern-default-signals COMMAND [ARG...] */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: tern-default-signals COMMAND [ARG...]\n");
		return 2;
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* SIGKILL, SIGSTOP and 32-33 refuse: fine */
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
