/* tern jailer: Firecracker's jailer command line in front of
 * src/sandbox/jailer.c, so tools that start Firecracker under its jailer
 * (Kata Containers, firecracker-containerd) can start tern the same way. */
#include "cli/jailer_command.h"

#include "cli/exit_status.h"
#include "sandbox/jailer.h"
#include "sandbox/jailer_options.h"

void jailer_command_print_help(FILE *out)
{
	fputs("Usage: tern jailer --id ID --exec-file PATH --uid UID --gid "
	      "GID\n"
	      "                   [--chroot-base-dir DIR] [--netns PATH] "
	      "[--daemonize]\n"
	      "                   [--new-pid-ns] [--cgroup-version 1|2]\n"
	      "                   [--cgroup FILE=VALUE]... [--parent-cgroup "
	      "NAME]\n"
	      "                   [--resource-limit RESOURCE=N]... [-- "
	      "EXEC-ARGS...]\n"
	      "\n"
	      "Start a program (a VMM) confined to a chroot jail of its own, "
	      "with the\n"
	      "command line of Firecracker's jailer. Run as root. tern's "
	      "binary called\n"
	      "'jailer' is this command.\n"
	      "\n"
	      "The jail is DIR/NAME/ID/root, NAME being the exec file's name. "
	      "It holds a\n"
	      "copy of the exec file (/NAME), the device nodes /dev/kvm, "
	      "/dev/net/tun,\n"
	      "/dev/urandom (and /dev/userfaultfd when the host has it), an "
	      "empty /run, and\n"
	      "/NAME.pid with the jailed program's pid; the root, /dev, "
	      "/dev/net, /run and\n"
	      "the nodes belong to UID:GID. File descriptors above 2 are "
	      "closed and the\n"
	      "environment emptied first. Then, in this order, the jailer "
	      "joins --netns,\n"
	      "sets the resource limits, places itself in the cgroup, enters a "
	      "new mount\n"
	      "namespace and pivot_root()s into the jail (the host's tree is "
	      "unmounted: no\n"
	      "/proc, no /sys), daemonizes, forks into a new PID namespace, "
	      "drops to\n"
	      "UID:GID with no supplementary groups, no capabilities (bounding "
	      "set\n"
	      "included) and no_new_privs, and execs /NAME EXEC-ARGS.\n"
	      "\n"
	      "Options:\n"
	      "      --id ID              the VM's unique name: 1-64 letters, "
	      "digits and\n"
	      "                           '-' (required)\n"
	      "      --exec-file PATH     the program to jail: a statically "
	      "linked ELF\n"
	      "                           executable (required)\n"
	      "      --uid UID            the user it runs as, a number "
	      "(required)\n"
	      "      --gid GID            its group, a number (required)\n"
	      "      --chroot-base-dir DIR\n"
	      "                           where jails are built (default "
	      "/srv/jailer); it\n"
	      "                           must exist\n"
	      "      --netns PATH         join this network namespace (e.g.\n"
	      "                           /var/run/netns/NAME)\n"
	      "      --daemonize          detach: a new session, standard "
	      "input and output\n"
	      "                           on /dev/null; the jailer returns "
	      "once the\n"
	      "                           program has started (it waits for "
	      "the exec)\n"
	      "      --new-pid-ns         run the program as pid 1 of a new "
	      "PID namespace;\n"
	      "                           the jailer returns once it has "
	      "started\n"
	      "      --cgroup-version 1|2 the cgroup hierarchy: 2 (the default "
	      "here; it\n"
	      "                           is 1 for Firecracker's jailer) or 1\n"
	      "      --cgroup FILE=VALUE  write VALUE to FILE (e.g. "
	      "memory.max=512M,\n"
	      "                           cpu.max=\"50000 100000\") in the "
	      "cgroup PARENT/ID,\n"
	      "                           created if missing, and run the "
	      "program in it.\n"
	      "                           v2: below the cgroup2 mount, each "
	      "controller\n"
	      "                           enabled on the way down. v1: below "
	      "the mount of\n"
	      "                           FILE's controller "
	      "(memory.limit_in_bytes in\n"
	      "                           /sys/fs/cgroup/memory); a new cpuset "
	      "takes its\n"
	      "                           parent's cpus and mems. Repeatable\n"
	      "      --parent-cgroup NAME the cgroup above ID, a relative path "
	      "(default:\n"
	      "                           NAME). Without --cgroup no cgroup is "
	      "made; with\n"
	      "                           v2 the program joins PARENT if it "
	      "exists\n"
	      "      --resource-limit fsize=N\n"
	      "                           the largest file it may write, in "
	      "bytes\n"
	      "      --resource-limit no-file=N\n"
	      "                           one above its highest file "
	      "descriptor\n"
	      "                           (default 2048)\n"
	      "  -h, --help               show this help and exit\n"
	      "\n"
	      "Unlike Firecracker's jailer, it adds no --id or --start-time-us "
	      "to\n"
	      "EXEC-ARGS. A jail is never reused: with an ID whose jail exists "
	      "the jailer\n"
	      "refuses (remove DIR/NAME/ID to start over). A failure before "
	      "the jail is\n"
	      "entered removes the jail root it built; a cgroup, once made, is "
	      "kept and\n"
	      "reused.\n"
	      "\n"
	      "Exit status:\n"
	      "  none  on success the program replaces the jailer\n"
	      "  0     --daemonize or --new-pid-ns: the program was started\n"
	      "  1     a step failed (one line on stderr names the step and "
	      "the path;\n"
	      "        with --daemonize or --new-pid-ns also a step after the "
	      "fork)\n"
	      "  2     the command line is wrong\n",
	      out);
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
	if (ret == JAILER_REPORTED)
		return TERN_EXIT_RUNTIME_ERROR;
	fprintf(stderr, "tern: jailer: %s\n", err.message);
	return TERN_EXIT_RUNTIME_ERROR;
}
