/* A byte-wide I/O port whose write resets the machine when the value
 * matches: the PC's reset control register (port 0xcf9: bit 2, "reset
 * CPU", set), and tern's own reset port that the reset-vector ROM writes
 * (src/arch/x86/reset_rom.c). Stateless: every reset tern does is a full
 * one, so the register's reset-type bits are not kept and read as 0. */
#ifndef TERN_DEVICES_RESET_PORT_H
#define TERN_DEVICES_RESET_PORT_H

#include <stdint.h>

#include "devices/device.h"

/* Intel I/O controller hubs' Reset Control Register (ICH9 datasheet,
 * section 13.7.5; PIIX3's "RC"); reached through the PCI bus, whose
 * configuration ports surround it. */
#define RESET_CONTROL_PORT 0xcf9
#define RESET_CONTROL_RESET_CPU 0x04

struct reset_port_events {
	void (*reset)(void *opaque);
	void *opaque;
};

/* Resets when (byte & mask) == match; any other write, and any access wider
 * than a byte, is ignored. name: the ops name (snapshots list devices by
 * it). NULL: out of memory. */
struct device *reset_port_create(const char *name, uint8_t mask, uint8_t match,
				 const struct reset_port_events *events);

#endif
