/* Register map and behaviour: MC146818A data sheet; century at 0x32 as PC
 * firmware puts it (and the FADT says).
 *
 * Time. The date registers are computed from the host clock on every read,
 * plus an offset in whole seconds that the guest sets by writing them
 * (hwclock --systohc), so the guest clock never drifts from the host's
 * while tern runs, and a snapshot or migration carries the offset, not a
 * date that would stand still while the VM is saved. Update cycles happen
 * at the host's second boundaries. While the guest holds the clock
 * (register B's SET, or the divider in reset: what Linux does while it
 * sets the time) the time registers are plain bytes that it writes one by
 * one; releasing the clock turns them into the new offset. A date written
 * with the clock running is folded into the offset at each write.
 *
 * Interrupts. Register C's flags are never stored ahead of time: every
 * access first brings them up to now from the host time they were last
 * brought to (`checked`): an update (UF) if a second boundary passed, an
 * alarm (AF) if a second matching the alarm registers was reached, a
 * periodic tick (PF) if a period boundary passed. IRQF and the IRQ 8 line
 * follow C's flags masked by B's enables; reading C clears them.
 *
 * Timer. For the line to rise with no guest access, one thread per RTC
 * sleeps until the next enabled event (or until an access changes what
 * that is) and then does the same catch-up. A thread of its own is the
 * smallest piece that can do it: the platform devices have no event loop
 * (vCPU threads call them), and the virtio I/O threads belong to their
 * devices and are stopped around snapshots. It sleeps on a condition
 * variable over CLOCK_MONOTONIC, never longer than a second while an
 * interrupt is enabled (so a stepped host clock is noticed), and not at
 * all with none enabled or IRQF already set. What the guest reads never
 * depends on when the thread ran: it only decides when the line rises. */
#include "devices/cmos_rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "sandbox/seccomp.h"
#include "util/thread.h"

enum {
	REG_SECONDS = 0x00,
	REG_SECONDS_ALARM = 0x01,
	REG_MINUTES = 0x02,
	REG_MINUTES_ALARM = 0x03,
	REG_HOURS = 0x04,
	REG_HOURS_ALARM = 0x05,
	REG_WEEKDAY = 0x06,
	REG_DAY = 0x07,
	REG_MONTH = 0x08,
	REG_YEAR = 0x09,
	REG_STATUS_A = 0x0a,
	REG_STATUS_B = 0x0b,
	REG_STATUS_C = 0x0c,
	REG_STATUS_D = 0x0d,
	REG_CENTURY = CMOS_RTC_CENTURY_REGISTER,
};

#define CMOS_SIZE 128
#define INDEX_MASK 0x7f /* bit 7 of the index port is the NMI mask */

#define STATUS_A_UIP 0x80
#define STATUS_A_DIVIDER_MASK 0x70
#define STATUS_A_DIVIDER_32KHZ 0x20
#define STATUS_A_DIVIDER_RESET 0x60 /* both bits: the chain is held */
#define STATUS_A_RATE_MASK 0x0f
#define STATUS_B_SET 0x80
#define STATUS_B_PIE 0x40
#define STATUS_B_AIE 0x20
#define STATUS_B_UIE 0x10
#define STATUS_B_SQWE 0x08
#define STATUS_B_BINARY 0x04
#define STATUS_B_24_HOUR 0x02
#define STATUS_C_IRQF 0x80
#define STATUS_C_PF 0x40
#define STATUS_C_AF 0x20
#define STATUS_C_UF 0x10
#define STATUS_C_FLAGS (STATUS_C_PF | STATUS_C_AF | STATUS_C_UF)
#define STATUS_D_VALID_RAM 0x80
#define HOURS_PM 0x80 /* 12-hour mode */
#define ALARM_DONT_CARE 0xc0 /* both top bits: any value matches */

#define NS_PER_S 1000000000LL
/* UIP rises this long before each update (data sheet: 244 us at 32 kHz),
 * so a guest that sees it clear has that long to read a consistent date. */
