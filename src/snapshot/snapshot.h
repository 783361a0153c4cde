/* Snapshots of a whole VM: the state file (vCPUs, VM, devices) and the
 * memory file. Create works on a paused VM (or one whose vCPUs never ran);
 * load works on a VM fresh from vm_create() with the snapshot's vCPU count
 * and memory size, before vm_run() and without a kernel loaded. */
#ifndef TERN_SNAPSHOT_SNAPSHOT_H
#define TERN_SNAPSHOT_SNAPSHOT_H

#include <stdint.h>

#include "snapshot/config_state.h"
#include "vm/vm.h"

enum snapshot_type {
	SNAPSHOT_FULL, /* all of RAM, sparsely */
	SNAPSHOT_DIFF, /* pages dirtied since the last snapshot, written onto
			  that snapshot's memory file */
};

struct snapshot_create_request {
	const char *snapshot_path;
	const char *mem_file_path;
	enum snapshot_type type;
};

struct snapshot_stats {
	uint64_t memory_bytes_written;
	uint64_t duration_ns;
};

/* Writes the memory file, then the state file (so a state file on disk
 * always has its memory). stats may be NULL. */
int snapshot_create(struct vm *vm, const struct snapshot_create_request *req,
		    struct snapshot_stats *stats, struct tern_error *err);

/* Checks every section first (file, versions, checksum, machine shape,
 * CPU features, devices and each device's own bytes: see
 * snapshot/state_sequence.h), so a refusal leaves the VM as vm_create()
 * made it; a failure after that point (a KVM refusal, a disk's lock held
 * elsewhere) leaves the VM unusable: the caller destroys it. */
int snapshot_load(struct vm *vm, const char *snapshot_path,
		  const char *mem_file_path, struct snapshot_stats *stats,
		  struct tern_error *err);

/* snapshot_load with Firecracker's mem_backend Uffd: guest memory is
 * served by the page fault handler listening on handler_socket_path
 * (snapshot/uffd_backend.h), which gets the userfaultfd before any state
 * is restored. */
int snapshot_load_uffd(struct vm *vm, const char *snapshot_path,
		       const char *handler_socket_path,
		       struct snapshot_stats *stats, struct tern_error *err);

/* The configuration of the VM in a snapshot (checked: see
 * snapshot/config_state.h), so that a fresh tern can create a VM of that
 * shape to load it into and show it in GET /vm/config. Free it with
 * config_state_free(). */
int snapshot_read_config(const char *snapshot_path, struct snapshot_config *out,
			 struct tern_error *err);

#endif
