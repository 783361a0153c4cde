/* The sleep and reset registers of hardware-reduced ACPI (FADT
 * SLEEP_CONTROL_REG, SLEEP_STATUS_REG, RESET_REG): how an ACPI guest powers
 * off (`poweroff` enters S5), sleeps (S3, suspend to RAM: vm/vm_sleep.h)
 * and resets. Three byte-wide I/O ports at ACPI_SLEEP_CONTROL_PORT. The
 * status register's WAK_STS (bit 7) is set when the VM wakes from S3 and
 * cleared by writing 1 to it (ACPI 6.4 section 4.8.3.7). */
#ifndef TERN_DEVICES_ACPI_POWER_H
#define TERN_DEVICES_ACPI_POWER_H

#include <stdint.h>

#include "devices/device.h"

struct acpi_power_events {
	void (*poweroff)(void *opaque);
	void (*reset)(void *opaque);
	void *opaque;
	/* ACPI S3 (vm/vm_sleep.h). sleep: the guest wrote SLP_EN with the S3
	 * sleep type; NULL: S3 is ignored, as a chipset ignores a state it
	 * does not implement. wake: a wake event; returns 1 when the VM was
	 * asleep and now wakes (the device then sets WAK_STS), 0 when it was
	 * awake. Called with the device's lock held: it must not call back
	 * into the device. */
	void (*sleep)(void *opaque);
	int (*wake)(void *opaque, const char *why);
};

struct device *acpi_power_create(const struct acpi_power_events *events);

/* Wake events of hardware-reduced ACPI, which has no enable bits for them:
 * the RTC's alarm interrupt (the RTC is its own wake device) and the power
 * button. Each wakes a sleeping VM and sets WAK_STS in the sleep status
 * register; returns 1 if it woke the VM, 0 if the VM was awake (the event
 * is then the device's own business: the RTC's IRQ 8, the GED's button). */
int acpi_power_wake(struct device *dev, const char *why);

/* The sleep control register's fields, for the decoding tests: the sleep
 * type a write of value enters (ACPI_SLEEP_TYPE_*), or -1 when SLP_EN is
 * clear. */
int acpi_power_sleep_request(uint8_t value);

#endif
