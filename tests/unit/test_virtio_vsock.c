/* The virtio-vsock device without KVM: the test plays the guest driver
 * (tests/unit/virtio_test_driver.h) on rx/tx rings built in a guest_memory,
 * the host programs with real Unix sockets in a temporary
 * directory, and the device's I/O thread by calling queue_notify and the
 * host-event handler itself. Covers both connection directions, credit in
 * both directions, shutdown and reset, and a hostile guest. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_vsock.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_vsock.h"
#include "virtio/vsock/vsock_conn.h"
#include "virtio/vsock/vsock_packet.h"
#include "unit/virtio_test_driver.h"

#define GUEST_CID 3
#define QSIZE 16
#define RX 0
#define TX 1
#define EVQ 2
#define RING_GPA(q) (0x10000ULL + 0x4000ULL * (q))
#define RX_BUF_GPA 0x100000ULL
#define RX_BUF_SIZE (VSOCK_HDR_SIZE + 4096)
#define TX_BUF_GPA 0x200000ULL
#define TX_BUF_SIZE (VSOCK_HDR_SIZE + 65536)

struct fixture {
	struct guest_memory mem;
	struct virtio_device *vdev;
	struct test_driver driver;
	char dir[40];
	char path[64];
	uint16_t tx_next; /* tx descriptor pair to use next */
};

/* A packet the device put on the rx queue. */
struct rx_packet {
	struct vsock_hdr hdr;
	uint8_t payload[4096];
};

/* Gives the device rx buffer `slot` (header + 4 KiB, writable). */
static void give_rx(struct fixture *f, unsigned slot)
{
	driver_set_desc(&f->driver, RX, slot, RX_BUF_GPA + RX_BUF_SIZE * slot,
			RX_BUF_SIZE, VRING_DESC_F_WRITE, 0);
	driver_offer(&f->driver, RX, (uint16_t)slot);
}

/* Runs the device's host-socket handling until nothing is ready. */
static void pump(struct fixture *f)
{
	int fd = virtio_vsock_host_event_fd(f->vdev);
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (int i = 0; i < 100 && poll(&p, 1, 20) == 1; i++)
		virtio_vsock_handle_host_events(f->vdev);
}

/* Takes the next used rx packet (and gives its buffer back); false when
 * there is none. */
static bool take_rx(struct fixture *f, struct rx_packet *pkt)
{
	uint8_t *buf;
	uint32_t id, len;

	if (!driver_take_used(&f->driver, RX, &id, &len))
		return false;
	assert_true(id < QSIZE);
	assert_true(len >= VSOCK_HDR_SIZE && len <= RX_BUF_SIZE);
	buf = guest_memory_ptr(&f->mem, RX_BUF_GPA + RX_BUF_SIZE * id,
			       RX_BUF_SIZE);
	vsock_hdr_decode(&pkt->hdr, buf);
	assert_int_equal(pkt->hdr.len, len - VSOCK_HDR_SIZE);
	assert_int_equal(pkt->hdr.src_cid, VSOCK_HOST_CID);
	assert_int_equal(pkt->hdr.dst_cid, GUEST_CID);
	assert_int_equal(pkt->hdr.type, VIRTIO_VSOCK_TYPE_STREAM);
	memcpy(pkt->payload, buf + VSOCK_HDR_SIZE, pkt->hdr.len);
	give_rx(f, id);
	return true;
}

/* The next rx packet, after letting the device work if none is there. */
static void take_next(struct fixture *f, struct rx_packet *pkt)
{
	if (!take_rx(f, pkt)) {
		pump(f);
		driver_notify(&f->driver, RX);
		assert_true(take_rx(f, pkt));
	}
}

static void expect_rx(struct fixture *f, struct rx_packet *pkt, uint16_t op)
{
	take_next(f, pkt);
	assert_int_equal(pkt->hdr.op, op);
}

static void expect_no_rx(struct fixture *f)
{
	struct rx_packet pkt;

	pump(f);
	if (take_rx(f, &pkt))
		fail_msg("unexpected rx packet op %u", pkt.hdr.op);
}

/* Sends one packet on tx (header descriptor + payload descriptor) and
 * checks the device used it. `readable` < 0: header and payload as given;
 * else the chain's readable length is cut to it (hostile headers). */
