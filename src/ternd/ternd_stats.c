#include "ternd/ternd_stats.h"

#include <time.h>

const double ternd_stats_start_bounds[TERND_STATS_START_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

static struct ternd_stats stats;

static int64_t clock_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const struct ternd_stats *ternd_stats(void)
{
	if (!stats.started_at_ms)
		stats.started_at_ms = clock_us(CLOCK_REALTIME) / 1000;
	return &stats;
}

int64_t ternd_stats_now_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

void ternd_stats_request(unsigned status)
{
	ternd_stats();
	if (status >= 100 && status < 600)
		stats.requests[status / 100]++;
}

void ternd_stats_start(int64_t since_us, int ok)
{
	double seconds = (double)(ternd_stats_now_us() - since_us) / 1e6;
	size_t i = 0;

	if (!ok) {
		stats.start_failures++;
		return;
	}
	stats.starts++;
	stats.start_seconds_sum += seconds;
	while (i < TERND_STATS_START_BUCKETS &&
	       seconds > ternd_stats_start_bounds[i])
		i++;
	if (i < TERND_STATS_START_BUCKETS)
		stats.start_buckets[i]++;
}
