/* virtio-vsock (virtio 1.2 spec 5.10 "Socket Device", device ID 19) in user
 * space: guest AF_VSOCK stream connections bridged to Unix sockets on the
 * host (see src/virtio/vsock/vsock_unix.h for the host-side protocol).
 * Three queues: rx (device to guest), tx (guest to device), event (unused:
 * tern never migrates the guest to another CID). */
#ifndef TERN_VIRTIO_VIRTIO_VSOCK_H
#define TERN_VIRTIO_VIRTIO_VSOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/error.h"
#include "virtio/virtio_device.h"

#define VIRTIO_ID_VSOCK_DEVICE 19
#define VIRTIO_VSOCK_QUEUE_RX 0
#define VIRTIO_VSOCK_QUEUE_TX 1
#define VIRTIO_VSOCK_QUEUE_EVENT 2
/* CIDs 0-2 are reserved (hypervisor, local, host); 2^32-1 is "any". */
#define VIRTIO_VSOCK_MIN_CID 3
#define VIRTIO_VSOCK_MAX_CID 0xfffffffeULL
/* How long a host client waits for the guest to accept its CONNECT (the
 * guest answers REQUEST with RESPONSE or RST at once unless it is stuck or
 * hostile). */
#define VIRTIO_VSOCK_CONNECT_TIMEOUT_MS 5000

/* Device-specific counters beside vdev->stats (requests: chains used on
 * rx and tx; bytes_read / bytes_written: payload from / to the guest;
 * errors: bad packets, protocol violations, host socket failures). */
struct virtio_vsock_stats {
	_Atomic uint64_t connections_opened; /* reached ESTABLISHED */
	_Atomic uint64_t connections_refused; /* REQUEST or CONNECT refused */
	_Atomic uint64_t connections_active;
	_Atomic uint64_t resets_sent; /* RST packets to the guest */
	_Atomic uint64_t credit_updates_sent;
	_Atomic uint64_t bad_packets; /* failed vsock_packet_parse() */
};

/* Listens on socket_path (see vsock_unix_listen()) and sets *out; 0, or a
 * negative errno with err set. Plug it with vm_add_virtio_device(). */
int virtio_vsock_create(uint64_t guest_cid, const char *socket_path,
			struct virtio_device **out, struct tern_error *err);

const struct virtio_vsock_stats *virtio_vsock_stats(struct virtio_device *vdev);

/* For unit tests, which play the I/O thread: the fd that becomes readable
 * when a host socket has an event, and one round of handling them (what the
 * I/O thread runs then, with vdev->lock held). */
int virtio_vsock_host_event_fd(struct virtio_device *vdev);
void virtio_vsock_handle_host_events(struct virtio_device *vdev);
void virtio_vsock_set_connect_timeout(struct virtio_device *vdev,
				      uint32_t timeout_ms);

#endif
