/* Firecracker's rate limiters (RateLimiter: token buckets "bandwidth" and
 * "ops", each {size, one_time_burst, refill_time}) as the API and the
 * config file give them on drives, network interfaces (rx and tx) and the
 * entropy device, and the serial's single bucket.
 *
 * tern does not enforce token buckets yet. What it accepts is only what
 * limits nothing, so accepting it is honest: an absent or null limiter, an
 * empty object (Kata Containers sends {} on every interface), and buckets
 * Firecracker itself treats as disabled (size 0 or refill_time 0). Any real
 * limit is refused with a 400 that says so, never silently dropped. */
#ifndef TERN_CONFIG_RATE_LIMITER_JSON_H
#define TERN_CONFIG_RATE_LIMITER_JSON_H

#include <jansson.h>

#include "util/error.h"

/* A RateLimiter object (null allowed) at field ("drives.rate_limiter"). */
int rate_limiter_json_check(const char *field, const json_t *limiter,
			    struct tern_error *err);

/* One TokenBucket object (null allowed), as the serial's rate_limiter. */
int rate_limiter_json_check_bucket(const char *field, const json_t *bucket,
				   struct tern_error *err);

#endif
