/* Register model: PC16550D data sheet. Transmission is instantaneous (the
 * byte goes to the output fd on the THR write), so THRE is always set once
 * the FIFO is written and the THRE interrupt follows each write. */
#include "devices/serial_8250.h"

#include "backends/serial_backend.h"
#include "util/token_bucket.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* Register offsets (DLAB=0 unless noted). */
enum {
	REG_DATA = 0, /* RBR on read, THR on write; DLL with DLAB */
	REG_IER = 1, /* DLM with DLAB */
	REG_IIR = 2, /* FCR on write */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDI 0x01 /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08 /* modem status */

#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_ENABLED 0xc0

#define FCR_FIFO_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80

/* Far deeper than the 16-byte hardware FIFO: the guest drains it at its own
 * pace and a paste of a few lines must not be lost. */
#define RX_BUFFER_SIZE 4096

struct serial_8250 {
	struct device dev;
	pthread_mutex_t lock;
	struct irq_line irq;
	int output_fd;
	/* Set: the guest's output goes to it instead of output_fd. */
	struct serial_backend *backend;
	int irq_level;
	/* The guest decides how much it prints: a file stops growing at
	 * output_limit bytes (0: no limit), with one line in tern's log. */
	uint64_t output_limit, output_written;
	/* Firecracker's serial rate_limiter: output beyond it is dropped, as
	 * Firecracker does (a vCPU never waits for its console). */
	struct token_bucket rate_limit;
	uint64_t rate_limited_bytes;
	struct log_ratelimit rate_limit_log;

	uint8_t ier, lcr, mcr, scr, fcr;
	uint8_t dll, dlm;
	int thr_interrupt_pending;

	uint8_t rx[RX_BUFFER_SIZE];
	size_t rx_head, rx_count;
};

static struct serial_8250 *to_serial(struct device *dev)
{
	return container_of(dev, struct serial_8250, dev);
}

static uint8_t pending_interrupt_id(const struct serial_8250 *s)
{
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_interrupt_pending)
		return IIR_THRI;
	return IIR_NO_INT;
}

/* Edge-style ISA line: raised while an enabled condition is pending. Linux
 * gates COM interrupts with OUT2, as PCs wire it. */
static void update_irq(struct serial_8250 *s)
{
	int level =
		pending_interrupt_id(s) != IIR_NO_INT && (s->mcr & MCR_OUT2);

	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

static bool rate_limit_admits(struct serial_8250 *s)
{
	uint64_t wait;

	if (!token_bucket_limits(&s->rate_limit) ||
	    token_bucket_reduce(&s->rate_limit, 1, token_bucket_now_ns(),
				&wait) == TOKEN_BUCKET_TAKEN)
		return true;
	s->rate_limited_bytes++;
	log_ratelimited(&s->rate_limit_log, LOG_WARN,
			"serial: output over its rate_limiter is dropped "
			"(%llu bytes so far)",
			(unsigned long long)s->rate_limited_bytes);
	return false;
}

static void transmit(struct serial_8250 *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP) {
		/* Loopback: what is sent is received, used by drivers to
		 * test the UART. */
		if (s->rx_count < RX_BUFFER_SIZE) {
			s->rx[(s->rx_head + s->rx_count) % RX_BUFFER_SIZE] =
				byte;
			s->rx_count++;
		}
	} else if (s->backend) {
		if (rate_limit_admits(s))
			s->backend->ops->transmit(s->backend, byte);
	} else if (s->output_fd >= 0 && s->output_limit &&
		   s->output_written >= s->output_limit) {
		/* Dropped: the line below was logged once, as the limit was
		 * reached. */
	} else if (s->output_fd >= 0 && !rate_limit_admits(s)) {
		/* Dropped and counted by rate_limit_admits. */
	} else if (s->output_fd >= 0) {
		/* A failed console write (closed pipe, full disk) must not
		 * stop the guest; the byte is lost like on a cut line. */
		ssize_t ignored = write(s->output_fd, &byte, 1);
		(void)ignored;
		if (s->output_limit && ++s->output_written == s->output_limit)
			log_warn("serial: the console output reached its "
				 "limit of %llu bytes (--serial-file-limit); "
				 "the guest's further output is dropped",
				 (unsigned long long)s->output_limit);
	}
	s->thr_interrupt_pending = 1;
}

