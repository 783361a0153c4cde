/* Fuzz target: virtio-pmem's request path under a hostile driver (chains,
 * raw ring writes, config accesses, resets; see fuzz/lib/fuzz_virtio.h),
 * over a 4 KiB backing file (a memfd: flushes are fdatasync on it). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_virtio.h"
#include "virtio/virtio_pmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct virtio_pmem_mapping mapping;
	struct fuzz_driver d;
	struct virtio_device *vdev;
	struct tern_error err;
	char path[64];
	int fd = memfd_create("pmem", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, 4096) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (virtio_pmem_map_file(path, false, &mapping, &err))
		abort();
	close(fd);
	vdev = virtio_pmem_create(&mapping, 4ULL << 30);
	if (!vdev)
		abort();
	fuzz_driver_init(&d, vdev->queue_count);
	fuzz_device_attach(&d, vdev, &in);
	fuzz_device_run(&d, &in);
	return 0;
}
