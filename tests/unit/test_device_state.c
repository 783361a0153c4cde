/* Devices' own snapshot state (device_ops save/restore, the virtio core's
 * save/restore through a transport): a round trip carries what the guest
 * can observe, and hostile state (out-of-range indexes, wrong lengths,
 * another device's features) is refused without a crash. No KVM needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "arch/x86/layout.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/serial_8250.h"
#include "memory/guest_memory.h"
#include "util/size.h"
#include "virtio/virtio_mmio.h"
#include "virtio/virtio_rng.h"

static uint8_t buf[1 << 16] __attribute__((aligned(8)));

static void ignore_irq(void *opaque, unsigned gsi, int level)
{
}

static uint8_t inb(struct device *dev, uint64_t offset)
{
	uint8_t v;

	dev->ops->io_read(dev, offset, &v, 1);
	return v;
}

static void outb(struct device *dev, uint64_t offset, uint8_t v)
{
	dev->ops->io_write(dev, offset, &v, 1);
}

static size_t save(struct device *dev)
{
	size_t len = sizeof(buf);

	assert_int_equal(dev->ops->save(dev, buf, &len), 0);
	return len;
}

static void serial_round_trip_and_hostile_state(void **state)
{
	struct irq_line line = {ignore_irq, NULL, 4};
	struct device *a = serial_8250_create(&line, -1);
	struct device *b = serial_8250_create(&line, -1);
	size_t len, small = 8;
	uint64_t huge = 1 << 20;

	outb(a, 7, 0x5a); /* scratch */
	outb(a, 3, 0x03); /* 8N1 */
	assert_int_equal(serial_8250_receive(a, "hi", 2), 2);
	len = save(a);
	assert_int_equal(a->ops->save(a, buf, &small), -ENOSPC);
	assert_int_equal(b->ops->restore(b, buf, len - 1), -EINVAL);
	assert_int_equal(b->ops->restore(b, buf, len), 0);
	assert_int_equal(inb(b, 7), 0x5a);
	assert_int_equal(inb(b, 3), 0x03);
	assert_int_equal(inb(b, 5) & 1, 1); /* data ready */
	assert_int_equal(inb(b, 0), 'h');
	assert_int_equal(inb(b, 0), 'i');

	/* rx_head (offset 16) past the buffer. */
	memcpy(buf + 16, &huge, sizeof(huge));
	assert_int_equal(b->ops->restore(b, buf, len), -EINVAL);
	a->ops->destroy(a);
	b->ops->destroy(b);
}

static void reset_none(void *opaque)
{
}

static time_t fixed_clock(void)
{
	return 1700000000;
}

static void i8042_and_rtc_refuse_hostile_state(void **state)
{
	struct irq_line line = {ignore_irq, NULL, 1};
	struct device *kbd = i8042_create(reset_none, NULL, &line);
	struct device *rtc = cmos_rtc_create(fixed_clock);
	uint32_t big = 1000;
	size_t len;

	len = save(kbd);
	assert_int_equal(kbd->ops->restore(kbd, buf, len), 0);
	memcpy(buf + 8, &big, sizeof(big)); /* queue_head */
	assert_int_equal(kbd->ops->restore(kbd, buf, len), -EINVAL);
	assert_int_equal(kbd->ops->restore(kbd, buf, 3), -EINVAL);

	outb(rtc, 0, 0x20); /* index into NVRAM */
	outb(rtc, 1, 0x77);
	len = save(rtc);
	buf[8] = 0x90; /* an index with the NMI bit: not a register */
	assert_int_equal(rtc->ops->restore(rtc, buf, len), -EINVAL);
	buf[8] = 0x20;
	assert_int_equal(rtc->ops->restore(rtc, buf, len), 0);
	assert_int_equal(inb(rtc, 1), 0x77);
	kbd->ops->destroy(kbd);
	rtc->ops->destroy(rtc);
}

struct mmio_rng {
	struct virtio_device *vdev;
	struct device *dev;
};

static void mmio_rng_create(struct mmio_rng *r, struct guest_memory *mem)
{
	int error = 0;

	r->vdev = virtio_rng_create();
	assert_int_equal(virtio_device_start(r->vdev, mem), 0);
	r->dev = virtio_mmio_create(r->vdev, LAYOUT_VIRTIO_MMIO_GPA, 16, -1,
				    &error);
	assert_non_null(r->dev);
}

