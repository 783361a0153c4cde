#include "config/rate_limiter_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/json_fields.h"

static const struct json_field bucket_fields[] = {
	{"size", JSON_FIELD_INT, 1, 0, 0},
	{"one_time_burst", JSON_FIELD_INT, 0, 0, 0},
	{"refill_time", JSON_FIELD_INT, 1, 0, 0},
};

static const struct json_field limiter_fields[] = {
	{"bandwidth", JSON_FIELD_OBJECT, 0, 0, 0},
	{"ops", JSON_FIELD_OBJECT, 0, 0, 0},
};

static int get_count(const char *field, const char *key, const json_t *bucket,
		     uint64_t max, uint64_t *out, struct tern_error *err)
{
	const json_t *value = json_fields_get(bucket, key);
	json_int_t n = value ? json_integer_value(value) : 0;

	if (n < 0)
		return tern_error_set(err, EINVAL,
				      "%s.%s %lld: must not be negative", field,
				      key, (long long)n);
	if ((uint64_t)n > max)
		return tern_error_set(err, EINVAL, "%s.%s %lld: at most %llu",
				      field, key, (long long)n,
				      (unsigned long long)max);
	*out = (uint64_t)n;
	return 0;
}

int rate_limiter_json_parse_bucket(const char *field, const json_t *bucket,
				   struct token_bucket_config *out,
				   struct tern_error *err)
{
	struct token_bucket_config config = {0};
	int ret;

	memset(out, 0, sizeof(*out));
	if (!bucket || json_is_null(bucket))
		return 0;
	ret = json_fields_check(
		bucket, field, bucket_fields,
		sizeof(bucket_fields) / sizeof(bucket_fields[0]), 0, err);
	if (!ret)
		ret = get_count(field, "size", bucket, UINT64_MAX, &config.size,
				err);
	if (!ret)
		ret = get_count(field, "refill_time", bucket,
				TOKEN_BUCKET_REFILL_MS_MAX,
				&config.refill_time_ms, err);
	if (!ret)
		ret = get_count(field, "one_time_burst", bucket, UINT64_MAX,
				&config.one_time_burst, err);
	if (ret)
		return ret;
	/* Firecracker: a bucket of size 0 or refill time 0 limits nothing
	 * (and shows as absent). */
	if (token_bucket_config_limits(&config))
		*out = config;
	return 0;
}

static int parse_buckets(const char *field, const json_t *limiter,
			 struct rate_limiter_config *out,
			 struct tern_error *err)
{
	char where[96];
	int ret;

	ret = json_fields_check(
		limiter, field, limiter_fields,
		sizeof(limiter_fields) / sizeof(limiter_fields[0]), 0, err);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s.bandwidth", field);
	ret = rate_limiter_json_parse_bucket(
		where, json_fields_get(limiter, "bandwidth"), &out->bandwidth,
		err);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s.ops", field);
	return rate_limiter_json_parse_bucket(
		where, json_fields_get(limiter, "ops"), &out->ops, err);
}

int rate_limiter_json_parse(const char *field, const json_t *limiter,
			    struct rate_limiter_config *out,
			    struct tern_error *err)
{
	struct rate_limiter_config config = {0};
	int ret;

	memset(out, 0, sizeof(*out));
	if (!limiter || json_is_null(limiter))
		return 0;
	ret = parse_buckets(field, limiter, &config, err);
	if (!ret)
		*out = config;
	return ret;
}

int rate_limiter_json_parse_update(const char *field, const json_t *limiter,
				   struct rate_limiter_update *out,
				   struct tern_error *err)
{
	struct rate_limiter_update update = {0};
	int ret;

	memset(out, 0, sizeof(*out));
	if (!limiter || json_is_null(limiter))
		return 0;
	ret = parse_buckets(field, limiter, &update.config, err);
	if (ret)
		return ret;
	update.set_bandwidth = json_fields_get(limiter, "bandwidth") != NULL;
	update.set_ops = json_fields_get(limiter, "ops") != NULL;
	*out = update;
	return 0;
}

json_t *rate_limiter_json_export_bucket(const struct token_bucket_config *b)
{
	json_t *bucket;

	if (!token_bucket_config_limits(b))
		return NULL;
	bucket = json_pack("{s:I, s:I}", "size", (json_int_t)b->size,
			   "refill_time", (json_int_t)b->refill_time_ms);
	if (bucket && b->one_time_burst)
		json_object_set_new(
			bucket, "one_time_burst",
			json_integer((json_int_t)b->one_time_burst));
	return bucket;
}

json_t *rate_limiter_json_export(const struct rate_limiter_config *config)
{
	json_t *limiter, *bucket;

	if (!rate_limiter_config_limits(config))
		return NULL;
	limiter = json_object();
	if (!limiter)
		return NULL;
	bucket = rate_limiter_json_export_bucket(&config->bandwidth);
	if (bucket)
		json_object_set_new(limiter, "bandwidth", bucket);
	bucket = rate_limiter_json_export_bucket(&config->ops);
	if (bucket)
		json_object_set_new(limiter, "ops", bucket);
	return limiter;
}
