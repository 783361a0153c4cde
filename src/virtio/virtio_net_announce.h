/* The frame a VM's network interface sends when it moved (a live
 * migration's destination, a snapshot load): a broadcast RARP request from
 * the guest's MAC (RFC 903, as other VMMs announce a moved guest), so that
 * bridges and switches learn the guest's new port at once instead of
 * sending its frames to the old one until their entry ages out. It asks
 * nothing anyone answers. */
#ifndef TERN_VIRTIO_VIRTIO_NET_ANNOUNCE_H
#define TERN_VIRTIO_VIRTIO_NET_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>

/* Ethernet's minimum frame without its FCS. */
#define NET_ANNOUNCE_FRAME_SIZE 60

/* Writes the frame (Ethernet header on) into buf. */
void net_announce_frame(uint8_t buf[NET_ANNOUNCE_FRAME_SIZE],
			const uint8_t mac[6]);

#endif
