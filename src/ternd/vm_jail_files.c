#include "ternd/vm_jail_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ternd/vm_jail.h"
#include "util/log.h"

/* Removes name in dir_fd: a file or link, or a directory with the files
 * in it (one level: the jailed tern's snapshot directory holds files). */
static int remove_entry(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *e;
	DIR *d;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return unlinkat(dir_fd, name, 0) && errno != ENOENT ? -errno
								    : 0;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return unlinkat(dir_fd, name, AT_REMOVEDIR) && errno != ENOENT ? -errno
								       : 0;
}

int vm_jail_stage_open(const char *vm_dir, struct vm_jail_stage *s,
		       struct tern_error *err)
{
	int ret;

	*s = (struct vm_jail_stage){.root_fd = -1, .dir_fd = -1};
	s->root_fd = vm_jail_open_root(vm_dir, &s->uid);
	if (s->root_fd == -ENOENT)
		return -ENOENT;
	if (s->root_fd < 0)
		return tern_error_set(err, -s->root_fd,
				      "cannot open the VM's jail: %s",
				      strerror(-s->root_fd));
	ret = remove_entry(s->root_fd, VM_JAIL_SNAPSHOT_DIR);
	if (!ret && mkdirat(s->root_fd, VM_JAIL_SNAPSHOT_DIR, 0700))
		ret = -errno;
	if (!ret) {
		s->dir_fd =
			openat(s->root_fd, VM_JAIL_SNAPSHOT_DIR,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s->dir_fd < 0 || fchown(s->dir_fd, s->uid, s->uid))
			ret = -errno;
	}
	if (ret) {
		vm_jail_stage_close(s);
		return tern_error_set(err, -ret,
				      "cannot make the directory the jailed "
				      "tern writes its snapshot in: %s",
				      strerror(-ret));
	}
	return 0;
}

int vm_jail_stage_take(struct vm_jail_stage *s, const char *name, int to_dir_fd,
		       const char *to_dir, struct tern_error *err)
{
	struct stat st;
	int fd;

	if (renameat(s->dir_fd, name, to_dir_fd, name))
		return tern_error_set(
			err, errno,
			"cannot move the jailed tern's snapshot file '%s' to "
			"%s: %s%s",
			name, to_dir, strerror(errno),
			errno == EXDEV ? " (the jails and the VMs' directories "
					 "must be one file system)"
				       : "");
	/* Moved first, checked after: the tern can no longer reach it by
	 * name, so what is checked is what stays. */
	if (fstatat(to_dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) ||
	    !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != s->uid) {
		unlinkat(to_dir_fd, name, 0);
		return tern_error_set(err, EPERM,
				      "the jailed tern's snapshot file '%s' "
				      "is not a file of its own with one "
				      "link: refused",
				      name);
	}
	fd = openat(to_dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, 0, 0) || fchmod(fd, 0600)) {
		int saved = errno;

		if (fd >= 0)
			close(fd);
		return tern_error_set(err, saved, "%s/%s: %s", to_dir, name,
				      strerror(saved));
	}
	close(fd);
	return 0;
}

void vm_jail_stage_close(struct vm_jail_stage *s)
{
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	if (s->root_fd >= 0) {
		remove_entry(s->root_fd, VM_JAIL_SNAPSHOT_DIR);
		close(s->root_fd);
	}
	s->dir_fd = s->root_fd = -1;
}

int vm_jail_put_psk(const char *vm_dir, const char *psk, struct tern_error *err)
{
	const char *name = &VM_JAIL_PSK[1]; /* relative to the root */
	size_t len = strlen(psk);
	uid_t uid;
	int root = vm_jail_open_root(vm_dir, &uid), fd, ok;

	if (root == -ENOENT)
		return -ENOENT;
	if (root < 0)
		return tern_error_set(err, -root,
				      "cannot open the VM's jail: %s",
				      strerror(-root));
	remove_entry(root, name);
	fd = openat(root, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
	ok = fd >= 0 && write(fd, psk, len) == (ssize_t)len &&
		write(fd, "\n", 1) == 1 && !fchown(fd, uid, uid);
	if (fd >= 0)
		ok = !close(fd) && ok;
	if (!ok) {
		int saved = errno ? errno : EIO;

		unlinkat(root, name, 0);
		close(root);
		return tern_error_set(err, saved,
				      "cannot put the migration key into the "
				      "VM's jail: %s",
				      strerror(saved));
	}
	close(root);
	return 0;
}

void vm_jail_remove_psk(const char *vm_dir)
{
	uid_t uid;
	int root = vm_jail_open_root(vm_dir, &uid);

	if (root < 0)
		return;
	if (unlinkat(root, &VM_JAIL_PSK[1], 0) && errno != ENOENT)
		log_warn("cannot remove the migration key from the jail of "
			 "%s: %s",
			 vm_dir, strerror(errno));
	close(root);
}
