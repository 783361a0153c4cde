#include "ternd/volume_pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ternd/ternd_name.h"

/* The copy's buffer: large enough for sequential speed, small enough for
 * ternd's one thread to stay responsive between chunks. */
#define COPY_CHUNK (1 << 20)

int volume_pool_open(struct volume_pool *pool, const char *dir,
		     struct tern_error *err)
{
	char real[PATH_MAX];

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return tern_error_set(err, errno, "cannot create %s: %s", dir,
				      strerror(errno));
	if (!realpath(dir, real))
		return tern_error_set(err, errno, "%s: %s", dir,
				      strerror(errno));
	if (snprintf(pool->dir, sizeof(pool->dir), "%s", real) >=
	    (int)sizeof(pool->dir))
		return tern_error_set(err, ENAMETOOLONG, "%s: path too long",
				      dir);
	return 0;
}

int volume_pool_path(const struct volume_pool *pool, const char *name,
		     char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", pool->dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* POOL/.NAME.SUFFIX */
static int pending_path(const struct volume_pool *pool, const char *name,
			const char *suffix, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/.%s.%s", pool->dir, name, suffix);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int volume_size_check(uint64_t size, struct tern_error *err)
{
	if (size == 0 || size % VOLUME_SECTOR)
		return tern_error_set(err, EINVAL,
				      "a volume's size is a positive multiple "
				      "of %d bytes (a disk is made of "
				      "sectors): %llu is not",
				      VOLUME_SECTOR, (unsigned long long)size);
	if (size > VOLUME_MAX_SIZE)
		return tern_error_set(err, EINVAL,
				      "a volume is at most %llu bytes (1 PiB)",
				      (unsigned long long)VOLUME_MAX_SIZE);
	return 0;
}

int volume_pool_stat(const struct volume_pool *pool, const char *name,
		     uint64_t *capacity, uint64_t *allocation)
{
	char path[4200];
	struct stat st;

	if (volume_pool_path(pool, name, path, sizeof(path)) ||
	    lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	*capacity = (uint64_t)st.st_size;
	*allocation = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int fail_errno(struct tern_error *err, const char *what,
		      const char *path)
{
	return tern_error_set(err, errno ? errno : EIO, "%s %s: %s", what, path,
			      strerror(errno ? errno : EIO));
}

/* A new, empty pending file (any earlier one removed). */
static int open_pending(const struct volume_pool *pool, const char *name,
			char *path, size_t size, struct tern_error *err)
{
	int fd;

	if (pending_path(pool, name, "new", path, size))
		return tern_error_set(err, ENAMETOOLONG, "path too long");
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return fail_errno(err, "cannot create", path);
	return fd;
}

/* fsync and close; on failure the pending file goes. */
static int close_pending(int fd, const char *path, int ret,
			 struct tern_error *err)
{
	if (!ret && fsync(fd) < 0)
		ret = fail_errno(err, "cannot write", path);
	close(fd);
	if (ret)
		unlink(path);
	return ret;
}

int volume_pool_create_pending(const struct volume_pool *pool, const char *name,
			       uint64_t size, struct tern_error *err)
{
	char path[4200];
	int ret = 0, fd = open_pending(pool, name, path, sizeof(path), err);

	if (fd < 0)
		return fd;
	if (ftruncate(fd, (off_t)size) < 0)
		ret = errno == EFBIG || errno == EINVAL
			? tern_error_set(err, EINVAL,
					 "the pool's file system cannot hold "
					 "a file of %llu bytes",
					 (unsigned long long)size)
			: fail_errno(err, "cannot size", path);
	return close_pending(fd, path, ret, err);
}

static int copy_range(int from, int to, off_t start, off_t end, char *buf,
		      const char *path, struct tern_error *err)
{
	while (start < end) {
		size_t want = end - start > COPY_CHUNK ? COPY_CHUNK
						       : (size_t)(end - start);
		ssize_t n = pread(from, buf, want, start);

		if (n <= 0)
			return tern_error_set(err, n < 0 ? errno : EIO,
					      "cannot read the source of %s",
					      path);
		if (pwrite(to, buf, (size_t)n, start) != n)
			return fail_errno(err, "cannot write", path);
		start += n;
	}
	return 0;
}

/* Copies only the data extents: the holes stay holes (the length is set
 * first, so a trailing hole is kept too). */
static int sparse_copy(int from, int to, off_t length, const char *path,
		       struct tern_error *err)
{
	char *buf = malloc(COPY_CHUNK);
	off_t data = 0, hole;
	int ret = 0;

	if (!buf)
		return tern_error_set(err, ENOMEM, "out of memory");
	if (ftruncate(to, length) < 0)
		ret = fail_errno(err, "cannot size", path);
	while (!ret && data < length) {
		data = lseek(from, data, SEEK_DATA);
		if (data < 0) {
			/* ENXIO: no data after this point. */
			if (errno != ENXIO)
				ret = fail_errno(err,
						 "cannot read the source "
						 "of",
						 path);
			break;
		}
		hole = lseek(from, data, SEEK_HOLE);
		if (hole < 0) {
			ret = fail_errno(err, "cannot read the source of",
					 path);
			break;
		}
		ret = copy_range(from, to, data, hole, buf, path, err);
		data = hole;
	}
	free(buf);
	return ret;
}

int volume_pool_clone_pending(const struct volume_pool *pool, const char *src,
			      const char *name, enum volume_clone_method *how,
			      struct tern_error *err)
{
	char src_path[4200], path[4200];
	struct stat st;
	int from, to, ret = 0;

	if (volume_pool_path(pool, src, src_path, sizeof(src_path)))
		return tern_error_set(err, ENAMETOOLONG, "path too long");
	from = open(src_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (from < 0)
		return tern_error_set(err, ENOENT,
				      "volume '%s' has no file in the pool "
				      "(%s: %s)",
				      src, src_path, strerror(errno));
	to = open_pending(pool, name, path, sizeof(path), err);
	if (to < 0) {
		close(from);
		return to;
	}
	if (fstat(from, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = tern_error_set(err, EINVAL, "%s is not a regular file",
				     src_path);
	} else if (ioctl(to, FICLONE, from) == 0) {
		*how = VOLUME_CLONE_REFLINK;
	} else {
		/* EOPNOTSUPP, EXDEV, EINVAL, ENOTTY...: this file system
		 * does not share blocks; copy instead. */
		*how = VOLUME_CLONE_COPY;
		ret = sparse_copy(from, to, st.st_size, path, err);
	}
	close(from);
	return close_pending(to, path, ret, err);
}

static int sync_dir(const struct volume_pool *pool)
{
	int fd = open(pool->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	fsync(fd);
	close(fd);
	return 0;
}

int volume_pool_commit_new(const struct volume_pool *pool, const char *name,
			   struct tern_error *err)
{
	char from[4200], to[4200];

	if (pending_path(pool, name, "new", from, sizeof(from)) ||
	    volume_pool_path(pool, name, to, sizeof(to)))
		return tern_error_set(err, ENAMETOOLONG, "path too long");
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0)
		return fail_errno(err, "cannot rename to", to);
	sync_dir(pool);
	return 0;
}

void volume_pool_discard_new(const struct volume_pool *pool, const char *name)
{
	char path[4200];

	if (!pending_path(pool, name, "new", path, sizeof(path)))
		unlink(path);
}

int volume_pool_delete_pending(const struct volume_pool *pool, const char *name,
			       struct tern_error *err)
{
	char from[4200], to[4200];

	if (volume_pool_path(pool, name, from, sizeof(from)) ||
	    pending_path(pool, name, "del", to, sizeof(to)))
		return tern_error_set(err, ENAMETOOLONG, "path too long");
	if (rename(from, to) < 0 && errno != ENOENT)
		return fail_errno(err, "cannot rename", from);
	sync_dir(pool);
	return 0;
}

void volume_pool_undo_delete(const struct volume_pool *pool, const char *name)
{
	char from[4200], to[4200];

	if (!pending_path(pool, name, "del", from, sizeof(from)) &&
	    !volume_pool_path(pool, name, to, sizeof(to)))
		renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}

void volume_pool_finish_delete(const struct volume_pool *pool, const char *name)
{
	char path[4200];

	if (!pending_path(pool, name, "del", path, sizeof(path)))
		unlink(path);
	sync_dir(pool);
}

int volume_pool_resize(const struct volume_pool *pool, const char *name,
		       uint64_t size, struct tern_error *err)
{
	char path[4200];
	int fd, ret = 0;

	if (volume_pool_path(pool, name, path, sizeof(path)))
		return tern_error_set(err, ENAMETOOLONG, "path too long");
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fail_errno(err, "cannot open", path);
	if (ftruncate(fd, (off_t)size) < 0)
		ret = errno == EFBIG || errno == EINVAL
			? tern_error_set(err, EINVAL,
					 "the pool's file system cannot hold "
					 "a file of %llu bytes",
					 (unsigned long long)size)
			: fail_errno(err, "cannot resize", path);
	if (!ret && fsync(fd) < 0)
		ret = fail_errno(err, "cannot write", path);
	close(fd);
	return ret;
}

/* ".NAME.new" or ".NAME.del" with a valid NAME: copies NAME out. */
static int pending_name(const char *file, char *name, size_t size)
{
	size_t len = strlen(file);
	struct tern_error err;

	if (file[0] != '.' || len < 6 || len - 5 >= size ||
	    (strcmp(file + len - 4, ".new") && strcmp(file + len - 4, ".del")))
		return 0;
	memcpy(name, file + 1, len - 5);
	name[len - 5] = '\0';
	return !ternd_name_check("volume", name, &err);
}

void volume_pool_recover(const struct volume_pool *pool,
			 int (*in_catalog)(void *ctx, const char *name),
			 void (*report)(void *ctx, const char *file,
					const char *what),
			 void *ctx)
{
	char name[TERND_NAME_MAX + 1], from[4200], to[4200];
	DIR *dir = opendir(pool->dir);
	struct dirent *entry;
	struct stat st;

	if (!dir)
		return;
	while ((entry = readdir(dir))) {
		if (!pending_name(entry->d_name, name, sizeof(name)))
			continue;
		/* "new" or "del", as pending_name() found. */
		if (pending_path(pool, name,
				 entry->d_name + strlen(entry->d_name) - 3,
				 from, sizeof(from)) ||
		    volume_pool_path(pool, name, to, sizeof(to)))
			continue;
		if (in_catalog(ctx, name) && lstat(to, &st) < 0 &&
		    renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) ==
			    0) {
			report(ctx, entry->d_name,
			       "finished: it is the volume");
		} else if (unlink(from) == 0) {
			report(ctx, entry->d_name, "removed");
		}
	}
	closedir(dir);
	sync_dir(pool);
}
