/* The virtio-vsock packet header codec and checks, the connection table's
 * credit accounting and the CONNECT line parser, without a device. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <linux/virtio_vsock.h>

#include "virtio/vsock/vsock_conn.h"
#include "virtio/vsock/vsock_packet.h"
#include "virtio/vsock/vsock_unix.h"

#define GUEST_CID 3

static const struct vsock_hdr sample = {
	.src_cid = GUEST_CID,
	.dst_cid = VSOCK_HOST_CID,
	.src_port = 0x11223344,
	.dst_port = 5000,
	.len = 0,
	.type = VIRTIO_VSOCK_TYPE_STREAM,
	.op = VIRTIO_VSOCK_OP_REQUEST,
	.flags = 0,
	.buf_alloc = 262144,
	.fwd_cnt = 7,
};

/* A tx chain: the raw header, then `payload` readable bytes. */
struct packet {
	uint8_t raw[VSOCK_HDR_SIZE + 64];
	struct virtq_chain chain;
};

static void build(struct packet *p, const struct vsock_hdr *hdr,
		  uint32_t readable)
{
	memset(p->raw, 0, sizeof(p->raw));
	vsock_hdr_encode(hdr, p->raw);
	memset(&p->chain, 0, sizeof(p->chain));
	/* Split inside the header, as a driver's sg list may. */
	if (readable > 10) {
		p->chain.iov[0] = (struct iovec){p->raw, 10};
		p->chain.iov[1] = (struct iovec){p->raw + 10, readable - 10};
		p->chain.readable_count = 2;
	} else {
		p->chain.iov[0] = (struct iovec){p->raw, readable};
		p->chain.readable_count = 1;
	}
	p->chain.readable_len = readable;
}

static enum vsock_packet_check parse(struct packet *p, struct vsock_hdr *out)
{
	return vsock_packet_parse(&p->chain, GUEST_CID, out);
}

static void header_is_44_little_endian_bytes(void **state)
{
	uint8_t raw[VSOCK_HDR_SIZE];
	struct vsock_hdr back;

	vsock_hdr_encode(&sample, raw);
	/* Field offsets of struct virtio_vsock_hdr (spec 5.10.6). */
	assert_int_equal(raw[0], GUEST_CID);
	assert_int_equal(raw[8], VSOCK_HOST_CID);
	assert_memory_equal(raw + 16, "\x44\x33\x22\x11", 4);
	assert_int_equal(raw[20] | raw[21] << 8, 5000);
	assert_int_equal(raw[28], VIRTIO_VSOCK_TYPE_STREAM);
	assert_int_equal(raw[30], VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(raw[38], 4); /* 262144 = 0x40000 */
	assert_int_equal(raw[40], 7);
	memset(&back, 0, sizeof(back)); /* padding, for the comparison */
	vsock_hdr_decode(&back, raw);
	assert_memory_equal(&back, &sample, sizeof(back));
}

static void valid_packets_parse(void **state)
{
	struct packet p;
	struct vsock_hdr hdr = sample, out;

	build(&p, &hdr, VSOCK_HDR_SIZE);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_OK);
	assert_int_equal(out.dst_port, 5000);
	hdr.op = VIRTIO_VSOCK_OP_RW;
	hdr.len = 64;
	build(&p, &hdr, VSOCK_HDR_SIZE + 64);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_OK);
	assert_int_equal(out.len, 64);
	/* Extra readable bytes beyond len are tolerated. */
	hdr.len = 10;
	build(&p, &hdr, VSOCK_HDR_SIZE + 64);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_OK);
}

static void hostile_headers_are_refused(void **state)
{
	struct packet p;
	struct vsock_hdr hdr, out;

	build(&p, &sample, VSOCK_HDR_SIZE - 1);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_SHORT);
	build(&p, &sample, 0);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_SHORT);

	hdr = sample;
	hdr.src_cid = 4;
	build(&p, &hdr, VSOCK_HDR_SIZE);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_SRC_CID);

	hdr = sample;
	hdr.len = 0xffffffff;
	build(&p, &hdr, VSOCK_HDR_SIZE + 64);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_LEN_TOO_BIG);

	hdr = sample;
	hdr.len = 65;
	build(&p, &hdr, VSOCK_HDR_SIZE + 64);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_LEN_BEYOND_CHAIN);
	hdr.len = 1;
	build(&p, &hdr, VSOCK_HDR_SIZE);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_LEN_BEYOND_CHAIN);

	hdr = sample;
	hdr.dst_cid = 1;
	build(&p, &hdr, VSOCK_HDR_SIZE);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_DST_CID);
	assert_int_equal(out.dst_cid, 1);

	hdr = sample;
	hdr.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	build(&p, &hdr, VSOCK_HDR_SIZE);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_TYPE);

	hdr = sample;
	hdr.op = VIRTIO_VSOCK_OP_INVALID;
	build(&p, &hdr, VSOCK_HDR_SIZE);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_OP);
	hdr.op = VIRTIO_VSOCK_OP_CREDIT_REQUEST + 1;
	build(&p, &hdr, VSOCK_HDR_SIZE);
	assert_int_equal(parse(&p, &out), VSOCK_PACKET_OP);
	assert_string_equal(vsock_packet_check_text(VSOCK_PACKET_OP),
			    "unknown op");
}

