#include "virtio/virtio_blk_request.h"

#include <endian.h>
#include <string.h>

#define SECTOR_SHIFT 9
#define HEADER_SIZE 16
#define SEGMENT_SIZE 16

/* The header as it lies in guest memory (spec 5.2.6). */
struct blk_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* The discard / write-zeroes segment (spec 5.2.6, struct
 * virtio_blk_discard_write_zeroes). */
struct blk_segment {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static uint64_t total_length(const struct iovec *iov, int count)
{
	uint64_t total = 0;

	for (int i = 0; i < count; i++)
		total += iov[i].iov_len; /* chains are below 4 GiB */
	return total;
}

/* Copies len bytes starting `offset` bytes into the iovecs; returns false
 * when they hold fewer. The guest may change its buffers meanwhile: the
 * copy is what tern decides on. */
static bool gather(const struct iovec *iov, int count, uint64_t offset,
		   void *dst, size_t len)
{
	uint8_t *out = dst;

	for (int i = 0; i < count && len; i++) {
		size_t take;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - offset;
		if (take > len)
			take = len;
		memcpy(out, (const uint8_t *)iov[i].iov_base + offset, take);
		out += take;
		len -= take;
		offset = 0;
	}
	return len == 0;
}

/* Drops the first `skip` bytes of the array in place; returns the new
 * start and count through the pointers. */
static void skip_front(struct iovec **iov, int *count, uint64_t skip)
{
	while (*count && skip >= (*iov)->iov_len) {
		skip -= (*iov)->iov_len;
		(*iov)++;
		(*count)--;
	}
	if (*count && skip) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + skip;
		(*iov)->iov_len -= skip;
	}
}

/* Splits the status byte (the last writable byte) off the writable part. */
static uint8_t *take_status_byte(struct iovec *writable, int *count)
{
	while (*count && writable[*count - 1].iov_len == 0)
		(*count)--;
	if (*count == 0)
		return NULL;
	struct iovec *last = &writable[*count - 1];

	last->iov_len--;
	if (last->iov_len == 0)
		(*count)--;
	return (uint8_t *)last->iov_base + last->iov_len;
}

static void answer(struct virtio_blk_req *req, uint8_t status)
{
	req->action = VIRTIO_BLK_ACTION_DONE;
	req->status = status;
	req->used_len = 1;
}

/* Whether [sector, sector + sectors) lies on the disk, without overflow. */
static bool range_ok(const struct virtio_blk_limits *limits, uint64_t sector,
		     uint64_t sectors)
{
	return sector <= limits->capacity &&
		sectors <= limits->capacity - sector;
}

static void parse_rw(const struct virtio_blk_limits *limits, struct iovec *data,
		     int data_count, bool write, struct virtio_blk_req *req)
{
	uint64_t len = total_length(data, data_count);

	if (write && limits->readonly)
		return answer(req, VIRTIO_BLK_S_IOERR);
	/* Buffers are whole sectors (spec 5.2.6.1 "MUST be a multiple of
	 * 512 bytes"). */
	if (len % 512 || !range_ok(limits, req->sector, len >> SECTOR_SHIFT))
		return answer(req, VIRTIO_BLK_S_IOERR);
	if (len == 0)
		return answer(req, VIRTIO_BLK_S_OK);
	req->action = write ? VIRTIO_BLK_ACTION_WRITE : VIRTIO_BLK_ACTION_READ;
	req->data = data;
	req->data_count = data_count;
	req->data_len = len;
	req->used_len = write ? 1 : (uint32_t)len + 1;
}

static void parse_get_id(const struct virtio_blk_limits *limits,
			 struct iovec *data, int data_count,
			 struct virtio_blk_req *req)
{
	uint64_t room = total_length(data, data_count);
	size_t n =
		room < VIRTIO_BLK_ID_BYTES ? (size_t)room : VIRTIO_BLK_ID_BYTES;
	size_t done = 0;

	for (int i = 0; i < data_count && done < n; i++) {
		size_t take =
			data[i].iov_len < n - done ? data[i].iov_len : n - done;

		memcpy(data[i].iov_base, limits->id + done, take);
		done += take;
	}
	answer(req, VIRTIO_BLK_S_OK);
	req->used_len = (uint32_t)n + 1;
}

