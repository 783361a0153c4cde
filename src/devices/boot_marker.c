#include "devices/boot_marker.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "arch/x86/layout.h"
#include "util/log.h"

struct boot_marker {
	struct device dev;
	_Atomic uint64_t first_marker_ns;
};

static struct boot_marker *to_marker(struct device *dev)
{
	return container_of(dev, struct boot_marker, dev);
}

static void marker_io_write(struct device *dev, uint64_t offset,
			    const void *data, uint32_t size)
{
	struct boot_marker *marker = to_marker(dev);
	uint64_t expected = 0;
	uint64_t now;

	if (*(const uint8_t *)data != TERN_BOOT_MARKER_VALUE)
		return;
	now = log_elapsed_ns();
	/* Only the first marker counts: a guest writing it again (a second
	 * init, a reboot loop) must not move the boot time. */
	if (atomic_compare_exchange_strong(&marker->first_marker_ns, &expected,
					   now))
		log_info("guest boot marker after %.3f ms", (double)now / 1e6);
}

static void marker_destroy(struct device *dev)
{
	free(to_marker(dev));
}

/* Its one timestamp measures this process's boot, not the guest's state. */
static const struct device_ops boot_marker_ops = {
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.check = device_check_nothing,
	.name = "boot-marker",
	.io_write = marker_io_write,
	.destroy = marker_destroy,
};

struct device *boot_marker_create(void)
{
	struct boot_marker *marker = calloc(1, sizeof(*marker));

	if (!marker)
		return NULL;
	marker->dev.ops = &boot_marker_ops;
	return &marker->dev;
}

uint64_t boot_marker_elapsed_ns(struct device *dev)
{
	return atomic_load(&to_marker(dev)->first_marker_ns);
}
