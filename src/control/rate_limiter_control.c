#include "control/rate_limiter_control.h"

#include <errno.h>
#include <string.h>

#include <linux/virtio_ids.h>

#include "control/migration_control.h"

/* The configuration's limiters for the device, so that GET /vm/config and
 * a snapshot's record show the change. NULL: no such id. */
static struct rate_limiter_config *configured(struct vm_config *config,
					      enum rate_limited_kind kind,
					      const char *id, int which)
{
	if (kind == RATE_LIMITED_DRIVE) {
		for (int i = 0; i < config->disk_count; i++)
			if (!strcmp(config->disks[i].id, id))
				return &config->disks[i].rate_limiter;
		return NULL;
	}
	if (kind == RATE_LIMITED_PMEM) {
		for (int i = 0; i < config->pmem_count; i++)
			if (!strcmp(config->pmems[i].id, id))
				return &config->pmems[i].rate_limiter;
		return NULL;
	}
	for (int i = 0; i < config->net_count; i++)
		if (!strcmp(config->nets[i].id, id))
			return which ? &config->nets[i].tx_rate_limiter
				     : &config->nets[i].rx_rate_limiter;
	return NULL;
}

static uint16_t device_type(enum rate_limited_kind kind)
{
	switch (kind) {
	case RATE_LIMITED_DRIVE:
		return VIRTIO_ID_BLOCK;
	case RATE_LIMITED_PMEM:
		return VIRTIO_ID_PMEM;
	default:
		return VIRTIO_ID_NET;
	}
}

static const char *kind_name(enum rate_limited_kind kind)
{
	switch (kind) {
	case RATE_LIMITED_DRIVE:
		return "drive";
	case RATE_LIMITED_PMEM:
		return "pmem device";
	default:
		return "network interface";
	}
}

static struct virtio_device *
running_device(struct vm *vm, enum rate_limited_kind kind, const char *id)
{
	uint16_t type = device_type(kind);

	for (int i = 0; i < vm->virtio_device_count; i++) {
		struct virtio_device *vdev = vm->virtio_devices[i].vdev;

		if (vdev->ops->device_id == type &&
		    !strcmp(vm->virtio_devices[i].id, id))
			return vdev;
	}
	return NULL;
}

static int apply(struct instance *inst, enum rate_limited_kind kind,
		 const char *id, const struct rate_limiter_update updates[2],
		 struct tern_error *err)
{
	const char *what = kind_name(kind);
	int count = kind == RATE_LIMITED_NET ? 2 : 1;
	struct virtio_device *vdev;
	int ret = 0;

	if (!configured(&inst->config, kind, id, 0))
		return tern_error_set(err, ENODEV, "no %s '%s' is configured",
				      what, id);
	if ((inst->state != INSTANCE_RUNNING &&
	     inst->state != INSTANCE_PAUSED) ||
	    !inst->vm)
		return tern_error_set(err, EPERM,
				      "updating a %s needs a started VM "
				      "(state: %s); before InstanceStart use "
				      "PUT",
				      what, instance_state_name(inst->state));
	if (instance_migration_active(inst))
		return tern_error_set(err, EBUSY,
				      "%s '%s': a migration is sending this "
				      "VM; change its limits after it ends",
				      what, id);
	vdev = running_device(inst->vm, kind, id);
	if (!vdev || !vdev->ops->update_rate_limiter ||
	    !configured(&inst->vm->config, kind, id, 0))
		return tern_error_set(err, ENODEV,
				      "%s '%s' has no device to update", what,
				      id);
	pthread_mutex_lock(&vdev->lock);
	for (int i = 0; !ret && i < count; i++)
		if (updates[i].set_bandwidth || updates[i].set_ops)
			ret = vdev->ops->update_rate_limiter(vdev, (unsigned)i,
							     &updates[i]);
	pthread_mutex_unlock(&vdev->lock);
	if (ret)
		return tern_error_set(err, -ret, "%s '%s': %s", what, id,
				      strerror(-ret));
	/* Both configurations: the instance's shows in GET /vm/config, the
	 * VM's goes into the next snapshot's record. */
	for (int i = 0; i < count; i++) {
		rate_limiter_config_apply_update(
			configured(&inst->config, kind, id, i), &updates[i]);
		rate_limiter_config_apply_update(
			configured(&inst->vm->config, kind, id, i),
			&updates[i]);
	}
	return 0;
}

int instance_update_rate_limiters(struct instance *inst,
				  enum rate_limited_kind kind, const char *id,
				  const struct rate_limiter_update updates[2],
				  struct tern_error *err)
{
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = apply(inst, kind, id, updates, err);
	pthread_mutex_unlock(&inst->lock);
	return ret;
}
