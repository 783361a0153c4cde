#include "ternd/vm_consoles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ternd/console_log.h"
#include "ternd/ternd_name.h"
#include "util/byte_ring.h"
#include "util/log.h"

/* Read from tern per console and loop turn: a guest that prints without
 * pause cannot keep ternd from its other work. */
#define TERN_READ_BUDGET (256 * 1024)
/* Input from the client not yet taken by tern's socket: reading from the
 * client stops while it is full. */
#define INPUT_BUFFER 4096

struct console_client {
	int fd; /* -1: none */
	struct MHD_UpgradeResponseHandle *urh;
	struct byte_ring out; /* to the client */
	uint8_t in[INPUT_BUFFER]; /* to tern */
	size_t in_len;
	int poll_index;
};

struct vm_console {
	char name[TERND_NAME_MAX + 1];
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct console_log log;
	struct log_ratelimit log_errors;
	int tern_fd; /* -1: not connected (lost; a client's request retries) */
	int tern_index;
	struct console_client client;
};

struct vm_consoles {
	struct vm_console **items;
	size_t count;
};

struct vm_consoles *vm_consoles_new(void)
{
	return calloc(1, sizeof(struct vm_consoles));
}

static struct vm_console *find(struct vm_consoles *c, const char *name)
{
	for (size_t i = 0; i < c->count; i++)
		if (!strcmp(c->items[i]->name, name))
			return c->items[i];
	return NULL;
}

/* A last line for the client (best effort: its socket may be full). */
static void tell_client(int fd, const char *line)
{
	if (send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)0;
}

