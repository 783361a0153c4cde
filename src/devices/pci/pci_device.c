#include "devices/pci/pci_device.h"

#include <string.h>

#include "arch/x86/layout.h"

uint32_t pci_config_get(const struct pci_device *pdev, uint32_t offset,
			uint32_t size)
{
	uint32_t value = 0;

	for (uint32_t i = 0; i < size; i++)
		value |= (uint32_t)pdev->config[offset + i] << (8 * i);
	return value;
}

void pci_config_set(struct pci_device *pdev, uint32_t offset, uint32_t size,
		    uint32_t value)
{
	for (uint32_t i = 0; i < size; i++)
		pdev->config[offset + i] = (uint8_t)(value >> (8 * i));
}

void pci_wmask_set(struct pci_device *pdev, uint32_t offset, uint32_t size,
		   uint32_t mask)
{
	for (uint32_t i = 0; i < size; i++)
		pdev->wmask[offset + i] = (uint8_t)(mask >> (8 * i));
}

void pci_device_init(struct pci_device *pdev, const struct pci_device_ops *ops,
		     uint16_t vendor_id, uint16_t device_id,
		     uint32_t class_code, uint8_t revision,
		     uint16_t subsystem_vendor_id, uint16_t subsystem_id)
{
	memset(pdev, 0, sizeof(*pdev));
	pdev->ops = ops;
	pci_config_set(pdev, PCI_CFG_VENDOR_ID, 2, vendor_id);
	pci_config_set(pdev, PCI_CFG_DEVICE_ID, 2, device_id);
	pci_config_set(pdev, PCI_CFG_REVISION, 1, revision);
	pci_config_set(pdev, PCI_CFG_CLASS_PROG, 3, class_code);
	pci_config_set(pdev, PCI_CFG_SUBSYSTEM_VENDOR_ID, 2,
		       subsystem_vendor_id);
	pci_config_set(pdev, PCI_CFG_SUBSYSTEM_ID, 2, subsystem_id);
	pci_wmask_set(pdev, PCI_CFG_COMMAND, 2,
		      PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			      PCI_COMMAND_INTX_DISABLE);
	/* Interrupt line is a scratch register for the OS. */
	pci_wmask_set(pdev, PCI_CFG_INTERRUPT_LINE, 1, 0xff);
}

void pci_device_add_bar(struct pci_device *pdev, int bar, uint32_t size)
{
	pdev->bars[bar].size = size;
	/* Type bits 0 (32-bit memory, not prefetchable) are read-only; the
	 * address bits below the size too, which is the sizing protocol. */
	pci_wmask_set(pdev, PCI_CFG_BAR0 + 4 * bar, 4, ~(size - 1));
}

uint8_t pci_device_add_capability(struct pci_device *pdev, uint8_t id,
				  const void *body, uint32_t len)
{
	/* Capabilities are packed from 0x40, each 4-byte aligned (PCI 3.0,
	 * 6.7), inside the first 256 bytes. */
	uint32_t offset = pdev->next_capability ? pdev->next_capability : 0x40;

	if (offset + 2 + len > 0x100)
		return 0;
	pdev->config[offset] = id;
	pdev->config[offset + 1] = 0;
	memcpy(&pdev->config[offset + 2], body, len);
	if (pdev->last_capability)
		pdev->config[pdev->last_capability + 1] = (uint8_t)offset;
	else
		pdev->config[PCI_CFG_CAPABILITY_LIST] = (uint8_t)offset;
	pdev->last_capability = (uint8_t)offset;
	pdev->next_capability = (uint16_t)((offset + 2 + len + 3) & ~3u);
	pci_config_set(pdev, PCI_CFG_STATUS, 2,
		       pci_config_get(pdev, PCI_CFG_STATUS, 2) |
			       PCI_STATUS_CAP_LIST);
	return (uint8_t)offset;
}

uint32_t pci_device_bar_address(const struct pci_device *pdev, int bar)
{
	return pci_config_get(pdev, PCI_CFG_BAR0 + 4 * bar, 4) & ~0xfu;
}

static bool inside(uint64_t gpa, uint64_t size, uint64_t start, uint64_t len)
{
	return gpa >= start && size <= len && gpa - start <= len - size;
}

/* tern's own window, or (--firmware) the one below the IOAPIC where PC
 * firmware puts BARs (arch/x86/layout.h). */
static bool in_bar_window(const struct pci_device *pdev, uint64_t gpa,
			  uint64_t size)
{
	return inside(gpa, size, LAYOUT_PCI_MMIO_GPA, LAYOUT_PCI_MMIO_SIZE) ||
		(pdev->firmware_window &&
		 inside(gpa, size, LAYOUT_PCI_MMIO_HIGH_GPA,
			LAYOUT_PCI_MMIO_HIGH_SIZE));
}

/* A BAR decodes when memory decoding is on and its whole range lies inside
 * a PCI MMIO window; elsewhere (e.g. all-ones while being sized) nothing
 * of tern answers it. */
static void update_bar_mapping(struct pci_device *pdev)
{
	bool memory =
		pci_config_get(pdev, PCI_CFG_COMMAND, 2) & PCI_COMMAND_MEMORY;

	for (int i = 0; i < PCI_BAR_COUNT; i++) {
		struct pci_bar *bar = &pdev->bars[i];
		uint64_t gpa = pci_device_bar_address(pdev, i);
		bool mapped = memory && bar->size &&
			in_bar_window(pdev, gpa, bar->size);

		if (mapped == bar->mapped &&
		    (!mapped || gpa == bar->mapped_gpa))
			continue;
		if (bar->mapped && pdev->ops->bar_mapped)
			pdev->ops->bar_mapped(pdev, i, bar->mapped_gpa, false);
		bar->mapped = mapped;
		bar->mapped_gpa = mapped ? gpa : 0;
		if (mapped && pdev->ops->bar_mapped)
			pdev->ops->bar_mapped(pdev, i, gpa, true);
	}
}

void pci_device_refresh_bars(struct pci_device *pdev)
{
	update_bar_mapping(pdev);
}

uint32_t pci_device_config_read(struct pci_device *pdev, uint32_t offset,
				uint32_t size)
{
	if (pdev->ops->config_read)
		pdev->ops->config_read(pdev, offset, size);
	return pci_config_get(pdev, offset, size);
}

void pci_device_config_write(struct pci_device *pdev, uint32_t offset,
			     uint32_t size, uint32_t value)
{
	for (uint32_t i = 0; i < size; i++) {
		uint8_t mask = pdev->wmask[offset + i];
		uint8_t byte = (uint8_t)(value >> (8 * i));

		pdev->config[offset + i] =
			(uint8_t)((pdev->config[offset + i] & ~mask) |
				  (byte & mask));
	}
	if ((offset < PCI_CFG_BAR0 + 4 * PCI_BAR_COUNT &&
	     offset + size > PCI_CFG_BAR0) ||
	    (offset < PCI_CFG_COMMAND + 2 && offset + size > PCI_CFG_COMMAND))
		update_bar_mapping(pdev);
	if (pdev->ops->config_written)
		pdev->ops->config_written(pdev, offset, size);
}
