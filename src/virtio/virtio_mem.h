/* virtio-mem (virtio 1.2+ spec, "Memory Device", device ID 24): memory
 * hotplug, Firecracker's /hotplug/memory. The device owns a region of guest
 * physical address space above RAM (and above any pmem), divided into
 * blocks of block_size bytes. The host sets requested_size; the guest's
 * driver (Linux's virtio_mem) asks to PLUG blocks until plugged_size
 * reaches it, or to UNPLUG blocks it emptied when it is lower. Plugged
 * blocks are ordinary guest memory: the region is the tail of guest
 * memory's host mapping (memory/guest_memory.h), so snapshots, live
 * migration and dirty tracking cover it like RAM. An unplugged block's
 * pages go back to the host (madvise MADV_DONTNEED) and read as zeros.
 *
 * Inaccessible unplugged memory (VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE,
 * offered and required): the region is cut into slots of slot_size bytes,
 * each its own KVM memory slot, registered while at least one of its
 * blocks is plugged and removed when its last block is unplugged; a guest
 * access to a removed slot leaves KVM as an MMIO exit no device claims.
 * One KVM slot for the whole region would be simpler, but then the guest
 * could read and write every unplugged block, and each write would take
 * host memory back that the host just reclaimed; one KVM slot per block
 * would protect every block but costs a slot per 2 MiB (KVM has a few
 * thousand, and each slot makes memory lookups slower). Slots of
 * slot_size (Firecracker's slot_size_mib, 128 MiB by default) are the
 * middle: a slot whose blocks are all unplugged is unreachable, and a
 * guest that fragments a slot keeps only what it already holds. tern's
 * own devices reach plugged blocks only (guest_memory_ptr()). */
#ifndef TERN_VIRTIO_VIRTIO_MEM_H
#define TERN_VIRTIO_VIRTIO_MEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "memory/guest_memory.h"
#include "virtio/virtio_device.h"

#define VIRTIO_ID_MEM_DEVICE 24

/* Firecracker's limits: blocks of at least 2 MiB (a power of two), slots
 * of at least 128 MiB (Linux's memory block on x86-64), a whole number of
 * blocks per slot and of slots in the region. */
#define VIRTIO_MEM_MIN_BLOCK_SIZE (2ULL << 20)
#define VIRTIO_MEM_MIN_SLOT_SIZE (128ULL << 20)
/* At most 1 TiB of hotpluggable memory and 4096 slots. */
#define VIRTIO_MEM_MAX_REGION_SIZE (1ULL << 40)
#define VIRTIO_MEM_MAX_SLOTS 4096

/* Registers (present) or removes KVM slot `slot` (0 is the region's first
 * slot_size bytes). Returns 0 or a negative errno. */
typedef int (*virtio_mem_slot_fn)(void *opaque, uint32_t slot, bool present);
/* Gives [hva, hva+len) of the region back to the host. Returns 0 or a
 * negative errno. The default is madvise(MADV_DONTNEED). */
typedef int (*virtio_mem_release_fn)(void *opaque, void *hva, uint64_t len);

struct virtio_mem_options {
	uint64_t block_size;
	uint64_t slot_size;
	virtio_mem_slot_fn set_slot; /* NULL: slots are not tracked (tests) */
	void *slot_opaque;
};

/* Counters, atomic: read at any time (metrics). Firecracker's
 * memory_hotplug metrics are made of them. */
struct virtio_mem_counters {
	_Atomic uint64_t plug_count, plug_bytes, plug_fails;
	_Atomic uint64_t unplug_count, unplug_bytes, unplug_fails;
	_Atomic uint64_t unplug_discard_fails;
	_Atomic uint64_t unplug_all_count, unplug_all_fails;
	_Atomic uint64_t state_count, state_fails;
	_Atomic uint64_t slots_present;
};

/* GET /hotplug/memory and metrics. */
struct virtio_mem_info {
	uint64_t addr, region_size, usable_region_size;
	uint64_t block_size, slot_size;
	uint64_t plugged_size, requested_size;
	uint64_t plug_count, plug_bytes, plug_fails;
	uint64_t unplug_count, unplug_bytes, unplug_fails;
	uint64_t unplug_discard_fails;
	uint64_t unplug_all_count, unplug_all_fails;
	uint64_t state_count, state_fails;
	uint64_t slots_present;
	uint64_t requests, errors, notifications;
};

/* Whether sizes make a valid device (the rules above): 0, or -EINVAL with
 * *why set to a sentence. */
int virtio_mem_check_sizes(uint64_t region_size, uint64_t slot_size,
			   uint64_t block_size, const char **why);

/* The device for mem's hotpluggable memory, which guest_memory_hotplug_
 * attach() placed already (block size as options->block_size). Every
 * block starts unplugged, requested_size 0. NULL: bad sizes or out of
 * memory. Plug it with vm_add_virtio_device(). */
struct virtio_device *
virtio_mem_create(struct guest_memory *mem,
		  const struct virtio_mem_options *options);

/* Replaces how memory is given back (tests). Before the guest runs. */
void virtio_mem_set_release(struct virtio_device *vdev,
			    virtio_mem_release_fn release, void *opaque);

/* A new requested_size (a multiple of the block size, at most the region
 * size) and the config-change interrupt. Thread-safe. 0 or -EINVAL. */
int virtio_mem_set_requested(struct virtio_device *vdev, uint64_t bytes);

void virtio_mem_get_info(struct virtio_device *vdev,
			 struct virtio_mem_info *info);

#endif
