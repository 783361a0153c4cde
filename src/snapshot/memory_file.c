#include "snapshot/memory_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/dirty_pages.h"
#include "util/host_path.h"

static int page_is_zero(const uint8_t *page)
{
	static const uint8_t zero[MEMORY_FILE_PAGE_SIZE];

	return memcmp(page, zero, MEMORY_FILE_PAGE_SIZE) == 0;
}

static int pwrite_all(int fd, const uint8_t *buf, size_t len, off_t offset)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

/* Writes the non-zero runs of [start, start+len) of the RAM mapping. */
static int write_nonzero_runs(int fd, const uint8_t *base, size_t start,
			      size_t len, uint64_t *written)
{
	size_t run = 0, run_start = start;

	for (size_t off = start; off < start + len;
	     off += MEMORY_FILE_PAGE_SIZE) {
		if (!page_is_zero(base + off)) {
			if (!run)
				run_start = off;
			run += MEMORY_FILE_PAGE_SIZE;
			continue;
		}
		if (run) {
			int ret = pwrite_all(fd, base + run_start, run,
					     (off_t)run_start);

			if (ret)
				return ret;
			*written += run;
			run = 0;
		}
	}
	if (run) {
		int ret =
			pwrite_all(fd, base + run_start, run, (off_t)run_start);

		if (ret)
			return ret;
		*written += run;
	}
	return 0;
}

int memory_file_write_full(struct vm *vm, const char *path, uint64_t *written,
			   struct tern_error *err)
{
	const struct guest_memory *mem = &vm->memory;
	uint64_t total = 0;
	char *tmp;
	int fd, ret;

	if (mem->mapping_size % MEMORY_FILE_PAGE_SIZE)
		return tern_error_set(err, EINVAL,
				      "guest memory is not a whole number of "
				      "pages");
	ret = host_path_check_replaceable(path, "memory file", err);
	if (ret)
		return ret;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
		return tern_error_set(err, ENOMEM, "out of memory");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = tern_error_set(err, errno, "memory file %s: %s", path,
				     strerror(errno));
		free(tmp);
		return ret;
	}
	/* The size first: every page not written below is a hole. */
	ret = ftruncate(fd, (off_t)mem->mapping_size) < 0 ? -errno : 0;
	if (!ret)
		ret = write_nonzero_runs(fd, mem->mapping, 0, mem->mapping_size,
					 &total);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		ret = tern_error_set(err, -ret,
				     "cannot write memory file %s: %s", path,
				     strerror(-ret));
	}
	free(tmp);
	if (!ret && written)
		*written = total;
	return ret;
}

int memory_file_track_dirty(struct vm *vm, struct tern_error *err)
{
	return dirty_pages_start(vm, err);
}

static int write_dirty_pages(struct vm *vm, int fd, uint64_t *total,
			     struct tern_error *err)
{
	size_t words = dirty_pages_words(vm);
	uint64_t *bitmap = calloc(words ? words : 1, sizeof(uint64_t));
	int ret;

	if (!bitmap)
		return tern_error_set(err, ENOMEM, "out of memory");
	/* vCPU writes and tern's own (device rings and buffers) alike. */
	ret = dirty_pages_collect(vm, bitmap, words, err);
	for (size_t w = 0; !ret && w < words; w++) {
		uint64_t bits = bitmap[w];

		while (!ret && bits) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			size_t off = (w * 64 + b) * MEMORY_FILE_PAGE_SIZE;

			bits &= bits - 1;
			if (off >= vm->memory.mapping_size)
				break;
			/* A page dirtied to zero must be written too: the
			 * older file may hold data. */
			ret = pwrite_all(fd, vm->memory.mapping + off,
					 MEMORY_FILE_PAGE_SIZE, (off_t)off);
			if (ret)
				ret = tern_error_set(err, -ret,
						     "cannot write the memory "
						     "file: %s",
						     strerror(-ret));
			*total += MEMORY_FILE_PAGE_SIZE;
		}
	}
	free(bitmap);
	return ret;
}

int memory_file_write_diff(struct vm *vm, const char *path, uint64_t *written,
			   struct tern_error *err)
{
	struct stat st;
	uint64_t total = 0;
	int fd, ret;

	if (!vm->memory_dirty_log)
		return tern_error_set(err, EINVAL,
				      "a Diff snapshot needs a Full snapshot "
				      "(or a restore) of this VM first");
	/* Guest pages go into an existing file: the last snapshot's, never
	 * whatever file of the right size a path or a link leads to. */
	fd = host_path_open_own_file(path, O_WRONLY,
				     "memory file (a Diff is written onto the "
				     "last snapshot's)",
				     err);
	if (fd < 0)
		return fd;
	/* Hotpluggable memory follows RAM in the file, as in the mapping. */
	if (fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size != vm->memory.mapping_size) {
		close(fd);
		return tern_error_set(
			err, EINVAL,
			"memory file %s is not %llu MiB: not "
			"this VM's last snapshot",
			path,
			(unsigned long long)(vm->memory.mapping_size >> 20));
	}
	ret = write_dirty_pages(vm, fd, &total, err);
	if (!ret && fsync(fd) < 0)
		ret = tern_error_set(err, errno, "memory file %s: %s", path,
				     strerror(errno));
	close(fd);
	if (!ret && written)
		*written = total;
	return ret;
}

int memory_file_map(struct vm *vm, const char *path, struct tern_error *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return tern_error_set(err, errno, "memory file %s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != vm->memory.mapping_size) {
		close(fd);
		return tern_error_set(
			err, EINVAL,
			"memory file %s has %llu bytes; the VM has %llu MiB "
			"(%llu bytes, hotpluggable memory included)",
			path, (unsigned long long)st.st_size,
			(unsigned long long)(vm->memory.mapping_size >> 20),
			(unsigned long long)vm->memory.mapping_size);
	}
	ret = guest_memory_map_file(&vm->memory, fd);
	close(fd);
	if (ret)
		return tern_error_set(err, -ret,
				      "cannot map memory file %s: %s", path,
				      strerror(-ret));
	return 0;
}
