/* The CMOS RTC's registers as Linux's rtc_cmos and hwclock drive them, on a
 * fake clock the tests move: SET and divider reset hold the clock while the
 * guest writes a date, 12-hour and binary modes, the update, alarm and
 * periodic flags of register C with IRQF and the IRQ 8 line, UIP, and the
 * save/restore of all of it (hostile states refused). One test runs the
 * timer thread on the real clock. No KVM needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/cmos_rtc.h"

/* 2026-11-18 11:06:40 UTC, a Wednesday. */
#define T0 1795000000
#define NS 1000000000L

static struct timespec fake_now;

static void fake_clock(struct timespec *ts)
{
	*ts = fake_now;
}

static void set_time(time_t sec, long nsec)
{
	fake_now = (struct timespec){.tv_sec = sec, .tv_nsec = nsec};
}

struct irq_recorder {
	atomic_int level;
	atomic_int rising_edges;
};

static void record_irq(void *opaque, unsigned gsi, int level)
{
	struct irq_recorder *rec = opaque;

	assert_int_equal(gsi, CMOS_RTC_GSI);
	if (level && !atomic_load(&rec->level))
		atomic_fetch_add(&rec->rising_edges, 1);
	atomic_store(&rec->level, level);
}

static struct device *rtc_with(struct irq_recorder *rec)
{
	struct irq_line line = {record_irq, rec, CMOS_RTC_GSI};

	set_time(T0, 0);
	return cmos_rtc_create(fake_clock, &line);
}

static uint8_t rd(struct device *rtc, uint8_t reg)
{
	uint8_t v;

	rtc->ops->io_write(rtc, 0, &reg, 1);
	rtc->ops->io_read(rtc, 1, &v, 1);
	return v;
}

static void wr(struct device *rtc, uint8_t reg, uint8_t value)
{
	rtc->ops->io_write(rtc, 0, &reg, 1);
	rtc->ops->io_write(rtc, 1, &value, 1);
}

/* Linux's mc146818_set_time: SET, divider reset, the date, then B and A
 * back. Field by field, 31 March set from a day in November must not pass
 * through "31 November" (1 December) on the way. */
static void set_bit_holds_the_clock_while_the_date_is_written(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);

	wr(rtc, 0x0b, 0x82); /* SET, 24 h, BCD */
	wr(rtc, 0x0a, 0x66); /* divider reset */
	set_time(T0 + 30, 0);
	assert_int_equal(rd(rtc, 0x00), 0x40); /* held: still :40 */
	wr(rtc, 0x00, 0x09);
	wr(rtc, 0x02, 0x08);
	wr(rtc, 0x04, 0x07);
	wr(rtc, 0x07, 0x31);
	wr(rtc, 0x08, 0x03);
	wr(rtc, 0x09, 0x31);
	assert_int_equal(rd(rtc, 0x07), 0x31);
	assert_int_equal(rd(rtc, 0x08), 0x03);
	wr(rtc, 0x0b, 0x02);
	set_time(T0 + 40, 0);
	assert_int_equal(rd(rtc, 0x00), 0x09); /* the divider still holds */
	wr(rtc, 0x0a, 0x26);
	set_time(T0 + 45, 0);
	/* 2031-03-31 07:08:14, a Monday. */
	assert_int_equal(rd(rtc, 0x00), 0x14);
	assert_int_equal(rd(rtc, 0x02), 0x08);
	assert_int_equal(rd(rtc, 0x04), 0x07);
	assert_int_equal(rd(rtc, 0x06), 0x02);
	assert_int_equal(rd(rtc, 0x07), 0x31);
	assert_int_equal(rd(rtc, 0x08), 0x03);
	assert_int_equal(rd(rtc, 0x09), 0x31);
	assert_int_equal(rd(rtc, 0x32), 0x20);
	/* Setting SET clears UIE. */
	wr(rtc, 0x0b, 0x92);
	assert_int_equal(rd(rtc, 0x0b), 0x82);
	rtc->ops->destroy(rtc);
}

