/* multiboot_s3.S without the RTC alarm: it sleeps until the power button
 * (the API's SendPowerButton) wakes it, and checks PWRBTN_STS instead of
 * RTC_STS in PM1. */
#define NO_ALARM
#include "multiboot_s3.S"
