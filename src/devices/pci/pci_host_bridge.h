/* The host bridge at 00:00.0: no BARs, no behaviour, but Linux's
 * configuration mechanism #1 probe only trusts ports 0xcf8/0xcfc once it
 * finds a host bridge (class 0x0600) or a VGA device on bus 0. */
#ifndef TERN_DEVICES_PCI_PCI_HOST_BRIDGE_H
#define TERN_DEVICES_PCI_PCI_HOST_BRIDGE_H

#include "devices/pci/pci_device.h"

/* Red Hat's ID for a generic PCIe host bridge in a virtual machine, which
 * no guest OS applies chipset quirks to. */
#define PCI_HOST_BRIDGE_VENDOR_ID 0x1b36
#define PCI_HOST_BRIDGE_DEVICE_ID 0x0008
#define PCI_CLASS_HOST_BRIDGE 0x060000
#define PCI_HOST_BRIDGE_SUBSYSTEM_VENDOR_ID 0x1af4 /* Red Hat */
#define PCI_HOST_BRIDGE_SUBSYSTEM_ID 0x1100 /* QEMU virtual machine */

struct pci_device *pci_host_bridge_create(void);

#endif