static void send_raw(struct fixture *f, const struct vsock_hdr *hdr,
		     const void *payload, uint32_t payload_len, int readable)
{
	uint16_t head = (uint16_t)(f->tx_next * 2 % QSIZE);
	uint64_t gpa = TX_BUF_GPA + (uint64_t)TX_BUF_SIZE * (head / 2);
	uint8_t *buf = guest_memory_ptr(&f->mem, gpa, TX_BUF_SIZE);
	uint32_t hdr_len = VSOCK_HDR_SIZE, data_len = payload_len;
	uint16_t before = driver_used_idx(&f->driver, TX);

	f->tx_next++;
	vsock_hdr_encode(hdr, buf);
	if (payload_len)
		memcpy(buf + VSOCK_HDR_SIZE, payload, payload_len);
	if (readable >= 0) {
		hdr_len = (uint32_t)readable < hdr_len ? (uint32_t)readable
						       : hdr_len;
		data_len = (uint32_t)readable - hdr_len;
	}
	if (data_len) {
		driver_set_desc(&f->driver, TX, head, gpa, hdr_len,
				VRING_DESC_F_NEXT, head + 1);
		driver_set_desc(&f->driver, TX, head + 1, gpa + VSOCK_HDR_SIZE,
				data_len, 0, 0);
	} else {
		driver_set_desc(&f->driver, TX, head, gpa, hdr_len, 0, 0);
	}
	driver_offer_and_notify(&f->driver, TX, head);
	assert_int_equal(driver_used_idx(&f->driver, TX),
			 (uint16_t)(before + 1));
	f->driver.queues[TX].used_seen++;
}

static void send_op(struct fixture *f, uint16_t op, uint32_t src_port,
		    uint32_t dst_port, uint32_t flags, const void *payload,
		    uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct vsock_hdr hdr = {
		.src_cid = GUEST_CID,
		.dst_cid = VSOCK_HOST_CID,
		.src_port = src_port,
		.dst_port = dst_port,
		.len = len,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = op,
		.flags = flags,
		.buf_alloc = buf_alloc,
		.fwd_cnt = fwd_cnt,
	};

	send_raw(f, &hdr, payload, len, -1);
}

#define GUEST_BUF (256u * 1024)
#define send_simple(f, op, sport, dport)                                       \
	send_op(f, op, sport, dport, 0, NULL, 0, GUEST_BUF, 0)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tern_error err;

	assert_non_null(f);
	assert_int_equal(guest_memory_init(&f->mem, MiB(64)), 0);
	strcpy(f->dir, "/tmp/tern-vsock-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	assert_int_equal(
		virtio_vsock_create(GUEST_CID, f->path, &f->vdev, &err), 0);
	/* What virtio_device_start would do, minus the I/O thread. */
	f->vdev->mem = &f->mem;
	f->vdev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	driver_init(&f->driver, &f->mem, f->vdev);
	for (uint16_t q = 0; q < 3; q++)
		driver_lay_out_queue(&f->driver, q, RING_GPA(q), QSIZE);
	driver_bring_up(&f->driver, 1ULL << VIRTIO_F_VERSION_1);
	for (unsigned i = 0; i < QSIZE; i++)
		give_rx(f, i);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	/* As virtio_device_destroy does, without the thread and kick fds. */
	virtio_device_write_status(f->vdev, 0);
	close(f->vdev->epoll_fd);
	f->vdev->epoll_fd = -1;
	pthread_mutex_destroy(&f->vdev->lock);
	f->vdev->ops->destroy(f->vdev);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

static int host_listen(struct fixture *f, uint32_t port)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", f->path, port);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 128), 0);
	return fd;
}

static int host_connect(struct fixture *f)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(addr.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	return fd;
}

