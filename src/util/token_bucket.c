#include "util/token_bucket.h"

#include <errno.h>
#include <time.h>

#define NS_PER_MS 1000000ULL
/* Waits are capped (a bucket of 1 token an hour owed 4 GiB): about 146
 * years, which still fits an int64_t and a timerfd. */
#define WAIT_NS_MAX ((uint64_t)INT64_MAX / 2)

typedef unsigned __int128 u128;

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

void token_bucket_init(struct token_bucket *bucket,
		       const struct token_bucket_config *config,
		       uint64_t now_ns)
{
	uint64_t refill_ns, common;

	*bucket = (struct token_bucket){.config = *config};
	if (!token_bucket_limits(bucket))
		return;
	refill_ns = config->refill_time_ms * NS_PER_MS;
	common = gcd(config->size, refill_ns);

	bucket->rate_tokens = config->size / common;
	bucket->rate_ns = refill_ns / common;
	bucket->budget = config->size;
	bucket->burst_left = config->one_time_burst;
	bucket->counted_until_ns = now_ns;
}

/* Nanoseconds to make `tokens` at the refill rate, rounded up, capped. */
static uint64_t time_for(const struct token_bucket *bucket, uint64_t tokens)
{
	u128 ns = ((u128)tokens * bucket->rate_ns + bucket->rate_tokens - 1) /
		bucket->rate_tokens;

	return ns > WAIT_NS_MAX ? WAIT_NS_MAX : (uint64_t)ns;
}

void token_bucket_refill(struct token_bucket *bucket, uint64_t now_ns)
{
	uint64_t elapsed, tokens;

	if (!token_bucket_limits(bucket) || now_ns <= bucket->counted_until_ns)
		return; /* nothing to count, or a debt is being repaid */
	elapsed = now_ns - bucket->counted_until_ns;
	if (elapsed / NS_PER_MS >= bucket->config.refill_time_ms) {
		bucket->budget = bucket->config.size;
		bucket->counted_until_ns = now_ns;
		return;
	}
	tokens = (uint64_t)((u128)elapsed * bucket->rate_tokens /
			    bucket->rate_ns);
	/* Only the time that made whole tokens is counted: the fraction of
	 * the next one carries over to the next refill. */
	bucket->counted_until_ns += time_for(bucket, tokens);
	bucket->budget = bucket->config.size - bucket->budget > tokens
		? bucket->budget + tokens
		: bucket->config.size;
}

/* Empties the bucket for `tokens` more than it holds and moves its clock
 * past the time the refills need to pay the rest; returns that wait. */
static uint64_t take_and_owe(struct token_bucket *bucket, uint64_t tokens,
			     uint64_t now_ns)
{
	uint64_t owed_ns = time_for(bucket, tokens - bucket->budget);
	uint64_t start = bucket->counted_until_ns > now_ns
		? bucket->counted_until_ns
		: now_ns;

	bucket->budget = 0;
	bucket->counted_until_ns =
		WAIT_NS_MAX - owed_ns < start ? WAIT_NS_MAX : start + owed_ns;
	return bucket->counted_until_ns - now_ns;
}

enum token_bucket_result token_bucket_reduce(struct token_bucket *bucket,
					     uint64_t tokens, uint64_t now_ns,
					     uint64_t *wait_ns)
{
	uint64_t from_burst, rest;

	*wait_ns = 0;
	if (!token_bucket_limits(bucket))
		return TOKEN_BUCKET_TAKEN;
	token_bucket_refill(bucket, now_ns);
	from_burst = tokens < bucket->burst_left ? tokens : bucket->burst_left;
	rest = tokens - from_burst;
	if (rest <= bucket->budget) {
		bucket->burst_left -= from_burst;
		bucket->budget -= rest;
		return TOKEN_BUCKET_TAKEN;
	}
	if (rest <= bucket->config.size) {
		/* It will fit once the bucket has refilled enough: after a
		 * debt still being repaid, less the time already counted
		 * towards the next token. */
		uint64_t need = time_for(bucket, rest - bucket->budget);

		if (bucket->counted_until_ns > now_ns)
			*wait_ns = bucket->counted_until_ns - now_ns + need;
		else if (need > now_ns - bucket->counted_until_ns)
			*wait_ns = need - (now_ns - bucket->counted_until_ns);
		else
			*wait_ns = 1;
		return TOKEN_BUCKET_EMPTY;
	}
	/* Larger than the bucket can ever hold: served now, paid for by
	 * the refills to come, during which the bucket stays empty. */
	bucket->burst_left -= from_burst;
	*wait_ns = take_and_owe(bucket, rest, now_ns);
	return TOKEN_BUCKET_OWED;
}