static uint8_t receive_byte(struct serial_8250 *s)
{
	uint8_t byte;

	if (!s->rx_count)
		return 0;
	byte = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_BUFFER_SIZE;
	s->rx_count--;
	return byte;
}

static uint8_t read_register(struct serial_8250 *s, uint64_t offset)
{
	uint8_t value;

	switch (offset) {
	case REG_DATA:
		return (s->lcr & LCR_DLAB) ? s->dll : receive_byte(s);
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR:
		value = pending_interrupt_id(s);
		/* Reading IIR acknowledges a THRE interrupt (16550 spec). */
		if (value == IIR_THRI)
			s->thr_interrupt_pending = 0;
		if (s->fcr & FCR_FIFO_ENABLE)
			value |= IIR_FIFO_ENABLED;
		return value;
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
	case REG_MSR:
		if (s->mcr & MCR_LOOP) /* loopback mirrors MCR outputs */
			return (uint8_t)((s->mcr & 0x0f) << 4);
		return MSR_DCD | MSR_DSR | MSR_CTS;
	case REG_SCR:
		return s->scr;
	}
	return 0xff;
}

static void write_register(struct serial_8250 *s, uint64_t offset,
			   uint8_t value)
{
	switch (offset) {
	case REG_DATA:
		if (s->lcr & LCR_DLAB)
			s->dll = value;
		else
			transmit(s, value);
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = value;
		} else {
			/* Enabling THRI with an empty THR interrupts at once;
			 * Linux's 8250 driver relies on this to start
			 * transmitting. */
			if (!(s->ier & IER_THRI) && (value & IER_THRI))
				s->thr_interrupt_pending = 1;
			s->ier = value & 0x0f;
		}
		break;
	case REG_IIR:
		s->fcr = value;
		if (value & FCR_CLEAR_RX)
			s->rx_head = s->rx_count = 0;
		break;
	case REG_LCR:
		s->lcr = value;
		break;
	case REG_MCR:
		s->mcr = value & 0x1f;
		break;
	case REG_SCR:
		s->scr = value;
		break;
	}
}