static void twelve_hour_and_binary_modes(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);

	wr(rtc, 0x0b, 0x00); /* 12 h, BCD */
	assert_int_equal(rd(rtc, 0x04), 0x11); /* 11 AM */
	set_time(T0 + 2 * 3600, 0);
	assert_int_equal(rd(rtc, 0x04), 0x81); /* 1 PM */
	set_time(T0 + 13 * 3600, 0);
	assert_int_equal(rd(rtc, 0x04), 0x12); /* 0:06 is 12 AM */
	set_time(T0 + 1 * 3600, 0);
	assert_int_equal(rd(rtc, 0x04), 0x92); /* 12 PM */
	/* Held bytes are read back in the mode they were written in. */
	wr(rtc, 0x0b, 0x80);
	wr(rtc, 0x04, 0x83); /* 3 PM */
	wr(rtc, 0x0b, 0x00); /* released */
	assert_int_equal(rd(rtc, 0x04), 0x83);
	wr(rtc, 0x0b, 0x06); /* binary, 24 h */
	assert_int_equal(rd(rtc, 0x04), 15);
	assert_int_equal(rd(rtc, 0x02), 6);
	wr(rtc, 0x0b, 0x04); /* binary, 12 h */
	assert_int_equal(rd(rtc, 0x04), 0x83);
	rtc->ops->destroy(rtc);
}

static void update_interrupt_once_a_second(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);

	wr(rtc, 0x0a, 0x20); /* no periodic rate: only UF below */
	wr(rtc, 0x0b, 0x12); /* UIE */
	set_time(T0, NS / 2);
	assert_int_equal(rd(rtc, 0x0c), 0x00);
	set_time(T0 + 1, NS / 5);
	assert_int_equal(rd(rtc, 0x0a) & 0x80, 0);
	assert_int_equal(atomic_load(&rec.level), 1);
	assert_int_equal(rd(rtc, 0x0c), 0x90); /* IRQF | UF */
	assert_int_equal(atomic_load(&rec.level), 0);
	assert_int_equal(rd(rtc, 0x0c), 0x00);
	/* UF is flagged with UIE off too, without IRQF or the line. */
	wr(rtc, 0x0b, 0x02);
	set_time(T0 + 2, 0);
	assert_int_equal(rd(rtc, 0x0c), 0x10);
	assert_int_equal(atomic_load(&rec.rising_edges), 1);
	/* Held, the clock has no updates. */
	wr(rtc, 0x0b, 0x82);
	set_time(T0 + 5, 0);
	assert_int_equal(rd(rtc, 0x0c), 0x00);
	rtc->ops->destroy(rtc);
}

/* A machine reset keeps the clock and its format and clears what the
 * chip's RESET pin clears: a reboot must not inherit the interrupts the
 * previous boot enabled (a Debian guest's reboot in place hung in early
 * boot with them). */
static void machine_reset_clears_interrupt_enables_and_flags(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);

	wr(rtc, 0x0a, 0x26); /* 1024 Hz periodic */
	wr(rtc, 0x0b, 0x7e); /* PIE AIE UIE SQWE, binary, 24-hour */
	set_time(T0 + 1, NS / 5);
	assert_int_equal(rd(rtc, 0x0a) & 0x7f, 0x26); /* brings the flags up */
	assert_int_equal(atomic_load(&rec.level), 1);
	cmos_rtc_reset(rtc);
	assert_int_equal(atomic_load(&rec.level), 0);
	assert_int_equal(rd(rtc, 0x0b), 0x06);
	assert_int_equal(rd(rtc, 0x0a) & 0x7f, 0x26);
	set_time(T0 + 3, 0);
	assert_int_equal(rd(rtc, 0x0c) & 0x80, 0); /* flags, but no IRQF */
	assert_int_equal(atomic_load(&rec.level), 0);
	rtc->ops->destroy(rtc);
}

