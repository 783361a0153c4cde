#include "ternd/vm_jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/jail_root.h"
#include "sandbox/jailer.h"
#include "util/log.h"

static void find_cgroup(struct vm_jail_config *c);

static int read_number_file(const char *path, long *value)
{
	char buf[32] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *end;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	errno = 0;
	*value = strtol(buf, &end, 10);
	return errno || end == buf || *value < 0 ? -1 : 0;
}

static int write_text_file(const char *path, const char *text, mode_t mode,
			   struct tern_error *err)
{
	char tmp[4300];
	int fd, ret = 0;
	size_t len = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return tern_error_set(err, errno, "cannot write %s: %s", tmp,
				      strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd))
		ret = tern_error_set(err, errno ? errno : EIO,
				     "cannot write %s: %s", tmp,
				     strerror(errno ? errno : EIO));
	close(fd);
	if (!ret && rename(tmp, path))
		ret = tern_error_set(err, errno, "cannot rename %s: %s", tmp,
				     strerror(errno));
	if (ret)
		unlink(tmp);
	return ret;
}

int vm_jail_config_init(struct vm_jail_config *c, const char *state_dir,
			const char *tern_static, uint32_t uid_base,
			uint32_t uid_count, struct tern_error *err)
{
	struct tern_error check;

	if (geteuid() != 0)
		return tern_error_set(err, EPERM,
				      "--jail-uid-base: jailing VMs needs "
				      "ternd to run as root");
	if (uid_base == 0 || uid_count == 0 ||
	    (uint64_t)uid_base + uid_count > UINT32_MAX)
		return tern_error_set(err, EINVAL,
				      "--jail-uid-base: the range must not "
				      "hold uid 0 or pass 2^32 - 1");
	if (snprintf(c->tern_static, sizeof(c->tern_static), "%s",
		     tern_static) >= (int)sizeof(c->tern_static) ||
	    snprintf(c->base_dir, sizeof(c->base_dir), "%s/jail", state_dir) >=
		    (int)sizeof(c->base_dir))
		return tern_error_set(err, ENAMETOOLONG, "paths too long");
	if (jail_exec_file_check(tern_static, &check))
		return tern_error_set(err, EINVAL,
				      "--jail-tern: %s (jailed VMs run a "
				      "statically linked tern: make builds "
				      "build/tern-static)",
				      check.message);
	c->uid_base = uid_base;
	c->uid_count = uid_count;
	find_cgroup(c);
	if (!c->cgroup_version)
		log_warn("--jail-uid-base: no cgroup hierarchy with the pids "
			 "controller: jailed VMs get no cgroup of their own");
	if (mkdir(c->base_dir, 0711) && errno != EEXIST)
		return tern_error_set(err, errno, "cannot create %s: %s",
				      c->base_dir, strerror(errno));
	return 0;
}

/* The VM's uid: its own from an earlier start, else the lowest in the
 * range that no other VM's jail-uid names. */
static int allocate_uid(const struct vm_jail_config *c, const char *state_dir,
			const char *vm_dir, uint32_t *uid,
			struct tern_error *err)
{
	char path[4400], vms[4200], text[32];
	unsigned char *taken;
	struct dirent *e;
	long value;
	DIR *d;

	snprintf(path, sizeof(path), "%s/jail-uid", vm_dir);
	if (!read_number_file(path, &value) && value >= c->uid_base &&
	    value < (long)c->uid_base + c->uid_count) {
		*uid = (uint32_t)value;
		return 0;
	}
	taken = calloc(c->uid_count, 1);
	if (!taken)
		return tern_error_set(err, ENOMEM, "out of memory");
	snprintf(vms, sizeof(vms), "%s/vms", state_dir);
	d = opendir(vms);
	while (d && (e = readdir(d))) {
		char other[4600];

		if (e->d_name[0] == '.')
			continue;
		snprintf(other, sizeof(other), "%s/%s/jail-uid", vms,
			 e->d_name);
		if (!read_number_file(other, &value) && value >= c->uid_base &&
		    value < (long)c->uid_base + c->uid_count)
			taken[value - c->uid_base] = 1;
	}
	if (d)
		closedir(d);
	for (uint32_t i = 0; i < c->uid_count; i++) {
		if (taken[i])
			continue;
		free(taken);
		*uid = c->uid_base + i;
		snprintf(text, sizeof(text), "%u\n", *uid);
		return write_text_file(path, text, 0600, err);
	}
	free(taken);
	return tern_error_set(err, ENOSPC,
			      "every uid of --jail-uid-base's range (%u from "
			      "%u) is some VM's: undefine VMs or widen it",
			      c->uid_count, c->uid_base);
}

