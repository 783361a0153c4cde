/* Options whose value is a comma-separated list of KEY=VALUE and KEY items
 * (--disk, --pmem): the splitting and the key matching they share. */
#ifndef TERN_CLI_OPTION_LIST_H
#define TERN_CLI_OPTION_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* One item: its key, and its value when the item has '=' (value NULL
 * otherwise). Neither is NUL-terminated. */
struct option_item {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

typedef int (*option_item_fn)(const struct option_item *item, void *ctx,
			      struct tern_error *err);

/* Calls each for every item of text in order, stopping at the first
 * error; an empty item is refused naming option and text. */
int option_list_each(const char *option, const char *text, option_item_fn each,
		     void *ctx, struct tern_error *err);

/* Whether the item's key is word (with a value: has_value). */
bool option_item_is(const struct option_item *item, const char *word,
		    bool has_value);

/* Copies the value into dst (size bytes), NUL-terminated; false when it
 * does not fit. */
bool option_item_copy(const struct option_item *item, char *dst, size_t size);

#endif
