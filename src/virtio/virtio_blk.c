/* The virtio-blk device: config space, request dispatch from the queue to
 * the block backend, completions back to the used ring. Requests are
 * decoded by virtio_blk_request.c; everything here runs under the virtio
 * device lock (queue and backend-completion handlers on the I/O thread,
 * activate and reset on a vCPU thread), so the state needs no lock of its
 * own. */
#include "virtio/virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "devices/device.h"
#include "util/log.h"
#include "virtio/virtio_blk_request.h"

/* A chain holds the header and the status byte besides the data. */
#define VIRTIO_BLK_SEG_MAX (VIRTQ_CHAIN_MAX_SEGMENTS - 2)
/* 2 GiB in 512-byte sectors: the most one discard or write-zeroes segment
 * may cover, so one fallocate() never runs for minutes. */
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)
/* Discards are worth it in whole 4 KiB file-system blocks. */
#define VIRTIO_BLK_DISCARD_ALIGNMENT 8

/* One request in flight: its chain (the iovecs the backend reads or
 * writes stay here until it completes) and its backend request. */
struct blk_slot {
	struct virtio_blk *blk;
	struct virtq_chain chain;
	struct virtio_blk_req req;
	struct block_request io;
	int next_range; /* DISCARD/WRITE_ZEROES: the segment running */
	int next_free;
};

struct virtio_blk {
	struct virtio_device vdev;
	struct block_file file;
	struct block_queue *queue;
	struct virtio_blk_limits limits;
	struct virtio_blk_config config; /* little-endian, as the guest sees */
	bool watching; /* the backend's eventfd is on the I/O thread */
	bool resetting; /* completions only free their slot */
	bool starved; /* the queue has work but every slot was busy */
	bool used_pending; /* pushed since the last interrupt */
	/* Requests wait in the ring while it is blocked; its timer fd is
	 * watched from activate on. */
	struct rate_limiter limiter;
	bool limiter_watched;
	int free_slot; /* head of the free list, -1 when none */
	char path[256]; /* for messages (a refused snapshot restore) */
	struct blk_slot slots[VIRTIO_BLK_QUEUE_DEPTH];
};

static const struct rate_limiter_config no_rate_limit;

static struct virtio_blk *to_blk(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_blk, vdev);
}

static struct blk_slot *slot_take(struct virtio_blk *blk)
{
	struct blk_slot *slot;

	if (blk->free_slot < 0)
		return NULL;
	slot = &blk->slots[blk->free_slot];
	blk->free_slot = slot->next_free;
	return slot;
}

static void slot_put(struct virtio_blk *blk, struct blk_slot *slot)
{
	slot->next_free = blk->free_slot;
	blk->free_slot = (int)(slot - blk->slots);
}

static void push_used(struct virtio_blk *blk, uint16_t head, uint32_t len)
{
	int ret = virtq_push(&blk->vdev.queues[0].vq, head, len);

	if (ret < 0) {
		virtio_device_needs_reset(&blk->vdev, ret);
		return;
	}
	virtio_stat_add(&blk->vdev.stats.requests, 1);
	blk->used_pending = true;
}

/* Answers the slot's request with `status` and frees the slot. */
static void finish(struct virtio_blk *blk, struct blk_slot *slot,
		   uint8_t status)
{
	struct virtio_blk_req *req = &slot->req;
	uint32_t used_len = req->used_len;

	if (blk->resetting) {
		slot_put(blk, slot);
		return;
	}
	if (req->action == VIRTIO_BLK_ACTION_DROP) {
		used_len = 0; /* no status byte to answer in */
		status = VIRTIO_BLK_S_IOERR; /* counted as an error */
	} else {
		*req->status_byte = status;
		/* A failed transfer reports the status byte only. */
		if (status != VIRTIO_BLK_S_OK &&
		    req->action != VIRTIO_BLK_ACTION_DONE)
			used_len = 1;
	}
	push_used(blk, slot->chain.head, used_len);
	if (status != VIRTIO_BLK_S_OK)
		virtio_stat_add(&blk->vdev.stats.errors, 1);
	slot_put(blk, slot);
}

static void io_done(struct block_request *io, int result);