static int add_file(struct vm_jail *j, const char *host, const char *inside,
		    int writable, struct tern_error *err)
{
	struct vm_jail_file *f;

	if (j->file_count == VM_JAIL_MAX_FILES)
		return tern_error_set(err, EINVAL,
				      "a jailed VM has at most %d files",
				      VM_JAIL_MAX_FILES);
	f = &j->files[j->file_count++];
	snprintf(f->host, sizeof(f->host), "%s", host);
	snprintf(f->inside, sizeof(f->inside), "%s", inside);
	f->writable = writable;
	return 0;
}

/* Rewrites obj[key] (a host path) to inside, recording the file. */
static int jail_path(struct vm_jail *j, json_t *obj, const char *key,
		     const char *inside, int writable, struct tern_error *err)
{
	const char *host = json_string_value(json_object_get(obj, key));

	if (!host)
		return 0;
	if (add_file(j, host, inside, writable, err))
		return -EINVAL;
	return json_object_set_new(obj, key, json_string(inside))
		? tern_error_set(err, ENOMEM, "out of memory")
		: 0;
}

static int refuse_unjailable(json_t *doc, struct tern_error *err)
{
	json_t *tern = json_object_get(doc, "tern");
	json_t *vsock = json_object_get(doc, "vsock");

	if (vsock && !json_is_null(vsock))
		return tern_error_set(err, EINVAL,
				      "a jailed VM cannot have a vsock yet "
				      "(its socket would be inside the jail)");
	if (json_string_value(json_object_get(json_object_get(doc, "logger"),
					      "log_path")) ||
	    json_string_value(json_object_get(json_object_get(doc, "metrics"),
					      "metrics_path")))
		return tern_error_set(err, EINVAL,
				      "a jailed VM cannot have a log or "
				      "metrics file yet (ternd's metrics and "
				      "tern.log stand in)");
	if (json_string_value(json_object_get(tern, "firmware")))
		return tern_error_set(err, EINVAL,
				      "a jailed VM cannot boot firmware yet");
	return 0;
}

static int rewrite(struct vm_jail *j, const char *text, struct tern_error *err)
{
	json_t *doc = json_loads(text, 0, NULL);
	json_t *boot, *list, *item;
	char inside[32];
	size_t i;
	int ret;

	if (!doc)
		return tern_error_set(err, EINVAL, "the document is not JSON");
	ret = refuse_unjailable(doc, err);
	boot = json_object_get(doc, "boot-source");
	if (!ret)
		ret = jail_path(j, boot, "kernel_image_path", "/kernel", 0,
				err);
	if (!ret)
		ret = jail_path(j, boot, "initrd_path", "/initrd", 0, err);
	list = json_object_get(doc, "drives");
	json_array_foreach(list, i, item)
	{
		if (ret)
			break;
		snprintf(inside, sizeof(inside), "/drive%zu", i);
		ret = jail_path(
			j, item, "path_on_host", inside,
			!json_is_true(json_object_get(item, "is_read_only")),
			err);
	}
	list = json_object_get(doc, "pmem");
	json_array_foreach(list, i, item)
	{
		if (ret)
			break;
		snprintf(inside, sizeof(inside), "/pmem%zu", i);
		ret = jail_path(
			j, item, "path_on_host", inside,
			!json_is_true(json_object_get(item, "read_only")), err);
	}
	if (!ret) {
		j->document = json_dumps(doc, JSON_COMPACT);
		if (!j->document)
			ret = tern_error_set(err, ENOMEM, "out of memory");
	}
	json_decref(doc);
	return ret;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* The jail's uid while its tree is walked (nftw takes no argument). */
static long give_back_uid = -1;

/* Gives the writable files (links the VM's uid was given) back to root,
 * then removes the directory's tree. A read-only file linked as it was
 * (another owner's, world-readable) is left as it is. */
static int give_back(const char *path, const struct stat *st, int type,
		     struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_F && S_ISREG(st->st_mode) && st->st_nlink > 1 &&
	    give_back_uid > 0 && st->st_uid == (uid_t)give_back_uid &&
	    lchown(path, 0, 0))
		log_warn("jail: cannot give %s back to root: %s", path,
			 strerror(errno));
	return 0;
}

