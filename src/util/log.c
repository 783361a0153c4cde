#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;
static struct timespec start_time;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_mark_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &start_time);
}

uint64_t log_elapsed_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - start_time.tv_sec) * 1000000000ULL +
		(uint64_t)now.tv_nsec - (uint64_t)start_time.tv_nsec;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list args;

	if (level > current_level)
		return;
	va_start(args, fmt);
	vsnprintf(line, sizeof(line), fmt, args);
	va_end(args);
	/* One fprintf per line: stderr is unbuffered, so lines from vCPU
	 * threads do not interleave mid-line. Errors keep the conventional
	 * "prog: message" shape; other levels carry the time. */
	if (level == LOG_ERROR)
		fprintf(stderr, "tern: %s\r\n", line);
	else
		fprintf(stderr, "tern: [%.3f ms] %s: %s\r\n",
			(double)log_elapsed_ns() / 1e6, level_names[level],
			line);
}
