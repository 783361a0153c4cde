#include "util/timer_fd.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>

#define NS_PER_S 1000000000ULL

static struct timespec timespec_of(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / NS_PER_S),
				 .tv_nsec = (long)(ns % NS_PER_S)};
}

static int settime(int fd, int flags, const struct itimerspec *when)
{
	return timerfd_settime(fd, flags, when, NULL) < 0 ? -errno : 0;
}

int timer_fd_create(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int timer_fd_arm(int fd, uint64_t first_ns, uint64_t period_ns)
{
	struct itimerspec when = {
		/* 0 would disarm; 1 ns is due at once. */
		.it_value = timespec_of(first_ns ? first_ns : 1),
		.it_interval = timespec_of(period_ns),
	};

	return settime(fd, 0, &when);
}

int timer_fd_arm_at(int fd, uint64_t deadline_ns)
{
	struct itimerspec when = {
		.it_value = timespec_of(deadline_ns ? deadline_ns : 1),
	};

	return settime(fd, TFD_TIMER_ABSTIME, &when);
}

int timer_fd_disarm(int fd)
{
	struct itimerspec off = {{0, 0}, {0, 0}};

	return settime(fd, 0, &off);
}
