/* The VM's --disk devices. */
#ifndef TERN_VM_VM_DISKS_H
#define TERN_VM_VM_DISKS_H

#include "util/error.h"

struct vm;

/* Opens every configured disk and plugs it as a virtio-blk device, in
 * order (the guest names them vda, vdb, ...). */
int vm_create_disks(struct vm *vm, struct tern_error *err);

#endif
