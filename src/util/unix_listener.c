#include "util/unix_listener.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

/* The umask is the process's, but this runs before any other thread
 * creates files, and would only make one of theirs stricter. */
static int bind_private(int fd, const struct sockaddr_un *addr)
{
	mode_t old = umask(0177);
	int ret = bind(fd, (const struct sockaddr *)addr, sizeof(*addr));
	int saved = errno;

	umask(old);
	errno = saved;
	return ret;
}

static int replace_stale(const struct sockaddr_un *addr, const char *what,
			 struct tern_error *err)
{
	const char *path = addr->sun_path;
	struct stat st;
	int probe;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return tern_error_set(err, EEXIST,
				      "%s %s exists and is not a socket", what,
				      path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 &&
	    connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) == 0) {
		close(probe);
		return tern_error_set(err, EADDRINUSE,
				      "%s %s is in use by another process",
				      what, path);
	}
	if (probe >= 0)
		close(probe);
	if (unlink(path) < 0)
		return tern_error_set(err, errno,
				      "cannot remove the stale socket %s: %s",
				      path, strerror(errno));
	log_info("removed the stale socket %s", path);
	return 0;
}

int unix_listener_open(const char *path, const char *what, int backlog,
		       struct tern_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, ret;

	if (!path[0] || strlen(path) >= sizeof(addr.sun_path))
		return tern_error_set(err, ENAMETOOLONG,
				      "%s '%s': a socket path must have 1 to "
				      "%zu bytes",
				      what, path, sizeof(addr.sun_path) - 1);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	ret = replace_stale(&addr, what, err);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tern_error_set(err, errno, "socket: %s",
				      strerror(errno));
	if (bind_private(fd, &addr) < 0 || listen(fd, backlog) < 0) {
		int saved = errno;

		close(fd);
		return tern_error_set(err, saved, "%s %s: %s", what, path,
				      strerror(saved));
	}
	return fd;
}
