/* The power button of hardware-reduced ACPI: a Generic Event Device (_HID
 * ACPI0013, ACPI 6.4 section 5.6.9) whose one interrupt means "the power
 * button was pressed". The DSDT (arch/x86/acpi) describes it with an
 * edge-triggered, active-high Interrupt resource on ACPI_GED_GSI and an
 * _EVT method that notifies the power button device (PNP0C0C, \_SB.PWRB)
 * with 0x80; Linux's GED driver runs _EVT on each edge, its button driver
 * turns the notification into KEY_POWER, and systemd-logind (or acpid)
 * shuts the system down. An edge needs no register to acknowledge it, so
 * the device has no ports and no guest-visible state: only its counter of
 * presses, a metric. Full ACPI (--firmware) uses the PM1 fixed power button
 * of devices/acpi_pm1.h instead. */
#ifndef TERN_DEVICES_ACPI_GED_H
#define TERN_DEVICES_ACPI_GED_H

#include <stdint.h>

#include "devices/device.h"
#include "devices/irq_line.h"

/* An ISA pin nothing else uses: in hardware-reduced ACPI the OS maps only
 * the ISA interrupts the DSDT lists, and 16-23 are virtio-mmio's. */
#define ACPI_GED_GSI 5

/* irq: the GED's interrupt line (ACPI_GED_GSI). */
struct device *acpi_ged_create(const struct irq_line *irq);

/* One press of the power button: an edge on the interrupt line. The caller
 * checks that the guest listens (an edge on a masked IOAPIC pin is lost). */
void acpi_ged_press_power_button(struct device *dev);

/* Presses since the device was created, for metrics. */
uint64_t acpi_ged_power_button_presses(struct device *dev);

#endif
