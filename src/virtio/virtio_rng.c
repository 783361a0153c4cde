#include "virtio/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "devices/device.h"

struct virtio_rng {
	struct virtio_device vdev;
};

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

static void rng_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	struct virtq *vq = &vdev->queues[q].vq;
	struct virtq_chain chain;
	bool used = false;
	int ret;

	do {
		virtq_disable_notify(vq);
		while ((ret = virtq_pop(vq, &chain)) == 1) {
			uint32_t written = fill_random(&chain);

			virtio_stat_add(&vdev->stats.requests, 1);
			virtio_stat_add(&vdev->stats.bytes_written, written);
			if (written < chain.writable_len)
				virtio_stat_add(&vdev->stats.errors, 1);
			ret = virtq_push(vq, chain.head, written);
			if (ret)
				break;
			used = true;
		}
		if (ret != 0) {
			virtio_device_needs_reset(vdev, ret);
			return;
		}
	} while (virtq_enable_notify(vq));
	if (used)
		virtio_device_signal_used(vdev, q);
}

static void rng_destroy(struct virtio_device *vdev)
{
	free(container_of(vdev, struct virtio_rng, vdev));
}

/* The rng keeps no state of its own: every request is answered at once. */
static int rng_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	*len = 0;
	return 0;
}

static int rng_restore(struct virtio_device *vdev, const void *buf, size_t len)
{
	return len == 0 ? 0 : -EINVAL;
}

static const struct virtio_device_ops virtio_rng_ops = {
	.save = rng_save,
	.restore = rng_restore,
	.check = rng_restore, /* stateless: nothing to change either way */
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG_DEVICE,
	.queue_notify = rng_queue_notify,
	.destroy = rng_destroy,
};

struct virtio_device *virtio_rng_create(void)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));

	if (!rng)
		return NULL;
	/* No device-specific features, no config space (spec 5.4.3-4). */
	if (virtio_device_init(&rng->vdev, &virtio_rng_ops, 1, 0, 0)) {
		free(rng);
		return NULL;
	}
	return &rng->vdev;
}
