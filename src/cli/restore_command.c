/* tern restore: a new tern whose VM comes from a snapshot instead of a
 * kernel. It takes its own options (--snapshot, --mem or --uffd, --paused)
 * off the command line and hands the rest, the devices, to `tern run`
 * (run_command_main_from_snapshot), which loads the snapshot through the
 * same path as PUT /snapshot/load. */
#include "cli/restore_command.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/exit_status.h"
#include "cli/run_command.h"

void restore_command_print_help(FILE *out)
{
	fprintf(out,
		"Usage: tern restore --snapshot FILE (--mem FILE | --uffd "
		"SOCKET) [--paused]\n"
		"                    [--api-sock PATH] [--serial MODE] "
		"[DEVICE OPTIONS]\n"
		"\n"
		"Start a new VM from a snapshot that 'tern snapshot' (or PUT "
		"/snapshot/create)\n"
		"wrote, instead of booting a kernel, and connect its serial "
		"console to this\n"
		"terminal as 'tern run' does. tern exits when the guest "
		"reboots or powers off.\n"
		"\n"
		"Options:\n"
		"      --snapshot FILE    the snapshot's state file "
		"(required)\n"
		"      --mem FILE         its memory file; mapped "
		"private, so the restored\n"
		"                         guest never writes it\n"
		"      --uffd SOCKET      instead of --mem: the guest's memory "
		"comes page by page\n"
		"                         from a page fault handler "
		"listening on this Unix\n"
		"                         socket (Firecracker's Uffd backend "
		"and protocol; see\n"
		"                         docs/snapshots.md)\n"
		"      --paused           leave the restored VM paused; "
		"resume it with PATCH /vm\n"
		"                         {\"state\": \"Resumed\"} (needs "
		"--api-sock). Default: running\n"
		"      --api-sock PATH    serve the HTTP API on this Unix "
		"socket, as 'tern run'\n"
		"      --serial MODE      stdio (default), file:PATH, "
		"unix:PATH "
		"or none, as\n"
		"                         'tern run'\n"
		"  -h, --help             show this help and exit\n"
		"\n"
		"Device options: without any, the restored VM has the "
		"snapshotted one's devices\n"
		"at the host paths, taps and sockets the snapshot recorded. "
		"Given (--disk, --net,\n"
		"--rng, --balloon, --vsock, --transport, --config-file; see "
		"'tern run --help'),\n"
		"they must be the snapshot's devices or the snapshot is "
		"refused (their host\n"
		"paths, tap names and vsock sockets may differ).\n"
		"\n"
		"The vCPU count, memory size, hotpluggable memory, CPU "
		"template and boot source\n"
		"come from the snapshot: --cpus or --memory other than the "
		"snapshot's is\n"
		"refused; no kernel is loaded (--kernel, --initrd, --cmdline, "
		"--cpu-template and\n"
		"--memory-hotplug are ignored). --kvm-device, --log-level, "
		"--seccomp and\n"
		"--no-seccomp work as with 'tern run' (system call filters on "
		"by default; off\n"
		"is unsafe). See docs/snapshots.md and docs/security.md.\n"
		"\n"
		"Exit status: as 'tern run' (0 guest rebooted or powered off; "
		"1 the snapshot\n"
		"could not be loaded or the VM set up; 2 the command line is "
		"wrong; 3, 4, 5,\n"
		"128+N as 'tern run --help' describes).\n");
}

static int take_value(int argc, char **argv, int *i, const char *name,
		      const char **value)
{
	size_t len = strlen(name);
	const char *arg = argv[*i];

	if (strncmp(arg, name, len))
		return 0;
	if (arg[len] == '=') {
		*value = arg + len + 1;
		return 1;
	}
	if (arg[len])
		return 0;
	if (*i + 1 >= argc) {
		*value = NULL;
		return 1;
	}
	*value = argv[++*i];
	return 1;
}

int restore_command_main(int argc, char **argv)
{
	struct run_from_snapshot start = {0};
	const char *api_sock = NULL;
	char **run_argv = calloc((size_t)argc + 1, sizeof(*run_argv));
	int run_argc = 0, status, missing_value = 0, memory_options = 0;

	if (!run_argv) {
		fprintf(stderr, "tern: out of memory\n");
		return TERN_EXIT_RUNTIME_ERROR;
	}
	run_argv[run_argc++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *value;

		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				run_argv[run_argc++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			free(run_argv);
			restore_command_print_help(stdout);
			return TERN_EXIT_OK;
		}
		if (!strcmp(argv[i], "--paused")) {
			start.paused = 1;
		} else if (take_value(argc, argv, &i, "--snapshot", &value)) {
			start.snapshot_path = value;
			missing_value |= !value;
		} else if (take_value(argc, argv, &i, "--mem", &value)) {
			memory_options++;
			start.mem_file_path = value;
			start.mem_uffd = 0;
			missing_value |= !value;
		} else if (take_value(argc, argv, &i, "--uffd", &value)) {
			memory_options++;
			start.mem_file_path = value;
			start.mem_uffd = 1;
			missing_value |= !value;
		} else {
			/* Remembered for the --paused check; run parses it. */
			if (!strcmp(argv[i], "--api-sock") && i + 1 < argc)
				api_sock = argv[i + 1];
			else if (!strncmp(argv[i], "--api-sock=", 11))
				api_sock = argv[i] + 11;
			run_argv[run_argc++] = argv[i];
		}
	}
	if (missing_value || !start.snapshot_path || !start.mem_file_path ||
	    !start.snapshot_path[0] || !start.mem_file_path[0] ||
	    memory_options > 1 || (start.paused && !api_sock)) {
		free(run_argv);
		fprintf(stderr, "tern: %s (see 'tern restore --help')\n",
			missing_value
				? "--snapshot, --mem and --uffd need a value"
				: !start.snapshot_path ||
					!start.snapshot_path[0]
				? "--snapshot is required"
				: !start.mem_file_path ||
					!start.mem_file_path[0]
				? "--mem is required (or --uffd)"
				: memory_options > 1
				? "give one of --mem and --uffd, once"
				: "--paused needs --api-sock (nothing could "
				  "resume the VM otherwise)");
		return TERN_EXIT_USAGE;
	}
	status = run_command_main_from_snapshot(run_argc, run_argv, &start);
	free(run_argv);
	return status;
}
