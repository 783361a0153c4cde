/* --serial unix:PATH: the guest's console on a Unix socket tern listens
 * on, for a console manager (ternd) or `socat - UNIX-CONNECT:PATH`.
 *
 * The vCPU that transmits only appends to a bounded ring and, when the
 * ring was empty, wakes the run loop through an eventfd; the run loop
 * alone touches the sockets, all non-blocking. So no reader, a slow one
 * or a gone one ever stalls the guest: output waits in the ring (the
 * oldest dropped beyond SERIAL_SOCKET_BUFFER, counted and logged), and a
 * client that connects later (ternd after a restart) gets what waited. */
#include "backends/serial_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/serial_8250.h"
#include "util/byte_ring.h"
#include "util/log.h"
#include "util/unix_listener.h"

/* Input read from the client and not yet taken by the UART: reading stops
 * while it is full (the guest reads at its own pace; nothing typed is
 * dropped). */
#define INPUT_BUFFER 4096
/* While input waits for room in the UART, look again this often. */
#define INPUT_RETRY_MS 10

struct serial_socket {
	struct serial_backend backend;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, client_fd, wake_fd;
	/* The ring, shared by the vCPUs (push) and the run loop (send). */
	pthread_mutex_t lock;
	struct byte_ring out;
	struct log_ratelimit drop_log;
	uint8_t in[INPUT_BUFFER];
	size_t in_len;
};

static struct serial_socket *to_socket(struct serial_backend *b)
{
	return (struct serial_socket *)b;
}

static void socket_transmit(struct serial_backend *b, uint8_t byte)
{
	struct serial_socket *s = to_socket(b);
	uint64_t one = 1, dropped_total;
	size_t dropped;
	int was_empty;

	pthread_mutex_lock(&s->lock);
	was_empty = !byte_ring_used(&s->out);
	dropped = byte_ring_push(&s->out, &byte, 1);
	dropped_total = s->out.dropped;
	pthread_mutex_unlock(&s->lock);
	if (dropped)
		log_ratelimited(&s->drop_log, LOG_WARN,
				"serial: nobody reads the console socket %s: "
				"the oldest output is dropped (%llu bytes so "
				"far)",
				s->path, (unsigned long long)dropped_total);
	/* Non-blocking eventfd: a full counter still means "look". */
	if (was_empty && write(s->wake_fd, &one, sizeof(one)) < 0)
		(void)0;
}

static void drop_client(struct serial_socket *s, const char *why)
{
	if (s->client_fd < 0)
		return;
	close(s->client_fd);
	s->client_fd = -1;
	log_debug("serial: console client on %s gone (%s)", s->path, why);
}

/* Sends what the ring holds, as much as the client's socket takes now. */
static void flush_output(struct serial_socket *s)
{
	const char *failure = NULL;

	if (s->client_fd < 0)
		return;
	pthread_mutex_lock(&s->lock);
	while (byte_ring_used(&s->out)) {
		const uint8_t *data;
		size_t len = byte_ring_peek(&s->out, &data);
		ssize_t n = send(s->client_fd, data, len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			byte_ring_consume(&s->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			failure = strerror(errno);
		break;
	}
	pthread_mutex_unlock(&s->lock);
	if (failure)
		drop_client(s, failure);
}

static void accept_client(struct serial_socket *s)
{
	int fd =
		accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (s->client_fd >= 0) {
		/* The newest client wins: a console manager that restarted
		 * must get the console back even if the kernel has not told
		 * us about its old connection yet. */
		log_info("serial: a new client of %s takes over the console",
			 s->path);
		drop_client(s, "taken over");
	}
	s->client_fd = fd;
}

static void read_input(struct serial_socket *s, short revents)
{
	ssize_t n;

	if (s->client_fd < 0)
		return;
	if (revents & (POLLERR | POLLNVAL)) {
		drop_client(s, "socket error");
		return;
	}
	if (!(revents & (POLLIN | POLLHUP)))
		return;
	if (s->in_len == sizeof(s->in)) {
		/* Hung up with input still waiting: what it sent stays. */
		drop_client(s, "hung up");
		return;
	}
	n = read(s->client_fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
	if (n > 0)
		s->in_len += (size_t)n;
	else if (n == 0)
		drop_client(s, "closed");
	else if (errno != EAGAIN && errno != EINTR)
		drop_client(s, strerror(errno));
}

static int socket_poll_fill(struct serial_backend *b, struct pollfd *fds,
			    int *timeout_ms)
{
	struct serial_socket *s = to_socket(b);
	int count = 0, pending;

	fds[count++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
	fds[count++] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
	if (s->client_fd >= 0) {
		pthread_mutex_lock(&s->lock);
		pending = byte_ring_used(&s->out) > 0;
		pthread_mutex_unlock(&s->lock);
		fds[count++] = (struct pollfd){
			.fd = s->client_fd,
			.events = (short)((s->in_len < sizeof(s->in) ? POLLIN
								     : 0) |
					  (pending ? POLLOUT : 0)),
		};
	}
	if (s->in_len && (*timeout_ms < 0 || *timeout_ms > INPUT_RETRY_MS))
		*timeout_ms = INPUT_RETRY_MS;
	return count;
}

static void socket_serve(struct serial_backend *b, const struct pollfd *fds,
			 int count, struct device *uart)
{
	struct serial_socket *s = to_socket(b);
	uint64_t ignored;

	if (count > 1 && fds[1].revents & POLLIN &&
	    read(s->wake_fd, &ignored, sizeof(ignored)) < 0)
		(void)0;
	if (count > 2)
		read_input(s, fds[2].revents);
	/* After the old client's last input was read. */
	if (fds[0].revents & POLLIN)
		accept_client(s);
	if (s->in_len && uart) {
		size_t taken = serial_8250_receive(uart, s->in, s->in_len);

		memmove(s->in, s->in + taken, s->in_len - taken);
		s->in_len -= taken;
	}
	flush_output(s);
}

static void socket_destroy(struct serial_backend *b)
{
	struct serial_socket *s = to_socket(b);

	/* The guest's last words (a panic, "Power down"), if the client
	 * takes them now. */
	flush_output(s);
	drop_client(s, "tern stops");
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->path);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	byte_ring_free(&s->out);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct serial_backend_ops serial_socket_ops = {
	.name = "unix",
	.transmit = socket_transmit,
	.poll_fill = socket_poll_fill,
	.serve = socket_serve,
	.destroy = socket_destroy,
};

int serial_socket_open(const char *path, struct serial_backend **out,
		       struct tern_error *err)
{
	struct serial_socket *s = calloc(1, sizeof(*s));
	int ret = 0;

	*out = NULL;
	if (!s || byte_ring_init(&s->out, SERIAL_SOCKET_BUFFER)) {
		free(s);
		return tern_error_set(err, ENOMEM,
				      "out of memory for the console");
	}
	s->backend.ops = &serial_socket_ops;
	s->client_fd = -1;
	s->wake_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->listen_fd = unix_listener_open(path, "console socket", 1, err);
	if (s->listen_fd < 0) {
		ret = s->listen_fd;
	} else {
		s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (s->wake_fd < 0)
			ret = tern_error_set(err, errno, "eventfd: %s",
					     strerror(errno));
	}
	if (ret) {
		socket_destroy(&s->backend);
		return ret;
	}
	*out = &s->backend;
	return 0;
}
