#include "virtio/vsock/vsock_packet.h"
#include "util/le_bytes.h"

#include <endian.h>
#include <string.h>

#include <linux/virtio_vsock.h>

/* Field offsets of struct virtio_vsock_hdr (packed, little-endian). */
enum {
	OFF_SRC_CID = 0,
	OFF_DST_CID = 8,
	OFF_SRC_PORT = 16,
	OFF_DST_PORT = 20,
	OFF_LEN = 24,
	OFF_TYPE = 28,
	OFF_OP = 30,
	OFF_FLAGS = 32,
	OFF_BUF_ALLOC = 36,
	OFF_FWD_CNT = 40,
};

_Static_assert(sizeof(struct virtio_vsock_hdr) == VSOCK_HDR_SIZE,
	       "virtio_vsock_hdr is 44 bytes");

void vsock_hdr_decode(struct vsock_hdr *hdr, const uint8_t raw[VSOCK_HDR_SIZE])
{
	hdr->src_cid = le_get64(raw + OFF_SRC_CID);
	hdr->dst_cid = le_get64(raw + OFF_DST_CID);
	hdr->src_port = le_get32(raw + OFF_SRC_PORT);
	hdr->dst_port = le_get32(raw + OFF_DST_PORT);
	hdr->len = le_get32(raw + OFF_LEN);
	hdr->type = le_get16(raw + OFF_TYPE);
	hdr->op = le_get16(raw + OFF_OP);
	hdr->flags = le_get32(raw + OFF_FLAGS);
	hdr->buf_alloc = le_get32(raw + OFF_BUF_ALLOC);
	hdr->fwd_cnt = le_get32(raw + OFF_FWD_CNT);
}

void vsock_hdr_encode(const struct vsock_hdr *hdr, uint8_t raw[VSOCK_HDR_SIZE])
{
	le_put64(raw + OFF_SRC_CID, hdr->src_cid);
	le_put64(raw + OFF_DST_CID, hdr->dst_cid);
	le_put32(raw + OFF_SRC_PORT, hdr->src_port);
	le_put32(raw + OFF_DST_PORT, hdr->dst_port);
	le_put32(raw + OFF_LEN, hdr->len);
	le_put16(raw + OFF_TYPE, hdr->type);
	le_put16(raw + OFF_OP, hdr->op);
	le_put32(raw + OFF_FLAGS, hdr->flags);
	le_put32(raw + OFF_BUF_ALLOC, hdr->buf_alloc);
	le_put32(raw + OFF_FWD_CNT, hdr->fwd_cnt);
}

enum vsock_packet_check vsock_packet_parse(const struct virtq_chain *chain,
					   uint64_t guest_cid,
					   struct vsock_hdr *hdr)
{
	uint8_t raw[VSOCK_HDR_SIZE];

	memset(hdr, 0, sizeof(*hdr));
	if (chain->readable_len < VSOCK_HDR_SIZE ||
	    virtq_chain_read(chain, 0, raw, sizeof(raw)) != sizeof(raw))
		return VSOCK_PACKET_SHORT;
	vsock_hdr_decode(hdr, raw);
	/* Spec 5.10.6 "Addressing": the driver sets src_cid to its own CID;
	 * anything else is a guest spoofing another peer. */
	if (hdr->src_cid != guest_cid)
		return VSOCK_PACKET_SRC_CID;
	if (hdr->len > VSOCK_MAX_PAYLOAD)
		return VSOCK_PACKET_LEN_TOO_BIG;
	if (hdr->len > chain->readable_len - VSOCK_HDR_SIZE)
		return VSOCK_PACKET_LEN_BEYOND_CHAIN;
	if (hdr->dst_cid != VSOCK_HOST_CID)
		return VSOCK_PACKET_DST_CID;
	if (hdr->type != VIRTIO_VSOCK_TYPE_STREAM)
		return VSOCK_PACKET_TYPE;
	if (hdr->op < VIRTIO_VSOCK_OP_REQUEST ||
	    hdr->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		return VSOCK_PACKET_OP;
	return VSOCK_PACKET_OK;
}

const char *vsock_packet_check_text(enum vsock_packet_check check)
{
	switch (check) {
	case VSOCK_PACKET_OK:
		return "valid";
	case VSOCK_PACKET_SHORT:
		return "shorter than a header";
	case VSOCK_PACKET_SRC_CID:
		return "src_cid is not the guest's CID";
	case VSOCK_PACKET_LEN_TOO_BIG:
		return "len above 64 KiB";
	case VSOCK_PACKET_LEN_BEYOND_CHAIN:
		return "len beyond the buffers";
	case VSOCK_PACKET_DST_CID:
		return "dst_cid is not the host";
	case VSOCK_PACKET_TYPE:
		return "not a stream packet";
	case VSOCK_PACKET_OP:
		return "unknown op";
	}
	return "invalid";
}
