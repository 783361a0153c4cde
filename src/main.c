/* tern: a KVM virtual machine monitor. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/exit_status.h"
#include "cli/firecracker_command.h"
#include "cli/jailer_command.h"
#include "cli/migrate_command.h"
#include "cli/restore_command.h"
#include "cli/run_command.h"
#include "cli/snapshot_command.h"
#include "util/log.h"
#include "util/version.h"

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: tern COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  run        boot a Linux kernel in a new virtual machine\n"
		"  snapshot   save a running tern's VM to files (through its "
		"API socket)\n"
		"  restore    start a new virtual machine from a snapshot\n"
		"  migrate    move a running tern's VM to another tern (live "
		"migration)\n"
		"  jailer     start a program in a chroot jail, as "
		"Firecracker's jailer\n"
		"  firecracker  run with Firecracker's command line and "
		"API (also: tern\n"
		"             started under the name 'firecracker')\n"
		"\n"
		"Options:\n"
		"  -h, --help     show this help and exit\n"
		"  -V, --version  show tern's version and exit\n"
		"\n"
		"'tern COMMAND --help' describes a command.\n");
}

/* Tools that start Firecracker or its jailer by path can be given tern's
 * binary under that name (build/firecracker is such a link). */
static int called_as(const char *argv0, const char *name)
{
	const char *slash = strrchr(argv0, '/');

	return !strcmp(slash ? slash + 1 : argv0, name);
}

int main(int argc, char **argv)
{
	log_mark_start();
	if (argc > 0 && called_as(argv[0], "jailer"))
		return jailer_command_main(argc, argv);
	/* SIGUSR2 asks a running VM for its vCPU report (vm.c); before the VM
	 * runs, or when none will, it must not end tern. Ignored here, it is
	 * still queued for the signalfd once vm_run() blocks it. */
	signal(SIGUSR2, SIG_IGN);
	if (argc > 0 && called_as(argv[0], "firecracker"))
		return firecracker_command_main(argc, argv);
	if (argc < 2) {
		print_usage(stderr);
		return TERN_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		print_usage(stdout);
		return TERN_EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("tern %s\n", TERN_VERSION);
		return TERN_EXIT_OK;
	}
	if (!strcmp(argv[1], "run"))
		return run_command_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "snapshot"))
		return snapshot_command_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restore"))
		return restore_command_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "migrate"))
		return migrate_command_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "jailer"))
		return jailer_command_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "firecracker"))
		return firecracker_command_main(argc - 1, argv + 1);
	fprintf(stderr, "tern: unknown command '%s' (see 'tern --help')\n",
		argv[1]);
	return TERN_EXIT_USAGE;
}
