#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

static int suffix_shift(const char *suffix, unsigned *shift)
{
	static const struct {
		char letter;
		unsigned shift;
	} units[] = {{'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}};

	if (*suffix == '\0') {
		*shift = 20;
		return 0;
	}
	if (!strcasecmp(suffix, "b")) {
		*shift = 0;
		return 0;
	}
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (tolower((unsigned char)suffix[0]) != units[i].letter)
			continue;
		if (suffix[1] == '\0' || !strcasecmp(suffix + 1, "b") ||
		    !strcasecmp(suffix + 1, "ib")) {
			*shift = units[i].shift;
			return 0;
		}
	}
	return -EINVAL;
}

int size_parse(const char *text, uint64_t *bytes)
{
	unsigned long long value;
	unsigned shift;
	char *end;

	if (!text || !isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (suffix_shift(end, &shift))
		return -EINVAL;
	if (shift && value > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = (uint64_t)value << shift;
	return 0;
}
