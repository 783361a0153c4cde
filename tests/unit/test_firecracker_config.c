/* The pure pieces behind tern's Firecracker compatibility: which rate
 * limiters are accepted (only those that limit nothing), the logger's
 * module filter, partition UUIDs, and Firecracker's spelling of levels and
 * cache modes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "config/config_check.h"
#include "config/rate_limiter_json.h"
#include "util/log.h"

static int limiter(const char *text, struct tern_error *err)
{
	json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);
	int ret;

	assert_non_null(value);
	memset(err, 0, sizeof(*err));
	ret = rate_limiter_json_check("net.rx_rate_limiter", value, err);
	json_decref(value);
	return ret;
}

static void limiters_that_limit_nothing_are_accepted(void **state)
{
	struct tern_error err;

	(void)state;
	assert_int_equal(limiter("null", &err), 0);
	assert_int_equal(limiter("{}", &err), 0);
	assert_int_equal(limiter("{\"bandwidth\": null, \"ops\": null}", &err),
			 0);
	assert_int_equal(
		limiter("{\"bandwidth\": {\"size\": 0, \"refill_time\": 100}}",
			&err),
		0);
	assert_int_equal(limiter("{\"ops\": {\"size\": 5, \"refill_time\": 0, "
				 "\"one_time_burst\": 3}}",
				 &err),
			 0);
}

static void real_limits_and_bad_shapes_are_refused(void **state)
{
	struct tern_error err;

	(void)state;
	assert_int_equal(
		limiter("{\"bandwidth\": {\"size\": 10, \"refill_time\": 100}}",
			&err),
		-EINVAL);
	assert_non_null(strstr(err.message, "net.rx_rate_limiter.bandwidth"));
	assert_non_null(strstr(err.message, "not supported by tern yet"));
	assert_int_equal(limiter("{\"ops\": {\"size\": 1}}", &err), -EINVAL);
	assert_non_null(strstr(err.message, "refill_time"));
	assert_int_equal(limiter("{\"burst\": {}}", &err), -EINVAL);
	assert_int_equal(limiter("[]", &err), -EINVAL);
	assert_int_equal(
		limiter("{\"ops\": {\"size\": -1, \"refill_time\": 1}}", &err),
		-EINVAL);
	assert_non_null(strstr(err.message, "negative"));
}

static void module_filter_matches_module_path_prefixes(void **state)
{
	(void)state;
	assert_true(log_module_matches("api", "src/api/api_server.c"));
	assert_true(
		log_module_matches("api::api_server", "src/api/api_server.c"));
	assert_true(log_module_matches("api::api_", "src/api/api_routes.c"));
	assert_true(log_module_matches("virtio::virtio_blk",
				       "/abs/src/virtio/virtio_blk.c"));
	assert_false(log_module_matches("api::api_server::request",
					"src/api/api_server.c"));
	assert_false(log_module_matches("vmm", "src/vm/vm.c"));
	assert_false(log_module_matches("api/", "src/api/api_server.c"));
	assert_false(log_module_matches("virtio::virtio_blk.c",
					"src/virtio/virtio_blk.c"));
}

static void partuuids_and_modules_are_checked(void **state)
{
	struct tern_error err;

	(void)state;
	assert_int_equal(config_check_partuuid("p", "0eaa91a0-01", &err), 0);
	assert_int_equal(
		config_check_partuuid(
			"p", "6a8c1cbb-3f5a-4a40-9d3e-1c9a0b2f7e11", &err),
		0);
	assert_int_equal(config_check_partuuid("p", "", &err), -EINVAL);
	assert_int_equal(config_check_partuuid("p", "xyz", &err), -EINVAL);
	assert_int_equal(
		config_check_partuuid(
			"p", "6a8c1cbb-3f5a-4a40-9d3e-1c9a0b2f7e11-0", &err),
		-EINVAL);
	assert_int_equal(config_check_log_module("m", "api::x_1", &err), 0);
	assert_int_equal(config_check_log_module("m", "a b", &err), -EINVAL);
	assert_int_equal(config_check_log_module("m", "", &err), -EINVAL);
}

static void firecracker_spellings(void **state)
{
	enum block_cache_mode cache;
	struct tern_error err;

	(void)state;
	assert_string_equal(log_level_firecracker_name(LOG_ERROR), "Error");
	assert_string_equal(log_level_firecracker_name(LOG_WARN), "Warning");
	assert_string_equal(log_level_firecracker_name(LOG_INFO), "Info");
	assert_string_equal(log_level_firecracker_name(LOG_DEBUG), "Debug");
	assert_string_equal(log_level_firecracker_name(LOG_OFF), "Off");
	assert_int_equal(config_parse_disk_cache("c", "Unsafe", &cache, &err),
			 0);
	assert_int_equal(cache, BLOCK_CACHE_UNSAFE);
	assert_string_equal(config_disk_cache_name(cache), "Unsafe");
	assert_string_equal(config_disk_cache_name(BLOCK_CACHE_WRITEBACK),
			    "Writeback");
	assert_string_equal(config_disk_cache_name(BLOCK_CACHE_NONE), "None");
	assert_int_equal(config_parse_disk_cache("c", "Fast", &cache, &err),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(limiters_that_limit_nothing_are_accepted),
		cmocka_unit_test(real_limits_and_bad_shapes_are_refused),
		cmocka_unit_test(module_filter_matches_module_path_prefixes),
		cmocka_unit_test(partuuids_and_modules_are_checked),
		cmocka_unit_test(firecracker_spellings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