static uint32_t rd(struct device *dev, uint64_t reg)
{
	uint32_t v = 0;

	dev->ops->io_read(dev, reg, &v, 4);
	return v;
}

static void wr(struct device *dev, uint64_t reg, uint32_t v)
{
	dev->ops->io_write(dev, reg, &v, 4);
}

/* Drives the device as a driver would up to DRIVER_OK with queue 0. */
static void bring_up(struct device *dev)
{
	wr(dev, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(dev, VIRTIO_MMIO_REG_DRIVER_FEATURES_SEL, 1); /* bits 32-63 */
	wr(dev, VIRTIO_MMIO_REG_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(dev, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK);
	wr(dev, VIRTIO_MMIO_REG_QUEUE_SEL, 0);
	wr(dev, VIRTIO_MMIO_REG_QUEUE_NUM, 8);
	wr(dev, VIRTIO_MMIO_REG_QUEUE_DESC_LOW, 0x10000);
	wr(dev, VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW, 0x11000);
	wr(dev, VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW, 0x12000);
	wr(dev, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	wr(dev, VIRTIO_MMIO_REG_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void virtio_mmio_rng_round_trip_and_hostile_state(void **state)
{
	struct guest_memory mem;
	struct mmio_rng a, b;
	size_t len;
	uint64_t features;
	uint16_t size;
	/* Where the core's state starts: after the 12-byte transport state,
	 * 8-byte aligned; queue 0 after the core's 32 bytes of fields, its
	 * size after the three gpas. */
	const size_t core = 16, queue0_size = core + 32 + 24;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	mmio_rng_create(&a, &mem);
	mmio_rng_create(&b, &mem);
	bring_up(a.dev);
	assert_true(rd(a.dev, VIRTIO_MMIO_REG_STATUS) &
		    VIRTIO_CONFIG_S_DRIVER_OK);
	len = save(a.dev);

	assert_int_equal(b.dev->ops->restore(b.dev, buf, len), 0);
	assert_int_equal(rd(b.dev, VIRTIO_MMIO_REG_STATUS),
			 rd(a.dev, VIRTIO_MMIO_REG_STATUS));
	wr(b.dev, VIRTIO_MMIO_REG_QUEUE_SEL, 0);
	assert_int_equal(rd(b.dev, VIRTIO_MMIO_REG_QUEUE_READY), 1);
	assert_int_equal(b.vdev->queues[0].desc_gpa, 0x10000);
	assert_true(b.vdev->queues[0].vq.desc != NULL);

	/* Truncated, another device's features, a queue above its max. */
	assert_int_equal(b.dev->ops->restore(b.dev, buf, len - 1), -EINVAL);
	assert_int_equal(b.dev->ops->restore(b.dev, buf, 7), -EINVAL);
	memcpy(&features, buf + core, sizeof(features));
	features ^= 1ULL << 5;
	memcpy(buf + core, &features, sizeof(features));
	assert_int_equal(b.dev->ops->restore(b.dev, buf, len), -EINVAL);
	features ^= 1ULL << 5;
	memcpy(buf + core, &features, sizeof(features));
	memcpy(&size, buf + queue0_size, sizeof(size));
	assert_int_equal(size, 8);
	size = 4096;
	memcpy(buf + queue0_size, &size, sizeof(size));
	assert_int_equal(b.dev->ops->restore(b.dev, buf, len), -EINVAL);
	/* A ring outside guest RAM: refused by virtq_init, device reset. */
	size = 8;
	memcpy(buf + queue0_size, &size, sizeof(size));
	memset(buf + core + 32, 0xff, 8); /* desc_gpa */
	assert_int_equal(b.dev->ops->restore(b.dev, buf, len), -EINVAL);
	assert_int_equal(rd(b.dev, VIRTIO_MMIO_REG_STATUS), 0);

	a.dev->ops->destroy(a.dev);
	b.dev->ops->destroy(b.dev);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(serial_round_trip_and_hostile_state),
		cmocka_unit_test(i8042_and_rtc_refuse_hostile_state),
		cmocka_unit_test(virtio_mmio_rng_round_trip_and_hostile_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