/* Starts the slot's next backend step; on a refusal answers IOERR. */
static void start_io(struct virtio_blk *blk, struct blk_slot *slot)
{
	struct virtio_blk_req *req = &slot->req;
	struct block_request *io = &slot->io;
	int ret;

	memset(io, 0, sizeof(*io));
	io->done = io_done;
	io->opaque = slot;
	switch (req->action) {
	case VIRTIO_BLK_ACTION_READ:
	case VIRTIO_BLK_ACTION_WRITE:
		io->op = req->action == VIRTIO_BLK_ACTION_READ ? BLOCK_OP_READ
							       : BLOCK_OP_WRITE;
		io->offset = req->sector * BLOCK_SECTOR_SIZE;
		io->iov = req->data;
		io->iov_count = req->data_count;
		break;
	case VIRTIO_BLK_ACTION_FLUSH:
		io->op = BLOCK_OP_FLUSH;
		break;
	case VIRTIO_BLK_ACTION_DISCARD:
	case VIRTIO_BLK_ACTION_WRITE_ZEROES:
		/* Segments run one after the other: they are few, and a
		 * request finishes once, with one status. */
		io->op = req->action == VIRTIO_BLK_ACTION_DISCARD
			? BLOCK_OP_DISCARD
			: BLOCK_OP_WRITE_ZEROES;
		io->offset = req->ranges[slot->next_range].offset;
		io->length = req->ranges[slot->next_range].length;
		slot->next_range++;
		break;
	case VIRTIO_BLK_ACTION_DONE:
	case VIRTIO_BLK_ACTION_DROP:
		return finish(blk, slot, req->status);
	}
	ret = block_queue_submit(blk->queue, io);
	if (ret) {
		log_debug("%s: backend refused a request: %s",
			  blk->vdev.ops->name, strerror(-ret));
		finish(blk, slot, VIRTIO_BLK_S_IOERR);
	}
}

static void io_done(struct block_request *io, int result)
{
	struct blk_slot *slot = io->opaque;
	struct virtio_blk *blk = slot->blk;
	struct virtio_blk_req *req = &slot->req;

	if (result) {
		log_debug("%s: I/O error at byte %llu: %s", blk->vdev.ops->name,
			  (unsigned long long)io->offset, strerror(-result));
		return finish(blk, slot, VIRTIO_BLK_S_IOERR);
	}
	if (req->action == VIRTIO_BLK_ACTION_READ)
		virtio_stat_add(&blk->vdev.stats.bytes_written, req->data_len);
	else if (req->action == VIRTIO_BLK_ACTION_WRITE)
		virtio_stat_add(&blk->vdev.stats.bytes_read, req->data_len);
	if ((req->action == VIRTIO_BLK_ACTION_DISCARD ||
	     req->action == VIRTIO_BLK_ACTION_WRITE_ZEROES) &&
	    slot->next_range < req->range_count && !blk->resetting)
		return start_io(blk, slot);
	finish(blk, slot, VIRTIO_BLK_S_OK);
}

static void signal_if_pushed(struct virtio_blk *blk)
{
	if (blk->used_pending) {
		blk->used_pending = false;
		virtio_device_signal_used(&blk->vdev, 0);
	}
}

/* Firecracker's accounting: one op per request, and the data's bytes for
 * reads and writes. Malformed requests, answered at once, cost nothing. */
static bool limiter_admits(struct virtio_blk *blk,
			   const struct virtio_blk_req *req)
{
	uint64_t bytes = 0;

	if (req->action == VIRTIO_BLK_ACTION_DONE ||
	    req->action == VIRTIO_BLK_ACTION_DROP)
		return true;
	if (req->action == VIRTIO_BLK_ACTION_READ ||
	    req->action == VIRTIO_BLK_ACTION_WRITE)
		bytes = req->data_len;
	if (rate_limiter_consume(&blk->limiter, bytes))
		return true;
	virtio_stat_add(&blk->vdev.stats.rate_limiter_throttled, 1);
	return false;
}

/* Takes available chains while a slot is free. Returns 0 when the ring is
 * empty, 1 when every slot is busy, 2 when the rate limiter holds the
 * next request back (it stays in the ring), or a negative ring error. */
