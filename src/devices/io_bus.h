/* Maps guest port-I/O or MMIO ranges to devices. Ranges are registered before
 * the vCPUs start and never change while they run, so lookups take no lock. */
#ifndef TERN_DEVICES_IO_BUS_H
#define TERN_DEVICES_IO_BUS_H

#include <stdint.h>

#include "devices/device.h"

#define IO_BUS_MAX_RANGES 64

struct io_bus_range {
	uint64_t base;
	uint64_t length;
	struct device *dev;
};

struct io_bus {
	struct io_bus_range ranges[IO_BUS_MAX_RANGES];
	int count;
};

/* Returns 0, -EEXIST when the range overlaps one already registered, -ENOSPC
 * when the bus is full, -EINVAL for an empty or wrapping range. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t length,
		    struct device *dev);

/* Dispatch one access. Returns 1 when a device took it, 0 when nothing is
 * mapped there: reads are then filled with all-ones, as an ISA or PCI bus
 * with nothing answering reads, and writes are dropped. */
int io_bus_read(const struct io_bus *bus, uint64_t addr, void *data,
		uint32_t size);
int io_bus_write(const struct io_bus *bus, uint64_t addr, const void *data,
		 uint32_t size);

/* Calls every device's destroy once; a device on several ranges is destroyed
 * only on its first. */
void io_bus_destroy_devices(struct io_bus *bus);

#endif
