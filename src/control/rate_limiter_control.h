/* Rate limiters changed while the VM runs: PATCH /drives/{id} and
 * PATCH /pmem/{id} {"rate_limiter": ...}, PATCH /network-interfaces/{id}
 * {"rx_rate_limiter": ..., "tx_rate_limiter": ...}, with Firecracker's
 * rules: only after InstanceStart; each bucket given replaces that bucket
 * with a new full one (size or refill_time 0 turns it off), each bucket
 * left out stays as it is. The device's own thread picks the change up
 * through its limiter's timer; GET /vm/config shows the result. */
#ifndef TERN_CONTROL_RATE_LIMITER_CONTROL_H
#define TERN_CONTROL_RATE_LIMITER_CONTROL_H

#include "control/instance.h"
#include "util/rate_limiter.h"

enum rate_limited_kind {
	RATE_LIMITED_DRIVE, /* updates[0]: the drive's rate_limiter */
	RATE_LIMITED_NET, /* updates[0]: rx, updates[1]: tx */
	RATE_LIMITED_PMEM, /* updates[0]: the pmem device's rate_limiter */
};

/* 0, or a negative errno with err set: -ENODEV no such id, -EPERM not
 * started (or stopped). */
int instance_update_rate_limiters(struct instance *inst,
				  enum rate_limited_kind kind, const char *id,
				  const struct rate_limiter_update updates[2],
				  struct tern_error *err);

#endif
