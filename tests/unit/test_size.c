#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "util/size.h"

static uint64_t parsed(const char *text)
{
	uint64_t bytes = 0;

	assert_int_equal(size_parse(text, &bytes), 0);
	return bytes;
}

static void plain_numbers_are_mebibytes(void **state)
{
	assert_int_equal(parsed("256"), 256ULL << 20);
}

static void suffixes_scale_by_1024(void **state)
{
	assert_int_equal(parsed("4096K"), 4ULL << 20);
	assert_int_equal(parsed("256M"), 256ULL << 20);
	assert_int_equal(parsed("256MiB"), 256ULL << 20);
	assert_int_equal(parsed("5G"), 5ULL << 30);
	assert_int_equal(parsed("5gb"), 5ULL << 30);
	assert_int_equal(parsed("1T"), 1ULL << 40);
	assert_int_equal(parsed("4096b"), 4096);
}

static void bad_syntax_is_refused(void **state)
{
	const char *bad[] = {"",    "M",    "-1",    "1.5G", "12X",
			     "5 G", "0x10", "5GiBs", " 5"};
	uint64_t bytes;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(size_parse(bad[i], &bytes), -EINVAL);
	assert_int_equal(size_parse(NULL, &bytes), -EINVAL);
}

static void overflow_is_refused(void **state)
{
	uint64_t bytes;

	assert_int_equal(size_parse("99999999999999999999999", &bytes),
			 -ERANGE);
	assert_int_equal(size_parse("17179869184T", &bytes), -ERANGE);
	assert_int_equal(size_parse("18014398509481983M", &bytes), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_numbers_are_mebibytes),
		cmocka_unit_test(suffixes_scale_by_1024),
		cmocka_unit_test(bad_syntax_is_refused),
		cmocka_unit_test(overflow_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