#define UIP_LEAD_NS 244141
#define TIME_BASE_HZ 32768
#define SECONDS_PER_DAY 86400

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
	pthread_cond_t wake; /* the timer thread's sleep; CLOCK_MONOTONIC */
	pthread_t thread;
	bool thread_started, stopping;
	cmos_rtc_clock now;
	struct irq_line irq;
	int irq_level;
	/* The alarm hook (cmos_rtc_set_alarm_hook) and whether the alarm's
	 * interrupt was up when it last looked. */
	void (*alarm_hook)(void *opaque);
	void *alarm_opaque;
	bool alarm_up;
	time_t offset; /* guest time minus host time, set by guest writes */
	struct timespec checked; /* host time C's flags are brought up to */
	uint8_t index;
	/* Status registers, alarms, the NVRAM and, while the clock is held,
	 * the time registers as the guest wrote them. C holds only PF, AF
	 * and UF; IRQF is computed. */
	uint8_t nvram[CMOS_SIZE];
};

static struct cmos_rtc *to_rtc(struct device *dev)
{
	return container_of(dev, struct cmos_rtc, dev);
}

static int is_alarm_register(uint8_t reg)
{
	return reg == REG_SECONDS_ALARM || reg == REG_MINUTES_ALARM ||
		reg == REG_HOURS_ALARM;
}

static int is_time_register(uint8_t reg)
{
	return (reg <= REG_YEAR && !is_alarm_register(reg)) ||
		reg == REG_CENTURY;
}

static bool binary_mode(const struct cmos_rtc *rtc)
{
	return rtc->nvram[REG_STATUS_B] & STATUS_B_BINARY;
}

static bool hour_24_mode(const struct cmos_rtc *rtc)
{
	return rtc->nvram[REG_STATUS_B] & STATUS_B_24_HOUR;
}

static bool divider_running(const struct cmos_rtc *rtc)
{
	return (rtc->nvram[REG_STATUS_A] & STATUS_A_DIVIDER_RESET) !=
		STATUS_A_DIVIDER_RESET;
}

/* Updates stop while the guest sets the time or holds the divider. */
static bool clock_held(const struct cmos_rtc *rtc)
{
	return (rtc->nvram[REG_STATUS_B] & STATUS_B_SET) ||
		!divider_running(rtc);
}

static uint8_t encode(const struct cmos_rtc *rtc, int value)
{
	if (binary_mode(rtc))
		return (uint8_t)value;
	return (uint8_t)(((value / 10) << 4) | (value % 10));
}

static int decode(const struct cmos_rtc *rtc, uint8_t value)
{
	if (binary_mode(rtc))
		return value;
	return (value >> 4) * 10 + (value & 0x0f);
}

static uint8_t encode_hour(const struct cmos_rtc *rtc, int hour)
{
	if (hour_24_mode(rtc))
		return encode(rtc, hour);
	return (uint8_t)(encode(rtc, hour % 12 ? hour % 12 : 12) |
			 (hour >= 12 ? HOURS_PM : 0));
}

/* 0-23 from a register; out-of-range values stay out of range. */
static int decode_hour(const struct cmos_rtc *rtc, uint8_t value)
{
	int hour;

	if (hour_24_mode(rtc))
		return decode(rtc, value);
	hour = decode(rtc, value & (uint8_t)~HOURS_PM);
	if (hour == 12)
		hour = 0;
	return hour + (value & HOURS_PM ? 12 : 0);
}

static bool offset_in_range(int64_t offset)
{
	return offset >= -RTC_OFFSET_MAX && offset <= RTC_OFFSET_MAX;
}

static int timespec_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* The years the registers can name: century 0-255 (binary) and year 0-99.
 * The offset's bound alone allows years before 0, whose fields would encode
 * as negative numbers. */
#define RTC_YEAR_MAX 25599

static bool year_nameable(long long year)
{
	return year >= 0 && year <= RTC_YEAR_MAX;
}

/* The guest's second at host second host_s; false on overflow (an absurd
 * host clock). */
static bool guest_second(const struct cmos_rtc *rtc, time_t host_s,
			 time_t *guest_s)
{
	return !__builtin_add_overflow(host_s, rtc->offset, guest_s);
}

/* The guest's date at host second host_s. With the offset bounded neither
 * step fails for any host clock a machine has, but should the clock be
 * absurd, the guest reads 1970-01-01 00:00:00 (a Thursday), never
 * uninitialised bytes (a failing gmtime_r() leaves fields of tm
 * unwritten). */
