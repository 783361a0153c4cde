/* The jailed process's cgroups (v2, or v1 as Firecracker's default). */
#include "sandbox/jailer_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "memory" of "memory.max"; the core "cgroup.*" files need none. */
static void controller_of(const char *file, char *out, size_t size)
{
	size_t len = strcspn(file, ".");

	snprintf(out, size, "%.*s", (int)len, file);
}

static int is_core_file(const char *file)
{
	return !strncmp(file, "cgroup.", 7);
}

/* A v1 mount's options name its controllers: "rw,relatime,cpu,cpuacct". */
static int option_listed(const char *options, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = options; p; p = strchr(p, ',')) {
		p += *p == ',';
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return 1;
	}
	return 0;
}

/* The mount point of the first cgroup2 file system (controller NULL) or of
 * the cgroup v1 hierarchy that has controller. */
static int find_mount(const char *controller, const char *file, char *mount,
		      struct tern_error *err)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *m;
	int found = 0;

	if (!f)
		return tern_error_set(err, errno, "read /proc/self/mounts: %s",
				      strerror(errno));
	while (!found && (m = getmntent(f)))
		found = controller ? !strcmp(m->mnt_type, "cgroup") &&
				option_listed(m->mnt_opts, controller)
				   : !strcmp(m->mnt_type, "cgroup2");
	if (found)
		snprintf(mount, PATH_MAX, "%s", m->mnt_dir);
	endmntent(f);
	if (found)
		return 0;
	if (!controller)
		return tern_error_set(err, ENOENT,
				      "no cgroup2 file system is mounted "
				      "(see /proc/self/mounts)");
	return tern_error_set(err, ENOENT,
			      "--cgroup %s: no cgroup v1 hierarchy is mounted "
			      "with the %s controller (see /proc/self/mounts)",
			      file, controller);
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
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int word_in_list(const char *list, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += len) {
		int starts = p == list || p[-1] == ' ';
		int ends = !p[len] || p[len] == ' ';

		if (starts && ends)
			return 1;
	}
	return 0;
}

static int check_v2_controllers(const struct jailer_cgroup_place *place,
				const struct jailer_options *opts,
				struct tern_error *err)
{
	char path[PATH_MAX + 32], list[1024], name[64];
	int ret;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", place->mount);
	ret = read_small_file(path, list, sizeof(list));
	if (ret)
		return tern_error_set(err, -ret, "read %.150s: %s", path,
				      strerror(-ret));
	for (unsigned i = 0; i < opts->cgroup_count; i++) {
		controller_of(opts->cgroups[i].file, name, sizeof(name));
		if (!is_core_file(opts->cgroups[i].file) &&
		    !word_in_list(list, name))
			return tern_error_set(
				err, ENOENT,
				"--cgroup %s: the %s controller is not "
				"available in %.150s (cgroup.controllers: "
				"%.60s)",
				opts->cgroups[i].file, name, place->mount,
				list[0] ? list : "none");
	}
	return 0;
}

static int set_place_paths(struct jailer_cgroup_place *place,
			   const char *parent, const char *id,
			   struct tern_error *err)
{
	int n = snprintf(place->parent, sizeof(place->parent), "%s/%s",
			 place->mount, parent);

	if (n > 0 && (size_t)n < sizeof(place->parent))
		n = snprintf(place->leaf, sizeof(place->leaf), "%s/%s",
			     place->parent, id);
	/* Room for the longest cgroup file name below the leaf. */
	if (n < 0 ||
	    (size_t)n + JAILER_CGROUP_FILE_MAX + 2 >= sizeof(place->leaf))
		return tern_error_set(err, ENAMETOOLONG,
				      "the cgroup path %.150s/%.100s is too "
				      "long",
				      place->mount, parent);
	return 0;
}

/* The place for a v1 controller: an existing one when its mount is the
 * same (cpu and cpuacct often share one), else a new one. */
static int v1_place_for(struct jailer_cgroup *cg, const char *file,
			const char *parent, const char *id, unsigned *index,
			struct tern_error *err)
{
	char mount[PATH_MAX], controller[JAILER_CGROUP_FILE_MAX];
	struct jailer_cgroup_place *place;
	int ret;

	controller_of(file, controller, sizeof(controller));
	ret = find_mount(controller, file, mount, err);

	if (ret)
		return ret;
	for (*index = 0; *index < cg->place_count; (*index)++)
		if (!strcmp(cg->places[*index].mount, mount))
			goto found;
	if (cg->place_count == JAILER_CGROUP_MAX_PLACES)
		return tern_error_set(err, EINVAL,
				      "--cgroup settings in more than %d "
				      "cgroup v1 hierarchies",
				      JAILER_CGROUP_MAX_PLACES);
	place = &cg->places[cg->place_count];
	snprintf(place->mount, sizeof(place->mount), "%s", mount);
	ret = set_place_paths(place, parent, id, err);
	if (ret)
		return ret;
	*index = cg->place_count++;
found:
	if (!strcmp(controller, "cpuset"))
		cg->places[*index].cpuset = 1;
	return 0;
}

