#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>

#include "util/rate_limiter.h"
#include "util/token_bucket.h"

#define MS 1000000ULL
#define T0 (1000 * MS) /* an arbitrary start time */

static struct token_bucket bucket_of(uint64_t size, uint64_t burst,
				     uint64_t refill_ms)
{
	struct token_bucket_config config = {size, burst, refill_ms};
	struct token_bucket bucket;

	token_bucket_init(&bucket, &config, T0);
	return bucket;
}

static enum token_bucket_result reduce(struct token_bucket *b, uint64_t n,
				       uint64_t now, uint64_t *wait)
{
	return token_bucket_reduce(b, n, now, wait);
}

static void size_or_refill_zero_limits_nothing(void **state)
{
	struct token_bucket none = bucket_of(0, 0, 100);
	struct token_bucket no_refill = bucket_of(1000, 0, 0);
	uint64_t wait;

	assert_false(token_bucket_limits(&none));
	assert_false(token_bucket_limits(&no_refill));
	for (int i = 0; i < 100; i++) {
		assert_int_equal(reduce(&none, 1ULL << 40, T0, &wait),
				 TOKEN_BUCKET_TAKEN);
		assert_int_equal(reduce(&no_refill, 1ULL << 40, T0, &wait),
				 TOKEN_BUCKET_TAKEN);
		assert_int_equal(wait, 0);
	}
}

static void starts_full_then_refuses_without_taking(void **state)
{
	struct token_bucket b = bucket_of(1000, 0, 1000);
	uint64_t wait;

	assert_int_equal(reduce(&b, 600, T0, &wait), TOKEN_BUCKET_TAKEN);
	assert_int_equal(b.budget, 400);
	assert_int_equal(reduce(&b, 500, T0, &wait), TOKEN_BUCKET_EMPTY);
	/* 100 tokens missing at 1 token/ms */
	assert_int_equal(wait, 100 * MS);
	assert_int_equal(b.budget, 400); /* nothing taken */
	assert_int_equal(reduce(&b, 400, T0, &wait), TOKEN_BUCKET_TAKEN);
	assert_int_equal(b.budget, 0);
}

static void refills_at_its_rate_and_never_above_size(void **state)
{
	struct token_bucket b = bucket_of(1000, 0, 1000);
	uint64_t wait;

	assert_int_equal(reduce(&b, 1000, T0, &wait), TOKEN_BUCKET_TAKEN);
	token_bucket_refill(&b, T0 + 250 * MS);
	assert_int_equal(b.budget, 250);
	token_bucket_refill(&b, T0 + 10000 * MS);
	assert_int_equal(b.budget, 1000);
}

static void fractions_of_a_token_carry_over(void **state)
{
	/* 3 tokens per second: one every 333.33 ms. */
	struct token_bucket b = bucket_of(3, 0, 1000);
	uint64_t wait, now = T0;
	int got = 0;

	assert_int_equal(reduce(&b, 3, now, &wait), TOKEN_BUCKET_TAKEN);
	/* Refilled every 100 ms for 10 s: 30 tokens, not fewer (counted
	 * time rounds up to whole nanoseconds: the 30th is due a few ns
	 * after 10 s). */
	for (int i = 0; i < 100; i++) {
		now += 100 * MS;
		if (reduce(&b, 1, now, &wait) == TOKEN_BUCKET_TAKEN)
			got++;
	}
	if (reduce(&b, 1, now + 1000, &wait) == TOKEN_BUCKET_TAKEN)
		got++;
	assert_int_equal(got, 30);
}

static void wait_given_is_exactly_enough(void **state)
{
	struct token_bucket b = bucket_of(1000, 0, 1000);
	uint64_t wait, again;

	assert_int_equal(reduce(&b, 1000, T0, &wait), TOKEN_BUCKET_TAKEN);
	assert_int_equal(reduce(&b, 300, T0 + 50 * MS, &wait),
			 TOKEN_BUCKET_EMPTY);
	assert_int_equal(wait, 250 * MS);
	assert_int_equal(reduce(&b, 300, T0 + 50 * MS + wait - 1, &again),
			 TOKEN_BUCKET_EMPTY);
	assert_int_equal(reduce(&b, 300, T0 + 50 * MS + wait, &again),
			 TOKEN_BUCKET_TAKEN);
}

