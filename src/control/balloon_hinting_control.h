/* Free page hinting on a started instance (Firecracker's
 * PATCH /balloon/hinting/start, GET /balloon/hinting/status,
 * PATCH /balloon/hinting/stop). Each takes the instance lock. Errors:
 * -ENODEV no balloon, -EPERM not started, -ENOTSUP the balloon was
 * configured without free_page_hinting, -EAGAIN the guest's driver has
 * not set the device up. */
#ifndef TERN_CONTROL_BALLOON_HINTING_CONTROL_H
#define TERN_CONTROL_BALLOON_HINTING_CONTROL_H

#include <jansson.h>
#include <stdbool.h>

#include "control/instance.h"

int instance_balloon_hint_start(struct instance *inst, bool ack_on_stop,
				struct tern_error *err);
int instance_balloon_hint_stop(struct instance *inst, struct tern_error *err);
/* {"host_cmd": N, "guest_cmd": N or null (the guest sent none yet)}. */
json_t *instance_balloon_hint_status(struct instance *inst,
				     struct tern_error *err);

#endif