static void periodic_interrupt_follows_register_a(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);

	wr(rtc, 0x0a, 0x2f); /* rate 15: every 500 ms */
	wr(rtc, 0x0b, 0x42); /* PIE */
	set_time(T0, NS / 2 - 1);
	assert_int_equal(rd(rtc, 0x0c), 0x00);
	set_time(T0, NS / 2);
	rd(rtc, 0x0a); /* any access brings the flags up to now */
	assert_int_equal(atomic_load(&rec.level), 1);
	assert_int_equal(rd(rtc, 0x0c), 0xc0); /* IRQF | PF */
	wr(rtc, 0x0a, 0x23); /* rate 3: 122.07 us */
	set_time(T0, NS / 2 + 122070);
	assert_int_equal(rd(rtc, 0x0c), 0x00);
	set_time(T0, NS / 2 + 122071);
	rd(rtc, 0x0a);
	assert_int_equal(atomic_load(&rec.level), 1);
	assert_int_equal(rd(rtc, 0x0c), 0xc0);
	wr(rtc, 0x0a, 0x20); /* rate 0: off */
	set_time(T0 + 3, 0);
	assert_int_equal(rd(rtc, 0x0c), 0x10); /* only the updates' UF */
	wr(rtc, 0x0a, 0x6f); /* divider reset: no ticks either */
	set_time(T0 + 4, 0);
	assert_int_equal(rd(rtc, 0x0c), 0x00);
	assert_int_equal(atomic_load(&rec.rising_edges), 2);
	rtc->ops->destroy(rtc);
}

static void alarm_matches_with_dont_care_values(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);

	wr(rtc, 0x0a, 0x20);
	wr(rtc, 0x01, 0x50); /* at :50 of every minute of every hour */
	wr(rtc, 0x03, 0xc0);
	wr(rtc, 0x05, 0xff);
	assert_int_equal(rd(rtc, 0x01), 0x50);
	assert_int_equal(rd(rtc, 0x03), 0xc0);
	wr(rtc, 0x0b, 0x22); /* AIE */
	set_time(T0 + 9, 0); /* 11:06:49 */
	assert_int_equal(rd(rtc, 0x0c), 0x10);
	set_time(T0 + 10, 0); /* 11:06:50 */
	rd(rtc, 0x0a);
	assert_int_equal(atomic_load(&rec.level), 1);
	assert_int_equal(rd(rtc, 0x0c), 0xb0); /* IRQF | AF | UF */
	set_time(T0 + 69, 0);
	assert_int_equal(rd(rtc, 0x0c), 0x10);
	set_time(T0 + 70, 0); /* 11:07:50 */
	assert_int_equal(rd(rtc, 0x0c), 0xb0);

	/* 03:00:07 of any minute 0-59 of hour 3: the next is tomorrow. */
	wr(rtc, 0x01, 0x07);
	wr(rtc, 0x03, 0x00);
	wr(rtc, 0x05, 0x03);
	set_time(T0 + 15 * 3600 + 53 * 60 + 26, 0); /* 03:00:06 */
	assert_int_equal(rd(rtc, 0x0c), 0x10);
	set_time(T0 + 15 * 3600 + 53 * 60 + 27, 0);
	assert_int_equal(rd(rtc, 0x0c), 0xb0);
	/* Days without a read of C: the alarm passed, AF is set. */
	set_time(T0 + 3 * 86400, 0);
	assert_int_equal(rd(rtc, 0x0c), 0xb0);
	/* 60 seconds never comes. */
	wr(rtc, 0x01, 0x60);
	wr(rtc, 0x03, 0xff);
	wr(rtc, 0x05, 0xff);
	set_time(T0 + 4 * 86400, 0);
	assert_int_equal(rd(rtc, 0x0c), 0x10);
	/* Clearing AIE with AF pending lowers IRQF and the line. */
	wr(rtc, 0x01, 0xff);
	set_time(T0 + 4 * 86400 + 1, 0);
	rd(rtc, 0x0a);
	assert_int_equal(atomic_load(&rec.level), 1);
	wr(rtc, 0x0b, 0x02);
	assert_int_equal(atomic_load(&rec.level), 0);
	assert_int_equal(rd(rtc, 0x0c), 0x30);
	rtc->ops->destroy(rtc);
}

