/* ACPI S3 as the guest sees its registers: the PM1 control block (full
 * ACPI) and the sleep control and status registers (hardware-reduced)
 * decode SLP_TYP/SLP_EN, wake events set their status bits and WAK_STS,
 * saved states carry them; and the waking vector is found through the
 * RSDP the way vm/vm_sleep.c looks for it at wake. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/acpi/acpi_tables.h"
#include "arch/x86/acpi/acpi_waking_vector.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm1.h"
#include "devices/acpi_power.h"
#include "memory/guest_memory.h"
#include "util/le_bytes.h"
#include "util/size.h"

/* A stand-in for vm/vm_sleep.c: counts, and answers "was asleep" from
 * asleep. */
struct fake_vm {
	int poweroffs, sleeps, wakes, asleep;
	const char *why;
};

static void fake_poweroff(void *opaque)
{
	((struct fake_vm *)opaque)->poweroffs++;
}

static void fake_reset(void *opaque)
{
	(void)opaque;
	fail_msg("reset");
}

static void fake_sleep(void *opaque)
{
	struct fake_vm *vm = opaque;

	vm->sleeps++;
	vm->asleep = 1;
}

static int fake_wake(void *opaque, const char *why)
{
	struct fake_vm *vm = opaque;

	if (!vm->asleep)
		return 0;
	vm->asleep = 0;
	vm->wakes++;
	vm->why = why;
	return 1;
}

static struct acpi_power_events events_of(struct fake_vm *vm)
{
	return (struct acpi_power_events){fake_poweroff, fake_reset, vm,
					  fake_sleep, fake_wake};
}

struct sci {
	int level;
};

static void record_sci(void *opaque, unsigned gsi, int level)
{
	assert_int_equal(gsi, ACPI_PM1_SCI_GSI);
	((struct sci *)opaque)->level = level;
}

static uint16_t rd16(struct device *dev, uint64_t port)
{
	uint16_t v = 0;

	dev->ops->io_read(dev, port - ACPI_PM1_EVT_PORT, &v, 2);
	return v;
}

static void wr16(struct device *dev, uint64_t port, uint16_t v)
{
	dev->ops->io_write(dev, port - ACPI_PM1_EVT_PORT, &v, 2);
}

#define PM1_STS ACPI_PM1_EVT_PORT
#define PM1_EN (ACPI_PM1_EVT_PORT + 2)
#define PM1_CNT ACPI_PM1_CNT_PORT
#define SLP(type) ((type) << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN)

static void pm1_control_decodes_the_sleep_type(void **state)
{
	(void)state;
	assert_int_equal(acpi_pm1_sleep_request(0), -1);
	/* SLP_TYP alone does nothing: SLP_EN starts the transition. */
	assert_int_equal(acpi_pm1_sleep_request(1 << ACPI_PM1_SLP_TYP_SHIFT),
			 -1);
	assert_int_equal(acpi_pm1_sleep_request(SLP(ACPI_S3_SLEEP_TYPE)),
			 ACPI_S3_SLEEP_TYPE);
	/* kvm-unit-tests' s3 writes 0x2400: S3. */
	assert_int_equal(acpi_pm1_sleep_request(0x2400), ACPI_S3_SLEEP_TYPE);
	assert_int_equal(acpi_pm1_sleep_request(SLP(ACPI_S5_SLEEP_TYPE) |
						ACPI_PM1_SCI_EN),
			 ACPI_S5_SLEEP_TYPE);
	assert_int_equal(acpi_pm1_sleep_request(SLP(7)), 7);

	assert_int_equal(acpi_power_sleep_request(0x04), -1);
	assert_int_equal(acpi_power_sleep_request(
				 ACPI_SLEEP_ENABLE |
				 ACPI_S3_SLEEP_TYPE << ACPI_SLEEP_TYPE_SHIFT),
			 ACPI_S3_SLEEP_TYPE);
	assert_int_equal(acpi_power_sleep_request(
				 ACPI_SLEEP_ENABLE |
				 ACPI_S5_SLEEP_TYPE << ACPI_SLEEP_TYPE_SHIFT),
			 ACPI_S5_SLEEP_TYPE);
}

/* kvm-unit-tests' s3 sequence: RTC_EN, then S3; the RTC alarm wakes it,
 * with RTC_STS and WAK_STS set for the OS to read and clear. */
