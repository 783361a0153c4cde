/* tern jailer: the steps, in Firecracker's jailer's order. */
#include "sandbox/jailer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/jail_root.h"
#include "sandbox/jailer_cgroup.h"

#define OLD_ROOT "old_root"

struct jail {
	const struct jailer_options *opts;
	char exec_path[PATH_MAX]; /* canonical --exec-file */
	const char *exec_name; /* its file name */
	char id_dir[PATH_MAX]; /* BASE/NAME/ID */
	char root[PATH_MAX]; /* BASE/NAME/ID/root */
	int netns_fd;
	int null_fd;
	int report_fd; /* see open_report_pipe(); -1 when none */
	struct jailer_cgroup cgroup;
};

/* Nothing the caller had open may reach the VMM: only stdio stays. */
static int sanitize_process(struct tern_error *err)
{
	if (syscall(SYS_close_range, 3U, ~0U, 0U))
		return tern_error_set(err, errno,
				      "close inherited file descriptors "
				      "(close_range): %s",
				      strerror(errno));
	clearenv();
	return 0;
}

static int resolve_exec_file(struct jail *jail, struct tern_error *err)
{
	const char *path = jail->opts->exec_file;
	struct stat st;

	if (!realpath(path, jail->exec_path))
		return tern_error_set(err, errno, "exec file %.150s: %s", path,
				      strerror(errno));
	if (stat(jail->exec_path, &st) || !S_ISREG(st.st_mode))
		return tern_error_set(err, EINVAL,
				      "exec file %.150s is not a regular file",
				      path);
	if (!(st.st_mode & S_IXUSR))
		return tern_error_set(err, EACCES,
				      "exec file %.150s is not executable "
				      "(mode %04o)",
				      path, (unsigned)(st.st_mode & 07777));
	jail->exec_name = strrchr(jail->exec_path, '/') + 1;
	return jail_exec_file_check(jail->exec_path, err);
}

static int resolve_jail_paths(struct jail *jail, struct tern_error *err)
{
	const char *base_arg = jail->opts->chroot_base;
	char base[PATH_MAX];
	struct stat st;
	int n;

	if (!realpath(base_arg, base))
		return tern_error_set(err, errno,
				      "chroot base directory %.150s: %s "
				      "(create it or give --chroot-base-dir)",
				      base_arg, strerror(errno));
	if (stat(base, &st) || !S_ISDIR(st.st_mode))
		return tern_error_set(err, ENOTDIR,
				      "chroot base %.150s is not a directory",
				      base_arg);
	n = snprintf(jail->id_dir, sizeof(jail->id_dir), "%s/%s/%s", base,
		     jail->exec_name, jail->opts->id);
	if (n > 0 && (size_t)n < sizeof(jail->id_dir))
		n = snprintf(jail->root, sizeof(jail->root), "%s/root",
			     jail->id_dir);
	/* Room for the staging name and NAME.pid below the root too. */
	if (n < 0 ||
	    (size_t)n + strlen(jail->exec_name) + 16 >= sizeof(jail->root))
		return tern_error_set(err, ENAMETOOLONG,
				      "the jail's path under %.150s is too "
				      "long",
				      base);
	return 0;
}

/* Opened before anything is built, so a wrong path builds nothing. */
static int open_early(struct jail *jail, struct tern_error *err)
{
	const char *netns = jail->opts->netns;

	if (netns) {
		jail->netns_fd = open(netns, O_RDONLY | O_CLOEXEC);
		if (jail->netns_fd < 0)
			return tern_error_set(err, errno,
					      "open network namespace %.150s: "
					      "%s",
					      netns, strerror(errno));
	}
	if (jail->opts->daemonize) {
		jail->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (jail->null_fd < 0)
			return tern_error_set(err, errno, "open /dev/null: %s",
					      strerror(errno));
	}
	return 0;
}

static int join_netns(const struct jail *jail, struct tern_error *err)
{
	if (jail->netns_fd < 0)
		return 0;
	if (setns(jail->netns_fd, CLONE_NEWNET))
		return tern_error_set(err, errno,
				      "join network namespace %.150s: %s",
				      jail->opts->netns, strerror(errno));
	return 0;
}

