#include "config/rate_limiter_json.h"

#include <errno.h>
#include <stdio.h>

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

static int refuse_negative(const char *field, const char *key,
			   const json_t *bucket, struct tern_error *err)
{
	const json_t *value = json_fields_get(bucket, key);

	if (value && json_integer_value(value) < 0)
		return tern_error_set(
			err, EINVAL, "%s.%s %lld: must not be negative", field,
			key, (long long)json_integer_value(value));
	return 0;
}

int rate_limiter_json_check_bucket(const char *field, const json_t *bucket,
				   struct tern_error *err)
{
	int ret;

	if (!bucket || json_is_null(bucket))
		return 0;
	ret = json_fields_check(
		bucket, field, bucket_fields,
		sizeof(bucket_fields) / sizeof(bucket_fields[0]), 0, err);
	if (!ret)
		ret = refuse_negative(field, "size", bucket, err);
	if (!ret)
		ret = refuse_negative(field, "refill_time", bucket, err);
	if (!ret)
		ret = refuse_negative(field, "one_time_burst", bucket, err);
	if (ret)
		return ret;
	/* Firecracker: a bucket of size 0 or refill time 0 limits nothing. */
	if (json_integer_value(json_fields_get(bucket, "size")) == 0 ||
	    json_integer_value(json_fields_get(bucket, "refill_time")) == 0)
		return 0;
	return tern_error_set(
		err, EINVAL,
		"%s: rate limiting is not supported by tern yet "
		"(only an empty limiter, or a bucket with size or "
		"refill_time 0, is accepted)",
		field);
}

int rate_limiter_json_check(const char *field, const json_t *limiter,
			    struct tern_error *err)
{
	char where[96];
	int ret;

	if (!limiter || json_is_null(limiter))
		return 0;
	ret = json_fields_check(
		limiter, field, limiter_fields,
		sizeof(limiter_fields) / sizeof(limiter_fields[0]), 0, err);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s.bandwidth", field);
	ret = rate_limiter_json_check_bucket(
		where, json_fields_get(limiter, "bandwidth"), err);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s.ops", field);
	return rate_limiter_json_check_bucket(
		where, json_fields_get(limiter, "ops"), err);
}
