/* The sleep and reset registers of hardware-reduced ACPI (FADT
 * SLEEP_CONTROL_REG, SLEEP_STATUS_REG, RESET_REG): how an ACPI guest powers
 * off (`poweroff` enters S5) and resets. Three byte-wide I/O ports at
 * ACPI_SLEEP_CONTROL_PORT. */
#ifndef TERN_DEVICES_ACPI_POWER_H
#define TERN_DEVICES_ACPI_POWER_H

#include "devices/device.h"

struct acpi_power_events {
	void (*poweroff)(void *opaque);
	void (*reset)(void *opaque);
	void *opaque;
};

struct device *acpi_power_create(const struct acpi_power_events *events);

#endif
