/* One line per event on stderr, prefixed with tern's name and the time since
 * tern started, so boot-phase timings can be read straight off the log.
 * With a log file (PUT /logger, the config file's "logger"), each event is
 * instead one logfmt line there: ts=... level=... origin=... msg="...". */
#ifndef TERN_UTIL_LOG_H
#define TERN_UTIL_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The name each stderr line starts with ("tern" unless set; ternd sets
 * its own). Call before any other thread logs. */
void log_set_program(const char *name);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", ... ("off" for LOG_OFF). */
const char *log_level_name(enum log_level level);
/* Firecracker's spelling: "Error", "Warning", "Info", "Debug", "Off". */
const char *log_level_firecracker_name(enum log_level level);
/* Accepts tern's names (error, warn, info, debug) and Firecracker's (Error,
 * Warning, Info, Debug, Trace, Off), case-insensitively. -1 if unknown
 * (LOG_OFF is returned through *level). */
int log_level_parse(const char *text, enum log_level *level);

/* Sends events to path (appended, created 0600) in logfmt; NULL goes back
 * to stderr. show_level and show_origin add those fields. */
int log_open_file(const char *path, int show_level, int show_origin,
		  struct tern_error *err);
void log_close_file(void);

/* Copies text a client sent (a URL, a method) for a log line: at most
 * size - 1 bytes, each control or non-ASCII byte shown as '?', so a
 * request cannot forge log lines or terminal escapes. */
void log_printable_copy(char *out, size_t size, const char *text);
/* Firecracker's logger.module: only events whose module path starts with
 * module are logged (errors always are). An event's module path is its
 * source file under src/ without ".c", "/" written "::": src/api/api_server.c
 * is api::api_server. NULL or "" logs every module. Copied. */
void log_set_module(const char *module);
/* The filter's decision for an event from file (a __FILE__). */
int log_module_matches(const char *filter, const char *file);
/* The log file's descriptor, or -1 (for reports from signal handlers,
 * which cannot take the lock). */
int log_file_fd(void);

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

/* Events a guest can repeat at will (break a ring, reset the device, break
 * it again) must not flood the host's log: one limiter per source (per
 * device) lets LOG_RATELIMIT_BURST lines through per LOG_RATELIMIT_WINDOW_NS
 * and drops the rest; the first line let through after a drop says how
 * many were dropped. Zero-initialised is ready; thread-safe. */
#define LOG_RATELIMIT_BURST 10
#define LOG_RATELIMIT_WINDOW_NS (60ull * 1000000000ull)

struct log_ratelimit {
	uint64_t window_start_ns;
	uint32_t lines; /* let through in this window */
	uint32_t suppressed; /* dropped since the last line let through */
};

/* The decision alone, at time now_ns: 1 to log the line, and then
 * *suppressed is how many were dropped before it (to report); 0 to drop
 * it. */
int log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ns,
			uint32_t *suppressed);

void log_ratelimited_at(struct log_ratelimit *rl, enum log_level level,
			const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define log_ratelimited(rl, level, ...)                                        \
	log_ratelimited_at(rl, level, __FILE__, __LINE__, __VA_ARGS__)

#endif
