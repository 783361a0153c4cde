/* Free page hinting's command ids without a device: ids given out, the
 * guest's STOP acknowledged only for the current run, wrap-around past
 * the reserved ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "virtio/virtio_balloon_hint.h"

static void ids_skip_stop_and_done_when_they_wrap(void **state)
{
	struct balloon_hint h;

	(void)state;
	balloon_hint_init(&h);
	assert_int_equal(h.host_cmd, BALLOON_HINT_CMD_STOP);
	assert_false(balloon_hint_takes_ranges(&h));
	assert_int_equal(balloon_hint_start(&h, true), 2);
	assert_int_equal(balloon_hint_start(&h, true), 3);
	h.last_run_id = UINT32_MAX - 1;
	assert_int_equal(balloon_hint_start(&h, true), UINT32_MAX);
	assert_int_equal(balloon_hint_start(&h, true), 2);
}

static void ranges_only_for_the_current_run(void **state)
{
	struct balloon_hint h;

	(void)state;
	balloon_hint_init(&h);
	balloon_hint_start(&h, true);
	assert_false(balloon_hint_takes_ranges(&h)); /* guest not started */
	assert_false(balloon_hint_guest_cmd(&h, 2));
	assert_true(balloon_hint_takes_ranges(&h));
	/* The guest's DONE (not its word) ends its run like STOP. */
	assert_true(balloon_hint_guest_cmd(&h, BALLOON_HINT_CMD_DONE));
	assert_int_equal(h.host_cmd, BALLOON_HINT_CMD_DONE);
	assert_false(balloon_hint_takes_ranges(&h));
	/* A second STOP changes nothing more. */
	assert_false(balloon_hint_guest_cmd(&h, BALLOON_HINT_CMD_STOP));

	/* The guest answers with an id the host never gave: not taken. */
	balloon_hint_start(&h, true);
	assert_false(balloon_hint_guest_cmd(&h, 77));
	assert_false(balloon_hint_takes_ranges(&h));
	assert_false(balloon_hint_guest_cmd(&h, BALLOON_HINT_CMD_STOP));
	assert_int_equal(h.host_cmd, 3);

	/* The host stops while the guest is still sending. */
	assert_false(balloon_hint_guest_cmd(&h, 3));
	balloon_hint_stop(&h);
	assert_false(balloon_hint_takes_ranges(&h));
	assert_false(balloon_hint_guest_cmd(&h, BALLOON_HINT_CMD_STOP));

	balloon_hint_start(&h, true);
	assert_false(balloon_hint_guest_cmd(&h, 4));
	balloon_hint_reset(&h);
	assert_int_equal(h.host_cmd, BALLOON_HINT_CMD_STOP);
	assert_false(balloon_hint_takes_ranges(&h));
	assert_int_equal(h.guest_cmd, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_skip_stop_and_done_when_they_wrap),
		cmocka_unit_test(ranges_only_for_the_current_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
