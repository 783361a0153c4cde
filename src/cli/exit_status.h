/* tern's documented exit statuses (README "Exit status", tern run --help). */
#ifndef TERN_CLI_EXIT_STATUS_H
#define TERN_CLI_EXIT_STATUS_H

enum tern_exit_status {
	TERN_EXIT_OK = 0, /* guest rebooted or powered off */
	TERN_EXIT_RUNTIME_ERROR = 1, /* could not set up or load the VM */
	TERN_EXIT_USAGE = 2, /* bad command line */
	/* 3 was "guest triple-faulted"; a triple fault is now a reset (0).
	 * Not reused, so that scripts reading 3 never see it mean something
	 * else. */
	TERN_EXIT_KVM_ERROR = 4, /* KVM internal error / entry failure */
	TERN_EXIT_UNHANDLED_EXIT = 5, /* an exit tern cannot handle */
	TERN_EXIT_SIGNAL_BASE = 128, /* + signal number: stopped by signal */
};

#endif