static void remove_tree(const char *dir, long uid)
{
	struct stat st;

	if (lstat(dir, &st) || !S_ISDIR(st.st_mode))
		return;
	give_back_uid = uid;
	nftw(dir, give_back, 16, FTW_PHYS | FTW_MOUNT);
	give_back_uid = -1;
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Whether the mount's options (v1) or cgroup.controllers (v2) name the
 * pids controller. */
static int has_pids(const char *dir, const char *type, const char *options)
{
	char path[4200], buf[512] = {0};
	ssize_t n;
	int fd;

	if (!strcmp(type, "cgroup"))
		return strstr(options, "pids") != NULL;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strstr(buf, "pids") != NULL;
}

/* The cgroup hierarchy with the pids controller, v2 preferred. */
static void find_cgroup(struct vm_jail_config *c)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[4096], type[64], options[1024];

	c->cgroup_version = 0;
	while (f &&
	       fscanf(f, "%255s %4095s %63s %1023s %*[^\n]", dev, dir, type,
		      options) == 4) {
		int version = !strcmp(type, "cgroup2") ? 2
			: !strcmp(type, "cgroup")      ? 1
						       : 0;

		if (version > c->cgroup_version &&
		    has_pids(dir, type, options)) {
			c->cgroup_version = version;
			snprintf(c->cgroup_mount, sizeof(c->cgroup_mount), "%s",
				 dir);
		}
	}
	if (f)
		fclose(f);
}

long vm_jail_uid(const char *vm_dir)
{
	char path[4400];
	long value;

	snprintf(path, sizeof(path), "%s/jail-dir", vm_dir);
	if (access(path, F_OK))
		return -1;
	snprintf(path, sizeof(path), "%s/jail-uid", vm_dir);
	return read_number_file(path, &value) ? -1 : value;
}

/* The jail's directory (the first line of jail-dir) and its uid, from
 * what ternd wrote: BASE/NAME/uUID. */
static int recorded_jail(const char *vm_dir, char *dir, size_t size, long *uid)
{
	char path[4400], buf[8500] = {0}, *end;
	const char *id;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/jail-dir", vm_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[strcspn(buf, "\n")] = '\0';
	id = strrchr(buf, '/');
	if (n <= 0 || !id || id[1] != 'u')
		return -ENOENT;
	errno = 0;
	*uid = strtol(id + 2, &end, 10);
	if (errno || *end || *uid <= 0 ||
	    snprintf(dir, size, "%s", buf) >= (int)size)
		return -ENOENT;
	return 0;
}

int vm_jail_open_root(const char *vm_dir, uid_t *uid)
{
	char dir[8500], root[8600];
	long value;
	int fd;

	if (recorded_jail(vm_dir, dir, sizeof(dir), &value))
		return -ENOENT;
	snprintf(root, sizeof(root), "%s/root", dir);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*uid = (uid_t)value;
	return fd;
}

void vm_jail_cleanup(const char *vm_dir)
{
	char path[4400], dir[8500] = {0};
	char *cgroup;
	const char *id;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/jail-dir", vm_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, dir, sizeof(dir) - 1);
	close(fd);
	/* Two lines: the jail's directory, its cgroup (may be empty). */
	cgroup = strchr(dir, '\n');
	if (cgroup) {
		*cgroup++ = '\0';
		cgroup[strcspn(cgroup, "\n")] = '\0';
	}
	/* Only what ternd wrote: BASE/NAME/uUID. */
	id = strrchr(dir, '/');
	if (n > 0 && id && id[1] == 'u') {
		remove_tree(dir, strtol(id + 2, NULL, 10));
		if (cgroup && cgroup[0] == '/' && rmdir(cgroup) &&
		    errno != ENOENT)
			log_warn("jail: cannot remove the cgroup %s: %s",
				 cgroup, strerror(errno));
	}
	unlink(path);
}

void vm_jail_forget(const char *vm_dir)
{
	char path[4400];

	vm_jail_cleanup(vm_dir);
	snprintf(path, sizeof(path), "%s/jail-uid", vm_dir);
	unlink(path);
}

int vm_jail_prepare(const struct vm_jail_config *c, const char *state_dir,
		    const char *vm_dir, const char *text, const char *console,
		    struct vm_jail *j, struct tern_error *err)
{
	const char *exec_name = strrchr(c->tern_static, '/');
	char path[4400], record[8500];
	int ret;

