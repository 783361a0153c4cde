#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* System call numbers the SIGSYS report can name (x86-64 has ~460). */
#define SYSCALL_NAME_SLOTS 512

/* Process-wide by nature, like the filters: written once by
 * seccomp_start_process() before any other thread exists, read-only
 * afterwards. */
static enum tern_seccomp_mode active_mode = TERN_SECCOMP_OFF;
static struct sock_fprog programs[SECCOMP_THREAD_KIND_COUNT];
/* --seccomp-filter: the operator's programs replace tern's lists. */
static struct seccomp_filter_file custom;
static int custom_active;
static const char *syscall_names[SYSCALL_NAME_SLOTS];
#ifdef TERN_TEST_HOOKS
static int forbidden_call_kind = -1;
#endif

/* The calling thread's kind and name, for the SIGSYS report (read in a
 * signal handler: plain thread-local data, no calls). */
static __thread const char *thread_kind_name;
static __thread char thread_name[16];

int tern_seccomp_parse_mode(const char *text, enum tern_seccomp_mode *mode,
			    struct tern_error *err)
{
	if (!strcmp(text, "kill"))
		*mode = TERN_SECCOMP_KILL;
	else if (!strcmp(text, "log"))
		*mode = TERN_SECCOMP_LOG;
	else if (!strcmp(text, "off"))
		*mode = TERN_SECCOMP_OFF;
	else
		return tern_error_set(err, EINVAL,
				      "--seccomp '%s': use kill, log or off",
				      text);
	return 0;
}

struct build {
	scmp_filter_ctx ctx;
	int ret;
	const char *failed_call;
};

static void add_group(const struct seccomp_group *group, void *opaque)
{
	struct build *b = opaque;

	for (size_t i = 0; i < group->count && !b->ret; i++) {
		const struct seccomp_rule *r = &group->rules[i];
		uint32_t action = r->fail_errno ? SCMP_ACT_ERRNO(r->fail_errno)
						: SCMP_ACT_ALLOW;
		struct scmp_arg_cmp cmp = {
			.arg = (unsigned)r->arg,
			.op = r->op,
			.datum_a = r->a == SECCOMP_VALUE_OWN_PID
				? (uint64_t)getpid()
				: r->a,
			.datum_b = r->b,
		};
		int ret = r->arg < 0
			? seccomp_rule_add(b->ctx, action, r->nr, 0)
			: seccomp_rule_add_array(b->ctx, action, r->nr, 1,
						 &cmp);

		/* The same call from two groups (or kinds) is one rule. */
		if (ret && ret != -EEXIST) {
			b->ret = ret;
			b->failed_call = r->nr >= 0 &&
					r->nr < SYSCALL_NAME_SLOTS &&
					syscall_names[r->nr]
				? syscall_names[r->nr]
				: "?";
		}
	}
}

void *seccomp_build_context(enum seccomp_thread_kind kind, uint32_t action,
			    struct tern_error *err)
{
	struct build b = {seccomp_init(action), 0, NULL};

	if (!b.ctx) {
		tern_error_set(err, ENOMEM, "seccomp: out of memory");
		return NULL;
	}
	seccomp_kind_groups(kind, add_group, &b);
	if (b.ret) {
		tern_error_set(err, -b.ret,
			       "seccomp: the %s filter's rule for %s: %s",
			       seccomp_kind_name(kind), b.failed_call,
			       strerror(-b.ret));
		seccomp_release(b.ctx);
		return NULL;
	}
	return b.ctx;
}

/* libseccomp 2.5 exports BPF only to a file descriptor. */
static int compile(enum seccomp_thread_kind kind, uint32_t action,
		   struct sock_fprog *prog, struct tern_error *err)
{
	scmp_filter_ctx ctx = seccomp_build_context(kind, action, err);
	int fd, ret;
	off_t size;
	void *code;

