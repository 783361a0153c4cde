/* Time registers are computed from the host clock on every read, plus an
 * offset the guest sets by writing them (hwclock --systohc), so the guest
 * clock never drifts from the host's while tern runs. Register map:
 * MC146818A data sheet; century at 0x32 as PC firmware puts it. */
#include "devices/cmos_rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

enum {
	REG_SECONDS = 0x00,
	REG_MINUTES = 0x02,
	REG_HOURS = 0x04,
	REG_WEEKDAY = 0x06,
	REG_DAY = 0x07,
	REG_MONTH = 0x08,
	REG_YEAR = 0x09,
	REG_STATUS_A = 0x0a,
	REG_STATUS_B = 0x0b,
	REG_STATUS_C = 0x0c,
	REG_STATUS_D = 0x0d,
	REG_CENTURY = 0x32,
};

#define CMOS_SIZE 128
#define INDEX_MASK 0x7f /* bit 7 of the index port is the NMI mask */

#define STATUS_A_DIVIDER_32KHZ 0x26
#define STATUS_B_24_HOUR 0x02
#define STATUS_B_BINARY 0x04
#define STATUS_B_SET 0x80
#define STATUS_D_VALID_RAM 0x80

/* How far the guest's clock may be from host time: 2^40 s, about 34,800
 * years either way. The registers name years up to 25599 (century and
 * year 255 in binary mode), which lies inside; a guest that walks its
 * clock further with repeated writes stops here. The bound keeps host time
 * plus the offset far from overflowing time_t and inside the years
 * gmtime_r() can represent (an int tm_year), so it is also what a restored
 * offset must lie in: tern never saves one beyond it. */
#define RTC_OFFSET_MAX (1LL << 40)

struct cmos_rtc {
	struct device dev;
	pthread_mutex_t lock;
	time_t (*now)(void);
	time_t offset; /* guest time minus host time, set by guest writes */
	uint8_t index;
	uint8_t nvram[CMOS_SIZE];
};

static struct cmos_rtc *to_rtc(struct device *dev)
{
	return container_of(dev, struct cmos_rtc, dev);
}

static int is_time_register(uint8_t reg)
{
	return reg <= REG_YEAR || reg == REG_CENTURY;
}

static uint8_t encode(const struct cmos_rtc *rtc, int value)
{
	if (rtc->nvram[REG_STATUS_B] & STATUS_B_BINARY)
		return (uint8_t)value;
	return (uint8_t)(((value / 10) << 4) | (value % 10));
}

static int decode(const struct cmos_rtc *rtc, uint8_t value)
{
	if (rtc->nvram[REG_STATUS_B] & STATUS_B_BINARY)
		return value;
	return (value >> 4) * 10 + (value & 0x0f);
}

static bool offset_in_range(int64_t offset)
{
	return offset >= -RTC_OFFSET_MAX && offset <= RTC_OFFSET_MAX;
}

/* The guest's current date. With the offset bounded neither step fails
 * for any host clock a machine has, but should now() be absurd, the guest
 * reads 1970-01-01 00:00:00 (a Thursday), never uninitialised bytes (a
 * failing gmtime_r() leaves fields of tm unwritten). */
static void guest_date(const struct cmos_rtc *rtc, struct tm *tm)
{
	time_t t;

	if (__builtin_add_overflow(rtc->now(), rtc->offset, &t) ||
	    !gmtime_r(&t, tm))
		*tm = (struct tm){.tm_mday = 1, .tm_year = 70, .tm_wday = 4};
}

static uint8_t read_time_register(struct cmos_rtc *rtc, uint8_t reg)
{
	struct tm tm;

	guest_date(rtc, &tm);
	switch (reg) {
	case REG_SECONDS:
		return encode(rtc, tm.tm_sec);
	case REG_MINUTES:
		return encode(rtc, tm.tm_min);
	case REG_HOURS:
		return encode(rtc, tm.tm_hour);
	case REG_WEEKDAY:
		return encode(rtc, tm.tm_wday + 1);
	case REG_DAY:
		return encode(rtc, tm.tm_mday);
	case REG_MONTH:
		return encode(rtc, tm.tm_mon + 1);
	case REG_YEAR:
		return encode(rtc, (tm.tm_year + 1900) % 100);
	case REG_CENTURY:
		return encode(rtc, (tm.tm_year + 1900) / 100);
	}
	return rtc->nvram[reg]; /* alarm registers: stored values */
}

/* The guest sets the clock one register at a time; fold each write into the
 * offset by rebuilding the date with that field replaced. */
