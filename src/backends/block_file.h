/* A raw disk image: a regular file or a block device, opened once per VM
 * disk, locked against other writers, with its size checked. The async I/O
 * on it lives in block_queue.h.
 *
 * Cache modes:
 *   writeback (default)  plain buffered I/O through the host page cache; a
 *                        guest flush becomes fdatasync(), so data the guest
 *                        flushed survives a host crash.
 *   none                 O_DIRECT: the host page cache is bypassed (no double
 *                        caching, host memory stays free); flush is still
 *                        fdatasync() for the disk's own write cache. Requests
 *                        whose guest buffers are not aligned for O_DIRECT go
 *                        through a second, buffered descriptor of the same
 *                        file; Linux keeps the two coherent. */
#ifndef TERN_BACKENDS_BLOCK_FILE_H
#define TERN_BACKENDS_BLOCK_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"

#define BLOCK_SECTOR_SIZE 512

enum block_cache_mode {
	BLOCK_CACHE_WRITEBACK,
	BLOCK_CACHE_NONE,
};

struct block_file {
	int fd; /* O_DIRECT with cache=none */
	int buffered_fd; /* cache=none only: for unaligned requests; else -1 */
	uint64_t size; /* bytes, a multiple of BLOCK_SECTOR_SIZE */
	bool readonly;
	bool is_block_device;
	enum block_cache_mode cache;
	/* O_DIRECT needs buffers, offsets and lengths aligned to this; 1 with
	 * cache=writeback. */
	uint32_t direct_alignment;
};

/* Opens path read-write (or read-only) and takes an OFD lock on it: an
 * exclusive one for read-write, a shared one for read-only, so no two VMs
 * (or two disks of one VM) write one image and nobody writes an image
 * another VM reads. Refuses anything but a regular file or a block device,
 * and sizes that are not a multiple of 512. */
int block_file_open(struct block_file *file, const char *path, bool readonly,
		    enum block_cache_mode cache, struct tern_error *err);
void block_file_close(struct block_file *file);

#endif
