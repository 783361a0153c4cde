/* The jailed process's cgroup v2. */
#include "sandbox/jailer_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int find_cgroup2_mount(char *mount, struct tern_error *err)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *m;
	int found = 0;

	if (!f)
		return tern_error_set(err, errno, "read /proc/self/mounts: %s",
				      strerror(errno));
	while (!found && (m = getmntent(f)))
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(mount, PATH_MAX, "%s", m->mnt_dir);
			found = 1;
		}
	endmntent(f);
	if (!found)
		return tern_error_set(err, ENOENT,
				      "no cgroup2 file system is mounted "
				      "(see /proc/self/mounts)");
	return 0;
}

/* "memory" of "memory.max"; the core "cgroup.*" files need none. */
static void controller_of(const char *file, char *out, size_t size)
{
	size_t len = strcspn(file, ".");

	snprintf(out, size, "%.*s", (int)len, file);
}

static int read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int word_in_list(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += len) {
		int starts = p == list || p[-1] == ' ';
		int ends = !p[len] || p[len] == ' ' || p[len] == '\n';

		if (starts && ends)
			return 1;
	}
	return 0;
}

static int check_controllers(const struct jailer_cgroup *cg,
			     const struct jailer_options *opts,
			     struct tern_error *err)
{
	char path[PATH_MAX + 32], list[1024], name[64];
	int ret;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->mount);
	ret = read_small_file(path, list, sizeof(list));
	if (ret)
		return tern_error_set(err, -ret, "read %.150s: %s", path,
				      strerror(-ret));
	list[strcspn(list, "\n")] = '\0';
	for (unsigned i = 0; i < opts->cgroup_count; i++) {
		controller_of(opts->cgroups[i].file, name, sizeof(name));
		if (strcmp(name, "cgroup") && !word_in_list(list, name))
			return tern_error_set(
				err, ENOENT,
				"--cgroup %s: the %s controller is not "
				"available in %.150s (cgroup.controllers: "
				"%.60s)",
				opts->cgroups[i].file, name, cg->mount,
				list[0] ? list : "none");
	}
	return 0;
}

int jailer_cgroup_prepare(struct jailer_cgroup *cg,
			  const struct jailer_options *opts,
			  const char *exec_name, struct tern_error *err)
{
	const char *parent =
		opts->parent_cgroup ? opts->parent_cgroup : exec_name;
	int n, ret;

	if (opts->cgroup_version == 1)
		return tern_error_set(err, ENOTSUP,
				      "--cgroup-version 1: tern's jailer "
				      "places VMMs in cgroup v2 only");
	ret = find_cgroup2_mount(cg->mount, err);
	if (ret)
		return ret;
	n = snprintf(cg->parent, sizeof(cg->parent), "%s/%s", cg->mount,
		     parent);
	if (n > 0 && (size_t)n < sizeof(cg->parent))
		n = snprintf(cg->leaf, sizeof(cg->leaf), "%s/%s", cg->parent,
			     opts->id);
	/* Room for the longest cgroup file name below the leaf. */
	if (n < 0 ||
	    (size_t)n + sizeof(opts->cgroups[0].file) + 2 >= sizeof(cg->leaf))
		return tern_error_set(err, ENAMETOOLONG,
				      "the cgroup path %.150s/%.100s is too "
				      "long",
				      cg->mount, parent);
	return check_controllers(cg, opts, err);
}

static int write_file(const char *dir, const char *name, const char *value,
		      struct tern_error *err)
{
	char path[PATH_MAX + 80];
	size_t len = strlen(value);
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return tern_error_set(err, errno, "open %.150s: %s", path,
				      strerror(errno));
	n = write(fd, value, len);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EIO;

		close(fd);
		return tern_error_set(err, e, "write '%.40s' to %.150s: %s",
				      value, path, strerror(e));
	}
	close(fd);
	return 0;
}

/* mkdir -p below the mount; an existing directory is reused. */
static int make_cgroup_dirs(const struct jailer_cgroup *cg,
			    struct tern_error *err)
{
	char buf[PATH_MAX];
	size_t base = strlen(cg->mount);

	snprintf(buf, sizeof(buf), "%s", cg->leaf);
	for (char *p = buf + base + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return tern_error_set(err, errno,
					      "create cgroup %.150s: %s", buf,
					      strerror(errno));
		*p = saved;
		if (!saved)
			return 0;
	}
}

/* A controller is usable in a cgroup once every ancestor, from the mount
 * down to its parent, lists it in cgroup.subtree_control. */
static int enable_controller(const struct jailer_cgroup *cg, const char *name,
			     struct tern_error *err)
{
	char buf[PATH_MAX], value[80];
	size_t base = strlen(cg->mount);
	int ret;

	snprintf(value, sizeof(value), "+%s", name);
	snprintf(buf, sizeof(buf), "%s", cg->parent);
	for (char *p = buf + base;; p++) {
		if (*p != '/' && *p)
			continue;
		char saved = *p;

		*p = '\0';
		ret = write_file(buf, "cgroup.subtree_control", value, err);
		if (ret)
			return ret;
		*p = saved;
		if (!saved)
			return 0;
	}
}

static int write_settings(const struct jailer_cgroup *cg,
			  const struct jailer_options *opts,
			  struct tern_error *err)
{
	char name[64];
	int ret = 0;

	for (unsigned i = 0; !ret && i < opts->cgroup_count; i++) {
		controller_of(opts->cgroups[i].file, name, sizeof(name));
		if (strcmp(name, "cgroup"))
			ret = enable_controller(cg, name, err);
		if (!ret)
			ret = write_file(cg->leaf, opts->cgroups[i].file,
					 opts->cgroups[i].value, err);
	}
	return ret;
}

static int move_self(const char *dir, struct tern_error *err)
{
	char pid[24];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_file(dir, "cgroup.procs", pid, err);
}

int jailer_cgroup_apply(const struct jailer_cgroup *cg,
			const struct jailer_options *opts,
			struct tern_error *err)
{
	struct stat st;
	int ret;

	if (!opts->cgroup_count)
		return stat(cg->parent, &st) ? 0 : move_self(cg->parent, err);
	ret = make_cgroup_dirs(cg, err);
	if (!ret)
		ret = write_settings(cg, opts, err);
	return ret ? ret : move_self(cg->leaf, err);
}
