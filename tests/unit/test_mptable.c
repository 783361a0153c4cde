#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

static uint8_t byte_sum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

struct parsed {
	int processors, bootstrap, buses, ioapics, routes, local_lines;
	uint8_t lapic_ids[256];
	uint8_t ioapic_id;
	int irq_to_pin[16];
};

/* Reads the tables back as a kernel would: through the floating pointer,
 * checking signatures and checksums, walking entries by their types. */
static void parse(struct guest_memory *mem, struct parsed *out)
{
	uint8_t *fp = guest_memory_ptr(mem, LAYOUT_MP_FLOATING_GPA, 16);
	uint8_t *table, *entry;
	uint16_t length, count;

	memset(out, 0, sizeof(*out));
	memset(out->irq_to_pin, -1, sizeof(out->irq_to_pin));
	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(fp[8], 1);
	assert_int_equal(fp[9], 4);
	assert_int_equal(byte_sum(fp, 16), 0);
	table = guest_memory_ptr(mem, get32(fp + 4), 44);
	assert_non_null(table);
	assert_memory_equal(table, "PCMP", 4);
	length = get16(table + 4);
	count = get16(table + 34);
	assert_true(length <= LAYOUT_MP_CONFIG_MAX);
	assert_true(get32(fp + 4) + length <= LAYOUT_MP_FLOATING_GPA);
	assert_int_equal(byte_sum(table, length), 0);
	assert_int_equal(get32(table + 36), LAYOUT_LAPIC_GPA);

	entry = table + 44;
	for (int i = 0; i < count; i++) {
		assert_true(entry < table + length);
		switch (entry[0]) {
		case 0:
			out->lapic_ids[out->processors++] = entry[1];
			assert_true(entry[3] & 1);
			out->bootstrap += !!(entry[3] & 2);
			entry += 20;
			break;
		case 1:
			assert_memory_equal(entry + 2, "ISA   ", 6);
			out->buses++;
			entry += 8;
			break;
		case 2:
			out->ioapic_id = entry[1];
			assert_int_equal(get32(entry + 4), LAYOUT_IOAPIC_GPA);
			out->ioapics++;
			entry += 8;
			break;
		case 3:
			assert_int_equal(entry[6], out->ioapic_id);
			out->irq_to_pin[entry[5]] = entry[7];
			out->routes++;
			entry += 8;
			break;
		case 4:
			out->local_lines++;
			entry += 8;
			break;
		default:
			fail_msg("unknown entry type %d", entry[0]);
		}
	}
	assert_ptr_equal(entry, table + length);
}

static void check_cpus(int cpu_count)
{
	struct guest_memory mem;
	struct parsed p;
	uint32_t ids[64];

	for (int i = 0; i < cpu_count; i++)
		ids[i] = (uint32_t)i;
	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_int_equal(mptable_write(&mem, cpu_count, ids), 0);
	parse(&mem, &p);
	assert_int_equal(p.processors, cpu_count);
	assert_int_equal(p.bootstrap, 1);
	for (int i = 0; i < cpu_count; i++)
		assert_int_equal(p.lapic_ids[i], i);
	assert_int_equal(p.buses, 1);
	assert_int_equal(p.ioapics, 1);
	assert_true(p.ioapic_id >= cpu_count);
	assert_int_equal(p.routes, 16);
	for (int irq = 0; irq < 16; irq++)
		assert_int_equal(p.irq_to_pin[irq], irq);
	assert_int_equal(p.local_lines, 2);
	guest_memory_destroy(&mem);
}

static void one_cpu(void **state)
{
	check_cpus(1);
}

static void four_cpus(void **state)
{
	check_cpus(4);
}

static void sixty_four_cpus_fit(void **state)
{
	check_cpus(64);
}

static void apic_id_too_large_is_refused(void **state)
{
	struct guest_memory mem;
	uint32_t ids[2] = {0, 300};

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_int_equal(mptable_write(&mem, 2, ids), -E2BIG);
	assert_int_equal(mptable_write(&mem, 0, ids), -E2BIG);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_cpu),
		cmocka_unit_test(four_cpus),
		cmocka_unit_test(sixty_four_cpus_fit),
		cmocka_unit_test(apic_id_too_large_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
