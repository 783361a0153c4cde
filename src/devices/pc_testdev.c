#include "devices/pc_testdev.h"

#include <pthread.h>
#include <stdlib.h>

struct pc_testdev_part {
	struct device dev;
	struct pc_testdev *owner;
	enum pc_testdev_window window;
};

struct pc_testdev {
	struct pc_testdev_part parts[PC_TESTDEV_WINDOWS];
	int live_parts; /* windows not yet destroyed */
	struct irq_line irq;
	pthread_mutex_t lock; /* vCPU threads reach every window at once */
	uint32_t data; /* ports 0xe0-0xe3 */
	uint32_t irq_levels; /* bit n: the level last written to line n */
	uint8_t iomem[PC_TESTDEV_IOMEM_SIZE];
};

static struct pc_testdev_part *to_part(struct device *dev)
{
	return container_of(dev, struct pc_testdev_part, dev);
}

/* The byte lanes of a little-endian 32-bit register that an access of
 * size bytes at byte offset within it touches; wider accesses keep to the
 * register (the bus never lets them cross the range's end). */
static void ports_read(struct pc_testdev *t, uint64_t offset, uint8_t *data,
		       uint32_t size)
{
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = offset + i;

		data[i] = at < 4 ? (uint8_t)(t->data >> (8 * at)) : 0xff;
	}
}

static void ports_write(struct pc_testdev *t, uint64_t offset,
			const uint8_t *data, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = offset + i;

		if (at < 4)
			t->data = (t->data & ~(0xffu << (8 * at))) |
				(uint32_t)data[i] << (8 * at);
	}
	/* Ports 0xe4-0xe7, "flush page": QEMU unmaps and maps again the
	 * host page behind the written address, so that KVM must fault it
	 * in afresh (eventinj has its IDT and stack flushed before an
	 * exception is delivered). tern takes the write and does nothing:
	 * unmapping guest RAM under tern's own device threads could fault
	 * the VMM itself, and the test's results do not depend on it (only
	 * which KVM path delivers the event). */
}

/* Each byte of the access sets one line, as QEMU splits a wide write into
 * byte writes to consecutive lines. The lock orders a line's edges when
 * two vCPUs write it at once. */
static void irq_write(struct pc_testdev *t, uint64_t offset,
		      const uint8_t *data, uint32_t size)
{
	for (uint32_t i = 0; i < size; i++) {
		unsigned line = (unsigned)(offset + i);
		int level = data[i] != 0;

		if (line >= PC_TESTDEV_IRQ_LINES)
			continue;
		if (level)
			t->irq_levels |= 1u << line;
		else
			t->irq_levels &= ~(1u << line);
		if (t->irq.set_level)
			t->irq.set_level(t->irq.opaque, line, level);
	}
}

static void pc_testdev_io_read(struct device *dev, uint64_t offset, void *data,
			       uint32_t size)
{
	struct pc_testdev_part *part = to_part(dev);
	struct pc_testdev *t = part->owner;

	pthread_mutex_lock(&t->lock);
	switch (part->window) {
	case PC_TESTDEV_WINDOW_PORTS:
		ports_read(t, offset, data, size);
		break;
	case PC_TESTDEV_WINDOW_IOMEM:
		memcpy(data, t->iomem + offset, size);
		break;
	default: /* the interrupt lines are write-only */
		memset(data, 0, size);
		break;
	}
	pthread_mutex_unlock(&t->lock);
}

static void pc_testdev_io_write(struct device *dev, uint64_t offset,
				const void *data, uint32_t size)
{
	struct pc_testdev_part *part = to_part(dev);
	struct pc_testdev *t = part->owner;

	pthread_mutex_lock(&t->lock);
	switch (part->window) {
	case PC_TESTDEV_WINDOW_PORTS:
		ports_write(t, offset, data, size);
		break;
	case PC_TESTDEV_WINDOW_IRQ:
		irq_write(t, offset, data, size);
		break;
	case PC_TESTDEV_WINDOW_IOMEM:
		memcpy(t->iomem + offset, data, size);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&t->lock);
}

