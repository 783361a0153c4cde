#include "virtio/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include <linux/virtio_config.h>

#include "devices/device.h"

struct virtio_rng {
	struct virtio_device vdev;
	/* Firecracker's entropy rate_limiter: one op and the buffer's bytes
	 * per request; held-back requests wait in the ring. */
	struct rate_limiter limiter;
	bool limiter_watched;
};

static struct virtio_rng *to_rng(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_rng, vdev);
}

/* Fills the writable part of one chain; returns the bytes written. A
 * failing getrandom() (it should not: the pool is initialized long before
 * a VM runs) ends the fill early, so the guest gets fewer bytes, never
 * stale ones. */
static uint32_t fill_random(const struct virtq_chain *chain)
{
	uint32_t written = 0;
	int end = chain->readable_count + chain->writable_count;

	for (int i = chain->readable_count; i < end; i++) {
		uint8_t *p = chain->iov[i].iov_base;
		size_t left = chain->iov[i].iov_len;

		while (left) {
			ssize_t n = getrandom(p, left, 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return written;
			p += n;
			left -= (size_t)n;
			written += (uint32_t)n;
		}
	}
	return written;
}

static enum virtio_serve_result serve_chain(struct virtio_device *vdev,
					    struct virtq_chain *chain,
					    uint32_t *written)
{
	if (!rate_limiter_consume(&to_rng(vdev)->limiter,
				  chain->writable_len)) {
		/* Back to the ring until the limiter's timer fires; kicks
		 * stay off meanwhile. */
		virtio_stat_add(&vdev->stats.rate_limiter_throttled, 1);
		return VIRTIO_SERVE_LATER;
	}
	*written = fill_random(chain);
	virtio_stat_add(&vdev->stats.requests, 1);
	virtio_stat_add(&vdev->stats.bytes_written, *written);
	if (*written < chain->writable_len)
		virtio_stat_add(&vdev->stats.errors, 1);
	return VIRTIO_SERVE_PUSH;
}

static void rng_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	virtio_device_serve_queue(vdev, q, serve_chain);
}

static void rng_limiter_ready(struct virtio_device *vdev, int fd,
			      uint32_t events)
{
	rate_limiter_timer_fired(&to_rng(vdev)->limiter);
	if (vdev->queues[0].enabled &&
	    (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		rng_queue_notify(vdev, 0);
}

static int rng_activate(struct virtio_device *vdev)
{
	struct virtio_rng *rng = to_rng(vdev);
	int ret;

	if (rng->limiter_watched)
		return 0;
	ret = virtio_device_watch_fd(vdev, rate_limiter_timer_fd(&rng->limiter),
				     EPOLLIN, rng_limiter_ready);
	if (!ret)
		rng->limiter_watched = true;
	return ret;
}

static void rng_reset(struct virtio_device *vdev)
{
	rate_limiter_unblock(&to_rng(vdev)->limiter);
}

static int rng_update_rate_limiter(struct virtio_device *vdev, unsigned which,
				   const struct rate_limiter_update *update)
{
	if (which != 0)
		return -ENOENT;
	rate_limiter_update(&to_rng(vdev)->limiter, update);
	return 0;
}

static void rng_destroy(struct virtio_device *vdev)
{
	struct virtio_rng *rng = to_rng(vdev);

	rate_limiter_destroy(&rng->limiter);
	free(rng);
}

/* Every request is answered at once: the only state is the rate limiter
 * (none in a state from before rate limiters: empty). */
static int rng_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	if (*len < sizeof(struct rate_limiter_state))
		return -ENOSPC;
	rate_limiter_save(&to_rng(vdev)->limiter, buf);
	*len = sizeof(struct rate_limiter_state);
	return 0;
}

static int rng_check(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct rate_limiter_state state;

	if (len == 0)
		return 0;
	if (len != sizeof(state))
		return -EINVAL;
	memcpy(&state, buf, sizeof(state));
	return rate_limiter_state_check(&state);
}

static int rng_restore(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct rate_limiter_state state;
	int ret = rng_check(vdev, buf, len);

	if (ret || len == 0)
		return ret;
	memcpy(&state, buf, sizeof(state));
	rate_limiter_restore(&to_rng(vdev)->limiter, &state);
	return 0;
}

static const struct virtio_device_ops virtio_rng_ops = {
	.save = rng_save,
	.restore = rng_restore,
	.check = rng_check,
	.update_rate_limiter = rng_update_rate_limiter,
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG_DEVICE,
	.activate = rng_activate,
	.queue_notify = rng_queue_notify,
	.reset = rng_reset,
	.destroy = rng_destroy,
};

struct virtio_device *
virtio_rng_create_limited(const struct rate_limiter_config *limit)
{
	static const struct rate_limiter_config no_limit;
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	struct tern_error err;

	if (!rng)
		return NULL;
	if (rate_limiter_init(&rng->limiter, limit ? limit : &no_limit, &err)) {
		log_error("virtio-rng: %s", err.message);
		free(rng);
		return NULL;
	}
	/* No device-specific features, no config space (spec 5.4.3-4). */
	if (virtio_device_init(&rng->vdev, &virtio_rng_ops, 1, 0, 0)) {
		rate_limiter_destroy(&rng->limiter);
		free(rng);
		return NULL;
	}
	return &rng->vdev;
}

struct virtio_device *virtio_rng_create(void)
{
	return virtio_rng_create_limited(NULL);
}
