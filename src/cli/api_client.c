#include "cli/api_client.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int api_client_connect(const char *sock_path, int timeout_s,
		       struct tern_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = timeout_s};
	int fd, saved;

	if (strlen(sock_path) >= sizeof(addr.sun_path))
		return tern_error_set(err, ENAMETOOLONG,
				      "API socket path '%.100s' is too long",
				      sock_path);
	strcpy(addr.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tern_error_set(err, errno, "socket: %s",
				      strerror(errno));
	/* SO_SNDTIMEO also bounds connect() on a Unix socket. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		saved = errno;
		close(fd);
		return tern_error_set(err, saved,
				      "cannot connect to the API socket "
				      "'%.100s': %s (is tern running with "
				      "--api-sock?)",
				      sock_path, strerror(saved));
	}
	return fd;
}

static int write_all(int fd, const char *data, size_t len,
		     struct tern_error *err)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tern_error_set(
				err, errno, "writing to the API socket: %s",
				errno == EAGAIN ? "timed out"
						: strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int api_client_reply_complete(const char *buf, size_t len)
{
	const char *end = strstr(buf, "\r\n\r\n"), *cl;

	if (!end)
		return 0;
	cl = strcasestr(buf, "\r\nContent-Length:");
	return cl && cl < end &&
		len >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
}

/* Reads until the server closes (we asked for Connection: close) or the
 * Content-Length is complete. */
static int read_reply(int fd, char *buf, size_t size, size_t *len,
		      struct tern_error *err)
{
	*len = 0;
	for (;;) {
		ssize_t n;

		if (*len + 1 >= size)
			return tern_error_set(err, EMSGSIZE,
					      "the API reply is over %zu bytes",
					      size - 1);
		n = recv(fd, buf + *len, size - 1 - *len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tern_error_set(
				err, errno, "reading the API reply: %s",
				errno == EAGAIN ? "timed out"
						: strerror(errno));
		if (n == 0)
			break;
		*len += (size_t)n;
		buf[*len] = 0;
		if (api_client_reply_complete(buf, *len))
			break;
	}
	buf[*len] = 0;
	return 0;
}

int api_client_format_head(char *head, size_t size, const char *method,
			   const char *path, size_t body_len,
			   struct tern_error *err)
{
	int n = snprintf(head, size,
			 "%s %s HTTP/1.1\r\nHost: localhost\r\n"
			 "Accept: application/json\r\n"
			 "Connection: close\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 method, path, body_len);

	if (n < 0 || (size_t)n >= size)
		return tern_error_set(err, EINVAL, "API request too long");
	return n;
}

int api_client_parse_reply(char *buf, size_t len, const char *peer,
			   struct api_reply *reply, struct tern_error *err)
{
	const char *body_start;
	int minor;

	if (sscanf(buf, "HTTP/1.%d %3d", &minor, &reply->status) != 2 ||
	    reply->status < 100 || reply->status > 599) {
		free(buf);
		return tern_error_set(err, EPROTO,
				      "the API socket '%.100s' did not answer "
				      "HTTP",
				      peer);
	}
	body_start = strstr(buf, "\r\n\r\n");
	body_start = body_start ? body_start + 4 : buf + len;
	memmove(buf, body_start, strlen(body_start) + 1);
	reply->body = buf;
	return 0;
}

int api_client_request(const char *sock_path, const char *method,
		       const char *path, const char *body, int timeout_s,
		       struct api_reply *reply, struct tern_error *err)
{
	char head[512], *buf;
	size_t len, body_len = body ? strlen(body) : 0;
	int fd, ret, n;

	memset(reply, 0, sizeof(*reply));
	n = api_client_format_head(head, sizeof(head), method, path, body_len,
				   err);
	if (n < 0)
		return n;
	fd = api_client_connect(sock_path, timeout_s, err);
	if (fd < 0)
		return fd;
	ret = write_all(fd, head, (size_t)n, err);
	if (!ret && body_len)
		ret = write_all(fd, body, body_len, err);
	buf = malloc(API_CLIENT_MAX_REPLY + 1);
	if (!ret && !buf)
		ret = tern_error_set(err, ENOMEM, "out of memory");
	if (!ret)
		ret = read_reply(fd, buf, API_CLIENT_MAX_REPLY + 1, &len, err);
	close(fd);
	if (ret) {
		free(buf);
		return ret;
	}
	return api_client_parse_reply(buf, len, sock_path, reply, err);
}

const char *api_client_fault(const struct api_reply *reply, char *buf,
			     size_t size)
{
	json_t *doc = reply->body ? json_loads(reply->body, 0, NULL) : NULL;
	const char *message = NULL;

	if (json_is_object(doc))
		message = json_string_value(
			json_object_get(doc, "fault_message"));
	if (message)
		snprintf(buf, size, "%s", message);
	else if (reply->body && reply->body[0])
		snprintf(buf, size, "HTTP %d: %.200s", reply->status,
			 reply->body);
	else
		snprintf(buf, size, "HTTP %d", reply->status);
	json_decref(doc);
	return buf;
}
