/* tern jailer: Firecracker's jailer command line in front of
 * src/sandbox/jailer.c, so tools that start Firecracker under its jailer
 * (Kata Containers, firecracker-containerd) can start tern the same way. */
#include "cli/jailer_command.h"

#include "cli/exit_status.h"
#include "sandbox/jailer.h"
#include "sandbox/jailer_options.h"

void jailer_command_print_help(FILE *out)
{
	fprintf(out,
		"Usage: tern jailer --id ID --exec-file PATH --uid UID --gid "
		"GID\n"
		"                   [--chroot-base-dir DIR] [--netns PATH] "
		"[--daemonize]\n"
		"                   [--new-pid-ns] [--cgroup-version 2] "
		"[--cgroup FILE=VALUE]...\n"
		"                   [--parent-cgroup NAME] [--resource-limit "
		"RESOURCE=N]...\n"
		"                   [-- EXEC-ARGS...]\n"
		"\n"
		"Start a program (a VMM) confined to a chroot jail of its "
		"own, with the\n"
		"command line of Firecracker's jailer. Run as root. Also "
		"run as 'jailer' when\n"
		"tern's binary is called by that name.\n"
		"\n"
		"The jail is DIR/NAME/ID/root, NAME being the exec file's "
		"name. It holds a copy\n"
		"of the exec file (/NAME), the device nodes /dev/kvm, "
		"/dev/net/tun, /dev/urandom\n"
		"(and /dev/userfaultfd when the host has it), empty /run, "
		"and /NAME.pid with the\n"
		"jailed program's pid; the root, /dev, /dev/net, /run and "
		"the nodes belong to\n"
		"UID:GID. The jailer then, in this order: joins --netns, "
		"sets the resource\n"
		"limits, places itself in the cgroup, enters a new mount "
		"namespace and\n"
		"pivot_root()s into the jail (the host's tree is unmounted; "
		"no /proc, no /sys),\n"
		"daemonizes, forks into a new PID namespace, drops to "
		"UID:GID with no\n"
		"supplementary groups, no capabilities (bounding set "
		"included) and\n"
		"no_new_privs, and execs /NAME EXEC-ARGS with an empty "
		"environment. File\n"
		"descriptors above 2 are closed first; none reaches the "
		"program.\n"
		"\n"
		"Options:\n"
		"      --id ID              the VM's unique name: 1-64 "
		"letters, digits and '-'\n"
		"                           (required)\n"
		"      --exec-file PATH     the program to jail: a "
		"statically linked ELF\n"
		"                           executable (required)\n"
		"      --uid UID, --gid GID the user and group it runs as "
		"(required; numbers)\n"
		"      --chroot-base-dir DIR\n"
		"                           where jails are built "
		"(default " JAILER_DEFAULT_CHROOT_BASE "); it must exist\n"
		"      --netns PATH         join this network namespace "
		"(e.g. /var/run/netns/NAME)\n"
		"      --daemonize          detach: new session, standard "
		"input and output on\n"
		"                           /dev/null; the jailer returns "
		"at once\n"
		"      --new-pid-ns         run the program as pid 1 of a "
		"new PID namespace; the\n"
		"                           jailer returns once it is "
		"started\n"
		"      --cgroup-version 2   cgroup v2 (the default; v1 is "
		"refused)\n"
		"      --cgroup FILE=VALUE  write VALUE to FILE "
		"(e.g. memory.max=512M,\n"
		"                           cpu.max=\"50000 100000\") in the "
		"cgroup PARENT/ID of\n"
		"                           the cgroup2 mount, created if "
		"missing, with each\n"
		"                           controller enabled on the way "
		"down; the program\n"
		"                           runs in it. Repeatable\n"
		"      --parent-cgroup NAME the cgroup above ID: a relative "
		"path (default: NAME).\n"
		"                           Without --cgroup no cgroup is "
		"created: the program\n"
		"                           joins NAME if it exists, as "
		"Firecracker's jailer\n"
		"      --resource-limit fsize=N\n"
		"                           the largest file it may write, "
		"in bytes\n"
		"      --resource-limit no-file=N\n"
		"                           one above its highest file "
		"descriptor (default %d)\n"
		"  -h, --help               show this help and exit\n"
		"\n"
		"Unlike Firecracker's jailer, it adds no --id or "
		"--start-time-us to EXEC-ARGS.\n"
		"A jail is never reused: with an ID whose jail exists the "
		"jailer refuses (remove\n"
		"DIR/NAME/ID to start over). A failure before the jail is "
		"entered removes the\n"
		"jail root it built; the cgroup, once made, is kept for "
		"reuse.\n"
		"\n"
		"Exit status:\n"
		"  none  on success the program replaces the jailer\n"
		"  0     --daemonize or --new-pid-ns: the program was "
		"started\n"
		"  1     a step failed (one line on stderr names the step "
		"and the path)\n"
		"  2     the command line is wrong\n",
		JAILER_DEFAULT_NO_FILE);
}

int jailer_command_main(int argc, char **argv)
{
	struct tern_error err = {{0}};
	struct jailer_options opts;
	int ret = jailer_options_parse(argc, argv, &opts, &err);

	if (ret == 1) {
		jailer_command_print_help(stdout);
		return TERN_EXIT_OK;
	}
	if (ret) {
		fprintf(stderr, "tern: %s (see 'tern jailer --help')\n",
			err.message);
		return TERN_EXIT_USAGE;
	}
	ret = jailer_run(&opts, &err);
	if (ret == JAILER_HANDED_OVER)
		return TERN_EXIT_OK;
	fprintf(stderr, "tern: jailer: %s\n", err.message);
	return TERN_EXIT_RUNTIME_ERROR;
}
