/* virtio-vsock packets (virtio 1.2 spec 5.10.6 "Device Operation"): the
 * 44-byte little-endian struct virtio_vsock_hdr in front of every packet on
 * the rx and tx queues, decoded into host order, and the checks a packet
 * from the guest (tx queue) must pass before the device acts on it. */
#ifndef TERN_VIRTIO_VSOCK_VSOCK_PACKET_H
#define TERN_VIRTIO_VSOCK_VSOCK_PACKET_H

#include <stdint.h>

#include "virtio/virtqueue.h"

#define VSOCK_HDR_SIZE 44
/* The host's CID (VMADDR_CID_HOST): the only peer tern's guest can reach. */
#define VSOCK_HOST_CID 2
/* Payload bound of one packet: Linux never sends more (its
 * VIRTIO_VSOCK_MAX_PKT_BUF_SIZE); a larger len is a hostile header. */
#define VSOCK_MAX_PAYLOAD (64u * 1024)

/* struct virtio_vsock_hdr in host byte order. */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len; /* payload bytes after the header */
	uint16_t type; /* VIRTIO_VSOCK_TYPE_* */
	uint16_t op; /* VIRTIO_VSOCK_OP_* */
	uint32_t flags;
	uint32_t buf_alloc; /* sender's receive buffer for this connection */
	uint32_t fwd_cnt; /* bytes the sender consumed from it so far */
};

void vsock_hdr_decode(struct vsock_hdr *hdr, const uint8_t raw[VSOCK_HDR_SIZE]);
void vsock_hdr_encode(const struct vsock_hdr *hdr, uint8_t raw[VSOCK_HDR_SIZE]);

/* What is wrong with a packet from the guest, in the order checked. */
enum vsock_packet_check {
	VSOCK_PACKET_OK = 0,
	VSOCK_PACKET_SHORT, /* fewer readable bytes than a header */
	VSOCK_PACKET_SRC_CID, /* not from the guest's own CID */
	VSOCK_PACKET_LEN_TOO_BIG, /* len above VSOCK_MAX_PAYLOAD */
	VSOCK_PACKET_LEN_BEYOND_CHAIN, /* len more than the chain carries */
	VSOCK_PACKET_DST_CID, /* to a CID other than the host's */
	VSOCK_PACKET_TYPE, /* not a stream packet (no SEQPACKET offered) */
	VSOCK_PACKET_OP, /* unknown op */
};

/* Reads the header at the start of a tx chain's readable part into *hdr
 * (left zeroed when the chain is too short) and checks it against the
 * guest's CID and the chain. The payload, if any, follows at byte
 * VSOCK_HDR_SIZE of the readable part. */
enum vsock_packet_check vsock_packet_parse(const struct virtq_chain *chain,
					   uint64_t guest_cid,
					   struct vsock_hdr *hdr);

const char *vsock_packet_check_text(enum vsock_packet_check check);

#endif
