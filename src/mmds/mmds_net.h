/* The MMDS on one virtio-net interface: the frames the guest sends to the
 * MMDS address are taken off the interface's transmit path (they never
 * reach the tap) and answered here, as Firecracker's MMDS does: ARP
 * requests for the address get a reply with the MMDS's own MAC, and TCP
 * to port 80 goes to mmds_tcp.c; other IPv4 to the address is dropped.
 * The answers wait here until the device's receive path takes them
 * (mmds_net_next_frame), ahead of the tap's frames.
 *
 * Frames come whole and untrusted: every length and header field is
 * checked before it is used; a frame that does not parse is dropped and
 * counted, never passed on. */
#ifndef TERN_MMDS_MMDS_NET_H
#define TERN_MMDS_MMDS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mmds/mmds_store.h"
#include "mmds/mmds_tcp.h"

/* Firecracker's MAC for the MMDS, so guests see the same neighbour. */
#define MMDS_MAC                                                               \
	{                                                                      \
		0x06, 0x01, 0x23, 0x45, 0x67, 0x01                             \
	}
#define MMDS_DEFAULT_IPV4 "169.254.169.254"

/* The largest frame mmds_net_next_frame() writes: an Ethernet frame with
 * a full-size TCP segment. */
#define MMDS_FRAME_MAX (14 + 20 + 24 + MMDS_TCP_MSS_MAX)

struct mmds_net_stats {
	uint64_t rx_frames; /* frames from the guest taken for the MMDS */
	uint64_t rx_dropped; /* of those, malformed or not served */
	uint64_t tx_frames; /* frames to the guest */
};

struct mmds_net {
	uint32_t ipv4; /* network byte order */
	uint8_t arp_mac[6]; /* a requester waiting for our ARP reply */
	uint32_t arp_ip;
	bool arp_due;
	uint16_t ip_id;
	struct mmds_tcp tcp;
	struct mmds_net_stats stats;
};

/* NULL when out of memory. ipv4 in network byte order. */
struct mmds_net *mmds_net_create(struct mmds_store *store, uint32_t ipv4,
				 uint64_t seed);
void mmds_net_destroy(struct mmds_net *net);
/* Forgets connections and pending answers (device reset, restore). */
void mmds_net_reset(struct mmds_net *net);

/* Whether the frame (len bytes, Ethernet header first) is the MMDS's: ARP
 * for its address, or IPv4 to it. Reads at most the first 42 bytes. */
bool mmds_net_is_for_mmds(const struct mmds_net *net, const uint8_t *frame,
			  size_t len);

/* Takes a frame mmds_net_is_for_mmds() said is the MMDS's. */
void mmds_net_receive(struct mmds_net *net, const uint8_t *frame, size_t len,
		      uint64_t now_ms);

bool mmds_net_has_output(const struct mmds_net *net);
/* Writes the next frame for the guest into buf (cap >= MMDS_FRAME_MAX);
 * returns its length, 0 when there is none. */
size_t mmds_net_next_frame(struct mmds_net *net, uint8_t *buf, size_t cap,
			   uint64_t now_ms);

/* See mmds_tcp_tick(): whether the timer is still needed. */
bool mmds_net_tick(struct mmds_net *net, uint64_t now_ms);

#endif
