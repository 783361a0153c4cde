/* QEMU's pc-testdev as kvm-unit-tests drives it, through the port and MMIO
 * buses with a recording interrupt line: no KVM needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "devices/io_bus.h"
#include "devices/pc_testdev.h"

struct irq_log {
	int count;
	unsigned gsi[64];
	int level[64];
};

static void record_irq(void *opaque, unsigned gsi, int level)
{
	struct irq_log *log = opaque;

	if (log->count < 64) {
		log->gsi[log->count] = gsi;
		log->level[log->count] = level;
	}
	log->count++;
}

struct rig {
	struct io_bus pio, mmio;
	struct pc_testdev *t;
	struct irq_log irqs;
};

static void rig_up(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->t = pc_testdev_create(&(struct irq_line){record_irq, &r->irqs, 0});
	assert_non_null(r->t);
	assert_int_equal(
		io_bus_register(
			&r->pio, PC_TESTDEV_PORT, PC_TESTDEV_PORT_COUNT,
			pc_testdev_window(r->t, PC_TESTDEV_WINDOW_PORTS)),
		0);
	assert_int_equal(
		io_bus_register(&r->pio, PC_TESTDEV_IRQ_PORT,
				PC_TESTDEV_IRQ_LINES,
				pc_testdev_window(r->t, PC_TESTDEV_WINDOW_IRQ)),
		0);
	assert_int_equal(
		io_bus_register(
			&r->mmio, PC_TESTDEV_IOMEM_GPA, PC_TESTDEV_IOMEM_SIZE,
			pc_testdev_window(r->t, PC_TESTDEV_WINDOW_IOMEM)),
		0);
}

/* Freed once, when the last window goes (ASan reports a leak or a double
 * free otherwise). */
static void rig_down(struct rig *r)
{
	io_bus_destroy_devices(&r->pio);
	io_bus_destroy_devices(&r->mmio);
}

static uint32_t read_port(struct rig *r, uint16_t port, uint32_t size)
{
	uint32_t value = 0;

	io_bus_read(&r->pio, port, &value, size);
	return value;
}

static void write_port(struct rig *r, uint16_t port, uint32_t value,
		       uint32_t size)
{
	io_bus_write(&r->pio, port, &value, size);
}

/* realmode's io_test1-6 and emulator's test_io: out then in, at every
 * width, read back as written. */
static void scratch_register_reads_back_at_every_width(void **state)
{
	struct rig r;

	rig_up(&r);
	write_port(&r, 0xe0, 0xff, 1);
	assert_int_equal(read_port(&r, 0xe0, 1), 0xff);
	write_port(&r, 0xe0, 0xffff, 2);
	assert_int_equal(read_port(&r, 0xe0, 2), 0xffff);
	write_port(&r, 0xe0, 0xffffffff, 4);
	assert_int_equal(read_port(&r, 0xe0, 4), 0xffffffff);
	/* A byte write changes its own lane only. */
	write_port(&r, 0xe0, 0x12345678, 4);
	write_port(&r, 0xe2, 0xab, 1);
	assert_int_equal(read_port(&r, 0xe0, 4), 0x12ab5678);
	assert_int_equal(read_port(&r, 0xe1, 2), 0xab56);
	/* The flush-page port takes an address and changes nothing. */
	write_port(&r, 0xe4, 0x1000, 4);
	assert_int_equal(read_port(&r, 0xe0, 4), 0x12ab5678);
	rig_down(&r);
}

/* set_irq_line(line, level) is one byte written to 0x2000 + line. */
static void irq_ports_set_their_own_line(void **state)
{
	struct rig r;

	rig_up(&r);
	write_port(&r, 0x2000 + 0x0e, 1, 1);
	write_port(&r, 0x2000 + 0x0e, 0, 1);
	write_port(&r, 0x2000 + 11, 7, 1); /* any non-zero byte is high */
	assert_int_equal(r.irqs.count, 3);
	assert_int_equal(r.irqs.gsi[0], 14);
	assert_int_equal(r.irqs.level[0], 1);
	assert_int_equal(r.irqs.gsi[1], 14);
	assert_int_equal(r.irqs.level[1], 0);
	assert_int_equal(r.irqs.gsi[2], 11);
	assert_int_equal(r.irqs.level[2], 1);
	/* A word write is two byte writes to consecutive lines. */
	write_port(&r, 0x2000 + 4, 0x0001, 2);
	assert_int_equal(r.irqs.count, 5);
	assert_int_equal(r.irqs.gsi[3], 4);
	assert_int_equal(r.irqs.level[3], 1);
	assert_int_equal(r.irqs.gsi[4], 5);
	assert_int_equal(r.irqs.level[4], 0);
	/* Past line 23 there is no device: nothing is raised. */
	write_port(&r, 0x2000 + 24, 1, 1);
	write_port(&r, 0x2000 + 23, 0x0101, 2);
	assert_int_equal(r.irqs.count, 5);
	rig_down(&r);
}

