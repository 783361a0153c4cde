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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "arch/x86/layout.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/serial_8250.h"
#include "memory/guest_memory.h"
#include "util/size.h"
#include "virtio/virtio_mmio.h"
#include "virtio/virtio_balloon.h"
#include "virtio/virtio_blk.h"
#include "virtio/virtio_rng.h"
#include "virtio/virtio_vsock.h"

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

static void fixed_clock(struct timespec *ts)
{
	*ts = (struct timespec){.tv_sec = 1700000000};
}

static void i8042_and_rtc_refuse_hostile_state(void **state)
{
	struct irq_line line = {ignore_irq, NULL, 1};
	struct device *kbd = i8042_create(reset_none, NULL, &line);
	struct device *rtc = cmos_rtc_create(fixed_clock, NULL);
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

/* The guest's clock offset from host time is bounded (2^40 s, see
 * cmos_rtc.c): a restored one beyond is refused (host time plus INT64_MAX
 * overflowed), and a guest walking its clock forward with repeated writes
 * stops at the bound, so what a guest set always restores. */
static void rtc_offset_is_bounded(void **state)
{
	const int64_t bound = 1LL << 40, year = 31556952;
	/* -bound is inside the offset's bound but before year 0 at the
	 * fixed clock's 2023: refused too. */
	const int64_t bad[] = {INT64_MAX, INT64_MIN, bound + 1, -bound - 1,
			       -bound};
	struct device *a = cmos_rtc_create(fixed_clock, NULL);
	struct device *b = cmos_rtc_create(fixed_clock, NULL);
	int64_t offset;
	int full_year;
	size_t len;

	len = save(a);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(buf, &bad[i], sizeof(bad[i]));
		assert_int_equal(b->ops->restore(b, buf, len), -EINVAL);
	}
	offset = -1000 * year;
	memcpy(buf, &offset, sizeof(offset));
	assert_int_equal(b->ops->restore(b, buf, len), 0);

	outb(a, 0, 0x0b);
	outb(a, 1, 0x06); /* binary, 24 h */
	for (int i = 0; i < 400; i++) {
		outb(a, 0, 0x09);
		outb(a, 1, 255); /* year 255 of this century: 2 more each */
	}
	/* The walk stops at the last year the registers hold, 25599. */
	outb(a, 0, 0x32);
	full_year = inb(a, 1) * 100;
	outb(a, 0, 0x09);
	full_year += inb(a, 1);
	assert_true(full_year <= 25599 && full_year > 25599 - 201);
	len = save(a);
	memcpy(&offset, buf, sizeof(offset));
	assert_true(offset <= bound && offset > 0);
	assert_int_equal(b->ops->restore(b, buf, len), 0);
	a->ops->destroy(a);
	b->ops->destroy(b);
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
	/* A ring outside guest RAM: refused by the checks before anything
	 * changed, so the device goes on as the first restore left it. */
	size = 8;
	memcpy(buf + queue0_size, &size, sizeof(size));
	memset(buf + core + 32, 0xff, 8); /* desc_gpa */
	assert_int_equal(b.dev->ops->restore(b.dev, buf, len), -EINVAL);
	assert_non_null(
		strstr(b.vdev->restore_error, "not inside guest memory"));
	assert_int_equal(rd(b.dev, VIRTIO_MMIO_REG_STATUS),
			 rd(a.dev, VIRTIO_MMIO_REG_STATUS));
	assert_int_equal(b.vdev->queues[0].desc_gpa, 0x10000);

	a.dev->ops->destroy(a.dev);
	b.dev->ops->destroy(b.dev);
	guest_memory_destroy(&mem);
}

/* After a whole VM's state is back, a restored device raises its queues'
 * and config interrupts once more (those raised during the restore were
 * lost with the interrupt controllers' state); one not running raises
 * none. */
