/* The VM's pmem devices (Firecracker's PUT /pmem/{id}): each host file
 * mapped, registered with KVM as guest memory above RAM, and plugged as a
 * virtio-pmem device that tells the guest where it is. */
#ifndef TERN_VM_VM_PMEM_H
#define TERN_VM_VM_PMEM_H

#include <stdint.h>

#include "util/error.h"

struct vm;
struct vm_config;

/* KVM memory slots of the pmem ranges: after the ROM's. */
#define VM_PMEM_FIRST_SLOT (GUEST_MEMORY_MAX_REGIONS + 1)

/* Maps and plugs every configured pmem device, the root device first (the
 * guest names them pmem0, pmem1, ... in that order). */
int vm_create_pmem_devices(struct vm *vm, struct tern_error *err);

/* The guest physical address of the first pmem range: the first 2 MiB
 * boundary at or above both 4 GiB and the end of RAM. */
uint64_t vm_pmem_base(uint64_t ram_end);

#endif
