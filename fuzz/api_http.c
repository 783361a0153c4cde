/* Fuzz target: the API as a client meets it: the input is written as raw
 * bytes to the API socket of a running api_server (libmicrohttpd's request
 * line, header and body parsing, tern's body gathering, size limit,
 * method and route dispatch, replies), then the client half-closes and
 * reads until the server ends the exchange. The server and its instance
 * (fuzz/lib/fuzz_instance.c: nothing boots) live for the whole run, so
 * what one request configures, the next sees.
 *
 * Bodies name files (logger, metrics, snapshot paths): requests run in a
 * directory of their own, emptied after every input, and inputs with '/'
 * or '\\' after the end of the first header block are skipped, so no input
 * reaches a file outside it. A request left incomplete keeps its
 * connection until the server's idle limit (API_CONNECTION_TIMEOUT_S), by
 * design: the client gives up after EXCHANGE_LIMIT_MS. Then a probe on a
 * new connection must be answered (or refused, when such connections fill
 * API_MAX_CONNECTIONS) within PROBE_LIMIT_MS: a server that accepts and
 * never answers is reported as a hang. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api_server.h"
#include "fuzz_instance.h"

#define MAX_BODY 1024 /* small, so that the 413 path is reached */
#define EXCHANGE_LIMIT_MS 30
#define PROBE_LIMIT_MS 3000

static char files_dir[64], socket_dir[64], socket_path[128];
static struct fuzz_instance fi;
static struct api_server *server;

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	return ftw->level ? remove(path) : 0;
}

static void empty_files_dir(void)
{
	nftw(files_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void teardown(void)
{
	api_server_stop(server);
	fuzz_instance_stop(&fi);
	empty_files_dir();
	rmdir(files_dir);
	rmdir(socket_dir);
}

static void setup_once(void)
{
	struct tern_error err = {{0}};

	if (server)
		return;
	snprintf(files_dir, sizeof(files_dir), "/tmp/tern-fuzz-http-XXXXXX");
	snprintf(socket_dir, sizeof(socket_dir), "/tmp/tern-fuzz-sock-XXXXXX");
	if (!mkdtemp(files_dir) || !mkdtemp(socket_dir) || chdir(files_dir))
		abort();
	snprintf(socket_path, sizeof(socket_path), "%s/api.sock", socket_dir);
	fuzz_instance_start(&fi);
	server = api_server_start(socket_path, fi.inst, MAX_BODY, &err);
	if (!server) {
		fprintf(stderr, "api_http: %s\n", err.message);
		abort();
	}
	atexit(teardown);
}

/* Where the body starts: after the first empty line (CRLF or bare LF). */
static size_t header_end(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i + 1 < size; i++) {
		if (data[i] != '\n')
			continue;
		if (data[i + 1] == '\n')
			return i + 2;
		if (i + 2 < size && data[i + 1] == '\r' && data[i + 2] == '\n')
			return i + 3;
	}
	return size;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Sends data, half-closes, reads until the server closes or limit_ms
 * pass. Returns the bytes of reply read, -1 if the server neither answered
 * nor closed in time. */
static long exchange(const uint8_t *data, size_t size, int limit_ms)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	long long deadline;
	size_t sent = 0;
	long got = 0;
	char reply[4096];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(addr.sun_path, socket_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		abort();
	while (sent < size) {
		ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);

		if (n <= 0)
			break; /* the server closed early: a refused request */
		sent += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	deadline = now_ms() + limit_ms;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			got = got ? got : -1;
			break;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fd, reply, sizeof(reply));
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char probe[] = "GET / HTTP/1.1\r\nHost: probe\r\n\r\n";
	size_t body = header_end(data, size);

	if (memchr(data + body, '/', size - body) ||
	    memchr(data + body, '\\', size - body))
		return -1; /* not added to the corpus */
	setup_once();
	exchange(data, size, EXCHANGE_LIMIT_MS);
	empty_files_dir();
	if (exchange((const uint8_t *)probe, sizeof(probe) - 1,
		     PROBE_LIMIT_MS) < 0) {
		fprintf(stderr,
			"api_http: the server accepted a GET / and "
			"neither answered nor closed within %d ms\n",
			PROBE_LIMIT_MS);
		abort();
	}
	return 0;
}