static void restored_device_signals_again(void **state)
{
	struct guest_memory mem;
	struct mmio_rng a, b;
	size_t len;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	mmio_rng_create(&a, &mem);
	mmio_rng_create(&b, &mem);
	virtio_device_resignal(b.vdev);
	assert_int_equal(rd(b.dev, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 0);
	bring_up(a.dev);
	len = save(a.dev);
	assert_int_equal(b.dev->ops->restore(b.dev, buf, len), 0);
	wr(b.dev, VIRTIO_MMIO_REG_INTERRUPT_ACK, 3);
	assert_int_equal(rd(b.dev, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 0);
	virtio_device_resignal(b.vdev);
	assert_int_equal(rd(b.dev, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 3);
	a.dev->ops->destroy(a.dev);
	b.dev->ops->destroy(b.dev);
	guest_memory_destroy(&mem);
}

static uint16_t used_idx(struct guest_memory *mem)
{
	uint16_t idx;

	memcpy(&idx, guest_memory_ptr(mem, 0x12002, 2), sizeof(idx));
	return idx;
}

/* A live migration stops the device threads for its stop-and-copy: a kick
 * meanwhile is not served (nothing writes guest memory) until the thread
 * is restarted after a failure, and then it is. */
static void stopped_device_thread_serves_kicks_after_restart(void **state)
{
	struct guest_memory mem;
	struct mmio_rng r;
	/* desc[0]: 16 writable bytes at 0x20000; avail: idx 1, ring[0] 0. */
	const uint8_t desc[16] = {0, 0, 2, 0, 0, 0, 0, 0, 16, 0, 0, 0, 2, 0};
	const uint8_t avail[6] = {0, 0, 1, 0, 0, 0};

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	mmio_rng_create(&r, &mem);
	bring_up(r.dev);
	virtio_device_stop(r.vdev);
	memcpy(guest_memory_ptr(&mem, 0x10000, sizeof(desc)), desc,
	       sizeof(desc));
	memcpy(guest_memory_ptr(&mem, 0x11000, sizeof(avail)), avail,
	       sizeof(avail));
	virtio_device_kick(r.vdev, 0);
	usleep(100 * 1000);
	assert_int_equal(used_idx(&mem), 0);
	assert_int_equal(virtio_device_restart(r.vdev), 0);
	assert_int_equal(virtio_device_restart(r.vdev), 0); /* running */
	for (int i = 0; i < 200 && used_idx(&mem) == 0; i++)
		usleep(10 * 1000);
	assert_int_equal(used_idx(&mem), 1);
	r.dev->ops->destroy(r.dev);
	guest_memory_destroy(&mem);
}

/* Saves vdev's core + device state into buf; returns the length. */
static size_t vsave(struct virtio_device *vdev)
{
	size_t len = sizeof(buf);

	assert_int_equal(virtio_device_save_state(vdev, buf, &len), 0);
	return len;
}

static char dir[] = "/tmp/tern-devstate-XXXXXX";

static struct virtio_device *disk(struct guest_memory *mem, const char *name,
				  uint64_t size)
{
	char path[128];
	struct tern_error err = {{0}};
	struct virtio_blk_options opts = {
		.path = path, .id = "state-disk", .engine = BLOCK_ENGINE_AUTO};
	struct virtio_device *vdev;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), (off_t)size), 0);
	fclose(f);
	assert_int_equal(virtio_blk_create(&opts, &vdev, &err), 0);
	assert_int_equal(virtio_device_start(vdev, mem), 0);
	return vdev;
}

/* virtio-blk: the same disk shape restores; another size, a truncated or
 * padded state is refused (the other size by name in the log). */