static void pc_testdev_destroy(struct device *dev)
{
	struct pc_testdev *t = to_part(dev)->owner;

	if (--t->live_parts > 0)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Each window saves its own state: the register, the line levels, or the
 * 64 KiB of scratch memory. */
static int pc_testdev_save(struct device *dev, void *buf, size_t *len)
{
	struct pc_testdev_part *part = to_part(dev);
	struct pc_testdev *t = part->owner;
	int ret;

	pthread_mutex_lock(&t->lock);
	switch (part->window) {
	case PC_TESTDEV_WINDOW_PORTS:
		ret = device_save_plain(&t->data, sizeof(t->data), buf, len);
		break;
	case PC_TESTDEV_WINDOW_IRQ:
		ret = device_save_plain(&t->irq_levels, sizeof(t->irq_levels),
					buf, len);
		break;
	default:
		ret = device_save_plain(t->iomem, sizeof(t->iomem), buf, len);
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static size_t state_size(const struct pc_testdev_part *part)
{
	switch (part->window) {
	case PC_TESTDEV_WINDOW_PORTS:
		return sizeof(uint32_t);
	case PC_TESTDEV_WINDOW_IRQ:
		return sizeof(uint32_t);
	default:
		return PC_TESTDEV_IOMEM_SIZE;
	}
}

static int pc_testdev_check(struct device *dev, const void *buf, size_t len)
{
	struct pc_testdev_part *part = to_part(dev);
	uint32_t levels;

	if (len != state_size(part))
		return -EINVAL;
	if (part->window == PC_TESTDEV_WINDOW_IRQ) {
		memcpy(&levels, buf, sizeof(levels));
		if (levels >> PC_TESTDEV_IRQ_LINES)
			return -EINVAL;
	}
	return 0;
}

static int pc_testdev_restore(struct device *dev, const void *buf, size_t len)
{
	struct pc_testdev_part *part = to_part(dev);
	struct pc_testdev *t = part->owner;
	int ret = pc_testdev_check(dev, buf, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&t->lock);
	switch (part->window) {
	case PC_TESTDEV_WINDOW_PORTS:
		memcpy(&t->data, buf, len);
		break;
	case PC_TESTDEV_WINDOW_IRQ:
		memcpy(&t->irq_levels, buf, len);
		break;
	default:
		memcpy(t->iomem, buf, len);
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* The interrupt controllers were restored after this device: a line the
 * test left high is raised again. */
static void pc_testdev_restored(struct device *dev)
{
	struct pc_testdev_part *part = to_part(dev);
	struct pc_testdev *t = part->owner;

	if (part->window != PC_TESTDEV_WINDOW_IRQ || !t->irq.set_level)
		return;
	pthread_mutex_lock(&t->lock);
	for (unsigned line = 0; line < PC_TESTDEV_IRQ_LINES; line++)
		if (t->irq_levels & (1u << line))
			t->irq.set_level(t->irq.opaque, line, 1);
	pthread_mutex_unlock(&t->lock);
}

static const struct device_ops pc_testdev_ops = {
	.name = "pc-testdev",
	.io_read = pc_testdev_io_read,
	.io_write = pc_testdev_io_write,
	.destroy = pc_testdev_destroy,
	.save = pc_testdev_save,
	.restore = pc_testdev_restore,
	.check = pc_testdev_check,
	.restored = pc_testdev_restored,
};

struct pc_testdev *pc_testdev_create(const struct irq_line *irq)
{
	struct pc_testdev *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (pthread_mutex_init(&t->lock, NULL)) {
		free(t);
		return NULL;
	}
	for (int i = 0; i < PC_TESTDEV_WINDOWS; i++)
		t->parts[i] = (struct pc_testdev_part){
			{&pc_testdev_ops}, t, (enum pc_testdev_window)i};
	t->live_parts = PC_TESTDEV_WINDOWS;
	if (irq)
		t->irq = *irq;
	return t;
}

struct device *pc_testdev_window(struct pc_testdev *t,
				 enum pc_testdev_window window)
{
	if (!t || window < 0 || window >= PC_TESTDEV_WINDOWS)
		return NULL;
	return &t->parts[window].dev;
}
