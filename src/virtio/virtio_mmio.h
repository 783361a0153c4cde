/* Virtio over MMIO (virtio 1.x spec 4.2), register layout version 2 only
 * (no legacy), one device per 4 KiB slot of the LAYOUT_VIRTIO_MMIO window.
 *
 * Interrupt: each slot has its own IOAPIC GSI (VIRTIO_MMIO_FIRST_GSI +
 * slot), edge-triggered, active high, as the DSDT announces it: every
 * change of InterruptStatus from the device is one edge, delivered by an
 * irqfd bound to the GSI (KVM pulses the IOAPIC pin). Edge suits the
 * driver, which acknowledges before it walks the rings, so an event after
 * the acknowledgement makes a new edge and none is lost.
 *
 * Queue notifications: QueueNotify (0x50) is shared by all queues, so
 * each queue's kick eventfd is bound with KVM_IOEVENTFD + datamatch on the
 * queue index; a write that exits to tern kicks the same eventfd. */
#ifndef TERN_VIRTIO_VIRTIO_MMIO_H
#define TERN_VIRTIO_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "virtio/virtio_device.h"

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION 2
#define VIRTIO_MMIO_VENDOR_ID 0x4e524554 /* "TERN" */
/* One IOAPIC pin each (edge-triggered, never shared): the IOAPIC's 24 pins
 * less those of the PIT (0, and 2 for its override), keyboard (1), COM1
 * (4), ACPI GED (5), RTC (8), SCI (9) and a PS/2 mouse (12, by
 * convention). See virtio_mmio_slot_gsi(). */
#define VIRTIO_MMIO_MAX_DEVICES 16
#define VIRTIO_MMIO_CONFIG_OFFSET 0x100

/* Register offsets, spec 4.2.2. */
#define VIRTIO_MMIO_REG_MAGIC 0x000
#define VIRTIO_MMIO_REG_VERSION 0x004
#define VIRTIO_MMIO_REG_DEVICE_ID 0x008
#define VIRTIO_MMIO_REG_VENDOR_ID 0x00c
#define VIRTIO_MMIO_REG_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_REG_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_REG_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_REG_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_REG_QUEUE_SEL 0x030
#define VIRTIO_MMIO_REG_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_REG_QUEUE_NUM 0x038
#define VIRTIO_MMIO_REG_QUEUE_READY 0x044
#define VIRTIO_MMIO_REG_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_REG_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_REG_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_REG_STATUS 0x070
#define VIRTIO_MMIO_REG_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_REG_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_REG_SHM_SEL 0x0ac
#define VIRTIO_MMIO_REG_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_REG_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_REG_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_REG_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_REG_CONFIG_GENERATION 0x0fc

/* Transport state, under vdev->lock; plain for save/restore. The
 * interrupt status itself is vdev->isr. */
struct virtio_mmio_state {
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
};

struct virtio_mmio {
	struct device dev; /* on the VM's MMIO bus at base */
	struct virtio_device *vdev;
	struct virtio_mmio_state state;
	uint64_t base;
	uint32_t gsi;

	/* KVM plumbing; vm_fd -1 (unit tests) skips the ioctls. */
	int vm_fd;
	int irqfd;
	bool ioeventfds_assigned;
};

/* Wraps a started virtio device for the slot at base with its gsi.
 * Returns NULL with *error set (negative errno); the device is then still
 * the caller's. The returned device's destroy destroys vdev too. */
/* The GSI of the device in virtio-mmio slot SLOT (< VIRTIO_MMIO_MAX_DEVICES):
 * 16-23 first, which no ISA device claims, then the free ISA pins, as
 * Firecracker also gives its devices ISA pins. A slot keeps its GSI in
 * every tern version, so a snapshot's devices find theirs again. */
uint32_t virtio_mmio_slot_gsi(int slot);
/* The same for a guest that uses the 8259 PIC, not the IOAPIC
 * (vm/vm_legacy_pic.h): the free ISA pins first, as the PIC has only those,
 * then 16-23. */
uint32_t virtio_mmio_slot_gsi_pic(int slot);

struct device *virtio_mmio_create(struct virtio_device *vdev, uint64_t base,
				  uint32_t gsi, int vm_fd, int *error);

#endif
