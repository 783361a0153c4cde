/* The tap backend against the real kernel tap driver, inside a network
 * namespace this test process makes for itself (it vanishes with the
 * process, so nothing outside is ever touched). Frames go both ways between
 * the tap fd and an AF_PACKET socket on the same interface; the offload
 * tests show the kernel honouring what tap_set_offloads() asked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/tap.h"

#define VNET_HDR_V1 ((int)sizeof(struct virtio_net_hdr_v1))
/* IEEE 802 local experimental ethertype: nothing else in the namespace
 * sends it, so the IPv6 chatter of a fresh interface is easy to ignore. */
#define TEST_ETHERTYPE 0x88b5

static int have_tun;
static int in_private_netns;
static int running_as_root;

static int group_setup(void **state)
{
	have_tun = access("/dev/net/tun", F_OK) == 0;
	running_as_root = geteuid() == 0;
	if (unshare(CLONE_NEWNET) == 0 ||
	    unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
		in_private_netns = 1;
	return 0;
}

/* Skips only for a missing /dev/net/tun; a test that cannot get its own
 * network namespace fails instead, as it could otherwise touch the host. */
static void require_tun(void)
{
	if (!have_tun) {
		print_message("# SKIP no /dev/net/tun on this machine\n");
		skip();
	}
	if (!in_private_netns)
		fail_msg("cannot create a network namespace (unshare): "
			 "refusing to test taps in the host's namespace");
}

static void set_link_up(const char *name)
{
	struct ifreq ifr = {0};
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(sock >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(sock, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(sock, SIOCSIFFLAGS, &ifr), 0);
	close(sock);
}

/* A raw socket on the interface, seeing and sending TEST_ETHERTYPE (or
 * every protocol, for the offload tests) frames, optionally with a
 * virtio-net header in front (PACKET_VNET_HDR). */
static int packet_socket(const char *name, uint16_t proto, int vnet_hdr)
{
	struct sockaddr_ll addr = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = (int)if_nametoindex(name),
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

static int wait_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 2000) == 1;
}

/* Reads frames from the tap until one with the given ethertype arrives;
 * returns its length including the vnet header, or -1 after 2 s. */
static ssize_t read_tap_frame(struct tap *tap, uint16_t ethertype, uint8_t *buf,
			      size_t size)
{
	for (int tries = 0; tries < 50; tries++) {
		struct iovec iov = {buf, size};
		ssize_t n;

		if (!wait_readable(tap->fd))
			return -1;
		n = tap_readv(tap, &iov, 1);
		if (n == -EAGAIN)
			continue;
		if (n < VNET_HDR_V1 + ETH_HLEN)
			return -1;
		if (((buf[VNET_HDR_V1 + 12] << 8) | buf[VNET_HDR_V1 + 13]) ==
		    ethertype)
			return n;
	}
	return -1;
}

static void fill_ethernet(uint8_t *frame, uint16_t ethertype)
{
	static const uint8_t dst[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	static const uint8_t src[6] = {0x52, 0x54, 0x00, 0x65, 0x43, 0x21};

	memcpy(frame, dst, 6);
	memcpy(frame + 6, src, 6);
	frame[12] = (uint8_t)(ethertype >> 8);
	frame[13] = (uint8_t)ethertype;
}

static void frames_cross_the_tap_both_ways(void **state)
{
	struct tern_error err = {{0}};
	struct virtio_net_hdr_v1 hdr = {0};
	uint8_t frame[ETH_HLEN + 200], buf[4096];
	struct tap tap;
	ssize_t n;
	int sock;

	require_tun();
	assert_int_equal(tap_open(&tap, "terntest0", VNET_HDR_V1, &err), 0);
	assert_int_equal(tap.created, 1);
	assert_string_equal(tap.name, "terntest0");
	set_link_up("terntest0");
	sock = packet_socket("terntest0", TEST_ETHERTYPE, 0);

	fill_ethernet(frame, TEST_ETHERTYPE);
	for (size_t i = ETH_HLEN; i < sizeof(frame); i++)
		frame[i] = (uint8_t)(i * 7);

	/* Guest to host: header and frame in separate iovecs, as a TX
	 * chain would give them. */
	struct iovec out[2] = {{&hdr, sizeof(hdr)}, {frame, sizeof(frame)}};
	assert_int_equal(tap_writev(&tap, out, 2), sizeof(hdr) + sizeof(frame));
	assert_true(wait_readable(sock));
	n = recv(sock, buf, sizeof(buf), 0);
	assert_int_equal(n, sizeof(frame));
	assert_memory_equal(buf, frame, sizeof(frame));

	/* Host to guest: the tap hands over a header, then the frame. */
	frame[20] ^= 0xff;
	assert_int_equal(send(sock, frame, sizeof(frame), 0), sizeof(frame));
	n = read_tap_frame(&tap, TEST_ETHERTYPE, buf, sizeof(buf));
	assert_int_equal(n, VNET_HDR_V1 + sizeof(frame));
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(buf + VNET_HDR_V1, frame, sizeof(frame));

	/* Nothing more waiting: a non-blocking read says so. */
	while (tap_readv(&tap, &(struct iovec){buf, sizeof(buf)}, 1) > 0)
		;
	assert_int_equal(tap_readv(&tap, &(struct iovec){buf, sizeof(buf)}, 1),
			 -EAGAIN);

	close(sock);
	tap_close(&tap);
	/* tern made it, so it went away with tern's descriptor. */
	assert_int_equal(if_nametoindex("terntest0"), 0);
}

static uint16_t ip_checksum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

#define IP_HLEN 20
#define TCP_HLEN 20

/* An IPv4 TCP frame with payload_len bytes of payload, its TCP checksum
 * left partial (pseudo header only) for the offload to finish. */
static size_t build_tcp_frame(uint8_t *frame, size_t payload_len)
{
	uint8_t *ip = frame + ETH_HLEN, *tcp = ip + IP_HLEN;
	size_t ip_len = IP_HLEN + TCP_HLEN + payload_len;
	uint8_t pseudo[12];
	uint16_t csum;

	fill_ethernet(frame, ETHERTYPE_IP);
	memset(ip, 0, IP_HLEN + TCP_HLEN);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8);
	ip[3] = (uint8_t)ip_len;
	ip[6] = 0x40; /* don't fragment */
	ip[8] = 64;
	ip[9] = IPPROTO_TCP;
	memcpy(ip + 12, (uint8_t[]){10, 0, 2, 15}, 4);
	memcpy(ip + 16, (uint8_t[]){10, 0, 2, 1}, 4);
	csum = (uint16_t)~ip_checksum(ip, IP_HLEN, 0);
	ip[10] = (uint8_t)(csum >> 8);
	ip[11] = (uint8_t)csum;

	tcp[0] = 0x9c, tcp[1] = 0x40; /* 40000 */
	tcp[2] = 0x13, tcp[3] = 0x88; /* 5000 */
	tcp[7] = 1; /* sequence number */
	tcp[12] = (TCP_HLEN / 4) << 4;
	tcp[13] = 0x18; /* PSH ACK */
	tcp[14] = 0xff, tcp[15] = 0xff; /* window */
	for (size_t i = 0; i < payload_len; i++)
		tcp[TCP_HLEN + i] = (uint8_t)(i * 13 + 1);

	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = (uint8_t)((TCP_HLEN + payload_len) >> 8);
	pseudo[11] = (uint8_t)(TCP_HLEN + payload_len);
	csum = ip_checksum(pseudo, sizeof(pseudo), 0);
	tcp[16] = (uint8_t)(csum >> 8);
	tcp[17] = (uint8_t)csum;
	return ETH_HLEN + ip_len;
}

static int tcp_checksum_is_complete(const uint8_t *frame, size_t len)
{
	const uint8_t *ip = frame + ETH_HLEN;
	size_t tcp_len = len - ETH_HLEN - IP_HLEN;
	uint8_t pseudo[12];
	uint32_t sum;

	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = (uint8_t)(tcp_len >> 8);
	pseudo[11] = (uint8_t)tcp_len;
	sum = ip_checksum(pseudo, sizeof(pseudo), 0);
	return ip_checksum(ip + IP_HLEN, tcp_len, sum) == 0xffff;
}

/* Sends one checksum-partial TCP segment of payload_len bytes, as a TSO
 * segment of gso_size when gso_size > 0, from the host side of the tap. */
static void send_partial_tcp(int sock, size_t payload_len, uint16_t gso_size)
{
	static uint8_t buf[sizeof(struct virtio_net_hdr) + 65536];
	struct virtio_net_hdr hdr = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = gso_size ? VIRTIO_NET_HDR_GSO_TCPV4
				     : VIRTIO_NET_HDR_GSO_NONE,
		.hdr_len = ETH_HLEN + IP_HLEN + TCP_HLEN,
		.gso_size = gso_size,
		.csum_start = ETH_HLEN + IP_HLEN,
		.csum_offset = 16,
	};
	size_t len = build_tcp_frame(buf + sizeof(hdr), payload_len);

	memcpy(buf, &hdr, sizeof(hdr));
	assert_int_equal(send(sock, buf, sizeof(hdr) + len, 0),
			 sizeof(hdr) + len);
}

