#include "ternd/console_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int open_append(const char *path)
{
	return open(path,
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
		    0600);
}

int console_log_open(struct console_log *log, const char *path, uint64_t max,
		     uint64_t keep, struct tern_error *err)
{
	struct stat st;

	memset(log, 0, sizeof(*log));
	log->fd = -1;
	if (snprintf(log->path, sizeof(log->path), "%s", path) >=
	    (int)sizeof(log->path))
		return tern_error_set(err, ENAMETOOLONG, "path too long");
	log->max = max;
	log->keep = keep < max ? keep : max / 2;
	log->fd = open_append(path);
	if (log->fd < 0)
		return tern_error_set(err, errno, "cannot open %s: %s", path,
				      strerror(errno));
	if (fstat(log->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(log->fd);
		log->fd = -1;
		return tern_error_set(err, EINVAL, "%s is not a regular file",
				      path);
	}
	log->size = (uint64_t)st.st_size;
	return 0;
}

/* The file becomes its newest bytes followed by data, keep bytes in all
 * (or fewer, when there are not that many). */
static int rewrite_tail(struct console_log *log, const uint8_t *data,
			size_t len)
{
	char tmp[sizeof(log->path) + 8];
	uint64_t from_file = 0;
	uint8_t *old = NULL;
	int fd, ret = 0, read_fd;

	if (len >= log->keep) {
		data += len - log->keep;
		len = log->keep;
	} else {
		from_file = log->keep - len;
		if (from_file > log->size)
			from_file = log->size;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", log->path);
	if (from_file) {
		old = malloc(from_file);
		read_fd = open(log->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (!old || read_fd < 0 ||
		    pread(read_fd, old, from_file,
			  (off_t)(log->size - from_file)) != (ssize_t)from_file)
			ret = -EIO;
		if (read_fd >= 0)
			close(read_fd);
	}
	fd = ret ? -1
		 : open(tmp,
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			0600);
	if (!ret && fd < 0)
		ret = -errno;
	if (!ret && from_file)
		ret = write_all(fd, old, from_file);
	if (!ret)
		ret = write_all(fd, data, len);
	if (fd >= 0 && close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, log->path) < 0)
		ret = -errno;
	free(old);
	if (ret) {
		unlink(tmp);
		return ret;
	}
	close(log->fd);
	log->fd = open_append(log->path);
	log->size = from_file + len;
	return log->fd < 0 ? -errno : 0;
}

int console_log_append(struct console_log *log, const void *data, size_t len)
{
	int ret;

	if (!len)
		return 0;
	if (log->size + len > log->max)
		return rewrite_tail(log, data, len);
	if (log->fd < 0) {
		log->fd = open_append(log->path);
		if (log->fd < 0)
			return -errno;
	}
	ret = write_all(log->fd, data, len);
	if (!ret)
		log->size += len;
	return ret;
}

void console_log_close(struct console_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
}

size_t console_log_tail(const char *path, void *buf, size_t want)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		size_t size = (size_t)st.st_size;
		size_t take = size < want ? size : want;

		n = pread(fd, buf, take, (off_t)(size - take));
	}
	close(fd);
	return n > 0 ? (size_t)n : 0;
}
