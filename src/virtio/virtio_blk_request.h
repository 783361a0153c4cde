/* One virtio-blk request (virtio 1.x spec 5.2.6) checked and decoded from
 * its descriptor chain, apart from any queue or backend, so it can be tested
 * with hostile input alone. The chain is: a 16-byte header (type, reserved,
 * sector) at the start of the device-readable part, possibly split across
 * descriptors; then the data (device-readable for OUT, DISCARD and
 * WRITE_ZEROES; device-writable for IN and GET_ID); then one status byte,
 * the last device-writable byte. */
#ifndef TERN_VIRTIO_VIRTIO_BLK_REQUEST_H
#define TERN_VIRTIO_VIRTIO_BLK_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_blk.h>

/* Segments of one DISCARD or WRITE_ZEROES request tern takes at most
 * (advertised as max_discard_seg and max_write_zeroes_seg). */
#define VIRTIO_BLK_MAX_RANGES 16

/* What the device offers and the driver accepted, as the parser needs it. */
struct virtio_blk_limits {
	uint64_t capacity; /* 512-byte sectors */
	bool readonly;
	bool discard; /* VIRTIO_BLK_F_DISCARD negotiated */
	bool write_zeroes; /* VIRTIO_BLK_F_WRITE_ZEROES negotiated */
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	/* GET_ID answer: up to VIRTIO_BLK_ID_BYTES, NUL-padded when
	 * shorter. */
	char id[VIRTIO_BLK_ID_BYTES];
};

enum virtio_blk_action {
	/* Answered already: write `status`, give back used_len bytes. */
	VIRTIO_BLK_ACTION_DONE,
	VIRTIO_BLK_ACTION_READ,
	VIRTIO_BLK_ACTION_WRITE,
	VIRTIO_BLK_ACTION_FLUSH,
	VIRTIO_BLK_ACTION_DISCARD,
	VIRTIO_BLK_ACTION_WRITE_ZEROES,
	/* No status byte to answer in: return the chain with 0 bytes. */
	VIRTIO_BLK_ACTION_DROP,
};

struct virtio_blk_range {
	uint64_t offset; /* bytes */
	uint64_t length; /* bytes, never 0 */
	bool unmap; /* WRITE_ZEROES may deallocate */
};

struct virtio_blk_req {
	enum virtio_blk_action action;
	uint8_t status; /* VIRTIO_BLK_S_* for ACTION_DONE */
	uint8_t *status_byte; /* in guest memory; NULL for ACTION_DROP */
	uint32_t type; /* as the driver sent it */
	uint64_t sector;
	/* READ/WRITE: the data buffers, inside the caller's iovec arrays
	 * (trimmed in place); offset = sector * 512. */
	struct iovec *data;
	int data_count;
	uint64_t data_len;
	/* DISCARD/WRITE_ZEROES: the checked, non-empty segments. */
	struct virtio_blk_range ranges[VIRTIO_BLK_MAX_RANGES];
	int range_count;
	/* Bytes the device writes into the chain when the action succeeds,
	 * the status byte included (the used ring's len). */
	uint32_t used_len;
};

/* Decodes one chain. readable/writable are the chain's host iovecs; the
 * arrays may be modified (data trimmed off the header and status byte).
 * Never fails: a bad request becomes ACTION_DONE with VIRTIO_BLK_S_IOERR
 * (malformed, out of range, a change to a read-only disk) or
 * VIRTIO_BLK_S_UNSUPP (unknown type or flags), or ACTION_DROP. GET_ID is
 * answered here (its id bytes are written into the chain). */
void virtio_blk_request_parse(const struct virtio_blk_limits *limits,
			      struct iovec *readable, int readable_count,
			      struct iovec *writable, int writable_count,
			      struct virtio_blk_req *req);

#endif
