/* ternd: the host's manager of tern VMs (docs/ternd.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ternd/test_hooks.h"
#include "ternd/metrics_listen.h"
#include "ternd/ternd_server.h"
#include "ternd/vm_jail.h"
#include "ternd/vm_manager.h"
#include "util/log.h"
#include "util/version.h"

#define DEFAULT_STATE_DIR "/var/lib/ternd"
#define DEFAULT_SOCKET "/run/ternd.sock"

enum { EXIT_USAGE = 2 };

struct options {
	const char *state_dir;
	const char *socket;
	const char *tern;
	const char *pool_dir;
	const char *metrics_listen;
	const char *jail_tern; /* NULL: tern-static beside the tern */
	uint32_t jail_uid_base, jail_uid_count; /* base 0: no jails */
	int foreground;
	struct tls_listener_options tls;
};

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: ternd [--state-dir DIR] [--socket PATH] "
		"[--foreground]\n"
		"             [--tern PATH] [--pool-dir DIR] [--log-level "
		"LEVEL]\n"
		"             [--listen ADDR:PORT --tls-cert FILE --tls-key "
		"FILE --tls-ca FILE\n"
		"              [--tls-crl FILE] [--tls-allow-dn PATTERN]...]\n"
		"             [--metrics-listen [ADDR:]PORT]\n"
		"             [--jail-uid-base UID [--jail-uid-count N] "
		"[--jail-tern PATH]]\n"
		"\n"
		"ternd keeps this host's tern virtual machines: their "
		"definitions, and a\n"
		"tern process for each running one, which it starts, watches "
		"and stops.\n"
		"It is driven through a REST API on a Unix socket "
		"(docs/ternd-openapi.yaml),\n"
		"usually with ternctl. VMs keep running when ternd stops or is "
		"killed; the\n"
		"next ternd on the same state directory re-attaches to them "
		"and records\n"
		"those that stopped meanwhile as shut off.\n"
		"\n"
		"Options:\n"
		"  --state-dir DIR    the state: DIR/ternd.db (SQLite: "
		"definitions and\n"
		"                     runtime records), DIR/vms/NAME/ (each "
		"VM's config.json,\n"
		"                     api.sock, tern.log, console.sock and "
		"console.log), "
		"DIR/ternd.log\n"
		"                     (without --foreground). Created 0700 if "
		"missing.\n"
		"                     Only one ternd uses a state directory at "
		"a "
		"time.\n"
		"                     Default: " DEFAULT_STATE_DIR "\n"
		"  --socket PATH      the API's Unix socket, created 0600 (a "
		"stale one is\n"
		"                     replaced; one a live ternd listens on is "
		"refused).\n"
		"                     Default: " DEFAULT_SOCKET "\n"
		"  --foreground       stay in the foreground and log to stderr "
		"(for systemd\n"
		"                     and tests). Without it ternd detaches "
		"once "
		"it listens\n"
		"                     and logs to DIR/ternd.log.\n"
		"  --tern PATH        the tern binary each VM runs. Default: "
		"'tern' beside\n"
		"                     ternd's own binary, else 'tern' in "
		"PATH.\n"
		"  --pool-dir DIR     the storage pool: a directory of raw "
		"disk images, one\n"
		"                     file per volume, named as the volume "
		"(created 0700\n"
		"                     if missing). Default: "
		"DIR/pools/default\n"
		"  --log-level LEVEL  error, warn, info or debug. Default: "
		"info\n"
		"  --metrics-listen [ADDR:]PORT\n"
		"                     also serve GET /metrics (the API's "
		"/v1/metrics: ternd's\n"
		"                     and every VM's metrics, labelled vm) "
		"over plain HTTP on\n"
		"                     this TCP address, for Prometheus; "
		"nothing else is served\n"
		"                     there. ADDR defaults to 127.0.0.1 "
		"([::1]:PORT for IPv6).\n"
		"                     Default: off\n"
		"  --jail-uid-base UID\n"
		"                     run each VM's tern jailed (tern "
		"jailer's steps: a chroot\n"
		"                     under DIR/jail, new mount namespace, "
		"a cgroup of its own,\n"
		"                     no capabilities) as a uid and gid of "
		"its own from UID on,\n"
		"                     kept for the VM in "
		"DIR/vms/NAME/jail-uid. Needs root.\n"
		"                     Default: off (VMs run as ternd's "
		"user)\n"
		"  --jail-uid-count N how many uids from UID are VMs'. "
		"Default: 1000\n"
		"  --jail-tern PATH   the statically linked tern jailed VMs "
		"run. Default:\n"
		"                     'tern-static' beside the tern of "
		"--tern\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"Remote access (for other hosts; ternctl -c tls://HOST:PORT):\n"
		"  --listen ADDR:PORT the API over TLS on TCP too, with client "
		"certificates:\n"
		"                     127.0.0.1:16514, 0.0.0.0:16514, "
		"[::1]:16514, [::]:16514.\n"
		"                     Never plain TCP: needs the three files "
		"below.\n"
		"  --tls-cert FILE    ternd's certificate (PEM; its "
		"subjectAltNames are the\n"
		"                     names and addresses clients reach it "
		"by)\n"
		"  --tls-key FILE     its private key (PEM, unencrypted; keep "
		"it 0600)\n"
		"  --tls-ca FILE      the CA that signs client certificates: a "
		"client without\n"
		"                     a valid certificate it signed is refused "
		"in the TLS\n"
		"                     handshake and gets no answer\n"
		"  --tls-crl FILE     that CA's revocation list (PEM): revoked "
		"client\n"
		"                     certificates are refused (read at "
		"start)\n"
		"  --tls-allow-dn PATTERN  only clients whose certificate DN "
		"(RFC 4514,\n"
		"                     'CN=admin,O=Example') matches one such "
		"shell pattern\n"
		"                     (repeatable; default: any the CA "
		"signed)\n"
		"  scripts/ternd-tls-certs makes a CA and certificates "
		"(docs/ternd.md,\n"
		"  \"Remote access\").\n"
		"\n"
		"Once it listens, ternd starts every VM marked autostart that "
		"is not\n"
		"running (ternctl autostart NAME).\n"
		"\n"
		"Signals: SIGTERM or SIGINT stops ternd (its VMs keep "
		"running).\n"
		"Exit status: 0 after a signal, 1 on a start-up error, 2 on a "
		"usage error.\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option long_options[] = {
		{"state-dir", required_argument, NULL, 's'},
		{"socket", required_argument, NULL, 'S'},
		{"foreground", no_argument, NULL, 'f'},
		{"tern", required_argument, NULL, 't'},
		{"pool-dir", required_argument, NULL, 'p'},
		{"log-level", required_argument, NULL, 'l'},
		{"listen", required_argument, NULL, 'L'},
		{"tls-cert", required_argument, NULL, 'C'},
		{"tls-key", required_argument, NULL, 'K'},
		{"tls-ca", required_argument, NULL, 'A'},
		{"tls-crl", required_argument, NULL, 'R'},
		{"tls-allow-dn", required_argument, NULL, 'D'},
		{"metrics-listen", required_argument, NULL, 'm'},
		{"jail-uid-base", required_argument, NULL, 'J'},
		{"jail-uid-count", required_argument, NULL, 'N'},
		{"jail-tern", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	enum log_level level;
	struct tern_error err;
	int opt;

	*o = (struct options){.state_dir = DEFAULT_STATE_DIR,
			      .socket = DEFAULT_SOCKET,
			      .jail_uid_count = 1000};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hV", long_options, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			o->state_dir = optarg;
			break;
		case 'S':
			o->socket = optarg;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 't':
			o->tern = optarg;
			break;
		case 'p':
			o->pool_dir = optarg;
			break;
		case 'J':
		case 'N': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end ||
			    optarg[0] == '-' || v == 0 || v >= UINT32_MAX) {
				fprintf(stderr,
					"ternd: --%s '%s': expected a number "
					"from 1 to 4294967294\n",
					opt == 'J' ? "jail-uid-base"
						   : "jail-uid-count",
					optarg);
				return EXIT_USAGE;
			}
			*(opt == 'J' ? &o->jail_uid_base : &o->jail_uid_count) =
				(uint32_t)v;
			break;
		}
		case 'T':
			o->jail_tern = optarg;
			break;
		case 'm': {
			struct sockaddr_storage addr;
			struct tern_error listen_err;
			socklen_t len;
			char shown[80];

			if (metrics_listen_parse(optarg, &addr, &len, shown,
						 sizeof(shown), &listen_err)) {
				fprintf(stderr, "ternd: %s\n",
					listen_err.message);
				return EXIT_USAGE;
			}
			o->metrics_listen = optarg;
			break;
		}
		case 'l':
			if (log_level_parse(optarg, &level)) {
				fprintf(stderr,
					"ternd: --log-level '%s': expected "
					"error, warn, info or debug\n",
					optarg);
				return EXIT_USAGE;
			}
			log_set_level(level);
			break;
		case 'L':
			o->tls.listen = optarg;
			break;
		case 'C':
			o->tls.cert = optarg;
			break;
		case 'K':
			o->tls.key = optarg;
			break;
		case 'A':
			o->tls.ca = optarg;
			break;
		case 'R':
			o->tls.crl = optarg;
			break;
		case 'D':
			if (o->tls.allow_dn_count ==
			    TLS_LISTENER_MAX_ALLOW_DN) {
				fprintf(stderr,
					"ternd: more than %d --tls-allow-dn\n",
					TLS_LISTENER_MAX_ALLOW_DN);
				return EXIT_USAGE;
			}
			o->tls.allow_dn[o->tls.allow_dn_count++] = optarg;
			break;
		case 'h':
			print_usage(stdout);
			exit(0);
		case 'V':
			printf("ternd %s%s\n", TERN_VERSION,
			       TERND_HAS_TEST_HOOKS ? " (test hooks)" : "");
			exit(0);
		case ':':
			fprintf(stderr, "ternd: %s needs a value\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr,
				"ternd: unknown option '%s' ('ternd --help' "
				"lists them)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ternd: unexpected argument '%s'\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (tls_listener_check_usage(&o->tls, &err)) {
		fprintf(stderr, "ternd: %s\n", err.message);
		return EXIT_USAGE;
	}
	return 0;
}

