#include "control/balloon_hinting_control.h"

#include <errno.h>

#include "control/balloon_control.h"
#include "virtio/virtio_balloon.h"

/* What a device refusal means to the API client. */
static int explain(int ret, struct tern_error *err)
{
	if (ret == -ENOTSUP)
		return tern_error_set(err, ENOTSUP,
				      "balloon free page hinting is not "
				      "enabled: set free_page_hinting in "
				      "PUT /balloon before InstanceStart");
	if (ret == -EAGAIN)
		return tern_error_set(err, EAGAIN,
				      "the guest's balloon driver has not "
				      "set the device up yet");
	return tern_error_set(err, -ret,
			      "balloon free page hinting: refused "
			      "by the device");
}

int instance_balloon_hint_start(struct instance *inst, bool ack_on_stop,
				struct tern_error *err)
{
	struct virtio_device *balloon;
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = instance_running_balloon(inst, "starting free page hinting",
				       &balloon, err);
	if (!ret) {
		ret = virtio_balloon_hint_start(balloon, ack_on_stop);
		if (ret)
			ret = explain(ret, err);
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

int instance_balloon_hint_stop(struct instance *inst, struct tern_error *err)
{
	struct virtio_device *balloon;
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = instance_running_balloon(inst, "stopping free page hinting",
				       &balloon, err);
	if (!ret) {
		ret = virtio_balloon_hint_stop(balloon);
		if (ret)
			ret = explain(ret, err);
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

json_t *instance_balloon_hint_status(struct instance *inst,
				     struct tern_error *err)
{
	struct virtio_balloon_hint_status status;
	struct virtio_device *balloon;
	json_t *doc;
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = instance_running_balloon(inst, "free page hinting status",
				       &balloon, err);
	if (!ret) {
		ret = virtio_balloon_hint_status(balloon, &status);
		if (ret)
			explain(ret, err);
	}
	pthread_mutex_unlock(&inst->lock);
	if (ret)
		return NULL;
	/* Firecracker's guest_cmd is null until the guest sent an id. */
	doc = json_pack("{s:I, s:o}", "host_cmd", (json_int_t)status.host_cmd,
			"guest_cmd",
			status.guest_cmd_valid
				? json_integer((json_int_t)status.guest_cmd)
				: json_null());
	if (!doc)
		tern_error_set(err, ENOMEM, "out of memory");
	return doc;
}