static int set_limit(int resource, const char *name, uint64_t value,
		     struct tern_error *err)
{
	struct rlimit limit = {.rlim_cur = value, .rlim_max = value};

	if (setrlimit(resource, &limit))
		return tern_error_set(
			err, errno, "set resource limit %s to %llu: %s", name,
			(unsigned long long)value, strerror(errno));
	return 0;
}

static int apply_limits(const struct jailer_options *opts,
			struct tern_error *err)
{
	int ret = set_limit(RLIMIT_NOFILE, "no-file", opts->no_file_limit, err);

	if (!ret && opts->fsize_given)
		ret = set_limit(RLIMIT_FSIZE, "fsize", opts->fsize_limit, err);
	return ret;
}

static int mount_step(const char *what, const char *path, int failed,
		      struct tern_error *err)
{
	if (!failed)
		return 0;
	return tern_error_set(err, errno, "%s %.150s: %s", what, path,
			      strerror(errno));
}

/* pivot_root needs the new root to be a mount point and the old one not
 * shared, hence the private propagation and the bind mount onto itself;
 * done in a new mount namespace, nothing of it is seen outside. */
static int enter_mount_ns(const struct jail *jail, struct tern_error *err)
{
	const char *root = jail->root;
	int ret;

	ret = mount_step("enter a new mount namespace for", root,
			 unshare(CLONE_NEWNS), err);
	if (!ret)
		ret = mount_step(
			"make mounts private under", "/",
			mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), err);
	if (!ret)
		ret = mount_step(
			"bind the jail root onto itself:", root,
			mount(root, root, NULL, MS_BIND | MS_REC, NULL), err);
	if (!ret)
		ret = mount_step("enter", root, chdir(root), err);
	if (!ret)
		ret = mount_step("create", OLD_ROOT, mkdir(OLD_ROOT, 0700),
				 err);
	if (!ret)
		ret = mount_step("pivot_root into", root,
				 syscall(SYS_pivot_root, ".", OLD_ROOT), err);
	return ret;
}

/* After pivot_root: the host's tree hangs at /old_root until detached. */
static int drop_old_root(struct tern_error *err)
{
	int ret = mount_step("enter the new root", "/", chdir("/"), err);

	if (!ret)
		ret = mount_step("unmount the old root", "/" OLD_ROOT,
				 umount2(OLD_ROOT, MNT_DETACH), err);
	if (!ret)
		ret = mount_step("remove", "/" OLD_ROOT, rmdir(OLD_ROOT), err);
	if (!ret)
		ret = mount_step("chroot to", "/", chroot("."), err);
	return ret;
}

static int write_pid_file(const struct jail *jail, pid_t pid,
			  struct tern_error *err)
{
	char path[PATH_MAX], text[24];
	int fd, len;

	snprintf(path, sizeof(path), "/%s.pid", jail->exec_name);
	len = snprintf(text, sizeof(text), "%d", (int)pid);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0 || write(fd, text, (size_t)len) != len) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return tern_error_set(err, e,
				      "write pid file %s in the jail: %s", path,
				      strerror(e));
	}
	close(fd);
	return 0;
}

/* A jailer that forks returns only once the program has started: the
 * first parent holds the read end of a close-on-exec pipe whose write end
 * every descendant keeps until its exec, or until it fails and writes its
 * error there (its own stderr may be /dev/null by then). So the pid file
 * exists when the jailer returns, and a late failure is its exit status. */
static int open_report_pipe(struct jail *jail, int *read_fd,
			    struct tern_error *err)
{
	int fds[2];

	*read_fd = -1;
	if (jail->report_fd >= 0)
		return 0; /* an ancestor waits already */
	if (pipe2(fds, O_CLOEXEC))
		return tern_error_set(err, errno, "create a pipe: %s",
				      strerror(errno));
	*read_fd = fds[0];
	jail->report_fd = fds[1];
	return 0;
}

