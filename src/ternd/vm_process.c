#include "ternd/vm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open_pid(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* /proc/PID/NAME's first size - 1 bytes, NUL-terminated; the length read,
 * or <= 0 when the process or the file is gone. */
static ssize_t read_proc_file(pid_t pid, const char *name, char *buf,
			      size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

uint64_t vm_process_start_time(pid_t pid)
{
	char buf[1024], *fields;
	unsigned long long start = 0;

	if (read_proc_file(pid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	/* The command name (field 2) may hold spaces and parentheses: the
	 * fields after it start after its last ')'. starttime is field 22,
	 * the 20th after that parenthesis. */
	fields = strrchr(buf, ')');
	if (!fields)
		return 0;
	fields++;
	for (int i = 0; i < 19 && fields; i++) {
		fields = strchr(fields + 1, ' ');
	}
	if (!fields || sscanf(fields, " %llu", &start) != 1)
		return 0;
	return start;
}

/* The real uid in /proc/PID/status, or -1. */
static long process_uid(pid_t pid)
{
	char buf[4096], *line;
	unsigned long uid;

	if (read_proc_file(pid, "status", buf, sizeof(buf)) <= 0)
		return -1;
	line = strstr(buf, "\nUid:");
	if (!line || sscanf(line + 5, "%lu", &uid) != 1)
		return -1;
	return (long)uid;
}

/* A jailed tern's --api-sock inside (an absolute path in its root) is
 * recorded as ROOT + inside: the recorded path must end so, ROOT must end
 * in "/root", and the process must run as ROOT's owner (the jail's uid,
 * never root). */
static int jailed_socket_matches(pid_t pid, const char *recorded,
				 const char *inside)
{
	size_t rlen = strlen(recorded), ilen = strlen(inside);
	char root[108];
	struct stat st;

	if (inside[0] != '/' || ilen + 5 >= rlen || rlen >= sizeof(root) ||
	    strcmp(recorded + rlen - ilen, inside))
		return 0;
	memcpy(root, recorded, rlen - ilen);
	root[rlen - ilen] = '\0';
	if (rlen - ilen < 5 || strcmp(root + rlen - ilen - 5, "/root") ||
	    lstat(root, &st) || !S_ISDIR(st.st_mode) || st.st_uid == 0)
		return 0;
	return process_uid(pid) == (long)st.st_uid;
}

/* Whether /proc/PID/cmdline is `... run ... --api-sock api_socket ...`
 * (or `... restore ...`, a VM started from a snapshot, or the jailed
 * form): a pid that now belongs to something else is never taken for a
 * VM. */
static int cmdline_matches(pid_t pid, const char *api_socket)
{
	char buf[8192];
	const char *arg, *prev = NULL;
	int argc = 0, run_seen = 0;
	ssize_t n = read_proc_file(pid, "cmdline", buf, sizeof(buf));

	if (n <= 0)
		return 0;
	for (arg = buf; arg < buf + n; arg += strlen(arg) + 1, argc++) {
		if (argc == 1 &&
		    (!strcmp(arg, "run") || !strcmp(arg, "restore")))
			run_seen = 1;
		if (run_seen && prev && !strcmp(prev, "--api-sock") &&
		    (!strcmp(arg, api_socket) ||
		     jailed_socket_matches(pid, api_socket, arg)))
			return 1;
		prev = arg;
	}
	return 0;
}

/* Whether one of /proc/PID/cmdline's arguments is arg. */
static int cmdline_has(pid_t pid, const char *arg)
{
	char buf[8192];
	ssize_t n = read_proc_file(pid, "cmdline", buf, sizeof(buf));

	for (const char *a = buf; n > 0 && a < buf + n; a += strlen(a) + 1)
		if (!strcmp(a, arg))
			return 1;
	return 0;
}

static int attach(pid_t pid, uint64_t start_time, const char *api_socket,
		  const char *arg, struct vm_process *proc)
{
	int pidfd;

	if (pid <= 0 || !start_time ||
	    vm_process_start_time(pid) != start_time ||
	    (api_socket && !cmdline_matches(pid, api_socket)) ||
	    (arg && !cmdline_has(pid, arg)))
		return -ESRCH;
	pidfd = pidfd_open_pid(pid);
	if (pidfd < 0)
		return -ESRCH;
	/* The pid could have been reused between the checks and the open:
	 * the pidfd now pins one process; check that it is still the one. */
	if (vm_process_start_time(pid) != start_time) {
		close(pidfd);
		return -ESRCH;
	}
	*proc = (struct vm_process){.pid = pid,
				    .pidfd = pidfd,
				    .start_time = start_time,
				    .is_child = 0,
				    .release_fd = -1};
	return 0;
}

int vm_process_attach(pid_t pid, uint64_t start_time, const char *api_socket,
		      struct vm_process *proc)
{
	return attach(pid, start_time, api_socket, NULL, proc);
}

int vm_process_attach_arg(pid_t pid, uint64_t start_time, const char *arg,
			  struct vm_process *proc)
{
	return attach(pid, start_time, NULL, arg, proc);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_run(const int wait_pipe[2], int log_fd, const char *path,
	  char *const argv[], int (*enter)(void *), void *enter_opaque)
{
	int wait_fd = wait_pipe[0];
	sigset_t none;
	char go;
	ssize_t n;
	int null_fd;

	/* Only ternd may hold the write end, or ternd's death would never
	 * show here as the end of the pipe. */
	close(wait_pipe[1]);
	setsid();
	/* ternd's blocked signals (its signalfd) and ignored ones would
	 * otherwise pass to tern through exec. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	do {
		n = read(wait_fd, &go, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(127); /* ternd went away before recording this VM */
	/* Whatever directory ternd was started in: relative paths in a
	 * definition mean the same for every VM (docs/ternd.md). */
	if (chdir("/") < 0)
		_exit(127);
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 ||
	    dup2(log_fd, 2) < 0)
		_exit(127);
	syscall(SYS_close_range, 3, ~0U, 0);
	if (enter) {
		/* ternd is single-threaded: the jailer's steps may allocate
		 * here. It returns only on failure, having said why. */
		enter(enter_opaque);
		_exit(127);
	}
	execv(path, argv);
	dprintf(2, "ternd: cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

static int spawn(char *const argv[], const char *log_path, int (*enter)(void *),
		 void *enter_opaque, struct vm_process *proc,
		 struct tern_error *err)
{
	int wait_pipe[2], log_fd, pidfd, saved;
	pid_t pid;

	log_fd =
		open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return tern_error_set(err, errno, "cannot open %s: %s",
				      log_path, strerror(errno));
	if (pipe2(wait_pipe, O_CLOEXEC) < 0) {
		saved = errno;
		close(log_fd);
		return tern_error_set(err, saved, "pipe: %s", strerror(saved));
	}
	pid = fork();
	if (pid == 0)
		child_run(wait_pipe, log_fd, argv[0], argv, enter,
			  enter_opaque);
	saved = errno;
	close(wait_pipe[0]);
	close(log_fd);
	if (pid < 0) {
		close(wait_pipe[1]);
		return tern_error_set(err, saved, "fork: %s", strerror(saved));
	}
	pidfd = pidfd_open_pid(pid);
	*proc = (struct vm_process){.pid = pid,
				    .pidfd = pidfd,
				    .start_time = vm_process_start_time(pid),
				    .is_child = 1,
				    .release_fd = wait_pipe[1]};
	if (pidfd < 0 || !proc->start_time) {
		saved = pidfd < 0 ? errno : ESRCH;
		vm_process_abandon(proc);
		return tern_error_set(err, saved,
				      "cannot follow the new %s process: %s",
				      argv[0], strerror(saved));
	}
	return 0;
}

int vm_process_spawn_program(char *const argv[], const char *log_path,
			     struct vm_process *proc, struct tern_error *err)
{
	return spawn(argv, log_path, NULL, NULL, proc, err);
}

int vm_process_spawn(const struct vm_launch *launch, struct vm_process *proc,
		     struct tern_error *err)
{
	char serial[4200], psk[4200];
	char *argv[] = {(char *)launch->tern_path,
			"run",
			"--config-file",
			(char *)launch->config_path,
			"--api-sock",
			(char *)launch->api_socket,
			"--serial",
			serial,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL,
			NULL};

	if (launch->snapshot_path) {
		size_t n = 8;

		argv[1] = "restore";
		argv[n++] = "--snapshot";
		argv[n++] = (char *)launch->snapshot_path;
		argv[n++] = "--mem";
		argv[n++] = (char *)launch->mem_path;
		if (launch->paused)
			argv[n++] = "--paused";
	} else if (launch->incoming) {
		size_t n = 8;

		if (snprintf(psk, sizeof(psk), "psk=%s", launch->psk_file) >=
		    (int)sizeof(psk))
			return tern_error_set(err, ENAMETOOLONG,
					      "PSK path too long");
		argv[n++] = "--incoming";
		argv[n++] = (char *)launch->incoming;
		argv[n++] = "--migration-tls";
		argv[n++] = psk;
	}
	if (snprintf(serial, sizeof(serial), "unix:%s",
		     launch->console_socket) >= (int)sizeof(serial))
		return tern_error_set(err, ENAMETOOLONG,
				      "console path too long");
	return spawn(argv, launch->log_path, launch->enter,
		     launch->enter_opaque, proc, err);
}

int vm_process_release(struct vm_process *proc, struct tern_error *err)
{
	ssize_t n;

	do {
		n = write(proc->release_fd, "g", 1);
	} while (n < 0 && errno == EINTR);
	close(proc->release_fd);
	proc->release_fd = -1;
	if (n != 1)
		return tern_error_set(err, errno ? errno : EIO,
				      "cannot start the tern process: %s",
				      strerror(errno));
	return 0;
}

void vm_process_abandon(struct vm_process *proc)
{
	char how[64];

	if (proc->release_fd >= 0)
		close(proc->release_fd);
	proc->release_fd = -1;
	if (proc->pidfd >= 0) {
		vm_process_wait_exit(proc, 5000);
		vm_process_finish(proc, how, sizeof(how));
	} else {
		waitpid(proc->pid, NULL, 0);
	}
}

int vm_process_wait_exit(const struct vm_process *proc, int timeout_ms)
{
	struct pollfd pfd = {.fd = proc->pidfd, .events = POLLIN};
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	return n > 0;
}

int vm_process_exited(const struct vm_process *proc)
{
	return vm_process_wait_exit(proc, 0);
}

int vm_process_signal(const struct vm_process *proc, int sig)
{
	if (syscall(SYS_pidfd_send_signal, proc->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int vm_process_finish(struct vm_process *proc, char *how, size_t size)
{
	siginfo_t info = {0};
	int clean = 1;

	snprintf(how, size, "exited");
	if (proc->is_child &&
	    waitid((idtype_t)P_PIDFD, (id_t)proc->pidfd, &info,
		   WEXITED | WNOHANG) == 0 &&
	    info.si_pid) {
		clean = info.si_code == CLD_EXITED && info.si_status == 0;
		if (info.si_code == CLD_EXITED)
			snprintf(how, size, "exited with status %d",
				 info.si_status);
		else
			snprintf(how, size, "killed by SIG%s",
				 sigabbrev_np(info.si_status)
					 ? sigabbrev_np(info.si_status)
					 : "?");
	}
	vm_process_forget(proc);
	return clean;
}

void vm_process_forget(struct vm_process *proc)
{
	if (proc->pidfd >= 0)
		close(proc->pidfd);
	if (proc->release_fd >= 0)
		close(proc->release_fd);
	proc->pidfd = proc->release_fd = -1;
}
