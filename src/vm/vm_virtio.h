/* Plugging virtio devices into a VM: the one call a device's creator needs.
 * The transport (modern virtio-pci by default, virtio-mmio with
 * --transport mmio) is the VM's choice, not the device's. */
#ifndef TERN_VM_VM_VIRTIO_H
#define TERN_VM_VM_VIRTIO_H

#include "util/error.h"
#include "virtio/virtio_device.h"
#include "vm/vm_config.h"

struct vm;

/* Shows vdev to the guest on the VM's virtio transport and starts its I/O
 * thread. The VM owns vdev from this call on, also when it fails (it is
 * destroyed then). Call from vm_create, before the vCPUs run. */
int vm_add_virtio_device(struct vm *vm, struct virtio_device *vdev,
			 struct tern_error *err);
/* The same, naming the device in metrics with id (a drive_id, iface_id);
 * NULL: its short type and a number ("rng0", "balloon0"). */
int vm_add_virtio_device_id(struct vm *vm, struct virtio_device *vdev,
			    const char *id, struct tern_error *err);

/* The transport vm_add_virtio_device() uses: the configured one, or for
 * VIRTIO_TRANSPORT_AUTO, MMIO when the kernel command line turns PCI off
 * (pci=off), else PCI. */
enum virtio_transport vm_virtio_transport(const struct vm *vm);
/* The same for a configuration (a snapshot's, before any VM exists). */
enum virtio_transport
vm_config_virtio_transport(const struct vm_config *config);

/* The kernel command line with root=/dev/vda ro|rw for a root disk (unless
 * it names a root) and one virtio_mmio.device=4K@0xBASE:GSI per
 * virtio-mmio device appended (for kernels built with
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES; others find them in the DSDT).
 * Returns a malloc'ed string, or NULL when there is nothing to append or
 * no memory (then use base as is). */
char *vm_virtio_cmdline(const struct vm *vm, const char *base);

#endif
