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

/* json_field.required: 0 (optional), 1 (always required) or one of these,
 * for a field whose need depends on who wrote the object. */
/* Required in a record tern wrote itself (a snapshot's configuration
 * always carries it), optional in a request or a config file. */
#define JSON_FIELD_REQUIRED_IN_RECORD 2
/* Required in a request or a config file, optional in a record (which may
 * show a state where nobody set the field yet). */
#define JSON_FIELD_REQUIRED_UNLESS_RECORD 3

struct json_field {
	const char *name;
	enum json_field_type type;
	int required;
	/* JSON_FIELD_INT only; both 0: any integer. */
	long long min, max;
};

/* json_fields_check's mode: PARTIAL (PATCH) skips the required check;
 * RECORD: the object is a record tern wrote (see json_field.required). */
#define JSON_FIELDS_PARTIAL 1
#define JSON_FIELDS_RECORD 2

/* where names the object ("machine-config"); mode: 0 or JSON_FIELDS_*
 * (1 is JSON_FIELDS_PARTIAL). An optional field given as null counts as
 * absent. */
int json_fields_check(const json_t *object, const char *where,
		      const struct json_field *fields, size_t count, int mode,
		      struct tern_error *err);

/* The value of a field json_fields_check() accepted, or NULL when it is
 * absent or null. */
json_t *json_fields_get(const json_t *object, const char *name);

#define JSON_FIELDS_CHECK(object, where, fields, mode, err)                    \
	json_fields_check(object, where, fields,                               \
			  sizeof(fields) / sizeof((fields)[0]), mode, err)

#endif