static void connect_lines(void **state)
{
	uint32_t port = 0;

#define LINE(s) s, sizeof(s) - 1
	assert_int_equal(
		vsock_unix_parse_connect_line(LINE("CONNECT 52\n"), &port), 0);
	assert_int_equal(port, 52);
	assert_int_equal(vsock_unix_parse_connect_line(
				 LINE("CONNECT 4294967295\n"), &port),
			 0);
	assert_int_equal(port, 4294967295u);
	assert_int_equal(vsock_unix_parse_connect_line(
				 LINE("CONNECT 4294967296\n"), &port),
			 -EPROTO);
	assert_int_equal(
		vsock_unix_parse_connect_line(LINE("CONNECT \n"), &port),
		-EPROTO);
	assert_int_equal(
		vsock_unix_parse_connect_line(LINE("CONNECT 5x\n"), &port),
		-EPROTO);
	assert_int_equal(
		vsock_unix_parse_connect_line(LINE("connect 5\n"), &port),
		-EPROTO);
	assert_int_equal(
		vsock_unix_parse_connect_line(LINE("CONNECT 5"), &port),
		-EPROTO);
	assert_int_equal(
		vsock_unix_parse_connect_line(LINE("CONNECT -5\n"), &port),
		-EPROTO);
#undef LINE
}

