#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/idle_memory.h"

/* Written data and relocated pointers must survive: only code goes. */
static int counter = 41;
static const char *const names[] = {"alpha", "beta"};

static int twice(int x)
{
	return 2 * x;
}

static int (*volatile twice_ptr)(int) = twice;

/* Code pages are dropped (the binary and libc have some), and everything
 * still runs and reads the same afterwards: code faults back in from the
 * page cache, data is untouched, the heap's live blocks keep their
 * contents. */
static void release_keeps_the_process_working(void **state)
{
	char *block = malloc(1 << 20);
	char buf[32];

	memset(block, 0x5a, 1 << 20);
	counter++;
	assert_true(idle_memory_release() > 0);
	assert_int_equal(counter, 42);
	assert_string_equal(names[1], "beta");
	assert_int_equal(twice_ptr(21), 42);
	assert_int_equal(block[0], 0x5a);
	assert_int_equal(block[(1 << 20) - 1], 0x5a);
	snprintf(buf, sizeof(buf), "%d-%s", counter, names[0]);
	assert_string_equal(buf, "42-alpha");
	free(block);
	/* Twice is as safe as once. */
	idle_memory_release();
	assert_int_equal(twice_ptr(2), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(release_keeps_the_process_working),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
