/* The platform devices driven through the bus, as a guest would, with a fake
 * interrupt line and clock: no KVM needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "devices/acpi_ged.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/serial_8250.h"

struct irq_recorder {
	int level;
	int rising_edges;
};

static void record_irq(void *opaque, unsigned gsi, int level)
{
	struct irq_recorder *rec = opaque;

	if (level && !rec->level)
		rec->rising_edges++;
	rec->level = level;
}

static uint8_t inb(struct io_bus *bus, uint16_t port)
{
	uint8_t value;

	io_bus_read(bus, port, &value, 1);
	return value;
}

static void outb(struct io_bus *bus, uint16_t port, uint8_t value)
{
	io_bus_write(bus, port, &value, 1);
}

static void bus_refuses_overlaps_and_reads_ones_when_unmapped(void **state)
{
	struct io_bus bus = {0};
	struct irq_line none = {0};
	struct device *uart = serial_8250_create(&none, -1);
	uint32_t wide = 0;

	assert_int_equal(io_bus_register(&bus, 0x3f8, 8, uart), 0);
	assert_int_equal(io_bus_register(&bus, 0x3fc, 8, uart), -EEXIST);
	assert_int_equal(io_bus_register(&bus, 0, 0, uart), -EINVAL);
	assert_int_equal(io_bus_register(&bus, UINT64_MAX, 2, uart), -EINVAL);
	assert_int_equal(inb(&bus, 0x2f8), 0xff);
	/* An access running past the device's range is not the device's. */
	assert_int_equal(io_bus_read(&bus, 0x3fe, &wide, 4), 0);
	assert_int_equal(wide, 0xffffffff);
	io_bus_destroy_devices(&bus);
}

