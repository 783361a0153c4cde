/* virtio-blk request decoding with well-formed and hostile chains: headers
 * split anywhere, ranges past the end, sizes that are not whole sectors,
 * segment lists, GET_ID, read-only disks, unknown types, and random chains
 * (under ASan any access outside the chain's buffers fails the test). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "virtio/virtio_blk_request.h"

#define CAPACITY 2048 /* sectors: 1 MiB */

static struct virtio_blk_limits limits(void)
{
	struct virtio_blk_limits l = {
		.capacity = CAPACITY,
		.discard = true,
		.write_zeroes = true,
		.max_discard_sectors = 1024,
		.max_discard_seg = 4,
		.max_write_zeroes_sectors = 1024,
		.max_write_zeroes_seg = 4,
	};

	memcpy(l.id, "disk0", 5);
	return l;
}

static void put_header(uint8_t *buf, uint32_t type, uint64_t sector)
{
	memset(buf, 0, 16);
	memcpy(buf, &type, 4);
	memcpy(buf + 8, &sector, 8);
}

static void put_segment(uint8_t *buf, uint64_t sector, uint32_t sectors,
			uint32_t flags)
{
	memcpy(buf, &sector, 8);
	memcpy(buf + 8, &sectors, 4);
	memcpy(buf + 12, &flags, 4);
}

/* A request with its header in one readable buffer, `data` bytes of
 * writable (IN) or readable (OUT) data, and a separate status byte. */
struct simple {
	uint8_t header[16 + 16 * 20];
	uint8_t data[8192];
	uint8_t status;
	struct iovec readable[2], writable[2];
	int nr, nw;
	struct virtio_blk_req req;
};

static void parse_simple(struct simple *s, const struct virtio_blk_limits *l,
			 uint32_t type, uint64_t sector, size_t data_len,
			 bool data_writable, size_t header_len)
{
	put_header(s->header, type, sector);
	s->readable[0] = (struct iovec){s->header, header_len};
	s->nr = 1;
	s->nw = 0;
	if (data_len && data_writable)
		s->writable[s->nw++] = (struct iovec){s->data, data_len};
	else if (data_len)
		s->readable[s->nr++] = (struct iovec){s->data, data_len};
	s->writable[s->nw++] = (struct iovec){&s->status, 1};
	virtio_blk_request_parse(l, s->readable, s->nr, s->writable, s->nw,
				 &s->req);
}

static void expect_status(const struct virtio_blk_req *req, uint8_t status)
{
	assert_int_equal(req->action, VIRTIO_BLK_ACTION_DONE);
	assert_int_equal(req->status, status);
	assert_int_equal(req->used_len, 1);
}

static void read_with_header_split_three_ways(void **state)
{
	struct virtio_blk_limits l = limits();
	uint8_t header[16], data[1536 + 1];
	struct iovec readable[3], writable[2];
	struct virtio_blk_req req;

	put_header(header, VIRTIO_BLK_T_IN, 100);
	readable[0] = (struct iovec){header, 5};
	readable[1] = (struct iovec){header + 5, 7};
	readable[2] = (struct iovec){header + 12, 4};
	writable[0] = (struct iovec){data, 512};
	/* the status byte shares the last data buffer */
	writable[1] = (struct iovec){data + 512, 1025};
	virtio_blk_request_parse(&l, readable, 3, writable, 2, &req);
	assert_int_equal(req.action, VIRTIO_BLK_ACTION_READ);
	assert_int_equal(req.sector, 100);
	assert_int_equal(req.data_count, 2);
	assert_int_equal(req.data_len, 1536);
	assert_ptr_equal(req.data[0].iov_base, data);
	assert_int_equal(req.data[1].iov_len, 1024);
	assert_ptr_equal(req.status_byte, data + 1536);
	assert_int_equal(req.used_len, 1537);
}