	*j = (struct vm_jail){.config = c};
	exec_name = exec_name ? exec_name + 1 : c->tern_static;
	ret = allocate_uid(c, state_dir, vm_dir, &j->uid, err);
	if (ret)
		return ret;
	snprintf(j->id, sizeof(j->id), "u%u", j->uid);
	if (snprintf(j->id_dir, sizeof(j->id_dir), "%s/%s/%s", c->base_dir,
		     exec_name, j->id) >= (int)sizeof(j->id_dir) ||
	    snprintf(j->api_socket, sizeof(j->api_socket), "%s/root%s",
		     j->id_dir,
		     VM_JAIL_API_SOCKET) >= (int)sizeof(j->api_socket))
		return tern_error_set(err, ENAMETOOLONG,
				      "the jail's API socket %s/root%s is "
				      "longer than a socket path may be "
				      "(107 bytes): use a shorter --state-dir",
				      j->id_dir, VM_JAIL_API_SOCKET);
	snprintf(j->console, sizeof(j->console), "%s", console);
	/* A jail a killed ternd left (the VM is shut off: start checked). */
	vm_jail_cleanup(vm_dir);
	remove_tree(j->id_dir, j->uid);
	ret = rewrite(j, text, err);
	if (ret) {
		vm_jail_free(j);
		return ret;
	}
	snprintf(path, sizeof(path), "%s/jail-dir", vm_dir);
	if (c->cgroup_version)
		snprintf(record, sizeof(record), "%s\n%s/%s/%s\n", j->id_dir,
			 c->cgroup_mount, VM_JAIL_CGROUP_PARENT, j->id);
	else
		snprintf(record, sizeof(record), "%s\n\n", j->id_dir);
	ret = write_text_file(path, record, 0600, err);
	if (ret)
		vm_jail_free(j);
	return ret;
}

void vm_jail_free(struct vm_jail *j)
{
	free(j->document);
	j->document = NULL;
}

int vm_jail_set_restore(struct vm_jail *j, const char *state_file,
			const char *mem_file, int paused,
			struct tern_error *err)
{
	int ret = add_file(j, state_file, VM_JAIL_SNAPSHOT_STATE, 0, err);

	if (!ret)
		j->files[j->file_count - 1].shared = 1;
	if (!ret)
		ret = add_file(j, mem_file, VM_JAIL_SNAPSHOT_MEM, 0, err);
	if (!ret)
		j->files[j->file_count - 1].shared = 1;
	j->restore = !ret;
	j->paused = paused;
	return ret;
}

int vm_jail_set_incoming(struct vm_jail *j, const char *incoming,
			 const char *psk_file, struct tern_error *err)
{
	if (snprintf(j->incoming, sizeof(j->incoming), "%s", incoming) >=
	    (int)sizeof(j->incoming))
		return tern_error_set(err, ENAMETOOLONG,
				      "the incoming address %s is too long",
				      incoming);
	/* 0600 and root's: copied in as the uid's (place_file). */
	return add_file(j, psk_file, VM_JAIL_PSK, 0, err);
}

/* ---- in the child ---- */

static int copy_file(const char *from, const char *to, uint32_t uid,
		     struct tern_error *err)
{
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	char buf[65536];
	ssize_t n = 0;

