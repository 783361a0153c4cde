#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util/host_path.h"

static _Atomic int current_level = LOG_INFO;
/* Set once at start, before any thread logs. */
static const char *program_name = "tern";
static struct timespec start_time;

/* The log file is swapped by the API thread while vCPU threads log. */
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static int file_show_level;
static int file_show_origin;
/* Set before the threads that log start (configuration time). */
static char module_filter[129];

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_program(const char *name)
{
	program_name = name;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return (enum log_level)current_level;
}

const char *log_level_firecracker_name(enum log_level level)
{
	static const char *const names[] = {
		[LOG_ERROR] = "Error",
		[LOG_WARN] = "Warning",
		[LOG_INFO] = "Info",
		[LOG_DEBUG] = "Debug",
	};

	if (level < LOG_ERROR || level > LOG_DEBUG)
		return "Off";
	return names[level];
}

void log_set_module(const char *module)
{
	pthread_mutex_lock(&file_lock);
	snprintf(module_filter, sizeof(module_filter), "%s",
		 module ? module : "");
	pthread_mutex_unlock(&file_lock);
}

int log_module_matches(const char *filter, const char *file)
{
	const char *src = strstr(file, "src/");
	const char *p = src ? src + 4 : file;
	const char *f = filter;

	while (*f) {
		if (f[0] == ':' && f[1] == ':' && *p == '/') {
			f += 2;
			p++;
		} else if (*p && *p != '.' && *p != '/' && *f == *p) {
			f++;
			p++;
		} else {
			return 0;
		}
	}
	return 1;
}

const char *log_level_name(enum log_level level)
{
	if (level < LOG_ERROR || level > LOG_DEBUG)
		return "off";
	return level_names[level];
}

int log_level_parse(const char *text, enum log_level *level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{"error", LOG_ERROR},  {"warn", LOG_WARN},
		{"warning", LOG_WARN}, {"info", LOG_INFO},
		{"debug", LOG_DEBUG},  {"trace", LOG_DEBUG},
		{"off", LOG_OFF},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(text, names[i].name)) {
			*level = names[i].level;
			return 0;
		}
	}
	return -1;
}

int log_open_file(const char *path, int show_level, int show_origin,
		  struct tern_error *err)
{
	int fd = -1;

	if (path) {
		/* O_NONBLOCK: a named pipe nobody reads must not stall a vCPU
		 * that logs; lines that do not fit are dropped. */
		fd = host_path_open_output(path, O_NONBLOCK, 0600, "log file",
					   err);
		if (fd < 0)
			return fd;
	}
	pthread_mutex_lock(&file_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	file_show_level = show_level;
	file_show_origin = show_origin;
	pthread_mutex_unlock(&file_lock);
	return 0;
}

void log_close_file(void)
{
	log_open_file(NULL, 0, 0, NULL);
}

int log_file_fd(void)
{
	return __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
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

/* logfmt quoting: backslash and double quote escaped, control characters
 * shown as \n or \xHH, so one event is always one line. */
static size_t quote_value(char *out, size_t room, const char *text)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		char buf[5];
		size_t len;

		if (*p == '"' || *p == '\\')
			len = (size_t)snprintf(buf, sizeof(buf), "\\%c", *p);
		else if (*p == '\n')
			len = (size_t)snprintf(buf, sizeof(buf), "\\n");
		else if (*p < 0x20 || *p == 0x7f)
			len = (size_t)snprintf(buf, sizeof(buf), "\\x%02x", *p);
		else
			len = (size_t)snprintf(buf, sizeof(buf), "%c", *p);
		if (n + len + 1 > room)
			break;
		memcpy(out + n, buf, len);
		n += len;
	}
	out[n] = '\0';
	return n;
}

static void write_logfmt(enum log_level level, const char *file, int line,
			 const char *message)
{
	char quoted[2048], record[2560];
	struct timespec now;
	struct tm utc;
	int len;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &utc);
	quote_value(quoted, sizeof(quoted), message);
	len = snprintf(record, sizeof(record),
		       "ts=%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ "
		       "elapsed_ms=%.3f",
		       utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
		       utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000,
		       (double)log_elapsed_ns() / 1e6);
	if (file_show_level)
		len += snprintf(record + len, sizeof(record) - (size_t)len,
				" level=%s", level_names[level]);
	if (file_show_origin) {
		const char *base = strrchr(file, '/');

		len += snprintf(record + len, sizeof(record) - (size_t)len,
				" origin=%s:%d", base ? base + 1 : file, line);
	}
	len += snprintf(record + len, sizeof(record) - (size_t)len,
			" msg=\"%s\"\n", quoted);
	if (len > (int)sizeof(record))
		len = (int)sizeof(record);
	/* One write per line, O_APPEND: lines never interleave. */
	if (write(log_fd, record, (size_t)len) < 0 && errno != EAGAIN)
		return;
}

static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

int log_ratelimit_allow(struct log_ratelimit *rl, uint64_t now_ns,
			uint32_t *suppressed)
{
	int allow;

	pthread_mutex_lock(&ratelimit_lock);
	if (!rl->lines ||
	    now_ns - rl->window_start_ns >= LOG_RATELIMIT_WINDOW_NS) {
		rl->window_start_ns = now_ns;
		rl->lines = 0;
	}
	allow = rl->lines < LOG_RATELIMIT_BURST;
	if (allow) {
		rl->lines++;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else if (rl->suppressed < UINT32_MAX) {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&ratelimit_lock);
	return allow;
}

void log_ratelimited_at(struct log_ratelimit *rl, enum log_level level,
			const char *file, int line, const char *fmt, ...)
{
	char message[1024];
	uint32_t suppressed;
	va_list args;

	if ((int)level > current_level ||
	    !log_ratelimit_allow(rl, log_elapsed_ns(), &suppressed))
		return;
	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	if (suppressed)
		log_msg_at(level, file, line,
			   "%s (%u more like it suppressed before: at most %d "
			   "a minute)",
			   message, suppressed, LOG_RATELIMIT_BURST);
	else
		log_msg_at(level, file, line, "%s", message);
}

void log_msg_at(enum log_level level, const char *file, int line,
		const char *fmt, ...)
{
	char message[1024];
	va_list args;

	if ((int)level > current_level)
		return;
	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);

	pthread_mutex_lock(&file_lock);
	if (level != LOG_ERROR && module_filter[0] &&
	    !log_module_matches(module_filter, file)) {
		pthread_mutex_unlock(&file_lock);
		return;
	}
	if (log_fd >= 0) {
		write_logfmt(level, file, line, message);
		pthread_mutex_unlock(&file_lock);
		/* Errors also reach stderr: whoever started tern sees why it
		 * stopped without reading the log file. */
		if (level != LOG_ERROR)
			return;
	} else {
		pthread_mutex_unlock(&file_lock);
	}
	/* One fprintf per line: stderr is unbuffered, so lines from vCPU
	 * threads do not interleave mid-line. Errors keep the conventional
	 * "prog: message" shape; other levels carry the time. */
	if (level == LOG_ERROR)
		fprintf(stderr, "%s: %s\r\n", program_name, message);
	else
		fprintf(stderr, "%s: [%.3f ms] %s: %s\r\n", program_name,
			(double)log_elapsed_ns() / 1e6,
			level == LOG_WARN ? "warning" : level_names[level],
			message);
}

void log_printable_copy(char *out, size_t size, const char *text)
{
	size_t i;

	for (i = 0; i + 1 < size && text[i]; i++)
		out[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	out[i] = '\0';
}
