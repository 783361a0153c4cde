#include "control/drive_control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ids.h>

#include "config/config_check.h"
#include "control/migration_control.h"
#include "virtio/virtio_blk.h"

static struct vm_disk_config *configured_disk(struct vm_config *config,
					      const char *id)
{
	for (int i = 0; i < config->disk_count; i++)
		if (!strcmp(config->disks[i].id, id))
			return &config->disks[i];
	return NULL;
}

static struct virtio_device *running_disk(struct vm *vm, const char *id)
{
	for (int i = 0; i < vm->virtio_device_count; i++) {
		struct virtio_device *vdev = vm->virtio_devices[i].vdev;

		if (vdev->ops->device_id == VIRTIO_ID_BLOCK &&
		    !strcmp(vm->virtio_devices[i].id, id))
			return vdev;
	}
	return NULL;
}

static int replace(struct instance *inst, const char *id, const char *path,
		   struct tern_error *err)
{
	struct vm_disk_config *disk = configured_disk(&inst->config, id);
	struct vm_disk_config *running;
	struct virtio_device *vdev;
	char *copy, *running_copy;
	int ret;

	if (!disk)
		return tern_error_set(err, ENODEV,
				      "no drive '%s' is configured", id);
	if ((inst->state != INSTANCE_RUNNING &&
	     inst->state != INSTANCE_PAUSED) ||
	    !inst->vm)
		return tern_error_set(err, EPERM,
				      "replacing a drive's backing file needs "
				      "a started VM (state: %s); before "
				      "InstanceStart use PUT",
				      instance_state_name(inst->state));
	ret = config_check_path("drives.path_on_host", path, err);
	if (ret)
		return ret;
	if (strlen(path) >= PATH_MAX)
		return tern_error_set(err, ENAMETOOLONG,
				      "drives.path_on_host is longer than %d "
				      "bytes",
				      PATH_MAX - 1);
	if (instance_migration_active(inst))
		return tern_error_set(err, EBUSY,
				      "drive '%s': a migration is sending this "
				      "VM; replace its file after it ends",
				      id);
	vdev = running_disk(inst->vm, id);
	running = configured_disk(&inst->vm->config, id);
	if (!vdev || !running)
		return tern_error_set(err, ENODEV,
				      "drive '%s' has no device to update", id);
	/* Before the file changes: once it has, both configurations must be
	 * able to show it (the instance's for GET /vm/config, the VM's for
	 * the next snapshot's record). */
	copy = vm_config_path_dup(path);
	running_copy = vm_config_path_dup(path);
	if (!copy || !running_copy) {
		free(copy);
		free(running_copy);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	ret = virtio_blk_replace_file(vdev, path,
				      inst->config.allow_block_devices, err);
	if (ret) {
		free(copy);
		free(running_copy);
		return ret;
	}
	free(disk->path);
	disk->path = copy;
	free(running->path);
	running->path = running_copy;
	return 0;
}

int instance_replace_drive_file(struct instance *inst, const char *id,
				const char *path, struct tern_error *err)
{
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = replace(inst, id, path, err);
	pthread_mutex_unlock(&inst->lock);
	return ret;
}
