#include "backends/block_file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_image(int fd, const char *path, bool readonly,
		      struct tern_error *err)
{
	/* OFD locks belong to the open file description, not the process:
	 * two disks of one tern on one image conflict too, and closing some
	 * other descriptor of the file never drops the lock. */
	struct flock lock = {
		.l_type = readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};

	if (fcntl(fd, F_OFD_SETLK, &lock) == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return tern_error_set(err, EBUSY,
				      "disk %s is locked: another VM (or "
				      "another --disk) %s it",
				      path, readonly ? "writes to" : "uses");
	return tern_error_set(err, errno, "disk %s: cannot lock it: %s", path,
			      strerror(errno));
}

static int image_size(struct block_file *file, const char *path,
		      struct tern_error *err)
{
	struct stat st;

	if (fstat(file->fd, &st) < 0)
		return tern_error_set(err, errno, "disk %s: %s", path,
				      strerror(errno));
	if (S_ISREG(st.st_mode)) {
		file->size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(file->fd, BLKGETSIZE64, &file->size) < 0)
			return tern_error_set(err, errno,
					      "disk %s: cannot read the block "
					      "device's size: %s",
					      path, strerror(errno));
		file->is_block_device = true;
	} else {
		return tern_error_set(err, EINVAL,
				      "disk %s: not a regular file or a block "
				      "device",
				      path);
	}
	/* As Firecracker: the guest gets the whole sectors, and a partial
	 * one at the end stays out of its reach (every request is checked
	 * against size). */
	file->hidden_bytes = (uint32_t)(file->size % BLOCK_SECTOR_SIZE);
	file->size -= file->hidden_bytes;
	return 0;
}

/* O_DIRECT's alignment: the logical block size of a block device; for a
 * file, statx's DIOALIGN (Linux 6.1+) when the kernel reports it, otherwise
 * the usual 512. */
static uint32_t direct_alignment(const struct block_file *file)
{
	struct statx stx;
	int sector_size;

	if (file->is_block_device &&
	    ioctl(file->fd, BLKSSZGET, &sector_size) == 0 && sector_size > 0)
		return (uint32_t)sector_size;
#ifdef STATX_DIOALIGN
	if (statx(file->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align &&
	    stx.stx_dio_mem_align)
		return stx.stx_dio_offset_align > stx.stx_dio_mem_align
			? stx.stx_dio_offset_align
			: stx.stx_dio_mem_align;
#else
	(void)stx;
#endif
	return BLOCK_SECTOR_SIZE;
}

static int open_image(struct block_file *file, const char *path, bool readonly,
		      enum block_cache_mode cache, bool lock,
		      struct tern_error *err)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int ret;

	memset(file, 0, sizeof(*file));
	file->buffered_fd = -1;
	file->readonly = readonly;
	file->cache = cache;
	file->direct_alignment = 1;
	file->fd =
		open(path, flags | (cache == BLOCK_CACHE_NONE ? O_DIRECT : 0));
	if (file->fd < 0) {
		ret = errno;
		if (ret == EINVAL && cache == BLOCK_CACHE_NONE)
			return tern_error_set(err, ret,
					      "disk %s: cache=none needs "
					      "O_DIRECT, which its file system "
					      "does not support",
					      path);
		if (ret == EROFS || (ret == EACCES && !readonly))
			return tern_error_set(err, ret,
					      "disk %s: %s (add ',readonly' to "
					      "use it read-only)",
					      path, strerror(ret));
		return tern_error_set(err, ret, "disk %s: %s", path,
				      strerror(ret));
	}
	ret = lock ? block_file_lock(file, path, err) : 0;
	if (!ret)
		ret = image_size(file, path, err);
	if (!ret && cache == BLOCK_CACHE_NONE) {
		file->direct_alignment = direct_alignment(file);
		file->buffered_fd = open(path, flags);
		if (file->buffered_fd < 0)
			ret = tern_error_set(err, errno, "disk %s: %s", path,
					     strerror(errno));
	}
	if (ret)
		block_file_close(file);
	return ret;
}

int block_file_open(struct block_file *file, const char *path, bool readonly,
		    enum block_cache_mode cache, struct tern_error *err)
{
	return open_image(file, path, readonly, cache, true, err);
}

int block_file_open_unlocked(struct block_file *file, const char *path,
			     bool readonly, enum block_cache_mode cache,
			     struct tern_error *err)
{
	return open_image(file, path, readonly, cache, false, err);
}

int block_file_lock(struct block_file *file, const char *path,
		    struct tern_error *err)
{
	int ret;

	if (file->locked)
		return 0;
	ret = lock_image(file->fd, path, file->readonly, err);
	if (!ret)
		file->locked = true;
	return ret;
}

int block_file_unlock(struct block_file *file)
{
	struct flock lock = {
		.l_type = F_UNLCK,
		.l_whence = SEEK_SET,
	};

	if (!file->locked)
		return 0;
	if (fcntl(file->fd, F_OFD_SETLK, &lock) < 0)
		return -errno;
	file->locked = false;
	return 0;
}

int block_file_sync(struct block_file *file)
{
	if (file->readonly)
		return 0;
	return fdatasync(file->fd) < 0 ? -errno : 0;
}

void block_file_close(struct block_file *file)
{
	if (file->buffered_fd >= 0)
		close(file->buffered_fd);
	if (file->fd >= 0)
		close(file->fd);
	file->fd = -1;
	file->buffered_fd = -1;
}

bool block_file_is(const struct block_file *file, const char *path)
{
	struct stat open_st, path_st;

	return fstat(file->fd, &open_st) == 0 && stat(path, &path_st) == 0 &&
		open_st.st_dev == path_st.st_dev &&
		open_st.st_ino == path_st.st_ino;
}

int block_file_refresh_size(struct block_file *file, const char *path,
			    struct tern_error *err)
{
	uint64_t old = file->size;
	uint32_t old_hidden = file->hidden_bytes;
	int ret = image_size(file, path, err);

	if (ret) {
		file->size = old;
		file->hidden_bytes = old_hidden;
	}
	return ret;
}
