/* PCI bus 0 of a tern VM: 32 slots (function 0 only), config space through
 * configuration mechanism #1 (ports 0xcf8/0xcfc, what Linux probes without
 * ACPI) and through ECAM at LAYOUT_PCI_ECAM_GPA (announced by ACPI MCFG),
 * and the BARs, assigned from the LAYOUT_PCI_MMIO window as firmware would
 * (and decoded in the LAYOUT_PCI_MMIO_HIGH window too, where PC firmware
 * run by --firmware moves them).
 * The bus answers the whole PCI MMIO window on the VM's MMIO bus and
 * dispatches to whichever BAR decodes the address at the time, since the
 * guest may move BARs while it runs.
 *
 * Slot 0 holds the host bridge (class 0x0600) that Linux's conf1 probe
 * looks for. */
#ifndef TERN_DEVICES_PCI_PCI_BUS_H
#define TERN_DEVICES_PCI_PCI_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/io_bus.h"
#include "devices/pci/pci_device.h"

#define PCI_SLOT_COUNT 32
#define PCI_CONFIG_ADDRESS_PORT 0xcf8
#define PCI_CONFIG_PORT_COUNT 8 /* 0xcf8-0xcff */

struct pci_bus {
	struct device config_ports; /* on the port I/O bus */
	struct device ecam; /* on the MMIO bus */
	struct device bar_window; /* on the MMIO bus */
	/* The firmware's, on the MMIO bus with --firmware only: a VM's
	 * device list (and so its snapshots) stays as it was without. */
	struct device bar_window_high;
	bool firmware_window;

	/* Held for writing around config accesses (they may move BARs), for
	 * reading around BAR dispatch. */
	pthread_rwlock_t lock;
	uint32_t config_address; /* the 0xcf8 latch */
	struct pci_device *slots[PCI_SLOT_COUNT];
	uint64_t next_bar_gpa; /* BAR allocator inside the window */
	/* Byte accesses to 0xcf9, inside the config ports' range: the
	 * chipset's reset control register (devices/reset_port.h), owned by
	 * the bus. NULL: none. */
	struct device *reset_control;
};

/* Allocates the bus with its host bridge in slot 0. NULL: out of memory. */
struct pci_bus *pci_bus_create(void);

/* Registers the config ports, ECAM and the BAR window on the VM's buses.
 * Returns 0 or a negative errno. */
int pci_bus_attach(struct pci_bus *bus, struct io_bus *pio_bus,
		   struct io_bus *mmio_bus);

/* --firmware: BARs decode in the LAYOUT_PCI_MMIO_HIGH window too, where PC
 * firmware reassigns them; registers that window on the MMIO bus. Call
 * after pci_bus_attach(), before devices are added. Returns 0 or a
 * negative errno. */
int pci_bus_enable_firmware_window(struct pci_bus *bus,
				   struct io_bus *mmio_bus);

/* Gives the bus the device behind port 0xcf9 (byte accesses only; dword
 * accesses at 0xcf8 stay the address latch, as on PIIX and ICH chipsets).
 * The bus owns it afterwards. */
void pci_bus_set_reset_control(struct pci_bus *bus, struct device *dev);

/* Plugs pdev into the first free slot, assigns its BARs from the window
 * (naturally aligned) and enables memory decoding as firmware would.
 * Returns the slot, -ENOSPC when the bus or the window is full. The bus
 * owns pdev afterwards. Call before the vCPUs run. */
int pci_bus_add_device(struct pci_bus *bus, struct pci_device *pdev);

/* Config access by bus/device/function/register, as both mechanisms use
 * it; absent functions read all-ones. */
uint32_t pci_bus_config_read(struct pci_bus *bus, unsigned bus_number,
			     unsigned slot, unsigned function, uint32_t offset,
			     uint32_t size);
void pci_bus_config_write(struct pci_bus *bus, unsigned bus_number,
			  unsigned slot, unsigned function, uint32_t offset,
			  uint32_t size, uint32_t value);

/* Destroys every device, then the bus. Call after the buses it is
 * registered on were torn down (their ranges point into it). */
void pci_bus_destroy(struct pci_bus *bus);

#endif
