/* One --disk as the VM core gets it: checked, with its own copy of the
 * strings (the config outlives the command line's parsing). The path is a
 * heap string the holding vm_config owns (vm/vm_config.h: copy and release
 * it with vm_config_copy() and vm_config_release(), never by assignment). */
#ifndef TERN_VM_VM_DISK_CONFIG_H
#define TERN_VM_VM_DISK_CONFIG_H

#include <limits.h>
#include <stdbool.h>

#include "backends/block_file.h"
#include "backends/block_queue.h"
#include "util/rate_limiter.h"

/* Kata Containers configures 9 drives; 16 leaves room. Each is a PCI
 * function (bus 0 has 32 slots) or a virtio-mmio slot (those are bounded
 * by the IOAPIC's free pins: VIRTIO_MMIO_MAX_DEVICES for all devices). */
#define VM_MAX_DISKS 16
/* virtio-blk's GET_ID answer is 20 bytes (VIRTIO_BLK_ID_BYTES). */
#define VM_DISK_ID_MAX 20
/* A partition's UUID (GPT, 36 characters) or MBR id ("xxxxxxxx-NN"). */
#define VM_DISK_PARTUUID_MAX 36

struct vm_disk_config {
	/* Owned by the vm_config holding the disk; at most PATH_MAX - 1
	 * bytes (config_add_disk). A disk handed to config_add_disk only
	 * lends it: the config keeps its own copy. */
	char *path;
	char id[VM_DISK_ID_MAX + 1];
	bool readonly;
	/* Firecracker's is_root_device: the first disk (/dev/vda), and
	 * root=/dev/vda on a command line that names no root. */
	bool root;
	/* Firecracker's partuuid: the root device's command line says
	 * root=PARTUUID=... instead of root=/dev/vda. Empty: none. */
	char partuuid[VM_DISK_PARTUUID_MAX + 1];
	enum block_cache_mode cache;
	enum block_engine engine;
	/* Firecracker's rate_limiter on the disk's requests; zero: none. */
	struct rate_limiter_config rate_limiter;
	/* Set for a live migration's destination (src/control): the image's
	 * lock is taken when the migrated state is restored. */
	bool lock_at_restore;
};

#endif