static void pm1_sleeps_and_the_rtc_alarm_wakes_it(void **state)
{
	struct fake_vm vm = {0};
	struct sci sci = {0};
	struct acpi_power_events ev = events_of(&vm);
	struct device *dev = acpi_pm1_create(
		&ev, &(struct irq_line){record_sci, &sci, ACPI_PM1_SCI_GSI});
	uint8_t hi = SLP(ACPI_S3_SLEEP_TYPE) >> 8;

	(void)state;
	/* SLP_TYP other than 3 and 5: nothing. */
	wr16(dev, PM1_CNT, SLP(2));
	assert_int_equal(vm.sleeps + vm.poweroffs, 0);
	/* An alarm while RTC_EN is clear: RTC_STS only, no wake, no SCI. */
	acpi_pm1_rtc_alarm(dev);
	assert_int_equal(rd16(dev, PM1_STS), ACPI_PM1_RTC);
	assert_int_equal(sci.level, 0);
	wr16(dev, PM1_STS, ACPI_PM1_RTC);
	assert_int_equal(rd16(dev, PM1_STS), 0);

	wr16(dev, PM1_EN, ACPI_PM1_RTC);
	dev->ops->io_write(dev, PM1_CNT + 1 - ACPI_PM1_EVT_PORT, &hi, 1);
	assert_int_equal(vm.sleeps, 1);
	assert_int_equal(vm.wakes, 0);
	/* SLP_EN reads 0, SLP_TYP stays, SCI_EN reads 1. */
	assert_int_equal(rd16(dev, PM1_CNT),
			 1 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SCI_EN);
	acpi_pm1_rtc_alarm(dev);
	assert_int_equal(vm.wakes, 1);
	assert_string_equal(vm.why, "the RTC alarm");
	assert_int_equal(rd16(dev, PM1_STS), ACPI_PM1_RTC | ACPI_PM1_WAK);
	/* Awake with RTC_EN: the RTC event raises the SCI, WAK_STS never
	 * does (no enable bit, even if the OS sets bit 15). */
	assert_int_equal(sci.level, 1);
	wr16(dev, PM1_STS, ACPI_PM1_RTC);
	assert_int_equal(sci.level, 0);
	wr16(dev, PM1_EN, ACPI_PM1_RTC | 0x8000);
	assert_int_equal(sci.level, 0);
	wr16(dev, PM1_STS, ACPI_PM1_WAK);
	assert_int_equal(rd16(dev, PM1_STS), 0);
	/* A second alarm while awake wakes nothing. */
	acpi_pm1_rtc_alarm(dev);
	assert_int_equal(vm.wakes, 1);
	dev->ops->destroy(dev);
}

/* The power button wakes a sleeping VM whatever PWRBTN_EN says; awake, a
 * press nobody listens to is still refused. */
static void pm1_power_button_always_wakes(void **state)
{
	struct fake_vm vm = {0};
	struct acpi_power_events ev = events_of(&vm);
	struct device *dev = acpi_pm1_create(&ev, NULL);

	(void)state;
	wr16(dev, PM1_CNT, SLP(ACPI_S3_SLEEP_TYPE));
	assert_int_equal(vm.sleeps, 1);
	/* No RTC_EN: the alarm does not wake. */
	acpi_pm1_rtc_alarm(dev);
	assert_int_equal(vm.wakes, 0);
	assert_int_equal(acpi_pm1_press_power_button(dev), 0);
	assert_int_equal(vm.wakes, 1);
	assert_string_equal(vm.why, "the power button");
	assert_int_equal(rd16(dev, PM1_STS),
			 ACPI_PM1_PWRBTN | ACPI_PM1_RTC | ACPI_PM1_WAK);
	assert_int_equal(acpi_pm1_power_button_presses(dev), 1);
	assert_int_equal(acpi_pm1_press_power_button(dev), -ENODEV);
	dev->ops->destroy(dev);
}

/* An enabled event left pending when the OS sleeps wakes it at once. */
static void pm1_pending_wake_event_wakes_at_once(void **state)
{
	struct fake_vm vm = {0};
	struct acpi_power_events ev = events_of(&vm);
	struct device *dev = acpi_pm1_create(&ev, NULL);

	(void)state;
	acpi_pm1_rtc_alarm(dev);
	wr16(dev, PM1_EN, ACPI_PM1_RTC);
	wr16(dev, PM1_CNT, SLP(ACPI_S3_SLEEP_TYPE));
	assert_int_equal(vm.sleeps, 1);
	assert_int_equal(vm.wakes, 1);
	assert_int_equal(rd16(dev, PM1_STS) & ACPI_PM1_WAK, ACPI_PM1_WAK);
	/* Cleared first, as Linux does: it sleeps. */
	wr16(dev, PM1_STS, 0xffff);
	wr16(dev, PM1_CNT, SLP(ACPI_S3_SLEEP_TYPE));
	assert_int_equal(vm.sleeps, 2);
	assert_int_equal(vm.wakes, 1);
	dev->ops->destroy(dev);
}