static void set_nonblocking(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Reads what the host socket has (non-blocking); -1: nothing yet, 0: EOF. */
static ssize_t host_read(int fd, void *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

	return n < 0 && errno == EAGAIN ? -1 : n;
}

/* The peer closed: EOF, or ECONNRESET when it left bytes unread. */
/* Fails, rather than blocks, when tern left the socket open. */
static void assert_closed(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[16];
	ssize_t n;

	poll(&p, 1, 2000);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

static const struct virtio_vsock_stats *stats(struct fixture *f)
{
	return virtio_vsock_stats(f->vdev);
}

/* --- Tests. --- */

static void config_space_holds_the_guest_cid(void **state)
{
	struct fixture *f = *state;
	uint64_t cid = 0;
	uint32_t high = 1;

	virtio_device_config_read(f->vdev, 0, &cid, 8);
	assert_int_equal(cid, GUEST_CID);
	virtio_device_config_read(f->vdev, 4, &high, 4);
	assert_int_equal(high, 0);
	assert_int_equal(f->vdev->ops->device_id, 19);
	assert_int_equal(f->vdev->queue_count, 3);
}

/* Guest port 1234 connects to host port 5000; returns the accepted host
 * socket. */
static int guest_connects(struct fixture *f, int listener, uint32_t port)
{
	struct rx_packet pkt;
	int fd;

	send_simple(f, VIRTIO_VSOCK_OP_REQUEST, 1234, port);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RESPONSE);
	assert_int_equal(pkt.hdr.src_port, port);
	assert_int_equal(pkt.hdr.dst_port, 1234);
	assert_int_equal(pkt.hdr.buf_alloc, VSOCK_CONN_BUF_SIZE);
	assert_int_equal(pkt.hdr.fwd_cnt, 0);
	fd = accept(listener, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

static void guest_to_host_connection_relays_both_ways(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 5000);
	int fd = guest_connects(f, listener, 5000);
	struct rx_packet pkt;
	char buf[64];

	assert_int_equal(stats(f)->connections_opened, 1);
	assert_int_equal(stats(f)->connections_active, 1);
	send_op(f, VIRTIO_VSOCK_OP_RW, 1234, 5000, 0, "hello", 5, GUEST_BUF, 0);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(f->vdev->stats.bytes_read, 5);

	assert_int_equal(send(fd, "world!", 6, 0), 6);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(pkt.hdr.len, 6);
	assert_memory_equal(pkt.payload, "world!", 6);
	assert_int_equal(pkt.hdr.src_port, 5000);
	assert_int_equal(pkt.hdr.fwd_cnt, 5);
	assert_int_equal(f->vdev->stats.bytes_written, 6);

	/* The guest half-closes: the host reads EOF, can still send. */
	send_op(f, VIRTIO_VSOCK_OP_SHUTDOWN, 1234, 5000,
		VIRTIO_VSOCK_SHUTDOWN_SEND, NULL, 0, GUEST_BUF, 6);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	assert_int_equal(send(fd, "bye", 3, 0), 3);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RW);
	assert_memory_equal(pkt.payload, "bye", 3);
	/* The host closes: the guest hears SHUTDOWN, then RST ends it. */
	close(fd);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_SHUTDOWN);
	assert_int_equal(pkt.hdr.flags & VIRTIO_VSOCK_SHUTDOWN_SEND,
			 VIRTIO_VSOCK_SHUTDOWN_SEND);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(stats(f)->connections_active, 0);
	close(listener);
}

static void guest_full_shutdown_is_answered_with_rst(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 5000);
	int fd = guest_connects(f, listener, 5000);
	struct rx_packet pkt;
	char buf[16];

	send_op(f, VIRTIO_VSOCK_OP_RW, 1234, 5000, 0, "last", 4, GUEST_BUF, 0);
	send_op(f, VIRTIO_VSOCK_OP_SHUTDOWN, 1234, 5000,
		VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV, NULL, 0,
		GUEST_BUF, 0);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(pkt.hdr.dst_port, 1234);
	/* The data went out before the host socket closed. */
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	close(listener);
}

static void guest_connect_without_listener_gets_rst(void **state)
{
	struct fixture *f = *state;
	struct rx_packet pkt;

	send_simple(f, VIRTIO_VSOCK_OP_REQUEST, 1234, 5001);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(pkt.hdr.src_port, 5001);
	assert_int_equal(pkt.hdr.dst_port, 1234);
	assert_int_equal(stats(f)->connections_refused, 1);
	assert_int_equal(stats(f)->resets_sent, 1);
	assert_int_equal(stats(f)->connections_active, 0);
}

/* A host client connects to PATH for guest port 52; returns its fd and
 * the host-side port tern chose (from the REQUEST). */
