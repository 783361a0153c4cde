/* The --serial stdio console's Ctrl-A keys (src/backends/console_escape.c):
 * what reaches the guest and what tern is told, read by read, as vm.c's
 * run loop feeds them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "backends/console_escape.h"

/* What one read does, as vm.c sees it: the guest's bytes as they are, each
 * event in brackets where it came; stops at a quit as vm.c does. */
static void feed_read(struct console_escape *e, const char *input,
		      size_t input_len, char *transcript, size_t size)
{
	const uint8_t *in = (const uint8_t *)input;
	size_t done = 0, at = strlen(transcript);

	while (done < input_len) {
		uint8_t out[256];
		size_t out_len, used;
		enum console_escape_event event = console_escape_feed(
			e, in + done, input_len - done, out, &out_len, &used);

		assert_true(used > 0 && used <= input_len - done);
		assert_true(out_len <= used);
		assert_true(at + out_len < size);
		memcpy(transcript + at, out, out_len);
		at += out_len;
		transcript[at] = '\0';
		done += used;
		if (event == CONSOLE_ESCAPE_QUIT) {
			at += (size_t)snprintf(transcript + at, size - at,
					       "[quit]");
			return;
		}
		if (event == CONSOLE_ESCAPE_BALLOON)
			at += (size_t)snprintf(transcript + at, size - at,
					       "[balloon %s]", e->balloon_text);
		else
			assert_int_equal(event, CONSOLE_ESCAPE_NONE);
		assert_true(at < size);
	}
}

/* Each read in turn, from a fresh console; reads are NUL-free strings. */
static void feed_reads(char *transcript, size_t size, const char *const *reads,
		       size_t count)
{
	struct console_escape e = {0};

	transcript[0] = '\0';
	for (size_t i = 0; i < count; i++)
		feed_read(&e, reads[i], strlen(reads[i]), transcript, size);
}

#define FEED(transcript, ...)                                                  \
	feed_reads(transcript, sizeof(transcript),                             \
		   (const char *const[]){__VA_ARGS__},                         \
		   sizeof((const char *const[]){__VA_ARGS__}) /                \
			   sizeof(char *))

static void plain_bytes_reach_the_guest_unchanged(void **state)
{
	char t[128];

	FEED(t, "ls -l\r", "\x1b[A\x7f\x03");
	assert_string_equal(t, "ls -l\r\x1b[A\x7f\x03");
}

static void ctrl_a_x_quits_and_what_follows_is_left(void **state)
{
	struct console_escape e = {0};
	const uint8_t in[] = "ab\x01xcd";
	uint8_t out[sizeof(in)];
	size_t out_len, used;

	assert_int_equal(console_escape_feed(&e, in, 6, out, &out_len, &used),
			 CONSOLE_ESCAPE_QUIT);
	assert_int_equal(used, 4);
	assert_int_equal(out_len, 2);
	assert_memory_equal(out, "ab", 2);
}

static void ctrl_a_capital_x_quits_too(void **state)
{
	char t[64];

	FEED(t, "a\x01Xb");
	assert_string_equal(t, "a[quit]");
}

static void ctrl_a_ctrl_a_sends_one_ctrl_a(void **state)
{
	char t[64];

	FEED(t, "a\x01\x01z\x01\x01\x01\x01");
	assert_string_equal(t, "a\x01z\x01\x01");
}

static void an_unknown_escape_is_swallowed(void **state)
{
	char t[64];

	FEED(t,
	     "a\x01zb\x01\rc\x01\x1b"
	     "d");
	assert_string_equal(t, "abcd");
}

static void an_escape_split_across_two_reads_still_counts(void **state)
{
	char t[64];

	FEED(t, "a\x01", "xb");
	assert_string_equal(t, "a[quit]");
	FEED(t, "a\x01",
	     "\x01"
	     "b");
	assert_string_equal(t,
			    "a\x01"
			    "b");
	FEED(t, "a\x01", "zb");
	assert_string_equal(t, "ab");
	FEED(t, "\x01", "b1G\r");
	assert_string_equal(t, "[balloon 1G]");
	/* One key a read, as a person types. */
	FEED(t, "\x01", "b", "5", "1", "2", "M", "\r", "o", "\x01", "x");
	assert_string_equal(t, "[balloon 512M]o[quit]");
}

static void a_balloon_line_ends_at_cr_or_lf(void **state)
{
	char t[128];

	FEED(t,
	     "a\x01"
	     "b512M\rb");
	assert_string_equal(t, "a[balloon 512M]b");
	FEED(t,
	     "a\x01"
	     "B0\nb");
	assert_string_equal(t, "a[balloon 0]b");
	/* CR LF: the CR ends the line, the LF is the guest's. */
	FEED(t,
	     "\x01"
	     "b1G\r\nb");
	assert_string_equal(t, "[balloon 1G]\nb");
	/* Enter at once: an empty line, which tern refuses as no size. */
	FEED(t,
	     "\x01"
	     "b\r");
	assert_string_equal(t, "[balloon ]");
}