static int take_available(struct virtio_blk *blk, struct virtq *vq)
{
	for (;;) {
		struct blk_slot *slot = slot_take(blk);
		struct virtq_chain *chain;
		int ret;

		if (!slot)
			return 1;
		chain = &slot->chain;
		ret = virtq_pop(vq, chain);
		if (ret != 1) {
			slot_put(blk, slot);
			/* Only 1 means a chain (see virtq_pop); 1 here would
			 * mean "every slot busy". */
			return ret <= 0 ? ret : -VIRTQ_ERR_NOT_READY;
		}
		virtio_blk_request_parse(&blk->limits, chain->iov,
					 chain->readable_count,
					 chain->iov + chain->readable_count,
					 chain->writable_count, &slot->req);
		if (!limiter_admits(blk, &slot->req)) {
			slot_put(blk, slot);
			ret = virtq_unpop(vq, 1);
			return ret < 0 ? ret : 2;
		}
		slot->next_range = 0;
		start_io(blk, slot);
	}
}

static void process_queue(struct virtio_blk *blk)
{
	struct virtq *vq = &blk->vdev.queues[0].vq;
	int ret;

	blk->starved = false;
	do {
		/* No kicks while draining; with EVENT_IDX, re-enabling is
		 * what moves avail_event, so it must follow every drain. */
		virtq_disable_notify(vq);
		ret = take_available(blk, vq);
		if (ret < 0)
			virtio_device_needs_reset(&blk->vdev, ret);
		if (ret == 1)
			/* Resumed when a request completes and frees a slot;
			 * kicks stay off until then. */
			blk->starved = true;
		/* ret 2: resumed by the limiter's timer (limiter_ready);
		 * kicks stay off until then too. */
	} while (ret == 0 && virtq_enable_notify(vq));
	block_queue_kick(blk->queue);
	signal_if_pushed(blk);
}

static void blk_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	if (q == 0)
		process_queue(to_blk(vdev));
}

