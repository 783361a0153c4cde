#include "ternd/net_nat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where Debian's nftables package puts nft; ternd's PATH may lack sbin. */
static const char *const nft_paths[] = {"/usr/sbin/nft", "/sbin/nft"};

int net_nat_script(const struct network_def *def, int remove, char *buf,
		   size_t size)
{
	char table[96], subnet[24];
	int n;

	network_nft_table(def->name, table, sizeof(table));
	network_subnet_text(def, subnet, sizeof(subnet));
	/* "add" then "delete": the delete never fails on a missing table,
	 * and the definition after it starts from nothing. */
	n = snprintf(buf, size,
		     "# written by ternd for network '%s'\n"
		     "add table ip %s\n"
		     "delete table ip %s\n",
		     def->name, table, table);
	if (!remove && n > 0 && (size_t)n < size)
		n += snprintf(
			buf + n, size - (size_t)n,
			"table ip %s {\n"
			"\tchain postrouting {\n"
			"\t\ttype nat hook postrouting priority srcnat; "
			"policy accept;\n"
			/* Multicast and broadcast stay as they are. */
			"\t\tip saddr %s ip daddr 224.0.0.0/24 return\n"
			"\t\tip saddr %s ip daddr 255.255.255.255 return\n"
			"\t\tip saddr %s ip daddr != %s masquerade\n"
			"\t}\n"
			"}\n",
			table, subnet, subnet, subnet, subnet);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* In the child: only async-signal-safe calls. */
static void __attribute__((noreturn))
command_child(char *const argv[], int out_fd)
{
	sigset_t none;
	int null_fd = open("/dev/null", O_RDWR);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
	    dup2(out_fd, 2) < 0)
		_exit(127);
	syscall(SYS_close_range, 3, ~0U, 0);
	execv(argv[0], argv);
	dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
	_exit(127);
}

int net_run_command(char *const argv[], struct tern_error *err)
{
	char out[400];
	size_t len = 0;
	ssize_t n;
	int pipe_fds[2], status = 0, saved;
	pid_t pid;

	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		return tern_error_set(err, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0)
		command_child(argv, pipe_fds[1]);
	saved = errno;
	close(pipe_fds[1]);
	if (pid < 0) {
		close(pipe_fds[0]);
		return tern_error_set(err, saved, "fork: %s", strerror(saved));
	}
	/* Its output until it closes (exits); beyond the buffer, dropped. */
	for (;;) {
		char sink[256];

		n = read(pipe_fds[0], len < sizeof(out) - 1 ? out + len : sink,
			 len < sizeof(out) - 1 ? sizeof(out) - 1 - len
					       : sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < sizeof(out) - 1)
			len += (size_t)n;
	}
	close(pipe_fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[len] = '\0';
	while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return tern_error_set(err, EIO, "%s failed: %s", argv[0],
			      out[0] ? out : "no message");
}

int net_write_file(const char *path, const char *text, struct tern_error *err)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok;

	if (fd < 0)
		return tern_error_set(err, errno, "cannot write %s: %s", path,
				      strerror(errno));
	ok = write(fd, text, len) == (ssize_t)len;
	ok = !close(fd) && ok;
	return ok ? 0 : tern_error_set(err, EIO, "cannot write %s", path);
}

static int run_nft(const char *script_path, struct tern_error *err)
{
	const char *nft = NULL;
	char *argv[4];

	for (size_t i = 0; i < sizeof(nft_paths) / sizeof(nft_paths[0]); i++)
		if (access(nft_paths[i], X_OK) == 0) {
			nft = nft_paths[i];
			break;
		}
	if (!nft)
		return tern_error_set(err, ENOENT,
				      "NAT needs nft (Debian package "
				      "nftables), not found in /usr/sbin or "
				      "/sbin");
	argv[0] = (char *)nft;
	argv[1] = "-f";
	argv[2] = (char *)script_path;
	argv[3] = NULL;
	return net_run_command(argv, err);
}

static int run_script(const struct network_def *def, int remove,
		      const char *script_path, struct tern_error *err)
{
	char script[1024];
	int ret;

	if (net_nat_script(def, remove, script, sizeof(script)))
		return tern_error_set(err, ENAMETOOLONG,
				      "network '%s': NAT script too long",
				      def->name);
	ret = net_write_file(script_path, script, err);
	return ret ? ret : run_nft(script_path, err);
}

int net_nat_apply(const struct network_def *def, const char *script_path,
		  struct tern_error *err)
{
	int ret = run_script(def, 0, script_path, err);

	if (ret)
		return ret;
	ret = net_write_file("/proc/sys/net/ipv4/ip_forward", "1\n", err);
	if (ret)
		net_nat_remove(def, script_path, NULL);
	return ret;
}

int net_nat_remove(const struct network_def *def, const char *script_path,
		   struct tern_error *err)
{
	struct tern_error ignored;

	return run_script(def, 1, script_path, err ? err : &ignored);
}