static void virtio_blk_round_trip_and_other_disk_refused(void **state)
{
	struct guest_memory mem;
	struct virtio_device *a, *b, *c;
	size_t len;

	assert_int_equal(guest_memory_init(&mem, MiB(16)), 0);
	a = disk(&mem, "a.img", MiB(1));
	b = disk(&mem, "b.img", MiB(1));
	c = disk(&mem, "c.img", MiB(2));
	len = vsave(a);
	assert_int_equal(virtio_device_restore_state(b, buf, len), 0);
	assert_int_equal(virtio_device_restore_state(c, buf, len), -EINVAL);
	assert_int_equal(virtio_device_restore_state(b, buf, len - 1), -EINVAL);
	assert_int_equal(virtio_device_restore_state(b, buf, 16), -EINVAL);
	virtio_device_destroy(a);
	virtio_device_destroy(b);
	virtio_device_destroy(c);
	guest_memory_destroy(&mem);
}

/* A live migration's hand-over of a disk's lock: the destination's device
 * opens the same image unlocked and takes the lock as it restores, which
 * fails while the source holds it; the source releases it after saving and
 * cannot reclaim it while the destination holds it. */
static void virtio_blk_lock_hand_over(void **state)
{
	char path[128];
	struct tern_error err = {{0}};
	struct virtio_blk_options opts = {.path = path,
					  .id = "state-disk",
					  .engine = BLOCK_ENGINE_AUTO,
					  .lock_at_restore = true};
	struct guest_memory mem;
	struct virtio_device *src, *dst, *other;
	size_t len;

	assert_int_equal(guest_memory_init(&mem, MiB(16)), 0);
	src = disk(&mem, "handover.img", MiB(1));
	snprintf(path, sizeof(path), "%s/handover.img", dir);
	/* Without the deferred lock the image is taken. */
	opts.lock_at_restore = false;
	assert_int_equal(virtio_blk_create(&opts, &other, &err), -EBUSY);
	opts.lock_at_restore = true;
	assert_int_equal(virtio_blk_create(&opts, &dst, &err), 0);
	assert_int_equal(virtio_device_start(dst, &mem), 0);
	len = vsave(src);
	assert_int_equal(virtio_device_restore_state(dst, buf, len), -EINVAL);
	assert_non_null(strstr(dst->restore_error, "locked"));
	assert_int_equal(virtio_device_migration_release(src), 0);
	assert_int_equal(virtio_device_restore_state(dst, buf, len), 0);
	assert_int_equal(virtio_device_migration_reclaim(src), -EBUSY);
	virtio_device_destroy(dst);
	assert_int_equal(virtio_device_migration_reclaim(src), 0);
	assert_int_equal(virtio_device_migration_reclaim(src), 0);
	virtio_device_destroy(src);
	guest_memory_destroy(&mem);
}

static struct virtio_device *balloon(struct guest_memory *mem)
{
	struct virtio_balloon_options opts = {.target_bytes = MiB(8),
					      .stats_interval_s = 60};
	struct virtio_device *vdev = virtio_balloon_create(&opts);

	assert_non_null(vdev);
	assert_int_equal(virtio_device_start(vdev, mem), 0);
	return vdev;
}

/* virtio-balloon: target, interval and statistics carry over; a queue
 * number or held head out of range is refused. */
static void virtio_balloon_round_trip_and_hostile_state(void **state)
{
	struct guest_memory mem;
	struct virtio_device *a, *b;
	struct virtio_balloon_info info;
	/* struct balloon_snapshot: 32 bytes of fields, 16 stats; then
	 * free page hinting's 24 bytes (since hinting). */
	const size_t old_len = 32 + 8 * VIRTIO_BALLOON_STAT_TAGS;
	const size_t dev_len = old_len + 24;
	size_t len, dev;
	int32_t queue;
	uint32_t device_len;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	a = balloon(&mem);
	b = balloon(&mem);
	assert_int_equal(virtio_balloon_set_target(a, MiB(24)), 0);
	assert_int_equal(virtio_balloon_set_stats_interval(a, 30), 0);
	len = vsave(a);
	dev = len - dev_len;
	assert_int_equal(virtio_device_restore_state(b, buf, len), 0);
	virtio_balloon_get_info(b, &info);
	assert_int_equal(info.target_bytes, MiB(24));
	assert_int_equal(info.stats_interval_s, 30);

	queue = 9; /* stats_queue beyond the device's queues */
	memcpy(buf + dev + 8, &queue, sizeof(queue));
	assert_int_equal(virtio_device_restore_state(b, buf, len), -EINVAL);
	queue = -1;
	memcpy(buf + dev + 8, &queue, sizeof(queue));
	buf[dev + 20] = 1; /* a held stats buffer without a stats queue */
	assert_int_equal(virtio_device_restore_state(b, buf, len), -EINVAL);
	buf[dev + 20] = 0;
	assert_int_equal(virtio_device_restore_state(b, buf, len - 8), -EINVAL);
	/* A state from a tern before hinting (no hinting part; the core's
	 * device_len, at byte 28, says so) still restores. */
	device_len = (uint32_t)old_len;
	memcpy(buf + 28, &device_len, sizeof(device_len));
	assert_int_equal(virtio_device_restore_state(b, buf, len - 24), 0);
	virtio_balloon_get_info(b, &info);
	assert_int_equal(info.target_bytes, MiB(24));
	virtio_device_destroy(a);
	virtio_device_destroy(b);
	guest_memory_destroy(&mem);
}

