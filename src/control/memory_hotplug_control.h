/* Hotpluggable memory's run-time API (Firecracker's PATCH and GET
 * /hotplug/memory) on a started instance; PUT /hotplug/memory is a
 * configuration (instance_configure). Each takes the instance lock.
 * Errors: -ENODEV not configured, -EPERM not started, -EINVAL bad size. */
#ifndef TERN_CONTROL_MEMORY_HOTPLUG_CONTROL_H
#define TERN_CONTROL_MEMORY_HOTPLUG_CONTROL_H

#include <jansson.h>

#include "control/instance.h"

/* PATCH /hotplug/memory {"requested_size_mib": N}: a multiple of the block
 * size, at most the total size. */
int instance_memory_hotplug_request(struct instance *inst, long long mib,
				    struct tern_error *err);

/* GET /hotplug/memory: Firecracker's MemoryHotplugStatus (total, slot and
 * block size, plugged and requested size, in MiB). */
json_t *instance_memory_hotplug_status(struct instance *inst,
				       struct tern_error *err);

#endif