static void serial_transmits_and_interrupts_on_thre(void **state)
{
	struct irq_recorder rec = {0};
	struct irq_line line = {record_irq, &rec, SERIAL_COM1_GSI};
	struct io_bus bus = {0};
	int pipe_fds[2];
	char out[8] = {0};
	struct device *uart;

	assert_int_equal(pipe(pipe_fds), 0);
	uart = serial_8250_create(&line, pipe_fds[1]);
	io_bus_register(&bus, SERIAL_COM1_PORT, SERIAL_PORT_COUNT, uart);

	outb(&bus, 0x3f8, 'o');
	outb(&bus, 0x3f8, 'k');
	assert_int_equal(read(pipe_fds[0], out, sizeof(out)), 2);
	assert_string_equal(out, "ok");
	assert_int_equal(rec.rising_edges, 0); /* no interrupt enabled */

	outb(&bus, 0x3fc, 0x08); /* OUT2: interrupts reach the PIC */
	outb(&bus, 0x3f9, 0x02); /* enable THRI */
	assert_int_equal(rec.level, 1); /* THR is empty: immediate IRQ */
	assert_int_equal(inb(&bus, 0x3fa) & 0x0f, 0x02); /* IIR: THRI */
	assert_int_equal(rec.level, 0); /* reading IIR acknowledged it */
	outb(&bus, 0x3f8, '!');
	assert_int_equal(rec.level, 1);
	assert_int_equal(rec.rising_edges, 2);
	assert_true(inb(&bus, 0x3fd) & 0x60); /* LSR: THRE | TEMT */

	io_bus_destroy_devices(&bus);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

/* A guest prints as much as it likes: past the file's limit its output
 * is dropped (and the guest goes on, THRE as ever). */
static void serial_output_stops_at_its_limit(void **state)
{
	struct irq_line none = {0};
	struct io_bus bus = {0};
	int pipe_fds[2];
	char out[16] = {0};
	struct device *uart;

	assert_int_equal(pipe(pipe_fds), 0);
	uart = serial_8250_create(&none, pipe_fds[1]);
	serial_8250_set_output_limit(uart, 5);
	io_bus_register(&bus, SERIAL_COM1_PORT, SERIAL_PORT_COUNT, uart);
	for (const char *p = "hello, world"; *p; p++)
		outb(&bus, 0x3f8, (uint8_t)*p);
	assert_true(inb(&bus, 0x3fd) & 0x60); /* LSR: THRE | TEMT */
	close(pipe_fds[1]);
	assert_int_equal(read(pipe_fds[0], out, sizeof(out)), 5);
	assert_string_equal(out, "hello");
	io_bus_destroy_devices(&bus);
	close(pipe_fds[0]);
}

static void serial_receives_with_backpressure(void **state)
{
	struct irq_recorder rec = {0};
	struct irq_line line = {record_irq, &rec, SERIAL_COM1_GSI};
	struct io_bus bus = {0};
	static char flood[5000];
	struct device *uart = serial_8250_create(&line, -1);

	io_bus_register(&bus, SERIAL_COM1_PORT, SERIAL_PORT_COUNT, uart);
	outb(&bus, 0x3fc, 0x08);
	outb(&bus, 0x3f9, 0x01); /* enable RDI */
	assert_int_equal(serial_8250_receive(uart, "hi", 2), 2);
	assert_int_equal(rec.level, 1);
	assert_true(inb(&bus, 0x3fd) & 0x01); /* LSR: data ready */
	assert_int_equal(inb(&bus, 0x3f8), 'h');
	assert_int_equal(inb(&bus, 0x3f8), 'i');
	assert_false(inb(&bus, 0x3fd) & 0x01);
	assert_int_equal(rec.level, 0);

	/* A flood fills the buffer; the rest is left for the caller to retry,
	 * never dropped silently. */
	memset(flood, 'x', sizeof(flood));
	size_t taken = serial_8250_receive(uart, flood, sizeof(flood));
	assert_true(taken < sizeof(flood));
	assert_int_equal(serial_8250_rx_space(uart), 0);
	assert_int_equal(serial_8250_receive(uart, flood, 1), 0);
	io_bus_destroy_devices(&bus);
}

static void serial_divisor_latch_and_loopback(void **state)
{
	struct irq_line none = {0};
	struct io_bus bus = {0};
	struct device *uart = serial_8250_create(&none, -1);

	io_bus_register(&bus, SERIAL_COM1_PORT, SERIAL_PORT_COUNT, uart);
	outb(&bus, 0x3fb, 0x80); /* DLAB */
	outb(&bus, 0x3f8, 0x01);
	outb(&bus, 0x3f9, 0x00);
	assert_int_equal(inb(&bus, 0x3f8), 0x01);
	outb(&bus, 0x3fb, 0x03); /* 8N1, DLAB off */
	outb(&bus, 0x3fc, 0x10); /* loopback */
	outb(&bus, 0x3f8, 0x5a);
	assert_int_equal(inb(&bus, 0x3f8), 0x5a);
	outb(&bus, 0x3ff, 0xa5); /* scratch */
	assert_int_equal(inb(&bus, 0x3ff), 0xa5);
	io_bus_destroy_devices(&bus);
}

static int resets;

static void count_reset(void *opaque)
{
	resets++;
}

static void i8042_answers_self_tests_and_resets(void **state)
{
	struct io_bus bus = {0};
	struct device *kbd = i8042_create(count_reset, NULL, NULL);

	resets = 0;
	io_bus_register(&bus, I8042_DATA_PORT, I8042_PORT_SPAN, kbd);
	outb(&bus, 0x64, 0xaa);
	assert_true(inb(&bus, 0x64) & 0x01);
	assert_int_equal(inb(&bus, 0x60), 0x55);
	assert_false(inb(&bus, 0x64) & 0x01);
	outb(&bus, 0x64, 0x60); /* write config byte */
	outb(&bus, 0x60, 0x47);
	outb(&bus, 0x64, 0x20);
	assert_int_equal(inb(&bus, 0x60), 0x47);
	assert_int_equal(resets, 0);
	outb(&bus, 0x64, 0xfe);
	assert_int_equal(resets, 1);
	outb(&bus, 0x64, 0xd1); /* output port with reset line low */
	outb(&bus, 0x60, 0x00);
	assert_int_equal(resets, 2);
	io_bus_destroy_devices(&bus);
}

static void i8042_keyboard_acknowledges_and_types_ctrl_alt_del(void **state)
{
	struct io_bus bus = {0};
	struct irq_recorder rec = {0};
	struct irq_line line = {record_irq, &rec, I8042_KEYBOARD_GSI};
	struct device *kbd = i8042_create(count_reset, NULL, &line);
	const uint8_t set1[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};

	io_bus_register(&bus, I8042_DATA_PORT, I8042_PORT_SPAN, kbd);
	/* No driver has talked to the keyboard: the keys would go nowhere. */
	assert_int_equal(i8042_send_ctrl_alt_del(kbd), -ENODEV);
	/* Identify: acknowledge, then the MF2 ID as translated, each byte
	 * with its own interrupt edge. */
	outb(&bus, 0x60, 0xf2);
	assert_int_equal(rec.rising_edges, 1);
	assert_int_equal(inb(&bus, 0x60), 0xfa);
	assert_int_equal(rec.rising_edges, 2);
	assert_int_equal(inb(&bus, 0x60), 0xab);
	assert_int_equal(inb(&bus, 0x60), 0x41);
	assert_false(inb(&bus, 0x64) & 0x01);
	/* A command with a parameter: two acknowledges. */
	outb(&bus, 0x60, 0xed);
	assert_int_equal(inb(&bus, 0x60), 0xfa);
	outb(&bus, 0x60, 0x00);
	assert_int_equal(inb(&bus, 0x60), 0xfa);

	rec.rising_edges = 0;
	assert_int_equal(i8042_send_ctrl_alt_del(kbd), 0);
	for (size_t i = 0; i < sizeof(set1); i++) {
		assert_true(inb(&bus, 0x64) & 0x01);
		assert_int_equal(inb(&bus, 0x60), set1[i]);
	}
	assert_int_equal(rec.rising_edges, (int)sizeof(set1));
	assert_false(inb(&bus, 0x64) & 0x01);

	/* With the interrupt disabled in the config byte: no edge. */
	outb(&bus, 0x64, 0x60);
	outb(&bus, 0x60, 0x44);
	rec.rising_edges = 0;
	assert_int_equal(i8042_send_ctrl_alt_del(kbd), 0);
	assert_int_equal(rec.rising_edges, 0);
	/* A full queue refuses more keys instead of dropping some. */
	assert_int_equal(i8042_send_ctrl_alt_del(kbd), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(kbd), -EBUSY);
	io_bus_destroy_devices(&bus);
}

static void fixed_clock(struct timespec *ts)
{
	/* 2026-11-18 11:06:40 UTC, a Wednesday */
	*ts = (struct timespec){.tv_sec = 1795000000};
}

static uint8_t cmos_read(struct io_bus *bus, uint8_t reg)
{
	outb(bus, 0x70, reg);
	return inb(bus, 0x71);
}

static void rtc_reports_host_time_in_bcd_and_binary(void **state)
{
	struct io_bus bus = {0};
	struct device *rtc = cmos_rtc_create(fixed_clock, NULL);

	io_bus_register(&bus, CMOS_RTC_PORT, CMOS_RTC_PORT_COUNT, rtc);
	assert_int_equal(cmos_read(&bus, 0x00), 0x40); /* seconds, BCD */
	assert_int_equal(cmos_read(&bus, 0x02), 0x06);
	assert_int_equal(cmos_read(&bus, 0x04), 0x11);
	assert_int_equal(cmos_read(&bus, 0x07), 0x18);
	assert_int_equal(cmos_read(&bus, 0x08), 0x11);
	assert_int_equal(cmos_read(&bus, 0x09), 0x26);
	assert_int_equal(cmos_read(&bus, 0x32), 0x20);
	assert_int_equal(cmos_read(&bus, 0x0d), 0x80);
	assert_false(cmos_read(&bus, 0x0a) & 0x80); /* never updating */

	outb(&bus, 0x70, 0x0b);
	outb(&bus, 0x71, 0x06); /* binary, 24 h */
	assert_int_equal(cmos_read(&bus, 0x00), 40);
	/* Setting the year moves the guest's clock, not the host's. */
	outb(&bus, 0x70, 0x09);
	outb(&bus, 0x71, 27);
	assert_int_equal(cmos_read(&bus, 0x09), 27);
	assert_int_equal(cmos_read(&bus, 0x02), 6);
	/* Bit 7 of the index is the NMI mask, not part of the register. */
	assert_int_equal(cmos_read(&bus, 0x80 | 0x0d), 0x80);
	io_bus_destroy_devices(&bus);
}

static void absurd_clock(struct timespec *ts)
{
	/* A year beyond struct tm's int tm_year. */
	*ts = (struct timespec){.tv_sec = (time_t)1 << 60};
}

/* Leaves a pattern where the next calls' frames go, so that a register
 * read from uninitialised stack bytes shows. */
static __attribute__((noinline)) void poison_stack(void)
{
	volatile uint8_t junk[4096];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5;
}

/* gmtime_r() fails past year 2^31 and leaves the date fields of its
 * struct tm unwritten: the guest then read stack bytes as day and month.
 * It reads 1970-01-01 00:00:00, a Thursday, instead, and a write cannot
 * move the clock beyond the offset's bound. */
static void rtc_reads_a_defined_date_when_gmtime_fails(void **state)
{
	static const struct {
		uint8_t reg, value;
	} epoch[] = {/* day and month first: gmtime_r() left those unset */
		     {0x07, 0x01}, {0x08, 0x01}, {0x00, 0x00}, {0x02, 0x00},
		     {0x04, 0x00}, {0x06, 0x05}, {0x09, 0x70}, {0x32, 0x19}};
	struct io_bus bus = {0};
	struct device *rtc = cmos_rtc_create(absurd_clock, NULL);

	io_bus_register(&bus, CMOS_RTC_PORT, CMOS_RTC_PORT_COUNT, rtc);
	for (unsigned i = 0; i < sizeof(epoch) / sizeof(epoch[0]); i++) {
		poison_stack();
		assert_int_equal(cmos_read(&bus, epoch[i].reg), epoch[i].value);
	}
	outb(&bus, 0x70, 0x09);
	outb(&bus, 0x71, 0x26);
	poison_stack();
	assert_int_equal(cmos_read(&bus, 0x09), 0x70);
	io_bus_destroy_devices(&bus);
}

/* Each press is one edge on the GED's line, which ends low; the device has
 * no state to save and refuses any saved bytes. */
static void ged_power_button_is_one_edge_per_press(void **state)
{
	struct irq_recorder rec = {0};
	struct device *ged = acpi_ged_create(
		&(struct irq_line){record_irq, &rec, ACPI_GED_GSI});
	uint8_t buf[4];
	size_t len = sizeof(buf);

	assert_non_null(ged);
	assert_int_equal(acpi_ged_power_button_presses(ged), 0);
	acpi_ged_press_power_button(ged);
	assert_int_equal(rec.rising_edges, 1);
	assert_int_equal(rec.level, 0);
	acpi_ged_press_power_button(ged);
	assert_int_equal(rec.rising_edges, 2);
	assert_int_equal(acpi_ged_power_button_presses(ged), 2);
	assert_int_equal(ged->ops->save(ged, buf, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(ged->ops->restore(ged, buf, 0), 0);
	assert_int_equal(ged->ops->check(ged, buf, 1), -EINVAL);
	ged->ops->destroy(ged);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			bus_refuses_overlaps_and_reads_ones_when_unmapped),
		cmocka_unit_test(serial_transmits_and_interrupts_on_thre),
		cmocka_unit_test(serial_receives_with_backpressure),
		cmocka_unit_test(serial_output_stops_at_its_limit),
		cmocka_unit_test(serial_divisor_latch_and_loopback),
		cmocka_unit_test(i8042_answers_self_tests_and_resets),
		cmocka_unit_test(
			i8042_keyboard_acknowledges_and_types_ctrl_alt_del),
		cmocka_unit_test(rtc_reports_host_time_in_bcd_and_binary),
		cmocka_unit_test(rtc_reads_a_defined_date_when_gmtime_fails),
		cmocka_unit_test(ged_power_button_is_one_edge_per_press),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
