/* Host files whose paths come from outside: the command line, the config
 * file, the API. tern often runs with more privileges than whoever named
 * the path, or than whoever can write the directory it is in, so a path is
 * never written through a symbolic link, and what it names must be the
 * kind of file the caller expects (see docs/security.md, "State files and
 * host paths"). Every check is made on what was opened (fstat), or is
 * followed by an atomic rename that replaces a link rather than following
 * it, so nothing can be swapped in between. */
#ifndef TERN_UTIL_HOST_PATH_H
#define TERN_UTIL_HOST_PATH_H

#include <sys/types.h>

#include "util/error.h"

/* Opens path write-only for appended output (the serial file, the log,
 * the metrics), created with mode if missing. Refuses a symbolic link and
 * anything but a regular file, a FIFO or a terminal. extra_flags: e.g.
 * O_NONBLOCK. Returns the fd or -errno with err set, naming `what`. */
int host_path_open_output(const char *path, int extra_flags, mode_t mode,
			  const char *what, struct tern_error *err);

/* For a file tern writes to a temporary name and renames over path (a
 * snapshot's state file, a Full memory file): an existing path must be a
 * regular file. A symbolic link, a directory or a device is refused
 * rather than replaced. */
int host_path_check_replaceable(const char *path, const char *what,
				struct tern_error *err);

/* Opens an existing file to write into it in place (a Diff snapshot onto
 * the last memory file): not through a symbolic link, a regular file,
 * owned by tern's effective user, with no other hard link. Returns the fd
 * or -errno with err set. */
int host_path_open_own_file(const char *path, int flags, const char *what,
			    struct tern_error *err);

#endif
