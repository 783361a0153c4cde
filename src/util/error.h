/* Errors travel up as a negative errno plus one human sentence, so the place
 * that can report them (main) prints exactly one clear line. */
#ifndef TERN_UTIL_ERROR_H
#define TERN_UTIL_ERROR_H

struct tern_error {
	char message[256];
};

/* Sets the message (printf format) and returns -errnum, so callers can write
 * `return tern_error_set(err, ENOENT, "...")`. */
int tern_error_set(struct tern_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
