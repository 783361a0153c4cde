/* Fuzz target: the virtio-mmio transport's registers (src/virtio/
 * virtio_mmio.c) in any order, width and value, with a device behind it
 * and the rings it was told about. */
#include "arch/x86/layout.h"
#include "fuzz_transport.h"
#include "virtio/virtio_mmio.h"

#define BASE LAYOUT_VIRTIO_MMIO_GPA

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct io_bus mmio = {0};
	struct fuzz_driver d;
	struct virtio_device *vdev = fuzz_transport_device(&d);
	int error = 0;
	struct device *dev = virtio_mmio_create(vdev, BASE, 16, -1, &error);

	if (!dev ||
	    io_bus_register(&mmio, BASE, LAYOUT_VIRTIO_MMIO_SLOT_SIZE, dev))
		abort();
	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);

		if (fuzz_transport_driver_op(&d, op, &in))
			continue;
		/* Mostly the registers (0x000-0x0ff), then config space;
		 * now and then just past the slot. */
		fuzz_transport_access(&mmio, BASE + fuzz_u16(&in) % 0x1100, &in,
				      op);
	}
	io_bus_destroy_devices(&mmio);
	return 0;
}