static void guest_date(const struct cmos_rtc *rtc, time_t host_s, struct tm *tm)
{
	time_t t;

	if (!guest_second(rtc, host_s, &t) || !gmtime_r(&t, tm) ||
	    !year_nameable(tm->tm_year + 1900))
		*tm = (struct tm){.tm_mday = 1, .tm_year = 70, .tm_wday = 4};
}

static uint8_t time_field(const struct cmos_rtc *rtc, const struct tm *tm,
			  uint8_t reg)
{
	switch (reg) {
	case REG_SECONDS:
		return encode(rtc, tm->tm_sec);
	case REG_MINUTES:
		return encode(rtc, tm->tm_min);
	case REG_HOURS:
		return encode_hour(rtc, tm->tm_hour);
	case REG_WEEKDAY:
		return encode(rtc, tm->tm_wday + 1);
	case REG_DAY:
		return encode(rtc, tm->tm_mday);
	case REG_MONTH:
		return encode(rtc, tm->tm_mon + 1);
	case REG_YEAR:
		return encode(rtc, (tm->tm_year + 1900) % 100);
	case REG_CENTURY:
		return encode(rtc, (tm->tm_year + 1900) / 100);
	}
	return rtc->nvram[reg];
}

/* Sets the offset so that the guest's date is tm at host second host_s. A
 * date timegm() cannot represent, one past the years the registers hold, or
 * one beyond RTC_OFFSET_MAX leaves the clock as it was. */
static void set_guest_date(struct cmos_rtc *rtc, struct tm *tm, time_t host_s)
{
	time_t updated = timegm(tm), offset;

	if (updated != (time_t)-1 && year_nameable(tm->tm_year + 1900LL) &&
	    !__builtin_sub_overflow(updated, host_s, &offset) &&
	    offset_in_range(offset))
		rtc->offset = offset;
}

/* A write with the clock running: the date rebuilt with that field
 * replaced. The weekday is derived, and the alarms are plain bytes. */
static void write_running_time(struct cmos_rtc *rtc, uint8_t reg, uint8_t value,
			       time_t host_s)
{
	int field = decode(rtc, value);
	struct tm tm;

	guest_date(rtc, host_s, &tm);
	switch (reg) {
	case REG_SECONDS:
		tm.tm_sec = field;
		break;
	case REG_MINUTES:
		tm.tm_min = field;
		break;
	case REG_HOURS:
		tm.tm_hour = decode_hour(rtc, value);
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
	default:
		return;
	}
	set_guest_date(rtc, &tm, host_s);
}

/* The clock stops: its registers become bytes holding the current date. */
static void hold_clock(struct cmos_rtc *rtc, time_t host_s)
{
	static const uint8_t regs[] = {REG_SECONDS, REG_MINUTES, REG_HOURS,
				       REG_WEEKDAY, REG_DAY,	 REG_MONTH,
				       REG_YEAR,    REG_CENTURY};
	struct tm tm;

	guest_date(rtc, host_s, &tm);
	for (size_t i = 0; i < sizeof(regs); i++)
		rtc->nvram[regs[i]] = time_field(rtc, &tm, regs[i]);
}

/* The clock runs again from the date the guest left in the registers (the
 * weekday is derived from it, as a guest's value could disagree). */
static void release_clock(struct cmos_rtc *rtc, time_t host_s)
{
	const uint8_t *r = rtc->nvram;
	struct tm tm = {
		.tm_sec = decode(rtc, r[REG_SECONDS]),
		.tm_min = decode(rtc, r[REG_MINUTES]),
		.tm_hour = decode_hour(rtc, r[REG_HOURS]),
		.tm_mday = decode(rtc, r[REG_DAY]),
		.tm_mon = decode(rtc, r[REG_MONTH]) - 1,
		.tm_year = decode(rtc, r[REG_CENTURY]) * 100 +
			decode(rtc, r[REG_YEAR]) - 1900,
	};

	set_guest_date(rtc, &tm, host_s);
}

/* Alarm register value: -1 for "don't care", 0-59 (or 0-23 for hours), or
 * -2 for a value that never matches. */