	if (!ctx)
		return -EINVAL;
	fd = memfd_create("tern-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		seccomp_release(ctx);
		return tern_error_set(err, errno, "seccomp: memfd: %s",
				      strerror(errno));
	}
	ret = seccomp_export_bpf(ctx, fd);
	seccomp_release(ctx);
	size = ret ? -1 : lseek(fd, 0, SEEK_END);
	code = size > 0 ? malloc((size_t)size) : NULL;
	if (!code || pread(fd, code, (size_t)size, 0) != size) {
		free(code);
		close(fd);
		return tern_error_set(err, ret ? -ret : EIO,
				      "seccomp: cannot compile the %s filter",
				      seccomp_kind_name(kind));
	}
	close(fd);
	prog->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
	prog->filter = code;
	return 0;
}

static void resolve_syscall_names(void)
{
	for (int nr = 0; nr < SYSCALL_NAME_SLOTS; nr++)
		if (!syscall_names[nr])
			syscall_names[nr] = seccomp_syscall_resolve_num_arch(
				SCMP_ARCH_NATIVE, nr);
}

/* --- The SIGSYS report: async-signal-safe, no stdio --------------------- */

static size_t append(char *buf, size_t len, size_t size, const char *text)
{
	while (*text && len + 1 < size)
		buf[len++] = *text++;
	return len;
}

static size_t append_number(char *buf, size_t len, size_t size, long value)
{
	char digits[24];
	int n = 0;
	unsigned long v =
		value < 0 ? (unsigned long)-value : (unsigned long)value;

	if (value < 0)
		len = append(buf, len, size, "-");
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < (int)sizeof(digits));
	while (n && len + 1 < size)
		buf[len++] = digits[--n];
	return len;
}

static void report_violation(int nr)
{
	char line[256], name[17] = {0};
	/* A thread that has not narrowed yet runs under its creator's
	 * filters: the ceiling, or the API or migration thread's list. */
	const char *kind = thread_kind_name ? thread_kind_name : "inherited";
	size_t len = 0;
	ssize_t ignored;
	int log_fd;

	if (thread_name[0])
		memcpy(name, thread_name, sizeof(thread_name));
	else if (syscall(SYS_prctl, PR_GET_NAME, name, 0, 0, 0) < 0)
		name[0] = '?';
	len = append(line, len, sizeof(line), "tern: seccomp: thread ");
	len = append(line, len, sizeof(line), name);
	len = append(line, len, sizeof(line), " (");
	len = append(line, len, sizeof(line), kind);
	len = append(line, len, sizeof(line),
		     " filter) made the forbidden system call ");
	len = append(line, len, sizeof(line),
		     nr >= 0 && nr < SYSCALL_NAME_SLOTS && syscall_names[nr]
			     ? syscall_names[nr]
			     : "?");
	len = append(line, len, sizeof(line), " (");
	len = append_number(line, len, sizeof(line), nr);
	len = append(line, len, sizeof(line), "): stopping tern\n");
	ignored = write(STDERR_FILENO, line, len);
	log_fd = log_file_fd();
	if (log_fd >= 0)
		ignored = write(log_fd, line, len);
	(void)ignored;
}

static void sigsys_handler(int signo, siginfo_t *info, void *context)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};

	(void)signo;
	(void)context;
	report_violation(info->si_syscall);
	/* Resetting SIGSYS is itself forbidden (every filter refuses
	 * rt_sigaction for SIGSYS), and a second trap while SIGSYS is blocked
	 * in this handler makes the kernel kill the process with SIGSYS. The
	 * lines after it only run if no filter is in place. */
	syscall(SYS_rt_sigaction, SIGSYS, &dfl, NULL, 8 /* kernel sigset */);
	raise(SIGSYS);
	_exit(128 + SIGSYS);
}

static int install(const struct sock_fprog *prog)
{
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) ? -errno
								      : 0;
}

#ifdef TERN_TEST_HOOKS
static void test_forbidden_call(enum seccomp_thread_kind kind)
{
	/* syslog(SYSLOG_ACTION_SIZE_BUFFER): no list allows it, and were it
	 * allowed it would only read a size. */
	if ((int)kind == forbidden_call_kind)
		syscall(SYS_syslog, 10, NULL, 0);
}
#else
static void test_forbidden_call(enum seccomp_thread_kind kind)
{
	(void)kind;
}
#endif

