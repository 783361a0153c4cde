/* MC146818-compatible CMOS real-time clock: the guest's wall-clock time at
 * boot and for hwclock. */
#ifndef TERN_DEVICES_CMOS_RTC_H
#define TERN_DEVICES_CMOS_RTC_H

#include <time.h>

#include "devices/device.h"

#define CMOS_RTC_PORT 0x70
#define CMOS_RTC_PORT_COUNT 2

/* now() gives the current UTC time (time() on a real VM, a fixed clock in
 * tests). */
struct device *cmos_rtc_create(time_t (*now)(void));

#endif
