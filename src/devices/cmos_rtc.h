/* MC146818-compatible CMOS real-time clock: the guest's wall-clock time at
 * boot, its rtc0 (Linux's rtc_cmos, PNP0B00 in the DSDT) for hwclock, and
 * the RTC's interrupts on ISA IRQ 8 (periodic, alarm, update-ended). */
#ifndef TERN_DEVICES_CMOS_RTC_H
#define TERN_DEVICES_CMOS_RTC_H

#include <stdbool.h>
#include <time.h>

#include "devices/device.h"
#include "devices/irq_line.h"

#define CMOS_RTC_PORT 0x70
#define CMOS_RTC_PORT_COUNT 2
#define CMOS_RTC_GSI 8
/* Where the century lives in CMOS; the FADT's CENTURY field names it. */
#define CMOS_RTC_CENTURY_REGISTER 0x32

/* Fills *ts with the current UTC time: CLOCK_REALTIME on a real VM, a fake
 * clock in tests. */
typedef void (*cmos_rtc_clock)(struct timespec *ts);

/* irq: the line the RTC drives (ISA IRQ 8), high while register C's IRQF
 * is set. Interrupt flags are kept up to date at every register access;
 * only cmos_rtc_start() makes the line rise with no access (a timer
 * thread), so tests with a fake clock simply do not call it. NULL: out of
 * memory. */
struct device *cmos_rtc_create(cmos_rtc_clock now, const struct irq_line *irq);

/* hook(opaque) runs each time the alarm interrupt rises (AF set with AIE):
 * the chipset's RTC wake event (ACPI RTC_STS, vm/vm_sleep.h). It runs with
 * the RTC's lock held, on the timer thread or a vCPU thread: it must not
 * touch the RTC. */
void cmos_rtc_set_alarm_hook(struct device *dev, void (*hook)(void *opaque),
			     void *opaque);

/* Whether the alarm interrupt is up (AF set with AIE, register C not read
 * since): a sleeping OS that left it pending is woken at once. */
bool cmos_rtc_alarm_pending(struct device *dev);

/* Starts the RTC's timer thread, which raises the interrupt line when an
 * enabled event comes due. Returns 0 or a negative errno. destroy stops it.
 */
int cmos_rtc_start(struct device *dev);

/* What the MC146818's RESET pin does when the machine resets: the clock,
 * the date format and the NVRAM stay; the interrupt enables (periodic,
 * alarm, update, square wave) and the pending flags are cleared, so a
 * rebooted guest starts without the interrupts its previous boot asked
 * for (a PC's RTC is not reset with the rest of the machine otherwise). */
void cmos_rtc_reset(struct device *dev);

#endif