static void close_upgraded(int fd, struct MHD_UpgradeResponseHandle *urh)
{
	/* The client sees the end now, not at libmicrohttpd's next run. */
	shutdown(fd, SHUT_RDWR);
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static void flush_client(struct vm_console *con);

static void drop_client(struct vm_console *con, const char *why)
{
	struct console_client *cl = &con->client;

	if (cl->fd < 0)
		return;
	flush_client(con);
	if (cl->fd < 0)
		return; /* flush_client dropped it */
	close_upgraded(cl->fd, cl->urh);
	log_info("VM '%s': console client detached (%s)", con->name, why);
	cl->fd = -1;
	cl->urh = NULL;
	cl->in_len = 0;
	byte_ring_free(&cl->out);
}

/* A client gone wrong: no flush (that is what failed). */
static void lose_client(struct vm_console *con, const char *why)
{
	struct console_client *cl = &con->client;

	if (cl->fd < 0)
		return;
	close_upgraded(cl->fd, cl->urh);
	log_info("VM '%s': console client detached (%s)", con->name, why);
	cl->fd = -1;
	cl->urh = NULL;
	cl->in_len = 0;
	byte_ring_free(&cl->out);
}

static void flush_client(struct vm_console *con)
{
	struct console_client *cl = &con->client;

	while (cl->fd >= 0 && byte_ring_used(&cl->out)) {
		const uint8_t *data;
		size_t len = byte_ring_peek(&cl->out, &data);
		ssize_t n =
			send(cl->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			byte_ring_consume(&cl->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			lose_client(con, strerror(errno));
		return;
	}
}

/* Sends the client's input on to tern, as much as its socket takes. */
static void flush_input(struct vm_console *con)
{
	struct console_client *cl = &con->client;

	while (con->tern_fd >= 0 && cl->in_len) {
		ssize_t n = send(con->tern_fd, cl->in, cl->in_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			memmove(cl->in, cl->in + n, cl->in_len - (size_t)n);
			cl->in_len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return; /* full; a broken socket shows as EOF on read */
	}
}

static void lose_tern(struct vm_console *con, const char *why)
{
	if (con->tern_fd < 0)
		return;
	close(con->tern_fd);
	con->tern_fd = -1;
	log_info("VM '%s': console connection to its tern closed (%s)",
		 con->name, why);
	/* Most likely the VM is stopping: its client stays until ternd
	 * records the exit, and is told then (vm_consoles_vm_stopped). */
}

static void take_output(struct vm_console *con, const uint8_t *data, size_t len)
{
	int ret = console_log_append(&con->log, data, len);

	if (ret)
		log_ratelimited(&con->log_errors, LOG_WARN,
				"VM '%s': cannot write %s: %s", con->name,
				con->log.path, strerror(-ret));
	if (con->client.fd >= 0)
		byte_ring_push(&con->client.out, data, len);
}

/* Reads what tern sent, up to the budget; at EOF or an error the
 * connection is closed. */
static void read_tern(struct vm_console *con, size_t budget)
{
	uint8_t buf[16384];

	while (con->tern_fd >= 0 && budget) {
		ssize_t n = read(con->tern_fd, buf, sizeof(buf));

		if (n > 0) {
			take_output(con, buf, (size_t)n);
			budget -= (size_t)n < budget ? (size_t)n : budget;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		lose_tern(con, n == 0 ? "end of stream" : strerror(errno));
	}
	flush_client(con);
}

static void read_client(struct vm_console *con)
{
	struct console_client *cl = &con->client;
	ssize_t n;

	if (cl->fd < 0 || cl->in_len == sizeof(cl->in))
		return;
	n = read(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len);
	if (n > 0)
		cl->in_len += (size_t)n;
	else if (n == 0)
		drop_client(con, "the client closed it");
	else if (errno != EAGAIN && errno != EINTR)
		lose_client(con, strerror(errno));
}

static int connect_tern(struct vm_console *con, struct tern_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", con->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tern_error_set(err, errno, "socket: %s",
				      strerror(errno));
	/* A Unix socket connects at once or not at all (EAGAIN: tern's
	 * backlog is full; a later request tries again). */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;

		close(fd);
		return tern_error_set(err, saved,
				      "cannot connect to the VM's console "
				      "socket %s: %s",
				      con->socket_path, strerror(saved));
	}
	con->tern_fd = fd;
	return 0;
}

static void remove_console(struct vm_consoles *c, struct vm_console *con)
{
	for (size_t i = 0; i < c->count; i++) {
		if (c->items[i] != con)
			continue;
		c->items[i] = c->items[--c->count];
		break;
	}
	drop_client(con, "the console closed");
	if (con->tern_fd >= 0)
		close(con->tern_fd);
	console_log_close(&con->log);
	free(con);
}

int vm_consoles_attach(struct vm_consoles *c, const char *name,
		       const char *socket_path, const char *log_path,
		       struct tern_error *err)
{
	struct vm_console *con = find(c, name), **grown;
	int ret;

	if (con)
		remove_console(c, con); /* a stale one: start afresh */
	con = calloc(1, sizeof(*con));
	grown = realloc(c->items, (c->count + 1) * sizeof(*c->items));
	if (!con || !grown) {
		free(con);
		if (grown)
			c->items = grown;
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	c->items = grown;
	snprintf(con->name, sizeof(con->name), "%s", name);
	if (snprintf(con->socket_path, sizeof(con->socket_path), "%s",
		     socket_path) >= (int)sizeof(con->socket_path)) {
		free(con);
		return tern_error_set(err, ENAMETOOLONG,
				      "console socket path too long");
	}
	con->tern_fd = -1;
	con->client.fd = -1;
	ret = console_log_open(&con->log, log_path, CONSOLE_LOG_MAX,
			       CONSOLE_LOG_KEEP, err);
	if (!ret)
		ret = connect_tern(con, err);
	if (ret) {
		console_log_close(&con->log);
		free(con);
		return ret;
	}
	c->items[c->count++] = con;
	/* What tern kept while nobody was connected. */
	read_tern(con, TERN_READ_BUDGET);
	return 0;
}

void vm_consoles_vm_stopped(struct vm_consoles *c, const char *name)
{
	struct vm_console *con = find(c, name);

	if (!con)
		return;
	/* The guest's last words are in the socket still. */
	read_tern(con, CONSOLE_LOG_MAX);
	if (con->client.fd >= 0)
		byte_ring_push(&con->client.out, "\r\n[the VM stopped]\r\n",
			       strlen("\r\n[the VM stopped]\r\n"));
	remove_console(c, con);
}

int vm_consoles_has(struct vm_consoles *c, const char *name)
{
	return find(c, name) != NULL;
}

int vm_consoles_check(struct vm_consoles *c, const char *name, int force,
		      struct tern_error *err)
{
	struct vm_console *con = find(c, name);
	int ret;

	if (!con)
		return tern_error_set(err, EBUSY, "VM '%s' has no console",
				      name);
	if (con->tern_fd < 0) {
		ret = connect_tern(con, err);
		if (ret)
			return tern_error_set(err, EBUSY,
					      "VM '%s': the console is not "
					      "available: %s",
					      name, err->message);
		log_info("VM '%s': console connection to its tern restored",
			 name);
		/* A client left on the lost connection relays nothing. */
		if (con->client.fd >= 0) {
			tell_client(
				con->client.fd,
				"\r\n[the console connection was lost]\r\n");
			lose_client(con, "its connection to the VM was lost");
		}
	}
	if (con->client.fd >= 0 && !force)
		return tern_error_set(err, EBUSY,
				      "VM '%s': another client has its "
				      "console ('ternctl console --force' "
				      "takes it over)",
				      name);
	return 0;
}

void vm_consoles_add_client(struct vm_consoles *c, const char *name, int force,
			    size_t scrollback, const char *extra,
			    size_t extra_len, MHD_socket sock,
			    struct MHD_UpgradeResponseHandle *urh)
{
	struct vm_console *con = find(c, name);
	struct console_client *cl;
	struct tern_error err;
	uint8_t *tail;
	size_t n;

	if (vm_consoles_check(c, name, force, &err)) {
		char line[sizeof(err.message) + 16];

		snprintf(line, sizeof(line), "[%s]\r\n", err.message);
		tell_client(sock, line);
		close_upgraded(sock, urh);
		return;
	}
	if (con->client.fd >= 0) {
		tell_client(con->client.fd,
			    "\r\n[console taken over by another client]\r\n");
		lose_client(con, "taken over by another client");
	}
	cl = &con->client;
	if (scrollback > CONSOLE_SCROLLBACK_MAX)
		scrollback = CONSOLE_SCROLLBACK_MAX;
	if (byte_ring_init(&cl->out, scrollback + CONSOLE_CLIENT_BUFFER)) {
		tell_client(sock, "[ternd is out of memory]\r\n");
		close_upgraded(sock, urh);
		return;
	}
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	cl->fd = sock;
	cl->urh = urh;
	cl->in_len = extra_len < sizeof(cl->in) ? extra_len : sizeof(cl->in);
	if (cl->in_len)
		memcpy(cl->in, extra, cl->in_len);
	/* The scrollback, then at once what tern sent meanwhile: the log
	 * holds everything up to now, so nothing is shown twice or
	 * missed. */
	tail = scrollback ? malloc(scrollback) : NULL;
	n = tail ? console_log_tail(con->log.path, tail, scrollback) : 0;
	if (n)
		byte_ring_push(&cl->out, tail, n);
	free(tail);
	log_info("VM '%s': console client attached%s", name,
		 force ? " (--force)" : "");
	read_tern(con, TERN_READ_BUDGET);
	flush_input(con);
}

void vm_consoles_drop_clients(struct vm_consoles *c)
{
	for (size_t i = 0; c && i < c->count; i++)
		drop_client(c->items[i], "ternd stops");
}

void vm_consoles_free(struct vm_consoles *c)
{
	if (!c)
		return;
	while (c->count)
		remove_console(c, c->items[0]);
	free(c->items);
	free(c);
}

size_t vm_consoles_poll_count(const struct vm_consoles *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->count; i++)
		n += (c->items[i]->tern_fd >= 0) +
			(c->items[i]->client.fd >= 0);
	return n;
}

void vm_consoles_poll_fill(struct vm_consoles *c, struct pollfd *fds)
{
	size_t n = 0;

	for (size_t i = 0; i < c->count; i++) {
		struct vm_console *con = c->items[i];
		struct console_client *cl = &con->client;

		con->tern_index = cl->poll_index = -1;
		if (con->tern_fd >= 0) {
			con->tern_index = (int)n;
			fds[n++] = (struct pollfd){
				.fd = con->tern_fd,
				.events = (short)(POLLIN |
						  (cl->in_len ? POLLOUT : 0)),
			};
		}
		if (cl->fd >= 0) {
			cl->poll_index = (int)n;
			fds[n++] = (struct pollfd){
				.fd = cl->fd,
				.events = (short)((cl->in_len < sizeof(cl->in)
							   ? POLLIN
							   : 0) |
						  (byte_ring_used(&cl->out)
							   ? POLLOUT
							   : 0)),
			};
		}
	}
}

static short revents_of(const struct pollfd *fds, int index, int fd)
{
	if (index < 0 || fd < 0 || fds[index].fd != fd)
		return 0;
	return fds[index].revents;
}

void vm_consoles_serve(struct vm_consoles *c, const struct pollfd *fds)
{
	for (size_t i = 0; i < c->count; i++) {
		struct vm_console *con = c->items[i];
		struct console_client *cl = &con->client;
		short tern = revents_of(fds, con->tern_index, con->tern_fd);
		short client = revents_of(fds, cl->poll_index, cl->fd);

		if (tern & (POLLIN | POLLHUP | POLLERR))
			read_tern(con, TERN_READ_BUDGET);
		if (client & (POLLIN | POLLHUP | POLLERR))
			read_client(con);
		if (cl->fd >= 0 && cl->in_len)
			flush_input(con);
		if (client & POLLOUT)
			flush_client(con);
		/* A hung-up client whose input tern does not take: its
		 * socket keeps polling as hung up, so let it go. */
		if (cl->fd >= 0 && client & POLLHUP &&
		    cl->in_len == sizeof(cl->in))
			drop_client(con, "the client hung up");
	}
}
