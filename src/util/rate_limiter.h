/* Firecracker's RateLimiter: a "bandwidth" bucket (bytes) and an "ops"
 * bucket (requests) in front of one device queue, and a timerfd that says
 * when the queue may go on after it was stopped.
 *
 * The device asks before each request (rate_limiter_consume: one op and
 * the request's bytes). A "no" means: put the request back, stop taking
 * requests from that queue, and watch rate_limiter_timer_fd() in the I/O
 * loop; when it fires, call rate_limiter_timer_fired() and take requests
 * again. A request larger than a bucket is served and makes the limiter
 * block until the debt is repaid (util/token_bucket.h). Nothing here sleeps
 * or spins: the timer is the only wake-up.
 *
 * Not thread-safe: the device's lock covers it. */
#ifndef TERN_UTIL_RATE_LIMITER_H
#define TERN_UTIL_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "util/token_bucket.h"

struct rate_limiter_config {
	struct token_bucket_config bandwidth; /* bytes */
	struct token_bucket_config ops; /* requests */
};

static inline bool
rate_limiter_config_limits(const struct rate_limiter_config *config)
{
	return token_bucket_config_limits(&config->bandwidth) ||
		token_bucket_config_limits(&config->ops);
}

/* PATCH: each bucket kept as it is, or replaced by a new full one (a new
 * config that limits nothing turns that bucket off). */
struct rate_limiter_update {
	bool set_bandwidth;
	bool set_ops;
	struct rate_limiter_config config; /* the buckets being set */
};

/* What a configuration becomes after update (for GET /vm/config). */
static inline void
rate_limiter_config_apply_update(struct rate_limiter_config *config,
				 const struct rate_limiter_update *update)
{
	if (update->set_bandwidth)
		config->bandwidth = update->config.bandwidth;
	if (update->set_ops)
		config->ops = update->config.ops;
}

struct rate_limiter {
	struct token_bucket bandwidth;
	struct token_bucket ops;
	int timer_fd; /* -1 before init */
	bool blocked; /* the timer is armed: no request until it fires */
};

/* Creates the timer (always, even for a limiter that limits nothing: a
 * PATCH may turn it on later, when the thread's seccomp filter no longer
 * allows timerfd_create). Returns 0 or a negative errno with err set. */
int rate_limiter_init(struct rate_limiter *limiter,
		      const struct rate_limiter_config *config,
		      struct tern_error *err);
void rate_limiter_destroy(struct rate_limiter *limiter);

static inline int rate_limiter_timer_fd(const struct rate_limiter *limiter)
{
	return limiter->timer_fd;
}

static inline bool rate_limiter_limits(const struct rate_limiter *limiter)
{
	return token_bucket_limits(&limiter->bandwidth) ||
		token_bucket_limits(&limiter->ops);
}

/* May a request of `bytes` go now? true: it is accounted (and may have
 * left the limiter blocked, for an oversized one); false: nothing taken,
 * the limiter is blocked and its timer armed. A blocked limiter says no
 * without looking at its buckets. */
bool rate_limiter_consume(struct rate_limiter *limiter, uint64_t bytes);

/* Accounts a request that already happened (a frame read from a tap
 * before its size was known): never refused; the debt, if any, blocks the
 * limiter until repaid. */
void rate_limiter_charge(struct rate_limiter *limiter, uint64_t bytes);

/* The timer fd was readable: the limiter is open again (a spurious or
 * already-read expiry is harmless). */
void rate_limiter_timer_fired(struct rate_limiter *limiter);

/* A device reset: the queue starts again unblocked (a timer still armed
 * fires later, harmlessly); the buckets keep their tokens. */
void rate_limiter_unblock(struct rate_limiter *limiter);

/* Applies a PATCH; the timer is set to fire at once so the device's own
 * thread looks at its queue again with the new buckets. */
void rate_limiter_update(struct rate_limiter *limiter,
			 const struct rate_limiter_update *update);

/* The buckets' configuration as now in effect. */
void rate_limiter_get_config(const struct rate_limiter *limiter,
			     struct rate_limiter_config *config);

struct rate_limiter_state {
	struct token_bucket_state bandwidth;
	struct token_bucket_state ops;
};

void rate_limiter_save(const struct rate_limiter *limiter,
		       struct rate_limiter_state *state);
int rate_limiter_state_check(const struct rate_limiter_state *state);
/* Replaces the buckets with the saved ones (already checked). */
void rate_limiter_restore(struct rate_limiter *limiter,
			  const struct rate_limiter_state *state);

#endif