static int host_requests(struct fixture *f, uint32_t guest_port,
			 uint32_t *local_port, const char *extra)
{
	struct rx_packet pkt;
	char line[64];
	int fd = host_connect(f);

	snprintf(line, sizeof(line), "CONNECT %u\n%s", guest_port, extra);
	assert_int_equal(send(fd, line, strlen(line), 0),
			 (ssize_t)strlen(line));
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(pkt.hdr.dst_port, guest_port);
	assert_true(pkt.hdr.src_port >= 1u << 30);
	assert_int_equal(pkt.hdr.buf_alloc, VSOCK_CONN_BUF_SIZE);
	*local_port = pkt.hdr.src_port;
	return fd;
}

static void host_to_guest_connection_relays_both_ways(void **state)
{
	struct fixture *f = *state;
	struct rx_packet pkt;
	uint32_t port;
	char buf[64], expected[32];
	int fd = host_requests(f, 52, &port, "early");
	int n;

	/* Nothing reaches the guest before it accepts. */
	expect_no_rx(f);
	send_simple(f, VIRTIO_VSOCK_OP_RESPONSE, 52, port);
	n = snprintf(expected, sizeof(expected), "OK %u\n", port);
	assert_int_equal(recv(fd, buf, (size_t)n, MSG_WAITALL), n);
	assert_memory_equal(buf, expected, n);
	/* Bytes sent right after the CONNECT line are the first data. */
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(pkt.hdr.len, 5);
	assert_memory_equal(pkt.payload, "early", 5);
	assert_int_equal(pkt.hdr.dst_port, 52);

	send_op(f, VIRTIO_VSOCK_OP_RW, 52, port, 0, "pong", 4, GUEST_BUF, 5);
	assert_int_equal(recv(fd, buf, 4, MSG_WAITALL), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(stats(f)->connections_opened, 1);

	/* The guest resets: the host client sees the end. */
	send_simple(f, VIRTIO_VSOCK_OP_RST, 52, port);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	assert_int_equal(stats(f)->connections_active, 0);
	expect_no_rx(f);
	close(fd);
}

static void guest_refusal_closes_the_host_client(void **state)
{
	struct fixture *f = *state;
	uint32_t port;
	char buf[16];
	int fd = host_requests(f, 999, &port, "");

	send_simple(f, VIRTIO_VSOCK_OP_RST, 999, port);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
}

static void unanswered_connect_times_out(void **state)
{
	struct fixture *f = *state;
	struct pollfd p;
	struct rx_packet pkt;
	uint32_t port;
	int fd;

	virtio_vsock_set_connect_timeout(f->vdev, 50);
	fd = host_requests(f, 77, &port, "");
	/* The guest never answers: within the timeout (and some slack for
	 * a loaded machine) tern gives up on both sides. */
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	for (int i = 0; i < 100 && poll(&p, 1, 0) == 0; i++)
		pump(f);
	assert_closed(fd);
	driver_notify(&f->driver, RX);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(pkt.hdr.src_port, port);
	assert_int_equal(pkt.hdr.dst_port, 77);
	assert_int_equal(stats(f)->connections_active, 0);
	assert_int_equal(stats(f)->connections_refused, 1);
	close(fd);
}

static void silent_host_client_is_closed_and_frees_its_slot(void **state)
{
	struct fixture *f = *state;
	struct pollfd p;
	int fd;

	virtio_vsock_set_connect_timeout(f->vdev, 50);
	fd = host_connect(f);
	pump(f);
	assert_int_equal(stats(f)->connections_active, 1);
	/* No CONNECT line ever: the client is closed, the guest never hears
	 * of it. */
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	for (int i = 0; i < 100 && poll(&p, 1, 0) == 0; i++)
		pump(f);
	assert_closed(fd);
	assert_int_equal(stats(f)->connections_active, 0);
	assert_int_equal(stats(f)->connections_refused, 1);
	driver_notify(&f->driver, RX);
	expect_no_rx(f);
	close(fd);
}

static void bad_connect_lines_close_the_client(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	int fd = host_connect(f);

	assert_int_equal(send(fd, "HELLO 5\n", 8, 0), 8);
	pump(f);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	/* A line without an end, too long to be one. */
	fd = host_connect(f);
	assert_int_equal(
		send(fd, "CONNECT 000000000000000000000000000000052", 40, 0),
		40);
	pump(f);
	assert_closed(fd);
	close(fd);
	/* Half a line waits for the rest. */
	fd = host_connect(f);
	assert_int_equal(send(fd, "CONN", 4, 0), 4);
	expect_no_rx(f);
	assert_int_equal(send(fd, "ECT 7\n", 6, 0), 6);
	pump(f);
	driver_notify(&f->driver, RX);
	{
		struct rx_packet pkt;

		expect_rx(f, &pkt, VIRTIO_VSOCK_OP_REQUEST);
		assert_int_equal(pkt.hdr.dst_port, 7);
	}
	close(fd);
	assert_int_equal(stats(f)->connections_refused, 2);
}

static void host_data_respects_the_guest_credit(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 5000);
	int fd = guest_connects(f, listener, 5000);
	static uint8_t data[20000];
	struct rx_packet pkt;
	uint32_t got = 0;

	/* The guest says it has 8 KiB of buffer. */
	send_op(f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1234, 5000, 0, NULL, 0, 8192,
		0);
	for (uint32_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	assert_int_equal(send(fd, data, sizeof(data), 0), sizeof(data));
	pump(f);
	driver_notify(&f->driver, RX);
	while (take_rx(f, &pkt)) {
		assert_int_equal(pkt.hdr.op, VIRTIO_VSOCK_OP_RW);
		assert_memory_equal(pkt.payload, data + got, pkt.hdr.len);
		got += pkt.hdr.len;
		driver_notify(&f->driver, RX);
	}
	assert_int_equal(got, 8192);
	/* The guest consumed it all: the next 8 KiB flow. */
	send_op(f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 1234, 5000, 0, NULL, 0, 8192,
		8192);
	while (take_rx(f, &pkt)) {
		assert_memory_equal(pkt.payload, data + got, pkt.hdr.len);
		got += pkt.hdr.len;
		driver_notify(&f->driver, RX);
	}
	assert_int_equal(got, 16384);
	/* A CREDIT_REQUEST is answered with tern's own credit. */
	send_op(f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 1234, 5000, 0, NULL, 0, 8192,
		8192);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(pkt.hdr.buf_alloc, VSOCK_CONN_BUF_SIZE);
	close(fd);
	close(listener);
}

/* Sends guest data in 64 KiB packets until `total` (host not reading). */
static void guest_sends(struct fixture *f, uint32_t src, uint32_t dst,
			uint32_t total)
{
	static uint8_t chunk[65536];

	for (uint32_t sent = 0; sent < total; sent += sizeof(chunk))
		send_op(f, VIRTIO_VSOCK_OP_RW, src, dst, 0, chunk,
			sizeof(chunk), GUEST_BUF, 0);
}

/* Takes rx packets while there are any: all CREDIT_UPDATEs for guest port
 * `port`; returns the fwd_cnt of the last (or `last`). */
static uint32_t take_credit_updates(struct fixture *f, uint32_t port,
				    uint32_t last)
{
	struct rx_packet pkt;

	while (take_rx(f, &pkt)) {
		assert_int_equal(pkt.hdr.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		assert_int_equal(pkt.hdr.dst_port, port);
		assert_int_equal(pkt.hdr.buf_alloc, VSOCK_CONN_BUF_SIZE);
		last = pkt.hdr.fwd_cnt;
	}
	return last;
}

static void slow_host_reader_gets_credit_updates_and_blocks_nobody(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 5000);
	int slow = guest_connects(f, listener, 5000);
	static uint8_t sink[1 << 20];
	uint32_t fwd_cnt_seen = 0;
	struct rx_packet pkt;
	ssize_t n, drained = 0;
	char buf[8];
	int other;

	/* The guest sends all the credit tern gave, 256 KiB, while the host
	 * reads nothing: the host socket takes some, tern buffers the rest.
	 * tern may tell of the room the socket made. */
	guest_sends(f, 1234, 5000, VSOCK_CONN_BUF_SIZE);
	pump(f);
	fwd_cnt_seen = take_credit_updates(f, 1234, fwd_cnt_seen);
	assert_int_equal(stats(f)->connections_active, 1);

	/* Another connection is unaffected. */
	send_simple(f, VIRTIO_VSOCK_OP_REQUEST, 1235, 5000);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RESPONSE);
	other = accept(listener, NULL, NULL);
	send_op(f, VIRTIO_VSOCK_OP_RW, 1235, 5000, 0, "fast", 4, GUEST_BUF, 0);
	assert_int_equal(recv(other, buf, 4, MSG_WAITALL), 4);
	assert_int_equal(send(other, "back", 4, 0), 4);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(pkt.hdr.dst_port, 1235);

	/* The slow reader drains everything; the guest hears of the room
	 * in batches, and is never left believing it has less than the
	 * threshold free (it would stall). */
	set_nonblocking(slow);
	for (int i = 0; i < 200 && drained < (ssize_t)VSOCK_CONN_BUF_SIZE;
	     i++) {
		while ((n = host_read(slow, sink, sizeof(sink))) > 0)
			drained += n;
		pump(f);
		driver_notify(&f->driver, RX);
		fwd_cnt_seen = take_credit_updates(f, 1234, fwd_cnt_seen);
	}
	assert_int_equal(drained, VSOCK_CONN_BUF_SIZE);
	assert_true(fwd_cnt_seen >= VSOCK_CREDIT_UPDATE_THRESHOLD);
	assert_true(stats(f)->credit_updates_sent >= 1);
	close(slow);
	close(other);
	close(listener);
}

