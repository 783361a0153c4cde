/* virtio-blk (virtio 1.x spec 5.2): one raw disk image as a guest block
 * device, one request queue, requests running asynchronously on the block
 * backend (src/backends/block_queue.h). */
#ifndef TERN_VIRTIO_VIRTIO_BLK_H
#define TERN_VIRTIO_VIRTIO_BLK_H

#include <stdbool.h>

#include "backends/block_file.h"
#include "backends/block_queue.h"
#include "util/error.h"
#include "virtio/virtio_device.h"

/* Requests in flight at once per disk. */
#define VIRTIO_BLK_QUEUE_DEPTH 64

struct virtio_blk_options {
	const char *path;
	bool readonly;
	const char *id; /* GET_ID answer, at most 20 bytes */
	enum block_cache_mode cache;
	enum block_engine engine;
	/* A live migration's destination: open the image without its lock,
	 * which the restore of the migrated state takes (the source holds it
	 * until it stops the guest; docs/migration.md, "Disks"). */
	bool lock_at_restore;
	/* A host block device is refused unless allowed (the operator's
	 * --allow-block-devices): regular image files only by default. */
	bool allow_block_device;
	/* Firecracker's rate_limiter; NULL or all zero: none. */
	const struct rate_limiter_config *rate_limiter;
};

/* Opens and locks the image and builds the device in *out; plug it with
 * vm_add_virtio_device(). Returns 0 or a negative errno with err set. */
int virtio_blk_create(const struct virtio_blk_options *opts,
		      struct virtio_device **out, struct tern_error *err);

/* A new backing file for a running disk (Firecracker's PATCH /drives with
 * path_on_host): requests in flight finish on the old file, then the new
 * one, opened and locked with the disk's options, takes its place and the
 * guest hears of the new capacity through a configuration change. The
 * same file again only reads its size anew (how Firecracker's users
 * announce a resize). 0 or a negative errno with err set; on an error the
 * old file stays. */
int virtio_blk_replace_file(struct virtio_device *vdev, const char *path,
			    bool allow_block_device, struct tern_error *err);

#endif
