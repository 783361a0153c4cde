/* The pure pieces behind tern's Firecracker compatibility: rate limiters
 * as the API gives them (PUT and PATCH) and shows them back, the logger's
 * module filter, partition UUIDs, and Firecracker's spelling of levels and
 * cache modes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_check.h"
#include "config/rate_limiter_json.h"
#include "util/log.h"

static int limiter(const char *text, struct rate_limiter_config *out,
		   struct tern_error *err)
{
	json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);
	int ret;

	assert_non_null(value);
	memset(err, 0, sizeof(*err));
	ret = rate_limiter_json_parse("net.rx_rate_limiter", value, out, err);
	json_decref(value);
	return ret;
}

static void limiters_that_limit_nothing_are_off(void **state)
{
	const char *none[] = {
		"null",
		"{}",
		"{\"bandwidth\": null, \"ops\": null}",
		"{\"bandwidth\": {\"size\": 0, \"refill_time\": 100}}",
		"{\"ops\": {\"size\": 5, \"refill_time\": 0, "
		"\"one_time_burst\": 3}}",
	};
	struct rate_limiter_config config;
	struct tern_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		memset(&config, 0xff, sizeof(config));
		assert_int_equal(limiter(none[i], &config, &err), 0);
		assert_false(rate_limiter_config_limits(&config));
		assert_null(rate_limiter_json_export(&config));
	}
}

static void real_limits_are_parsed_and_shown_back(void **state)
{
	struct rate_limiter_config config;
	struct tern_error err;
	json_t *shown;
	char *text;

	(void)state;
	assert_int_equal(
		limiter("{\"bandwidth\": {\"size\": 1048576, "
			"\"refill_time\": 1000, \"one_time_burst\": 4096}, "
			"\"ops\": {\"size\": 100, \"refill_time\": 10}}",
			&config, &err),
		0);
	assert_int_equal(config.bandwidth.size, 1048576);
	assert_int_equal(config.bandwidth.refill_time_ms, 1000);
	assert_int_equal(config.bandwidth.one_time_burst, 4096);
	assert_int_equal(config.ops.size, 100);
	assert_int_equal(config.ops.one_time_burst, 0);
	shown = rate_limiter_json_export(&config);
	text = json_dumps(shown, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text,
			    "{\"bandwidth\":{\"one_time_burst\":4096,"
			    "\"refill_time\":1000,\"size\":1048576},"
			    "\"ops\":{\"refill_time\":10,\"size\":100}}");
	free(text);
	json_decref(shown);
}

static void bad_shapes_are_refused_naming_the_field(void **state)
{
	struct rate_limiter_config config;
	struct tern_error err;

	(void)state;
	assert_int_equal(limiter("{\"ops\": {\"size\": 1}}", &config, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "refill_time"));
	assert_int_equal(limiter("{\"burst\": {}}", &config, &err), -EINVAL);
	assert_int_equal(limiter("[]", &config, &err), -EINVAL);
	assert_int_equal(limiter("{\"ops\": {\"size\": -1, "
				 "\"refill_time\": 1}}",
				 &config, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "net.rx_rate_limiter.ops.size"));
	assert_non_null(strstr(err.message, "negative"));
	assert_int_equal(limiter("{\"bandwidth\": {\"size\": 1, "
				 "\"refill_time\": 9223372036854775807}}",
				 &config, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "at most"));
	assert_int_equal(limiter("{\"bandwidth\": {\"size\": \"1\", "
				 "\"refill_time\": 1}}",
				 &config, &err),
			 -EINVAL);
}

static void a_patch_keeps_what_it_leaves_out(void **state)
{
	json_t *body = json_loads("{\"ops\": {\"size\": 0, "
				  "\"refill_time\": 0}}",
				  0, NULL);
	struct rate_limiter_config config = {.bandwidth = {10, 0, 100},
					     .ops = {5, 0, 100}};
	struct rate_limiter_update update;
	struct tern_error err;

	(void)state;
	assert_int_equal(rate_limiter_json_parse_update("drives.rate_limiter",
							body, &update, &err),
			 0);
	assert_false(update.set_bandwidth);
	assert_true(update.set_ops);
	rate_limiter_config_apply_update(&config, &update);
	assert_int_equal(config.bandwidth.size, 10);
	assert_false(token_bucket_config_limits(&config.ops));
	json_decref(body);
	assert_int_equal(rate_limiter_json_parse_update("drives.rate_limiter",
							NULL, &update, &err),
			 0);
	assert_false(update.set_bandwidth || update.set_ops);
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
		cmocka_unit_test(limiters_that_limit_nothing_are_off),
		cmocka_unit_test(real_limits_are_parsed_and_shown_back),
		cmocka_unit_test(bad_shapes_are_refused_naming_the_field),
		cmocka_unit_test(a_patch_keeps_what_it_leaves_out),
		cmocka_unit_test(module_filter_matches_module_path_prefixes),
		cmocka_unit_test(partuuids_and_modules_are_checked),
		cmocka_unit_test(firecracker_spellings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