static int read_report(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 &&
	       ((n = read(fd, buf + len, size - 1 - len)) > 0 ||
		(n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	buf[len] = '\0';
	return len > 0;
}

/* A parent's part after fork, given its own result so far. */
static int hand_over(struct jail *jail, int read_fd, int ret,
		     struct tern_error *err)
{
	char report[sizeof(err->message)];
	int failed;

	if (ret && read_fd < 0)
		return ret; /* jailer_run writes it to the waiting ancestor */
	close(jail->report_fd);
	jail->report_fd = -1;
	if (read_fd < 0)
		return JAILER_HANDED_OVER;
	failed = read_report(read_fd, report, sizeof(report));
	close(read_fd);
	if (ret)
		return ret;
	return failed ? tern_error_set(err, EIO, "%s", report)
		      : JAILER_HANDED_OVER;
}

static pid_t fork_or_fail(const char *step, int *read_fd,
			  struct tern_error *err)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		tern_error_set(err, errno, "%s: fork: %s", step,
			       strerror(errno));
		if (*read_fd >= 0)
			close(*read_fd);
		*read_fd = -1;
	} else if (pid == 0 && *read_fd >= 0) {
		close(*read_fd);
		*read_fd = -1;
	}
	return pid;
}

/* Two forks, as Firecracker's jailer: the session leader's child can
 * never acquire a controlling terminal again. */
static int daemonize(struct jail *jail, struct tern_error *err)
{
	int read_fd, ret;
	pid_t pid;

	for (int round = 0; round < 2; round++) {
		ret = open_report_pipe(jail, &read_fd, err);
		if (ret)
			return ret;
		pid = fork_or_fail("daemonize", &read_fd, err);
		if (pid < 0)
			return -EAGAIN;
		if (pid > 0)
			return hand_over(jail, read_fd, 0, err);
		if (round == 0 && setsid() < 0)
			return tern_error_set(err, errno,
					      "daemonize: setsid: %s",
					      strerror(errno));
	}
	for (int fd = 0; fd < 3; fd++)
		if (dup2(jail->null_fd, fd) < 0)
			return tern_error_set(err, errno,
					      "daemonize: redirect fd %d to "
					      "/dev/null: %s",
					      fd, strerror(errno));
	close(jail->null_fd);
	jail->null_fd = -1;
	return 0;
}

/* The first child after unshare(CLONE_NEWPID) is the new namespace's
 * init; this process stays outside and records the child's pid. */
static int fork_into_pid_ns(struct jail *jail, struct tern_error *err)
{
	int session_leader = getsid(0) == getpid();
	int read_fd, ret;
	pid_t pid;

	if (unshare(CLONE_NEWPID))
		return tern_error_set(err, errno,
				      "enter a new PID namespace: %s",
				      strerror(errno));
	ret = open_report_pipe(jail, &read_fd, err);
	if (ret)
		return ret;
	pid = fork_or_fail("new PID namespace", &read_fd, err);
	if (pid < 0)
		return -EAGAIN;
	if (pid > 0)
		return hand_over(jail, read_fd, write_pid_file(jail, pid, err),
				 err);
	/* The jailer's exit must not send this init a SIGHUP. */
	if (session_leader && setsid() < 0)
		return tern_error_set(err, errno, "setsid: %s",
				      strerror(errno));
	return 0;
}

static int clear_capabilities(struct tern_error *err)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data))
		return tern_error_set(err, errno, "clear capabilities: %s",
				      strerror(errno));
	return 0;
}

/* The bounding set is emptied too, so not even uid 0 regains a capability
 * at exec. */
static int drop_bounding_set(struct tern_error *err)
{
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			return tern_error_set(err, errno,
					      "drop capability %d from the "
					      "bounding set: %s",
					      cap, strerror(errno));
		}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

static int drop_privileges(const struct jailer_options *opts,
			   struct tern_error *err)
{
	int ret;

