#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

int tern_error_set(struct tern_error *err, int errnum, const char *fmt, ...)
{
	va_list args;

	if (err) {
		va_start(args, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, args);
		va_end(args);
	}
	return -errnum;
}
