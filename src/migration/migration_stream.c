#include "migration/migration_stream.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t plain_read(struct migration_stream *s, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(s->fd, buf, len);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		/* SO_RCVTIMEO expired. */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		return -errno;
	}
}

static ssize_t plain_write(struct migration_stream *s, const void *buf,
			   size_t len)
{
	for (;;) {
		ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);

		if (n > 0)
			return n;
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -ETIMEDOUT;
		return -errno;
	}
}

/* One sendmsg for both parts, resumed where a short send stopped. */
static int plain_write_message(struct migration_stream *s, const void *head,
			       size_t head_len, const void *body,
			       size_t body_len)
{
	struct iovec iov[2] = {{(void *)head, head_len},
			       {(void *)body, body_len}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

	while (msg.msg_iovlen) {
		ssize_t n = sendmsg(s->fd, &msg, MSG_NOSIGNAL);

		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base =
				(uint8_t *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static void plain_close(struct migration_stream *s)
{
	close(s->fd);
	free(s);
}

static const struct migration_stream_ops plain_ops = {
	.read = plain_read,
	.write = plain_write,
	.write_message = plain_write_message,
	.close = plain_close,
};

int migration_stream_plain(int fd, struct migration_stream **out)
{
	struct migration_stream *s = calloc(1, sizeof(*s));

	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->ops = &plain_ops;
	s->fd = fd;
	s->description = "plain TCP (insecure: not encrypted, not "
			 "authenticated)";
	*out = s;
	return 0;
}

int migration_stream_write_all(struct migration_stream *s, const void *buf,
			       size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = s->ops->write(s, p, len);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int migration_stream_write_message(struct migration_stream *s, const void *head,
				   size_t head_len, const void *body,
				   size_t body_len)
{
	int ret;

	if (s->ops->write_message)
		return s->ops->write_message(s, head, head_len, body, body_len);
	ret = migration_stream_write_all(s, head, head_len);
	return ret ? ret : migration_stream_write_all(s, body, body_len);
}

int migration_stream_read_all(struct migration_stream *s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = s->ops->read(s, p, len);

		if (n <= 0)
			return n < 0 ? (int)n : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void set_timeout(int fd, int option, int seconds)
{
	struct timeval timeout = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, option, &timeout, sizeof(timeout));
}

void migration_stream_set_timeouts(struct migration_stream *s, int receive_s,
				   int send_s)
{
	set_timeout(s->fd, SO_RCVTIMEO, receive_s);
	set_timeout(s->fd, SO_SNDTIMEO, send_s);
}

void migration_stream_close(struct migration_stream *s)
{
	if (s)
		s->ops->close(s);
}