static void parse_ranges(const struct virtio_blk_limits *limits,
			 const struct iovec *readable, int readable_count,
			 uint64_t readable_len, struct virtio_blk_req *req)
{
	bool discard = req->type == VIRTIO_BLK_T_DISCARD;
	uint32_t max_sectors = discard ? limits->max_discard_sectors
				       : limits->max_write_zeroes_sectors;
	uint32_t max_seg = discard ? limits->max_discard_seg
				   : limits->max_write_zeroes_seg;
	uint64_t bytes = readable_len - HEADER_SIZE;
	uint64_t count = bytes / SEGMENT_SIZE;

	if (!(discard ? limits->discard : limits->write_zeroes))
		return answer(req, VIRTIO_BLK_S_UNSUPP);
	if (limits->readonly)
		return answer(req, VIRTIO_BLK_S_IOERR);
	if (bytes == 0 || bytes % SEGMENT_SIZE || count > max_seg ||
	    count > VIRTIO_BLK_MAX_RANGES)
		return answer(req, VIRTIO_BLK_S_IOERR);

	req->range_count = 0;
	for (uint64_t i = 0; i < count; i++) {
		struct blk_segment seg;
		uint64_t sector;
		uint32_t sectors, flags;

		gather(readable, readable_count, HEADER_SIZE + i * SEGMENT_SIZE,
		       &seg, sizeof(seg));
		sector = le64toh(seg.sector);
		sectors = le32toh(seg.num_sectors);
		flags = le32toh(seg.flags);
		/* Spec 5.2.6.2: unknown flags, and unmap on a discard, are
		 * unsupported. */
		if (flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP ||
		    (discard && flags))
			return answer(req, VIRTIO_BLK_S_UNSUPP);
		if (sectors > max_sectors || !range_ok(limits, sector, sectors))
			return answer(req, VIRTIO_BLK_S_IOERR);
		if (sectors == 0)
			continue;
		req->ranges[req->range_count++] = (struct virtio_blk_range){
			.offset = sector << SECTOR_SHIFT,
			.length = (uint64_t)sectors << SECTOR_SHIFT,
			.unmap = flags != 0,
		};
	}
	if (req->range_count == 0)
		return answer(req, VIRTIO_BLK_S_OK);
	req->action = discard ? VIRTIO_BLK_ACTION_DISCARD
			      : VIRTIO_BLK_ACTION_WRITE_ZEROES;
	req->used_len = 1;
}

void virtio_blk_request_parse(const struct virtio_blk_limits *limits,
			      struct iovec *readable, int readable_count,
			      struct iovec *writable, int writable_count,
			      struct virtio_blk_req *req)
{
	uint64_t readable_len = total_length(readable, readable_count);
	struct blk_header header;
	struct iovec *data;
	int data_count;

	memset(req, 0, sizeof(*req));
	req->status_byte = take_status_byte(writable, &writable_count);
	if (!req->status_byte) {
		req->action = VIRTIO_BLK_ACTION_DROP;
		return;
	}
	if (!gather(readable, readable_count, 0, &header, sizeof(header)))
		return answer(req, VIRTIO_BLK_S_IOERR);
	req->type = le32toh(header.type);
	req->sector = le64toh(header.sector);

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		return parse_rw(limits, writable, writable_count, false, req);
	case VIRTIO_BLK_T_OUT:
		data = readable;
		data_count = readable_count;
		skip_front(&data, &data_count, HEADER_SIZE);
		return parse_rw(limits, data, data_count, true, req);
	case VIRTIO_BLK_T_FLUSH:
		req->action = VIRTIO_BLK_ACTION_FLUSH;
		req->used_len = 1;
		return;
	case VIRTIO_BLK_T_GET_ID:
		return parse_get_id(limits, writable, writable_count, req);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_ranges(limits, readable, readable_count,
				    readable_len, req);
	}
	answer(req, VIRTIO_BLK_S_UNSUPP);
}
