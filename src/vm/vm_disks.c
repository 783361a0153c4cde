#include "vm/vm_disks.h"

#include "virtio/virtio_blk.h"
#include "vm/vm.h"
#include "vm/vm_virtio.h"

/* The root disk first (the guest names it vda), then the others in
 * order. */
static int disk_index(const struct vm *vm, int n)
{
	int root = -1;

	for (int i = 0; i < vm->config.disk_count; i++)
		if (vm->config.disks[i].root)
			root = i;
	if (root < 0)
		return n;
	if (n == 0)
		return root;
	return n <= root ? n - 1 : n;
}

int vm_create_disks(struct vm *vm, struct tern_error *err)
{
	for (int n = 0; n < vm->config.disk_count; n++) {
		const struct vm_disk_config *disk =
			&vm->config.disks[disk_index(vm, n)];
		struct virtio_blk_options opts = {
			.path = disk->path,
			.readonly = disk->readonly,
			.id = disk->id,
			.cache = disk->cache,
			.engine = disk->engine,
			.lock_at_restore = disk->lock_at_restore,
			.allow_block_device = vm->config.allow_block_devices,
			.rate_limiter = &disk->rate_limiter,
		};
		struct virtio_device *vdev;
		int ret = virtio_blk_create(&opts, &vdev, err);

		if (!ret)
			ret = vm_add_virtio_device_id(vm, vdev, disk->id, err);
		if (ret)
			return ret;
	}
	return 0;
}