static void count_alarm(void *opaque)
{
	(*(int *)opaque)++;
}

/* The hook behind ACPI's RTC wake (RTC_STS): once per alarm interrupt,
 * even while IRQF is already up for the update flag, and never for the
 * update or periodic flags, nor for an alarm with AIE clear. */
static void alarm_hook_hears_each_alarm_interrupt(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);
	int alarms = 0;

	cmos_rtc_set_alarm_hook(rtc, count_alarm, &alarms);
	wr(rtc, 0x0a, 0x20);
	wr(rtc, 0x01, 0xc0); /* every second */
	wr(rtc, 0x03, 0xc0);
	wr(rtc, 0x05, 0xc0);
	wr(rtc, 0x0b, 0x12); /* UIE only */
	set_time(T0 + 1, 0);
	rd(rtc, 0x0a);
	assert_int_equal(atomic_load(&rec.level), 1);
	assert_int_equal(alarms, 0);
	wr(rtc, 0x0b, 0x32); /* AIE too: AF was already set, it fires now */
	assert_int_equal(alarms, 1);
	set_time(T0 + 2, 0);
	rd(rtc, 0x0a); /* AF still set, not read: no new interrupt */
	assert_int_equal(alarms, 1);
	rd(rtc, 0x0c);
	set_time(T0 + 3, 0);
	rd(rtc, 0x0a);
	assert_int_equal(alarms, 2);
	rd(rtc, 0x0c);
	cmos_rtc_set_alarm_hook(rtc, NULL, NULL);
	set_time(T0 + 4, 0);
	rd(rtc, 0x0a);
	assert_int_equal(alarms, 2);
	rtc->ops->destroy(rtc);
}

static void uip_rises_just_before_each_update(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);

	wr(rtc, 0x0a, 0x20); /* no periodic flag in C below */
	set_time(T0, NS - 200000);
	assert_int_equal(rd(rtc, 0x0a), 0xa0);
	set_time(T0, NS - 300000); /* the host clock stepped back */
	assert_int_equal(rd(rtc, 0x0a), 0x20);
	set_time(T0, NS - 200000);
	wr(rtc, 0x0b, 0x82);
	assert_int_equal(rd(rtc, 0x0a), 0x20);
	/* UIP, C and D are read-only; D always says the RAM is valid. */
	wr(rtc, 0x0a, 0xa0);
	wr(rtc, 0x0c, 0xff);
	wr(rtc, 0x0d, 0x00);
	assert_int_equal(rd(rtc, 0x0a), 0x20);
	assert_int_equal(rd(rtc, 0x0c), 0x00);
	assert_int_equal(rd(rtc, 0x0d), 0x80);
	rtc->ops->destroy(rtc);
}

static uint8_t state_buf[4096] __attribute__((aligned(8)));

/* Offsets in the saved state: see struct cmos_rtc_state. */
#define ST_NVRAM 16
#define ST_CHECKED_SEC (16 + 128)
#define ST_CHECKED_NSEC (16 + 128 + 8)
#define ST_SIZE (16 + 128 + 16)

static size_t save(struct device *rtc)
{
	size_t len = sizeof(state_buf);

	assert_int_equal(rtc->ops->save(rtc, state_buf, &len), 0);
	assert_int_equal(len, ST_SIZE);
	return len;
}

/* A guest that set its clock and an alarm keeps both across a restore; an
 * alarm that came due while the VM was saved is flagged when it runs, and
 * the line rises again once the whole VM is restored. */
