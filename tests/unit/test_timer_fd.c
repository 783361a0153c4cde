#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util/timer_fd.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Expirations read from fd after waiting up to timeout_ms for one. */
static uint64_t expirations(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t n = 0;

	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	assert_int_equal(read(fd, &n, sizeof(n)), sizeof(n));
	return n;
}

static void created_disarmed_nonblocking_cloexec(void **state)
{
	int fd = timer_fd_create();
	struct itimerspec cur;
	uint64_t n;

	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(timerfd_gettime(fd, &cur), 0);
	assert_int_equal(cur.it_value.tv_sec, 0);
	assert_int_equal(cur.it_value.tv_nsec, 0);
	/* Not armed: a read does not block, it fails. */
	assert_int_equal(read(fd, &n, sizeof(n)), -1);
	assert_int_equal(errno, EAGAIN);
	close(fd);
}

/* Nanoseconds split into seconds and nanoseconds, the period kept. */
static void arm_relative_and_periodic(void **state)
{
	int fd = timer_fd_create();
	struct itimerspec cur;

	assert_true(fd >= 0);
	assert_int_equal(timer_fd_arm(fd, 5500000000ULL, 200000000ULL), 0);
	assert_int_equal(timerfd_gettime(fd, &cur), 0);
	assert_int_equal(cur.it_value.tv_sec, 5);
	assert_true(cur.it_value.tv_nsec > 400000000L);
	assert_int_equal(cur.it_interval.tv_sec, 0);
	assert_int_equal(cur.it_interval.tv_nsec, 200000000L);
	/* A period of 1 ms: it fires again and again. */
	assert_int_equal(
		timer_fd_arm(fd, TIMER_FD_NS_PER_MS, TIMER_FD_NS_PER_MS), 0);
	assert_true(expirations(fd, 1000) >= 1);
	assert_true(expirations(fd, 1000) >= 1);
	/* One shot of 1 ms: once, then nothing. */
	assert_int_equal(timer_fd_arm(fd, TIMER_FD_NS_PER_MS, 0), 0);
	assert_int_equal(expirations(fd, 1000), 1);
	assert_int_equal(expirations(fd, 50), 0);
	close(fd);
}

/* A zero it_value would disarm: "now" must fire instead. */
static void zero_fires_at_once(void **state)
{
	int fd = timer_fd_create();

	assert_true(fd >= 0);
	assert_int_equal(timer_fd_arm(fd, 0, 0), 0);
	assert_int_equal(expirations(fd, 1000), 1);
	assert_int_equal(timer_fd_arm_at(fd, 0), 0);
	assert_int_equal(expirations(fd, 1000), 1);
	close(fd);
}

static void arm_at_an_absolute_deadline(void **state)
{
	int fd = timer_fd_create();
	uint64_t start = now_ns();
	struct itimerspec cur;

	assert_true(fd >= 0);
	/* Passed already: due at once. */
	assert_int_equal(timer_fd_arm_at(fd, start - 1000), 0);
	assert_int_equal(expirations(fd, 1000), 1);
	/* 20 ms ahead: not before. */
	assert_int_equal(timer_fd_arm_at(fd, start + 20 * TIMER_FD_NS_PER_MS),
			 0);
	assert_int_equal(expirations(fd, 1000), 1);
	assert_true(now_ns() >= start + 20 * TIMER_FD_NS_PER_MS);
	/* Far ahead: gettime shows the time left, once. */
	assert_int_equal(timer_fd_arm_at(fd, now_ns() + 3600000000000ULL), 0);
	assert_int_equal(timerfd_gettime(fd, &cur), 0);
	assert_true(cur.it_value.tv_sec >= 3599 && cur.it_value.tv_sec <= 3600);
	assert_int_equal(cur.it_interval.tv_sec, 0);
	assert_int_equal(cur.it_interval.tv_nsec, 0);
	close(fd);
}

static void disarm_stops_it(void **state)
{
	int fd = timer_fd_create();
	struct itimerspec cur;

	assert_true(fd >= 0);
	assert_int_equal(timer_fd_arm(fd, 30 * TIMER_FD_NS_PER_MS,
				      30 * TIMER_FD_NS_PER_MS),
			 0);
	assert_int_equal(timer_fd_disarm(fd), 0);
	assert_int_equal(timerfd_gettime(fd, &cur), 0);
	assert_int_equal(cur.it_value.tv_sec, 0);
	assert_int_equal(cur.it_value.tv_nsec, 0);
	assert_int_equal(cur.it_interval.tv_nsec, 0);
	assert_int_equal(expirations(fd, 100), 0);
	/* Disarming a disarmed timer is fine. */
	assert_int_equal(timer_fd_disarm(fd), 0);
	close(fd);
}

/* Failures come back as -errno, for the caller to report. */
static void errors_are_negative_errno(void **state)
{
	int fd = timer_fd_create(), not_timer[2];

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(timer_fd_arm(fd, 1000, 0), -EBADF);
	assert_int_equal(timer_fd_arm_at(fd, 1000), -EBADF);
	assert_int_equal(timer_fd_disarm(fd), -EBADF);
	assert_int_equal(timer_fd_arm(-1, 1000, 0), -EBADF);
	assert_int_equal(pipe(not_timer), 0);
	assert_int_equal(timer_fd_arm(not_timer[0], 1000, 0), -EINVAL);
	assert_int_equal(timer_fd_disarm(not_timer[0]), -EINVAL);
	close(not_timer[0]);
	close(not_timer[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(created_disarmed_nonblocking_cloexec),
		cmocka_unit_test(arm_relative_and_periodic),
		cmocka_unit_test(zero_fires_at_once),
		cmocka_unit_test(arm_at_an_absolute_deadline),
		cmocka_unit_test(disarm_stops_it),
		cmocka_unit_test(errors_are_negative_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
