/* A device is one file behind one small ops table. The bus calls io_read and
 * io_write with the offset inside the device's registered range; a device
 * keeps its own lock because vCPU threads and backend threads reach it
 * concurrently. Later issues add save/restore and metrics to this table, so
 * every device grows them in one place. */
#ifndef TERN_DEVICES_DEVICE_H
#define TERN_DEVICES_DEVICE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct device;

struct device_ops {
	const char *name;
	/* size is 1, 2, 4 or 8; data holds size bytes, little-endian. */
	void (*io_read)(struct device *dev, uint64_t offset, void *data,
			uint32_t size);
	void (*io_write)(struct device *dev, uint64_t offset, const void *data,
			 uint32_t size);
	void (*destroy)(struct device *dev);

	/* Snapshots, NULL-able: a device without save cannot be snapshotted,
	 * and a snapshot of a VM holding it is refused (never half-saved). A
	 * stateless device saves 0 bytes. save: *len is the room in buf on
	 * entry, the bytes written on return (-ENOSPC: too small). restore
	 * gets those bytes back from an untrusted file: anything out of range
	 * is refused with -EINVAL before the device changes. Both run with
	 * the vCPUs stopped. */
	int (*save)(struct device *dev, void *buf, size_t *len);
	int (*restore)(struct device *dev, const void *buf, size_t len);
	/* NULL-able: refuses what restore would refuse, changing nothing. A
	 * load checks every device's bytes before it restores any device,
	 * so a bad last section does not leave the first ones restored. */
	int (*check)(struct device *dev, const void *buf, size_t len);
	/* NULL-able: once the whole VM is restored, the interrupt controllers
	 * included (their restore came after the device's and overwrote any
	 * edge the device sent in between), a device whose line is up raises
	 * it once more. */
	void (*restored)(struct device *dev);
};

/* For save hooks: copies a plain state struct into buf. */
static inline int device_save_plain(const void *state, size_t size, void *buf,
				    size_t *len)
{
	if (*len < size)
		return -ENOSPC;
	memcpy(buf, state, size);
	*len = size;
	return 0;
}

static inline int device_save_nothing(struct device *dev, void *buf,
				      size_t *len)
{
	(void)dev;
	(void)buf;
	*len = 0;
	return 0;
}

static inline int device_restore_nothing(struct device *dev, const void *buf,
					 size_t len)
{
	(void)dev;
	(void)buf;
	return len == 0 ? 0 : -EINVAL;
}

static inline int device_check_nothing(struct device *dev, const void *buf,
				       size_t len)
{
	return device_restore_nothing(dev, buf, len);
}

struct device {
	const struct device_ops *ops;
};

#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))

#endif