static void write_with_data_after_header_in_one_buffer(void **state)
{
	struct virtio_blk_limits l = limits();
	uint8_t buf[16 + 1024], status;
	struct iovec readable[1] = {{buf, sizeof(buf)}};
	struct iovec writable[1] = {{&status, 1}};
	struct virtio_blk_req req;

	put_header(buf, VIRTIO_BLK_T_OUT, CAPACITY - 2);
	virtio_blk_request_parse(&l, readable, 1, writable, 1, &req);
	assert_int_equal(req.action, VIRTIO_BLK_ACTION_WRITE);
	assert_int_equal(req.data_count, 1);
	assert_ptr_equal(req.data[0].iov_base, buf + 16);
	assert_int_equal(req.data_len, 1024);
	assert_ptr_equal(req.status_byte, &status);
	assert_int_equal(req.used_len, 1);
}

static void no_status_byte_drops_the_request(void **state)
{
	struct virtio_blk_limits l = limits();
	uint8_t header[16], empty;
	struct iovec readable[1] = {{header, 16}};
	struct iovec writable[1] = {{&empty, 0}};
	struct virtio_blk_req req;

	put_header(header, VIRTIO_BLK_T_FLUSH, 0);
	virtio_blk_request_parse(&l, readable, 1, writable, 0, &req);
	assert_int_equal(req.action, VIRTIO_BLK_ACTION_DROP);
	assert_null(req.status_byte);
	virtio_blk_request_parse(&l, readable, 1, writable, 1, &req);
	assert_int_equal(req.action, VIRTIO_BLK_ACTION_DROP);
}

static void short_header_is_an_io_error(void **state)
{
	struct virtio_blk_limits l = limits();
	struct simple s;

	parse_simple(&s, &l, VIRTIO_BLK_T_IN, 0, 512, true, 15);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_IN, 0, 0, true, 0);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
}