static void save_and_restore_carry_clock_and_interrupts(void **state)
{
	struct irq_recorder rec_a = {0}, rec_b = {0};
	struct device *a = rtc_with(&rec_a);
	struct device *b = rtc_with(&rec_b);
	size_t len;

	wr(a, 0x0a, 0x20);
	wr(a, 0x0b, 0x86); /* SET, binary */
	wr(a, 0x09, 31); /* 2031 */
	wr(a, 0x0b, 0x26); /* AIE, binary, released */
	wr(a, 0x01, 50);
	wr(a, 0x03, 0xff);
	wr(a, 0x05, 0xff);
	set_time(T0 + 5, 0);
	assert_int_equal(rd(a, 0x0c), 0x10);
	len = save(a);

	set_time(T0 + 20, 0); /* :40 + 20 = :00, past :50 */
	assert_int_equal(b->ops->restore(b, state_buf, len), 0);
	assert_int_equal(atomic_load(&rec_b.rising_edges), 0);
	b->ops->restored(b);
	assert_int_equal(atomic_load(&rec_b.level), 1);
	assert_int_equal(rd(b, 0x09), 31);
	assert_int_equal(rd(b, 0x00), 0);
	assert_int_equal(rd(b, 0x0c), 0xb0);
	assert_int_equal(atomic_load(&rec_b.level), 0);

	/* A saving host whose clock was ahead: counted from now. */
	memcpy(state_buf + ST_CHECKED_SEC, &(int64_t){T0 + 1000}, 8);
	assert_int_equal(b->ops->restore(b, state_buf, len), 0);
	set_time(T0 + 21, 0);
	assert_int_equal(rd(b, 0x0c), 0x10);
	a->ops->destroy(a);
	b->ops->destroy(b);
}