static void serial_io_read(struct device *dev, uint64_t offset, void *data,
			   uint32_t size)
{
	struct serial_8250 *s = to_serial(dev);
	uint8_t *bytes = data;

	pthread_mutex_lock(&s->lock);
	bytes[0] = read_register(s, offset);
	for (uint32_t i = 1; i < size; i++)
		bytes[i] = 0xff;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_io_write(struct device *dev, uint64_t offset,
			    const void *data, uint32_t size)
{
	struct serial_8250 *s = to_serial(dev);

	pthread_mutex_lock(&s->lock);
	write_register(s, offset, *(const uint8_t *)data);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_destroy(struct device *dev)
{
	struct serial_8250 *s = to_serial(dev);

	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* What the guest can observe of the UART; the output fd and the IRQ line
 * belong to the new VM. */
struct serial_8250_state {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	uint8_t thr_interrupt_pending;
	uint8_t irq_level;
	uint8_t pad[7];
	uint64_t rx_head, rx_count;
	uint8_t rx[RX_BUFFER_SIZE];
};

static int serial_save(struct device *dev, void *buf, size_t *len)
{
	struct serial_8250 *s = to_serial(dev);
	struct serial_8250_state *st = calloc(1, sizeof(*st));
	int ret;

	if (!st)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	st->ier = s->ier;
	st->lcr = s->lcr;
	st->mcr = s->mcr;
	st->scr = s->scr;
	st->fcr = s->fcr;
	st->dll = s->dll;
	st->dlm = s->dlm;
	st->thr_interrupt_pending = (uint8_t)s->thr_interrupt_pending;
	st->irq_level = (uint8_t)s->irq_level;
	st->rx_head = s->rx_head;
	st->rx_count = s->rx_count;
	memcpy(st->rx, s->rx, sizeof(st->rx));
	pthread_mutex_unlock(&s->lock);
	ret = device_save_plain(st, sizeof(*st), buf, len);
	free(st);
	return ret;
}

static int serial_check(struct device *dev, const void *buf, size_t len)
{
	const struct serial_8250_state *st = buf;

	if (len != sizeof(*st) || st->rx_head >= RX_BUFFER_SIZE ||
	    st->rx_count > RX_BUFFER_SIZE || st->irq_level > 1)
		return -EINVAL;
	return 0;
}

static int serial_restore(struct device *dev, const void *buf, size_t len)
{
	struct serial_8250 *s = to_serial(dev);
	const struct serial_8250_state *st = buf;

	if (serial_check(dev, buf, len))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->scr = st->scr;
	s->fcr = st->fcr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->thr_interrupt_pending = st->thr_interrupt_pending != 0;
	/* The line's level is part of the restored irqchip state. */
	s->irq_level = st->irq_level;
	s->rx_head = (size_t)st->rx_head;
	s->rx_count = (size_t)st->rx_count;
	memcpy(s->rx, st->rx, sizeof(s->rx));
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static const struct device_ops serial_8250_ops = {
	.name = "serial-8250",
	.io_read = serial_io_read,
	.io_write = serial_io_write,
	.destroy = serial_destroy,
	.save = serial_save,
	.restore = serial_restore,
	.check = serial_check,
};

void serial_8250_set_output_limit(struct device *dev, uint64_t limit)
{
	struct serial_8250 *s = to_serial(dev);

	pthread_mutex_lock(&s->lock);
	s->output_limit = limit;
	pthread_mutex_unlock(&s->lock);
}

void serial_8250_set_backend(struct device *dev, struct serial_backend *backend)
{
	struct serial_8250 *s = to_serial(dev);

	pthread_mutex_lock(&s->lock);
	s->backend = backend;
	pthread_mutex_unlock(&s->lock);
}

void serial_8250_set_rate_limit(struct device *dev,
				const struct token_bucket_config *limit)
{
	struct serial_8250 *s = to_serial(dev);

	pthread_mutex_lock(&s->lock);
	token_bucket_init(&s->rate_limit, limit, token_bucket_now_ns());
	pthread_mutex_unlock(&s->lock);
}

uint64_t serial_8250_rate_limited_bytes(struct device *dev)
{
	struct serial_8250 *s = to_serial(dev);
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->rate_limited_bytes;
	pthread_mutex_unlock(&s->lock);
	return n;
}

struct device *serial_8250_create(const struct irq_line *irq, int output_fd)
{
	struct serial_8250 *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->dev.ops = &serial_8250_ops;
	pthread_mutex_init(&s->lock, NULL);
	s->irq = *irq;
	s->output_fd = output_fd;
	/* Power-on state: 9600 baud divisor, OUT2 clear, no interrupts. */
	s->dll = 12;
	return &s->dev;
}

size_t serial_8250_rx_space(struct device *dev)
{
	struct serial_8250 *s = to_serial(dev);
	size_t space;

	pthread_mutex_lock(&s->lock);
	space = RX_BUFFER_SIZE - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return space;
}

void serial_8250_report(struct device *dev)
{
	struct serial_8250 *s = to_serial(dev);

	pthread_mutex_lock(&s->lock);
	log_info("serial: ier=%#x iir=%#x lcr=%#x mcr=%#x fcr=%#x, %zu bytes "
		 "received and unread, THRE interrupt %s, line %s",
		 s->ier, pending_interrupt_id(s), s->lcr, s->mcr, s->fcr,
		 s->rx_count, s->thr_interrupt_pending ? "pending" : "clear",
		 s->irq_level ? "raised" : "low");
	pthread_mutex_unlock(&s->lock);
}

size_t serial_8250_receive(struct device *dev, const void *bytes, size_t len)
{
	struct serial_8250 *s = to_serial(dev);
	const uint8_t *in = bytes;
	size_t taken = 0;

	pthread_mutex_lock(&s->lock);
	while (taken < len && s->rx_count < RX_BUFFER_SIZE) {
		s->rx[(s->rx_head + s->rx_count) % RX_BUFFER_SIZE] =
			in[taken++];
		s->rx_count++;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return taken;
}
