/* Firecracker's rate limiters as the API and the config file give them
 * (RateLimiter: token buckets "bandwidth" and "ops", each {size,
 * one_time_burst, refill_time}) on drives, network interfaces (rx and tx)
 * and the entropy device, and the serial's single TokenBucket. An absent
 * or null limiter, an empty object (Kata Containers sends {} on every
 * interface) and a bucket of size 0 or refill_time 0 limit nothing, as in
 * Firecracker. */
#ifndef TERN_CONFIG_RATE_LIMITER_JSON_H
#define TERN_CONFIG_RATE_LIMITER_JSON_H

#include <jansson.h>

#include "util/error.h"
#include "util/rate_limiter.h"

/* A RateLimiter object (null allowed) at field ("drives.rate_limiter");
 * *out is all zero (no limit) for null. */
int rate_limiter_json_parse(const char *field, const json_t *limiter,
			    struct rate_limiter_config *out,
			    struct tern_error *err);

/* The same for a PATCH: a bucket that is absent (or null) stays as it is;
 * one that is given replaces it (size or refill_time 0: turned off). A
 * null or absent limiter changes nothing. */
int rate_limiter_json_parse_update(const char *field, const json_t *limiter,
				   struct rate_limiter_update *out,
				   struct tern_error *err);

/* One TokenBucket object (null allowed), as the serial's rate_limiter. */
int rate_limiter_json_parse_bucket(const char *field, const json_t *bucket,
				   struct token_bucket_config *out,
				   struct tern_error *err);

/* The limiter as Firecracker shows it: only the buckets that limit, and
 * one_time_burst only when set; NULL when nothing limits (the field is
 * then left out). */
json_t *rate_limiter_json_export(const struct rate_limiter_config *config);
json_t *rate_limiter_json_export_bucket(const struct token_bucket_config *b);

#endif