/* RTC_STS and WAK_STS are saved and restored; a bit the device never sets
 * is refused. */
static void pm1_state_keeps_the_wake_bits(void **state)
{
	struct fake_vm vm = {0};
	struct acpi_power_events ev = events_of(&vm);
	struct device *dev = acpi_pm1_create(&ev, NULL);
	uint8_t buf[16];
	size_t len = sizeof(buf);
	const uint16_t bad[3] = {0, 0, 0x0020};

	(void)state;
	wr16(dev, PM1_EN, ACPI_PM1_RTC);
	wr16(dev, PM1_CNT, SLP(ACPI_S3_SLEEP_TYPE));
	acpi_pm1_rtc_alarm(dev);
	assert_int_equal(dev->ops->save(dev, buf, &len), 0);
	assert_int_equal(len, 6);
	wr16(dev, PM1_STS, 0xffff);
	assert_int_equal(dev->ops->check(dev, buf, len), 0);
	assert_int_equal(dev->ops->restore(dev, buf, len), 0);
	assert_int_equal(rd16(dev, PM1_STS), ACPI_PM1_RTC | ACPI_PM1_WAK);
	assert_int_equal(dev->ops->check(dev, bad, sizeof(bad)), -EINVAL);
	dev->ops->destroy(dev);
}

static uint8_t power_rd(struct device *dev, uint64_t port)
{
	uint8_t v = 0xee;

	dev->ops->io_read(dev, port - ACPI_SLEEP_CONTROL_PORT, &v, 1);
	return v;
}

static void power_wr(struct device *dev, uint64_t port, uint8_t v)
{
	dev->ops->io_write(dev, port - ACPI_SLEEP_CONTROL_PORT, &v, 1);
}

/* Hardware-reduced: S3 through the sleep control register, a wake sets
 * WAK_STS in the status register, which the OS clears with a 1; saved
 * states stay empty (the first layout) until WAK_STS is set. */
