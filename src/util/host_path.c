#include "util/host_path.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int refuse_link(const char *path, const char *what,
		       struct tern_error *err)
{
	return tern_error_set(err, ELOOP,
			      "%s %s is a symbolic link: tern writes only to "
			      "the file itself (name the link's target)",
			      what, path);
}

int host_path_open_output(const char *path, int extra_flags, mode_t mode,
			  const char *what, struct tern_error *err)
{
	int flags = O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | extra_flags;
	int fd = open(path, O_WRONLY | flags, mode);
	struct stat st;

	/* A named pipe nobody reads yet refuses a non-blocking writer
	 * (ENXIO); opened for reading too, as Firecracker opens its log and
	 * metrics pipes, it is there at once and the reader may come later.
	 * Linux never blocks an O_RDWR open of a FIFO. */
	if (fd < 0 && errno == ENXIO && (extra_flags & O_NONBLOCK))
		fd = open(path, O_RDWR | flags, mode);

	if (fd < 0 && errno == ELOOP)
		return refuse_link(path, what, err);
	if (fd < 0)
		return tern_error_set(err, errno, "%s %s: %s", what, path,
				      strerror(errno));
	if (fstat(fd, &st) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || isatty(fd))) {
		close(fd);
		return tern_error_set(err, EINVAL,
				      "%s %s is not a regular file, a FIFO or "
				      "a terminal",
				      what, path);
	}
	return fd;
}

int host_path_check_replaceable(const char *path, const char *what,
				struct tern_error *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT
			? 0
			: tern_error_set(err, errno, "%s %s: %s", what, path,
					 strerror(errno));
	if (S_ISLNK(st.st_mode))
		return tern_error_set(err, EEXIST,
				      "%s %s exists as a symbolic link: tern "
				      "replaces only a regular file there",
				      what, path);
	if (!S_ISREG(st.st_mode))
		return tern_error_set(err, EEXIST,
				      "%s %s exists and is not a regular file",
				      what, path);
	return 0;
}

int host_path_open_own_file(const char *path, int flags, const char *what,
			    struct tern_error *err)
{
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	int ret = 0;

	if (fd < 0 && errno == ELOOP)
		return refuse_link(path, what, err);
	if (fd < 0)
		return tern_error_set(err, errno, "%s %s: %s", what, path,
				      strerror(errno));
	if (fstat(fd, &st) < 0)
		ret = tern_error_set(err, errno, "%s %s: %s", what, path,
				     strerror(errno));
	else if (!S_ISREG(st.st_mode))
		ret = tern_error_set(err, EINVAL, "%s %s is not a regular file",
				     what, path);
	else if (st.st_uid != geteuid())
		ret = tern_error_set(err, EPERM,
				     "%s %s belongs to uid %u, not to tern's "
				     "user (uid %u)",
				     what, path, (unsigned)st.st_uid,
				     (unsigned)geteuid());
	else if (st.st_nlink != 1)
		ret = tern_error_set(err, EPERM,
				     "%s %s has %lu hard links: tern writes "
				     "into it only under its one name",
				     what, path, (unsigned long)st.st_nlink);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}
