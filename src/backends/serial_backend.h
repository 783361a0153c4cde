/* Where the guest's serial console (COM1, devices/serial_8250.c) goes when
 * it is more than a file descriptor: the UART hands each byte the guest
 * transmits to the backend, and tern's run loop (vm_run) polls the
 * backend's descriptors and lets it feed input to the UART. --serial
 * stdio and file: write to a plain descriptor and need none of this;
 * --serial unix:PATH is serial_socket.c. */
#ifndef TERN_BACKENDS_SERIAL_BACKEND_H
#define TERN_BACKENDS_SERIAL_BACKEND_H

#include <poll.h>
#include <stdint.h>

#include "util/error.h"

struct device;
struct serial_backend;

/* The most descriptors a backend asks the run loop to poll. */
#define SERIAL_BACKEND_MAX_FDS 4

struct serial_backend_ops {
	const char *name;
	/* A vCPU thread, under the UART's lock: one byte from the guest.
	 * Must never block, whoever reads (or does not read) the other
	 * end. */
	void (*transmit)(struct serial_backend *b, uint8_t byte);
	/* The run loop, before each poll: fills at most
	 * SERIAL_BACKEND_MAX_FDS entries and returns how many; lowers
	 * *timeout_ms (milliseconds, -1 for none) when it must look again
	 * without an event (input waiting for room in the UART). */
	int (*poll_fill)(struct serial_backend *b, struct pollfd *fds,
			 int *timeout_ms);
	/* The run loop, after the poll, with the entries poll_fill gave:
	 * accepts, reads, writes, and feeds input to uart. */
	void (*serve)(struct serial_backend *b, const struct pollfd *fds,
		      int count, struct device *uart);
	/* After the UART is gone; writes what it still can, without
	 * waiting. */
	void (*destroy)(struct serial_backend *b);
};

struct serial_backend {
	const struct serial_backend_ops *ops;
};

/* --serial unix:PATH (serial_socket.c): tern listens on PATH (0600, a
 * stale socket replaced, a live one refused); one client at a time gets
 * the guest's output and its bytes go to the guest; a new client takes
 * over from the old. Output with no client, or more than a slow client
 * takes, waits in a bounded buffer (SERIAL_SOCKET_BUFFER; the oldest is
 * dropped beyond it), so the vCPU never waits. 0 with *out set, or a
 * negative errno with err set. */
#define SERIAL_SOCKET_BUFFER (64 * 1024)
int serial_socket_open(const char *path, struct serial_backend **out,
		       struct tern_error *err);

#endif