static void offloads_decide_what_the_tap_hands_over(void **state)
{
	static uint8_t buf[VNET_HDR_V1 + 65536];
	struct tern_error err = {{0}};
	struct virtio_net_hdr_v1 hdr;
	struct tap tap;
	ssize_t n;
	int sock;

	require_tun();
	assert_int_equal(tap_open(&tap, "terntest1", VNET_HDR_V1, &err), 0);
	set_link_up("terntest1");
	sock = packet_socket("terntest1", ETH_P_ALL, 1);

	/* No offloads (tap_open's default): the kernel finishes the checksum
	 * before the frame reaches the guest side. */
	send_partial_tcp(sock, 100, 0);
	n = read_tap_frame(&tap, ETHERTYPE_IP, buf, sizeof(buf));
	assert_int_equal(n, VNET_HDR_V1 + ETH_HLEN + IP_HLEN + TCP_HLEN + 100);
	memcpy(&hdr, buf, sizeof(hdr));
	assert_false(hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_true(tcp_checksum_is_complete(buf + VNET_HDR_V1,
					     (size_t)n - VNET_HDR_V1));

	/* A 3000-byte TSO segment without TSO4 arrives as MSS-sized frames. */
	send_partial_tcp(sock, 3000, 1000);
	for (int i = 0; i < 3; i++) {
		n = read_tap_frame(&tap, ETHERTYPE_IP, buf, sizeof(buf));
		assert_int_equal(
			n, VNET_HDR_V1 + ETH_HLEN + IP_HLEN + TCP_HLEN + 1000);
		memcpy(&hdr, buf, sizeof(hdr));
		assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	}

	/* With CSUM and TSO4 the partial checksum and the whole segment
	 * pass through untouched, described by the header. */
	assert_int_equal(tap_set_offloads(&tap,
					  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
					  &err),
			 0);
	send_partial_tcp(sock, 100, 0);
	n = read_tap_frame(&tap, ETHERTYPE_IP, buf, sizeof(buf));
	assert_int_equal(n, VNET_HDR_V1 + ETH_HLEN + IP_HLEN + TCP_HLEN + 100);
	memcpy(&hdr, buf, sizeof(hdr));
	assert_true(hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(hdr.csum_start, ETH_HLEN + IP_HLEN);
	assert_int_equal(hdr.csum_offset, 16);

	send_partial_tcp(sock, 3000, 1000);
	n = read_tap_frame(&tap, ETHERTYPE_IP, buf, sizeof(buf));
	assert_int_equal(n, VNET_HDR_V1 + ETH_HLEN + IP_HLEN + TCP_HLEN + 3000);
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(hdr.gso_size, 1000);

	/* Flags the tap driver does not know are refused before the ioctl. */
	assert_int_equal(tap_set_offloads(&tap, 0x10000, &err), -EINVAL);
	assert_non_null(strstr(err.message, "unknown offload"));

	close(sock);
	tap_close(&tap);
}

static void existing_tap_is_attached_and_stays(void **state)
{
	struct tern_error err = {{0}};
	struct ifreq ifr = {0};
	struct tap tap;
	int maker;

	require_tun();
	/* What `ip tuntap add terntest2 mode tap` does. */
	maker = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(maker >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "terntest2");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	assert_int_equal(ioctl(maker, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(maker, TUNSETPERSIST, 1), 0);
	close(maker);

	assert_int_equal(tap_open(&tap, "terntest2", VNET_HDR_V1, &err), 0);
	assert_int_equal(tap.created, 0);

	/* A second attach to a single-queue tap is refused as busy. */
	struct tap second;
	assert_int_equal(tap_open(&second, "terntest2", VNET_HDR_V1, &err),
			 -EBUSY);
	assert_non_null(strstr(err.message, "busy"));
	assert_int_equal(second.fd, -1);

	tap_close(&tap);
	assert_true(if_nametoindex("terntest2") != 0);

	maker = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_int_equal(ioctl(maker, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(maker, TUNSETPERSIST, 0), 0);
	close(maker);
	assert_int_equal(if_nametoindex("terntest2"), 0);
}

static void bad_names_and_non_taps_are_clear_errors(void **state)
{
	struct tern_error err = {{0}};
	struct tap tap;

	assert_int_equal(tap_check_name("tap0", &err), 0);
	assert_int_equal(tap_check_name("", &err), -EINVAL);
	assert_non_null(strstr(err.message, "empty"));
	assert_int_equal(tap_check_name("a-name-of-16-chr", &err), -EINVAL);
	assert_non_null(strstr(err.message, "longer than 15"));
	assert_int_equal(tap_check_name("a-name-of-15-ch", &err), 0);
	assert_int_equal(tap_check_name("tap/0", &err), -EINVAL);
	assert_int_equal(tap_check_name("tap 0", &err), -EINVAL);
	assert_int_equal(tap_check_name("tap:0", &err), -EINVAL);
	assert_int_equal(tap_check_name("..", &err), -EINVAL);

	require_tun();
	/* A bad name never reaches the kernel. */
	assert_int_equal(tap_open(&tap, "tap/0", VNET_HDR_V1, &err), -EINVAL);
	assert_int_equal(tap.fd, -1);
	/* The loopback device exists but is no tap. */
	assert_int_equal(tap_open(&tap, "lo", VNET_HDR_V1, &err), -EINVAL);
	assert_non_null(strstr(err.message, "not a tap"));
	assert_int_equal(tap.fd, -1);
}

static void unprivileged_user_gets_a_permission_error(void **state)
{
	int pipefd[2], status;
	char message[256] = "";
	pid_t pid;

	require_tun();
	if (!running_as_root) {
		print_message("# SKIP needs root to switch to another user\n");
		skip();
	}
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct tern_error err = {{0}};
		struct tap tap;
		int ret = -1;

		close(pipefd[0]);
		if (setgid(65534) == 0 && setuid(65534) == 0)
			ret = tap_open(&tap, "terntest3", VNET_HDR_V1, &err);
		if (write(pipefd[1], err.message, strlen(err.message)) < 0)
			_exit(2);
		_exit(ret == -EACCES || ret == -EPERM ? 0 : 1);
	}
	close(pipefd[1]);
	assert_true(read(pipefd[0], message, sizeof(message) - 1) >= 0);
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("unprivileged tap_open: '%s'", message);
	assert_non_null(strstr(message, "no permission"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frames_cross_the_tap_both_ways),
		cmocka_unit_test(offloads_decide_what_the_tap_hands_over),
		cmocka_unit_test(existing_tap_is_attached_and_stays),
		cmocka_unit_test(bad_names_and_non_taps_are_clear_errors),
		cmocka_unit_test(unprivileged_user_gets_a_permission_error),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