static void guest_overrunning_its_credit_is_reset(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 5000);
	int fd = guest_connects(f, listener, 5000);
	struct rx_packet pkt;
	uint64_t errors = f->vdev->stats.errors;
	int sent;

	/* The host never reads; the socket's buffer and tern's fill up, and
	 * the guest ignores the credit it was given. */
	pkt.hdr.op = 0;
	for (sent = 0; sent < 64 && pkt.hdr.op != VIRTIO_VSOCK_OP_RST; sent++) {
		guest_sends(f, 1234, 5000, 65536);
		while (take_rx(f, &pkt) && pkt.hdr.op != VIRTIO_VSOCK_OP_RST)
			assert_int_equal(pkt.hdr.op,
					 VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	}
	assert_int_equal(pkt.hdr.op, VIRTIO_VSOCK_OP_RST);
	assert_true(sent > 4); /* not before the credit ran out */
	assert_int_equal(f->vdev->stats.errors, errors + 1);
	assert_int_equal(stats(f)->connections_active, 0);
	close(fd);
	close(listener);
}

static void hostile_packets_get_rst_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct vsock_hdr hdr = {
		.src_cid = GUEST_CID,
		.dst_cid = VSOCK_HOST_CID,
		.src_port = 1,
		.dst_port = 2,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = VIRTIO_VSOCK_OP_RW,
	};
	struct rx_packet pkt;
	int listener, fd;
	char buf[8];

	/* Data, shutdown and credit for no connection: RST. */
	send_simple(f, VIRTIO_VSOCK_OP_RW, 1, 2);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	send_simple(f, VIRTIO_VSOCK_OP_SHUTDOWN, 1, 2);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	send_simple(f, VIRTIO_VSOCK_OP_RESPONSE, 1, 2);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	/* RST for no connection: silence. */
	send_simple(f, VIRTIO_VSOCK_OP_RST, 1, 2);
	expect_no_rx(f);
	/* A header cut short: nothing to answer, counted. */
	send_raw(f, &hdr, NULL, 0, 20);
	expect_no_rx(f);
	assert_int_equal(stats(f)->bad_packets, 1);
	/* len beyond the chain, and a huge len. */
	hdr.len = 100;
	send_raw(f, &hdr, "abc", 3, VSOCK_HDR_SIZE + 3);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	hdr.len = 0xfffffff0;
	send_raw(f, &hdr, "abc", 3, VSOCK_HDR_SIZE + 3);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	/* Spoofed source CID: dropped. */
	hdr.len = 0;
	hdr.src_cid = 99;
	send_raw(f, &hdr, NULL, 0, -1);
	expect_no_rx(f);
	assert_int_equal(stats(f)->bad_packets, 4);

	/* An unknown op on a live connection resets it. */
	listener = host_listen(f, 5000);
	fd = guest_connects(f, listener, 5000);
	hdr.src_cid = GUEST_CID;
	hdr.src_port = 1234;
	hdr.dst_port = 5000;
	hdr.op = 77;
	send_raw(f, &hdr, NULL, 0, -1);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	/* So does a second REQUEST for an open one, and data before
	 * RESPONSE on a host-initiated one. */
	fd = guest_connects(f, listener, 5000);
	send_simple(f, VIRTIO_VSOCK_OP_REQUEST, 1234, 5000);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	close(listener);
	assert_int_equal(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static void rst_from_another_cid_keeps_the_addressed_cid(void **state)
{
	struct fixture *f = *state;
	struct vsock_hdr hdr = {
		.src_cid = GUEST_CID,
		.dst_cid = 42,
		.src_port = 1,
		.dst_port = 2,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = VIRTIO_VSOCK_OP_REQUEST,
	};
	struct test_driver_queue *dq = &f->driver.queues[RX];
	uint32_t id, len;
	struct vsock_hdr out;

	send_raw(f, &hdr, NULL, 0, -1);
	assert_int_equal(driver_used_idx(&f->driver, RX),
			 (uint16_t)(dq->used_seen + 1));
	assert_true(driver_take_used(&f->driver, RX, &id, &len));
	vsock_hdr_decode(&out,
			 guest_memory_ptr(&f->mem,
					  RX_BUF_GPA + RX_BUF_SIZE * id,
					  VSOCK_HDR_SIZE));
	assert_int_equal(out.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(out.src_cid, 42);
	assert_int_equal(out.src_port, 2);
	assert_int_equal(out.dst_port, 1);
	give_rx(f, id);
}

static void request_flood_is_capped(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 6000);
	struct rx_packet pkt;
	int responses = 0, resets = 0;

	for (uint32_t port = 1; port <= VSOCK_MAX_CONNECTIONS + 10; port++) {
		send_simple(f, VIRTIO_VSOCK_OP_REQUEST, port, 6000);
		take_next(f, &pkt);
		if (pkt.hdr.op == VIRTIO_VSOCK_OP_RESPONSE)
			responses++;
		else if (pkt.hdr.op == VIRTIO_VSOCK_OP_RST)
			resets++;
	}
	assert_int_equal(responses, VSOCK_MAX_CONNECTIONS);
	assert_int_equal(resets, 10);
	assert_int_equal(stats(f)->connections_active, VSOCK_MAX_CONNECTIONS);
	/* A host client beyond the cap is closed at once. */
	{
		char buf[4];
		int fd = host_connect(f);

		pump(f);
		assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
		close(fd);
	}
	close(listener);
}

static void without_rx_buffers_data_waits(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 5000);
	int fd = guest_connects(f, listener, 5000);
	struct rx_packet pkt;

	/* Use up every rx buffer: 16 packets of 4 KiB. */
	static uint8_t data[QSIZE * 4096 + 100];

	assert_int_equal(send(fd, data, sizeof(data), 0), sizeof(data));
	pump(f);
	assert_int_equal(driver_used_idx(&f->driver, RX),
			 (uint16_t)(f->driver.queues[RX].used_seen + QSIZE));
	/* The guest takes them back one by one; the rest follows. */
	for (unsigned i = 0; i < QSIZE; i++)
		assert_true(take_rx(f, &pkt));
	driver_notify(&f->driver, RX);
	expect_rx(f, &pkt, VIRTIO_VSOCK_OP_RW);
	assert_int_equal(pkt.hdr.len, 100);
	close(fd);
	close(listener);
}

