/* The log rate limiter (util/log.h): a burst gets through, the rest of
 * the minute is dropped, and the next line says how many were. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define SECOND 1000000000ull

static void a_burst_then_silence_then_a_count(void **state)
{
	struct log_ratelimit rl = {0};
	uint64_t t = 5 * SECOND;
	uint32_t suppressed = 99;

	for (int i = 0; i < LOG_RATELIMIT_BURST; i++) {
		assert_true(
			log_ratelimit_allow(&rl, t + (uint64_t)i, &suppressed));
		assert_int_equal(suppressed, 0);
	}
	/* A guest resetting its device in a loop: nothing more this minute. */
	for (int i = 0; i < 1000; i++)
		assert_false(log_ratelimit_allow(&rl, t + SECOND, &suppressed));
	assert_false(log_ratelimit_allow(&rl, t + LOG_RATELIMIT_WINDOW_NS - 1,
					 &suppressed));
	/* The next window: let through, with the count of what was not. */
	assert_true(log_ratelimit_allow(&rl, t + LOG_RATELIMIT_WINDOW_NS,
					&suppressed));
	assert_int_equal(suppressed, 1001);
	assert_true(log_ratelimit_allow(&rl, t + LOG_RATELIMIT_WINDOW_NS + 1,
					&suppressed));
	assert_int_equal(suppressed, 0);
}

/* One limiter per device: a noisy one does not silence another. */
static void limiters_are_independent(void **state)
{
	struct log_ratelimit noisy = {0}, quiet = {0};
	uint32_t suppressed;

	for (int i = 0; i < 3 * LOG_RATELIMIT_BURST; i++)
		log_ratelimit_allow(&noisy, SECOND, &suppressed);
	assert_false(log_ratelimit_allow(&noisy, SECOND, &suppressed));
	assert_true(log_ratelimit_allow(&quiet, SECOND, &suppressed));
}

/* At time 0 (a limiter used right at tern's start) the first window
 * opens too. */
static void works_from_time_zero(void **state)
{
	struct log_ratelimit rl = {0};
	uint32_t suppressed;
	int allowed = 0;

	for (int i = 0; i < 2 * LOG_RATELIMIT_BURST; i++)
		allowed += log_ratelimit_allow(&rl, 0, &suppressed);
	assert_int_equal(allowed, LOG_RATELIMIT_BURST);
}

/* The logging call itself: lines past the burst are not written (checked
 * through the log file). */
static void ratelimited_lines_reach_the_log_once_per_burst(void **state)
{
	char path[] = "/tmp/tern-ratelimit-XXXXXX";
	struct tern_error err = {{0}};
	struct log_ratelimit rl = {0};
	char buf[65536];
	int fd = mkstemp(path), lines = 0;
	ssize_t n;

	assert_true(fd >= 0);
	close(fd);
	log_mark_start();
	log_set_level(LOG_INFO);
	assert_int_equal(log_open_file(path, 1, 0, &err), 0);
	for (int i = 0; i < 100; i++)
		log_ratelimited(&rl, LOG_WARN, "device needs reset: %d", i);
	log_close_file();
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, LOG_RATELIMIT_BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_burst_then_silence_then_a_count),
		cmocka_unit_test(limiters_are_independent),
		cmocka_unit_test(works_from_time_zero),
		cmocka_unit_test(
			ratelimited_lines_reach_the_log_once_per_burst),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