static int alarm_value(const struct cmos_rtc *rtc, uint8_t reg, int limit)
{
	uint8_t v = rtc->nvram[reg];
	int value;

	if ((v & ALARM_DONT_CARE) == ALARM_DONT_CARE)
		return -1;
	value = reg == REG_HOURS_ALARM ? decode_hour(rtc, v) : decode(rtc, v);
	return value >= 0 && value < limit ? value : -2;
}

/* The first guest second after `after` whose time of day matches the
 * alarm registers, or INT64_MAX when none ever does. Each step jumps to
 * the next hour, minute or second that can match, so a handful do. */
static int64_t next_alarm(const struct cmos_rtc *rtc, int64_t after)
{
	int as = alarm_value(rtc, REG_SECONDS_ALARM, 60);
	int am = alarm_value(rtc, REG_MINUTES_ALARM, 60);
	int ah = alarm_value(rtc, REG_HOURS_ALARM, 24);
	int64_t t;

	if (as == -2 || am == -2 || ah == -2 ||
	    __builtin_add_overflow(after, 1, &t))
		return INT64_MAX;
	for (int step = 0; step < 16 && t < INT64_MAX - 2 * SECONDS_PER_DAY;
	     step++) {
		int64_t tod = ((t % SECONDS_PER_DAY) + SECONDS_PER_DAY) %
			SECONDS_PER_DAY;
		int h = (int)(tod / 3600), m = (int)(tod / 60 % 60),
		    s = (int)(tod % 60);
		int64_t into_hour = m * 60 + s;

		if (ah >= 0 && h != ah)
			t += ((ah - h + 24) % 24) * 3600 - into_hour;
		else if (am >= 0 && m != am)
			t += am > m ? (am - m) * 60 - s : 3600 - into_hour;
		else if (as >= 0 && s != as)
			t += as > s ? as - s : 60 - s;
		else
			return t;
	}
	return INT64_MAX;
}

/* The periodic interrupt's period in 1/32768 s, from register A's rate
 * select (data sheet table 3; rates 1 and 2 repeat 8 and 9), or 0 when it
 * is off. Every period divides a second. */
static uint32_t periodic_ticks(const struct cmos_rtc *rtc)
{
	unsigned rate = rtc->nvram[REG_STATUS_A] & STATUS_A_RATE_MASK;

	if (rate == 0 || !divider_running(rtc))
		return 0;
	return rate <= 2 ? 1u << (rate + 6) : 1u << (rate - 1);
}

/* Within its second, the 1/32768 s tick ts lies in. */
static int64_t time_base_tick(const struct timespec *ts)
{
	return (int64_t)ts->tv_nsec * TIME_BASE_HZ / NS_PER_S;
}

static bool period_passed(const struct timespec *from,
			  const struct timespec *to, uint32_t period)
{
	return from->tv_sec != to->tv_sec ||
		time_base_tick(from) / period != time_base_tick(to) / period;
}

/* C's flags for what happened from `checked` to now, under the current
 * registers (each register change catches up first). */
static void catch_up(struct cmos_rtc *rtc, const struct timespec *now)
{
	uint32_t period = periodic_ticks(rtc);
	time_t from, to;

	if (timespec_cmp(now, &rtc->checked) <= 0) {
		/* The host clock went back: count from here. */
		rtc->checked = *now;
		return;
	}
	if (period && period_passed(&rtc->checked, now, period))
		rtc->nvram[REG_STATUS_C] |= STATUS_C_PF;
	if (!clock_held(rtc) && now->tv_sec != rtc->checked.tv_sec) {
		rtc->nvram[REG_STATUS_C] |= STATUS_C_UF;
		if (guest_second(rtc, rtc->checked.tv_sec, &from) &&
		    guest_second(rtc, now->tv_sec, &to) &&
		    next_alarm(rtc, from) <= to)
			rtc->nvram[REG_STATUS_C] |= STATUS_C_AF;
	}
	rtc->checked = *now;
}

static bool irqf(const struct cmos_rtc *rtc)
{
	return rtc->nvram[REG_STATUS_C] & rtc->nvram[REG_STATUS_B] &
		STATUS_C_FLAGS;
}

