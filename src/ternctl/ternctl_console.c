#include "ternctl/ternctl_console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/terminal.h"
#include "cli/api_client.h"
#include "ternctl/ternctl_client.h"

/* ternd's answer before the stream: a status line and a few headers, or
 * an error with its JSON. */
#define HEAD_MAX 16384
/* Typed input ternd has not taken yet; beyond it keys are dropped (a guest
 * that does not read its console), but Ctrl-] is always seen. */
#define INPUT_MAX 65536
/* How long the handshake, and sending the last input, may take. */
#define HANDSHAKE_TIMEOUT_S 30

size_t ternctl_console_scan(const void *in, size_t len, int *escape)
{
	const char *at = memchr(in, TERNCTL_CONSOLE_ESCAPE, len);

	*escape = at != NULL;
	return at ? (size_t)(at - (const char *)in) : len;
}

static int connect_ternd(const char *path, struct tern_error *err)
{
	int fd = api_client_connect(path, HANDSHAKE_TIMEOUT_S, err);

	return fd < 0 ? ternctl_unreachable(path, fd, err) : fd;
}

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stdout gone: the console goes on unseen */
		p += n;
		len -= (size_t)n;
	}
}

/* A refusal's JSON body, read to its Content-Length. */
static int refused(int fd, char *buf, size_t len, size_t head_len, int status,
		   struct tern_error *err)
{
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
	struct api_reply reply = {.status = status};
	char fault[sizeof(err->message)];

