#include "devices/io_bus.h"

#include <errno.h>
#include <string.h>

static int ranges_overlap(uint64_t a_base, uint64_t a_len, uint64_t b_base,
			  uint64_t b_len)
{
	return a_base < b_base + b_len && b_base < a_base + a_len;
}

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t length,
		    struct device *dev)
{
	int pos;

	if (length == 0 || base + length < base)
		return -EINVAL;
	if (bus->count == IO_BUS_MAX_RANGES)
		return -ENOSPC;
	for (int i = 0; i < bus->count; i++)
		if (ranges_overlap(base, length, bus->ranges[i].base,
				   bus->ranges[i].length))
			return -EEXIST;

	/* Keep the array sorted by base for binary search. */
	for (pos = bus->count; pos > 0 && bus->ranges[pos - 1].base > base;
	     pos--)
		bus->ranges[pos] = bus->ranges[pos - 1];
	bus->ranges[pos] = (struct io_bus_range){base, length, dev};
	bus->count++;
	return 0;
}

static const struct io_bus_range *find_range(const struct io_bus *bus,
					     uint64_t addr, uint32_t size)
{
	int low = 0, high = bus->count - 1;

	while (low <= high) {
		int mid = low + (high - low) / 2;
		const struct io_bus_range *range = &bus->ranges[mid];

		if (addr < range->base) {
			high = mid - 1;
		} else if (addr - range->base >= range->length) {
			low = mid + 1;
		} else {
			/* An access straddling the end of a range is not the
			 * device's: treat it as unmapped. */
			if (size > range->length - (addr - range->base))
				return NULL;
			return range;
		}
	}
	return NULL;
}

int io_bus_read(const struct io_bus *bus, uint64_t addr, void *data,
		uint32_t size)
{
	const struct io_bus_range *range = find_range(bus, addr, size);

	if (!range || !range->dev->ops->io_read) {
		memset(data, 0xff, size);
		return 0;
	}
	range->dev->ops->io_read(range->dev, addr - range->base, data, size);
	return 1;
}

int io_bus_write(const struct io_bus *bus, uint64_t addr, const void *data,
		 uint32_t size)
{
	const struct io_bus_range *range = find_range(bus, addr, size);

	if (!range || !range->dev->ops->io_write)
		return 0;
	range->dev->ops->io_write(range->dev, addr - range->base, data, size);
	return 1;
}

void io_bus_destroy_devices(struct io_bus *bus)
{
	for (int i = 0; i < bus->count; i++) {
		struct device *dev = bus->ranges[i].dev;
		int seen = 0;

		for (int j = 0; j < i; j++)
			if (bus->ranges[j].dev == dev)
				seen = 1;
		if (!seen && dev->ops->destroy)
			dev->ops->destroy(dev);
	}
	bus->count = 0;
}