static void reset_closes_every_host_socket(void **state)
{
	struct fixture *f = *state;
	int listener = host_listen(f, 5000);
	int fd = guest_connects(f, listener, 5000);
	uint32_t port;
	int client = host_requests(f, 52, &port, "");
	char buf[4];

	virtio_device_write_status(f->vdev, 0);
	assert_int_equal(stats(f)->connections_active, 0);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	assert_int_equal(recv(client, buf, sizeof(buf), 0), 0);
	close(fd);
	close(client);
	close(listener);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(config_space_holds_the_guest_cid),
		T(guest_to_host_connection_relays_both_ways),
		T(guest_full_shutdown_is_answered_with_rst),
		T(guest_connect_without_listener_gets_rst),
		T(host_to_guest_connection_relays_both_ways),
		T(guest_refusal_closes_the_host_client),
		T(unanswered_connect_times_out),
		T(silent_host_client_is_closed_and_frees_its_slot),
		T(bad_connect_lines_close_the_client),
		T(host_data_respects_the_guest_credit),
		T(slow_host_reader_gets_credit_updates_and_blocks_nobody),
		T(guest_overrunning_its_credit_is_reset),
		T(hostile_packets_get_rst_or_nothing),
		T(rst_from_another_cid_keeps_the_addressed_cid),
		T(request_flood_is_capped),
		T(without_rx_buffers_data_waits),
		T(reset_closes_every_host_socket),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
