/* 16550A-compatible UART, the guest console on COM1. */
#ifndef TERN_DEVICES_SERIAL_8250_H
#define TERN_DEVICES_SERIAL_8250_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/irq_line.h"
#include "util/token_bucket.h"

#define SERIAL_COM1_PORT 0x3f8
#define SERIAL_COM1_GSI 4
#define SERIAL_PORT_COUNT 8

/* output_fd receives what the guest transmits (-1 discards it); the device
 * does not own it. */
struct device *serial_8250_create(const struct irq_line *irq, int output_fd);

/* At most limit bytes (0: no limit) of the guest's output reach output_fd
 * from now on; the rest is dropped, with one warning in tern's log. */
void serial_8250_set_output_limit(struct device *dev, uint64_t limit);

struct serial_backend;
/* From now on the guest's output goes to backend (backends/serial_backend.h)
 * rather than the output fd; the backend must outlive the device. */
void serial_8250_set_backend(struct device *dev,
			     struct serial_backend *backend);

/* Firecracker's serial rate_limiter (a config that limits nothing turns
 * it off): guest output beyond it is dropped, as Firecracker does, and
 * counted. */
void serial_8250_set_rate_limit(struct device *dev,
				const struct token_bucket_config *limit);
uint64_t serial_8250_rate_limited_bytes(struct device *dev);

/* Feeds host input to the guest. Returns how many bytes were taken (fewer
 * than len when the receive buffer is full: the caller retries later, so
 * pasted text is never dropped). */
size_t serial_8250_receive(struct device *dev, const void *bytes, size_t len);

/* Room left in the receive buffer. */
size_t serial_8250_rx_space(struct device *dev);

/* One log line with the registers and the interrupt line, for the SIGUSR2
 * report: a console that stops answering is either input that never
 * reached the UART or an interrupt the guest never took. */
void serial_8250_report(struct device *dev);

#endif
