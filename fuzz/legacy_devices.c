/* Fuzz target: the platform devices (src/devices/) on one port I/O bus and
 * one MMIO bus as the VM has them: the 16550A UART at COM1, the i8042, the
 * CMOS RTC, fw_cfg (with files, as --firmware has it), the ACPI PM1 block
 * with its fixed power button, the GED power button, pc-testdev's three
 * windows, the ACPI sleep/reset ports, both reset ports, isa-debug-exit,
 * the firmware debug console and the boot marker; in any access sequence,
 * width and value, with host input on the serial line, Ctrl-Alt-Del and
 * power button presses from the API, the host's clock moving under the
 * RTC, and each device's check and restore fed untrusted or mutated saved
 * bytes (then used).
 *
 * Each input byte op picks a device (op >> 4, modulo the table) and an
 * action (op & 15): 0-5 write 1 or 2 bytes, 6-10 read 1, 2 or 4 bytes (8
 * on MMIO), 11 and 12 the device's host-side events, 13 restore, 14-15 a
 * 4-byte write (8 on MMIO). Offsets run one past a small range's end (the
 * bus must refuse what straddles it).
 *
 * Checked after every step: an interrupt line is only ever set to 0 or 1;
 * the PM1 SCI is up exactly while an enabled status bit is set, and only
 * the power button's status bit ever is; a PM1 press is refused exactly
 * when the guest has not enabled the button; a GED press is one edge,
 * counted, with the line low again after it; pc-testdev's register reads
 * back what was written and a line written high is up. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi/acpi_tables.h"
#include "arch/x86/layout.h"
#include "devices/acpi_ged.h"
#include "devices/acpi_pm1.h"
#include "devices/acpi_power.h"
#include "devices/boot_marker.h"
#include "devices/cmos_rtc.h"
#include "devices/debug_console.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/irq_line.h"
#include "devices/pc_testdev.h"
#include "devices/reset_port.h"
#include "devices/serial_8250.h"
#include "fuzz_input.h"
#include "util/log.h"

/* The last level each device set on each of its lines, and the rising
 * edges. */
struct lines {
	int level[32];
	unsigned rises[32];
};

enum {
	DEV_SERIAL,
	DEV_I8042,
	DEV_CMOS,
	DEV_FW_CFG,
	DEV_PM1,
	DEV_GED, /* no ports: accesses go where nothing is mapped */
	DEV_TESTDEV_PORTS,
	DEV_TESTDEV_IRQ,
	DEV_TESTDEV_IOMEM,
	DEV_ACPI_POWER,
	DEV_RESET_PORT,
	DEV_RESET_CONTROL,
	DEV_DEBUG_EXIT,
	DEV_DEBUG_CONSOLE,
	DEV_BOOT_MARKER,
	DEV_COUNT
};

static const struct {
	int mmio;
	uint64_t base, span;
} places[DEV_COUNT] = {
	[DEV_SERIAL] = {0, SERIAL_COM1_PORT, SERIAL_PORT_COUNT},
	[DEV_I8042] = {0, I8042_DATA_PORT, I8042_PORT_SPAN},
	[DEV_CMOS] = {0, CMOS_RTC_PORT, CMOS_RTC_PORT_COUNT},
	[DEV_FW_CFG] = {0, FW_CFG_PORT, FW_CFG_PORT_COUNT},
	[DEV_PM1] = {0, ACPI_PM1_EVT_PORT, ACPI_PM1_PORT_COUNT},
	[DEV_GED] = {0, 0x500, 4},
	[DEV_TESTDEV_PORTS] = {0, PC_TESTDEV_PORT, PC_TESTDEV_PORT_COUNT},
	[DEV_TESTDEV_IRQ] = {0, PC_TESTDEV_IRQ_PORT, PC_TESTDEV_IRQ_LINES},
	[DEV_TESTDEV_IOMEM] = {1, PC_TESTDEV_IOMEM_GPA, PC_TESTDEV_IOMEM_SIZE},
	[DEV_ACPI_POWER] = {0, ACPI_SLEEP_CONTROL_PORT, ACPI_POWER_PORT_COUNT},
	[DEV_RESET_PORT] = {0, TERN_RESET_PORT, 1},
	[DEV_RESET_CONTROL] = {0, RESET_CONTROL_PORT, 1},
	[DEV_DEBUG_EXIT] = {0, DEBUG_EXIT_DEFAULT_PORT, DEBUG_EXIT_PORT_COUNT},
	[DEV_DEBUG_CONSOLE] = {0, DEBUG_CONSOLE_PORT, 1},
	[DEV_BOOT_MARKER] = {0, TERN_BOOT_MARKER_PORT, 1},
};

