/* tern jailer: Firecracker's jailer, step by step. It builds a chroot jail
 * for one VMM process (jail_root.h), confines this process to it (a new
 * mount namespace, pivot_root, optionally a network and a PID namespace,
 * a cgroup, resource limits) and drops to the given uid/gid with no
 * capabilities and no_new_privs before it execs the jailed copy of the
 * exec file. See README "tern jailer" and `tern jailer --help`. */
#ifndef TERN_SANDBOX_JAILER_H
#define TERN_SANDBOX_JAILER_H

#include "sandbox/jailer_options.h"
#include "util/error.h"

/* Returned by jailer_run in a process whose part is done: a parent left
 * behind by --daemonize or --new-pid-ns once the program has started. It
 * should exit 0. */
#define JAILER_HANDED_OVER 1
/* Returned in a forked jailer that failed and has handed its error to the
 * waiting parent, which prints it: exit non-zero without a word. */
#define JAILER_REPORTED 2

/* Execs the jailed program and so returns only in a handed-over parent
 * (JAILER_HANDED_OVER), in a failed child (JAILER_REPORTED) or on failure:
 * -errno with err naming the step and the path. A failure before the jail
 * is entered leaves no jail root. */
int jailer_run(const struct jailer_options *opts, struct tern_error *err);

#endif
