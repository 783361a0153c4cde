/* virtio-rng (virtio 1.x spec 5.4): one request queue; the device fills
 * each device-writable buffer with bytes from the host's getrandom(). */
#ifndef TERN_VIRTIO_VIRTIO_RNG_H
#define TERN_VIRTIO_VIRTIO_RNG_H

#include "virtio/virtio_device.h"

#define VIRTIO_ID_RNG_DEVICE 4

/* NULL: out of memory. Plug it with vm_add_virtio_device(). */
struct virtio_device *virtio_rng_create(void);
/* With Firecracker's entropy rate_limiter (NULL: none); NULL when out of
 * memory or timers. */
struct virtio_device *
virtio_rng_create_limited(const struct rate_limiter_config *limit);

#endif
