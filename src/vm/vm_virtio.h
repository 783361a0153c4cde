/* Plugging virtio devices into a VM: the one call a device's creator needs.
 * The transport (modern virtio-pci by default, virtio-mmio with
 * --transport mmio) is the VM's choice, not the device's. */
#ifndef TERN_VM_VM_VIRTIO_H
#define TERN_VM_VM_VIRTIO_H

#include "util/error.h"
#include "virtio/virtio_device.h"

struct vm;

/* Shows vdev to the guest on the VM's virtio transport and starts its I/O
 * thread. The VM owns vdev from this call on, also when it fails (it is
 * destroyed then). Call from vm_create, before the vCPUs run. */
int vm_add_virtio_device(struct vm *vm, struct virtio_device *vdev,
			 struct tern_error *err);

#endif