/* The line follows IRQF: a rising edge for each interrupt, as ISA IRQ 8
 * is edge-triggered. The alarm hook hears each alarm interrupt on its own,
 * whether or not IRQF was already up for another flag: a PC chipset's
 * RTC_STS follows the alarm. */
static void update_irq(struct cmos_rtc *rtc)
{
	int level = irqf(rtc);
	bool alarm = rtc->nvram[REG_STATUS_C] & rtc->nvram[REG_STATUS_B] &
		STATUS_C_AF;

	if (alarm && !rtc->alarm_up && rtc->alarm_hook)
		rtc->alarm_hook(rtc->alarm_opaque);
	rtc->alarm_up = alarm;

	if (level != rtc->irq_level) {
		rtc->irq_level = level;
		irq_line_set(&rtc->irq, level);
	}
}

static void now_and_catch_up(struct cmos_rtc *rtc, struct timespec *now)
{
	rtc->now(now);
	catch_up(rtc, now);
}

static uint8_t read_status_a(struct cmos_rtc *rtc, const struct timespec *now)
{
	uint8_t a = rtc->nvram[REG_STATUS_A];

	if (!clock_held(rtc) && now->tv_nsec >= NS_PER_S - UIP_LEAD_NS)
		a |= STATUS_A_UIP;
	return a;
}

static uint8_t read_register(struct cmos_rtc *rtc, uint8_t reg)
{
	struct timespec now;
	struct tm tm;
	uint8_t value;

	now_and_catch_up(rtc, &now);
	if (reg == REG_STATUS_C) {
		value = rtc->nvram[REG_STATUS_C] |
			(irqf(rtc) ? STATUS_C_IRQF : 0);
		rtc->nvram[REG_STATUS_C] = 0;
		update_irq(rtc);
		pthread_cond_signal(&rtc->wake); /* the next event may be due */
		return value;
	}
	update_irq(rtc);
	if (reg == REG_STATUS_A)
		return read_status_a(rtc, &now);
	if (!is_time_register(reg) || clock_held(rtc))
		return rtc->nvram[reg];
	guest_date(rtc, now.tv_sec, &tm);
	return time_field(rtc, &tm, reg);
}

static void write_register(struct cmos_rtc *rtc, uint8_t reg, uint8_t value)
{
	bool held_before = clock_held(rtc);
	struct timespec now;

	now_and_catch_up(rtc, &now);
	if (is_time_register(reg) && held_before) {
		rtc->nvram[reg] = value;
	} else if (is_time_register(reg)) {
		write_running_time(rtc, reg, value, now.tv_sec);
		if (reg == REG_WEEKDAY)
			rtc->nvram[reg] = value;
	} else if (reg == REG_STATUS_A) {
		/* UIP (bit 7) is read-only. */
		rtc->nvram[REG_STATUS_A] = value & (uint8_t)~STATUS_A_UIP;
	} else if (reg == REG_STATUS_B) {
		/* Setting SET also clears UIE (data sheet). */
		if (value & STATUS_B_SET)
			value &= (uint8_t)~STATUS_B_UIE;
		rtc->nvram[REG_STATUS_B] = value;
	} else if (reg != REG_STATUS_C && reg != REG_STATUS_D) {
		rtc->nvram[reg] = value;
	}
	if (!held_before && clock_held(rtc))
		hold_clock(rtc, now.tv_sec);
	else if (held_before && !clock_held(rtc))
		release_clock(rtc, now.tv_sec);
	update_irq(rtc);
	if (reg == REG_STATUS_A || reg == REG_STATUS_B ||
	    is_time_register(reg) || is_alarm_register(reg))
		pthread_cond_signal(&rtc->wake);
}

static void rtc_io_read(struct device *dev, uint64_t offset, void *data,
			uint32_t size)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	uint8_t *bytes = data;

	pthread_mutex_lock(&rtc->lock);
	if (offset == 0)
		bytes[0] = 0xff; /* the index port is write-only */
	else
		bytes[0] = read_register(rtc, rtc->index);
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
	if (offset == 0)
		rtc->index = value & INDEX_MASK;
	else
		write_register(rtc, rtc->index, value);
	pthread_mutex_unlock(&rtc->lock);
}

static struct timespec timespec_at(time_t sec, long nsec)
{
	return (struct timespec){.tv_sec = sec, .tv_nsec = nsec};
}

