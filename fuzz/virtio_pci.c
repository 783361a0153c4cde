/* Fuzz target: PCI configuration space (ports 0xcf8/0xcfc and ECAM, the
 * host bridge and a virtio function: BARs, capabilities, MSI-X) and the
 * modern virtio-pci registers behind the function's BAR, wherever the
 * guest moved it (src/devices/pci/, src/virtio/virtio_pci.c). */
#include "arch/x86/layout.h"
#include "devices/pci/pci_bus.h"
#include "devices/pci/pci_device.h"
#include "fuzz_transport.h"
#include "virtio/virtio_pci.h"
#include "vm/irq_routing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	static struct io_bus pio, mmio;
	struct irq_routing routing;
	struct fuzz_driver d;
	struct virtio_device *vdev = fuzz_transport_device(&d);
	struct pci_bus *bus = pci_bus_create();
	struct pci_device *pdev;
	int error = 0;

	memset(&pio, 0, sizeof(pio));
	memset(&mmio, 0, sizeof(mmio));
	if (!bus || irq_routing_init(&routing, -1) ||
	    pci_bus_attach(bus, &pio, &mmio))
		abort();
	pdev = virtio_pci_create(vdev, -1, &routing, &error);
	if (!pdev || pci_bus_add_device(bus, pdev) < 0)
		abort();
	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		uint16_t where = fuzz_u16(&in);

		if (fuzz_transport_driver_op(&d, op, &in))
			continue;
		switch ((op >> 4) % 4) {
		case 0: /* the two config mechanisms' ports */
			fuzz_transport_access(&pio, 0xcf8 + where % 8, &in, op);
			break;
		case 1: /* ECAM: slots 0-3, any function and register */
			fuzz_transport_access(
				&mmio, LAYOUT_PCI_ECAM_GPA + where % 0x20000,
				&in, op);
			break;
		default: /* BAR 0 (common, ISR, device, notify, MSI-X) */
			fuzz_transport_access(&mmio,
					      pci_device_bar_address(pdev, 0) +
						      where % 0x6000,
					      &in, op);
			break;
		}
	}
	pci_bus_destroy(bus);
	irq_routing_destroy(&routing);
	return 0;
}
