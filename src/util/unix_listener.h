/* A listening Unix stream socket for a control API (tern's --api-sock,
 * ternd's --socket): created 0600 whatever the umask, a stale socket file
 * left by a dead process replaced, one a live process accepts on refused
 * (two servers must never share a path). */
#ifndef TERN_UTIL_UNIX_LISTENER_H
#define TERN_UTIL_UNIX_LISTENER_H

#include "util/error.h"

/* what names the path in messages (an option such as "--api-sock").
 * Returns the listening descriptor (close-on-exec), or a negative errno
 * with err set. */
int unix_listener_open(const char *path, const char *what, int backlog,
		       struct tern_error *err);

#endif
