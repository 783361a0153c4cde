#include "devices/pci/pci_host_bridge.h"

#include <errno.h>
#include <stdlib.h>

static void host_bridge_destroy(struct pci_device *pdev)
{
	free(pdev);
}

/* All of a host bridge's state is its config space, which the bus saves. */
static int host_bridge_save(struct pci_device *pdev, void *buf, size_t *len)
{
	*len = 0;
	return 0;
}

static int host_bridge_restore(struct pci_device *pdev, const void *buf,
			       size_t len)
{
	return len == 0 ? 0 : -EINVAL;
}

static const struct pci_device_ops host_bridge_ops = {
	.save = host_bridge_save,
	.restore = host_bridge_restore,
	.check = host_bridge_restore, /* nothing to change either way */
	.name = "pci-host-bridge",
	.destroy = host_bridge_destroy,
};

struct pci_device *pci_host_bridge_create(void)
{
	struct pci_device *pdev = malloc(sizeof(*pdev));

	if (!pdev)
		return NULL;
	/* The subsystem IDs of QEMU's machines: SeaBIOS (--firmware) reads
	 * fw_cfg and sets up PCI only on a host bridge that carries them. */
	pci_device_init(pdev, &host_bridge_ops, PCI_HOST_BRIDGE_VENDOR_ID,
			PCI_HOST_BRIDGE_DEVICE_ID, PCI_CLASS_HOST_BRIDGE, 0,
			PCI_HOST_BRIDGE_SUBSYSTEM_VENDOR_ID,
			PCI_HOST_BRIDGE_SUBSYSTEM_ID);
	/* A bridge decodes nothing of its own: command bits stay clear. */
	pci_wmask_set(pdev, PCI_CFG_COMMAND, 2, 0);
	pci_wmask_set(pdev, PCI_CFG_INTERRUPT_LINE, 1, 0);
	return pdev;
}
