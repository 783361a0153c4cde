#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

static uint8_t config[MPTABLE_CONFIG_MAX];
static uint8_t floating[16];

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		(uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* What a reader following the specification finds, as Linux's
 * smp_read_mpc() checks it: signature, revision, checksums, lengths,
 * every entry of a known type and size, the count in the header. */
static void check_parses(long length, int cpus, const uint32_t *apic_ids)
{
	int processors = 0, buses = 0, ioapics = 0, io_ints = 0, local = 0;
	int entries = 0;
	size_t off = 44;

	assert_true(length > 44);
	assert_memory_equal(floating, "_MP_", 4);
	assert_int_equal(get32(floating + 4), MPTABLE_CONFIG_GPA);
	assert_int_equal(floating[8], 1);
	assert_int_equal(floating[9], 4);
	assert_int_equal(sum(floating, 16), 0);
	assert_int_equal(floating[11], 0); /* a table, not a default config */

	assert_memory_equal(config, "PCMP", 4);
	assert_int_equal(get16(config + 4), length);
	assert_int_equal(config[6], 4);
	assert_int_equal(sum(config, (size_t)length), 0);
	assert_int_equal(get32(config + 36), LAYOUT_LAPIC_GPA);
	while (off < (size_t)length) {
		const uint8_t *e = config + off;

		entries++;
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], apic_ids[processors]);
			assert_true(e[3] & 1); /* enabled */
			assert_int_equal(!!(e[3] & 2), processors == 0);
			processors++;
			off += 20;
			break;
		case 1:
			assert_memory_equal(e + 2, "ISA   ", 6);
			buses++;
			off += 8;
			break;
		case 2:
			assert_int_equal(e[1], LAYOUT_IOAPIC_ID);
			assert_int_equal(get32(e + 4), LAYOUT_IOAPIC_GPA);
			assert_true(e[3] & 1);
			ioapics++;
			off += 8;
			break;
		case 3:
			/* ISA IRQ n on pin n, as KVM routes it. */
			assert_int_equal(e[1], 0);
			assert_int_equal(e[5], io_ints);
			assert_int_equal(e[6], LAYOUT_IOAPIC_ID);
			assert_int_equal(e[7], io_ints);
			io_ints++;
			off += 8;
			break;
		case 4:
			assert_int_equal(e[6], 0xff);
			assert_int_equal(e[7], local);
			assert_int_equal(e[1],
					 local == 0 ? 3 : 1); /* ExtINT, NMI */
			local++;
			off += 8;
			break;
		default:
			fail_msg("unknown entry type %d at %zu", e[0], off);
		}
	}
	assert_int_equal(off, (size_t)length);
	assert_int_equal(get16(config + 34), entries);
	assert_int_equal(processors, cpus);
	assert_int_equal(buses, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(io_ints, MPTABLE_IOAPIC_PINS);
	assert_int_equal(local, 2);
}

static void one_processor_table_parses(void **state)
{
	uint32_t ids[] = {0};
	long length = mptable_build(1, ids, MPTABLE_CONFIG_GPA, config,
				    sizeof(config), floating);

	(void)state;
	check_parses(length, 1, ids);
}

static void every_processor_tern_allows_fits_below_the_pointer(void **state)
{
	uint32_t ids[64];
	long length;

	(void)state;
	for (int i = 0; i < 64; i++)
		ids[i] = (uint32_t)(i * 2); /* sparse ids, as with SMT */
	length = mptable_build(64, ids, MPTABLE_CONFIG_GPA, config,
			       sizeof(config), floating);
	check_parses(length, 64, ids);
	assert_true(MPTABLE_CONFIG_GPA + (uint64_t)length <=
		    MPTABLE_FLOATING_GPA);
}

static void bad_inputs_are_refused(void **state)
{
	uint32_t ids[2] = {0, 0xff};

	(void)state;
	assert_int_equal(mptable_build(0, ids, MPTABLE_CONFIG_GPA, config,
				       sizeof(config), floating),
			 -EINVAL);
	/* 0xff means "every processor" in an interrupt entry. */
	assert_int_equal(mptable_build(2, ids, MPTABLE_CONFIG_GPA, config,
				       sizeof(config), floating),
			 -EINVAL);
	assert_int_equal(mptable_build(1, ids, MPTABLE_CONFIG_GPA, config, 100,
				       floating),
			 -E2BIG);
}

static void the_table_lies_in_memory_the_e820_map_reserves(void **state)
{
	(void)state;
	/* Linux scans the last KiB of base memory for the pointer. */
	assert_true(MPTABLE_FLOATING_GPA >= 639 * 1024 &&
		    MPTABLE_FLOATING_GPA + 16 <= 640 * 1024);
	assert_true(MPTABLE_CONFIG_GPA >= LAYOUT_BIOS_RESERVED_GPA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_processor_table_parses),
		cmocka_unit_test(
			every_processor_tern_allows_fits_below_the_pointer),
		cmocka_unit_test(bad_inputs_are_refused),
		cmocka_unit_test(
			the_table_lies_in_memory_the_e820_map_reserves),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
