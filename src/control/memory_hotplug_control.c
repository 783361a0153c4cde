#include "control/memory_hotplug_control.h"

#include <errno.h>

#include "virtio/virtio_mem.h"

#define MIB (1ULL << 20)

/* With inst->lock held: the started VM's virtio-mem device. */
static int running_device(struct instance *inst, const char *what,
			  struct virtio_device **vdev, struct tern_error *err)
{
	*vdev = NULL;
	if (inst->state != INSTANCE_RUNNING && inst->state != INSTANCE_PAUSED)
		return tern_error_set(err, EPERM,
				      "%s needs a started VM (state: %s); "
				      "before InstanceStart use PUT "
				      "/hotplug/memory",
				      what, instance_state_name(inst->state));
	if (!inst->vm || !inst->vm->memory_hotplug)
		return tern_error_set(err, ENODEV,
				      "memory-hotplug: no hotpluggable memory "
				      "is configured");
	*vdev = inst->vm->memory_hotplug;
	return 0;
}

int instance_memory_hotplug_request(struct instance *inst, long long mib,
				    struct tern_error *err)
{
	struct virtio_device *vdev;
	struct virtio_mem_info info;
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = running_device(inst, "changing the hotplugged memory size", &vdev,
			     err);
	if (!ret) {
		virtio_mem_get_info(vdev, &info);
		if (mib < 0 || (uint64_t)mib > info.region_size / MIB ||
		    ((uint64_t)mib * MIB) % info.block_size)
			ret = tern_error_set(
				err, EINVAL,
				"requested_size_mib %lld: must be a multiple "
				"of block_size_mib (%llu) and at most "
				"total_size_mib (%llu)",
				mib,
				(unsigned long long)(info.block_size / MIB),
				(unsigned long long)(info.region_size / MIB));
	}
	if (!ret) {
		ret = virtio_mem_set_requested(vdev, (uint64_t)mib * MIB);
		if (ret)
			tern_error_set(err, -ret,
				       "requested_size_mib %lld: refused by "
				       "the device",
				       mib);
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

json_t *instance_memory_hotplug_status(struct instance *inst,
				       struct tern_error *err)
{
	struct virtio_device *vdev;
	struct virtio_mem_info info;
	json_t *doc = NULL;

	pthread_mutex_lock(&inst->lock);
	if (!running_device(inst, "the hotplugged memory's status", &vdev,
			    err)) {
		virtio_mem_get_info(vdev, &info);
		doc = json_pack(
			"{s:I, s:I, s:I, s:I, s:I}", "total_size_mib",
			(json_int_t)(info.region_size / MIB), "slot_size_mib",
			(json_int_t)(info.slot_size / MIB), "block_size_mib",
			(json_int_t)(info.block_size / MIB), "plugged_size_mib",
			(json_int_t)(info.plugged_size / MIB),
			"requested_size_mib",
			(json_int_t)(info.requested_size / MIB));
		if (!doc)
			tern_error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&inst->lock);
	return doc;
}
