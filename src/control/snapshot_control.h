/* Snapshots through the API (Firecracker's PUT /snapshot/create and PUT
 * /snapshot/load). Errors: -EPERM wrong state, -EINVAL a bad request or
 * snapshot, others from the files or KVM. */
#ifndef TERN_CONTROL_SNAPSHOT_CONTROL_H
#define TERN_CONTROL_SNAPSHOT_CONTROL_H

#include "control/instance.h"

/* type: "Full" (also when NULL) or "Diff". The VM must be paused. */
int instance_snapshot_create(struct instance *inst, const char *snapshot_path,
			     const char *mem_file_path, const char *type,
			     struct tern_error *err);

/* Into an instance not started yet: creates a VM of the snapshot's shape
 * (vCPUs, memory) from the rest of the configuration, loads the snapshot
 * into it and starts it, running (resume) or paused. mem_path is the
 * memory file, or with mem_uffd (mem_backend Uffd) the socket of the page
 * fault handler that serves the memory (snapshot/uffd_backend.h). */
struct snapshot_load_net_override {
	const char *iface_id;
	const char *host_dev_name;
};

/* Firecracker's LoadSnapshot fields beyond the paths. */
struct snapshot_load_options {
	int mem_uffd;
	int resume;
	/* track_dirty_pages (or the deprecated enable_diff_snapshots): -1
	 * keeps the snapshot's. */
	int track_dirty_pages;
	/* Advance the guest's kvmclock by the host's real time since the
	 * snapshotted VM was paused (Firecracker's clock_realtime). */
	int clock_realtime;
	/* network_overrides: the snapshot's interface iface_id on another
	 * tap. */
	const struct snapshot_load_net_override *net_overrides;
	int net_override_count;
	/* vsock_override.uds_path; NULL: the snapshot's. */
	const char *vsock_uds_path;
};

/* A tern whose configuration has no device takes the snapshot's devices,
 * at their recorded host paths (with the overrides), as Firecracker does;
 * one that was given devices must have the snapshot's (their paths may
 * differ). */
int instance_snapshot_load(struct instance *inst, const char *snapshot_path,
			   const char *mem_path,
			   const struct snapshot_load_options *options,
			   struct tern_error *err);

/* tern restore: before instance_run(boot_now), makes the coming start load
 * this snapshot instead of booting a kernel (the same path as PUT
 * /snapshot/load). Reads and checks the file's machine shape now. mem_uffd:
 * mem_path is a page fault handler's socket (mem_backend Uffd), else the
 * memory file. */
int instance_snapshot_load_at_start(struct instance *inst,
				    const char *snapshot_path,
				    const char *mem_path, int mem_uffd,
				    int resume, struct tern_error *err);

#endif