static void sectors_past_the_end_are_io_errors(void **state)
{
	struct virtio_blk_limits l = limits();
	struct simple s;

	parse_simple(&s, &l, VIRTIO_BLK_T_IN, CAPACITY - 1, 512, true, 16);
	assert_int_equal(s.req.action, VIRTIO_BLK_ACTION_READ);
	parse_simple(&s, &l, VIRTIO_BLK_T_IN, CAPACITY - 1, 1024, true, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_OUT, CAPACITY, 512, false, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	/* sector * 512 would wrap around to a small offset */
	parse_simple(&s, &l, VIRTIO_BLK_T_IN, 1ULL << 55, 512, true, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_OUT, UINT64_MAX, 512, false, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, 1024, false, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
}

static void partial_sectors_are_io_errors(void **state)
{
	struct virtio_blk_limits l = limits();
	struct simple s;

	parse_simple(&s, &l, VIRTIO_BLK_T_IN, 0, 511, true, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_OUT, 0, 1000, false, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	/* an OUT whose header is longer than 16 bytes shifts its data */
	parse_simple(&s, &l, VIRTIO_BLK_T_OUT, 0, 512, false, 20);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
}

static void readonly_disk_refuses_changes(void **state)
{
	struct virtio_blk_limits l = limits();
	struct simple s;

	l.readonly = true;
	parse_simple(&s, &l, VIRTIO_BLK_T_OUT, 0, 512, false, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_IN, 0, 512, true, 16);
	assert_int_equal(s.req.action, VIRTIO_BLK_ACTION_READ);
	parse_simple(&s, &l, VIRTIO_BLK_T_FLUSH, 0, 0, true, 16);
	assert_int_equal(s.req.action, VIRTIO_BLK_ACTION_FLUSH);
	put_segment(s.header + 16, 0, 8, 0);
	parse_simple(&s, &l, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, true, 32);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
}

static void unknown_types_are_unsupported(void **state)
{
	struct virtio_blk_limits l = limits();
	uint32_t types[] = {2, 3, 5, 14, 99, 0x80000000u, 0x80000001u};
	struct simple s;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		parse_simple(&s, &l, types[i], 0, 512, true, 16);
		expect_status(&s.req, VIRTIO_BLK_S_UNSUPP);
	}
}

static void get_id_writes_the_padded_id(void **state)
{
	struct virtio_blk_limits l = limits();
	struct simple s;

	memset(s.data, 0xee, sizeof(s.data));
	parse_simple(&s, &l, VIRTIO_BLK_T_GET_ID, 0, 32, true, 16);
	assert_int_equal(s.req.action, VIRTIO_BLK_ACTION_DONE);
	assert_int_equal(s.req.status, VIRTIO_BLK_S_OK);
	assert_int_equal(s.req.used_len, 21);
	assert_memory_equal(s.data, "disk0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(s.data[20], 0xee);

	/* a smaller buffer gets what fits, and nothing past it */
	memset(s.data, 0xee, sizeof(s.data));
	memcpy(l.id, "0123456789abcdefghij", 20);
	parse_simple(&s, &l, VIRTIO_BLK_T_GET_ID, 0, 8, true, 16);
	assert_int_equal(s.req.used_len, 9);
	assert_memory_equal(s.data, "01234567", 8);
	assert_int_equal(s.data[8], 0xee);
}

static void discard_and_write_zeroes_segments(void **state)
{
	struct virtio_blk_limits l = limits();
	struct simple s;

	put_segment(s.header + 16, 8, 16, 0);
	put_segment(s.header + 32, 100, 0, 0); /* empty: skipped */
	put_segment(s.header + 48, CAPACITY - 8, 8, 0);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 16 + 48);
	assert_int_equal(s.req.action, VIRTIO_BLK_ACTION_DISCARD);
	assert_int_equal(s.req.range_count, 2);
	assert_int_equal(s.req.ranges[0].offset, 8 * 512);
	assert_int_equal(s.req.ranges[0].length, 16 * 512);
	assert_int_equal(s.req.ranges[1].offset, (CAPACITY - 8) * 512);

	put_segment(s.header + 16, 0, 1024, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	parse_simple(&s, &l, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, true, 32);
	assert_int_equal(s.req.action, VIRTIO_BLK_ACTION_WRITE_ZEROES);
	assert_true(s.req.ranges[0].unmap);
}

static void hostile_segments(void **state)
{
	struct virtio_blk_limits l = limits();
	struct simple s;

	/* unmap on a discard, unknown flags: unsupported (spec 5.2.6.2) */
	put_segment(s.header + 16, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 32);
	expect_status(&s.req, VIRTIO_BLK_S_UNSUPP);
	put_segment(s.header + 16, 0, 8, 2);
	parse_simple(&s, &l, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, true, 32);
	expect_status(&s.req, VIRTIO_BLK_S_UNSUPP);
	/* more sectors than max_*_sectors */
	put_segment(s.header + 16, 0, 1025, 0);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 32);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	/* past the end, and wrapping around */
	put_segment(s.header + 16, CAPACITY - 4, 8, 0);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 32);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	put_segment(s.header + 16, UINT64_MAX - 3, 8, 0);
	parse_simple(&s, &l, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, true, 32);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	/* more segments than max_*_seg, a partial segment, none at all */
	for (int i = 0; i < 5; i++)
		put_segment(s.header + 16 + 16 * i, 0, 8, 0);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 16 + 80);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 16 + 20);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 16);
	expect_status(&s.req, VIRTIO_BLK_S_IOERR);
	/* not negotiated */
	l.discard = false;
	put_segment(s.header + 16, 0, 8, 0);
	parse_simple(&s, &l, VIRTIO_BLK_T_DISCARD, 0, 0, true, 32);
	expect_status(&s.req, VIRTIO_BLK_S_UNSUPP);
}

