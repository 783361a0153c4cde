/* Fuzz target: virtio-vsock (src/virtio/virtio_vsock.c, vsock/) from a
 * hostile driver: packets of every op, credit and shutdown in every
 * connection state, with the host side in play too: clients connecting
 * through the device's Unix socket with a CONNECT line of the input's
 * choosing, a listener for guest connections to port 1024, data written,
 * read and sockets closed at the input's say. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_virtio.h"
#include "virtio/virtio_vsock.h"

#define HOST_FDS 4
#define GUEST_CID 3

static char socket_path[96];
static int port_listener = -1;
static int host_fds[HOST_FDS];

static int unix_socket_at(const char *path, bool listen_on)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0)
		abort();
	if (listen_on) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
		    listen(fd, 16))
			abort();
	} else if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void cleanup(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s_1024", socket_path);
	unlink(path);
}

static void setup_once(void)
{
	char path[128];

	if (socket_path[0])
		return;
	/* As tern does (vm.c): a write to a socket whose peer left is an
	 * error return, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(socket_path, sizeof(socket_path), "/tmp/tern-fuzz-vsock-%d",
		 (int)getpid());
	snprintf(path, sizeof(path), "%s_1024", socket_path);
	port_listener = unix_socket_at(path, true);
	atexit(cleanup);
}

static int free_slot(void)
{
	for (int i = 0; i < HOST_FDS; i++)
		if (host_fds[i] < 0)
			return i;
	return -1;
}

static void host_op(struct fuzz_driver *d, struct fuzz_input *in)
{
	uint8_t op = fuzz_u8(in);
	int slot = (op >> 4) % HOST_FDS;
	char buf[64];
	ssize_t ignored;

	switch (op % 5) {
	case 0: { /* a host client asks for guest port N */
		int i = free_slot();
		int n;

		if (i < 0)
			break;
		host_fds[i] = unix_socket_at(socket_path, false);
		if (host_fds[i] < 0)
			break;
		if (fuzz_u8(in) & 1) {
			n = (int)fuzz_bytes(in, buf, fuzz_u8(in) % 24);
		} else {
			n = snprintf(buf, sizeof(buf), "CONNECT %u\n",
				     fuzz_u32(in) % 2048);
		}
		ignored = write(host_fds[i], buf, (size_t)n);
		break;
	}
	case 1: { /* the host program for port 1024 accepts */
		int i = free_slot();

		if (i >= 0)
			host_fds[i] = accept4(port_listener, NULL, NULL,
					      SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	}
	case 2:
		if (host_fds[slot] >= 0)
			ignored = write(host_fds[slot], buf,
					fuzz_bytes(in, buf, fuzz_u8(in) % 64));
		break;
	case 3:
		if (host_fds[slot] >= 0)
			ignored = read(host_fds[slot], buf, sizeof(buf));
		break;
	default:
		if (host_fds[slot] >= 0) {
			if (fuzz_u8(in) & 1)
				shutdown(host_fds[slot], SHUT_WR);
			else {
				close(host_fds[slot]);
				host_fds[slot] = -1;
			}
		}
		break;
	}
	(void)ignored;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct tern_error err = {{0}};
	struct virtio_device *vdev;
	struct fuzz_driver d;
	int fd;

	setup_once();
	for (int i = 0; i < HOST_FDS; i++)
		host_fds[i] = -1;
	if (virtio_vsock_create(GUEST_CID, socket_path, &vdev, &err))
		abort();
	virtio_vsock_set_connect_timeout(vdev, 1);
	fuzz_driver_init(&d, vdev->queue_count);
	d.device_op = host_op;
	fuzz_device_attach(&d, vdev, &in);
	fuzz_device_run(&d, &in);
	for (int i = 0; i < HOST_FDS; i++)
		if (host_fds[i] >= 0)
			close(host_fds[i]);
	/* Guest connections the fuzzer's host side never accepted. */
	while ((fd = accept4(port_listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	return 0;
}
