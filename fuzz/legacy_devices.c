/* Fuzz target: the port-I/O devices (src/devices/): the 16550A UART at
 * COM1, the i8042 controller and the CMOS RTC, on one I/O bus as the VM
 * has them, in any access sequence, width and value, with host input on
 * the serial line, Ctrl-Alt-Del from the API, and each device's check
 * and restore fed untrusted bytes (then used). An interrupt line that is raised
 * must be a 0/1 level; the i8042's reset line only counts. */
#include <stdlib.h>
#include <string.h>

#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/irq_line.h"
#include "devices/serial_8250.h"
#include "fuzz_input.h"
#include "util/log.h"

static unsigned resets;

static void set_level(void *opaque, unsigned gsi, int level)
{
	if (level != 0 && level != 1)
		abort();
}

static void count_reset(void *opaque)
{
	resets++;
}

static void fixed_now(struct timespec *ts)
{
	ts->tv_sec = 1700000000;
	ts->tv_nsec = 0;
}

struct devices {
	struct io_bus bus;
	struct device *dev[3];
};

static const uint16_t bases[3] = {SERIAL_COM1_PORT, I8042_DATA_PORT,
				  CMOS_RTC_PORT};
static const uint16_t spans[3] = {SERIAL_PORT_COUNT, I8042_PORT_SPAN,
				  CMOS_RTC_PORT_COUNT};

static void restore_op(struct devices *d, unsigned which, struct fuzz_input *in)
{
	struct device *dev = d->dev[which];
	uint8_t buf[512];
	size_t len = fuzz_u16(in) % sizeof(buf);

	if (!dev->ops->save || !dev->ops->restore)
		return;

	if (fuzz_u8(in) & 1) {
		/* Its own state, with a few bytes changed. */
		size_t saved = sizeof(buf);

		if (dev->ops->save(dev, buf, &saved))
			return;
		for (int i = fuzz_u8(in) % 4; i > 0 && saved; i--)
			buf[fuzz_u16(in) % saved] = fuzz_u8(in);
		len = saved;
	} else {
		fuzz_bytes(in, buf, len);
	}
	/* As a snapshot load: restore only what the device's check took. */
	if ((!dev->ops->check || dev->ops->check(dev, buf, len) == 0) &&
	    dev->ops->restore(dev, buf, len) == 0 && dev->ops->restored)
		dev->ops->restored(dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	static const struct irq_line com1 = {set_level, NULL, SERIAL_COM1_GSI};
	static const struct irq_line kbd = {set_level, NULL,
					    I8042_KEYBOARD_GSI};
	struct devices d = {0};

	log_set_level(LOG_OFF);
	d.dev[0] = serial_8250_create(&com1, -1);
	d.dev[1] = i8042_create(count_reset, NULL, &kbd);
	d.dev[2] = cmos_rtc_create(fixed_now, NULL);
	for (int i = 0; i < 3; i++)
		if (!d.dev[i] ||
		    io_bus_register(&d.bus, bases[i], spans[i], d.dev[i]))
			abort();

	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned which = (op >> 4) % 3;
		uint64_t value = 0;

		switch (op & 15) {
		case 0:
		case 1:
		case 2:
		case 3:
		case 4:
		case 5:
			value = fuzz_u32(&in);
			io_bus_write(&d.bus,
				     bases[which] +
					     fuzz_u8(&in) % (spans[which] + 1),
				     &value, 1u << (op & 1));
			break;
		case 6:
		case 7:
		case 8:
		case 9:
		case 10:
			io_bus_read(&d.bus,
				    bases[which] +
					    fuzz_u8(&in) % (spans[which] + 1),
				    &value, 1u << (op & 1));
			break;
		case 11: {
			uint8_t bytes[64];
			size_t n = fuzz_bytes(&in, bytes, fuzz_u8(&in) % 64);

			serial_8250_receive(d.dev[0], bytes, n);
			serial_8250_rx_space(d.dev[0]);
			break;
		}
		case 12:
			i8042_send_ctrl_alt_del(d.dev[1]);
			break;
		case 13:
			restore_op(&d, which, &in);
			break;
		default: /* a 4-byte access, which the ISA devices take too */
			value = fuzz_u32(&in);
			io_bus_write(&d.bus,
				     bases[which] + fuzz_u8(&in) % spans[which],
				     &value, 4);
			break;
		}
	}
	io_bus_destroy_devices(&d.bus);
	return 0;
}