static void keep_earlier(struct timespec *deadline, bool *any,
			 struct timespec candidate)
{
	if (!*any || timespec_cmp(&candidate, deadline) < 0)
		*deadline = candidate;
	*any = true;
}

/* When the next enabled interrupt comes due, in host time; false when
 * none can (none enabled, or IRQF is set already and only reading C
 * makes room for another). */
static bool next_deadline(const struct cmos_rtc *rtc,
			  const struct timespec *now, struct timespec *deadline)
{
	uint8_t enabled = rtc->nvram[REG_STATUS_B];
	uint32_t period = periodic_ticks(rtc);
	bool any = false;
	time_t guest_now, alarm;

	if (irqf(rtc))
		return false;
	if ((enabled & STATUS_B_PIE) && period) {
		int64_t tick = (time_base_tick(now) / period + 1) * period;

		/* Rounded up, so that time_base_tick() of the deadline has
		 * reached the boundary. */
		keep_earlier(deadline, &any,
			     tick >= TIME_BASE_HZ
				     ? timespec_at(now->tv_sec + 1, 0)
				     : timespec_at(now->tv_sec,
						   (long)((tick * NS_PER_S +
							   TIME_BASE_HZ - 1) /
							  TIME_BASE_HZ)));
	}
	if (clock_held(rtc))
		return any;
	if (enabled & STATUS_B_UIE)
		keep_earlier(deadline, &any, timespec_at(now->tv_sec + 1, 0));
	if ((enabled & STATUS_B_AIE) &&
	    guest_second(rtc, now->tv_sec, &guest_now)) {
		alarm = next_alarm(rtc, guest_now);
		if (alarm != INT64_MAX)
			keep_earlier(deadline, &any,
				     timespec_at(alarm - rtc->offset, 0));
	}
	return any;
}

/* How long to sleep: until the deadline, at most a second. */
static int64_t sleep_ns(const struct timespec *now,
			const struct timespec *deadline)
{
	int64_t ns;

	if (deadline->tv_sec - now->tv_sec > 1)
		return NS_PER_S;
	ns = (int64_t)(deadline->tv_sec - now->tv_sec) * NS_PER_S +
		(deadline->tv_nsec - now->tv_nsec);
	return ns < 0 ? 0 : ns > NS_PER_S ? NS_PER_S : ns;
}

static void *rtc_timer_thread(void *opaque)
{
	struct cmos_rtc *rtc = opaque;

	pthread_setname_np(pthread_self(), "rtc");
	seccomp_enter_thread(SECCOMP_THREAD_RTC);
	pthread_mutex_lock(&rtc->lock);
	while (!rtc->stopping) {
		struct timespec now, deadline, wake_at;
		int64_t ns;

		now_and_catch_up(rtc, &now);
		update_irq(rtc);
		if (!next_deadline(rtc, &now, &deadline)) {
			pthread_cond_wait(&rtc->wake, &rtc->lock);
			continue;
		}
		ns = sleep_ns(&now, &deadline);
		clock_gettime(CLOCK_MONOTONIC, &wake_at);
		ns += wake_at.tv_nsec;
		wake_at.tv_sec += ns / NS_PER_S;
		wake_at.tv_nsec = ns % NS_PER_S;
		pthread_cond_timedwait(&rtc->wake, &rtc->lock, &wake_at);
	}
	pthread_mutex_unlock(&rtc->lock);
	return NULL;
}

void cmos_rtc_set_alarm_hook(struct device *dev, void (*hook)(void *opaque),
			     void *opaque)
{
	struct cmos_rtc *rtc = to_rtc(dev);

	pthread_mutex_lock(&rtc->lock);
	rtc->alarm_hook = hook;
	rtc->alarm_opaque = opaque;
	pthread_mutex_unlock(&rtc->lock);
}

bool cmos_rtc_alarm_pending(struct device *dev)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	struct timespec now;
	bool pending;

	pthread_mutex_lock(&rtc->lock);
	now_and_catch_up(rtc, &now);
	update_irq(rtc);
	pending = rtc->alarm_up;
	pthread_mutex_unlock(&rtc->lock);
	return pending;
}

