/* Fuzz target: virtio-balloon (inflate, deflate, statistics, free page
 * reporting and hinting) from a hostile driver, with the host changing the
 * target, asking for statistics and starting and stopping hinting runs in
 * between. Pages are "released" by a stand-in
 * that checks each range lies inside guest memory and zeroes it (as
 * MADV_DONTNEED would), so ASan sees a range that is not. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_virtio.h"
#include "virtio/virtio_balloon.h"

static int release(void *opaque, uint64_t gpa, void *hva, uint64_t len)
{
	struct guest_memory *mem = opaque;

	if (guest_memory_ptr(mem, gpa, len) != hva || gpa % 4096 || len % 4096)
		abort();
	memset(hva, 0, len);
	return 0;
}

static void host_op(struct fuzz_driver *d, struct fuzz_input *in)
{
	uint8_t op = fuzz_u8(in);

	switch (op % 5) {
	case 0:
		virtio_balloon_set_target(d->vdev,
					  (uint64_t)fuzz_u16(in) * 4096);
		break;
	case 1:
		virtio_balloon_request_stats(d->vdev);
		break;
	case 2:
		virtio_balloon_set_stats_interval(d->vdev, fuzz_u8(in) % 3);
		break;
	case 3:
		virtio_balloon_hint_start(d->vdev, op & 0x80);
		break;
	default:
		virtio_balloon_hint_stop(d->vdev);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	uint8_t setup = fuzz_u8(&in);
	struct virtio_balloon_options opts = {
		.target_bytes = (uint64_t)(setup & 0x0f) * 4096,
		.deflate_on_oom = setup & 0x10,
		.stats_interval_s = (setup & 0x20) ? 1 : 0,
		.free_page_reporting = setup & 0x40,
		.free_page_hinting = setup & 0x80,
	};
	struct virtio_device *vdev = virtio_balloon_create(&opts);
	struct fuzz_driver d;

	if (!vdev)
		abort();
	fuzz_driver_init(&d, vdev->queue_count);
	virtio_balloon_set_release(vdev, release, d.mem);
	d.device_op = host_op;
	fuzz_device_attach(&d, vdev, &in);
	fuzz_device_run(&d, &in);
	return 0;
}