static int prepare_v1(struct jailer_cgroup *cg,
		      const struct jailer_options *opts, const char *parent,
		      struct tern_error *err)
{
	int ret = 0;

	for (unsigned i = 0; !ret && i < opts->cgroup_count; i++) {
		if (is_core_file(opts->cgroups[i].file))
			return tern_error_set(
				err, EINVAL,
				"--cgroup %s: with cgroup v1, a file must "
				"belong to a controller",
				opts->cgroups[i].file);
		ret = v1_place_for(cg, opts->cgroups[i].file, parent, opts->id,
				   &cg->place_of[i], err);
	}
	return ret;
}

int jailer_cgroup_prepare(struct jailer_cgroup *cg,
			  const struct jailer_options *opts,
			  const char *exec_name, struct tern_error *err)
{
	const char *parent =
		opts->parent_cgroup ? opts->parent_cgroup : exec_name;
	int ret;

	memset(cg->place_of, 0, sizeof(cg->place_of));
	cg->version = opts->cgroup_version;
	cg->place_count = 0;
	if (cg->version == 1)
		return prepare_v1(cg, opts, parent, err);
	ret = find_mount(NULL, NULL, cg->places[0].mount, err);
	if (!ret)
		ret = set_place_paths(&cg->places[0], parent, opts->id, err);
	if (ret)
		return ret;
	cg->places[0].cpuset = 0;
	cg->place_count = 1;
	return check_v2_controllers(&cg->places[0], opts, err);
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

/* A new v1 cpuset starts with no cpus and no mems, and no task can join
 * it: each level takes its parent's, as Firecracker's jailer does. */
static int inherit_cpuset(const char *dir, struct tern_error *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	char path[PATH_MAX + 32], value[1024];
	int ret = 0;

	for (size_t i = 0; !ret && i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (read_small_file(path, value, sizeof(value)) || value[0])
			continue;
		snprintf(path, sizeof(path), "%s/../%s", dir, files[i]);
		ret = read_small_file(path, value, sizeof(value));
		if (ret)
			return tern_error_set(err, -ret, "read %.150s: %s",
					      path, strerror(-ret));
		ret = write_file(dir, files[i], value, err);
	}
	return ret;
}

/* mkdir -p below the mount; an existing directory is reused. */
static int make_cgroup_dirs(const struct jailer_cgroup_place *place,
			    struct tern_error *err)
{
	char buf[PATH_MAX];
	size_t base = strlen(place->mount);
	int ret;

	snprintf(buf, sizeof(buf), "%s", place->leaf);
	for (char *p = buf + base + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return tern_error_set(err, errno,
					      "create cgroup %.150s: %s", buf,
					      strerror(errno));
		if (place->cpuset) {
			ret = inherit_cpuset(buf, err);
			if (ret)
				return ret;
		}
		*p = saved;
		if (!saved)
			return 0;
	}
}

/* A v2 controller is usable in a cgroup once every ancestor, from the
 * mount down to its parent, lists it in cgroup.subtree_control. */
static int enable_controller(const struct jailer_cgroup_place *place,
			     const char *name, struct tern_error *err)
{
	char buf[PATH_MAX], value[80];
	size_t base = strlen(place->mount);
	int ret;

	snprintf(value, sizeof(value), "+%s", name);
	snprintf(buf, sizeof(buf), "%s", place->parent);
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
		const struct jailer_cgroup_place *place =
			&cg->places[cg->place_of[i]];

		controller_of(opts->cgroups[i].file, name, sizeof(name));
		if (cg->version == 2 && !is_core_file(opts->cgroups[i].file))
			ret = enable_controller(place, name, err);
		if (!ret)
			ret = write_file(place->leaf, opts->cgroups[i].file,
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
	int ret = 0;

	if (!opts->cgroup_count) {
		if (cg->version == 1 || stat(cg->places[0].parent, &st))
			return 0;
		return move_self(cg->places[0].parent, err);
	}
	for (unsigned i = 0; !ret && i < cg->place_count; i++)
		ret = make_cgroup_dirs(&cg->places[i], err);
	/* Every value first: some (a cpuset's) must be set before a task
	 * may join. */
	if (!ret)
		ret = write_settings(cg, opts, err);
	for (unsigned i = 0; !ret && i < cg->place_count; i++)
		ret = move_self(cg->places[i].leaf, err);
	return ret;
}