	if (want > HEAD_MAX - 1 - head_len)
		want = HEAD_MAX - 1 - head_len;
	while (len < head_len + want) {
		ssize_t n = recv(fd, buf + len, head_len + want - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	reply.body = buf + head_len;
	return tern_error_set(err, EREMOTEIO, "%s",
			      api_client_fault(&reply, fault, sizeof(fault)));
}

/* Sends the request and reads ternd's answer: 0 once upgraded, with
 * what came after the head in buf (*extra bytes). */
static int handshake(int fd, const struct ternctl_console_options *o, char *buf,
		     size_t *extra, struct tern_error *err)
{
	char request[512];
	size_t len = 0, head_len;
	int n, status, minor;
	char *end;

	n = snprintf(request, sizeof(request),
		     "POST /v1/vms/%s/console?scrollback=%zu%s HTTP/1.1\r\n"
		     "Host: localhost\r\n"
		     "Connection: Upgrade\r\n"
		     "Upgrade: tern-console\r\n"
		     "Content-Length: 0\r\n\r\n",
		     o->name, o->scrollback, o->force ? "&force=true" : "");
	if (n < 0 || (size_t)n >= sizeof(request))
		return tern_error_set(err, EINVAL, "request too long");
	if (send_all(fd, request, (size_t)n))
		return tern_error_set(err, errno, "cannot talk to ternd: %s",
				      strerror(errno));
	for (;;) {
		ssize_t got = recv(fd, buf + len, HEAD_MAX - 1 - len, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return tern_error_set(
				err, EPROTO,
				"ternd closed the connection before it "
				"answered%s",
				got < 0 && errno == EAGAIN ? " (timed out)"
							   : "");
		len += (size_t)got;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (len == HEAD_MAX - 1)
			return tern_error_set(err, EPROTO,
					      "ternd's answer is not HTTP");
	}
	head_len = (size_t)(end + 4 - buf);
	if (sscanf(buf, "HTTP/1.%d %3d", &minor, &status) != 2)
		return tern_error_set(err, EPROTO,
				      "%s did not answer HTTP: is it ternd's "
				      "socket?",
				      o->socket);
	if (status != 101)
		return refused(fd, buf, len, head_len, status, err);
	memmove(buf, buf + head_len, len - head_len);
	*extra = len - head_len;
	return 0;
}

struct session {
	int sock, signal_fd;
	int stdin_open;
	char *input; /* typed, not yet sent */
	size_t input_len;
	int detach; /* Ctrl-] or end of input seen: go once input is sent */
	enum ternctl_console_end end;
	int ended;
};

static void read_keyboard(struct session *s)
{
	char buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	size_t keep, room;
	int escape;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		s->stdin_open = 0;
		s->detach = 1;
		return;
	}
	keep = ternctl_console_scan(buf, (size_t)n, &escape);
	room = INPUT_MAX - s->input_len;
	if (keep > room)
		keep = room;
	memcpy(s->input + s->input_len, buf, keep);
	s->input_len += keep;
	if (escape) {
		s->stdin_open = 0;
		s->detach = 1;
	}
}

static void send_input(struct session *s, int wait)
{
	while (s->input_len) {
		ssize_t n = send(s->sock, s->input, s->input_len,
				 MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN)
				s->input_len = 0; /* ternd is gone */
			return;
		}
		memmove(s->input, s->input + n, s->input_len - (size_t)n);
		s->input_len -= (size_t)n;
	}
}

static void read_console(struct session *s)
{
	char buf[16384];
	ssize_t n = recv(s->sock, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		s->ended = 1;
		s->end = TERNCTL_CONSOLE_CLOSED;
		return;
	}
	write_all(STDOUT_FILENO, buf, (size_t)n);
}

static void relay(struct session *s)
{
	while (!s->ended) {
		struct pollfd fds[3] = {
			{.fd = s->signal_fd, .events = POLLIN},
			{.fd = s->sock,
			 .events = (short)(POLLIN |
					   (s->input_len ? POLLOUT : 0))},
			{.fd = s->stdin_open ? STDIN_FILENO : -1,
			 .events = POLLIN},
		};

		if (s->detach) {
			/* What was typed before Ctrl-] still goes, and what
			 * ternd sent already is shown. */
			send_input(s, 1);
			while (!s->ended && poll(&fds[1], 1, 0) > 0 &&
			       fds[1].revents & POLLIN)
				read_console(s);
			s->ended = 1;
			s->end = TERNCTL_CONSOLE_DETACHED;
			return;
		}
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN) {
			s->ended = 1;
			s->end = TERNCTL_CONSOLE_SIGNAL;
			return;
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
			read_console(s);
		if (fds[2].revents & (POLLIN | POLLHUP | POLLERR))
			read_keyboard(s);
		else if (fds[2].revents & POLLNVAL)
			s->stdin_open = 0;
		send_input(s, 0);
	}
}

int ternctl_console(const struct ternctl_console_options *o,
		    enum ternctl_console_end *end, struct tern_error *err)
{
	struct session s = {.sock = -1, .signal_fd = -1, .stdin_open = 1};
	struct terminal term = {0};
	struct timeval none = {0};
	char *buf = malloc(HEAD_MAX);
	size_t extra = 0;
	sigset_t stop;
	int ret;

	s.input = malloc(INPUT_MAX);
	if (!buf || !s.input) {
		free(buf);
		free(s.input);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	signal(SIGPIPE, SIG_IGN);
	s.sock = ret = connect_ternd(o->socket, err);
	if (ret >= 0)
		ret = handshake(s.sock, o, buf, &extra, err);
	if (ret < 0) {
		if (s.sock >= 0)
			close(s.sock);
		free(buf);
		free(s.input);
		return ret;
	}
	/* Attached: from here every way out restores the terminal. */
	setsockopt(s.sock, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	s.signal_fd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "Connected to VM '%s' (Ctrl-] detaches)\r\n",
			o->name);
		terminal_enter_raw(&term, STDIN_FILENO);
	} else {
		fprintf(stderr,
			"ternctl: console: standard input is not a terminal: "
			"relaying it as is (a Ctrl-] byte in it, or its end, "
			"detaches)\n");
	}
	write_all(STDOUT_FILENO, buf, extra);
	free(buf);
	relay(&s);
	terminal_restore(&term);
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "\n");
	/* The signals stay blocked: a pending one is how this ended, and
	 * ternctl's exit status says so. */
	if (s.signal_fd >= 0)
		close(s.signal_fd);
	close(s.sock);
	free(s.input);
	*end = s.ended ? s.end : TERNCTL_CONSOLE_CLOSED;
	return 0;
}
