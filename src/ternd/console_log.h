/* A VM's console log, DIR/vms/NAME/console.log: everything the guest
 * printed on its serial console, appended by ternd as it relays it, and
 * the scrollback a `ternctl console` shows first. Bounded: when an append
 * would take the file past max bytes, the file is rewritten with only its
 * newest keep bytes (written beside and renamed, so a reader or a killed
 * ternd sees the old file or the new one, never half of one). */
#ifndef TERN_TERND_CONSOLE_LOG_H
#define TERN_TERND_CONSOLE_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

#define CONSOLE_LOG_MAX (1024 * 1024)
#define CONSOLE_LOG_KEEP (512 * 1024)

struct console_log {
	int fd;
	uint64_t size;
	uint64_t max, keep; /* keep < max */
	char path[4200];
};

/* Opens (creates, 0600) path for appending. 0, or a negative errno with
 * err set. */
int console_log_open(struct console_log *log, const char *path, uint64_t max,
		     uint64_t keep, struct tern_error *err);
/* Appends; rewrites the file with its newest keep bytes first when
 * needed. 0, or a negative errno (the bytes may then be lost; the log
 * stays usable). */
int console_log_append(struct console_log *log, const void *data, size_t len);
void console_log_close(struct console_log *log);

/* The newest (at most) want bytes of the file at path into buf: how
 * many, 0 when there is no file. */
size_t console_log_tail(const char *path, void *buf, size_t want);

#endif
