/* tern-vsock: the guest side of tern's virtio-vsock tests, since busybox
 * has no AF_VSOCK client or server. Built static for the busybox initramfs.
 *
 *   tern-vsock listen PORT       echo server: accepts connections one after
 *                                another and sends every byte back
 *   tern-vsock connect CID PORT  sends stdin to CID:PORT (then half-closes)
 *                                and copies what comes back to stdout
 *
 * Exit status 0, or 1 with a message on stderr. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void echo(int fd)
{
	char buf[65536];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || write_all(fd, buf, (size_t)n))
			break;
	}
	close(fd);
}

static int do_listen(unsigned port)
{
	struct sockaddr_vm addr = {.svm_family = AF_VSOCK,
				   .svm_cid = VMADDR_CID_ANY,
				   .svm_port = port};
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(fd, 16)) {
		perror("tern-vsock: listen");
		return 1;
	}
	printf("listening on vsock port %u\n", port);
	fflush(stdout);
	for (;;) {
		int conn = accept(fd, NULL, NULL);

		if (conn < 0) {
			if (errno == EINTR)
				continue;
			perror("tern-vsock: accept");
			return 1;
		}
		echo(conn);
	}
}

/* Never blocks on a send: while the peer echoes, a blocked writer that
 * stops reading fills every buffer on the way back and deadlocks. */
static int do_connect(unsigned cid, unsigned port)
{
	struct sockaddr_vm addr = {.svm_family = AF_VSOCK,
				   .svm_cid = cid,
				   .svm_port = port};
	static char out[65536], in[65536];
	size_t out_len = 0, out_off = 0;
	struct pollfd fds[2];
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	int stdin_open = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fprintf(stderr, "tern-vsock: connect %u:%u: %s\n", cid, port,
			strerror(errno));
		return 1;
	}
	for (;;) {
		int want_stdin = stdin_open && out_off == out_len;

		fds[0] = (struct pollfd){.fd = want_stdin ? 0 : -1,
					 .events = POLLIN};
		fds[1] = (struct pollfd){
			.fd = fd,
			.events = POLLIN | (out_off < out_len ? POLLOUT : 0)};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("tern-vsock: poll");
			return 1;
		}
		if (fds[0].revents) {
			ssize_t n = read(0, out, sizeof(out));

			if (n > 0) {
				out_len = (size_t)n;
				out_off = 0;
			} else {
				stdin_open = 0;
				shutdown(fd, SHUT_WR);
			}
		}
		if (fds[1].revents & POLLOUT) {
			ssize_t n = send(fd, out + out_off, out_len - out_off,
					 MSG_DONTWAIT);

			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				perror("tern-vsock: send");
				return 1;
			}
			if (n > 0)
				out_off += (size_t)n;
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0) {
				perror("tern-vsock: receive");
				return 1;
			}
			if (n == 0)
				return 0;
			if (write_all(1, in, (size_t)n))
				return 1;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "listen"))
		return do_listen((unsigned)strtoul(argv[2], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "connect"))
		return do_connect((unsigned)strtoul(argv[2], NULL, 10),
				  (unsigned)strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: tern-vsock listen PORT\n"
			"       tern-vsock connect CID PORT\n");
	return 2;
}
