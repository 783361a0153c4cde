#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "arch/x86/layout.h"
#include "memory/guest_memory.h"

static void small_memory_is_one_low_region(void **state)
{
	struct guest_memory mem;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_int_equal(mem.region_count, 1);
	assert_int_equal(guest_memory_low_end(&mem), MiB(64));
	assert_non_null(guest_memory_ptr(&mem, 0, MiB(64)));
	assert_null(guest_memory_ptr(&mem, 0, MiB(64) + 1));
	assert_null(guest_memory_ptr(&mem, MiB(64), 1));
	guest_memory_destroy(&mem);
}

static void large_memory_skips_the_mmio_hole(void **state)
{
	struct guest_memory mem;

	assert_int_equal(guest_memory_init(&mem, GiB(5)), 0);
	assert_int_equal(mem.region_count, 2);
	assert_int_equal(guest_memory_low_end(&mem), LAYOUT_MMIO_HOLE_START);
	assert_int_equal(mem.regions[1].gpa, LAYOUT_MMIO_HOLE_END);
	assert_int_equal(mem.regions[1].size, GiB(5) - LAYOUT_MMIO_HOLE_START);
	assert_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_START, 1));
	assert_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_START - 1, 2));
	assert_non_null(guest_memory_ptr(&mem, LAYOUT_MMIO_HOLE_END, 4096));
	assert_non_null(guest_memory_ptr(&mem, GiB(6) - 1, 1));
	assert_null(guest_memory_ptr(&mem, GiB(6), 1));
	guest_memory_destroy(&mem);
}

static void wrapping_ranges_are_refused(void **state)
{
	struct guest_memory mem;
	char byte = 0;

	assert_int_equal(guest_memory_init(&mem, MiB(64)), 0);
	assert_null(guest_memory_ptr(&mem, 16, UINT64_MAX));
	assert_null(guest_memory_ptr(&mem, UINT64_MAX, 2));
	assert_null(guest_memory_ptr(&mem, 0, 0));
	assert_int_equal(guest_memory_write(&mem, MiB(64) - 1, "ab", 2),
			 -EFAULT);
	assert_int_equal(guest_memory_write(&mem, MiB(64) - 1, "a", 1), 0);
	assert_int_equal(guest_memory_read(&mem, MiB(64) - 1, &byte, 1), 0);
	assert_int_equal(byte, 'a');
	guest_memory_destroy(&mem);
}

static void zero_size_is_refused(void **state)
{
	struct guest_memory mem;

	assert_int_equal(guest_memory_init(&mem, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_memory_is_one_low_region),
		cmocka_unit_test(large_memory_skips_the_mmio_hole),
		cmocka_unit_test(wrapping_ranges_are_refused),
		cmocka_unit_test(zero_size_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