enum token_bucket_result token_bucket_charge(struct token_bucket *bucket,
					     uint64_t tokens, uint64_t now_ns,
					     uint64_t *wait_ns)
{
	uint64_t from_burst, rest;

	*wait_ns = 0;
	if (!token_bucket_limits(bucket))
		return TOKEN_BUCKET_TAKEN;
	token_bucket_refill(bucket, now_ns);
	from_burst = tokens < bucket->burst_left ? tokens : bucket->burst_left;
	rest = tokens - from_burst;
	bucket->burst_left -= from_burst;
	if (rest <= bucket->budget) {
		bucket->budget -= rest;
		return TOKEN_BUCKET_TAKEN;
	}
	*wait_ns = take_and_owe(bucket, rest, now_ns);
	return TOKEN_BUCKET_OWED;
}

void token_bucket_give_back(struct token_bucket *bucket, uint64_t tokens)
{
	uint64_t room;

	if (!token_bucket_limits(bucket))
		return;
	if (bucket->burst_left) {
		room = bucket->config.one_time_burst - bucket->burst_left;
		bucket->burst_left += tokens < room ? tokens : room;
		return;
	}
	room = bucket->config.size - bucket->budget;
	bucket->budget += tokens < room ? tokens : room;
}

uint64_t token_bucket_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void token_bucket_save(const struct token_bucket *bucket, uint64_t now_ns,
		       struct token_bucket_state *state)
{
	*state = (struct token_bucket_state){
		.size = bucket->config.size,
		.one_time_burst = bucket->config.one_time_burst,
		.refill_time_ms = bucket->config.refill_time_ms,
		.budget = bucket->budget,
		.burst_left = bucket->burst_left,
		.counted_ago_ns =
			(int64_t)now_ns - (int64_t)bucket->counted_until_ns,
	};
}

int token_bucket_state_check(const struct token_bucket_state *state)
{
	struct token_bucket_config config = {state->size, state->one_time_burst,
					     state->refill_time_ms};

	if (!token_bucket_config_limits(&config))
		return 0; /* a bucket that limits nothing: the rest unused */
	if (state->refill_time_ms > TOKEN_BUCKET_REFILL_MS_MAX ||
	    state->budget > state->size ||
	    state->burst_left > state->one_time_burst ||
	    state->counted_ago_ns < -(int64_t)WAIT_NS_MAX)
		return -EINVAL;
	return 0;
}

void token_bucket_restore(struct token_bucket *bucket,
			  const struct token_bucket_state *state,
			  uint64_t now_ns)
{
	struct token_bucket_config config = {state->size, state->one_time_burst,
					     state->refill_time_ms};

	token_bucket_init(bucket, &config, now_ns);
	if (!token_bucket_limits(bucket))
		return;
	bucket->budget = state->budget;
	bucket->burst_left = state->burst_left;
	/* Time that passed in the old process beyond a full refill changes
	 * nothing; a debt goes on being repaid here. */
	if (state->counted_ago_ns >= 0)
		bucket->counted_until_ns =
			(uint64_t)state->counted_ago_ns > now_ns
			? 0
			: now_ns - (uint64_t)state->counted_ago_ns;
	else
		bucket->counted_until_ns =
			now_ns + (uint64_t)(-state->counted_ago_ns);
}
