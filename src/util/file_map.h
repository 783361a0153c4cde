#ifndef TERN_UTIL_FILE_MAP_H
#define TERN_UTIL_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* A whole file mapped read-only; what names it (`what`, e.g. "kernel") goes
 * into error messages. Empty files and non-regular files are refused. */
struct file_map {
	const uint8_t *data;
	size_t size;
};

int file_map_open(struct file_map *map, const char *path, const char *what,
		  struct tern_error *err);
void file_map_close(struct file_map *map);

#endif
