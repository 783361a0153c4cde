/* CLOCK_MONOTONIC timerfds as tern's device threads use them: an fd in the
 * thread's epoll set that becomes readable when a deadline passes. The
 * devices (virtio-net's MMDS tick, virtio-vsock's connection limits,
 * virtio-balloon's statistics, the rate limiters) all built the same
 * struct itimerspec by hand; here it is built once, from nanoseconds, and
 * every failure is a negative errno for the caller to act on or report.
 *
 * The one trap these helpers keep callers out of: an it_value of zero
 * disarms the timer instead of firing it, so "arm for 0 ns" (a deadline
 * already due) is made "arm for 1 ns", which fires at once. */
#ifndef TERN_UTIL_TIMER_FD_H
#define TERN_UTIL_TIMER_FD_H

#include <stdint.h>

#define TIMER_FD_NS_PER_MS 1000000ULL

/* A new non-blocking, close-on-exec CLOCK_MONOTONIC timerfd, disarmed;
 * -errno when the host refuses one. */
int timer_fd_create(void);

/* Fires first_ns from now, then every period_ns (0: once). Returns 0 or
 * -errno (EBADF, EINVAL: not a timerfd). */
int timer_fd_arm(int fd, uint64_t first_ns, uint64_t period_ns);

/* Fires when CLOCK_MONOTONIC reaches deadline_ns (at once when it has
 * passed), once. Returns 0 or -errno. */
int timer_fd_arm_at(int fd, uint64_t deadline_ns);

/* Stops the timer; an expiration not yet read stays readable. Returns 0
 * or -errno. */
int timer_fd_disarm(int fd);

#endif
