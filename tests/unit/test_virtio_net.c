/* virtio-net driven through the virtio core as a driver would (rings built
 * by hand in guest memory, the device's own I/O thread serving them), with
 * a real tap on the other side, inside a network namespace this process
 * makes for itself. Covers transmit (also hostile chains), mergeable
 * receive with num_buffers, waiting without spinning when the guest has no
 * buffers and losing nothing, frames too big for the buffers, feature
 * rules, config space and offloads following negotiation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_net.h"
#include "unit/virtio_test_driver.h"

#define TAP_NAME "ternvn0"
#define QSIZE 16
#define HDR ((uint32_t)sizeof(struct virtio_net_hdr_v1))
#define TEST_ETHERTYPE 0x88b5
#define RX 0
#define TX 1

#define F(bit) (1ULL << (bit))
#define ALL_FEATURES                                                           \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_CSUM) |                        \
	 F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_MAC) |                    \
	 F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |             \
	 F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) |               \
	 F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_STATUS))

/* Where a queue's next chain goes: descriptors in ring order, buffers
 * from a bump allocator. */
struct queue_space {
	uint16_t next_desc;
	uint64_t next_buf;
};

struct fixture {
	struct guest_memory mem;
	struct virtio_device *vdev;
	struct test_driver driver;
	struct queue_space space[2];
	int sock; /* AF_PACKET on the tap, TEST_ETHERTYPE only */
	_Atomic int interrupts[2];
};

static int have_tun, in_private_netns;

static void fake_signal_queue(struct virtio_device *vdev, uint16_t q)
{
	struct fixture *f = vdev->transport_data;

	f->interrupts[q]++;
}

static void fake_signal_config(struct virtio_device *vdev)
{
}

static const struct virtio_transport_ops fake_transport = {
	.signal_queue = fake_signal_queue,
	.signal_config = fake_signal_config,
};

