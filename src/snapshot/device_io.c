#include "snapshot/device_io.h"

#include <string.h>

#include "util/log.h"
#include "virtio/virtio_device.h"

void device_io_stop(struct vm *vm)
{
	for (int i = 0; i < vm->virtio_device_count; i++)
		virtio_device_stop(vm->virtio_devices[i].vdev);
}

void device_io_restart(struct vm *vm, const char *who)
{
	for (int i = 0; i < vm->virtio_device_count; i++) {
		int ret = virtio_device_restart(vm->virtio_devices[i].vdev);

		if (ret)
			log_error("%s: device %s: cannot restart its I/O "
				  "thread: %s",
				  who, vm->virtio_devices[i].id,
				  strerror(-ret));
	}
}

void device_io_kick_all(struct vm *vm)
{
	for (int i = 0; i < vm->virtio_device_count; i++) {
		struct virtio_device *vdev = vm->virtio_devices[i].vdev;

		for (uint16_t q = 0; q < vdev->queue_count; q++)
			virtio_device_kick(vdev, q);
	}
}