static int executable(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/* --tern, else the tern beside ternd, else the first tern in PATH; made
 * absolute, as VMs outlive ternd's working directory. */
static int find_tern(const char *given, char *out, struct tern_error *err)
{
	char candidate[PATH_MAX], *slash, *path_env, *dir, *save = NULL;
	ssize_t n;

	if (given) {
		if (!executable(given) || !realpath(given, out))
			return tern_error_set(err, ENOENT,
					      "--tern %s: not an executable "
					      "file",
					      given);
		return 0;
	}
	n = readlink("/proc/self/exe", candidate, sizeof(candidate) - 6);
	if (n > 0) {
		candidate[n] = '\0';
		slash = strrchr(candidate, '/');
		if (slash) {
			strcpy(slash + 1, "tern");
			if (executable(candidate) && realpath(candidate, out))
				return 0;
		}
	}
	path_env = strdup(getenv("PATH") ? getenv("PATH") : "");
	for (dir = strtok_r(path_env, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(candidate, sizeof(candidate), "%s/tern", dir);
		if (executable(candidate) && realpath(candidate, out)) {
			free(path_env);
			return 0;
		}
	}
	free(path_env);
	return tern_error_set(err, ENOENT,
			      "cannot find tern beside ternd or in PATH: "
			      "name it with --tern PATH");
}

/* One ternd per state directory, held for its whole life. */
static int lock_state_dir(const char *dir, struct tern_error *err)
{
	char path[PATH_MAX];
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return tern_error_set(err, errno, "cannot create %s: %s", dir,
				      strerror(errno));
	snprintf(path, sizeof(path), "%s/ternd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return tern_error_set(err, errno, "cannot open %s: %s", path,
				      strerror(errno));
	/* A VM process forked by a ternd that was just killed holds a copy
	 * of the lock until it has closed ternd's descriptors (at most a
	 * few milliseconds): give it a moment. */
	for (int tries = 0; tries < 20 && flock(fd, LOCK_EX | LOCK_NB) < 0;
	     tries++)
		usleep(50 * 1000);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return tern_error_set(err, EBUSY,
				      "another ternd uses the state directory "
				      "%s",
				      dir);
	}
	return fd;
}

/* The parent waits for the child to listen (or to fail) and exits with
 * its verdict, so `ternd && ternctl ...` works. Returns in the child. */
static int detach(const char *state_dir, int *ready_fd, struct tern_error *err)
{
	char log_path[PATH_MAX + 16], message[300];
	int pipe_fds[2], log_fd, null_fd;
	ssize_t n;
	pid_t pid;

	snprintf(log_path, sizeof(log_path), "%s/ternd.log", state_dir);
	log_fd =
		open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return tern_error_set(err, errno, "cannot open %s: %s",
				      log_path, strerror(errno));
	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		return tern_error_set(err, errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return tern_error_set(err, errno, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(pipe_fds[1]);
		n = read(pipe_fds[0], message, sizeof(message) - 1);
		if (n == 1 && message[0] == '\n')
			exit(0);
		message[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "ternd: %s\n",
			n > 0 ? message : "ended while starting (see its log)");
		exit(1);
	}
	close(pipe_fds[0]);
	setsid();
	null_fd = open("/dev/null", O_RDWR);
	dup2(null_fd, 0);
	dup2(log_fd, 1);
	dup2(log_fd, 2);
	close(null_fd);
	close(log_fd);
	*ready_fd = pipe_fds[1];
	return 0;
}

static int block_signals(void)
{
	sigset_t set;

	/* Requests that hit a closed client must not end ternd. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* 1 when a signal asks ternd to stop. */
static int read_signals(int fd)
{
	struct signalfd_siginfo info;
	int stop = 0;

	while (read(fd, &info, sizeof(info)) == sizeof(info)) {
		if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
			log_info("stopping on %s; the VMs keep running",
				 sigabbrev_np((int)info.ssi_signo));
			stop = 1;
		}
	}
	return stop;
}

/* ternd's own descriptors come first in the poll array, the VM
 * manager's (pidfds, dnsmasq, consoles) after them. */
enum { POLL_SIGNALS, POLL_API, POLL_METRICS, POLL_MANAGER };

static int serve(struct ternd_server *server, struct ternd_server *metrics,
		 struct vm_manager *m, int signal_fd)
{
	struct pollfd *fds = NULL;
	int stop = 0;

	while (!stop) {
		size_t count = POLL_MANAGER + vm_manager_poll_count(m);
		int timeout;
		struct pollfd *grown = realloc(fds, count * sizeof(*fds));

		if (!grown) {
			log_error("out of memory");
			break;
		}
		fds = grown;
		fds[POLL_SIGNALS] =
			(struct pollfd){.fd = signal_fd, .events = POLLIN};
		fds[POLL_API] = (struct pollfd){.fd = ternd_server_fd(server),
						.events = POLLIN};
		/* fd -1: poll ignores it (no --metrics-listen). */
		fds[POLL_METRICS] = (struct pollfd){
			.fd = metrics ? ternd_server_fd(metrics) : -1,
			.events = POLLIN};
		vm_manager_poll_fill(m, fds + POLL_MANAGER);
		timeout = ternd_server_timeout_ms(server);
		{
			/* An incoming migration is looked at regularly. */
			int t = vm_manager_timeout_ms(m);

			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
		if (metrics) {
			int t = ternd_server_timeout_ms(metrics);

			if (t >= 0 && (timeout < 0 || t < timeout))
				timeout = t;
		}
		if (poll(fds, count, timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (fds[POLL_SIGNALS].revents)
			stop = read_signals(signal_fd);
		vm_manager_reap(m, fds + POLL_MANAGER);
		ternd_server_run(server);
		if (metrics)
			ternd_server_run(metrics);
	}
	free(fds);
	return stop ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct vm_manager_options manager_options;
	static struct vm_jail_config jail;
	struct ternd_server *server = NULL, *metrics = NULL;
	struct vm_manager *m = NULL;
	char tern_path[PATH_MAX], state_dir[PATH_MAX];
	struct tern_error err;
	int ret, ready_fd = -1, signal_fd, lock_fd = -1, status;
	struct options o;

	log_mark_start();
	log_set_program("ternd");
	ret = parse_options(argc, argv, &o);
	if (ret)
		return ret;
	ret = find_tern(o.tern, tern_path, &err);
	if (!ret)
		ret = lock_fd = lock_state_dir(o.state_dir, &err);
	/* VMs run from /, and their paths under the state directory must
	 * mean the same there. */
	if (ret >= 0 && !realpath(o.state_dir, state_dir))
		ret = tern_error_set(&err, errno, "%s: %s", o.state_dir,
				     strerror(errno));
	o.state_dir = state_dir;
	if (ret >= 0 && o.jail_uid_base) {
		char beside[PATH_MAX], jail_tern[PATH_MAX];

		/* Canonical: the jailer names the jail after the file's
		 * own name. */
		snprintf(beside, sizeof(beside), "%s", tern_path);
		strcpy(strrchr(beside, '/') + 1, "tern-static");
		if (!realpath(o.jail_tern ? o.jail_tern : beside, jail_tern))
			ret = tern_error_set(&err, errno, "--jail-tern %s: %s",
					     o.jail_tern ? o.jail_tern : beside,
					     strerror(errno));
		if (ret >= 0)
			ret = vm_jail_config_init(&jail, o.state_dir, jail_tern,
						  o.jail_uid_base,
						  o.jail_uid_count, &err);
	}
	if (ret >= 0 && !o.foreground)
		ret = detach(o.state_dir, &ready_fd, &err);
	if (ret < 0) {
		fprintf(stderr, "ternd: %s\n", err.message);
		return 1;
	}
	signal_fd = block_signals();
	manager_options = (struct vm_manager_options){
		.state_dir = o.state_dir,
		.tern_path = tern_path,
		.pool_dir = o.pool_dir,
		.jail = o.jail_uid_base ? &jail : NULL};
	ret = vm_manager_open(&manager_options, &m, &err);
	if (!ret) {
		server = ternd_server_start(o.socket, m, &err);
		ret = server ? ternd_server_listen_tls(server, &o.tls, &err)
			     : -1;
	}
	if (!ret && o.metrics_listen) {
		metrics = ternd_server_start_metrics(o.metrics_listen, m, &err);
		ret = metrics ? 0 : -1;
	}
	if (ret) {
		log_error("%s", err.message);
		if (ready_fd >= 0 &&
		    write(ready_fd, err.message, strlen(err.message)) < 0)
			ret = -1;
		ternd_server_stop(server);
		vm_manager_close(m);
		return 1;
	}
	log_info("ternd %s started (state %s, tern %s)", TERN_VERSION,
		 o.state_dir, tern_path);
	if (ready_fd >= 0) {
		if (write(ready_fd, "\n", 1) < 0)
			log_warn("the starting ternd went away");
		close(ready_fd);
	}
	/* After the socket answers: clients see the VMs come up. */
	vm_manager_autostart(m);
	status = serve(server, metrics, m, signal_fd);
	ternd_server_stop(metrics);
	ternd_server_stop(server);
	vm_manager_close(m);
	close(lock_fd);
	return status;
}