static void restore_refuses_hostile_states(void **state)
{
	struct irq_recorder rec = {0};
	struct device *a = rtc_with(&rec);
	struct device *b = rtc_with(&rec);
	size_t len = save(a);
	static const struct {
		size_t offset;
		uint8_t value;
	} bad_bytes[] = {
		{8, 0x80}, /* index with the NMI bit */
		{ST_NVRAM + 0x0a, 0xa6}, /* UIP */
		{ST_NVRAM + 0x0c, 0x80}, /* IRQF is computed */
		{ST_NVRAM + 0x0c, 0x01}, /* C's low bits are 0 */
		{ST_NVRAM + 0x0d, 0x00}, /* D: the RAM is always valid */
	};
	static const int64_t bad_times[][2] = {
		{-1, 0}, {0, -1}, {0, NS}, {INT64_MIN, 0}, {0, INT64_MAX}};
	uint8_t good[ST_SIZE];

	memcpy(good, state_buf, len);
	for (size_t i = 0; i < sizeof(bad_bytes) / sizeof(bad_bytes[0]); i++) {
		memcpy(state_buf, good, len);
		state_buf[bad_bytes[i].offset] = bad_bytes[i].value;
		assert_int_equal(b->ops->check(b, state_buf, len), -EINVAL);
		assert_int_equal(b->ops->restore(b, state_buf, len), -EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
		memcpy(state_buf, good, len);
		memcpy(state_buf + ST_CHECKED_SEC, &bad_times[i][0], 8);
		memcpy(state_buf + ST_CHECKED_NSEC, &bad_times[i][1], 8);
		assert_int_equal(b->ops->check(b, state_buf, len), -EINVAL);
		assert_int_equal(b->ops->restore(b, state_buf, len), -EINVAL);
	}
	/* Within the offset's bound, but dates before year 0 (the fuzzer's
	 * find: their fields encoded as negative numbers) or past the
	 * registers' 25599. */
	static const int64_t bad_offsets[] = {
		-(1LL << 40), 1LL << 40, -(int64_t)T0 - 2100LL * 365 * 86400,
		25000LL * 365 * 86400};
	for (size_t i = 0; i < sizeof(bad_offsets) / sizeof(bad_offsets[0]);
	     i++) {
		memcpy(state_buf, good, len);
		memcpy(state_buf, &bad_offsets[i], 8);
		assert_int_equal(b->ops->check(b, state_buf, len), -EINVAL);
		assert_int_equal(b->ops->restore(b, state_buf, len), -EINVAL);
	}
	memcpy(state_buf, good, len);
	assert_int_equal(b->ops->restore(b, state_buf, len - 1), -EINVAL);
	assert_int_equal(b->ops->restore(b, state_buf, len + 1), -EINVAL);
	assert_int_equal(b->ops->restore(b, state_buf, 0), -EINVAL);
	assert_int_equal(b->ops->check(b, state_buf, len - 1), -EINVAL);
	assert_int_equal(b->ops->check(b, state_buf, len), 0);
	assert_int_equal(b->ops->check(b, state_buf, ST_NVRAM + 128), 0);
	assert_int_equal(b->ops->restore(b, state_buf, len), 0);
	a->ops->destroy(a);
	b->ops->destroy(b);
}

/* A state saved before the RTC had interrupts (offset, index, NVRAM: 144
 * bytes) restores; one held mid-write gets its date registers from the
 * offset, which is all it had. */
static void first_layout_state_restores(void **state)
{
	struct irq_recorder rec = {0};
	struct device *rtc = rtc_with(&rec);
	uint8_t old[ST_NVRAM + 128] = {0};
	int64_t offset = 365 * 86400;

	memcpy(old, &offset, sizeof(offset));
	old[8] = 0x0b;
	old[ST_NVRAM + 0x0a] = 0x26;
	old[ST_NVRAM + 0x0b] = 0x82;
	old[ST_NVRAM + 0x0d] = 0x80;
	assert_int_equal(rtc->ops->restore(rtc, old, sizeof(old)), 0);
	assert_int_equal(rd(rtc, 0x09), 0x27);
	assert_int_equal(rd(rtc, 0x00), 0x40);
	wr(rtc, 0x0b, 0x02);
	set_time(T0 + 3, 0);
	assert_int_equal(rd(rtc, 0x09), 0x27);
	assert_int_equal(rd(rtc, 0x00), 0x43);
	rtc->ops->destroy(rtc);
}

static void real_clock(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static int wait_for_level(struct irq_recorder *rec, int level, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (atomic_load(&rec->level) == level)
			return 1;
		usleep(1000);
	}
	return atomic_load(&rec->level) == level;
}

/* With no register access, the timer thread raises the line: periodic
 * interrupts, each after C was read. */
static void timer_thread_raises_the_line_on_its_own(void **state)
{
	struct irq_recorder rec = {0};
	struct irq_line line = {record_irq, &rec, CMOS_RTC_GSI};
	struct device *rtc = cmos_rtc_create(real_clock, &line);

	assert_int_equal(cmos_rtc_start(rtc), 0);
	/* 8 Hz: slow enough that no tick comes between a read of C and the
	 * check that the line went down. */
	wr(rtc, 0x0a, 0x2d);
	wr(rtc, 0x0b, 0x42); /* PIE */
	for (int i = 0; i < 3; i++) {
		assert_true(wait_for_level(&rec, 1, 2000));
		assert_true(rd(rtc, 0x0c) & 0xc0);
		assert_int_equal(atomic_load(&rec.level), 0);
	}
	wr(rtc, 0x0b, 0x02);
	rd(rtc, 0x0c);
	usleep(20000);
	assert_int_equal(atomic_load(&rec.level), 0);
	assert_int_equal(atomic_load(&rec.rising_edges), 3);
	rtc->ops->destroy(rtc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			set_bit_holds_the_clock_while_the_date_is_written),
		cmocka_unit_test(twelve_hour_and_binary_modes),
		cmocka_unit_test(update_interrupt_once_a_second),
		cmocka_unit_test(periodic_interrupt_follows_register_a),
		cmocka_unit_test(alarm_matches_with_dont_care_values),
		cmocka_unit_test(alarm_hook_hears_each_alarm_interrupt),
		cmocka_unit_test(uip_rises_just_before_each_update),
		cmocka_unit_test(save_and_restore_carry_clock_and_interrupts),
		cmocka_unit_test(restore_refuses_hostile_states),
		cmocka_unit_test(first_layout_state_restores),
		cmocka_unit_test(timer_thread_raises_the_line_on_its_own),
		cmocka_unit_test(
			machine_reset_clears_interrupt_enables_and_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
