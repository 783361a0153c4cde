/* Checks a JSON object against a table of the fields it may hold: no unknown
 * field, each of the right type and range, required ones present. The first
 * problem becomes one message naming the field ("machine-config.vcpu_count:
 * expected an integer"), which the API returns as its fault_message. */
#ifndef TERN_CONFIG_JSON_FIELDS_H
#define TERN_CONFIG_JSON_FIELDS_H

#include <jansson.h>
#include <stddef.h>

#include "util/error.h"

enum json_field_type {
	JSON_FIELD_STRING,
	JSON_FIELD_BOOL,
	JSON_FIELD_INT,
	JSON_FIELD_OBJECT,
	JSON_FIELD_ARRAY,
};

struct json_field {
	const char *name;
	enum json_field_type type;
	int required;
	/* JSON_FIELD_INT only; both 0: any integer. */
	long long min, max;
};

/* where names the object ("machine-config"); partial (PATCH) skips the
 * required check. An optional field given as null counts as absent. */
int json_fields_check(const json_t *object, const char *where,
		      const struct json_field *fields, size_t count,
		      int partial, struct tern_error *err);

/* The value of a field json_fields_check() accepted, or NULL when it is
 * absent or null. */
json_t *json_fields_get(const json_t *object, const char *name);

#define JSON_FIELDS_CHECK(object, where, fields, partial, err)                 \
	json_fields_check(object, where, fields,                               \
			  sizeof(fields) / sizeof((fields)[0]), partial, err)

#endif
