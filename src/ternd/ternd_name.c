#include "ternd/ternd_name.h"

#include <errno.h>
#include <string.h>

static int name_char_ok(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return !first && (c == '.' || c == '_' || c == '-');
}

int ternd_name_check(const char *kind, const char *name, struct tern_error *err)
{
	size_t len = strnlen(name, TERND_NAME_MAX + 1);

	if (len == 0 || len > TERND_NAME_MAX)
		return tern_error_set(err, EINVAL,
				      "a %s name has 1 to %d characters", kind,
				      TERND_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok(name[i], i == 0))
			return tern_error_set(
				err, EINVAL,
				"%s name '%.64s': only letters, digits, '.', "
				"'_' and '-' are allowed, and it starts with a "
				"letter or a digit",
				kind, name);
	return 0;
}
