#include "vm/vm_disks.h"

#include "virtio/virtio_blk.h"
#include "vm/vm.h"
#include "vm/vm_virtio.h"

int vm_create_disks(struct vm *vm, struct tern_error *err)
{
	for (int i = 0; i < vm->config.disk_count; i++) {
		const struct vm_disk_config *disk = &vm->config.disks[i];
		struct virtio_blk_options opts = {
			.path = disk->path,
			.readonly = disk->readonly,
			.id = disk->id,
			.cache = disk->cache,
			.engine = disk->engine,
		};
		struct virtio_device *vdev;
		int ret = virtio_blk_create(&opts, &vdev, err);

		if (!ret)
			ret = vm_add_virtio_device(vm, vdev, err);
		if (ret)
			return ret;
	}
	return 0;
}