struct devices {
	struct io_bus pio, mmio;
	struct device *dev[DEV_COUNT];
	struct lines com1, kbd, rtc, sci, ged, testdev;
	unsigned events; /* resets, poweroffs, debug exits: counted only */
	int asleep; /* ACPI S3 as vm/vm_sleep.c tracks it, without vCPUs */
	uint32_t testdev_data; /* what the guest last wrote to 0xe0-0xe3 */
};

/* The host's CLOCK_REALTIME as the RTC sees it, moved by the input. */
static struct timespec host_now;
static int null_fd = -1; /* kept open for the whole run */

static void set_level(void *opaque, unsigned gsi, int level)
{
	struct lines *lines = opaque;

	if ((level != 0 && level != 1) || gsi >= 32)
		abort();
	lines->rises[gsi] += level && !lines->level[gsi];
	lines->level[gsi] = level;
}

static void count_event(void *opaque)
{
	((struct devices *)opaque)->events++;
}

static void enter_sleep(void *opaque)
{
	((struct devices *)opaque)->asleep = 1;
}

static int wake_from_sleep(void *opaque, const char *why)
{
	struct devices *d = opaque;
	int was_asleep = d->asleep;

	d->asleep = 0;
	return was_asleep;
}

static void count_exit(void *opaque, uint32_t value)
{
	((struct devices *)opaque)->events++;
}

static void fuzz_now(struct timespec *ts)
{
	*ts = host_now;
}

static struct device *make_fw_cfg(void)
{
	static const uint8_t e820[40] = {[8] = 0x00, [9] = 0xfc, [16] = 1};
	static uint8_t tables[3000];
	struct device *dev = fw_cfg_create(&(struct fw_cfg_machine){
		.ram_size = 256 << 20, .cpu_count = 2});
	uint16_t nographic = 1;

	if (!dev || fw_cfg_add_file(dev, "etc/e820", e820, sizeof(e820)) ||
	    fw_cfg_add_file(dev, "etc/acpi/tables", tables, sizeof(tables)) ||
	    fw_cfg_add_file(dev, "etc/table-loader", tables, 0) ||
	    fw_cfg_add_item(dev, FW_CFG_NOGRAPHIC, &nographic,
			    sizeof(nographic)))
		abort();
	return dev;
}

static void make_devices(struct devices *d)
{
	struct pc_testdev *testdev;

	host_now = (struct timespec){1700000000, 0};
	/* Output to /dev/null, with --serial-file-limit's cut-off reachable
	 * (the rate limiter is left out: it reads the real clock, and a run
	 * must replay). */
	if (null_fd < 0 && (null_fd = open("/dev/null", O_WRONLY)) < 0)
		abort();
	d->dev[DEV_SERIAL] = serial_8250_create(
		&(struct irq_line){set_level, &d->com1, SERIAL_COM1_GSI},
		null_fd);
	if (d->dev[DEV_SERIAL])
		serial_8250_set_output_limit(d->dev[DEV_SERIAL], 64);
	d->dev[DEV_I8042] = i8042_create(
		count_event, d,
		&(struct irq_line){set_level, &d->kbd, I8042_KEYBOARD_GSI});
	d->dev[DEV_CMOS] = cmos_rtc_create(
		fuzz_now, &(struct irq_line){set_level, &d->rtc, CMOS_RTC_GSI});
	d->dev[DEV_FW_CFG] = make_fw_cfg();
	d->dev[DEV_PM1] = acpi_pm1_create(
		&(struct acpi_power_events){count_event, count_event, d,
					    enter_sleep, wake_from_sleep},
		&(struct irq_line){set_level, &d->sci, ACPI_PM1_SCI_GSI});
	d->dev[DEV_GED] = acpi_ged_create(
		&(struct irq_line){set_level, &d->ged, ACPI_GED_GSI});
	testdev = pc_testdev_create(
		&(struct irq_line){set_level, &d->testdev, 0});
	if (!testdev)
		abort();
	d->dev[DEV_TESTDEV_PORTS] =
		pc_testdev_window(testdev, PC_TESTDEV_WINDOW_PORTS);
	d->dev[DEV_TESTDEV_IRQ] =
		pc_testdev_window(testdev, PC_TESTDEV_WINDOW_IRQ);
	d->dev[DEV_TESTDEV_IOMEM] =
		pc_testdev_window(testdev, PC_TESTDEV_WINDOW_IOMEM);
	d->dev[DEV_ACPI_POWER] = acpi_power_create(&(struct acpi_power_events){
		count_event, count_event, d, enter_sleep, wake_from_sleep});
	d->dev[DEV_RESET_PORT] = reset_port_create(
		"reset-vector-port", 0xff, TERN_RESET_PORT_VALUE,
		&(struct reset_port_events){count_event, d});
	d->dev[DEV_RESET_CONTROL] =
		reset_port_create("reset-control", RESET_CONTROL_RESET_CPU,
				  RESET_CONTROL_RESET_CPU,
				  &(struct reset_port_events){count_event, d});
	d->dev[DEV_DEBUG_EXIT] =
		debug_exit_create(&(struct debug_exit_events){count_exit, d});
	d->dev[DEV_DEBUG_CONSOLE] = debug_console_create();
	d->dev[DEV_BOOT_MARKER] = boot_marker_create();
	for (int i = 0; i < DEV_COUNT; i++) {
		if (!d->dev[i])
			abort();
		if (i != DEV_GED &&
		    io_bus_register(places[i].mmio ? &d->mmio : &d->pio,
				    places[i].base, places[i].span, d->dev[i]))
			abort();
	}
}

