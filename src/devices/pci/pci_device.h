/* One PCI function (type 0 header) as tern emulates it: a 4 KiB config
 * space with a per-byte write mask, up to six 32-bit memory BARs and a
 * capability list. The generic code handles the header (including the BAR
 * sizing protocol: writing all-ones reads back the size mask, because the
 * write mask of a BAR is ~(size - 1)); a device only supplies its BAR
 * accesses and a few hooks through struct pci_device_ops.
 *
 * Locking: config accesses and the bar_mapped hook run under the bus lock
 * (one at a time per bus); bar_read/bar_write run concurrently from any
 * vCPU, so the device protects its BAR state with its own lock. */
#ifndef TERN_DEVICES_PCI_PCI_DEVICE_H
#define TERN_DEVICES_PCI_PCI_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCI_CONFIG_SPACE_SIZE 4096
#define PCI_BAR_COUNT 6

/* Header offsets and bits (PCI Local Bus spec 3.0, 6.1-6.2). */
#define PCI_CFG_VENDOR_ID 0x00
#define PCI_CFG_DEVICE_ID 0x02
#define PCI_CFG_COMMAND 0x04
#define PCI_CFG_STATUS 0x06
#define PCI_CFG_REVISION 0x08
#define PCI_CFG_CLASS_PROG 0x09
#define PCI_CFG_HEADER_TYPE 0x0e
#define PCI_CFG_BAR0 0x10
#define PCI_CFG_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_CFG_SUBSYSTEM_ID 0x2e
#define PCI_CFG_CAPABILITY_LIST 0x34
#define PCI_CFG_INTERRUPT_LINE 0x3c
#define PCI_CFG_INTERRUPT_PIN 0x3d
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_CAP_ID_VENDOR 0x09
#define PCI_CAP_ID_MSIX 0x11

struct pci_device;

struct pci_device_ops {
	const char *name;
	/* BAR accesses; offset inside the BAR, size 1, 2, 4 or 8. */
	void (*bar_read)(struct pci_device *pdev, int bar, uint64_t offset,
			 void *data, uint32_t size);
	void (*bar_write)(struct pci_device *pdev, int bar, uint64_t offset,
			  const void *data, uint32_t size);
	/* NULL-able. Before a config read of size bytes at offset, to
	 * refresh config bytes whose value lives elsewhere. */
	void (*config_read)(struct pci_device *pdev, uint32_t offset,
			    uint32_t size);
	/* NULL-able. After the generic code applied a config write of size
	 * bytes at offset (e.g. to follow an MSI-X enable bit). */
	void (*config_written)(struct pci_device *pdev, uint32_t offset,
			       uint32_t size);
	/* NULL-able. BAR `bar` now decodes at gpa (mapped) or no longer
	 * decodes (mapped false): e.g. move KVM_IOEVENTFDs along. */
	void (*bar_mapped)(struct pci_device *pdev, int bar, uint64_t gpa,
			   bool mapped);
	/* Frees the device. */
	void (*destroy)(struct pci_device *pdev);
	/* Snapshots, NULL-able (then the device cannot be snapshotted): the
	 * device's own state beyond config space, which the bus saves and
	 * restores itself before calling restore. Same contract as
	 * device_ops' pair (src/devices/device.h). */
	int (*save)(struct pci_device *pdev, void *buf, size_t *len);
	int (*restore)(struct pci_device *pdev, const void *buf, size_t len);
	/* NULL-able: restore's refusals, changing nothing (as device_ops'). */
	int (*check)(struct pci_device *pdev, const void *buf, size_t len);
};

struct pci_bar {
	uint32_t size; /* 0: BAR not implemented; else a power of two */
	bool mapped; /* decoding: memory enabled and inside the window */
	uint64_t mapped_gpa;
};

struct pci_device {
	const struct pci_device_ops *ops;
	uint8_t config[PCI_CONFIG_SPACE_SIZE];
	uint8_t wmask[PCI_CONFIG_SPACE_SIZE]; /* bits the guest may change */
	struct pci_bar bars[PCI_BAR_COUNT];
	uint8_t last_capability; /* 0: none yet */
	uint16_t next_capability; /* where the next one goes; 0: 0x40 */
	uint8_t slot; /* device number on bus 0, set when plugged */
	/* BARs may also decode in the firmware's window (--firmware; see
	 * LAYOUT_PCI_MMIO_HIGH_GPA), set when plugged. */
	bool firmware_window;
};

/* Fills the header: IDs, class (base class << 16 | sub << 8 | prog-if),
 * writable command bits. Call first. */
void pci_device_init(struct pci_device *pdev, const struct pci_device_ops *ops,
		     uint16_t vendor_id, uint16_t device_id,
		     uint32_t class_code, uint8_t revision,
		     uint16_t subsystem_vendor_id, uint16_t subsystem_id);

/* After config space was replaced (snapshot restore): BAR decoding follows
 * it again, calling bar_mapped as a guest write would. */
void pci_device_refresh_bars(struct pci_device *pdev);

/* Declares BAR `bar` as a 32-bit non-prefetchable memory BAR of `size`
 * bytes (a power of two, at least 16). The bus assigns its address. */
void pci_device_add_bar(struct pci_device *pdev, int bar, uint32_t size);

/* Appends a capability with id, whose bytes after the 2-byte header are
 * body[0 .. len). Returns its config offset, or 0 when config space is
 * full. Capability bytes are read-only unless the caller sets wmask. */
uint8_t pci_device_add_capability(struct pci_device *pdev, uint8_t id,
				  const void *body, uint32_t len);

/* Config space accesses as the guest makes them (offset + size within
 * 4 KiB, size 1, 2 or 4, little-endian). Writes go through the write mask
 * and update BAR decoding (calling bar_mapped), then config_written. */
uint32_t pci_device_config_read(struct pci_device *pdev, uint32_t offset,
				uint32_t size);
void pci_device_config_write(struct pci_device *pdev, uint32_t offset,
			     uint32_t size, uint32_t value);

/* Little-endian field helpers for device code. */
uint32_t pci_config_get(const struct pci_device *pdev, uint32_t offset,
			uint32_t size);
void pci_config_set(struct pci_device *pdev, uint32_t offset, uint32_t size,
		    uint32_t value);
void pci_wmask_set(struct pci_device *pdev, uint32_t offset, uint32_t size,
		   uint32_t mask);

/* Address the BAR register holds now (low type bits cleared). */
uint32_t pci_device_bar_address(const struct pci_device *pdev, int bar);

#endif