static struct virtio_device *vsock(struct guest_memory *mem, uint64_t cid,
				   const char *name)
{
	char path[128];
	struct tern_error err = {{0}};
	struct virtio_device *vdev;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(virtio_vsock_create(cid, path, &vdev, &err), 0);
	assert_int_equal(virtio_device_start(vdev, mem), 0);
	return vdev;
}

/* virtio-vsock: the same CID restores (connections are not carried: the
 * guest gets a transport reset); another CID is refused. */
static void virtio_vsock_round_trip_and_other_cid_refused(void **state)
{
	struct guest_memory mem;
	struct virtio_device *a, *b, *c;
	size_t len;

	assert_int_equal(guest_memory_init(&mem, MiB(16)), 0);
	a = vsock(&mem, 3, "a.sock");
	b = vsock(&mem, 3, "b.sock");
	c = vsock(&mem, 4, "c.sock");
	len = vsave(a);
	assert_int_equal(virtio_device_restore_state(b, buf, len), 0);
	assert_int_equal(virtio_device_restore_state(c, buf, len), -EINVAL);
	assert_int_equal(virtio_device_restore_state(b, buf, len + 8), -EINVAL);
	virtio_device_destroy(a);
	virtio_device_destroy(b);
	virtio_device_destroy(c);
	guest_memory_destroy(&mem);
}

/* The virtio core's saved queue 0 in a virtio_device_save_state() buffer
 * (struct virtio_queue_snapshot in virtio_device.c): after the core's 32
 * bytes of fields; its ring position after the gpas, size and vector. */
#define Q0_DESC_GPA (32 + 0)
#define Q0_LAST_AVAIL (32 + 28)
#define Q0_USED_IDX (32 + 30)
#define Q0_ERROR (32 + 40)

#define STATUS_UP (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)

/* An rng driven to DRIVER_OK through the core, queue 0 of 8 entries with
 * its avail ring over its used ring (the guest's choice). Not started: no
 * I/O thread serves a restore's kick, so a state a restore wrongly takes
 * fails the test instead of spinning a thread or writing through garbage
 * pointers. */
static struct virtio_device *unstarted_rng(struct guest_memory *mem)
{
	struct virtio_device *vdev = virtio_rng_create();
	struct virtio_queue *queue;

	assert_non_null(vdev);
	vdev->mem = mem;
	virtio_device_write_status(vdev, STATUS_UP);
	virtio_device_write_driver_features(vdev, 1, 1); /* VERSION_1 */
	virtio_device_write_status(vdev,
				   STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK);
	queue = &vdev->queues[0];
	queue->size = 8;
	queue->desc_gpa = 0x10000;
	queue->avail_gpa = queue->used_gpa = 0x12000;
	virtio_device_enable_queue(vdev, 0);
	assert_true(queue->enabled);
	virtio_device_write_status(vdev,
				   STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK |
					   VIRTIO_CONFIG_S_DRIVER_OK);
	return vdev;
}

