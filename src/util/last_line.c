#include "util/last_line.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void file_last_line(const char *path, char *buf, size_t size)
{
	char tail[1024], *end, *start;
	ssize_t n = 0;
	int fd;

	if (size == 0)
		return;
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t length = lseek(fd, 0, SEEK_END);
	if (length > 0) {
		off_t from = length > (off_t)sizeof(tail) - 1
			? length - (off_t)sizeof(tail) + 1
			: 0;
		n = pread(fd, tail, sizeof(tail) - 1, from);
	}
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	end = tail + n;
	while (end > tail && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	start = end;
	while (start > tail && start[-1] != '\n')
		start--;
	n = end - start;
	if ((size_t)n >= size)
		n = (ssize_t)size - 1;
	memcpy(buf, start, (size_t)n);
	buf[n] = '\0';
}
