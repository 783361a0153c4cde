/* Fuzz target: virtio-rng's request path under a hostile driver (chains,
 * raw ring writes, config accesses, resets; see fuzz/lib/fuzz_virtio.h). */
#include <stdlib.h>

#include "fuzz_virtio.h"
#include "virtio/virtio_rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct fuzz_driver d;
	struct virtio_device *vdev = virtio_rng_create();

	if (!vdev)
		abort();
	fuzz_driver_init(&d, vdev->queue_count);
	fuzz_device_attach(&d, vdev, &in);
	fuzz_device_run(&d, &in);
	return 0;
}