static void one_time_burst_goes_first_and_never_returns(void **state)
{
	struct token_bucket b = bucket_of(100, 500, 1000);
	uint64_t wait;

	assert_int_equal(reduce(&b, 450, T0, &wait), TOKEN_BUCKET_TAKEN);
	assert_int_equal(b.burst_left, 50);
	assert_int_equal(b.budget, 100);
	/* The rest of the burst, then the bucket. */
	assert_int_equal(reduce(&b, 120, T0, &wait), TOKEN_BUCKET_TAKEN);
	assert_int_equal(b.burst_left, 0);
	assert_int_equal(b.budget, 30);
	token_bucket_refill(&b, T0 + 60000 * MS);
	assert_int_equal(b.budget, 100);
	assert_int_equal(b.burst_left, 0);
	/* A refusal does not spend the burst. */
	b = bucket_of(100, 10, 1000);
	assert_int_equal(reduce(&b, 100, T0, &wait), TOKEN_BUCKET_TAKEN);
	assert_int_equal(reduce(&b, 95, T0, &wait), TOKEN_BUCKET_EMPTY);
	assert_int_equal(b.burst_left, 0);
	b = bucket_of(100, 10, 1000);
	assert_int_equal(reduce(&b, 95, T0, &wait), TOKEN_BUCKET_TAKEN);
	assert_int_equal(reduce(&b, 95, T0, &wait), TOKEN_BUCKET_EMPTY);
	assert_int_equal(b.burst_left, 0);
	assert_int_equal(b.budget, 15);
}

static void oversized_request_is_served_and_owed(void **state)
{
	struct token_bucket b = bucket_of(1000, 0, 1000);
	uint64_t wait;

	/* 2500 from a full bucket of 1000: 1500 owed, 1.5 s. */
	assert_int_equal(reduce(&b, 2500, T0, &wait), TOKEN_BUCKET_OWED);
	assert_int_equal(wait, 1500 * MS);
	assert_int_equal(b.budget, 0);
	/* While the debt is repaid nothing comes in. */
	token_bucket_refill(&b, T0 + 1400 * MS);
	assert_int_equal(b.budget, 0);
	assert_int_equal(reduce(&b, 1, T0 + 1400 * MS, &wait),
			 TOKEN_BUCKET_EMPTY);
	assert_int_equal(wait, 100 * MS + 1 * MS);
	/* Then the refill goes on at the rate. */
	token_bucket_refill(&b, T0 + 1600 * MS);
	assert_int_equal(b.budget, 100);
	/* Over the long run: 10 requests of 2500 = 25 s of refill. */
	b = bucket_of(1000, 0, 1000);
	uint64_t now = T0;
	for (int i = 0; i < 10; i++) {
		assert_int_equal(reduce(&b, 2500, now, &wait),
				 TOKEN_BUCKET_OWED);
		now += wait;
	}
	assert_int_equal(now - T0, 24000 * MS); /* the first 1000 free */
}

static void charge_never_refuses_and_owes_the_rest(void **state)
{
	struct token_bucket b = bucket_of(1000, 0, 1000);
	uint64_t wait;

	assert_int_equal(token_bucket_charge(&b, 800, T0, &wait),
			 TOKEN_BUCKET_TAKEN);
	assert_int_equal(token_bucket_charge(&b, 500, T0, &wait),
			 TOKEN_BUCKET_OWED);
	assert_int_equal(wait, 300 * MS);
	assert_int_equal(b.budget, 0);
}

static void give_back_restores_what_was_taken(void **state)
{
	struct token_bucket b = bucket_of(10, 0, 1000);
	uint64_t wait;

	assert_int_equal(reduce(&b, 4, T0, &wait), TOKEN_BUCKET_TAKEN);
	token_bucket_give_back(&b, 4);
	assert_int_equal(b.budget, 10);
	token_bucket_give_back(&b, 4);
	assert_int_equal(b.budget, 10); /* never above the size */
}

