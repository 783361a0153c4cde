#include "virtio/vsock/vsock_unix.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fill_address(struct sockaddr_un *addr, const char *path)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	strcpy(addr->sun_path, path);
	return 0;
}

/* Whether something accepts connections at addr (a socket file left by a
 * tern that exited does not). */
static int socket_is_live(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int live;

	if (fd < 0)
		return 0;
	live = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ||
		errno == EAGAIN;
	close(fd);
	return live;
}

int vsock_unix_listen(const char *path, struct tern_error *err)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd, ret;

	if (strlen(path) > VSOCK_UNIX_PATH_MAX)
		return tern_error_set(err, ENAMETOOLONG,
				      "vsock socket path '%s' is longer than "
				      "%d bytes",
				      path, VSOCK_UNIX_PATH_MAX);
	fill_address(&addr, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return tern_error_set(err, EEXIST,
					      "vsock socket path '%s' exists "
					      "and is not a socket",
					      path);
		if (socket_is_live(&addr))
			return tern_error_set(
				err, EADDRINUSE,
				"vsock socket path '%s' is in use "
				"(another tern?)",
				path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tern_error_set(err, errno, "vsock: socket: %s",
				      strerror(errno));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 64) < 0) {
		ret = errno;
		close(fd);
		return tern_error_set(err, ret,
				      "vsock: cannot listen on '%s': %s", path,
				      strerror(ret));
	}
	return fd;
}

int vsock_unix_connect_port(const char *path, uint32_t port)
{
	struct sockaddr_un addr;
	char name[sizeof(addr.sun_path) + 16];
	int fd;

	snprintf(name, sizeof(name), "%s_%u", path, port);
	if (fill_address(&addr, name))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A Unix stream connect completes at once or fails; EAGAIN means
	 * the listener's backlog is full, which counts as a refusal. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

int vsock_unix_parse_connect_line(const char *line, size_t len, uint32_t *port)
{
	static const char prefix[] = "CONNECT ";
	size_t i = sizeof(prefix) - 1;
	uint64_t value = 0;

	if (len < i + 2 || memcmp(line, prefix, i) || line[len - 1] != '\n')
		return -EPROTO;
	for (; i < len - 1; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EPROTO;
		value = value * 10 + (uint64_t)(line[i] - '0');
		if (value > UINT32_MAX)
			return -EPROTO;
	}
	if (line[sizeof(prefix) - 1] == '\n')
		return -EPROTO;
	*port = (uint32_t)value;
	return 0;
}

int vsock_unix_read_connect_line(int fd, uint32_t *port)
{
	char line[VSOCK_CONNECT_LINE_MAX];
	ssize_t n;
	char *nl;

	/* Peek first: bytes after the newline are the client's first data
	 * for the guest and must stay in the socket. */
	n = recv(fd, line, sizeof(line), MSG_PEEK);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	nl = memchr(line, '\n', (size_t)n);
	if (!nl)
		return n == (ssize_t)sizeof(line) ? -EPROTO : 0;
	n = recv(fd, line, (size_t)(nl - line + 1), 0);
	if (n != nl - line + 1)
		return n < 0 ? -errno : -EPROTO;
	return vsock_unix_parse_connect_line(line, (size_t)n, port) ? -EPROTO
								    : 1;
}
