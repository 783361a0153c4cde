/* The boot-time marker port (see TERN_BOOT_MARKER_PORT in arch/x86/layout.h):
 * records and logs when the guest says it has booted. */
#ifndef TERN_DEVICES_BOOT_MARKER_H
#define TERN_DEVICES_BOOT_MARKER_H

#include <stdint.h>

#include "devices/device.h"

struct device *boot_marker_create(void);

/* Nanoseconds from tern's start to the first marker write, 0 if none yet. */
uint64_t boot_marker_elapsed_ns(struct device *dev);

#endif