static void put32(size_t at, int32_t v)
{
	memcpy(buf + at, &v, sizeof(v));
}

static int32_t get32(size_t at)
{
	int32_t v;

	memcpy(&v, buf + at, sizeof(v));
	return v;
}

static void put16(size_t at, uint16_t v)
{
	memcpy(buf + at, &v, sizeof(v));
}

static uint16_t get16(size_t at)
{
	uint16_t v;

	memcpy(&v, buf + at, sizeof(v));
	return v;
}

/* A queue's saved error goes to the virtqueue code as it is: only 0 or a
 * code virtq records is taken. A negative one made virtq_pop() return 1
 * with the chain never filled: virtio-rng wrote random bytes through an
 * uninitialised stack chain, virtio-blk and the balloon looped for ever
 * holding the device lock. */
static void virtio_restore_refuses_an_error_virtq_never_records(void **state)
{
	const int32_t bad[] = {-1, -VIRTQ_ERR_HEAD_INDEX, 5,
			       VIRTQ_ERR_NOT_READY, INT32_MIN};
	struct guest_memory mem;
	struct virtio_device *a, *b;
	size_t len;

	assert_int_equal(guest_memory_init(&mem, MiB(16)), 0);
	a = unstarted_rng(&mem);
	b = unstarted_rng(&mem);
	a->queues[0].vq.error = VIRTQ_ERR_HEAD_INDEX;
	len = vsave(a);
	assert_int_equal(get32(Q0_ERROR), VIRTQ_ERR_HEAD_INDEX);
	assert_int_equal(virtio_device_restore_state(b, buf, len), 0);
	assert_int_equal(b->queues[0].vq.error, VIRTQ_ERR_HEAD_INDEX);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put32(Q0_ERROR, bad[i]);
		assert_int_equal(virtio_device_restore_state(b, buf, len),
				 -EINVAL);
		assert_non_null(
			strstr(b->restore_error, "not a virtqueue error"));
	}
	put32(Q0_ERROR, 0);
	assert_int_equal(virtio_device_restore_state(b, buf, len), 0);
	assert_int_equal(b->queues[0].vq.error, 0);
	virtio_device_destroy(a);
	virtio_device_destroy(b);
	guest_memory_destroy(&mem);
}

/* tern drains its devices before saving: a queue restored with more chains
 * in flight than it has entries (last_avail_idx - used_idx, 16-bit) is
 * refused. With the avail ring over the used ring, the restore's kick then
 * made every push announce one more chain, for ever. At most the size
 * is taken, and serving it ends. */
