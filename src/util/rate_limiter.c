#include "util/rate_limiter.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/timer_fd.h"

int rate_limiter_init(struct rate_limiter *limiter,
		      const struct rate_limiter_config *config,
		      struct tern_error *err)
{
	uint64_t now = token_bucket_now_ns();

	memset(limiter, 0, sizeof(*limiter));
	limiter->timer_fd = timer_fd_create();
	if (limiter->timer_fd < 0)
		return tern_error_set(err, -limiter->timer_fd,
				      "rate limiter: timerfd_create: %s",
				      strerror(-limiter->timer_fd));
	token_bucket_init(&limiter->bandwidth, &config->bandwidth, now);
	token_bucket_init(&limiter->ops, &config->ops, now);
	return 0;
}

void rate_limiter_destroy(struct rate_limiter *limiter)
{
	if (limiter->timer_fd >= 0)
		close(limiter->timer_fd);
	limiter->timer_fd = -1;
}

static void arm(struct rate_limiter *limiter, uint64_t wait_ns)
{
	/* Cannot fail for a valid fd and a relative time in range; if it
	 * did, the queue would stay stopped, so the limiter opens instead
	 * (the limit is not kept, no request is lost). */
	limiter->blocked = timer_fd_arm(limiter->timer_fd, wait_ns, 0) == 0;
}

static bool waits(enum token_bucket_result result)
{
	return result != TOKEN_BUCKET_TAKEN;
}

bool rate_limiter_consume(struct rate_limiter *limiter, uint64_t bytes)
{
	uint64_t now, wait_ops, wait_bytes;
	enum token_bucket_result ops, data;

	if (limiter->blocked)
		return false;
	if (!rate_limiter_limits(limiter))
		return true;
	now = token_bucket_now_ns();
	ops = token_bucket_reduce(&limiter->ops, 1, now, &wait_ops);
	if (ops == TOKEN_BUCKET_EMPTY) {
		arm(limiter, wait_ops);
		return false;
	}
	data = token_bucket_reduce(&limiter->bandwidth, bytes, now,
				   &wait_bytes);
	if (data == TOKEN_BUCKET_EMPTY) {
		token_bucket_give_back(&limiter->ops, 1);
		arm(limiter, wait_bytes);
		return false;
	}
	if (waits(ops) || waits(data))
		arm(limiter, wait_ops > wait_bytes ? wait_ops : wait_bytes);
	return true;
}

void rate_limiter_charge(struct rate_limiter *limiter, uint64_t bytes)
{
	uint64_t now, wait_ops, wait_bytes;

	if (!rate_limiter_limits(limiter))
		return;
	now = token_bucket_now_ns();
	token_bucket_charge(&limiter->ops, 1, now, &wait_ops);
	token_bucket_charge(&limiter->bandwidth, bytes, now, &wait_bytes);
	if (wait_ops || wait_bytes)
		arm(limiter, wait_ops > wait_bytes ? wait_ops : wait_bytes);
}

void rate_limiter_timer_fired(struct rate_limiter *limiter)
{
	uint64_t expirations;
	ssize_t ignored =
		read(limiter->timer_fd, &expirations, sizeof(expirations));

	(void)ignored;
	limiter->blocked = false;
}

void rate_limiter_unblock(struct rate_limiter *limiter)
{
	limiter->blocked = false;
}

void rate_limiter_update(struct rate_limiter *limiter,
			 const struct rate_limiter_update *update)
{
	uint64_t now = token_bucket_now_ns();

	if (update->set_bandwidth)
		token_bucket_init(&limiter->bandwidth,
				  &update->config.bandwidth, now);
	if (update->set_ops)
		token_bucket_init(&limiter->ops, &update->config.ops, now);
	arm(limiter, 1);
}

void rate_limiter_get_config(const struct rate_limiter *limiter,
			     struct rate_limiter_config *config)
{
	config->bandwidth = limiter->bandwidth.config;
	config->ops = limiter->ops.config;
}

void rate_limiter_save(const struct rate_limiter *limiter,
		       struct rate_limiter_state *state)
{
	uint64_t now = token_bucket_now_ns();

	token_bucket_save(&limiter->bandwidth, now, &state->bandwidth);
	token_bucket_save(&limiter->ops, now, &state->ops);
}

int rate_limiter_state_check(const struct rate_limiter_state *state)
{
	int ret = token_bucket_state_check(&state->bandwidth);

	return ret ? ret : token_bucket_state_check(&state->ops);
}

void rate_limiter_restore(struct rate_limiter *limiter,
			  const struct rate_limiter_state *state)
{
	uint64_t now = token_bucket_now_ns();

	token_bucket_restore(&limiter->bandwidth, &state->bandwidth, now);
	token_bucket_restore(&limiter->ops, &state->ops, now);
	/* The queue is looked at again when the restored guest kicks it;
	 * a debt still owed is kept by the bucket's time. */
	limiter->blocked = false;
}
