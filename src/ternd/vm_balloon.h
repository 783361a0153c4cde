/* ternctl setmem: a running VM's memory through its virtio-balloon (tern's
 * PATCH /balloon, docs/api.md). The guest keeps its RAM size; the balloon
 * takes the rest from it: target = the VM's memory - the size asked. */
#ifndef TERN_TERND_VM_BALLOON_H
#define TERN_TERND_VM_BALLOON_H

#include <jansson.h>
#include <stdint.h>

#include "ternd/vm_manager.h"
#include "util/error.h"

/* How long `info` waits for the VM's tern to describe its balloon. */
#define VM_BALLOON_INFO_TIMEOUT_S 2

/* Sets the balloon's target so the guest has bytes (a multiple of 1 MiB,
 * at least 1 MiB, at most the VM's memory). -EBUSY for a shut-off VM or
 * one without a balloon device, -EINVAL for a size out of range,
 * -EREMOTEIO when tern refuses. */
int vm_balloon_setmem(struct vm_manager *m, const char *name, uint64_t bytes,
		      struct tern_error *err);

/* The running VM's balloon for `info`: {"target_mib", "actual_mib" (null
 * without statistics), "memory_mib", "guest_memory_mib"}; NULL when it has
 * none or its tern does not answer. */
json_t *vm_balloon_view(const char *api_socket);

#endif
