#include "vm/kernel_cmdline.h"

#include <string.h>

static bool separator(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether a parameter of cmdline starts with text (whole: is text). */
static bool find(const char *cmdline, const char *text, bool whole)
{
	size_t len = strlen(text);

	for (const char *p = cmdline; p && (p = strstr(p, text)); p++)
		if ((p == cmdline || separator(p[-1])) &&
		    (!whole || p[len] == '\0' || separator(p[len])))
			return true;
	return false;
}

bool kernel_cmdline_has_word(const char *cmdline, const char *word)
{
	return find(cmdline, word, true);
}

bool kernel_cmdline_has_key(const char *cmdline, const char *key)
{
	char prefix[64];
	size_t len = strlen(key);

	if (len + 2 > sizeof(prefix))
		return false;
	memcpy(prefix, key, len);
	prefix[len] = '=';
	prefix[len + 1] = '\0';
	return find(cmdline, prefix, false);
}