static void iomem_reads_back_what_was_written(void **state)
{
	struct rig r;
	uint64_t wide = 0x1122334455667788ULL, got = 0;
	uint8_t edge[2] = {0, 0};

	rig_up(&r);
	assert_int_equal(
		io_bus_write(&r.mmio, PC_TESTDEV_IOMEM_GPA + 4092, &wide, 8),
		1);
	assert_int_equal(
		io_bus_read(&r.mmio, PC_TESTDEV_IOMEM_GPA + 4092, &got, 8), 1);
	assert_true(got == wide);
	io_bus_read(&r.mmio, PC_TESTDEV_IOMEM_GPA + 4096, &got, 4);
	assert_int_equal((uint32_t)got, 0x11223344);
	/* The last byte is the device's; one byte beyond is not. */
	assert_int_equal(
		io_bus_write(&r.mmio,
			     PC_TESTDEV_IOMEM_GPA + PC_TESTDEV_IOMEM_SIZE - 1,
			     "\x5a", 1),
		1);
	assert_int_equal(
		io_bus_read(&r.mmio,
			    PC_TESTDEV_IOMEM_GPA + PC_TESTDEV_IOMEM_SIZE - 1,
			    edge, 2),
		0);
	rig_down(&r);
}

static void state_survives_save_and_restore(void **state)
{
	struct rig a, b;
	uint8_t buf[PC_TESTDEV_IOMEM_SIZE];
	size_t len;

	rig_up(&a);
	rig_up(&b);
	write_port(&a, 0xe0, 0xcafe, 2);
	write_port(&a, 0x2000 + 9, 1, 1);
	io_bus_write(&a.mmio, PC_TESTDEV_IOMEM_GPA + 100, "tern", 4);
	for (int w = 0; w < PC_TESTDEV_WINDOWS; w++) {
		struct device *from = pc_testdev_window(a.t, w);
		struct device *to = pc_testdev_window(b.t, w);

		len = sizeof(buf);
		assert_int_equal(from->ops->save(from, buf, &len), 0);
		assert_int_equal(to->ops->check(to, buf, len), 0);
		assert_int_equal(to->ops->restore(to, buf, len), 0);
		to->ops->restored(to);
	}
	assert_int_equal(read_port(&b, 0xe0, 4), 0xcafe);
	/* The line left high is raised again once restored. */
	assert_int_equal(b.irqs.count, 1);
	assert_int_equal(b.irqs.gsi[0], 9);
	assert_int_equal(b.irqs.level[0], 1);
	memset(buf, 0, 4);
	io_bus_read(&b.mmio, PC_TESTDEV_IOMEM_GPA + 100, buf, 4);
	assert_memory_equal(buf, "tern", 4);
	rig_down(&a);
	rig_down(&b);
}

static void hostile_saved_state_is_refused(void **state)
{
	struct rig r;
	uint32_t levels = 1u << PC_TESTDEV_IRQ_LINES; /* no such line */
	uint8_t big[8] = {0};
	struct device *irq, *ports;

	rig_up(&r);
	irq = pc_testdev_window(r.t, PC_TESTDEV_WINDOW_IRQ);
	ports = pc_testdev_window(r.t, PC_TESTDEV_WINDOW_PORTS);
	assert_int_equal(irq->ops->restore(irq, &levels, sizeof(levels)),
			 -EINVAL);
	assert_int_equal(ports->ops->restore(ports, big, sizeof(big)), -EINVAL);
	assert_int_equal(ports->ops->restore(ports, big, 2), -EINVAL);
	write_port(&r, 0xe0, 0x77, 1);
	assert_int_equal(read_port(&r, 0xe0, 1), 0x77);
	rig_down(&r);
}

static void windows_are_bounded(void **state)
{
	struct pc_testdev *t = pc_testdev_create(NULL);

	assert_non_null(t);
	assert_null(pc_testdev_window(t, PC_TESTDEV_WINDOWS));
	assert_null(pc_testdev_window(t, (enum pc_testdev_window) - 1));
	/* Without an interrupt setter the lines are taken and dropped. */
	for (int w = 0; w < PC_TESTDEV_WINDOWS; w++) {
		struct device *dev = pc_testdev_window(t, w);
		uint8_t one = 1;

		dev->ops->io_write(dev, 0, &one, 1);
		dev->ops->destroy(dev);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scratch_register_reads_back_at_every_width),
		cmocka_unit_test(irq_ports_set_their_own_line),
		cmocka_unit_test(iomem_reads_back_what_was_written),
		cmocka_unit_test(state_survives_save_and_restore),
		cmocka_unit_test(hostile_saved_state_is_refused),
		cmocka_unit_test(windows_are_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