static void restore_op(struct devices *d, unsigned which, struct fuzz_input *in)
{
	/* pc-testdev's scratch memory saves 64 KiB. */
	static uint8_t buf[PC_TESTDEV_IOMEM_SIZE + 512];
	struct device *dev = d->dev[which];
	size_t len = fuzz_u16(in) % 512;

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
	    dev->ops->restore(dev, buf, len) == 0) {
		if (dev->ops->restored)
			dev->ops->restored(dev);
		if (which == DEV_TESTDEV_PORTS)
			memcpy(&d->testdev_data, buf, sizeof(d->testdev_data));
	}
}

static void press_pm1(struct devices *d)
{
	uint16_t enable = 0;
	int ret, asleep = d->asleep;

	io_bus_read(&d->pio, ACPI_PM1_EVT_PORT + 2, &enable, 2);
	ret = acpi_pm1_press_power_button(d->dev[DEV_PM1]);
	/* Asleep, the button wakes the machine whatever the enables say. */
	if ((ret == -ENODEV) != (!asleep && !(enable & ACPI_PM1_PWRBTN)) ||
	    (ret != 0 && ret != -ENODEV))
		abort();
}

static void press_ged(struct devices *d)
{
	unsigned rises = d->ged.rises[ACPI_GED_GSI];

	acpi_ged_press_power_button(d->dev[DEV_GED]);
	if (d->ged.rises[ACPI_GED_GSI] != rises + 1 ||
	    d->ged.level[ACPI_GED_GSI] ||
	    acpi_ged_power_button_presses(d->dev[DEV_GED]) !=
		    d->ged.rises[ACPI_GED_GSI])
		abort();
}

/* The host clock steps by up to 71 minutes, now and then backwards (an
 * administrator setting the clock). */
static void clock_moves(struct fuzz_input *in, uint8_t op)
{
	uint32_t us = fuzz_u32(in);
	int64_t ns = (int64_t)(us % 1000000) * 1000;
	int64_t s = us / 1000000;

	if (op & 0x80 && us & 1) {
		s = -s;
		ns = -ns;
	}
	host_now.tv_sec += s;
	host_now.tv_nsec += ns;
	if (host_now.tv_nsec < 0) {
		host_now.tv_nsec += 1000000000;
		host_now.tv_sec--;
	} else if (host_now.tv_nsec >= 1000000000) {
		host_now.tv_nsec -= 1000000000;
		host_now.tv_sec++;
	}
}

/* What the host does to a device, beside the guest's accesses. */
static void host_event(struct devices *d, unsigned which, uint8_t op,
		       struct fuzz_input *in)
{
	switch (which) {
	case DEV_SERIAL:
		if ((op & 15) == 11) {
			uint8_t bytes[64];
			size_t n = fuzz_bytes(in, bytes, fuzz_u8(in) % 64);

			serial_8250_receive(d->dev[DEV_SERIAL], bytes, n);
			serial_8250_rx_space(d->dev[DEV_SERIAL]);
			break;
		}
		/* fall through: op 12, Ctrl-Alt-Del */
	case DEV_I8042:
		i8042_send_ctrl_alt_del(d->dev[DEV_I8042]);
		break;
	case DEV_CMOS:
		if ((op & 15) == 11)
			clock_moves(in, op);
		else
			cmos_rtc_reset(d->dev[DEV_CMOS]);
		break;
	case DEV_PM1:
		press_pm1(d);
		break;
	case DEV_GED:
		press_ged(d);
		break;
	default:
		break;
	}
}

