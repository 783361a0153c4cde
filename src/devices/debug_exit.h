/* QEMU's isa-debug-exit convention (tern run --debug-exit): a guest write of
 * value v to the port ends tern with exit status (v << 1) | 1, so test
 * guests (kvm-unit-tests) report pass or fail without a console parser. */
#ifndef TERN_DEVICES_DEBUG_EXIT_H
#define TERN_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "devices/device.h"

#define DEBUG_EXIT_DEFAULT_PORT 0xf4
/* kvm-unit-tests writes 4 bytes (outl), QEMU's device spans iosize=4. */
#define DEBUG_EXIT_PORT_COUNT 4

struct debug_exit_events {
	/* Called once per guest write, with the value written. */
	void (*exit)(void *opaque, uint32_t value);
	void *opaque;
};

struct device *debug_exit_create(const struct debug_exit_events *events);

/* The process exit status QEMU gives for value v: (v << 1) | 1, of which a
 * process keeps the low 8 bits. */
static inline int debug_exit_status(uint32_t value)
{
	return (int)(((value << 1) | 1) & 0xff);
}

#endif