static void virtio_restore_refuses_more_in_flight_than_the_queue(void **state)
{
	/* desc[0]: 16 writable bytes at 0x20000. */
	const uint8_t desc[16] = {0, 0, 2, 0, 0, 0, 0, 0, 16, 0, 0, 0, 2, 0};
	struct guest_memory mem;
	struct virtio_device *a, *b;
	uint16_t avail_idx = 6, head = 0;
	size_t len;

	assert_int_equal(guest_memory_init(&mem, MiB(16)), 0);
	a = unstarted_rng(&mem);
	b = unstarted_rng(&mem);
	a->queues[0].vq.last_avail_idx = 5;
	a->queues[0].vq.used_idx = 0xfffd; /* 8 in flight across the wrap */
	len = vsave(a);
	assert_int_equal(get16(Q0_LAST_AVAIL), 5);
	assert_int_equal(get16(Q0_USED_IDX), 0xfffd);
	assert_int_equal(virtio_device_restore_state(b, buf, len), 0);

	put16(Q0_USED_IDX, 0xfffc); /* 9 */
	assert_int_equal(virtio_device_restore_state(b, buf, len), -EINVAL);
	assert_non_null(strstr(b->restore_error, "in flight"));
	put16(Q0_LAST_AVAIL, 0);
	put16(Q0_USED_IDX, 1); /* 0xffff */
	assert_int_equal(virtio_device_restore_state(b, buf, len), -EINVAL);

	/* The accepted window, served: one chain offered (avail idx, which
	 * is used idx, one past last_avail_idx), then pop refuses the used
	 * idx its own push wrote as running ahead, and the device stops. */
	put16(Q0_LAST_AVAIL, 5);
	put16(Q0_USED_IDX, 0xfffd);
	assert_int_equal(virtio_device_restore_state(b, buf, len), 0);
	memcpy(guest_memory_ptr(&mem, 0x10000, sizeof(desc)), desc,
	       sizeof(desc));
	memcpy(guest_memory_ptr(&mem, 0x12002, 2), &avail_idx, 2);
	memcpy(guest_memory_ptr(&mem, 0x12004 + 2 * 5, 2), &head, 2);
	pthread_mutex_lock(&b->lock);
	b->ops->queue_notify(b, 0);
	pthread_mutex_unlock(&b->lock);
	assert_int_equal(b->queues[0].vq.used_idx, 0xfffe);
	assert_int_equal(b->queues[0].vq.error, VIRTQ_ERR_AVAIL_IDX);
	assert_true(b->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	virtio_device_destroy(a);
	virtio_device_destroy(b);
	guest_memory_destroy(&mem);
}

/* The checks of virtio_device_check_state() are restore's own: rings a
 * saved queue places outside guest memory are refused before anything
 * changes, with the reason, as a load's check pass refuses them. (restore
 * once found them only in virtq_init() halfway through, and left the
 * device reset without saying why.) */
static void virtio_restore_checks_what_check_state_checks(void **state)
{
	/* 8 descriptors (128 bytes) from 64 bytes before the end of RAM */
	const uint64_t outside = MiB(16) - 64;
	struct guest_memory mem;
	struct virtio_device *a, *b;
	size_t len;

	assert_int_equal(guest_memory_init(&mem, MiB(16)), 0);
	a = unstarted_rng(&mem);
	b = unstarted_rng(&mem);
	len = vsave(a);
	memcpy(buf + Q0_DESC_GPA, &outside, sizeof(outside));
	assert_int_equal(virtio_device_check_state(b, buf, len), -EINVAL);
	assert_non_null(strstr(b->restore_error, "not inside guest memory"));
	b->restore_error[0] = '\0';
	assert_int_equal(virtio_device_restore_state(b, buf, len), -EINVAL);
	assert_non_null(strstr(b->restore_error, "not inside guest memory"));
	/* Nothing changed: still driven, queue 0 where the driver put it. */
	assert_true(b->status & VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(b->queues[0].enabled);
	assert_int_equal(b->queues[0].desc_gpa, 0x10000);
	assert_int_equal(b->queues[0].size, 8);
	virtio_device_destroy(a);
	virtio_device_destroy(b);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(serial_round_trip_and_hostile_state),
		cmocka_unit_test(i8042_and_rtc_refuse_hostile_state),
		cmocka_unit_test(rtc_offset_is_bounded),
		cmocka_unit_test(virtio_mmio_rng_round_trip_and_hostile_state),
		cmocka_unit_test(virtio_blk_round_trip_and_other_disk_refused),
		cmocka_unit_test(virtio_blk_lock_hand_over),
		cmocka_unit_test(restored_device_signals_again),
		cmocka_unit_test(
			stopped_device_thread_serves_kicks_after_restart),
		cmocka_unit_test(virtio_balloon_round_trip_and_hostile_state),
		cmocka_unit_test(virtio_vsock_round_trip_and_other_cid_refused),
		cmocka_unit_test(
			virtio_restore_refuses_an_error_virtq_never_records),
		cmocka_unit_test(
			virtio_restore_refuses_more_in_flight_than_the_queue),
		cmocka_unit_test(virtio_restore_checks_what_check_state_checks),
	};
	char cmd[64];
	int ret;

	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ret = 1;
	return ret;
}
