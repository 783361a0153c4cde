/* The balloon's run-time API (Firecracker's PATCH /balloon, GET /balloon,
 * GET and PATCH /balloon/statistics) on a started instance. Each takes the
 * instance lock; the device calls it makes are thread-safe. Errors:
 * -ENODEV no balloon, -EPERM not started, -EINVAL bad value, -ENOTSUP
 * statistics not enabled. */
#ifndef TERN_CONTROL_BALLOON_CONTROL_H
#define TERN_CONTROL_BALLOON_CONTROL_H

#include <jansson.h>

#include "control/instance.h"

/* With inst->lock held: the running (or paused) VM's balloon in *balloon,
 * or an error naming `what` (-ENODEV none, -EPERM not started). */
int instance_running_balloon(struct instance *inst, const char *what,
			     struct virtio_device **balloon,
			     struct tern_error *err);

/* PATCH /balloon {"amount_mib": N}: a new target, below guest RAM. */
int instance_balloon_set_target(struct instance *inst, long long amount_mib,
				struct tern_error *err);
/* PATCH /balloon/statistics: 0 stops asking; needs statistics enabled at
 * start. */
int instance_balloon_set_stats_interval(struct instance *inst,
					long long seconds,
					struct tern_error *err);
/* GET /balloon: the configuration (the current target once started). */
json_t *instance_balloon_config(struct instance *inst, struct tern_error *err);
/* GET /balloon/statistics: target and actual size, and the last statistics
 * the guest sent, in Firecracker's field names. */
json_t *instance_balloon_statistics(struct instance *inst,
				    struct tern_error *err);

#endif