	if (setgroups(0, NULL))
		return tern_error_set(err, errno,
				      "clear supplementary groups: %s",
				      strerror(errno));
	if (setresgid(opts->gid, opts->gid, opts->gid))
		return tern_error_set(err, errno, "set gid %u: %s", opts->gid,
				      strerror(errno));
	ret = drop_bounding_set(err);
	if (ret)
		return ret;
	if (setresuid(opts->uid, opts->uid, opts->uid))
		return tern_error_set(err, errno, "set uid %u: %s", opts->uid,
				      strerror(errno));
	ret = clear_capabilities(err);
	if (!ret && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		ret = tern_error_set(err, errno, "set no_new_privs: %s",
				     strerror(errno));
	return ret;
}

static int exec_jailed(const struct jail *jail, struct tern_error *err)
{
	const struct jailer_options *opts = jail->opts;
	char path[PATH_MAX];
	char **argv = calloc((size_t)opts->exec_arg_count + 2, sizeof(*argv));
	char *envp[] = {NULL};

	if (!argv)
		return tern_error_set(err, ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "/%s", jail->exec_name);
	argv[0] = (char *)jail->exec_name;
	for (int i = 0; i < opts->exec_arg_count; i++)
		argv[i + 1] = opts->exec_args[i];
	execve(path, argv, envp);
	free(argv);
	return tern_error_set(err, errno, "exec %s in the jail %.150s: %s",
			      path, jail->root, strerror(errno));
}

/* Everything that can fail on the host, before the jail is entered. */
static int prepare(struct jail *jail, struct tern_error *err)
{
	int ret = sanitize_process(err);

	if (!ret)
		ret = resolve_exec_file(jail, err);
	if (!ret)
		ret = resolve_jail_paths(jail, err);
	if (!ret)
		ret = jailer_cgroup_prepare(&jail->cgroup, jail->opts,
					    jail->exec_name, err);
	return ret ? ret : open_early(jail, err);
}

static int build_and_enter(struct jail *jail, struct tern_error *err)
{
	struct jail_root_spec spec = {
		.exec_path = jail->exec_path,
		.exec_name = jail->exec_name,
		.id_dir = jail->id_dir,
		.root = jail->root,
		.uid = jail->opts->uid,
		.gid = jail->opts->gid,
	};
	int ret = jail_root_build(&spec, err);

	if (ret)
		return ret;
	if (jail->opts->populate)
		ret = jail->opts->populate(jail->root,
					   jail->opts->populate_opaque, err);
	if (!ret)
		ret = join_netns(jail, err);
	if (!ret)
		ret = apply_limits(jail->opts, err);
	if (!ret)
		ret = jailer_cgroup_apply(&jail->cgroup, jail->opts, err);
	if (!ret)
		ret = enter_mount_ns(jail, err);
	if (ret) {
		/* Still the host's tree (in our own mount namespace): undo
		 * the bind mount, then the root, so the ID can be reused. */
		umount2(jail->root, MNT_DETACH);
		jail_root_remove(jail->root);
	}
	return ret;
}

static int finish_in_jail(struct jail *jail, struct tern_error *err)
{
	int ret = drop_old_root(err);

	if (!ret && jail->opts->daemonize)
		ret = daemonize(jail, err);
	if (!ret && jail->opts->new_pid_ns)
		ret = fork_into_pid_ns(jail, err);
	else if (!ret)
		ret = write_pid_file(jail, getpid(), err);
	if (!ret)
		ret = drop_privileges(jail->opts, err);
	return ret ? ret : exec_jailed(jail, err);
}

int jailer_run(const struct jailer_options *opts, struct tern_error *err)
{
	struct jail jail = {
		.opts = opts, .netns_fd = -1, .null_fd = -1, .report_fd = -1};
	int ret = prepare(&jail, err);

	if (!ret)
		ret = build_and_enter(&jail, err);
	if (!ret)
		ret = finish_in_jail(&jail, err);
	if (ret < 0 && jail.report_fd >= 0) {
		/* A forked jailer: the waiting parent prints it. */
		if (write(jail.report_fd, err->message, strlen(err->message)) >
		    0)
			ret = JAILER_REPORTED;
		close(jail.report_fd);
	}
	if (jail.netns_fd >= 0)
		close(jail.netns_fd);
	if (jail.null_fd >= 0)
		close(jail.null_fd);
	return ret;
}
