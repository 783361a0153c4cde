#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

/* Sorted, non-overlapping, and RAM adds up to what the guest was given. */
static void assert_well_formed(const struct e820_map *map, uint64_t ram_size)
{
	uint64_t ram = 0;

	for (int i = 0; i < map->count; i++) {
		assert_true(map->entries[i].size > 0);
		if (i > 0)
			assert_true(map->entries[i - 1].addr +
					    map->entries[i - 1].size <=
				    map->entries[i].addr);
		if (map->entries[i].type == E820_TYPE_RAM)
			ram += map->entries[i].size;
	}
	/* The reserved BIOS area below 1 MiB is RAM tern owns but hides. */
	assert_int_equal(
		ram,
		ram_size - (LAYOUT_HIGH_MEMORY_GPA - LAYOUT_BIOS_RESERVED_GPA));
}

static void small_guest_has_low_and_high_ram(void **state)
{
	struct guest_memory mem;
	struct e820_map map;

	assert_int_equal(guest_memory_init(&mem, MiB(256)), 0);
	e820_build(&mem, &map);
	assert_int_equal(map.count, 5); /* low, BIOS, high, ECAM, ROM */
	assert_int_equal(map.entries[0].addr, 0);
	assert_int_equal(map.entries[0].type, E820_TYPE_RAM);
	assert_int_equal(map.entries[1].addr, LAYOUT_BIOS_RESERVED_GPA);
	assert_int_equal(map.entries[1].type, E820_TYPE_RESERVED);
	assert_int_equal(map.entries[2].addr, MiB(1));
	assert_int_equal(map.entries[2].size, MiB(255));
	assert_well_formed(&map, MiB(256));
	guest_memory_destroy(&mem);
}

static void large_guest_resumes_above_4g(void **state)
{
	struct guest_memory mem;
	struct e820_map map;

	assert_int_equal(guest_memory_init(&mem, GiB(5)), 0);
	e820_build(&mem, &map);
	assert_int_equal(map.count, 6);
	assert_int_equal(map.entries[2].addr + map.entries[2].size,
			 LAYOUT_MMIO_HOLE_START);
	assert_int_equal(map.entries[3].addr, LAYOUT_PCI_ECAM_GPA);
	assert_int_equal(map.entries[3].type, E820_TYPE_RESERVED);
	assert_int_equal(map.entries[4].addr, LAYOUT_RESET_ROM_GPA);
	assert_int_equal(map.entries[4].type, E820_TYPE_RESERVED);
	assert_int_equal(map.entries[5].addr, GiB(4));
	assert_int_equal(map.entries[5].size, GiB(5) - LAYOUT_MMIO_HOLE_START);
	assert_well_formed(&map, GiB(5));
	guest_memory_destroy(&mem);
}

static void acpi_tables_are_in_reserved_memory(void **state)
{
	struct guest_memory mem;
	struct e820_map map;
	int covered = 0;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	e820_build(&mem, &map);
	for (int i = 0; i < map.count; i++)
		if (map.entries[i].type == E820_TYPE_RESERVED &&
		    map.entries[i].addr <= LAYOUT_ACPI_GPA &&
		    map.entries[i].addr + map.entries[i].size >=
			    LAYOUT_ACPI_GPA + LAYOUT_ACPI_SIZE)
			covered = 1;
	assert_true(covered);
	guest_memory_destroy(&mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_guest_has_low_and_high_ram),
		cmocka_unit_test(large_guest_resumes_above_4g),
		cmocka_unit_test(acpi_tables_are_in_reserved_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
