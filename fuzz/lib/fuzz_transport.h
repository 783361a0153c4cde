/* Shared by the virtio_pci and virtio_mmio targets: a virtio-balloon (it
 * has config space and up to four queues) behind the transport, and the
 * guest's side: register accesses of the input's choosing, interleaved
 * with chains, kicks and raw writes as in fuzz_virtio.h. */
#ifndef TERN_FUZZ_TRANSPORT_H
#define TERN_FUZZ_TRANSPORT_H

#include <stdlib.h>
#include <string.h>

#include "devices/io_bus.h"
#include "fuzz_virtio.h"
#include "virtio/virtio_balloon.h"

static int fuzz_transport_release(void *opaque, uint64_t gpa, void *hva,
				  uint64_t len)
{
	memset(hva, 0, len);
	return 0;
}

static inline struct virtio_device *fuzz_transport_device(struct fuzz_driver *d)
{
	struct virtio_balloon_options opts = {.stats_interval_s = 1,
					      .free_page_reporting = true};
	struct virtio_device *vdev = virtio_balloon_create(&opts);

	if (!vdev)
		abort();
	virtio_balloon_set_release(vdev, fuzz_transport_release, NULL);
	fuzz_driver_init(d, vdev->queue_count);
	fuzz_device_plug(d, vdev);
	return vdev;
}

/* One access of 1, 2, 4 or 8 bytes on bus at addr. */
static inline void fuzz_transport_access(struct io_bus *bus, uint64_t addr,
					 struct fuzz_input *in, uint8_t ctl)
{
	uint32_t size = 1u << (ctl & 3);
	uint64_t value = fuzz_u64(in);

	if (ctl & 4)
		io_bus_write(bus, addr, &value, size);
	else
		io_bus_read(bus, addr, &value, size);
}

/* The guest's other moves; returns false for an op it does not know. */
static inline bool fuzz_transport_driver_op(struct fuzz_driver *d, uint8_t op,
					    struct fuzz_input *in)
{
	uint16_t q = (uint16_t)((op >> 4) % d->queue_count);

	switch (op & 15) {
	case 12:
		fuzz_driver_add_chain(d, q, in);
		return true;
	case 13:
		/* The kick went to the (absent) I/O thread's eventfd:
		 * serve it as that thread would. */
		fuzz_device_notify(d, q);
		fuzz_device_service(d);
		return true;
	case 14:
		fuzz_driver_poke(d, in);
		return true;
	default:
		return false;
	}
}

#endif