int seccomp_start_process(enum tern_seccomp_mode mode, struct tern_error *err)
{
	uint32_t action =
		mode == TERN_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	struct sigaction sa = {.sa_sigaction = sigsys_handler,
			       .sa_flags = SA_SIGINFO};
	int ret;

	if (mode == TERN_SECCOMP_OFF)
		return 0;
	/* glibc loads the time zone (openat /etc/localtime, fstat, lseek)
	 * the first time any thread converts a time, even with gmtime_r():
	 * the RTC does that on a vCPU thread, whose list rightly has no
	 * openat. Loaded here, before any filter, it is never loaded again. */
	tzset();
	resolve_syscall_names();
	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++) {
		ret = compile((enum seccomp_thread_kind)k, action, &programs[k],
			      err);
		if (ret)
			return ret;
	}
#ifdef TERN_TEST_HOOKS
	{
		const char *which = getenv("TERN_TEST_FORBIDDEN_SYSCALL");

		forbidden_call_kind =
			which ? seccomp_kind_from_name(which) : -1;
	}
#endif
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return tern_error_set(err, errno, "seccomp: SIGSYS handler: %s",
				      strerror(errno));
	/* Filters without CAP_SYS_ADMIN need it; with it, it still keeps
	 * an exec'd program from gaining privileges (tern execs nothing). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return tern_error_set(err, errno, "seccomp: no_new_privs: %s",
				      strerror(errno));
	if (prctl(PR_GET_NAME, thread_name, 0, 0, 0) < 0)
		thread_name[0] = '\0';
	thread_kind_name = seccomp_kind_name(SECCOMP_THREAD_PROCESS);
	ret = install(&programs[SECCOMP_THREAD_PROCESS]);
	if (ret)
		return tern_error_set(err, -ret,
				      "seccomp: cannot install the filter: %s",
				      strerror(-ret));
	active_mode = mode;
	if (mode == TERN_SECCOMP_LOG)
		log_warn("seccomp: log mode: calls outside a thread's list run "
			 "and the kernel logs them (dmesg); not for "
			 "production");
	test_forbidden_call(SECCOMP_THREAD_PROCESS);
	return 0;
}

static const struct sock_fprog *custom_program(enum seccomp_thread_kind kind)
{
	enum seccomp_filter_category c = kind == SECCOMP_THREAD_API
		? SECCOMP_FILTER_API
		: kind == SECCOMP_THREAD_VCPU ? SECCOMP_FILTER_VCPU
					      : SECCOMP_FILTER_VMM;

	return custom.programs[c].len ? &custom.programs[c] : NULL;
}

void seccomp_enter_thread(enum seccomp_thread_kind kind)
{
	const struct sock_fprog *program = &programs[kind];
	int ret;

	if (custom_active) {
		/* Firecracker's categories: nothing before a thread's own,
		 * and no filter where the file's list is empty. */
		program = kind == SECCOMP_THREAD_PROCESS ? NULL
							 : custom_program(kind);
		if (!program)
			return;
	} else if (active_mode == TERN_SECCOMP_OFF) {
		return;
	}
	if (prctl(PR_GET_NAME, thread_name, 0, 0, 0) < 0)
		thread_name[0] = '\0';
	thread_kind_name = seccomp_kind_name(kind);
	ret = install(program);
	if (ret) {
		log_error("seccomp: cannot install the %s filter: %s",
			  seccomp_kind_name(kind), strerror(-ret));
		abort();
	}
	test_forbidden_call(kind);
}

int seccomp_start_process_with_filters(struct seccomp_filter_file *filters,
				       const char *origin,
				       struct tern_error *err)
{
	struct sigaction sa = {.sa_sigaction = sigsys_handler,
			       .sa_flags = SA_SIGINFO};
	int ret;

	custom = *filters;
	memset(filters, 0, sizeof(*filters));
	tzset(); /* as seccomp_start_process(): before any filter */
	resolve_syscall_names();
	/* A filter that traps (SECCOMP_RET_TRAP) gets tern's report. */
	if (sigaction(SIGSYS, &sa, NULL) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		ret = tern_error_set(err, errno, "seccomp: %s",
				     strerror(errno));
		seccomp_filter_file_free(&custom);
		return ret;
	}
	custom_active = 1;
	log_info("seccomp: the filters of %s replace tern's own (vmm, api, "
		 "vcpu)",
		 origin);
	return 0;
}
