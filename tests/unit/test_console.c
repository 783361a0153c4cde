/* The pure parts of the serial console path: the byte ring that keeps
 * output for a slow or absent reader (src/util/byte_ring.c, in tern's
 * --serial unix: backend and ternd's relay), ternd's bounded console log
 * (src/ternd/console_log.c), ternctl's detach key scan, and the
 * --serial unix:PATH spelling. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_check.h"
#include "config/vm_config_json.h"
#include "ternctl/ternctl_console.h"
#include "ternd/console_log.h"
#include "util/byte_ring.h"

/* Everything the ring holds, oldest first. */
static size_t drain(struct byte_ring *r, char *out, size_t max)
{
	size_t n = 0;

	while (byte_ring_used(r) && n < max) {
		const uint8_t *data;
		size_t len = byte_ring_peek(r, &data);

		if (len > max - n)
			len = max - n;
		memcpy(out + n, data, len);
		byte_ring_consume(r, len);
		n += len;
	}
	return n;
}

static void ring_keeps_order_across_the_wrap(void **state)
{
	struct byte_ring r;
	char out[16];

	assert_int_equal(byte_ring_init(&r, 8), 0);
	assert_int_equal(byte_ring_push(&r, "abcdef", 6), 0);
	assert_int_equal(drain(&r, out, 4), 4);
	assert_memory_equal(out, "abcd", 4);
	/* ef + ghijk wraps around the end of the buffer. */
	assert_int_equal(byte_ring_push(&r, "ghijk", 5), 0);
	assert_int_equal(byte_ring_used(&r), 7);
	assert_int_equal(byte_ring_space(&r), 1);
	assert_int_equal(drain(&r, out, sizeof(out)), 7);
	assert_memory_equal(out, "efghijk", 7);
	assert_int_equal(byte_ring_used(&r), 0);
	byte_ring_free(&r);
}

static void ring_full_drops_the_oldest_and_counts(void **state)
{
	struct byte_ring r;
	char out[16];

	assert_int_equal(byte_ring_init(&r, 8), 0);
	assert_int_equal(byte_ring_push(&r, "0123456", 7), 0);
	assert_int_equal(byte_ring_push(&r, "789", 3), 2);
	assert_int_equal(drain(&r, out, sizeof(out)), 8);
	assert_memory_equal(out, "23456789", 8);
	/* More than the capacity at once: only its newest bytes stay. */
	assert_int_equal(byte_ring_push(&r, "ab", 2), 0);
	assert_int_equal(byte_ring_push(&r, "ABCDEFGHIJ", 10), 4);
	assert_int_equal(drain(&r, out, sizeof(out)), 8);
	assert_memory_equal(out, "CDEFGHIJ", 8);
	assert_int_equal(r.dropped, 6);
	/* Byte by byte, as a vCPU pushes. */
	for (int i = 0; i < 20; i++)
		byte_ring_push(&r, &"abcdefghijklmnopqrst"[i], 1);
	assert_int_equal(drain(&r, out, sizeof(out)), 8);
	assert_memory_equal(out, "mnopqrst", 8);
	assert_int_equal(r.dropped, 18);
	byte_ring_consume(&r, 5); /* more than it holds: harmless */
	assert_int_equal(byte_ring_push(&r, NULL, 0), 0);
	assert_int_equal(byte_ring_used(&r), 0);
	byte_ring_free(&r);
	assert_int_equal(byte_ring_init(&r, 0), -EINVAL);
}

struct log_fixture {
	char dir[64];
	char path[128];
};

static int log_setup(void **state)
{
	struct log_fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ternd-console-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/console.log", f->dir);
	*state = f;
	return 0;
}