static void huge_values_do_not_overflow(void **state)
{
	struct token_bucket b =
		bucket_of(UINT64_MAX, 0, TOKEN_BUCKET_REFILL_MS_MAX);
	struct token_bucket slow = bucket_of(1, 0, TOKEN_BUCKET_REFILL_MS_MAX);
	uint64_t wait;

	assert_int_equal(reduce(&b, UINT64_MAX, T0, &wait), TOKEN_BUCKET_TAKEN);
	token_bucket_refill(&b, UINT64_MAX);
	assert_int_equal(reduce(&slow, UINT64_MAX, T0, &wait),
			 TOKEN_BUCKET_OWED);
	assert_true(wait > 0 && wait <= (uint64_t)INT64_MAX);
}

static void save_and_restore_keep_budget_and_debt(void **state)
{
	struct token_bucket b = bucket_of(1000, 300, 1000), restored;
	struct token_bucket_state saved;
	uint64_t wait;

	assert_int_equal(reduce(&b, 500, T0, &wait), TOKEN_BUCKET_TAKEN);
	token_bucket_save(&b, T0, &saved);
	assert_int_equal(token_bucket_state_check(&saved), 0);
	token_bucket_restore(&restored, &saved, 5 * T0);
	assert_int_equal(restored.budget, 800);
	assert_int_equal(restored.burst_left, 0);
	assert_int_equal(restored.config.one_time_burst, 300);
	/* a debt of 1 s goes on being owed */
	assert_int_equal(reduce(&b, 3000, T0, &wait), TOKEN_BUCKET_OWED);
	token_bucket_save(&b, T0, &saved);
	assert_true(saved.counted_ago_ns < 0);
	token_bucket_restore(&restored, &saved, 7 * T0);
	token_bucket_refill(&restored, 7 * T0 + wait - MS);
	assert_int_equal(restored.budget, 0);
	/* Hostile states are refused. */
	saved.budget = 1001;
	assert_int_equal(token_bucket_state_check(&saved), -22);
	token_bucket_save(&b, T0, &saved);
	saved.burst_left = 301;
	assert_int_equal(token_bucket_state_check(&saved), -22);
	token_bucket_save(&b, T0, &saved);
	saved.refill_time_ms = UINT64_MAX;
	assert_int_equal(token_bucket_state_check(&saved), -22);
}