static void table_finds_by_port_pair_and_caps_connections(void **state)
{
	static struct vsock_conn_table table;
	struct vsock_conn *c, *d;
	int opened = 0;

	vsock_conn_table_init(&table);
	c = vsock_conn_open(&table);
	assert_non_null(c);
	c->state = VSOCK_CONN_ESTABLISHED;
	c->local_port = 5000;
	c->peer_port = 1234;
	assert_ptr_equal(vsock_conn_find(&table, 5000, 1234), c);
	assert_null(vsock_conn_find(&table, 1234, 5000));
	assert_null(vsock_conn_find(&table, 5000, 1235));
	/* Host-side ports for a guest port skip the pairs in use. */
	d = vsock_conn_open(&table);
	d->state = VSOCK_CONN_CONNECTING;
	d->peer_port = 52;
	d->local_port = vsock_conn_pick_local_port(&table, 52);
	assert_true(d->local_port >= 1u << 30);
	table.next_local_port = d->local_port;
	assert_int_not_equal(vsock_conn_pick_local_port(&table, 52),
			     d->local_port);
	/* The table is bounded. */
	for (opened = 2; vsock_conn_open(&table); opened++)
		;
	assert_int_equal(opened, VSOCK_MAX_CONNECTIONS);
	assert_int_equal(table.count, VSOCK_MAX_CONNECTIONS);
	vsock_conn_release(&table, c);
	assert_int_equal(table.count, VSOCK_MAX_CONNECTIONS - 1);
	assert_null(vsock_conn_find(&table, 5000, 1234));
	for (int i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
		vsock_conn_release(&table, &table.conns[i]);
	assert_int_equal(table.count, 0);
}

static void peer_credit_never_goes_negative(void **state)
{
	struct vsock_conn c = {0};

	vsock_conn_peer_credit_update(&c, 4096, 0);
	assert_int_equal(vsock_conn_peer_credit(&c), 4096);
	c.tx_cnt = 4000;
	assert_int_equal(vsock_conn_peer_credit(&c), 96);
	c.tx_cnt = 4096;
	assert_int_equal(vsock_conn_peer_credit(&c), 0);
	vsock_conn_peer_credit_update(&c, 4096, 4096);
	assert_int_equal(vsock_conn_peer_credit(&c), 4096);
	/* Counters wrap (spec: free-running u32). */
	c.tx_cnt = 100;
	vsock_conn_peer_credit_update(&c, 4096, 0xfffffff0u);
	assert_int_equal(vsock_conn_peer_credit(&c), 4096 - 116);
	/* A guest claiming to have consumed more than was sent, or shrinking
	 * its buffer below what is in flight, gets nothing. */
	vsock_conn_peer_credit_update(&c, 4096, 200);
	assert_int_equal(vsock_conn_peer_credit(&c), 0);
	vsock_conn_peer_credit_update(&c, 10, 0);
	assert_int_equal(vsock_conn_peer_credit(&c), 0);
}

static void receive_buffer_is_the_advertised_credit(void **state)
{
	static struct vsock_conn_table table;
	static uint8_t data[VSOCK_CONN_BUF_SIZE];
	struct vsock_conn *c;
	struct iovec iov[2];
	int count;

	vsock_conn_table_init(&table);
	c = vsock_conn_open(&table);
	c->state = VSOCK_CONN_ESTABLISHED;
	assert_int_equal(vsock_conn_queue_reply(c, "OK 1073741824\n"), 0);
	assert_true(vsock_conn_can_receive(c, VSOCK_CONN_BUF_SIZE));
	assert_false(vsock_conn_can_receive(c, VSOCK_CONN_BUF_SIZE + 1));
	for (uint32_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	count = vsock_conn_receive_iov(c, 1000, iov);
	assert_int_equal(count, 1);
	memcpy(iov[0].iov_base, data, 1000);
	vsock_conn_commit_guest_data(c, 1000);
	/* The reply goes first and does not count as forwarded guest data. */
	count = vsock_conn_pending_iov(c, iov);
	assert_int_equal(count, 1);
	assert_int_equal(iov[0].iov_len, 14 + 1000);
	assert_memory_equal(iov[0].iov_base, "OK 1073741824\n", 14);
	vsock_conn_consume(c, 20);
	assert_int_equal(c->fwd_cnt, 6);
	assert_int_equal(c->reply_len, 0);
	vsock_conn_consume(c, 994);
	assert_int_equal(c->fwd_cnt, 1000);
	/* Fill to the credit: the ring wraps into two iovecs. */
	count = vsock_conn_receive_iov(c, VSOCK_CONN_BUF_SIZE, iov);
	assert_int_equal(count, 2);
	assert_int_equal(iov[0].iov_len + iov[1].iov_len, VSOCK_CONN_BUF_SIZE);
	memcpy(iov[0].iov_base, data, iov[0].iov_len);
	memcpy(iov[1].iov_base, data + iov[0].iov_len, iov[1].iov_len);
	vsock_conn_commit_guest_data(c, VSOCK_CONN_BUF_SIZE);
	assert_false(vsock_conn_can_receive(c, 1));
	count = vsock_conn_pending_iov(c, iov);
	assert_int_equal(count, 2);
	assert_memory_equal(iov[0].iov_base, data, iov[0].iov_len);
	assert_memory_equal(iov[1].iov_base, data + iov[0].iov_len,
			    iov[1].iov_len);
	vsock_conn_release(&table, c);
}

static void credit_updates_when_the_guest_runs_low(void **state)
{
	struct vsock_conn c = {0};

	/* Nothing freed: nothing to tell. */
	c.rx_cnt = VSOCK_CONN_BUF_SIZE;
	assert_false(vsock_conn_wants_credit_update(&c));
	/* A little freed while the guest knows of no room: wait for more. */
	c.fwd_cnt = 1000;
	assert_false(vsock_conn_wants_credit_update(&c));
	/* A quarter of the threshold freed: tell it. */
	c.fwd_cnt = VSOCK_CREDIT_UPDATE_THRESHOLD / 4;
	assert_true(vsock_conn_wants_credit_update(&c));
	vsock_conn_credit_sent(&c);
	assert_false(vsock_conn_wants_credit_update(&c));
	/* Counters wrap. */
	c.rx_cnt = 0x10000;
	c.fwd_cnt = 0x10000;
	c.fwd_cnt_sent = 0x10000 - VSOCK_CONN_BUF_SIZE;
	assert_true(vsock_conn_wants_credit_update(&c));
	/* The guest still knows of plenty of room: no update needed. */
	c.rx_cnt = 1000;
	c.fwd_cnt = 900;
	c.fwd_cnt_sent = 0;
	assert_false(vsock_conn_wants_credit_update(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_is_44_little_endian_bytes),
		cmocka_unit_test(valid_packets_parse),
		cmocka_unit_test(hostile_headers_are_refused),
		cmocka_unit_test(connect_lines),
		cmocka_unit_test(table_finds_by_port_pair_and_caps_connections),
		cmocka_unit_test(peer_credit_never_goes_negative),
		cmocka_unit_test(receive_buffer_is_the_advertised_credit),
		cmocka_unit_test(credit_updates_when_the_guest_runs_low),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
