#include "devices/debug_exit.h"

#include <stdlib.h>

struct debug_exit {
	struct device dev;
	struct debug_exit_events events;
};

static struct debug_exit *to_debug_exit(struct device *dev)
{
	return container_of(dev, struct debug_exit, dev);
}

/* Any width at any of its ports counts, as in QEMU, which takes the value
 * written whatever its size. */
static void debug_exit_io_write(struct device *dev, uint64_t offset,
				const void *data, uint32_t size)
{
	struct debug_exit *de = to_debug_exit(dev);
	uint32_t value = 0;

	(void)offset;
	if (size > sizeof(value))
		size = sizeof(value);
	for (uint32_t i = 0; i < size; i++)
		value |= (uint32_t)((const uint8_t *)data)[i] << (8 * i);
	de->events.exit(de->events.opaque, value);
}

/* Reads see nothing there, as on QEMU's write-only port. */
static void debug_exit_io_read(struct device *dev, uint64_t offset, void *data,
			       uint32_t size)
{
	(void)dev;
	(void)offset;
	for (uint32_t i = 0; i < size; i++)
		((uint8_t *)data)[i] = 0xff;
}

static void debug_exit_destroy(struct device *dev)
{
	free(to_debug_exit(dev));
}

/* Stateless: a write ends the VM at once. */
static const struct device_ops debug_exit_ops = {
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.name = "debug-exit",
	.io_read = debug_exit_io_read,
	.io_write = debug_exit_io_write,
	.destroy = debug_exit_destroy,
};

struct device *debug_exit_create(const struct debug_exit_events *events)
{
	struct debug_exit *de = calloc(1, sizeof(*de));

	if (!de)
		return NULL;
	de->dev.ops = &debug_exit_ops;
	de->events = *events;
	return &de->dev;
}
