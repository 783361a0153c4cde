#include "devices/reset_port.h"

#include <stdlib.h>
#include <string.h>

struct reset_port {
	struct device dev;
	struct device_ops ops; /* per instance: the name differs */
	uint8_t mask, match;
	struct reset_port_events events;
};

static struct reset_port *to_reset_port(struct device *dev)
{
	return container_of(dev, struct reset_port, dev);
}

static void reset_port_read(struct device *dev, uint64_t offset, void *data,
			    uint32_t size)
{
	(void)dev;
	(void)offset;
	memset(data, 0, size);
}

static void reset_port_write(struct device *dev, uint64_t offset,
			     const void *data, uint32_t size)
{
	struct reset_port *port = to_reset_port(dev);
	uint8_t value = *(const uint8_t *)data;

	if (offset != 0 || size != 1)
		return;
	if ((value & port->mask) == port->match)
		port->events.reset(port->events.opaque);
}

static void reset_port_destroy(struct device *dev)
{
	free(to_reset_port(dev));
}

struct device *reset_port_create(const char *name, uint8_t mask, uint8_t match,
				 const struct reset_port_events *events)
{
	struct reset_port *port = calloc(1, sizeof(*port));

	if (!port)
		return NULL;
	port->ops = (struct device_ops){
		.name = name,
		.io_read = reset_port_read,
		.io_write = reset_port_write,
		.destroy = reset_port_destroy,
		/* Nothing to keep: a write either resets or is ignored. */
		.save = device_save_nothing,
		.restore = device_restore_nothing,
	};
	port->dev.ops = &port->ops;
	port->mask = mask;
	port->match = match;
	port->events = *events;
	return &port->dev;
}
