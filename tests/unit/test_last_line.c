#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/last_line.h"

static char path[64];

static void write_file(const char *text, size_t length)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, length, f), length);
	assert_int_equal(fclose(f), 0);
}

static int make_path(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/tern-last-line-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int remove_path(void **state)
{
	unlink(path);
	return 0;
}

static void the_last_line_without_trailing_newlines(void **state)
{
	char buf[64];

	write_file("starting\ntern: cannot open /dev/kvm\n\n\r\n", 39);
	file_last_line(path, buf, sizeof(buf));
	assert_string_equal(buf, "tern: cannot open /dev/kvm");
}

static void a_line_longer_than_the_buffer_is_cut(void **state)
{
	char buf[8];

	write_file("first\n0123456789abcdef\n", 23);
	file_last_line(path, buf, sizeof(buf));
	assert_string_equal(buf, "0123456");
}

static void a_long_log_gives_its_end(void **state)
{
	static char log[8192];
	char buf[64];

	memset(log, 'x', sizeof(log));
	memcpy(log + sizeof(log) - 6, "\nlast\n", 6);
	write_file(log, sizeof(log));
	file_last_line(path, buf, sizeof(buf));
	assert_string_equal(buf, "last");
}

static void missing_or_empty_gives_nothing(void **state)
{
	char buf[16] = "stale";

	write_file("", 0);
	file_last_line(path, buf, sizeof(buf));
	assert_string_equal(buf, "");
	strcpy(buf, "stale");
	file_last_line("/nonexistent/tern.log", buf, sizeof(buf));
	assert_string_equal(buf, "");
	file_last_line(path, buf, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			the_last_line_without_trailing_newlines, make_path,
			remove_path),
		cmocka_unit_test_setup_teardown(
			a_line_longer_than_the_buffer_is_cut, make_path,
			remove_path),
		cmocka_unit_test_setup_teardown(a_long_log_gives_its_end,
						make_path, remove_path),
		cmocka_unit_test_setup_teardown(missing_or_empty_gives_nothing,
						make_path, remove_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
