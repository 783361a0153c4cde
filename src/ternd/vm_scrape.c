#include "ternd/vm_scrape.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ternd/prom_merge.h"

/* The reply's headers and body; tern's are a few KiB. */
#define MAX_REPLY (PROM_MERGE_MAX_TEXT + 16 * 1024)

static const char request[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
			      "Accept: text/plain\r\n"
			      "Connection: close\r\n\r\n";

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void finish(struct vm_scrape *s, const char *why)
{
	s->done = 1;
	s->seconds = (double)(now_us() - s->started_us) / 1e6;
	if (why) {
		s->ok = 0;
		snprintf(s->why, sizeof(s->why), "%s", why);
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Connects and sends the request without blocking: a Unix socket's
 * connect either completes at once or fails (EAGAIN: the backlog is full,
 * the tern is not accepting). */
static void begin(struct vm_scrape *s)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char why[160];
	ssize_t n;

	s->fd = -1;
	s->started_us = now_us();
	if (strlen(s->api_socket) >= sizeof(addr.sun_path)) {
		finish(s, "the API socket's path is too long");
		return;
	}
	memcpy(addr.sun_path, s->api_socket, strlen(s->api_socket) + 1);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 ||
	    connect(s->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		snprintf(why, sizeof(why), "cannot connect to %.100s: %s",
			 s->api_socket,
			 errno == EAGAIN ? "its backlog is full (not accepting)"
					 : strerror(errno));
		finish(s, why);
		return;
	}
	/* Far below a socket buffer: written whole or not at all. */
	n = send(s->fd, request, sizeof(request) - 1, MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(request) - 1) {
		snprintf(why, sizeof(why), "cannot send the request: %s",
			 n < 0 ? strerror(errno) : "short write");
		finish(s, why);
	}
}

/* The body once the reply is whole (Content-Length read, or the peer
 * closed); 1 when done (ok or not), 0 when more is needed. */
static int parse_reply(struct vm_scrape *s, int eof)
{
	const char *head_end, *cl;
	unsigned long long length;
	char *end;
	int status = 0, minor;

	s->buf[s->len] = '\0';
	head_end = strstr(s->buf, "\r\n\r\n");
	if (!head_end) {
		if (eof)
			finish(s, "the reply ended inside its headers");
		return eof;
	}
	if (sscanf(s->buf, "HTTP/1.%d %3d", &minor, &status) != 2 ||
	    status != 200) {
		char why[64];

		snprintf(why, sizeof(why), "GET /metrics answered status %d",
			 status);
		finish(s, why);
		return 1;
	}
	head_end += 4;
	cl = strcasestr(s->buf, "\r\nContent-Length:");
	if (!cl || cl > head_end) {
		if (strcasestr(s->buf, "\r\nTransfer-Encoding:") &&
		    strcasestr(s->buf, "\r\nTransfer-Encoding:") < head_end) {
			finish(s, "a chunked reply (not expected of tern)");
			return 1;
		}
		if (!eof)
			return 0;
		length = s->len - (size_t)(head_end - s->buf);
	} else {
		errno = 0;
		length = strtoull(cl + 17, &end, 10);
		if (errno || end == cl + 17 || length > PROM_MERGE_MAX_TEXT) {
			finish(s, "a bad or too large Content-Length");
			return 1;
		}
		if ((size_t)(s->len - (size_t)(head_end - s->buf)) < length) {
			if (eof)
				finish(s, "the reply ended early");
			return eof;
		}
	}
	s->body = malloc(length + 1);
	if (!s->body) {
		finish(s, "out of memory");
		return 1;
	}
	memcpy(s->body, head_end, length);
	s->body[length] = '\0';
	s->body_len = length;
	s->ok = 1;
	finish(s, NULL);
	return 1;
}

static void receive(struct vm_scrape *s)
{
	ssize_t n;

	if (s->cap - s->len < 4096 + 1) {
		size_t cap = s->cap ? s->cap * 2 : 16384;
		char *grown;

		if (cap > MAX_REPLY + 1)
			cap = MAX_REPLY + 1;
		if (cap <= s->len + 1) {
			finish(s, "the reply is too large");
			return;
		}
		grown = realloc(s->buf, cap);
		if (!grown) {
			finish(s, "out of memory");
			return;
		}
		s->buf = grown;
		s->cap = cap;
	}
	n = recv(s->fd, s->buf + s->len, s->cap - s->len - 1, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			char why[80];

			snprintf(why, sizeof(why), "reading the reply: %s",
				 strerror(errno));
			finish(s, why);
		}
		return;
	}
	s->len += (size_t)n;
	parse_reply(s, n == 0);
}

void vm_scrape_all(struct vm_scrape *scrapes, size_t count, int timeout_ms)
{
	long long deadline = now_us() + (long long)timeout_ms * 1000;
	struct pollfd *fds = calloc(count ? count : 1, sizeof(*fds));
	size_t *which = calloc(count ? count : 1, sizeof(*which));

	for (size_t i = 0; i < count; i++) {
		struct vm_scrape *s = &scrapes[i];

		*s = (struct vm_scrape){.api_socket = s->api_socket, .fd = -1};
		begin(s);
	}
	for (;;) {
		size_t n = 0;
		long long left = (deadline - now_us()) / 1000;

		for (size_t i = 0; fds && which && i < count; i++) {
			if (scrapes[i].done)
				continue;
			fds[n] = (struct pollfd){.fd = scrapes[i].fd,
						 .events = POLLIN};
			which[n++] = i;
		}
		if (!n || left <= 0 || !fds || !which)
			break;
		if (poll(fds, n, (int)left) < 0 && errno != EINTR)
			break;
		for (size_t j = 0; j < n; j++)
			if (fds[j].revents)
				receive(&scrapes[which[j]]);
	}
	for (size_t i = 0; i < count; i++) {
		struct vm_scrape *s = &scrapes[i];

		if (!s->done)
			finish(s,
			       fds && which ? "no answer within the deadline"
					    : "out of memory");
		free(s->buf);
		s->buf = NULL;
	}
	free(fds);
	free(which);
}
