#ifndef TERN_UTIL_SIZE_H
#define TERN_UTIL_SIZE_H

#include <stdint.h>

/* Parses a memory size the way QEMU's -m does: a plain number is MiB; a
 * suffix K, M, G or T (optionally followed by "iB" or "B", any case) scales
 * by powers of 1024. Returns 0, or -EINVAL for syntax errors and -ERANGE
 * when the value does not fit in 64 bits. */
int size_parse(const char *text, uint64_t *bytes);

#endif
