#include "util/file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int file_map_open(struct file_map *map, const char *path, const char *what,
		  struct tern_error *err)
{
	struct stat st;
	void *data;
	int fd, ret = 0;

	memset(map, 0, sizeof(*map));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return tern_error_set(err, errno, "%s %s: %s", what, path,
				      strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = tern_error_set(err, errno, "%s %s: %s", what, path,
				     strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		ret = tern_error_set(err, EINVAL, "%s %s: not a regular file",
				     what, path);
	} else if (st.st_size == 0) {
		ret = tern_error_set(err, EINVAL, "%s %s: file is empty", what,
				     path);
	} else {
		data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			    fd, 0);
		if (data == MAP_FAILED) {
			ret = tern_error_set(err, errno, "%s %s: %s", what,
					     path, strerror(errno));
		} else {
			map->data = data;
			map->size = (size_t)st.st_size;
		}
	}
	close(fd);
	return ret;
}

void file_map_close(struct file_map *map)
{
	if (map->data)
		munmap((void *)map->data, map->size);
	memset(map, 0, sizeof(*map));
}
