/* The fixed-hardware PM1 registers of full (not hardware-reduced) ACPI: the
 * PM1a event block (status, enable) and control block (SCI_EN, SLP_TYP,
 * SLP_EN), ACPI 6.4 section 4.8.3. Only VMs booted through --firmware (or
 * with --acpi full) get them, with a FADT that is not hardware-reduced: an
 * OS that reads a hardware-reduced FADT assumes there is no 8259 PIC, and
 * leaves the one the BIOS programmed (vector base 8, the PIT's IRQ 0 unmasked,
 * the local APIC's LINT0 in ExtINT "virtual wire" mode) to deliver the timer
 * tick as vector 8, a double fault, the moment it enables interrupts. With full
 * ACPI Linux masks and remaps the PIC as on any PC. The one fixed event is
 * the power button (PWRBTN_STS/PWRBTN_EN, ACPI 6.4 section 4.8.3.1): a
 * press sets its status bit, and the SCI (level-triggered, FADT SCI_INT)
 * is asserted while a status bit is set whose enable bit is set too; the
 * OS clears the status by writing 1 to it. ACPI mode is always on (SMI_CMD
 * is 0), so SCI_EN reads 1; a write of SLP_EN with SLP_TYP 5 (\_S5) powers
 * off, with SLP_TYP 1 sleeps in S3 (vm/vm_sleep.h). Wake events: the RTC
 * alarm (RTC_STS, always set on an alarm interrupt; it wakes when RTC_EN is
 * set, and raises the SCI while awake) and the power button (which always
 * wakes a sleeping machine); a wake sets WAK_STS (bit 15, no enable bit,
 * no SCI). Also built for a direct kernel boot with --acpi full. */
#ifndef TERN_DEVICES_ACPI_PM1_H
#define TERN_DEVICES_ACPI_PM1_H

#include "devices/acpi_power.h"
#include "devices/device.h"
#include "devices/irq_line.h"

#define ACPI_PM1_EVT_PORT 0x608 /* status 0x608, enable 0x60a */
#define ACPI_PM1_EVT_LEN 4
#define ACPI_PM1_CNT_PORT 0x60c
#define ACPI_PM1_CNT_LEN 2
#define ACPI_PM1_PORT_COUNT (ACPI_PM1_EVT_LEN + ACPI_PM1_CNT_LEN)

#define ACPI_PM1_PWRBTN 0x0100 /* status and enable: the same bit */
#define ACPI_PM1_RTC 0x0400 /* RTC_STS and RTC_EN */
#define ACPI_PM1_WAK 0x8000 /* WAK_STS, status only */
#define ACPI_PM1_SCI_EN 0x0001
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_TYP_MASK 0x1c00
#define ACPI_PM1_SLP_EN 0x2000

/* The FADT's SCI_INT: the ISA SCI pin, as on a PC. */
#define ACPI_PM1_SCI_GSI 9

/* events->poweroff on S5, ->sleep on S3, ->wake on a wake event while
 * asleep; events->reset is not used. sci: the SCI's line
 * (ACPI_PM1_SCI_GSI), or NULL for none. */
struct device *acpi_pm1_create(const struct acpi_power_events *events,
			       const struct irq_line *sci);

/* One press of the fixed power button. Returns -ENODEV while the OS has not
 * enabled the button's event (PWRBTN_EN clear: nobody would hear it),
 * unless the VM sleeps: then the press wakes it. */
int acpi_pm1_press_power_button(struct device *dev);

/* The RTC's alarm interrupt fired (devices/cmos_rtc.h's alarm hook):
 * RTC_STS; wakes a sleeping VM when RTC_EN is set. */
void acpi_pm1_rtc_alarm(struct device *dev);

/* The control register's fields, for the decoding tests: the sleep type a
 * value written to PM1_CNT enters, or -1 when SLP_EN is clear. */
int acpi_pm1_sleep_request(uint16_t control);

/* Presses accepted since the device was created, for metrics. */
uint64_t acpi_pm1_power_button_presses(struct device *dev);

#endif
