#include "cli/option_list.h"

#include <errno.h>
#include <string.h>

int option_list_each(const char *option, const char *text, option_item_fn each,
		     void *ctx, struct tern_error *err)
{
	const char *item = text;

	for (;;) {
		const char *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);
		const char *eq = memchr(item, '=', len);
		struct option_item parsed = {
			.key = item,
			.key_len = eq ? (size_t)(eq - item) : len,
			.value = eq ? eq + 1 : NULL,
			.value_len = eq ? len - (size_t)(eq - item) - 1 : 0,
		};
		int ret;

		if (len == 0)
			return tern_error_set(err, EINVAL,
					      "%s '%s': empty item", option,
					      text);
		ret = each(&parsed, ctx, err);
		if (ret || !comma)
			return ret;
		item = comma + 1;
	}
}

bool option_item_is(const struct option_item *item, const char *word,
		    bool has_value)
{
	return strlen(word) == item->key_len &&
		!strncmp(item->key, word, item->key_len) &&
		(item->value != NULL) == has_value;
}

bool option_item_copy(const struct option_item *item, char *dst, size_t size)
{
	if (item->value_len >= size)
		return false;
	memcpy(dst, item->value, item->value_len);
	dst[item->value_len] = '\0';
	return true;
}
