/* The fixed-hardware PM1 registers of full (not hardware-reduced) ACPI: the
 * PM1a event block (status, enable) and control block (SCI_EN, SLP_TYP,
 * SLP_EN), ACPI 6.4 section 4.8.3. Only VMs booted through --firmware get
 * them, with a FADT that is not hardware-reduced: an OS that reads a
 * hardware-reduced FADT assumes there is no 8259 PIC, and leaves the one
 * the BIOS programmed (vector base 8, the PIT's IRQ 0 unmasked, the local
 * APIC's LINT0 in ExtINT "virtual wire" mode) to deliver the timer tick as
 * vector 8, a double fault, the moment it enables interrupts. With full
 * ACPI Linux masks and remaps the PIC as on any PC. No fixed events ever
 * fire and the SCI never asserts; ACPI mode is always on (SMI_CMD is 0),
 * so SCI_EN reads 1; a write of SLP_EN with SLP_TYP 5 (\_S5) powers off. */
#ifndef TERN_DEVICES_ACPI_PM1_H
#define TERN_DEVICES_ACPI_PM1_H

#include "devices/acpi_power.h"
#include "devices/device.h"

#define ACPI_PM1_EVT_PORT 0x608 /* status 0x608, enable 0x60a */
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT_PORT 0x60c
#define ACPI_PM1_CNT_LEN 2
#define ACPI_PM1_PORT_COUNT (ACPI_PM1_EVT_LEN + ACPI_PM1_CNT_LEN)

#define ACPI_PM1_SCI_EN 0x0001
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK 0x1c00
#define ACPI_PM1_SLP_EN 0x2000

/* events->poweroff on S5; events->reset is not used. */
struct device *acpi_pm1_create(const struct acpi_power_events *events);

#endif