static void the_balloon_line_is_read_as_is(void **state)
{
	char t[64];

	/* Escapes are not keys inside the line: Ctrl-A x is text. */
	FEED(t,
	     "\x01"
	     "b\x01x 2G\r\x01x");
	assert_string_equal(t, "[balloon \x01x 2G][quit]");
}

static void the_balloon_line_splits_across_reads(void **state)
{
	char t[64];

	FEED(t,
	     "\x01"
	     "b5",
	     "12", "M\r", "ok");
	assert_string_equal(t, "[balloon 512M]ok");
}

static void an_over_long_balloon_line_keeps_its_start(void **state)
{
	char t[128], expected[128];
	const char *line40 = "0123456789abcdefghijklmnopqrstuvwxyzABCD";

	FEED(t,
	     "\x01"
	     "b",
	     line40, "\r", "z");
	snprintf(expected, sizeof(expected), "[balloon %.*s]z",
		 CONSOLE_ESCAPE_BALLOON_MAX, line40);
	assert_string_equal(t, expected);
	assert_int_equal(CONSOLE_ESCAPE_BALLOON_MAX, 31);
	/* Exactly as long as kept: all of it. */
	FEED(t,
	     "\x01"
	     "b",
	     "0123456789abcdefghijklmnopqrstu\n");
	assert_string_equal(t, "[balloon 0123456789abcdefghijklmnopqrstu]");
}

static void several_events_in_one_read_come_in_order(void **state)
{
	struct console_escape e = {0};
	const uint8_t in[] = "a\x01"
			     "b1G\rb\x01"
			     "b2G\nc";
	size_t len = sizeof(in) - 1;
	uint8_t out[sizeof(in)];
	size_t out_len, used, done = 0;

	assert_int_equal(console_escape_feed(&e, in, len, out, &out_len, &used),
			 CONSOLE_ESCAPE_BALLOON);
	assert_string_equal(e.balloon_text, "1G");
	assert_int_equal(out_len, 1);
	assert_memory_equal(out, "a", 1);
	done += used;
	assert_int_equal(done, 6);
	assert_int_equal(console_escape_feed(&e, in + done, len - done, out,
					     &out_len, &used),
			 CONSOLE_ESCAPE_BALLOON);
	assert_string_equal(e.balloon_text, "2G");
	assert_int_equal(out_len, 1);
	assert_memory_equal(out, "b", 1);
	done += used;
	assert_int_equal(console_escape_feed(&e, in + done, len - done, out,
					     &out_len, &used),
			 CONSOLE_ESCAPE_NONE);
	assert_int_equal(out_len, 1);
	assert_memory_equal(out, "c", 1);
	assert_int_equal(done + used, len);
}

static void nothing_in_nothing_out(void **state)
{
	struct console_escape e = {0};
	uint8_t out[1];
	size_t out_len = 7, used = 7;

	assert_int_equal(console_escape_feed(&e, (const uint8_t *)"", 0, out,
					     &out_len, &used),
			 CONSOLE_ESCAPE_NONE);
	assert_int_equal(out_len, 0);
	assert_int_equal(used, 0);
}

static void a_nul_byte_is_the_guests(void **state)
{
	char t[64] = "";
	struct console_escape e = {0};

	feed_read(&e,
		  "a\0\x01\x01"
		  "b",
		  5, t, sizeof(t));
	assert_memory_equal(t,
			    "a\0\x01"
			    "b",
			    4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_bytes_reach_the_guest_unchanged),
		cmocka_unit_test(ctrl_a_x_quits_and_what_follows_is_left),
		cmocka_unit_test(ctrl_a_capital_x_quits_too),
		cmocka_unit_test(ctrl_a_ctrl_a_sends_one_ctrl_a),
		cmocka_unit_test(an_unknown_escape_is_swallowed),
		cmocka_unit_test(an_escape_split_across_two_reads_still_counts),
		cmocka_unit_test(a_balloon_line_ends_at_cr_or_lf),
		cmocka_unit_test(the_balloon_line_is_read_as_is),
		cmocka_unit_test(the_balloon_line_splits_across_reads),
		cmocka_unit_test(an_over_long_balloon_line_keeps_its_start),
		cmocka_unit_test(several_events_in_one_read_come_in_order),
		cmocka_unit_test(nothing_in_nothing_out),
		cmocka_unit_test(a_nul_byte_is_the_guests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
