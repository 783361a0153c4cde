/* The jailed process's cgroup (cgroup v2, as Firecracker's jailer with
 * --cgroup-version 2): MOUNT/PARENT/ID created with the --cgroup values
 * written, and this process moved in. MOUNT is the cgroup2 mount found in
 * /proc/self/mounts (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
 * host). */
#ifndef TERN_SANDBOX_JAILER_CGROUP_H
#define TERN_SANDBOX_JAILER_CGROUP_H

#include <limits.h>

#include "sandbox/jailer_options.h"
#include "util/error.h"

struct jailer_cgroup {
	char mount[PATH_MAX]; /* the cgroup2 hierarchy's mount point */
	char parent[PATH_MAX]; /* MOUNT/PARENT */
	char leaf[PATH_MAX]; /* MOUNT/PARENT/ID */
};

/* Finds the hierarchy and checks every --cgroup controller is available
 * there, before anything is built. */
int jailer_cgroup_prepare(struct jailer_cgroup *cg,
			  const struct jailer_options *opts,
			  const char *exec_name, struct tern_error *err);

/* With --cgroup settings: creates the leaf (an existing one is reused),
 * enables the controllers on the way down, writes the values and moves
 * this process in. Without: moves into MOUNT/PARENT when it exists, else
 * does nothing (Firecracker's behaviour for a prepared parent). */
int jailer_cgroup_apply(const struct jailer_cgroup *cg,
			const struct jailer_options *opts,
			struct tern_error *err);

#endif
