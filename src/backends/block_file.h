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
	/* Firecracker's Unsafe (the guest's flushes may be ignored): tern
	 * runs it as writeback, flushes honoured, which is what Unsafe allows
	 * and safer; kept apart only to be reported back as asked. */
	BLOCK_CACHE_UNSAFE,
};

struct block_file {
	int fd; /* O_DIRECT with cache=none */
	int buffered_fd; /* cache=none only: for unaligned requests; else -1 */
	/* What the guest may reach: the image's whole sectors, in bytes (a
	 * multiple of BLOCK_SECTOR_SIZE). */
	uint64_t size;
	/* The image's bytes past its last whole sector (0 to 511): never
	 * read or written, as Firecracker hides them. */
	uint32_t hidden_bytes;
	bool readonly;
	bool is_block_device;
	enum block_cache_mode cache;
	/* O_DIRECT needs buffers, offsets and lengths aligned to this; 1 with
	 * cache=writeback. */
	uint32_t direct_alignment;
	bool locked; /* holds its OFD lock (block_file_lock) */
};

/* Opens path read-write (or read-only) and takes an OFD lock on it: an
 * exclusive one for read-write, a shared one for read-only, so no two VMs
 * (or two disks of one VM) write one image and nobody writes an image
 * another VM reads. Refuses anything but a regular file or a block device.
 * A size that is not a multiple of 512 is taken: the partial sector at the
 * end is hidden (size leaves it out, hidden_bytes counts it). */
int block_file_open(struct block_file *file, const char *path, bool readonly,
		    enum block_cache_mode cache, struct tern_error *err);
/* The same without the lock, for a live migration's destination: the
 * source still holds the image's lock while the destination's VM is
 * created; block_file_lock() takes it once the source released it (see
 * docs/migration.md, "Disks"). */
int block_file_open_unlocked(struct block_file *file, const char *path,
			     bool readonly, enum block_cache_mode cache,
			     struct tern_error *err);

/* Takes the image's OFD lock (exclusive, or shared when read-only); a
 * no-op when held. -EBUSY when another open file description holds a
 * conflicting one. */
int block_file_lock(struct block_file *file, const char *path,
		    struct tern_error *err);
/* Drops the lock (a no-op when not held); the file stays open. Returns 0
 * or a negative errno. */
int block_file_unlock(struct block_file *file);
/* fdatasync() of a writable image: what the guest wrote is on stable
 * storage. 0 or a negative errno. */
int block_file_sync(struct block_file *file);

void block_file_close(struct block_file *file);

/* Whether path names the open image itself (same device and inode). */
bool block_file_is(const struct block_file *file, const char *path);
/* Reads the image's size anew (it was resized while open); on an error the
 * old size stays. 0 or a negative errno with err set. */
int block_file_refresh_size(struct block_file *file, const char *path,
			    struct tern_error *err);

#endif