static int log_teardown(void **state)
{
	struct log_fixture *f = *state;
	char path[160];

	unlink(f->path);
	snprintf(path, sizeof(path), "%s.new", f->path);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static size_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static void log_appends_and_keeps_its_newest_bytes(void **state)
{
	struct log_fixture *f = *state;
	struct console_log log;
	struct tern_error err;
	char tail[64];

	assert_int_equal(console_log_open(&log, f->path, 20, 10, &err), 0);
	assert_int_equal(console_log_append(&log, "0123456789", 10), 0);
	assert_int_equal(console_log_append(&log, "abcdefghij", 10), 0);
	assert_int_equal(file_size(f->path), 20);
	/* Past max: the newest keep (10) bytes, the new ones last. */
	assert_int_equal(console_log_append(&log, "XYZ", 3), 0);
	assert_int_equal(file_size(f->path), 10);
	assert_int_equal(console_log_tail(f->path, tail, sizeof(tail)), 10);
	assert_memory_equal(tail, "defghijXYZ", 10);
	/* The file is appended again after the rewrite. */
	assert_int_equal(console_log_append(&log, "!", 1), 0);
	assert_int_equal(console_log_tail(f->path, tail, 4), 4);
	assert_memory_equal(tail, "XYZ!", 4);
	/* One append larger than keep: only its own newest bytes. */
	assert_int_equal(
		console_log_append(&log, "abcdefghijklmnopqrstuvwxyz", 26), 0);
	assert_int_equal(console_log_tail(f->path, tail, sizeof(tail)), 10);
	assert_memory_equal(tail, "qrstuvwxyz", 10);
	console_log_close(&log);

	/* Reopened: its size is known, so the bound holds across ternds. */
	assert_int_equal(console_log_open(&log, f->path, 20, 10, &err), 0);
	assert_int_equal(log.size, 10);
	assert_int_equal(console_log_append(&log, "0123456789A", 11), 0);
	assert_int_equal(file_size(f->path), 10);
	assert_int_equal(console_log_tail(f->path, tail, sizeof(tail)), 10);
	assert_memory_equal(tail, "123456789A", 10);
	console_log_close(&log);
	assert_int_equal(file_size(f->path), 10);
}

static void log_tail_of_a_missing_file_is_empty(void **state)
{
	struct log_fixture *f = *state;
	char tail[8];

	assert_int_equal(console_log_tail(f->path, tail, sizeof(tail)), 0);
}

static void log_refuses_a_directory(void **state)
{
	struct log_fixture *f = *state;
	struct console_log log;
	struct tern_error err;

	assert_int_not_equal(console_log_open(&log, f->dir, 20, 10, &err), 0);
}

static void detach_key_is_found(void **state)
{
	int escape;

	assert_int_equal(ternctl_console_scan("hello", 5, &escape), 5);
	assert_false(escape);
	assert_int_equal(ternctl_console_scan("ab\x1d"
					      "cd",
					      5, &escape),
			 2);
	assert_true(escape);
	assert_int_equal(ternctl_console_scan("\x1d", 1, &escape), 0);
	assert_true(escape);
	/* Ctrl-C and other control bytes go to the guest. */
	assert_int_equal(ternctl_console_scan("\x03\x1c\x1e", 3, &escape), 3);
	assert_false(escape);
}

static void serial_unix_mode_is_parsed_and_exported(void **state)
{
	struct vm_config *config = calloc(1, sizeof(*config));
	struct tern_error err;
	json_t *doc;

	assert_non_null(config);
	vm_config_set_defaults(config);
	assert_int_equal(config_parse_serial("--serial", "unix:/run/c.sock",
					     config, &err),
			 0);
	assert_int_equal(config->serial_mode, SERIAL_MODE_UNIX);
	assert_string_equal(config->serial_path, "/run/c.sock");
	doc = vm_config_json_export(config);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(doc, "tern"), "serial")),
			    "unix:/run/c.sock");
	json_decref(doc);
	assert_int_not_equal(
		config_parse_serial("--serial", "unix:", config, &err), 0);
	assert_non_null(strstr(err.message, "unix:PATH"));
	free(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_keeps_order_across_the_wrap),
		cmocka_unit_test(ring_full_drops_the_oldest_and_counts),
		cmocka_unit_test_setup_teardown(
			log_appends_and_keeps_its_newest_bytes, log_setup,
			log_teardown),
		cmocka_unit_test_setup_teardown(
			log_tail_of_a_missing_file_is_empty, log_setup,
			log_teardown),
		cmocka_unit_test_setup_teardown(log_refuses_a_directory,
						log_setup, log_teardown),
		cmocka_unit_test(detach_key_is_found),
		cmocka_unit_test(serial_unix_mode_is_parsed_and_exported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
