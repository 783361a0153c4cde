#include "config/json_fields.h"

#include <errno.h>
#include <string.h>

static const char *type_name(enum json_field_type type)
{
	switch (type) {
	case JSON_FIELD_STRING:
		return "a string";
	case JSON_FIELD_BOOL:
		return "true or false";
	case JSON_FIELD_INT:
		return "an integer";
	case JSON_FIELD_OBJECT:
		return "a JSON object";
	case JSON_FIELD_ARRAY:
		return "a JSON array";
	}
	return "?";
}

static int type_matches(const json_t *value, enum json_field_type type)
{
	switch (type) {
	case JSON_FIELD_STRING:
		return json_is_string(value);
	case JSON_FIELD_BOOL:
		return json_is_boolean(value);
	case JSON_FIELD_INT:
		return json_is_integer(value);
	case JSON_FIELD_OBJECT:
		return json_is_object(value);
	case JSON_FIELD_ARRAY:
		return json_is_array(value);
	}
	return 0;
}

static const struct json_field *find_field(const struct json_field *fields,
					   size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (!strcmp(fields[i].name, name))
			return &fields[i];
	return NULL;
}

static int is_required(const struct json_field *field, int mode)
{
	int record = mode & JSON_FIELDS_RECORD;

	switch (field->required) {
	case 0:
		return 0;
	case JSON_FIELD_REQUIRED_IN_RECORD:
		return record;
	case JSON_FIELD_REQUIRED_UNLESS_RECORD:
		return !record;
	}
	return 1;
}

int json_fields_check(const json_t *object, const char *where,
		      const struct json_field *fields, size_t count, int mode,
		      struct tern_error *err)
{
	const char *key;
	json_t *value;

	if (!json_is_object(object))
		return tern_error_set(err, EINVAL, "%s: expected a JSON object",
				      where);
	json_object_foreach((json_t *)object, key, value)
	{
		const struct json_field *field = find_field(fields, count, key);

		if (!field)
			return tern_error_set(err, EINVAL,
					      "%s: unknown field '%.64s'",
					      where, key);
		if (json_is_null(value) && !is_required(field, mode))
			continue;
		if (!type_matches(value, field->type))
			return tern_error_set(err, EINVAL, "%s.%s: expected %s",
					      where, field->name,
					      type_name(field->type));
		if (field->type == JSON_FIELD_INT &&
		    (field->min || field->max)) {
			json_int_t n = json_integer_value(value);

			if (n < field->min)
				return tern_error_set(
					err, EINVAL,
					"%s.%s: %lld is below the minimum %lld",
					where, field->name, (long long)n,
					field->min);
			if (n > field->max)
				return tern_error_set(
					err, EINVAL,
					"%s.%s: %lld is above the maximum %lld",
					where, field->name, (long long)n,
					field->max);
		}
	}
	for (size_t i = 0; i < count && !(mode & JSON_FIELDS_PARTIAL); i++) {
		value = json_object_get(object, fields[i].name);
		if (is_required(&fields[i], mode) &&
		    (!value || json_is_null(value)))
			return tern_error_set(
				err, EINVAL, "%s.%s: required field is missing",
				where, fields[i].name);
	}
	return 0;
}

json_t *json_fields_get(const json_t *object, const char *name)
{
	json_t *value = json_object_get(object, name);

	return json_is_null(value) ? NULL : value;
}