static void write_time_register(struct cmos_rtc *rtc, uint8_t reg,
				uint8_t value)
{
	int field = decode(rtc, value);
	struct tm tm;
	time_t updated, offset;

	guest_date(rtc, &tm);
	switch (reg) {
	case REG_SECONDS:
		tm.tm_sec = field;
		break;
	case REG_MINUTES:
		tm.tm_min = field;
		break;
	case REG_HOURS:
		tm.tm_hour = field;
		break;
	case REG_DAY:
		tm.tm_mday = field;
		break;
	case REG_MONTH:
		tm.tm_mon = field - 1;
		break;
	case REG_YEAR:
		tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + field - 1900;
		break;
	case REG_CENTURY:
		tm.tm_year = field * 100 + (tm.tm_year + 1900) % 100 - 1900;
		break;
	default: /* weekday and alarms are derived or unused */
		rtc->nvram[reg] = value;
		return;
	}
	/* A date timegm() cannot represent, or one beyond RTC_OFFSET_MAX,
	 * leaves the clock as it was. */
	updated = timegm(&tm);
	if (updated != (time_t)-1 &&
	    !__builtin_sub_overflow(updated, rtc->now(), &offset) &&
	    offset_in_range(offset))
		rtc->offset = offset;
}

static void rtc_io_read(struct device *dev, uint64_t offset, void *data,
			uint32_t size)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	uint8_t *bytes = data;

	pthread_mutex_lock(&rtc->lock);
	if (offset == 0)
		bytes[0] = 0xff; /* the index port is write-only */
	else if (is_time_register(rtc->index))
		bytes[0] = read_time_register(rtc, rtc->index);
	else
		bytes[0] = rtc->nvram[rtc->index];
	/* Status C reports and clears pending interrupt flags; none are
	 * raised, so reading it always gives 0. */
	pthread_mutex_unlock(&rtc->lock);
	for (uint32_t i = 1; i < size; i++)
		bytes[i] = 0xff;
}

static void rtc_io_write(struct device *dev, uint64_t offset, const void *data,
			 uint32_t size)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	uint8_t value = *(const uint8_t *)data;

	pthread_mutex_lock(&rtc->lock);
	if (offset == 0) {
		rtc->index = value & INDEX_MASK;
	} else if (is_time_register(rtc->index)) {
		write_time_register(rtc, rtc->index, value);
	} else if (rtc->index == REG_STATUS_A) {
		/* UIP (bit 7) is read-only and always clear: the registers
		 * are always consistent because they are computed. */
		rtc->nvram[REG_STATUS_A] = value & 0x7f;
	} else if (rtc->index != REG_STATUS_C && rtc->index != REG_STATUS_D) {
		rtc->nvram[rtc->index] = value;
	}
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_destroy(struct device *dev)
{
	struct cmos_rtc *rtc = to_rtc(dev);

	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

/* The guest's clock offset from host time (so a guest that set its RTC keeps
 * its setting), the index latch and the NVRAM. */
struct cmos_rtc_state {
	int64_t offset;
	uint8_t index;
	uint8_t pad[7];
	uint8_t nvram[CMOS_SIZE];
};

static int rtc_save(struct device *dev, void *buf, size_t *len)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	struct cmos_rtc_state st;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&rtc->lock);
	st.offset = (int64_t)rtc->offset;
	st.index = rtc->index;
	memcpy(st.nvram, rtc->nvram, sizeof(st.nvram));
	pthread_mutex_unlock(&rtc->lock);
	return device_save_plain(&st, sizeof(st), buf, len);
}

static int rtc_check(struct device *dev, const void *buf, size_t len)
{
	struct cmos_rtc_state st;

	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, buf, sizeof(st));
	if (st.index > INDEX_MASK)
		return -EINVAL;
	if (!offset_in_range(st.offset)) {
		log_error("cmos-rtc: the saved clock is %lld s from host time, "
			  "more than the %lld s a guest may set",
			  (long long)st.offset, (long long)RTC_OFFSET_MAX);
		return -EINVAL;
	}
	return 0;
}

static int rtc_restore(struct device *dev, const void *buf, size_t len)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	struct cmos_rtc_state st;
	int ret = rtc_check(dev, buf, len);

	if (ret)
		return ret;
	memcpy(&st, buf, sizeof(st));
	pthread_mutex_lock(&rtc->lock);
	rtc->offset = (time_t)st.offset;
	rtc->index = st.index;
	memcpy(rtc->nvram, st.nvram, sizeof(rtc->nvram));
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

static const struct device_ops cmos_rtc_ops = {
	.save = rtc_save,
	.restore = rtc_restore,
	.check = rtc_check,
	.name = "cmos-rtc",
	.io_read = rtc_io_read,
	.io_write = rtc_io_write,
	.destroy = rtc_destroy,
};

struct device *cmos_rtc_create(time_t (*now)(void))
{
	struct cmos_rtc *rtc = calloc(1, sizeof(*rtc));

	if (!rtc)
		return NULL;
	rtc->dev.ops = &cmos_rtc_ops;
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = now;
	rtc->nvram[REG_STATUS_A] = STATUS_A_DIVIDER_32KHZ;
	rtc->nvram[REG_STATUS_B] = STATUS_B_24_HOUR;
	rtc->nvram[REG_STATUS_D] = STATUS_D_VALID_RAM;
	return &rtc->dev;
}
