/* A device is one file behind one small ops table. The bus calls io_read and
 * io_write with the offset inside the device's registered range; a device
 * keeps its own lock because vCPU threads and backend threads reach it
 * concurrently. Later issues add save/restore and metrics to this table, so
 * every device grows them in one place. */
#ifndef TERN_DEVICES_DEVICE_H
#define TERN_DEVICES_DEVICE_H

#include <stddef.h>
#include <stdint.h>

struct device;

struct device_ops {
	const char *name;
	/* size is 1, 2, 4 or 8; data holds size bytes, little-endian. */
	void (*io_read)(struct device *dev, uint64_t offset, void *data,
			uint32_t size);
	void (*io_write)(struct device *dev, uint64_t offset, const void *data,
			 uint32_t size);
	void (*destroy)(struct device *dev);
};

struct device {
	const struct device_ops *ops;
};

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

#endif
