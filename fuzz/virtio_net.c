/* Fuzz target: virtio-net transmit and receive from a hostile driver, on
 * a real tap (kept up between runs, in a network namespace of the fuzzer's
 * own: needs root) with frames of the input's choosing sent into it from
 * a packet socket, so the receive path sees them. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_virtio.h"
#include "virtio/virtio_net.h"

#define TAP_NAME "fuzz0"

static int ctl_fd = -1, packet_fd = -1;
static int packet_ifindex;

/* Made once and kept between runs (TUNSETPERSIST): each run's device
 * attaches to it, which costs far less than a new interface per run. */
static void make_persistent_tap(void)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP_NAME);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) ||
	    ioctl(fd, TUNSETPERSIST, 1)) {
		printf("fuzz-skip: cannot make a tap (%m)\n");
		fflush(stdout);
		_exit(77);
	}
	close(fd);
}

static void setup_once(void)
{
	if (ctl_fd >= 0)
		return;
	if (unshare(CLONE_NEWNET)) {
		/* fuzz/run reports the target as skipped. */
		printf("fuzz-skip: a network namespace needs root (%m)\n");
		fflush(stdout);
		_exit(77);
	}
	make_persistent_tap();
	ctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	packet_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
			   htons(ETH_P_ALL));
	if (ctl_fd < 0 || packet_fd < 0)
		abort();
}

static void tap_up(void)
{
	struct ifreq ifr = {0};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), TAP_NAME);
	if (ioctl(ctl_fd, SIOCGIFFLAGS, &ifr))
		abort();
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(ctl_fd, SIOCSIFFLAGS, &ifr))
		abort();
	packet_ifindex = (int)if_nametoindex(TAP_NAME);
}

/* A frame towards the guest: what the host sends out of the tap. */
static void host_op(struct fuzz_driver *d, struct fuzz_input *in)
{
	static uint8_t frame[2048];
	struct sockaddr_ll to = {.sll_family = AF_PACKET,
				 .sll_ifindex = packet_ifindex,
				 .sll_halen = ETH_ALEN};
	size_t len = ETH_HLEN + fuzz_u16(in) % (sizeof(frame) - ETH_HLEN);
	ssize_t ignored;

	fuzz_bytes(in, frame, len < 64 ? len : 64);
	ignored = sendto(packet_fd, frame, len, 0, (struct sockaddr *)&to,
			 sizeof(to));
	(void)ignored;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct vm_net_config config = {
		.id = "net0",
		.tap_name = TAP_NAME,
		.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
	};
	struct tern_error err = {{0}};
	struct virtio_device *vdev;
	struct fuzz_driver d;

	setup_once();
	if (virtio_net_create(&config, &vdev, &err)) {
		fprintf(stderr, "virtio_net_create: %s\n", err.message);
		abort();
	}
	if (!packet_ifindex)
		tap_up();
	fuzz_driver_init(&d, vdev->queue_count);
	d.device_op = host_op;
	fuzz_device_attach(&d, vdev, &in);
	fuzz_device_run(&d, &in);
	return 0;
}
