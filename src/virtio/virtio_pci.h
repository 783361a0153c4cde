/* Virtio over PCI, modern interface only (virtio 1.x spec 4.1): vendor
 * 0x1af4, device 0x1040 + virtio device ID, revision 1. Everything sits in
 * BAR 0 (32 KiB), described by vendor capabilities:
 *
 *   0x0000 common configuration     0x3000 notify: queue q at 0x3000 + 4q
 *   0x1000 ISR status               0x4000 MSI-X table (queues + 1 vectors)
 *   0x2000 device configuration     0x5000 MSI-X pending bit array
 *
 * Interrupts are MSI-X only: each vector has an eventfd bound to its own
 * GSI with KVM_IRQFD, and the GSI's route (KVM_IRQ_ROUTING_MSI) follows the
 * guest's MSI-X table through the VM's irq_routing. A masked vector sets
 * its pending bit and fires when unmasked. There is no INTx pin: a driver
 * that cannot enable MSI-X gets no interrupts (Linux always can).
 *
 * Queue notifications: each queue's notify address is bound to the queue's
 * kick eventfd with KVM_IOEVENTFD while BAR 0 decodes, so KVM completes the
 * write in the kernel and wakes the device's I/O thread; a notify write
 * that still exits to tern (BAR moving, no ioeventfd) kicks the same fd.
 *
 * The VIRTIO_PCI_CAP_PCI_CFG capability (spec 4.1.4.9) gives the same BAR
 * access through config space: the driver sets bar, offset and length in
 * it, then reads or writes its pci_cfg_data. */
#ifndef TERN_VIRTIO_VIRTIO_PCI_H
#define TERN_VIRTIO_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pci/pci_device.h"
#include "virtio/virtio_device.h"
#include "vm/irq_routing.h"

#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_COMMON_OFFSET 0x0000
#define VIRTIO_PCI_COMMON_SIZE 0x38
#define VIRTIO_PCI_ISR_OFFSET 0x1000
#define VIRTIO_PCI_DEVICE_CFG_OFFSET 0x2000
#define VIRTIO_PCI_NOTIFY_OFFSET 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MSIX_TABLE_OFFSET 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFFSET 0x5000
#define VIRTIO_PCI_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)

struct msix_entry {
	uint32_t address_lo;
	uint32_t address_hi;
	uint32_t data;
	uint32_t control; /* bit 0: masked */
};

/* Transport state, under vdev->lock; plain for save/restore. */
struct virtio_pci_state {
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t config_vector;
	uint16_t queue_select;
	bool msix_enabled;
	bool msix_function_masked;
	struct msix_entry msix[VIRTIO_PCI_MAX_VECTORS];
	uint32_t msix_pending; /* the PBA */
};

struct virtio_pci {
	struct pci_device pdev;
	struct virtio_device *vdev;
	struct virtio_pci_state state;
	uint16_t vector_count;
	uint8_t msix_capability; /* config offset */
	uint8_t pci_cfg_capability; /* VIRTIO_PCI_CAP_PCI_CFG's offset */

	/* KVM plumbing; vm_fd -1 (unit tests) skips the ioctls. */
	int vm_fd;
	struct irq_routing *routing;
	int irqfd[VIRTIO_PCI_MAX_VECTORS];
	int gsi[VIRTIO_PCI_MAX_VECTORS];
	struct msix_entry routed[VIRTIO_PCI_MAX_VECTORS]; /* in the table */
	bool route_valid[VIRTIO_PCI_MAX_VECTORS];
	bool ioeventfds_assigned;
	uint64_t ioeventfd_gpa;
	uint32_t ioeventfd_len;
};

/* Wraps a started virtio device (virtio_device_start done) in a PCI
 * function, ready for pci_bus_add_device(). Allocates a GSI and irqfd per
 * vector. Returns NULL with *error set (negative errno) on failure; the
 * device is then still the caller's. */
struct pci_device *virtio_pci_create(struct virtio_device *vdev, int vm_fd,
				     struct irq_routing *routing, int *error);

#endif
