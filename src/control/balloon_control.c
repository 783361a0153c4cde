#include "control/balloon_control.h"

#include <errno.h>
#include <stdio.h>

#include "config/config_check.h"
#include "control/migration_control.h"
#include "virtio/virtio_balloon.h"

#define MIB (1ULL << 20)

/* Firecracker's names for the statistics tags (spec 5.5.6.3 and the tags
 * Linux added after it), in tag order. */
static const char *const stat_fields[VIRTIO_BALLOON_STAT_TAGS] = {
	"swap_in",	    "swap_out",	   "major_faults",
	"minor_faults",	    "free_memory", "total_memory",
	"available_memory", "disk_caches", "hugetlb_allocations",
	"hugetlb_failures", "oom_kill",	   "alloc_stall",
	"async_scan",	    "direct_scan", "async_reclaim",
	"direct_reclaim",
};

int instance_running_balloon(struct instance *inst, const char *what,
			     struct virtio_device **balloon,
			     struct tern_error *err)
{
	*balloon = NULL;
	if (!inst->config.balloon.enabled)
		return tern_error_set(err, ENODEV,
				      "balloon: no balloon device is "
				      "configured");
	if (inst->state != INSTANCE_RUNNING && inst->state != INSTANCE_PAUSED)
		return tern_error_set(err, EPERM,
				      "%s needs a started VM (state: %s); "
				      "before InstanceStart use PUT /balloon",
				      what, instance_state_name(inst->state));
	if (!inst->vm || !inst->vm->balloon)
		return tern_error_set(err, ENODEV,
				      "balloon: the VM has no balloon device");
	*balloon = inst->vm->balloon;
	return 0;
}

int instance_balloon_set_target(struct instance *inst, long long amount_mib,
				struct tern_error *err)
{
	struct vm_config changed;
	struct virtio_device *balloon;
	int ret;

	pthread_mutex_lock(&inst->lock);
	ret = instance_running_balloon(inst, "changing the balloon size",
				       &balloon, err);
	if (!ret) {
		/* For the check only: shares the configuration's paths
		 * (vm_config.h); only its balloon is kept. */
		changed = inst->config;
		changed.balloon.target_bytes = (uint64_t)amount_mib * MIB;
		ret = config_check_balloon_fits(&changed, "balloon.amount_mib",
						"machine-config.mem_size_mib",
						err);
	}
	if (!ret) {
		ret = virtio_balloon_set_target(balloon,
						changed.balloon.target_bytes);
		if (ret)
			tern_error_set(err, -ret,
				       "balloon.amount_mib %lld: refused by "
				       "the device",
				       amount_mib);
		else
			inst->config.balloon = changed.balloon;
		/* The VM's copy goes into the next snapshot's record; a
		 * migration thread reads it unlocked, and sends the target
		 * in the device's own state anyway. */
		if (!ret && !instance_migration_active(inst))
			inst->vm->config.balloon = changed.balloon;
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

int instance_balloon_set_stats_interval(struct instance *inst,
					long long seconds,
					struct tern_error *err)
{
	struct virtio_device *balloon;
	char shown[32];
	int ret;

	snprintf(shown, sizeof(shown), "%lld", seconds);
	pthread_mutex_lock(&inst->lock);
	ret = instance_running_balloon(inst, "changing the statistics interval",
				       &balloon, err);
	if (!ret)
		ret = config_check_balloon_stats(
			"balloon.stats_polling_interval_s", seconds, shown,
			err);
	if (!ret) {
		ret = virtio_balloon_set_stats_interval(balloon,
							(uint32_t)seconds);
		/* The statistics queue exists only when the device was
		 * created with an interval (as in Firecracker). */
		if (ret == -ENOTSUP)
			tern_error_set(err, ENOTSUP,
				       "balloon statistics are not enabled: "
				       "set stats_polling_interval_s above 0 "
				       "before InstanceStart");
		else if (ret)
			tern_error_set(err, -ret,
				       "balloon.stats_polling_interval_s %lld "
				       "refused by the device",
				       seconds);
		else
			inst->config.balloon.stats_interval_s =
				(uint32_t)seconds;
	}
	pthread_mutex_unlock(&inst->lock);
	return ret;
}

json_t *instance_balloon_config(struct instance *inst, struct tern_error *err)
{
	json_t *doc = NULL;

	pthread_mutex_lock(&inst->lock);
	if (!inst->config.balloon.enabled)
		tern_error_set(err, ENODEV,
			       "balloon: no balloon device is configured");
	else if (!(doc = vm_config_json_export_balloon(&inst->config)))
		tern_error_set(err, ENOMEM, "out of memory");
	pthread_mutex_unlock(&inst->lock);
	return doc;
}

json_t *instance_balloon_statistics(struct instance *inst,
				    struct tern_error *err)
{
	struct virtio_balloon_info info;
	struct virtio_device *balloon;
	int enabled = 0;
	json_t *doc;

	pthread_mutex_lock(&inst->lock);
	if (!instance_running_balloon(inst, "balloon statistics", &balloon,
				      err)) {
		virtio_balloon_get_info(balloon, &info);
		/* The statistics queue exists when the device was created
		 * with an interval. */
		enabled = inst->vm->config.balloon.stats_interval_s != 0;
	}
	pthread_mutex_unlock(&inst->lock);
	if (!balloon)
		return NULL;
	if (!enabled) {
		tern_error_set(err, ENOTSUP,
			       "balloon statistics are not enabled: set "
			       "stats_polling_interval_s above 0 before "
			       "InstanceStart");
		return NULL;
	}
	doc = json_pack(
		"{s:I, s:I, s:I, s:I}", "target_pages",
		(json_int_t)(info.target_bytes / VIRTIO_BALLOON_PAGE_SIZE),
		"actual_pages",
		(json_int_t)(info.actual_bytes / VIRTIO_BALLOON_PAGE_SIZE),
		"target_mib", (json_int_t)(info.target_bytes / MIB),
		"actual_mib", (json_int_t)(info.actual_bytes / MIB));
	if (!doc) {
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	/* Only what the guest reported (Firecracker leaves the others out). */
	for (unsigned t = 0; t < VIRTIO_BALLOON_STAT_TAGS; t++)
		if (info.stats_valid & (1U << t))
			json_object_set_new(
				doc, stat_fields[t],
				json_integer((json_int_t)info.stats[t]));
	return doc;
}
