/* The VM's hotpluggable memory (Firecracker's /hotplug/memory): the
 * virtio-mem device (virtio/virtio_mem.h) over the tail of guest memory's
 * mapping, placed above RAM and pmem, and the KVM memory slots the device
 * adds and removes as the guest plugs and unplugs. */
#ifndef TERN_VM_VM_MEMORY_HOTPLUG_H
#define TERN_VM_VM_MEMORY_HOTPLUG_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vm/vm_config.h"
#include "vm/vm_pmem.h"

struct vm;

/* KVM memory slots of the hotpluggable memory: after the pmem ranges'. */
#define VM_HOTPLUG_FIRST_SLOT (VM_PMEM_FIRST_SLOT + VM_MAX_PMEM)

/* Where the region starts: the first 1 GiB boundary (or block boundary,
 * for blocks above 1 GiB) at or above device_end, so that Linux's memory
 * blocks (128 MiB, up to 2 GiB on large guests) line up with it. */
uint64_t vm_memory_hotplug_base(uint64_t device_end, uint64_t block_size);

/* With config.memory_hotplug: places the region after the pmem ranges
 * and plugs the virtio-mem device (vm->memory_hotplug). After
 * vm_create_pmem_devices(). */
int vm_create_memory_hotplug(struct vm *vm, struct tern_error *err);
/* After the devices are gone. */
void vm_memory_hotplug_destroy(struct vm *vm);

/* Dirty tracking (snapshot/dirty_pages.c): turns KVM's dirty log on for
 * the present slots and every slot added later; collect ORs their logs
 * into bitmap (bit n: page n of guest memory's mapping). 0 or -errno;
 * both do nothing without hotpluggable memory. */
int vm_memory_hotplug_dirty_log(struct vm *vm);
int vm_memory_hotplug_collect(struct vm *vm, uint64_t *bitmap, size_t words);

#endif
