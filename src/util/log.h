/* One line per event on stderr, prefixed with tern's name and the time since
 * tern started, so boot-phase timings can be read straight off the log.
 * With a log file (PUT /logger, the config file's "logger"), each event is
 * instead one logfmt line there: ts=... level=... origin=... msg="...". */
#ifndef TERN_UTIL_LOG_H
#define TERN_UTIL_LOG_H

#include <stdint.h>

#include "util/error.h"

enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", ... ("off" for LOG_OFF). */
const char *log_level_name(enum log_level level);
/* Accepts tern's names (error, warn, info, debug) and Firecracker's (Error,
 * Warning, Info, Debug, Trace, Off), case-insensitively. -1 if unknown
 * (LOG_OFF is returned through *level). */
int log_level_parse(const char *text, enum log_level *level);

/* Sends events to path (appended, created 0600) in logfmt; NULL goes back
 * to stderr. show_level and show_origin add those fields. */
int log_open_file(const char *path, int show_level, int show_origin,
		  struct tern_error *err);
void log_close_file(void);

/* Records the process start; call first thing in main. */
void log_mark_start(void);
/* Nanoseconds since log_mark_start(). */
uint64_t log_elapsed_ns(void);

void log_msg_at(enum log_level level, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_msg(level, ...) log_msg_at(level, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
