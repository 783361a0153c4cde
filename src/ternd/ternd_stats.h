/* What ternd counts about itself for GET /v1/metrics (metrics_routes.c):
 * the requests it answered, by status, and how long VM starts took. Kept
 * in memory since this ternd started (counters restart with ternd, as a
 * Prometheus counter may). Single-threaded, as the rest of ternd. */
#ifndef TERN_TERND_TERND_STATS_H
#define TERN_TERND_TERND_STATS_H

#include <stddef.h>
#include <stdint.h>

/* The start-latency histogram's upper bounds, seconds (+Inf is implied). */
#define TERND_STATS_START_BUCKETS 10
extern const double ternd_stats_start_bounds[TERND_STATS_START_BUCKETS];

struct ternd_stats {
	/* Requests answered, by status class: [1] 1xx ... [5] 5xx. */
	uint64_t requests[6];
	uint64_t start_buckets[TERND_STATS_START_BUCKETS]; /* not cumulative */
	uint64_t starts; /* successful starts (the histogram's count) */
	double start_seconds_sum;
	uint64_t start_failures;
	int64_t started_at_ms; /* Unix time, ms: when this ternd started */
};

const struct ternd_stats *ternd_stats(void);
/* Monotonic microseconds, for timing a start. */
int64_t ternd_stats_now_us(void);
void ternd_stats_request(unsigned status);
/* A start that began at since_us (ternd_stats_now_us()): ok or not. */
void ternd_stats_start(int64_t since_us, int ok);

#endif
