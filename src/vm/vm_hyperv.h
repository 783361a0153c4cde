/* --hyperv-testdev on a VM: the device (devices/hyperv_testdev.h) wired to
 * the VM's GSI routes, vCPUs' SynIC pages, guest memory and KVM's irqfds,
 * and made the VM's answer to the hypercalls KVM passes to userspace. */
#ifndef TERN_VM_VM_HYPERV_H
#define TERN_VM_VM_HYPERV_H

#include "util/error.h"

struct vm;

int vm_add_hyperv_testdev(struct vm *vm, struct tern_error *err);

#endif
