/* The jail's root directory: built aside, renamed into place. */
#include "sandbox/jail_root.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Owner-only, as Firecracker's jailer: the jailed user needs nothing more. */
#define JAIL_DIR_MODE 0700
#define COPY_CHUNK (64 * 1024)

struct jail_device {
	const char *path; /* inside the jail */
	unsigned major, minor;
};

/* Fixed numbers from the kernel's admin-guide/devices.txt: a node needs no
 * driver to be created, so /dev/kvm is made even on a host without KVM
 * (opening it then fails, as it would on the host). */
static const struct jail_device jail_devices[] = {
	{"dev/kvm", 10, 232},
	{"dev/net/tun", 10, 200},
	{"dev/urandom", 1, 9},
};

/* The userfaultfd node has a dynamic misc minor: copied from the host's. */
#define HOST_USERFAULTFD "/dev/userfaultfd"

static int read_at(int fd, void *buf, size_t len, off_t offset)
{
	ssize_t n = pread(fd, buf, len, offset);

	return n == (ssize_t)len ? 0 : -1;
}

static int elf_needs_interpreter(int fd, const Elf64_Ehdr *eh)
{
	Elf64_Phdr ph;

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (read_at(fd, &ph, sizeof(ph),
			    (off_t)(eh->e_phoff + (uint64_t)i * sizeof(ph))))
			return -1;
		if (ph.p_type == PT_INTERP)
			return 1;
	}
	return 0;
}

int jail_exec_file_check(const char *path, struct tern_error *err)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC), interp;

	if (fd < 0)
		return tern_error_set(err, errno, "open exec file %.150s: %s",
				      path, strerror(errno));
	if (read_at(fd, &eh, sizeof(eh), 0) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
	    eh.e_phentsize != sizeof(Elf64_Phdr)) {
		close(fd);
		return tern_error_set(err, ENOEXEC,
				      "exec file %.150s is not a 64-bit ELF "
				      "executable",
				      path);
	}
	interp = elf_needs_interpreter(fd, &eh);
	close(fd);
	if (interp < 0)
		return tern_error_set(err, ENOEXEC,
				      "exec file %.150s: truncated ELF "
				      "program headers",
				      path);
	if (interp)
		return tern_error_set(err, ENOEXEC,
				      "exec file %.150s is dynamically linked; "
				      "the jail holds no loader or libraries: "
				      "give a statically linked build",
				      path);
	return 0;
}

static int path_join(char *buf, const char *dir, const char *name,
		     struct tern_error *err)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX)
		return tern_error_set(err, ENAMETOOLONG,
				      "path %.100s/%.50s is too long", dir,
				      name);
	return 0;
}

/* mkdir -p of one absolute path, each missing part 0755 (root's). */
static int make_dirs(const char *path, struct tern_error *err)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return tern_error_set(err, errno,
					      "create directory %.150s: %s",
					      buf, strerror(errno));
		*p = saved;
		if (!saved)
			return 0;
	}
}

static int owned_dir(const char *root, const char *name,
		     const struct jail_root_spec *spec, struct tern_error *err)
{
	char path[PATH_MAX];
	int ret = path_join(path, root, name, err);

	if (ret)
		return ret;
	if (name[0] && mkdir(path, JAIL_DIR_MODE))
		return tern_error_set(err, errno, "create directory %.150s: %s",
				      path, strerror(errno));
	if (chmod(path, JAIL_DIR_MODE) || chown(path, spec->uid, spec->gid))
		return tern_error_set(err, errno, "set owner of %.150s: %s",
				      path, strerror(errno));
	return 0;
}