int cmos_rtc_start(struct device *dev)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	int ret;

	if (rtc->thread_started)
		return 0;
	ret = thread_start(&rtc->thread, rtc_timer_thread, rtc);
	if (ret)
		return -ret;
	rtc->thread_started = true;
	return 0;
}

static void rtc_destroy(struct device *dev)
{
	struct cmos_rtc *rtc = to_rtc(dev);

	if (rtc->thread_started) {
		pthread_mutex_lock(&rtc->lock);
		rtc->stopping = true;
		pthread_cond_signal(&rtc->wake);
		pthread_mutex_unlock(&rtc->lock);
		pthread_join(rtc->thread, NULL);
	}
	pthread_cond_destroy(&rtc->wake);
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}

/* The guest's clock offset from host time (so a guest that set its RTC keeps
 * its setting), the index latch and the registers. Since the interrupts,
 * also the host time C's flags were brought up to, so an event due while
 * the VM was saved is flagged when it runs again (an alarm set before a
 * snapshot fires after its restore). A state of the first layout (144
 * bytes, from before the interrupts) restores too. */
struct cmos_rtc_state {
	int64_t offset;
	uint8_t index;
	uint8_t pad[7];
	uint8_t nvram[CMOS_SIZE];
	/* Second layout. */
	int64_t checked_sec;
	int64_t checked_nsec;
};

#define STATE_FIRST_LAYOUT_SIZE offsetof(struct cmos_rtc_state, checked_sec)

static int rtc_save(struct device *dev, void *buf, size_t *len)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	struct cmos_rtc_state st;
	struct timespec now;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&rtc->lock);
	now_and_catch_up(rtc, &now);
	update_irq(rtc);
	st.offset = (int64_t)rtc->offset;
	st.index = rtc->index;
	memcpy(st.nvram, rtc->nvram, sizeof(st.nvram));
	st.checked_sec = (int64_t)rtc->checked.tv_sec;
	st.checked_nsec = rtc->checked.tv_nsec;
	pthread_mutex_unlock(&rtc->lock);
	return device_save_plain(&st, sizeof(st), buf, len);
}

/* Values no guest can make: UIP and IRQF are computed, C's low bits and
 * D's are fixed. */
static bool registers_valid(const uint8_t *nvram)
{
	return !(nvram[REG_STATUS_A] & STATUS_A_UIP) &&
		!(nvram[REG_STATUS_C] & (uint8_t)~STATUS_C_FLAGS) &&
		nvram[REG_STATUS_D] == STATUS_D_VALID_RAM;
}

/* Whether the guest's date is one the registers can hold at the host's
 * present time (a restored state is checked against the present: the VM
 * resumes now). */
static bool offset_names_a_year_now(const struct cmos_rtc *rtc, int64_t offset)
{
	struct timespec now;
	time_t guest_s;
	struct tm tm;

	rtc->now(&now);
	guest_s = now.tv_sec;

	return !__builtin_add_overflow(guest_s, (time_t)offset, &guest_s) &&
		gmtime_r(&guest_s, &tm) && year_nameable(tm.tm_year + 1900LL);
}

/* The state in buf, checked; *first_layout when it is the 144-byte one. */
static int parse_state(const struct cmos_rtc *rtc, const void *buf, size_t len,
		       struct cmos_rtc_state *st, bool *first_layout)
{
	*first_layout = len == STATE_FIRST_LAYOUT_SIZE;
	if (len != sizeof(*st) && !*first_layout)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	memcpy(st, buf, len);
	if (st->index > INDEX_MASK || !registers_valid(st->nvram))
		return -EINVAL;
	if (!offset_in_range(st->offset)) {
		log_error("cmos-rtc: the saved clock is %lld s from host time, "
			  "more than the %lld s a guest may set",
			  (long long)st->offset, (long long)RTC_OFFSET_MAX);
		return -EINVAL;
	}
	if (!offset_names_a_year_now(rtc, st->offset)) {
		log_error("cmos-rtc: the saved clock offset of %lld s puts the "
			  "guest's date outside the years 0-%d its registers "
			  "can hold",
			  (long long)st->offset, RTC_YEAR_MAX);
		return -EINVAL;
	}
	if (!*first_layout &&
	    (st->checked_sec < 0 || st->checked_nsec < 0 ||
	     st->checked_nsec >= NS_PER_S))
		return -EINVAL;
	return 0;
}