static uint64_t offset_in(unsigned which, struct fuzz_input *in, int past_end)
{
	uint64_t span = places[which].span + (past_end ? 1 : 0);

	return span <= 256 ? fuzz_u8(in) % span : fuzz_u16(in) % span;
}

/* What pc-testdev's register must hold after a write the bus let through
 * (none that straddles the window's end). */
static void track_testdev_write(struct devices *d, uint64_t addr,
				uint64_t value, uint32_t size)
{
	uint64_t offset = addr - PC_TESTDEV_PORT;

	if (offset + size > PC_TESTDEV_PORT_COUNT)
		return;
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = offset + i;
		uint32_t byte = (uint8_t)(value >> (8 * i));

		if (at < 4)
			d->testdev_data =
				(d->testdev_data & ~(0xffu << (8 * at))) |
				byte << (8 * at);
	}
}

static void guest_access(struct devices *d, unsigned which, uint8_t op,
			 struct fuzz_input *in)
{
	static const uint32_t read_sizes[5] = {1, 2, 4, 1, 2};
	const struct io_bus *bus = places[which].mmio ? &d->mmio : &d->pio;
	unsigned code = op & 15;
	uint64_t value = 0, addr;
	uint32_t size;

	if (code <= 5) {
		size = 1u << (op & 1);
		value = fuzz_u32(in);
		addr = places[which].base + offset_in(which, in, 1);
		io_bus_write(bus, addr, &value, size);
	} else if (code <= 10) {
		size = read_sizes[code - 6];
		if (code == 10 && places[which].mmio)
			size = 8;
		addr = places[which].base + offset_in(which, in, 1);
		io_bus_read(bus, addr, &value, size);
		/* pc-testdev's register holds what was written to it. */
		if (which == DEV_TESTDEV_PORTS && addr == PC_TESTDEV_PORT &&
		    size == 4 && value != d->testdev_data)
			abort();
		return;
	} else {
		/* a 4-byte access, which the ISA devices take too */
		size = code == 15 && places[which].mmio ? 8 : 4;
		value = fuzz_u32(in);
		if (size == 8)
			value |= (uint64_t)fuzz_u32(in) << 32;
		addr = places[which].base + offset_in(which, in, 0);
		io_bus_write(bus, addr, &value, size);
	}
	if (which == DEV_TESTDEV_PORTS)
		track_testdev_write(d, addr, value, size);
}

/* The invariants of the devices with interrupt lines of their own. */
static void check(struct devices *d)
{
	uint16_t status = 0, enable = 0, control = 0;
	uint32_t levels = 0;
	size_t len = sizeof(levels);

	io_bus_read(&d->pio, ACPI_PM1_EVT_PORT, &status, 2);
	io_bus_read(&d->pio, ACPI_PM1_EVT_PORT + 2, &enable, 2);
	io_bus_read(&d->pio, ACPI_PM1_CNT_PORT, &control, 2);
	/* WAK_STS has no enable bit: it never raises the SCI. */
	if (d->sci.level[ACPI_PM1_SCI_GSI] !=
		    ((status & enable & (ACPI_PM1_PWRBTN | ACPI_PM1_RTC)) !=
		     0) ||
	    (status & ~(ACPI_PM1_PWRBTN | ACPI_PM1_RTC | ACPI_PM1_WAK)) ||
	    !(control & ACPI_PM1_SCI_EN) || (control & ACPI_PM1_SLP_EN))
		abort();
	if (d->ged.level[ACPI_GED_GSI])
		abort();
	if (d->dev[DEV_TESTDEV_IRQ]->ops->save(d->dev[DEV_TESTDEV_IRQ], &levels,
					       &len))
		abort();
	/* A restore may lower a level without lowering the line (the
	 * interrupt controllers are restored after the devices); a line
	 * whose level is high must be high. */
	for (unsigned line = 0; line < PC_TESTDEV_IRQ_LINES; line++)
		if ((levels & (1u << line)) && !d->testdev.level[line])
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_of(data, size);
	struct devices d;

	memset(&d, 0, sizeof(d));
	log_set_level(LOG_OFF);
	make_devices(&d);
	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		unsigned which = (op >> 4) % DEV_COUNT;

		switch (op & 15) {
		case 11:
		case 12:
			host_event(&d, which, op, &in);
			break;
		case 13:
			restore_op(&d, which, &in);
			break;
		default:
			guest_access(&d, which, op, &in);
			break;
		}
		check(&d);
	}
	io_bus_destroy_devices(&d.pio);
	io_bus_destroy_devices(&d.mmio);
	d.dev[DEV_GED]->ops->destroy(d.dev[DEV_GED]);
	return 0;
}