static void backend_ready(struct virtio_device *vdev, int fd, uint32_t events)
{
	struct virtio_blk *blk = to_blk(vdev);

	block_queue_complete(blk->queue);
	if (blk->starved && !blk->resetting &&
	    !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		process_queue(blk);
	signal_if_pushed(blk);
}

/* The limiter's timer: tokens are back (or the limits changed). */
static void limiter_ready(struct virtio_device *vdev, int fd, uint32_t events)
{
	struct virtio_blk *blk = to_blk(vdev);

	rate_limiter_timer_fired(&blk->limiter);
	if (blk->resetting || !vdev->queues[0].enabled ||
	    !(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		return;
	process_queue(blk);
}

static int blk_activate(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	int ret;

	if (!blk->limiter_watched) {
		ret = virtio_device_watch_fd(
			vdev, rate_limiter_timer_fd(&blk->limiter), EPOLLIN,
			limiter_ready);
		if (ret)
			return ret;
		blk->limiter_watched = true;
	}

	blk->limits.discard =
		virtio_device_has_feature(vdev, VIRTIO_BLK_F_DISCARD);
	blk->limits.write_zeroes =
		virtio_device_has_feature(vdev, VIRTIO_BLK_F_WRITE_ZEROES);
	if (blk->watching)
		return 0;
	ret = virtio_device_watch_fd(vdev, block_queue_event_fd(blk->queue),
				     EPOLLIN, backend_ready);
	if (ret)
		return ret;
	blk->watching = true;
	return 0;
}

/* The driver reset the device: what is in flight finishes (its data may
 * land in guest memory, which the driver gave up), nothing is pushed. */
static void blk_reset(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	blk->resetting = true;
	block_queue_drain(blk->queue);
	blk->resetting = false;
	blk->starved = false;
	blk->used_pending = false;
	rate_limiter_unblock(&blk->limiter);
}

static int blk_update_rate_limiter(struct virtio_device *vdev, unsigned which,
				   const struct rate_limiter_update *update)
{
	if (which != 0)
		return -ENOENT;
	rate_limiter_update(&to_blk(vdev)->limiter, update);
	return 0;
}

static void blk_config_read(struct virtio_device *vdev, uint32_t offset,
			    void *data, uint32_t size)
{
	memcpy(data, (const uint8_t *)&to_blk(vdev)->config + offset, size);
}

static void blk_config_write(struct virtio_device *vdev, uint32_t offset,
			     const void *data, uint32_t size)
{
	/* Nothing is writable: `wce` needs VIRTIO_BLK_F_CONFIG_WCE, which
	 * tern does not offer (its cache mode is fixed per disk). */
}

static void blk_destroy(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	block_queue_destroy(blk->queue);
	block_file_close(&blk->file);
	rate_limiter_destroy(&blk->limiter);
	free(blk);
}

/* Snapshot state: the disk as the guest knows it. The backend itself is
 * reopened from the new tern's configuration, so the snapshot only checks
 * that it is the same disk shape; in-flight requests are finished first. */
struct blk_snapshot {
	uint64_t capacity; /* sectors */
	uint32_t blk_size;
	uint8_t readonly;
	uint8_t pad[3];
	char id[VIRTIO_BLK_ID_BYTES];
	uint8_t pad2[4];
};

_Static_assert(sizeof(struct blk_snapshot) % 8 == 0, "blk state padding");

/* Since rate limiters: the limiter's buckets follow (a state without them,
 * from an older tern, keeps this tern's configured limiter). */
struct blk_snapshot_limited {
	struct blk_snapshot disk;
	struct rate_limiter_state limiter;
};

static int blk_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct blk_snapshot_limited *saved = buf;
	struct blk_snapshot *s = &saved->disk;

	if (*len < sizeof(*saved))
		return -ENOSPC;
	/* Quiesce: the VM is paused, so every request in flight completes
	 * and is pushed before the state is taken; the used ring and the
	 * data land in memory before the memory file is written. */
	block_queue_drain(blk->queue);
	/* Requests left in the ring while every slot was busy would wait for
	 * a completion that no longer comes: run them too. */
	while (blk->starved && !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		process_queue(blk);
		block_queue_drain(blk->queue);
	}
	signal_if_pushed(blk);
	memset(s, 0, sizeof(*s));
	s->capacity = blk->limits.capacity;
	s->blk_size = le32toh(blk->config.blk_size);
	s->readonly = blk->limits.readonly;
	memcpy(s->id, blk->limits.id, sizeof(s->id));
	rate_limiter_save(&blk->limiter, &saved->limiter);
	*len = sizeof(*saved);
	return 0;
}

static int blk_check(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct blk_snapshot_limited limited;
	struct blk_snapshot s;

	if (len != sizeof(s) && len != sizeof(limited))
		return virtio_device_restore_refused(
			vdev, "disk %s: snapshot state has %zu bytes, not %zu",
			blk->path, len, sizeof(limited));
	memcpy(&s, buf, sizeof(s));
	if (len == sizeof(limited)) {
		memcpy(&limited, buf, sizeof(limited));
		if (rate_limiter_state_check(&limited.limiter))
			return virtio_device_restore_refused(
				vdev,
				"disk %s: the snapshot's rate limiter "
				"state is not valid",
				blk->path);
	}
	if (s.capacity != blk->limits.capacity)
		return virtio_device_restore_refused(
			vdev,
			"the snapshot's disk has %llu sectors, disk %s has "
			"%llu: start tern with the snapshot's disk",
			(unsigned long long)s.capacity, blk->path,
			(unsigned long long)blk->limits.capacity);
	if (s.readonly != blk->limits.readonly ||
	    s.blk_size != le32toh(blk->config.blk_size) ||
	    memcmp(s.id, blk->limits.id, sizeof(s.id)))
		return virtio_device_restore_refused(
			vdev,
			"the snapshot's disk differs from disk %s (read-only, "
			"block size or serial id): start tern with the "
			"snapshot's disk options",
			blk->path);
	return 0;
}

static int blk_restore(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct tern_error err = {{0}};
	int ret = blk_check(vdev, buf, len);

	if (ret)
		return ret;
	/* A migration's destination opened the image unlocked; the source
	 * released the lock before it sent this state. */
	if (block_file_lock(&blk->file, blk->path, &err))
		return virtio_device_restore_refused(vdev, "%s", err.message);
	blk->starved = false;
	blk->used_pending = false;
	/* As Firecracker: the snapshot's limiter, tokens and all. */
	if (len == sizeof(struct blk_snapshot_limited)) {
		struct blk_snapshot_limited limited;

		memcpy(&limited, buf, sizeof(limited));
		rate_limiter_restore(&blk->limiter, &limited.limiter);
	}
	return 0;
}

/* Live migration, after blk_save drained every request with the vCPUs
 * paused: nothing more reaches the image from this process until the
 * guest runs here again. The data goes to stable storage before the lock
 * is released, so the destination (which takes the lock as it restores
 * the state) reads everything the guest wrote. */
static int blk_migration_release(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	int ret = block_file_sync(&blk->file);

	if (ret) {
		log_error("disk %s: fdatasync before the migration: %s",
			  blk->path, strerror(-ret));
		return ret;
	}
	ret = block_file_unlock(&blk->file);
	if (ret)
		log_error("disk %s: cannot release its lock: %s", blk->path,
			  strerror(-ret));
	return ret;
}

static int blk_migration_reclaim(struct virtio_device *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct tern_error err = {{0}};
	int ret = block_file_lock(&blk->file, blk->path, &err);

	if (ret)
		log_warn("%s", err.message);
	return ret;
}

static const struct virtio_device_ops virtio_blk_ops = {
	.save = blk_save,
	.restore = blk_restore,
	.check = blk_check,
	.migration_release = blk_migration_release,
	.migration_reclaim = blk_migration_reclaim,
	.update_rate_limiter = blk_update_rate_limiter,
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.destroy = blk_destroy,
};

static uint32_t logical_block_size(const struct block_file *file)
{
	uint32_t align = file->direct_alignment;

	/* O_DIRECT's alignment, when it is a sane block size, so that the
	 * guest sends requests the fast path takes. */
	if (file->cache == BLOCK_CACHE_NONE && align > BLOCK_SECTOR_SIZE &&
	    align <= 4096 && !(align & (align - 1)) && file->size % align == 0)
		return align;
	return BLOCK_SECTOR_SIZE;
}

/* Firecracker takes an image whose size is not a multiple of 512 and warns;
 * so does tern (Kata Containers hands over such files). */
static void warn_hidden_bytes(const char *path, uint64_t size,
			      uint32_t hidden_bytes)
{
	if (hidden_bytes)
		log_warn("disk %s: its size (%llu bytes) is not a multiple of "
			 "%d bytes: the guest sees %llu sectors, the last %u "
			 "bytes are hidden from it",
			 path, (unsigned long long)(size + hidden_bytes),
			 BLOCK_SECTOR_SIZE,
			 (unsigned long long)(size / BLOCK_SECTOR_SIZE),
			 hidden_bytes);
}

static uint64_t fill_config(struct virtio_blk *blk)
{
	struct virtio_blk_config *c = &blk->config;
	uint64_t features = 1ULL << VIRTIO_BLK_F_SEG_MAX |
		1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH;

	memset(c, 0, sizeof(*c));
	c->capacity = htole64(blk->limits.capacity);
	c->seg_max = htole32(VIRTIO_BLK_SEG_MAX);
	c->blk_size = htole32(logical_block_size(&blk->file));
	if (blk->limits.readonly) {
		features |= 1ULL << VIRTIO_BLK_F_RO;
		return features;
	}
	features |= 1ULL << VIRTIO_BLK_F_DISCARD |
		1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	c->max_discard_sectors = htole32(blk->limits.max_discard_sectors);
	c->max_discard_seg = htole32(blk->limits.max_discard_seg);
	c->discard_sector_alignment = htole32(VIRTIO_BLK_DISCARD_ALIGNMENT);
	c->max_write_zeroes_sectors =
		htole32(blk->limits.max_write_zeroes_sectors);
	c->max_write_zeroes_seg = htole32(blk->limits.max_write_zeroes_seg);
	c->write_zeroes_may_unmap = 0;
	return features;
}

static bool can_process(const struct virtio_blk *blk)
{
	const struct virtio_device *vdev = &blk->vdev;

	return !blk->resetting && vdev->queues[0].enabled &&
		(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		!(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

int virtio_blk_replace_file(struct virtio_device *vdev, const char *path,
			    bool allow_block_device, struct tern_error *err)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct block_file next;
	bool same = block_file_is(&blk->file, path);
	uint64_t capacity;
	uint32_t hidden;
	int ret = 0;

	/* Opened (and locked) before the device is touched: a file that
	 * cannot serve leaves the disk as it was. */
	if (!same) {
		ret = block_file_open(&next, path, blk->file.readonly,
				      blk->file.cache, err);
		if (ret)
			return ret;
		if (next.is_block_device && !allow_block_device) {
			block_file_close(&next);
			return tern_error_set(err, EPERM,
					      "disk %s is a block device: tern "
					      "uses one only when started with "
					      "--allow-block-devices",
					      path);
		}
	}
	pthread_mutex_lock(&vdev->lock);
	block_queue_drain(blk->queue);
	if (same) {
		ret = block_file_refresh_size(&blk->file, path, err);
	} else {
		block_file_close(&blk->file);
		blk->file = next;
		snprintf(blk->path, sizeof(blk->path), "%s", path);
	}
	if (!ret) {
		/* The block size stays what the driver read at probe time;
		 * requests the new file cannot take directly go through its
		 * buffered descriptor. */
		blk->limits.capacity = blk->file.size / BLOCK_SECTOR_SIZE;
		blk->config.capacity = htole64(blk->limits.capacity);
		if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)
			virtio_device_signal_config(vdev);
	}
	signal_if_pushed(blk);
	/* Requests left waiting for a slot would wait for a completion that
	 * the drain already took. */
	if (blk->starved && can_process(blk))
		process_queue(blk);
	capacity = blk->limits.capacity;
	hidden = blk->file.hidden_bytes;
	pthread_mutex_unlock(&vdev->lock);
	if (!ret)
		warn_hidden_bytes(path, capacity * BLOCK_SECTOR_SIZE, hidden);
	if (!ret)
		log_info("disk %s: %s, %llu sectors", path,
			 same ? "size read again" : "backing file replaced",
			 (unsigned long long)capacity);
	return ret;
}

int virtio_blk_create(const struct virtio_blk_options *opts,
		      struct virtio_device **out, struct tern_error *err)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	uint64_t features;
	int ret;

	*out = NULL;
	if (!blk)
		return tern_error_set(err, ENOMEM, "out of memory for a disk");
	ret = opts->lock_at_restore
		? block_file_open_unlocked(&blk->file, opts->path,
					   opts->readonly, opts->cache, err)
		: block_file_open(&blk->file, opts->path, opts->readonly,
				  opts->cache, err);
	if (!ret && blk->file.is_block_device && !opts->allow_block_device) {
		block_file_close(&blk->file);
		ret = tern_error_set(err, EPERM,
				     "disk %s is a block device: tern uses one "
				     "only when started with "
				     "--allow-block-devices",
				     opts->path);
	}
	if (ret) {
		free(blk);
		return ret;
	}
	warn_hidden_bytes(opts->path, blk->file.size, blk->file.hidden_bytes);
	ret = block_queue_create(&blk->queue, &blk->file, opts->engine,
				 VIRTIO_BLK_QUEUE_DEPTH, err);
	if (ret) {
		block_file_close(&blk->file);
		free(blk);
		return ret;
	}
	ret = rate_limiter_init(
		&blk->limiter,
		opts->rate_limiter ? opts->rate_limiter : &no_rate_limit, err);
	if (ret) {
		block_queue_destroy(blk->queue);
		block_file_close(&blk->file);
		free(blk);
		return ret;
	}
	blk->limits = (struct virtio_blk_limits){
		.capacity = blk->file.size / BLOCK_SECTOR_SIZE,
		.readonly = opts->readonly,
		.max_discard_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS,
		.max_discard_seg = VIRTIO_BLK_MAX_RANGES,
		.max_write_zeroes_sectors = VIRTIO_BLK_MAX_DISCARD_SECTORS,
		.max_write_zeroes_seg = VIRTIO_BLK_MAX_RANGES,
	};
	snprintf(blk->path, sizeof(blk->path), "%s", opts->path);
	if (opts->id)
		memcpy(blk->limits.id, opts->id,
		       strnlen(opts->id, sizeof(blk->limits.id)));
	blk->free_slot = -1;
	for (int i = VIRTIO_BLK_QUEUE_DEPTH - 1; i >= 0; i--) {
		blk->slots[i].blk = blk;
		slot_put(blk, &blk->slots[i]);
	}
	features = fill_config(blk);
	ret = virtio_device_init(&blk->vdev, &virtio_blk_ops, 1, features,
				 sizeof(blk->config));
	if (ret) {
		blk_destroy(&blk->vdev);
		return tern_error_set(err, -ret, "disk %s: %s", opts->path,
				      strerror(-ret));
	}
	log_debug("disk %s: %llu sectors%s, %s engine, cache=%s", opts->path,
		  (unsigned long long)blk->limits.capacity,
		  opts->readonly ? ", read-only" : "",
		  block_queue_engine_name(blk->queue),
		  opts->cache == BLOCK_CACHE_NONE ? "none" : "writeback");
	*out = &blk->vdev;
	return 0;
}
