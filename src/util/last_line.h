#ifndef TERN_UTIL_LAST_LINE_H
#define TERN_UTIL_LAST_LINE_H

#include <stddef.h>

/* The last non-empty line of the file at path (read from its last KiB),
 * into buf: what a child process said last before it failed. An empty
 * string when the file is missing or empty. */
void file_last_line(const char *path, char *buf, size_t size);

#endif