	if (in < 0)
		return tern_error_set(err, errno, "jail: %s: %s", from,
				      strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (out < 0) {
		close(in);
		return tern_error_set(err, errno, "jail: %s: %s", to,
				      strerror(errno));
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (n < 0 || fchown(out, uid, uid)) {
		int saved = errno ? errno : EIO;

		close(out);
		return tern_error_set(err, saved, "jail: copying %s: %s", from,
				      strerror(saved));
	}
	close(out);
	return 0;
}

/* A snapshot's file: the catalog's own inode (a memory file is as large
 * as the guest's RAM: never copied), root's, readable by the VM's group
 * alone. */
static int place_shared(const struct vm_jail *j, const struct vm_jail_file *f,
			const char *to, struct tern_error *err)
{
	if (chown(f->host, 0, j->uid) || chmod(f->host, 0640))
		return tern_error_set(err, errno, "jail: %s: %s", f->host,
				      strerror(errno));
	if (link(f->host, to))
		return tern_error_set(err, errno,
				      "jail: cannot link the snapshot's %s "
				      "into the jail: %s (the state directory "
				      "must be one file system with %s)",
				      f->host, strerror(errno),
				      j->config->base_dir);
	return 0;
}

/* A hard link (a copy for a read-only file that cannot be linked or
 * that the VM's uid could not read); a writable file becomes the uid's. */
static int place_file(const struct vm_jail *j, const struct vm_jail_file *f,
		      const char *root, struct tern_error *err)
{
	char to[4400];
	struct stat st;

	snprintf(to, sizeof(to), "%s%s", root, f->inside);
	if (f->shared)
		return place_shared(j, f, to, err);
	if (stat(f->host, &st))
		return tern_error_set(err, errno, "jail: %s: %s", f->host,
				      strerror(errno));
	if (!f->writable && !(st.st_mode & S_IROTH))
		return copy_file(f->host, to, j->uid, err);
	if (link(f->host, to)) {
		if (!f->writable)
			return copy_file(f->host, to, j->uid, err);
		return tern_error_set(err, errno,
				      "jail: cannot link the writable %s into "
				      "the jail: %s (it must be on the file "
				      "system of %s, as the pool's volumes "
				      "are)",
				      f->host, strerror(errno),
				      j->config->base_dir);
	}
	if (f->writable && chown(to, j->uid, j->uid))
		return tern_error_set(err, errno, "jail: chown %s: %s", to,
				      strerror(errno));
	return 0;
}

static int populate(const char *root, void *opaque, struct tern_error *err)
{
	const struct vm_jail *j = opaque;
	char path[4400];
	int ret = 0, fd;

	snprintf(path, sizeof(path), "%s/config.json", root);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (fd < 0 ||
	    write(fd, j->document, strlen(j->document)) !=
		    (ssize_t)strlen(j->document) ||
	    fchown(fd, j->uid, j->uid))
		ret = tern_error_set(err, errno ? errno : EIO, "jail: %s: %s",
				     path, strerror(errno ? errno : EIO));
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; !ret && i < j->file_count; i++)
		ret = place_file(j, &j->files[i], root, err);
	if (!ret) {
		/* The console log, appended by the jailed tern. */
		fd = open(j->console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0600);
		if (fd >= 0)
			close(fd);
		snprintf(path, sizeof(path), "%s/console.log", root);
		if (fd < 0 || link(j->console, path) ||
		    chown(path, j->uid, j->uid))
			ret = tern_error_set(err, errno,
					     "jail: the console log %s: %s",
					     j->console, strerror(errno));
	}
	return ret;
}

int vm_jail_enter(void *opaque)
{
	struct vm_jail *j = opaque;
	char uid[16], version[4], psk[32];
	char *argv[48];
	struct jailer_options opts;
	struct tern_error err;
	int n = 0, ret;

	snprintf(uid, sizeof(uid), "%u", j->uid);
	snprintf(version, sizeof(version), "%d", j->config->cgroup_version);
	snprintf(psk, sizeof(psk), "psk=%s", VM_JAIL_PSK);
	argv[n++] = "jailer";
	argv[n++] = "--id";
	argv[n++] = j->id;
	argv[n++] = "--exec-file";
	argv[n++] = (char *)j->config->tern_static;
	argv[n++] = "--uid";
	argv[n++] = uid;
	argv[n++] = "--gid";
	argv[n++] = uid;
	argv[n++] = "--chroot-base-dir";
	argv[n++] = (char *)j->config->base_dir;
	argv[n++] = "--parent-cgroup";
	argv[n++] = VM_JAIL_CGROUP_PARENT;
	if (j->config->cgroup_version) {
		/* A setting, so that the jailer makes the VM a cgroup of its
		 * own (it joins the parent's otherwise). */
		argv[n++] = "--cgroup-version";
		argv[n++] = version;
		argv[n++] = "--cgroup";
		argv[n++] = "pids.max=max";
	}
	argv[n++] = "--";
	argv[n++] = j->restore ? "restore" : "run";
	if (j->restore) {
		argv[n++] = "--snapshot";
		argv[n++] = VM_JAIL_SNAPSHOT_STATE;
		argv[n++] = "--mem";
		argv[n++] = VM_JAIL_SNAPSHOT_MEM;
		if (j->paused)
			argv[n++] = "--paused";
	}
	argv[n++] = "--config-file";
	argv[n++] = "/config.json";
	argv[n++] = "--api-sock";
	argv[n++] = VM_JAIL_API_SOCKET;
	argv[n++] = "--serial";
	argv[n++] = "file:/console.log";
	if (j->incoming[0]) {
		argv[n++] = "--incoming";
		argv[n++] = j->incoming;
		argv[n++] = "--migration-tls";
		argv[n++] = psk;
	}
	argv[n] = NULL;
	ret = jailer_options_parse(n, argv, &opts, &err);
	if (!ret) {
		opts.populate = populate;
		opts.populate_opaque = j;
		ret = jailer_run(&opts, &err);
	}
	dprintf(2, "ternd: cannot start the jailed tern: %s\n", err.message);
	return ret ? ret : -1;
}
