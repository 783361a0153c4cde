/* The jailed process's cgroups, as Firecracker's jailer places them.
 *
 * v2 (the default): one place, MOUNT/PARENT/ID, MOUNT being the cgroup2
 * mount found in /proc/self/mounts (/sys/fs/cgroup, or
 * /sys/fs/cgroup/unified on a hybrid host).
 * v1: for each --cgroup file's controller, the cgroup v1 mount that has it
 * (e.g. /sys/fs/cgroup/memory), one place per mount: MOUNT/PARENT/ID.
 *
 * PARENT is --parent-cgroup, by default the exec file's name. */
#ifndef TERN_SANDBOX_JAILER_CGROUP_H
#define TERN_SANDBOX_JAILER_CGROUP_H

#include <limits.h>

#include "sandbox/jailer_options.h"
#include "util/error.h"

#define JAILER_CGROUP_MAX_PLACES 8

struct jailer_cgroup_place {
	char mount[PATH_MAX]; /* the hierarchy's mount point */
	char parent[PATH_MAX]; /* MOUNT/PARENT */
	char leaf[PATH_MAX]; /* MOUNT/PARENT/ID */
	int cpuset; /* a v1 hierarchy with the cpuset controller */
};

struct jailer_cgroup {
	int version;
	unsigned place_count;
	struct jailer_cgroup_place places[JAILER_CGROUP_MAX_PLACES];
	/* The place each --cgroup setting is written in. */
	unsigned place_of[JAILER_MAX_CGROUP_SETTINGS];
};

/* Finds the hierarchies and checks every --cgroup controller is available
 * there, before anything is built. */
int jailer_cgroup_prepare(struct jailer_cgroup *cg,
			  const struct jailer_options *opts,
			  const char *exec_name, struct tern_error *err);

/* With --cgroup settings: creates each leaf (an existing one is reused),
 * enables the controllers on the way down (v2) or copies the cpuset's cpus
 * and mems down (v1), writes the values and moves this process in.
 * Without, v2: moves into MOUNT/PARENT when it exists, else does nothing
 * (Firecracker's behaviour for a prepared parent); v1: nothing. */
int jailer_cgroup_apply(const struct jailer_cgroup *cg,
			const struct jailer_options *opts,
			struct tern_error *err);

#endif
