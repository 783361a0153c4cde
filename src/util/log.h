/* One line per event on stderr, prefixed with tern's name and the time since
 * tern started, so boot-phase timings can be read straight off the log. */
#ifndef TERN_UTIL_LOG_H
#define TERN_UTIL_LOG_H

#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* Records the process start; call first thing in main. */
void log_mark_start(void);
/* Nanoseconds since log_mark_start(). */
uint64_t log_elapsed_ns(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
