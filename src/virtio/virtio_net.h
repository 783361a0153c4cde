/* virtio-net (virtio 1.x, spec 5.1) on a host tap: one receive and one
 * transmit queue, MAC and link status in config space, checksum and TSO
 * offloads both ways, mergeable receive buffers. */
#ifndef TERN_VIRTIO_VIRTIO_NET_H
#define TERN_VIRTIO_VIRTIO_NET_H

#include "util/error.h"
#include "virtio/virtio_device.h"
#include "vm/vm_config.h"

/* Opens the tap (errors at start-up: no /dev/net/tun, permission, busy,
 * not a tap) and sets *vdev to the device to plug with
 * vm_add_virtio_device(). Returns 0 or a negative errno with err set. */
int virtio_net_create(const struct vm_net_config *config,
		      struct virtio_device **vdev, struct tern_error *err);

#endif