static int group_setup(void **state)
{
	int fd;

	have_tun = access("/dev/net/tun", F_OK) == 0;
	if (unshare(CLONE_NEWNET) == 0 ||
	    unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
		in_private_netns = 1;
	/* No IPv6 on new interfaces: its router solicitations would take
	 * the receive buffers the tests count. */
	fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
	if (fd >= 0) {
		ssize_t ignored = write(fd, "1", 1);

		(void)ignored; /* without it the tests still filter */
		close(fd);
	}
	return 0;
}

static bool require_tun(void)
{
	if (!have_tun) {
		print_message("# SKIP no /dev/net/tun on this machine\n");
		return false;
	}
	if (!in_private_netns)
		fail_msg("cannot create a network namespace (unshare): "
			 "refusing to test taps in the host's namespace");
	return true;
}

static void *gpa_ptr(struct fixture *f, uint64_t gpa, uint64_t len)
{
	void *p = guest_memory_ptr(&f->mem, gpa, len);

	assert_non_null(p);
	return p;
}

static void set_link_up(const char *name)
{
	struct ifreq ifr = {0};
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(sock >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	/* Jumbo frames, so one frame spans several receive buffers. */
	ifr.ifr_mtu = 9000;
	assert_int_equal(ioctl(sock, SIOCSIFMTU, &ifr), 0);
	assert_int_equal(ioctl(sock, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(sock, SIOCSIFFLAGS, &ifr), 0);
	close(sock);
}

static int packet_socket(uint16_t proto, int vnet_hdr)
{
	struct sockaddr_ll addr = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = (int)if_nametoindex(TAP_NAME),
	};
	int one = 1;
	int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(proto));

	assert_true(sock >= 0);
	if (vnet_hdr)
		assert_int_equal(setsockopt(sock, SOL_PACKET, PACKET_VNET_HDR,
					    &one, sizeof(one)),
				 0);
	assert_int_equal(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return sock;
}

/* Negotiates `features`, sets up both queues (on rings laid out afresh)
 * and sets DRIVER_OK, the way a driver does. */
static void bring_up(struct fixture *f, uint64_t features)
{
	for (uint16_t q = 0; q < 2; q++) {
		driver_lay_out_queue(&f->driver, q, 0x100000 + 0x10000ULL * q,
				     QSIZE);
		f->space[q] = (struct queue_space){
			.next_buf = 0x400000 + 0x400000ULL * q,
		};
	}
	driver_bring_up(&f->driver, features);
}

static int setup(void **state)
{
	struct vm_net_config config = {
		.tap_name = TAP_NAME,
		.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
	};
	struct tern_error err = {{0}};
	struct fixture *f;

	if (!have_tun || !in_private_netns) {
		*state = NULL;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(guest_memory_init(&f->mem, MiB(64)), 0);
	if (virtio_net_create(&config, &f->vdev, &err))
		fail_msg("virtio_net_create: %s", err.message);
	f->vdev->transport = &fake_transport;
	f->vdev->transport_data = f;
	assert_int_equal(virtio_device_start(f->vdev, &f->mem), 0);
	driver_init(&f->driver, &f->mem, f->vdev);
	set_link_up(TAP_NAME);
	f->sock = packet_socket(TEST_ETHERTYPE, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	close(f->sock);
	virtio_device_destroy(f->vdev);
	guest_memory_destroy(&f->mem);
	free(f);
	assert_int_equal(if_nametoindex(TAP_NAME), 0);
	return 0;
}

struct seg {
	uint32_t len;
	bool writable;
	const void *data; /* readable: copied in; NULL: zeros */
};

/* Puts one chain of fresh buffers in the ring and makes it available;
 * returns the gpa of its first buffer. */
static uint64_t offer(struct fixture *f, uint16_t q, const struct seg *segs,
		      int count)
{
	struct queue_space *space = &f->space[q];
	uint16_t head = space->next_desc % QSIZE;
	uint64_t first = space->next_buf;

	for (int i = 0; i < count; i++) {
		uint16_t d = space->next_desc++ % QSIZE;
		uint8_t *buf = gpa_ptr(f, space->next_buf, segs[i].len ?: 1);
		uint16_t flags = (segs[i].writable ? VRING_DESC_F_WRITE : 0) |
			(i + 1 < count ? VRING_DESC_F_NEXT : 0);

		if (segs[i].data)
			memcpy(buf, segs[i].data, segs[i].len);
		else
			memset(buf, 0, segs[i].len);
		driver_set_desc(&f->driver, q, d, space->next_buf, segs[i].len,
				flags, (uint16_t)(space->next_desc % QSIZE));
		space->next_buf += (segs[i].len + 4095) & ~4095ULL;
	}
	driver_offer(&f->driver, q, head);
	return first;
}

static size_t test_frame(uint8_t *frame, size_t len, uint8_t seed)
{
	static const uint8_t dst[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	static const uint8_t src[6] = {0x52, 0x54, 0x00, 0x65, 0x43, 0x21};

	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = TEST_ETHERTYPE >> 8;
	frame[13] = TEST_ETHERTYPE & 0xff;
	for (size_t i = ETH_HLEN; i < len; i++)
		frame[i] = (uint8_t)(i * 31 + seed);
	return len;
}

static ssize_t recv_test_frame(int sock, void *buf, size_t size, int ms)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return recv(sock, buf, size, MSG_DONTWAIT);
}

static void transmitted_frame_reaches_the_tap(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr_v1 hdr = {0};
	uint8_t frame[200], got[2048];

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	test_frame(frame, sizeof(frame), 1);
	/* Header and frame in separate descriptors, the frame itself split
	 * too: the device gathers the chain. */
	struct seg segs[] = {
		{HDR, false, &hdr},
		{50, false, frame},
		{sizeof(frame) - 50, false, frame + 50},
	};
	offer(f, TX, segs, 3);
	driver_kick(&f->driver, TX);
	assert_true(driver_wait_used_idx(&f->driver, TX, 1));
	assert_int_equal(recv_test_frame(f->sock, got, sizeof(got), 2000),
			 sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	assert_true(f->interrupts[TX] >= 1);
	assert_int_equal(atomic_load(&f->vdev->stats.bytes_read),
			 sizeof(frame));
}

/* The driver's used_event asks for an interrupt once the second chain is
 * used: it must come as that chain completes, even in the middle of a batch
 * sent by one kick, and not at all for the chains after it. */
static void transmit_completions_are_signalled_as_they_happen(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[HDR + 100];

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES | F(VIRTIO_RING_F_EVENT_IDX));
	memset(frame, 0, HDR);
	test_frame(frame + HDR, sizeof(frame) - HDR, 3);
	/* used_event, after the avail ring's entries (spec 2.7.10). */
	driver_set_used_event(&f->driver, TX, 1);
	for (int i = 0; i < 4; i++)
		offer(f, TX, (struct seg[]){{sizeof(frame), false, frame}}, 1);
	driver_kick(&f->driver, TX);
	assert_true(driver_wait_used_idx(&f->driver, TX, 4));
	/* The first is never suppressed; the second is the one asked for. */
	assert_int_equal(f->interrupts[TX], 2);
	assert_int_equal(atomic_load(&f->vdev->stats.interrupts), 2);
}

static void hostile_transmit_chains_are_completed_not_sent(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[100], got[2048];
	uint32_t id, len;

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	test_frame(frame, sizeof(frame), 2);

	/* Shorter than the virtio-net header. */
	offer(f, TX, (struct seg[]){{5, false, NULL}}, 1);
	/* A frame over 64 KiB plus headers. */
	offer(f, TX, (struct seg[]){{HDR + 70000, false, NULL}}, 1);
	/* Only a writable part: nothing to send. */
	offer(f, TX, (struct seg[]){{HDR + 100, true, NULL}}, 1);
	/* Then a good one, which must still go out. */
	uint8_t good[HDR + sizeof(frame)];
	memset(good, 0, HDR);
	memcpy(good + HDR, frame, sizeof(frame));
	offer(f, TX, (struct seg[]){{sizeof(good), false, good}}, 1);

	driver_kick(&f->driver, TX);
	assert_true(driver_wait_used_idx(&f->driver, TX, 4));
	for (unsigned i = 0; i < 4; i++) {
		driver_used_elem(&f->driver, TX, i, &id, &len);
		assert_int_equal(len, 0);
	}
	assert_int_equal(recv_test_frame(f->sock, got, sizeof(got), 2000),
			 sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));
	assert_int_equal(recv_test_frame(f->sock, got, sizeof(got), 200), -1);
	assert_int_equal(atomic_load(&f->vdev->stats.errors), 3);
	assert_false(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void received_frame_fills_mergeable_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[2500], whole[HDR + sizeof(frame)];
	uint64_t bufs[4];
	uint32_t id, len, lens[3];
	struct virtio_net_hdr_v1 hdr;
	size_t off = 0;

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	for (int i = 0; i < 4; i++)
		bufs[i] = offer(f, RX, (struct seg[]){{1024, true, NULL}}, 1);
	driver_kick(&f->driver, RX);

	test_frame(frame, sizeof(frame), 3);
	assert_int_equal(send(f->sock, frame, sizeof(frame), 0), sizeof(frame));
	assert_true(driver_wait_used_idx(&f->driver, RX, 3));
	for (unsigned i = 0; i < 3; i++) {
		driver_used_elem(&f->driver, RX, i, &id, &lens[i]);
		assert_int_equal(id, i); /* one descriptor per chain */
		memcpy(whole + off, gpa_ptr(f, bufs[i], lens[i]), lens[i]);
		off += lens[i];
	}
	assert_int_equal(lens[0], 1024);
	assert_int_equal(lens[1], 1024);
	assert_int_equal(off, sizeof(whole));
	memcpy(&hdr, whole, HDR);
	assert_int_equal(hdr.num_buffers, 3);
	assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(whole + HDR, frame, sizeof(frame));
	assert_true(f->interrupts[RX] >= 1);

	/* The fourth buffer is still the guest's; a small frame takes it
	 * alone, with num_buffers 1. */
	test_frame(frame, 100, 4);
	assert_int_equal(send(f->sock, frame, 100, 0), 100);
	assert_true(driver_wait_used_idx(&f->driver, RX, 4));
	driver_used_elem(&f->driver, RX, 3, &id, &len);
	assert_int_equal(len, HDR + 100);
	memcpy(&hdr, gpa_ptr(f, bufs[3], HDR), HDR);
	assert_int_equal(hdr.num_buffers, 1);
	assert_memory_equal(gpa_ptr(f, bufs[3] + HDR, 100), frame, 100);
}

/* Checks used entry `i`: chain `id`, `len` bytes, and (first of a frame)
 * num_buffers and the frame's bytes after the header. */
static void expect_received(struct fixture *f, unsigned i, uint32_t want_id,
			    uint32_t want_len)
{
	uint32_t id, len;

	driver_used_elem(&f->driver, RX, i, &id, &len);
	assert_int_equal(id, want_id);
	assert_int_equal(len, want_len);
}

/* Frames are read from the tap straight into the receive buffers popped
 * ahead (as many as recent frames needed): a frame spanning buffers, one
 * running past the buffers popped into the bounce tail, and small frames
 * after big ones, whose unused buffers go back to the ring and are taken
 * in order by the next frames. */
static void received_frames_span_overflow_and_give_back_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[3 * 1024], whole[HDR + 3000];
	uint64_t bufs[10];
	struct virtio_net_hdr_v1 hdr;
	size_t off = 0;
	uint32_t id, len;

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	for (int i = 0; i < 10; i++)
		bufs[i] = offer(f, RX, (struct seg[]){{1024, true, NULL}}, 1);
	driver_kick(&f->driver, RX);

	/* 3012 bytes: more than the two buffers the first guess takes. */
	test_frame(frame, 3000, 21);
	assert_int_equal(send(f->sock, frame, 3000, 0), 3000);
	assert_true(driver_wait_used_idx(&f->driver, RX, 3));
	for (unsigned i = 0; i < 3; i++) {
		driver_used_elem(&f->driver, RX, i, &id, &len);
		assert_int_equal(id, i);
		memcpy(whole + off, gpa_ptr(f, bufs[i], len), len);
		off += len;
	}
	assert_int_equal(off, sizeof(whole));
	memcpy(&hdr, whole, HDR);
	assert_int_equal(hdr.num_buffers, 3);
	assert_memory_equal(whole + HDR, frame, 3000);

	/* Small frames after it: one buffer each, in ring order, though
	 * the device popped more ahead. */
	for (unsigned i = 0; i < 2; i++) {
		test_frame(frame, 100, (uint8_t)(22 + i));
		assert_int_equal(send(f->sock, frame, 100, 0), 100);
		assert_true(driver_wait_used_idx(&f->driver, RX,
						 (uint16_t)(4 + i)));
		expect_received(f, 3 + i, 3 + i, HDR + 100);
		memcpy(&hdr, gpa_ptr(f, bufs[3 + i], HDR), HDR);
		assert_int_equal(hdr.num_buffers, 1);
		assert_memory_equal(gpa_ptr(f, bufs[3 + i] + HDR, 100), frame,
				    100);
	}

	/* Exactly two buffers' worth. */
	test_frame(frame, 2048 - HDR, 24);
	assert_int_equal(send(f->sock, frame, 2048 - HDR, 0), 2048 - HDR);
	assert_true(driver_wait_used_idx(&f->driver, RX, 7));
	expect_received(f, 5, 5, 1024);
	expect_received(f, 6, 6, 1024);
	memcpy(&hdr, gpa_ptr(f, bufs[5], HDR), HDR);
	assert_int_equal(hdr.num_buffers, 2);
	assert_memory_equal(gpa_ptr(f, bufs[5] + HDR, 1024 - HDR), frame,
			    1024 - HDR);
	assert_memory_equal(gpa_ptr(f, bufs[6], 1024), frame + 1024 - HDR,
			    1024);
	assert_int_equal(atomic_load(&f->vdev->stats.bytes_written),
			 3000 + 100 + 100 + 2048 - HDR);
	assert_false(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* The three buffers left still take a frame that needs them all. */
	test_frame(frame, 3 * 1024 - HDR, 25);
	assert_int_equal(send(f->sock, frame, 3 * 1024 - HDR, 0),
			 3 * 1024 - HDR);
	assert_true(driver_wait_used_idx(&f->driver, RX, 10));
	for (unsigned i = 7; i < 10; i++)
		expect_received(f, i, i, 1024);
	memcpy(&hdr, gpa_ptr(f, bufs[7], HDR), HDR);
	assert_int_equal(hdr.num_buffers, 3);
	assert_memory_equal(gpa_ptr(f, bufs[9], 1024), frame + 2 * 1024 - HDR,
			    1024);
}

/* Hostile receive chains: a first buffer too small for the header, a
 * buffer with no writable part after a good one. The frame they were
 * meant for is dropped (the chains go back empty), the device carries on
 * with the next buffers and never writes outside the ones offered. */
static void short_receive_chains_drop_the_frame_not_the_device(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[1500];
	uint64_t tiny, good, before, readonly;
	uint32_t id, len;

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	tiny = offer(f, RX, (struct seg[]){{HDR - 1, true, NULL}}, 1);
	memset(gpa_ptr(f, tiny + HDR - 1, 1), 0xee, 1);
	good = offer(f, RX, (struct seg[]){{2048, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	test_frame(frame, 100, 31);
	assert_int_equal(send(f->sock, frame, 100, 0), 100);
	assert_true(driver_wait_used_idx(&f->driver, RX, 1));
	expect_received(f, 0, 0, 0);
	/* The byte after the tiny buffer is untouched. */
	assert_int_equal(*(uint8_t *)gpa_ptr(f, tiny + HDR - 1, 1), 0xee);
	test_frame(frame, 100, 32);
	assert_int_equal(send(f->sock, frame, 100, 0), 100);
	assert_true(driver_wait_used_idx(&f->driver, RX, 2));
	expect_received(f, 1, 1, HDR + 100);
	assert_memory_equal(gpa_ptr(f, good + HDR, 100), frame, 100);

	/* A 1024-byte buffer, then one only readable: a 1500-byte frame
	 * would need both. */
	before = offer(f, RX, (struct seg[]){{1024, true, NULL}}, 1);
	readonly = offer(f, RX, (struct seg[]){{1024, false, NULL}}, 1);
	memset(gpa_ptr(f, readonly, 1024), 0xab, 1024);
	good = offer(f, RX, (struct seg[]){{2048, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	test_frame(frame, sizeof(frame), 33);
	assert_int_equal(send(f->sock, frame, sizeof(frame), 0), sizeof(frame));
	assert_true(driver_wait_used_idx(&f->driver, RX, 4));
	expect_received(f, 2, 2, 0);
	expect_received(f, 3, 3, 0);
	for (int i = 0; i < 1024; i++)
		assert_int_equal(((uint8_t *)gpa_ptr(f, readonly, 1024))[i],
				 0xab);
	test_frame(frame, 100, 34);
	assert_int_equal(send(f->sock, frame, 100, 0), 100);
	assert_true(driver_wait_used_idx(&f->driver, RX, 5));
	driver_used_elem(&f->driver, RX, 4, &id, &len);
	assert_int_equal(id, 4);
	assert_int_equal(len, HDR + 100);
	assert_memory_equal(gpa_ptr(f, good + HDR, 100), frame, 100);
	assert_int_equal(atomic_load(&f->vdev->stats.errors), 2);
	assert_false(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	(void)before;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		(double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void without_buffers_the_device_waits_and_loses_nothing(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[300];
	uint64_t bufs[3];
	uint32_t id, len;
	double before;

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	for (int i = 0; i < 3; i++) {
		test_frame(frame, sizeof(frame), (uint8_t)(10 + i));
		assert_int_equal(send(f->sock, frame, sizeof(frame), 0),
				 sizeof(frame));
	}
	/* No receive buffers: the device must neither spin on the readable
	 * tap nor drop what it holds. */
	before = cpu_seconds();
	usleep(400 * 1000);
	assert_true(cpu_seconds() - before < 0.15);
	assert_int_equal(driver_used_idx(&f->driver, RX), 0);

	for (int i = 0; i < 3; i++)
		bufs[i] = offer(f, RX, (struct seg[]){{2048, true, NULL}}, 1);
	/* The device asked to be told about new buffers. */
	assert_false(driver_used_flags(&f->driver, RX) &
		     VRING_USED_F_NO_NOTIFY);
	driver_kick(&f->driver, RX);
	assert_true(driver_wait_used_idx(&f->driver, RX, 3));
	for (int i = 0; i < 3; i++) {
		driver_used_elem(&f->driver, RX, (unsigned)i, &id, &len);
		assert_int_equal(len, HDR + sizeof(frame));
		test_frame(frame, sizeof(frame), (uint8_t)(10 + i));
		assert_memory_equal(gpa_ptr(f, bufs[i] + HDR, sizeof(frame)),
				    frame, sizeof(frame));
	}
}

static void frame_too_big_for_a_single_buffer_is_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[600];
	uint64_t buf;
	uint32_t id, len;

	if (!require_tun())
		skip();
	/* No mergeable buffers: each frame must fit one chain. */
	bring_up(f, ALL_FEATURES & ~F(VIRTIO_NET_F_MRG_RXBUF));
	offer(f, RX, (struct seg[]){{200, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	test_frame(frame, sizeof(frame), 5);
	assert_int_equal(send(f->sock, frame, sizeof(frame), 0), sizeof(frame));
	assert_true(driver_wait_used_idx(&f->driver, RX, 1));
	driver_used_elem(&f->driver, RX, 0, &id, &len);
	assert_int_equal(len, 0);

	/* The device goes on with the next frame and a big enough buffer. */
	buf = offer(f, RX, (struct seg[]){{2048, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	test_frame(frame, sizeof(frame), 6);
	assert_int_equal(send(f->sock, frame, sizeof(frame), 0), sizeof(frame));
	assert_true(driver_wait_used_idx(&f->driver, RX, 2));
	driver_used_elem(&f->driver, RX, 1, &id, &len);
	assert_int_equal(len, HDR + sizeof(frame));
	assert_memory_equal(gpa_ptr(f, buf + HDR, sizeof(frame)), frame,
			    sizeof(frame));
	assert_false(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void reset_drops_a_half_delivered_frame(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[2500];
	uint64_t buf;
	uint32_t id, len;

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	/* One buffer for a frame that needs three: the device holds it. */
	offer(f, RX, (struct seg[]){{1024, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	test_frame(frame, sizeof(frame), 8);
	assert_int_equal(send(f->sock, frame, sizeof(frame), 0), sizeof(frame));
	usleep(200 * 1000);
	assert_int_equal(driver_used_idx(&f->driver, RX), 0);

	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_write_status(f->vdev, 0);
	pthread_mutex_unlock(&f->vdev->lock);
	bring_up(f, ALL_FEATURES);
	buf = offer(f, RX, (struct seg[]){{2048, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	test_frame(frame, 100, 9);
	assert_int_equal(send(f->sock, frame, 100, 0), 100);
	assert_true(driver_wait_used_idx(&f->driver, RX, 1));
	driver_used_elem(&f->driver, RX, 0, &id, &len);
	assert_int_equal(len, HDR + 100);
	assert_memory_equal(gpa_ptr(f, buf + HDR, 100), frame, 100);
	assert_false(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

/* Snapshot: save quiesces (a frame waiting for more receive buffers goes
 * back as an empty used chain), the state restores, and a state with
 * another MAC is refused with a sentence naming the MAC. */
static void
save_gives_back_a_held_frame_and_restore_checks_the_mac(void **state)
{
	static uint8_t snap[1 << 16];
	struct fixture *f = *state;
	uint8_t frame[2500];
	uint32_t id, len;
	size_t snap_len = sizeof(snap);

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	offer(f, RX, (struct seg[]){{1024, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	test_frame(frame, sizeof(frame), 8);
	assert_int_equal(send(f->sock, frame, sizeof(frame), 0), sizeof(frame));
	usleep(200 * 1000);
	assert_int_equal(driver_used_idx(&f->driver, RX), 0);

	assert_int_equal(virtio_device_save_state(f->vdev, snap, &snap_len), 0);
	assert_int_equal(driver_used_idx(&f->driver, RX), 1);
	driver_used_elem(&f->driver, RX, 0, &id, &len);
	assert_int_equal(len, 0);
	assert_int_equal(virtio_device_restore_state(f->vdev, snap, snap_len),
			 0);
	assert_false(f->vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* the saved MAC's first byte, before the two rate limiters */
	snap[snap_len - 24 - 2 * sizeof(struct rate_limiter_state)] ^= 0x02;
	assert_int_equal(virtio_device_restore_state(f->vdev, snap, snap_len),
			 -EINVAL);
	assert_non_null(strstr(f->vdev->restore_error, "MAC"));
	assert_int_equal(virtio_device_restore_state(f->vdev, snap, 8),
			 -EINVAL);
}

static void offload_features_follow_their_dependencies(void **state)
{
	struct fixture *f = *state;
	struct virtio_device *vdev;
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		VIRTIO_CONFIG_S_FEATURES_OK;
	uint64_t bad[] = {
		F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_GUEST_TSO4),
		F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_HOST_TSO6),
	};

	if (!require_tun())
		skip();
	vdev = f->vdev;
	for (unsigned i = 0; i < 2; i++) {
		pthread_mutex_lock(&vdev->lock);
		virtio_device_write_status(vdev, 0);
		virtio_device_write_driver_features(vdev, 0, (uint32_t)bad[i]);
		virtio_device_write_driver_features(vdev, 1,
						    (uint32_t)(bad[i] >> 32));
		virtio_device_write_status(vdev, s);
		assert_false(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);
		pthread_mutex_unlock(&vdev->lock);
	}
	assert_int_equal(vdev->device_features & ALL_FEATURES, ALL_FEATURES);
}

static void config_space_has_mac_and_link_up(void **state)
{
	struct fixture *f = *state;
	uint8_t config[10];
	uint16_t status;

	if (!require_tun())
		skip();
	pthread_mutex_lock(&f->vdev->lock);
	for (uint32_t i = 0; i < sizeof(config); i++)
		virtio_device_config_read(f->vdev, i, &config[i], 1);
	pthread_mutex_unlock(&f->vdev->lock);
	assert_memory_equal(config,
			    ((uint8_t[]){0x52, 0x54, 0, 0x12, 0x34, 0x56}), 6);
	memcpy(&status, config + 6, 2);
	assert_int_equal(status, VIRTIO_NET_S_LINK_UP);
}

/* A checksum-partial TCP segment of 3000 bytes sent as TSO from the host
 * side reaches the guest as one frame with its GSO header when the guest
 * took GUEST_TSO4, and as MSS-sized frames when it did not. */
static size_t tso_frame(uint8_t *buf)
{
	struct virtio_net_hdr h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = ETH_HLEN + 40,
		.gso_size = 1000,
		.csum_start = ETH_HLEN + 20,
		.csum_offset = 16,
	};
	uint8_t *eth = buf + sizeof(h), *ip = eth + ETH_HLEN, *tcp = ip + 20;
	size_t ip_len = 40 + 3000;
	uint32_t sum = 0;

	memcpy(buf, &h, sizeof(h));
	test_frame(eth, ETH_HLEN + ip_len, 7);
	eth[12] = 0x08, eth[13] = 0x00;
	memset(ip, 0, 40);
	ip[0] = 0x45, ip[2] = (uint8_t)(ip_len >> 8), ip[3] = (uint8_t)ip_len;
	ip[6] = 0x40, ip[8] = 64, ip[9] = 6;
	memcpy(ip + 12, (uint8_t[]){10, 0, 2, 1, 10, 0, 2, 15}, 8);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8), ip[11] = (uint8_t)~sum;
	tcp[12] = 0x50, tcp[13] = 0x18, tcp[14] = 0xff, tcp[15] = 0xff;
	return sizeof(h) + ETH_HLEN + ip_len;
}

static void guest_tso_decides_whether_segments_arrive_whole(void **state)
{
	static uint8_t buf[4096];
	struct fixture *f = *state;
	struct virtio_net_hdr_v1 hdr;
	uint64_t first;
	int sock;

	if (!require_tun())
		skip();
	bring_up(f, ALL_FEATURES);
	sock = packet_socket(ETH_P_IP, 1);
	first = offer(f, RX, (struct seg[]){{4096, true, NULL}}, 1);
	for (int i = 0; i < 3; i++)
		offer(f, RX, (struct seg[]){{4096, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	size_t n = tso_frame(buf);
	assert_int_equal(send(sock, buf, n, 0), n);
	assert_true(driver_wait_used_idx(&f->driver, RX, 1));
	memcpy(&hdr, gpa_ptr(f, first, HDR), HDR);
	assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(hdr.gso_size, 1000);
	assert_true(hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);

	/* Again without GUEST_TSO4 and GUEST_CSUM: the tap segments and
	 * checksums, the guest sees three plain frames. */
	pthread_mutex_lock(&f->vdev->lock);
	virtio_device_write_status(f->vdev, 0);
	pthread_mutex_unlock(&f->vdev->lock);
	bring_up(f,
		 ALL_FEATURES &
			 ~(F(VIRTIO_NET_F_GUEST_TSO4) |
			   F(VIRTIO_NET_F_GUEST_TSO6) |
			   F(VIRTIO_NET_F_GUEST_CSUM)));
	first = offer(f, RX, (struct seg[]){{4096, true, NULL}}, 1);
	for (int i = 0; i < 3; i++)
		offer(f, RX, (struct seg[]){{4096, true, NULL}}, 1);
	driver_kick(&f->driver, RX);
	assert_int_equal(send(sock, buf, n, 0), n);
	assert_true(driver_wait_used_idx(&f->driver, RX, 3));
	memcpy(&hdr, gpa_ptr(f, first, HDR), HDR);
	assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(hdr.flags, 0);
	close(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			transmitted_frame_reaches_the_tap, setup, teardown),
		cmocka_unit_test_setup_teardown(
			transmit_completions_are_signalled_as_they_happen,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			hostile_transmit_chains_are_completed_not_sent, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			received_frame_fills_mergeable_buffers, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			received_frames_span_overflow_and_give_back_buffers,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			short_receive_chains_drop_the_frame_not_the_device,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			without_buffers_the_device_waits_and_loses_nothing,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			frame_too_big_for_a_single_buffer_is_dropped, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			reset_drops_a_half_delivered_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(
			save_gives_back_a_held_frame_and_restore_checks_the_mac,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			offload_features_follow_their_dependencies, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			config_space_has_mac_and_link_up, setup, teardown),
		cmocka_unit_test_setup_teardown(
			guest_tso_decides_whether_segments_arrive_whole, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