static void segment_split_across_buffers(void **state)
{
	struct virtio_blk_limits l = limits();
	uint8_t buf[32], status;
	struct iovec readable[4], writable[1] = {{&status, 1}};
	struct virtio_blk_req req;

	put_header(buf, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	put_segment(buf + 16, 64, 32, 0);
	readable[0] = (struct iovec){buf, 10};
	readable[1] = (struct iovec){buf + 10, 10};
	readable[2] = (struct iovec){buf + 20, 3};
	readable[3] = (struct iovec){buf + 23, 9};
	virtio_blk_request_parse(&l, readable, 4, writable, 1, &req);
	assert_int_equal(req.action, VIRTIO_BLK_ACTION_WRITE_ZEROES);
	assert_int_equal(req.range_count, 1);
	assert_int_equal(req.ranges[0].offset, 64 * 512);
	assert_int_equal(req.ranges[0].length, 32 * 512);
}

/* Random chains over one heap buffer each, cut at random places: whatever
 * the parser decides must stay inside them. */
static void random_chains_stay_inside_their_buffers(void **state)
{
	struct virtio_blk_limits l = limits();

	srand(1234);
	for (int round = 0; round < 20000; round++) {
		size_t rlen = (size_t)(rand() % 200),
		       wlen = (size_t)(rand() % 2100);
		uint8_t *rbuf = malloc(rlen + 1), *wbuf = malloc(wlen + 1);
		struct iovec readable[8], writable[8];
		int nr = 0, nw = 0;
		size_t at = 0;
		struct virtio_blk_req req;
		uint32_t types[] = {0, 1, 4, 8, 11, 13, (uint32_t)rand()};

		for (size_t i = 0; i < rlen; i++)
			rbuf[i] = (uint8_t)rand();
		if (rlen >= 4) {
			memcpy(rbuf, &types[rand() % 7], 4);
			if (rlen >= 16 && rand() % 2) {
				uint64_t sector = (uint64_t)(rand() % 2100);

				memcpy(rbuf + 8, &sector, 8);
			}
		}
		while (at < rlen && nr < 8) {
			size_t n = (size_t)(rand() % 40) + 1;

			n = n > rlen - at ? rlen - at : n;
			readable[nr++] = (struct iovec){rbuf + at, n};
			at += n;
		}
		at = 0;
		while (at < wlen && nw < 8) {
			size_t n = (size_t)(rand() % 700) + 1;

			n = n > wlen - at || nw == 7 ? wlen - at : n;
			writable[nw++] = (struct iovec){wbuf + at, n};
			at += n;
		}
		l.readonly = rand() % 4 == 0;
		virtio_blk_request_parse(&l, readable, nr, writable, nw, &req);
		if (req.action != VIRTIO_BLK_ACTION_DROP) {
			assert_true(req.status_byte >= wbuf &&
				    req.status_byte < wbuf + wlen);
			*req.status_byte = 0; /* ASan checks the pointer */
		}
		for (int i = 0; i < req.data_count; i++)
			if (req.data[i].iov_len)
				memset(req.data[i].iov_base, 0x11,
				       req.data[i].iov_len);
		if (req.action == VIRTIO_BLK_ACTION_READ)
			assert_true(req.used_len == req.data_len + 1);
		if (req.action == VIRTIO_BLK_ACTION_WRITE)
			assert_false(l.readonly);
		free(rbuf);
		free(wbuf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_with_header_split_three_ways),
		cmocka_unit_test(write_with_data_after_header_in_one_buffer),
		cmocka_unit_test(no_status_byte_drops_the_request),
		cmocka_unit_test(short_header_is_an_io_error),
		cmocka_unit_test(sectors_past_the_end_are_io_errors),
		cmocka_unit_test(partial_sectors_are_io_errors),
		cmocka_unit_test(readonly_disk_refuses_changes),
		cmocka_unit_test(unknown_types_are_unsupported),
		cmocka_unit_test(get_id_writes_the_padded_id),
		cmocka_unit_test(discard_and_write_zeroes_segments),
		cmocka_unit_test(hostile_segments),
		cmocka_unit_test(segment_split_across_buffers),
		cmocka_unit_test(random_chains_stay_inside_their_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