static bool timer_fires_within(const struct rate_limiter *rl, int ms)
{
	struct pollfd p = {.fd = rate_limiter_timer_fd(rl), .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

static void limiter_blocks_and_its_timer_reopens_it(void **state)
{
	/* 1 op per 50 ms, bandwidth unlimited. */
	struct rate_limiter_config config = {.ops = {1, 0, 50}};
	struct rate_limiter rl;
	struct tern_error err;

	assert_int_equal(rate_limiter_init(&rl, &config, &err), 0);
	assert_true(rate_limiter_consume(&rl, 4096));
	assert_false(rate_limiter_consume(&rl, 4096));
	assert_true(rl.blocked);
	/* Blocked: no questions asked until the timer fires. */
	assert_false(rate_limiter_consume(&rl, 0));
	assert_true(timer_fires_within(&rl, 1000));
	rate_limiter_timer_fired(&rl);
	assert_false(rl.blocked);
	assert_true(rate_limiter_consume(&rl, 4096));
	rate_limiter_destroy(&rl);
}

static void bytes_refusal_gives_the_op_back(void **state)
{
	struct rate_limiter_config config = {.bandwidth = {1000, 0, 1000},
					     .ops = {2, 0, 100000}};
	struct rate_limiter rl;
	struct tern_error err;

	assert_int_equal(rate_limiter_init(&rl, &config, &err), 0);
	assert_true(rate_limiter_consume(&rl, 900));
	assert_false(rate_limiter_consume(&rl, 900));
	assert_int_equal(rl.ops.budget, 1);
	rate_limiter_destroy(&rl);
}

static void oversized_request_passes_then_blocks(void **state)
{
	struct rate_limiter_config config = {.bandwidth = {1000, 0, 20}};
	struct rate_limiter rl;
	struct tern_error err;

	assert_int_equal(rate_limiter_init(&rl, &config, &err), 0);
	assert_true(rate_limiter_consume(&rl, 1ULL << 20));
	assert_true(rl.blocked);
	assert_false(rate_limiter_consume(&rl, 1));
	rate_limiter_destroy(&rl);
}

static void update_replaces_or_keeps_each_bucket(void **state)
{
	struct rate_limiter_config config = {.bandwidth = {1000, 0, 1000},
					     .ops = {10, 0, 1000}};
	struct rate_limiter_update update = {.set_bandwidth = true};
	struct rate_limiter_config now;
	struct rate_limiter rl;
	struct tern_error err;

	assert_int_equal(rate_limiter_init(&rl, &config, &err), 0);
	/* bandwidth turned off (size 0), ops kept */
	rate_limiter_update(&rl, &update);
	rate_limiter_get_config(&rl, &now);
	assert_false(token_bucket_config_limits(&now.bandwidth));
	assert_int_equal(now.ops.size, 10);
	/* The device's thread is woken at once to look again. */
	assert_true(timer_fires_within(&rl, 1000));
	rate_limiter_timer_fired(&rl);
	update = (struct rate_limiter_update){.set_ops = true,
					      .config.ops = {5, 7, 300}};
	rate_limiter_update(&rl, &update);
	rate_limiter_get_config(&rl, &now);
	assert_int_equal(now.ops.size, 5);
	assert_int_equal(now.ops.one_time_burst, 7);
	assert_int_equal(now.ops.refill_time_ms, 300);
	assert_int_equal(rl.ops.budget, 5); /* full */
	rate_limiter_destroy(&rl);
}

static void limiter_state_round_trip(void **state)
{
	struct rate_limiter_config config = {.bandwidth = {1000, 0, 1000}};
	struct rate_limiter rl, other;
	struct rate_limiter_config empty = {0};
	struct rate_limiter_state saved;
	struct tern_error err;

	assert_int_equal(rate_limiter_init(&rl, &config, &err), 0);
	assert_int_equal(rate_limiter_init(&other, &empty, &err), 0);
	assert_true(rate_limiter_consume(&rl, 600));
	rate_limiter_save(&rl, &saved);
	assert_int_equal(rate_limiter_state_check(&saved), 0);
	rate_limiter_restore(&other, &saved);
	assert_true(rate_limiter_limits(&other));
	assert_true(other.bandwidth.budget >= 400 &&
		    other.bandwidth.budget < 1000);
	rate_limiter_destroy(&rl);
	rate_limiter_destroy(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(size_or_refill_zero_limits_nothing),
		cmocka_unit_test(starts_full_then_refuses_without_taking),
		cmocka_unit_test(refills_at_its_rate_and_never_above_size),
		cmocka_unit_test(fractions_of_a_token_carry_over),
		cmocka_unit_test(wait_given_is_exactly_enough),
		cmocka_unit_test(one_time_burst_goes_first_and_never_returns),
		cmocka_unit_test(oversized_request_is_served_and_owed),
		cmocka_unit_test(charge_never_refuses_and_owes_the_rest),
		cmocka_unit_test(give_back_restores_what_was_taken),
		cmocka_unit_test(huge_values_do_not_overflow),
		cmocka_unit_test(save_and_restore_keep_budget_and_debt),
		cmocka_unit_test(limiter_blocks_and_its_timer_reopens_it),
		cmocka_unit_test(bytes_refusal_gives_the_op_back),
		cmocka_unit_test(oversized_request_passes_then_blocks),
		cmocka_unit_test(update_replaces_or_keeps_each_bucket),
		cmocka_unit_test(limiter_state_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