static int copy_chunks(int from, int to, char *chunk, const char *src,
		       const char *dst, struct tern_error *err)
{
	ssize_t n;

	while ((n = read(from, chunk, COPY_CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tern_error_set(err, errno, "read %.150s: %s",
					      src, strerror(errno));
		for (ssize_t done = 0, w; done < n; done += w) {
			w = write(to, chunk + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				w = 0;
			else if (w < 0)
				return tern_error_set(err, errno,
						      "write %.150s: %s", dst,
						      strerror(errno));
		}
	}
	return 0;
}

static int copy_bytes(int from, int to, const char *src, const char *dst,
		      struct tern_error *err)
{
	char *chunk = malloc(COPY_CHUNK);
	int ret = chunk ? copy_chunks(from, to, chunk, src, dst, err)
			: tern_error_set(err, ENOMEM, "out of memory");

	free(chunk);
	return ret;
}

/* A copy, never a link: two VMMs must not share the executable's pages,
 * and a link cannot cross file systems. Set-id bits are not carried. */
static int copy_exec_file(const char *root, const struct jail_root_spec *spec,
			  struct tern_error *err)
{
	char dst[PATH_MAX];
	struct stat st;
	int from, to, ret = path_join(dst, root, spec->exec_name, err);

	if (ret)
		return ret;
	from = open(spec->exec_path, O_RDONLY | O_CLOEXEC);
	if (from < 0 || fstat(from, &st)) {
		ret = tern_error_set(err, errno, "open %.150s: %s",
				     spec->exec_path, strerror(errno));
		goto close_from;
	}
	to = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  st.st_mode & 0755);
	if (to < 0) {
		ret = tern_error_set(err, errno, "create %.150s: %s", dst,
				     strerror(errno));
		goto close_from;
	}
	ret = copy_bytes(from, to, spec->exec_path, dst, err);
	if (!ret && fchown(to, spec->uid, spec->gid))
		ret = tern_error_set(err, errno, "set owner of %.150s: %s", dst,
				     strerror(errno));
	if (close(to) && !ret)
		ret = tern_error_set(err, errno, "write %.150s: %s", dst,
				     strerror(errno));
close_from:
	if (from >= 0)
		close(from);
	return ret;
}

static int make_device(const char *root, const char *name, dev_t dev,
		       const struct jail_root_spec *spec,
		       struct tern_error *err)
{
	char path[PATH_MAX];
	int ret = path_join(path, root, name, err);

	if (ret)
		return ret;
	if (mknod(path, S_IFCHR | S_IRUSR | S_IWUSR, dev))
		return tern_error_set(err, errno,
				      "create device node %.150s: %s", path,
				      strerror(errno));
	if (chown(path, spec->uid, spec->gid))
		return tern_error_set(err, errno, "set owner of %.150s: %s",
				      path, strerror(errno));
	return 0;
}

static int make_devices(const char *root, const struct jail_root_spec *spec,
			struct tern_error *err)
{
	struct stat st;
	int ret = 0;

	for (size_t i = 0;
	     !ret && i < sizeof(jail_devices) / sizeof(jail_devices[0]); i++)
		ret = make_device(
			root, jail_devices[i].path,
			makedev(jail_devices[i].major, jail_devices[i].minor),
			spec, err);
	if (!ret && !stat(HOST_USERFAULTFD, &st) && S_ISCHR(st.st_mode))
		ret = make_device(root, "dev/userfaultfd", st.st_rdev, spec,
				  err);
	return ret;
}

static int populate(const char *root, const struct jail_root_spec *spec,
		    struct tern_error *err)
{
	static const char *const dirs[] = {"", "dev", "dev/net", "run"};
	int ret = 0;

	for (size_t i = 0; !ret && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ret = owned_dir(root, dirs[i], spec, err);
	if (!ret)
		ret = copy_exec_file(root, spec, err);
	return ret ? ret : make_devices(root, spec, err);
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void jail_root_remove(const char *root)
{
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int jail_root_build(const struct jail_root_spec *spec, struct tern_error *err)
{
	char staging[PATH_MAX];
	int ret = make_dirs(spec->id_dir, err);

	if (ret)
		return ret;
	if (access(spec->root, F_OK) == 0)
		goto exists;
	ret = path_join(staging, spec->id_dir, ".root-XXXXXX", err);
	if (ret)
		return ret;
	if (!mkdtemp(staging))
		return tern_error_set(err, errno,
				      "create directory in %.150s: %s",
				      spec->id_dir, strerror(errno));
	ret = populate(staging, spec, err);
	if (!ret &&
	    renameat2(AT_FDCWD, staging, AT_FDCWD, spec->root,
		      RENAME_NOREPLACE)) {
		ret = -errno;
		if (ret != -EEXIST)
			tern_error_set(err, -ret, "rename %.120s to %.120s: %s",
				       staging, spec->root, strerror(-ret));
	}
	if (ret)
		jail_root_remove(staging);
	if (ret != -EEXIST)
		return ret;
exists:
	return tern_error_set(err, EEXIST,
			      "the jail %.150s exists already (a jail with "
			      "this --id was built before; remove it first)",
			      spec->root);
}