static int rtc_check(struct device *dev, const void *buf, size_t len)
{
	struct cmos_rtc_state st;
	bool first_layout;

	return parse_state(to_rtc(dev), buf, len, &st, &first_layout);
}

static int rtc_restore(struct device *dev, const void *buf, size_t len)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	struct cmos_rtc_state st;
	bool first_layout;
	struct timespec now;
	int ret = parse_state(rtc, buf, len, &st, &first_layout);

	if (ret)
		return ret;
	pthread_mutex_lock(&rtc->lock);
	rtc->now(&now);
	rtc->offset = (time_t)st.offset;
	rtc->index = st.index;
	memcpy(rtc->nvram, st.nvram, sizeof(rtc->nvram));
	/* A saving host whose clock ran ahead of this one's: count from now
	 * rather than wait for this clock to catch up. */
	rtc->checked =
		timespec_at((time_t)st.checked_sec, (long)st.checked_nsec);
	if (first_layout || timespec_cmp(&rtc->checked, &now) > 0)
		rtc->checked = now;
	/* The first layout's time registers were never held bytes. */
	if (first_layout && clock_held(rtc))
		hold_clock(rtc, now.tv_sec);
	/* The line's level is the restored irqchip's; restored() raises it
	 * again if IRQF is set. */
	rtc->irq_level = irqf(rtc);
	/* An alarm pending in the state was heard before it was saved. */
	rtc->alarm_up = rtc->nvram[REG_STATUS_C] & rtc->nvram[REG_STATUS_B] &
		STATUS_C_AF;
	pthread_cond_signal(&rtc->wake);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

/* The interrupt controllers were restored after this device: an edge the
 * RTC sent in between is lost, and one that was pending in the saved
 * irqchip is there. A fresh edge while IRQF is set makes sure the guest
 * hears of it (at worst once more, and its handler then finds C read). */
static void rtc_restored(struct device *dev)
{
	struct cmos_rtc *rtc = to_rtc(dev);
	struct timespec now;

	pthread_mutex_lock(&rtc->lock);
	now_and_catch_up(rtc, &now);
	rtc->irq_level = 0;
	irq_line_set(&rtc->irq, 0);
	update_irq(rtc);
	pthread_cond_signal(&rtc->wake);
	pthread_mutex_unlock(&rtc->lock);
}

void cmos_rtc_reset(struct device *dev)
{
	struct cmos_rtc *rtc = to_rtc(dev);

	pthread_mutex_lock(&rtc->lock);
	rtc->nvram[REG_STATUS_B] &= (uint8_t) ~(STATUS_B_PIE | STATUS_B_AIE |
						STATUS_B_UIE | STATUS_B_SQWE);
	rtc->nvram[REG_STATUS_C] = 0;
	update_irq(rtc);
	pthread_cond_signal(&rtc->wake); /* the timer thread's next event */
	pthread_mutex_unlock(&rtc->lock);
}

static const struct device_ops cmos_rtc_ops = {
	.save = rtc_save,
	.restore = rtc_restore,
	.check = rtc_check,
	.restored = rtc_restored,
	.name = "cmos-rtc",
	.io_read = rtc_io_read,
	.io_write = rtc_io_write,
	.destroy = rtc_destroy,
};

struct device *cmos_rtc_create(cmos_rtc_clock now, const struct irq_line *irq)
{
	struct cmos_rtc *rtc = calloc(1, sizeof(*rtc));
	pthread_condattr_t attr;

	if (!rtc)
		return NULL;
	rtc->dev.ops = &cmos_rtc_ops;
	pthread_mutex_init(&rtc->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rtc->wake, &attr);
	pthread_condattr_destroy(&attr);
	rtc->now = now;
	if (irq)
		rtc->irq = *irq;
	rtc->nvram[REG_STATUS_A] = STATUS_A_DIVIDER_32KHZ | 0x06; /* 1024 Hz */
	rtc->nvram[REG_STATUS_B] = STATUS_B_24_HOUR;
	rtc->nvram[REG_STATUS_D] = STATUS_D_VALID_RAM;
	now(&rtc->checked);
	return &rtc->dev;
}
