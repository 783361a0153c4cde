/* A token bucket with Firecracker's parameters (TokenBucket: size,
 * one_time_burst, refill_time) and behaviour:
 *
 *  - it starts full: `size` tokens, plus `one_time_burst` extra tokens that
 *    are spent first and never come back;
 *  - it refills continuously, `size` tokens every `refill_time_ms`, never
 *    above `size`;
 *  - a request that fits the bucket's size but not what is left fails and
 *    takes nothing: the caller waits (token_bucket_reduce gives how long)
 *    and asks again;
 *  - a request larger than the whole bucket could never fit: it is served,
 *    what is there is taken and the rest owed, and the bucket stays empty
 *    until the debt is repaid at the refill rate (the caller waits that
 *    long before the next request).
 *
 * A bucket of size 0 or refill time 0 limits nothing (Firecracker's rule).
 * Time is passed in (monotonic nanoseconds) so the arithmetic is testable
 * without sleeping; token_bucket_now_ns() is the clock to use. */
#ifndef TERN_UTIL_TOKEN_BUCKET_H
#define TERN_UTIL_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* refill_time_ms above this would overflow nanoseconds (about 584 years
 * in all); the configuration refuses it. */
#define TOKEN_BUCKET_REFILL_MS_MAX (UINT64_MAX / 1000000ULL)

struct token_bucket_config {
	uint64_t size; /* tokens; 0: no limit */
	uint64_t one_time_burst; /* extra tokens spent first, once */
	uint64_t refill_time_ms; /* from empty to full; 0: no limit */
};

struct token_bucket {
	struct token_bucket_config config;
	uint64_t budget; /* tokens in the bucket, at most config.size */
	uint64_t burst_left; /* of config.one_time_burst */
	/* Tokens are counted up to this time; later than now while a debt
	 * is being repaid. */
	uint64_t counted_until_ns;
	/* size / (refill_time_ms * 1e6) as a reduced fraction: tokens per
	 * nanosecond without overflow in the products. */
	uint64_t rate_tokens;
	uint64_t rate_ns;
};

enum token_bucket_result {
	TOKEN_BUCKET_TAKEN, /* the tokens were there and are taken */
	TOKEN_BUCKET_EMPTY, /* not enough now: nothing taken, wait */
	TOKEN_BUCKET_OWED, /* larger than the bucket: served, wait */
};

static inline bool
token_bucket_config_limits(const struct token_bucket_config *config)
{
	return config->size && config->refill_time_ms;
}

static inline bool token_bucket_limits(const struct token_bucket *bucket)
{
	return token_bucket_config_limits(&bucket->config);
}

/* A full bucket (config copied; refill_time_ms must be at most
 * TOKEN_BUCKET_REFILL_MS_MAX). */
void token_bucket_init(struct token_bucket *bucket,
		       const struct token_bucket_config *config,
		       uint64_t now_ns);

/* Takes `tokens` (see the header comment). *wait_ns is set for EMPTY (the
 * time until they will be there) and OWED (until the debt is repaid), 0
 * otherwise. A bucket that limits nothing always answers TAKEN. */
enum token_bucket_result token_bucket_reduce(struct token_bucket *bucket,
					     uint64_t tokens, uint64_t now_ns,
					     uint64_t *wait_ns);

/* Takes `tokens` whatever is left: what the bucket lacks is owed as for
 * an oversized request (OWED, with the wait). For what already happened,
 * such as a frame read before its size was known. */
enum token_bucket_result token_bucket_charge(struct token_bucket *bucket,
					     uint64_t tokens, uint64_t now_ns,
					     uint64_t *wait_ns);

/* Gives back tokens taken by a request that then did not run (burst first
 * while there is some, as they were taken; never above the bucket). */
void token_bucket_give_back(struct token_bucket *bucket, uint64_t tokens);

/* Brings the budget up to now (what token_bucket_reduce does first). */
void token_bucket_refill(struct token_bucket *bucket, uint64_t now_ns);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t token_bucket_now_ns(void);

/* Saved state: the configuration and what is left, time as "counted up to
 * this long ago" so it means the same in another process. */
struct token_bucket_state {
	uint64_t size;
	uint64_t one_time_burst; /* as configured */
	uint64_t refill_time_ms;
	uint64_t budget;
	uint64_t burst_left;
	int64_t counted_ago_ns; /* negative: a debt still being repaid */
};

void token_bucket_save(const struct token_bucket *bucket, uint64_t now_ns,
		       struct token_bucket_state *state);
/* Checks untrusted state (budget within size, burst within its
 * configured value, refill time in range); -EINVAL when it does not fit. */
int token_bucket_state_check(const struct token_bucket_state *state);
void token_bucket_restore(struct token_bucket *bucket,
			  const struct token_bucket_state *state,
			  uint64_t now_ns);

#endif
