/* The names clients give ternd's objects (VMs, volumes). Each becomes a
 * path component under ternd's state or pool directory and a URL segment,
 * so every name from a client is hostile: 1 to TERND_NAME_MAX of
 * [A-Za-z0-9._-], starting with a letter or a digit (never ".", "..", a
 * hidden file, a slash, or anything a shell or a log line would mangle). */
#ifndef TERN_TERND_TERND_NAME_H
#define TERN_TERND_TERND_NAME_H

#include "util/error.h"

#define TERND_NAME_MAX 64

/* 0, or -EINVAL with err saying what is wrong with the name; kind is what
 * the name names ("VM", "volume"), for the message. */
int ternd_name_check(const char *kind, const char *name,
		     struct tern_error *err);

#endif