static void reduced_sleep_registers_sleep_and_wake(void **state)
{
	struct fake_vm vm = {0};
	struct acpi_power_events ev = events_of(&vm);
	struct device *dev = acpi_power_create(&ev);
	uint8_t buf[8], bad = 0x01;
	size_t len = sizeof(buf);

	(void)state;
	assert_int_equal(dev->ops->save(dev, buf, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(acpi_power_wake(dev, "the power button"), 0);
	assert_int_equal(power_rd(dev, ACPI_SLEEP_STATUS_PORT), 0);
	power_wr(dev, ACPI_SLEEP_CONTROL_PORT,
		 ACPI_S3_SLEEP_TYPE << ACPI_SLEEP_TYPE_SHIFT);
	assert_int_equal(vm.sleeps, 0);
	power_wr(dev, ACPI_SLEEP_CONTROL_PORT,
		 ACPI_S3_SLEEP_TYPE << ACPI_SLEEP_TYPE_SHIFT |
			 ACPI_SLEEP_ENABLE);
	assert_int_equal(vm.sleeps, 1);
	assert_int_equal(acpi_power_wake(dev, "the RTC alarm"), 1);
	assert_int_equal(power_rd(dev, ACPI_SLEEP_STATUS_PORT),
			 ACPI_SLEEP_STATUS_WAK);
	assert_int_equal(power_rd(dev, ACPI_SLEEP_CONTROL_PORT), 0);
	len = sizeof(buf);
	assert_int_equal(dev->ops->save(dev, buf, &len), 0);
	assert_int_equal(len, 1);
	power_wr(dev, ACPI_SLEEP_STATUS_PORT, ACPI_SLEEP_STATUS_WAK);
	assert_int_equal(power_rd(dev, ACPI_SLEEP_STATUS_PORT), 0);
	assert_int_equal(dev->ops->restore(dev, buf, len), 0);
	assert_int_equal(power_rd(dev, ACPI_SLEEP_STATUS_PORT),
			 ACPI_SLEEP_STATUS_WAK);
	assert_int_equal(dev->ops->restore(dev, buf, 0), 0);
	assert_int_equal(power_rd(dev, ACPI_SLEEP_STATUS_PORT), 0);
	assert_int_equal(dev->ops->check(dev, &bad, 1), -EINVAL);
	assert_int_equal(dev->ops->check(dev, buf, 2), -EINVAL);
	/* S5 still powers off. */
	power_wr(dev, ACPI_SLEEP_CONTROL_PORT,
		 ACPI_S5_SLEEP_TYPE << ACPI_SLEEP_TYPE_SHIFT |
			 ACPI_SLEEP_ENABLE);
	assert_int_equal(vm.poweroffs, 1);
	dev->ops->destroy(dev);
}

static const uint32_t apic_ids[2] = {0, 1};

/* Tables as tern writes them for a direct boot, in a guest's RAM. */
static void guest_with_tables(struct guest_memory *mem, int full_acpi)
{
	struct acpi_platform platform = {
		.cpu_count = 2,
		.apic_ids = apic_ids,
		.full_acpi = full_acpi,
	};
	uint64_t rsdp;

	assert_int_equal(guest_memory_init(mem, MiB(2)), 0);
	assert_int_equal(acpi_tables_write(mem, &platform, &rsdp), 0);
}

static void waking_vector_is_found_through_the_rsdp(void **state)
{
	struct guest_memory mem;
	struct acpi_waking_vector wv;

	(void)state;
	for (int full = 0; full < 2; full++) {
		uint8_t *facs;
		uint8_t *fadt;

		guest_with_tables(&mem, full);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), 0);
		assert_int_equal(wv.facs_gpa % 64, 0);
		assert_in_range(wv.facs_gpa, LAYOUT_ACPI_GPA,
				LAYOUT_ACPI_GPA + LAYOUT_ACPI_SIZE - 64);
		assert_int_equal(wv.vector, 0);
		assert_int_equal(wv.x_vector, 0);
		facs = guest_memory_ptr(&mem, wv.facs_gpa, 64);
		le_put32(facs + 12, 0x1000);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), 0);
		assert_int_equal(wv.vector, 0x1000);
		le_put64(facs + 24, 0x123456);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), 0);
		assert_int_equal(wv.x_vector, 0x123456);
		/* Version 0 has no X vector. */
		facs[32] = 0;
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), 0);
		assert_int_equal(wv.x_vector, 0);
		/* Only FIRMWARE_CTRL (as QEMU): still found. */
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), 0);
		fadt = NULL;
		for (uint64_t gpa = LAYOUT_ACPI_GPA;
		     gpa < LAYOUT_ACPI_GPA + LAYOUT_ACPI_SIZE; gpa += 16) {
			uint8_t *p = guest_memory_ptr(&mem, gpa, 4);

			if (!memcmp(p, "FACP", 4)) {
				fadt = p;
				break;
			}
		}
		assert_non_null(fadt);
		assert_int_equal(le_get32(fadt + 36), wv.facs_gpa);
		le_put64(fadt + 132, 0);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), 0);
		/* A hostile FACS pointer: outside RAM, or at no FACS. */
		le_put64(fadt + 132, 0x7fff0000000ULL);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), -ENOENT);
		le_put64(fadt + 132, 0x1000);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), -ENOENT);
		/* A FACS whose length is too short. */
		le_put64(fadt + 132, 0);
		le_put32(facs + 4, 8);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), -EINVAL);
		/* No RSDP at all. */
		memset(guest_memory_ptr(&mem, LAYOUT_ACPI_GPA, 8), 0, 8);
		assert_int_equal(acpi_find_waking_vector(&mem, &wv), -ENOENT);
		guest_memory_destroy(&mem);
	}
}

/* An XSDT whose length runs past RAM, a table length of 0xffffffff: no
 * read outside guest memory, no FADT found. */
static void hostile_tables_are_refused(void **state)
{
	struct guest_memory mem;
	struct acpi_waking_vector wv;
	uint8_t *rsdp;
	uint64_t xsdt;
	uint8_t *x;

	(void)state;
	guest_with_tables(&mem, 0);
	rsdp = guest_memory_ptr(&mem, LAYOUT_ACPI_GPA, 36);
	xsdt = le_get64(rsdp + 24);
	x = guest_memory_ptr(&mem, xsdt, 36);
	le_put32(x + 4, 0xffffffff);
	/* The RSDT fallback is 0: nothing. */
	assert_int_equal(acpi_find_waking_vector(&mem, &wv), -ENOENT);
	le_put32(x + 4, 36 + 8);
	le_put64(x + 36, 0xfffffffffffff000ULL);
	assert_int_equal(acpi_find_waking_vector(&mem, &wv), -ENOENT);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pm1_control_decodes_the_sleep_type),
		cmocka_unit_test(pm1_sleeps_and_the_rtc_alarm_wakes_it),
		cmocka_unit_test(pm1_power_button_always_wakes),
		cmocka_unit_test(pm1_pending_wake_event_wakes_at_once),
		cmocka_unit_test(pm1_state_keeps_the_wake_bits),
		cmocka_unit_test(reduced_sleep_registers_sleep_and_wake),
		cmocka_unit_test(waking_vector_is_found_through_the_rsdp),
		cmocka_unit_test(hostile_tables_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
