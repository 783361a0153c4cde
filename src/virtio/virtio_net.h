/* virtio-net (virtio 1.x, spec 5.1) on a host tap: one receive and one
 * transmit queue, MAC and link status in config space, checksum and TSO
 * offloads both ways, mergeable receive buffers. */
#ifndef TERN_VIRTIO_VIRTIO_NET_H
#define TERN_VIRTIO_VIRTIO_NET_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/virtio_device.h"
#include "vm/vm_config.h"

#define VIRTIO_ID_NET_DEVICE 1

/* Opens the tap (errors at start-up: no /dev/net/tun, permission, busy,
 * not a tap) and sets *vdev to the device to plug with
 * vm_add_virtio_device(). Returns 0 or a negative errno with err set. */
int virtio_net_create(const struct vm_net_config *config,
		      struct virtio_device **vdev, struct tern_error *err);

/* The same, serving the MMDS (src/mmds) from store at mmds_ipv4 (network
 * byte order) on this interface: the guest's frames to that address are
 * answered by tern and never reach the tap. */
int virtio_net_create_mmds(const struct vm_net_config *config,
			   struct mmds_store *store, uint32_t mmds_ipv4,
			   struct virtio_device **vdev, struct tern_error *err);

/* Frame counters beside vdev->stats, atomic (metrics read them any time). */
struct virtio_net_stats {
	_Atomic uint64_t rx_frames;
	_Atomic uint64_t tx_frames;
	_Atomic uint64_t rx_dropped; /* no room in the guest's buffers */
	_Atomic uint64_t tx_dropped; /* malformed, or refused by the tap */
	/* Firecracker's rx_rate_limiter_throttled / tx_rate_limiter_
	 * throttled: the tap left unread, a frame left in the ring. */
	_Atomic uint64_t rx_throttled;
	_Atomic uint64_t tx_throttled;
	/* Frames the guest sent to the MMDS, and tern's answers. */
	_Atomic uint64_t mmds_rx_frames;
	_Atomic uint64_t mmds_tx_frames;
};

const struct virtio_net_stats *virtio_net_stats(struct virtio_device *vdev);

#endif
