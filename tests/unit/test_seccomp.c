#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/seccomp.h"

/* --- The lists as data ---------------------------------------------------- */

#define MAX_RULES 4096

struct rule_set {
	const struct seccomp_rule *rules[MAX_RULES];
	size_t count;
};

static void collect(const struct seccomp_group *group, void *opaque)
{
	struct rule_set *set = opaque;

	/* A test build's sanitizer runtime is not what the lists promise. */
	if (!strcmp(group->name, "sanitizer_runtime"))
		return;
	for (size_t i = 0; i < group->count; i++) {
		assert_true(set->count < MAX_RULES);
		set->rules[set->count++] = &group->rules[i];
	}
}

static struct rule_set *rules_of(enum seccomp_thread_kind kind)
{
	static struct rule_set sets[SECCOMP_THREAD_KIND_COUNT];

	sets[kind].count = 0;
	seccomp_kind_groups(kind, collect, &sets[kind]);
	return &sets[kind];
}

static bool same_rule(const struct seccomp_rule *a,
		      const struct seccomp_rule *b)
{
	return a->nr == b->nr && a->arg == b->arg &&
		(a->arg < 0 ||
		 (a->op == b->op && a->a == b->a && a->b == b->b)) &&
		a->fail_errno == b->fail_errno;
}

static bool has_rule(const struct rule_set *set, const struct seccomp_rule *r)
{
	for (size_t i = 0; i < set->count; i++)
		if (same_rule(set->rules[i], r))
			return true;
	return false;
}

static bool mentions(enum seccomp_thread_kind kind, int nr)
{
	const struct rule_set *set = rules_of(kind);

	for (size_t i = 0; i < set->count; i++)
		if (set->rules[i]->nr == nr)
			return true;
	return false;
}

static void every_kind_compiles(void **state)
{
	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++) {
		struct tern_error err = {{0}};
		void *ctx = seccomp_build_context((enum seccomp_thread_kind)k,
						  SCMP_ACT_TRAP, &err);

		if (!ctx)
			fail_msg("%s: %s", seccomp_kind_name(k), err.message);
		seccomp_release(ctx);
	}
}

static void every_rule_says_why(void **state)
{
	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++) {
		const struct rule_set *set = rules_of(k);

		for (size_t i = 0; i < set->count; i++)
			assert_true(set->rules[i]->why &&
				    strlen(set->rules[i]->why) > 3);
	}
}

/* A thread that starts others must allow all they do, or the new thread
 * (which keeps its creator's filters) could not run its own list. */
static void a_creator_allows_what_its_threads_do(void **state)
{
	static const struct {
		enum seccomp_thread_kind parent, child;
	} pairs[] = {
		{SECCOMP_THREAD_API, SECCOMP_THREAD_MIGRATION},
		{SECCOMP_THREAD_API, SECCOMP_THREAD_VIRTIO_BLK},
		{SECCOMP_THREAD_API, SECCOMP_THREAD_VIRTIO_VSOCK},
		{SECCOMP_THREAD_MIGRATION, SECCOMP_THREAD_VIRTIO_NET},
		{SECCOMP_THREAD_MIGRATION, SECCOMP_THREAD_VIRTIO_RNG},
	};

	for (int k = 1; k < SECCOMP_THREAD_KIND_COUNT; k++) {
		const struct rule_set *child = rules_of(k);
		const struct rule_set *ceiling =
			rules_of(SECCOMP_THREAD_PROCESS);

		for (size_t i = 0; i < child->count; i++)
			if (!has_rule(ceiling, child->rules[i]))
				fail_msg("the ceiling lacks %s's rule: %s",
					 seccomp_kind_name(k),
					 child->rules[i]->why);
	}
	for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		const struct rule_set *child = rules_of(pairs[p].child);
		const struct rule_set *parent = rules_of(pairs[p].parent);

		for (size_t i = 0; i < child->count; i++)
			assert_true(has_rule(parent, child->rules[i]));
	}
}

static void dangerous_calls_are_in_no_list(void **state)
{
	static const int forbidden[] = {
		SCMP_SYS(execve),
		SCMP_SYS(execveat),
		SCMP_SYS(fork),
		SCMP_SYS(vfork),
		SCMP_SYS(mount),
		SCMP_SYS(umount2),
		SCMP_SYS(pivot_root),
		SCMP_SYS(chroot),
		SCMP_SYS(setuid),
		SCMP_SYS(setgid),
		SCMP_SYS(setns),
		SCMP_SYS(unshare),
		SCMP_SYS(kexec_load),
		SCMP_SYS(init_module),
		SCMP_SYS(finit_module),
		SCMP_SYS(delete_module),
		SCMP_SYS(bpf),
		SCMP_SYS(perf_event_open),
		SCMP_SYS(process_vm_writev),
		SCMP_SYS(keyctl),
		SCMP_SYS(add_key),
		SCMP_SYS(open_by_handle_at),
		SCMP_SYS(reboot),
		SCMP_SYS(syslog),
		SCMP_SYS(personality),
		SCMP_SYS(ptrace),
	};

	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++)
		for (size_t i = 0; i < sizeof(forbidden) / sizeof(int); i++)
			if (mentions(k, forbidden[i]))
				fail_msg("%s allows system call %d",
					 seccomp_kind_name(k), forbidden[i]);
}

/* userfaultfd (a snapshot load with mem_backend Uffd) only in the ceiling,
 * which the main thread has while it sets the VM up: no thread that runs
 * beside the guest (the main loop, vCPUs, the API, devices) may create
 * one, and only with the flags tern passes. */
static void userfaultfd_only_while_setting_up(void **state)
{
	const struct rule_set *set;

	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++)
		if (k != SECCOMP_THREAD_PROCESS &&
		    mentions(k, SCMP_SYS(userfaultfd)))
			fail_msg("%s allows userfaultfd", seccomp_kind_name(k));
	assert_true(mentions(SECCOMP_THREAD_PROCESS, SCMP_SYS(userfaultfd)));
	set = rules_of(SECCOMP_THREAD_PROCESS);
	for (size_t i = 0; i < set->count; i++) {
		const struct seccomp_rule *r = set->rules[i];

		if (r->nr != SCMP_SYS(userfaultfd))
			continue;
		assert_int_equal(r->arg, 0);
		assert_int_equal(r->op, SCMP_CMP_EQ);
		assert_true(r->a == (O_CLOEXEC | O_NONBLOCK));
	}
}

static void guest_facing_threads_open_nothing(void **state)
{
	static const enum seccomp_thread_kind kinds[] = {
		SECCOMP_THREAD_VCPU,	   SECCOMP_THREAD_VIRTIO_BLK,
		SECCOMP_THREAD_VIRTIO_NET, SECCOMP_THREAD_VIRTIO_BALLOON,
		SECCOMP_THREAD_VIRTIO_RNG, SECCOMP_THREAD_BLOCK_WORKER,
		SECCOMP_THREAD_MAIN,	   SECCOMP_THREAD_METRICS,
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		assert_false(mentions(kinds[i], SCMP_SYS(openat)));
		assert_false(mentions(kinds[i], SCMP_SYS(open)));
		assert_false(mentions(kinds[i], SCMP_SYS(socket)));
		assert_false(mentions(kinds[i], SCMP_SYS(connect)));
		assert_false(mentions(kinds[i], SCMP_SYS(clone)));
		assert_false(mentions(kinds[i], SCMP_SYS(io_uring_setup)));
	}
}

static void no_list_maps_executable_memory(void **state)
{
	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++) {
		const struct rule_set *set = rules_of(k);

		for (size_t i = 0; i < set->count; i++) {
			const struct seccomp_rule *r = set->rules[i];

			if (r->nr != SCMP_SYS(mmap) &&
			    r->nr != SCMP_SYS(mprotect))
				continue;
			assert_int_equal(r->arg, 2);
			assert_int_equal(r->op, SCMP_CMP_MASKED_EQ);
			assert_int_equal(r->a, PROT_EXEC);
			assert_int_equal(r->b, 0);
		}
	}
}

/* docs/security.md has a table per group; a call added to a group must be
 * documented in that group's table with its reason (tests/run runs this
 * from the repository's root; elsewhere the check is skipped). */
static char doc[1 << 18];

static bool row_in_section(const char *section, const char *section_end,
			   const char *cell, const char *why)
{
	for (const char *line = section; line && line < section_end;
	     line = strchr(line + 1, '\n')) {
		const char *eol = strchr(line + 1, '\n');
		const char *at = strstr(line, cell);
		const char *reason = at ? strstr(at, why) : NULL;

		if (at && reason && (!eol || reason < eol) &&
		    (!eol || at < eol))
			return true;
	}
	return false;
}

static void check_group_documented(const struct seccomp_group *group,
				   void *opaque)
{
	char heading[64];
	const char *section, *section_end;

	if (!strcmp(group->name, "sanitizer_runtime"))
		return;
	snprintf(heading, sizeof(heading), "#### `%s`", group->name);
	section = strstr(doc, heading);
	if (!section) {
		fail_msg("docs/security.md has no section %s", heading);
		return;
	}
	section_end = strstr(section + 1, "\n#### ");
	if (!section_end)
		section_end = section + strlen(section);
	for (size_t i = 0; i < group->count; i++) {
		const struct seccomp_rule *r = &group->rules[i];
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
							      r->nr);
		char cell[96];

		snprintf(cell, sizeof(cell), "| `%s` |", name);
		free(name);
		if (!row_in_section(section, section_end, cell, r->why))
			fail_msg("docs/security.md, %s: no row %s ... %s",
				 heading, cell, r->why);
	}
}

static void the_documentation_lists_every_call(void **state)
{
	FILE *f = fopen("docs/security.md", "r");
	size_t len;

	if (!f) {
		skip();
		return;
	}
	len = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[len] = '\0';
	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++)
		seccomp_kind_groups((enum seccomp_thread_kind)k,
				    check_group_documented, NULL);
}

static void device_names_find_their_lists(void **state)
{
	assert_int_equal(seccomp_kind_for_device("virtio-blk"),
			 SECCOMP_THREAD_VIRTIO_BLK);
	assert_int_equal(seccomp_kind_for_device("virtio-vsock"),
			 SECCOMP_THREAD_VIRTIO_VSOCK);
	assert_int_equal(seccomp_kind_for_device("virtio-new"),
			 SECCOMP_THREAD_VIRTIO_OTHER);
	/* Not a device kind, even though it is a kind. */
	assert_int_equal(seccomp_kind_for_device("vcpu"),
			 SECCOMP_THREAD_VIRTIO_OTHER);
}

static void modes_parse(void **state)
{
	struct tern_error err;
	enum tern_seccomp_mode mode;

	assert_int_equal(tern_seccomp_parse_mode("log", &mode, &err), 0);
	assert_int_equal(mode, TERN_SECCOMP_LOG);
	assert_int_equal(tern_seccomp_parse_mode("off", &mode, &err), 0);
	assert_int_equal(mode, TERN_SECCOMP_OFF);
	assert_int_equal(tern_seccomp_parse_mode("kill", &mode, &err), 0);
	assert_int_equal(mode, TERN_SECCOMP_KILL);
	assert_int_equal(tern_seccomp_parse_mode("Kill", &mode, &err), -EINVAL);
	assert_non_null(strstr(err.message, "kill, log or off"));
}

/* --- The filters installed, in a child process ------------------------- */

struct outcome {
	int status;
	char stderr_text[512];
};

/* Runs body in a child that installed the ceiling and then kind's filter
 * (in mode); the child's stderr is kept. body returns the exit status. */
static struct outcome run_filtered(enum tern_seccomp_mode mode,
				   enum seccomp_thread_kind kind,
				   int (*body)(void))
{
	struct outcome out = {0};
	int pipe_fds[2];
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(pipe_fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct tern_error err;

		dup2(pipe_fds[1], STDERR_FILENO);
		close(pipe_fds[0]);
		if (seccomp_start_process(mode, &err)) {
			fprintf(stderr, "%s\n", err.message);
			_exit(100);
		}
		seccomp_enter_thread(kind);
		_exit(body());
	}
	close(pipe_fds[1]);
	n = read(pipe_fds[0], out.stderr_text, sizeof(out.stderr_text) - 1);
	out.stderr_text[n > 0 ? n : 0] = '\0';
	close(pipe_fds[0]);
	assert_int_equal(waitpid(pid, &out.status, 0), pid);
	return out;
}

static int make_inet_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 1;
}

static int make_packet_socket(void)
{
	/* Fails for want of privileges if it runs at all. */
	socket(AF_PACKET, SOCK_RAW, 0);
	return 0;
}

static int run_ioctl_on_bad_fd(void)
{
	return ioctl(-1, KVM_RUN, 0) < 0 && errno == EBADF ? 0 : 1;
}

static int create_vm_ioctl(void)
{
	ioctl(-1, KVM_CREATE_VM, 0);
	return 0;
}

#if !defined(__SANITIZE_ADDRESS__)
static int map_executable(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
	     0);
	return 0;
}

static int map_writable(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? 1 : 0;
}
#endif

static void *named_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "child");
	seccomp_enter_thread(SECCOMP_THREAD_MIGRATION);
	return arg;
}

static int start_a_thread(void)
{
	static int token;
	pthread_t thread;
	void *result = NULL;

	/* clone3 fails with ENOSYS (glibc falls back to clone). */
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		return 2;
	if (pthread_create(&thread, NULL, named_thread, &token))
		return 3;
	pthread_join(thread, &result);
	return result == &token ? 0 : 4;
}

static pid_t test_runner_pid;

static int other_process_signal(void)
{
	/* tgkill to a tgid that is not tern's (signal 0: a probe only). */
	syscall(SYS_tgkill, test_runner_pid, test_runner_pid, 0);
	return 0;
}

static void expect_killed(const struct outcome *out, const char *call,
			  const char *kind)
{
	char wanted[96];

	if (!WIFSIGNALED(out->status) || WTERMSIG(out->status) != SIGSYS)
		fail_msg("expected death by SIGSYS, status 0x%x, stderr: %s",
			 out->status, out->stderr_text);
	snprintf(wanted, sizeof(wanted),
		 "(%s filter) made the forbidden "
		 "system call %s (",
		 kind, call);
	if (!strstr(out->stderr_text, wanted))
		fail_msg("'%s' not in: %s", wanted, out->stderr_text);
}

static void expect_exit_0(const struct outcome *out)
{
	if (!WIFEXITED(out->status) || WEXITSTATUS(out->status) != 0)
		fail_msg("status 0x%x, stderr: %s", out->status,
			 out->stderr_text);
}

static int convert_a_date(void)
{
	time_t now = time(NULL);
	struct tm tm;

	return gmtime_r(&now, &tm) ? 0 : 1;
}

/* The CMOS RTC converts dates on vCPU threads; glibc's first conversion
 * in a process loads the time zone from /etc/localtime (seen killing every
 * Linux guest at its first RTC read). */
static void a_vcpu_converts_dates_without_opening_files(void **state)
{
	struct outcome out = run_filtered(TERN_SECCOMP_KILL,
					  SECCOMP_THREAD_VCPU, convert_a_date);

	expect_exit_0(&out);
}

/* glibc's qsort() asks sysinfo() for the memory size, once per process,
 * past 1 KiB of elements; the balloon sorts each batch of page numbers (a
 * guest's first inflation killed tern). Checked on the list: in this test
 * process an earlier qsort() has already cached the answer, so a filtered
 * child would not make the call. */
static void the_balloon_may_sort_a_page_batch(void **state)
{
	assert_true(mentions(SECCOMP_THREAD_VIRTIO_BALLOON, SCMP_SYS(sysinfo)));
}

static void vcpu_making_a_socket_is_killed_and_named(void **state)
{
	struct outcome out = run_filtered(
		TERN_SECCOMP_KILL, SECCOMP_THREAD_VCPU, make_inet_socket);

	expect_killed(&out, "socket", "vcpu");
}

static void ioctl_requests_are_checked(void **state)
{
	struct outcome out = run_filtered(
		TERN_SECCOMP_KILL, SECCOMP_THREAD_VCPU, run_ioctl_on_bad_fd);

	expect_exit_0(&out);
	out = run_filtered(TERN_SECCOMP_KILL, SECCOMP_THREAD_VCPU,
			   create_vm_ioctl);
	expect_killed(&out, "ioctl", "vcpu");
}

static void socket_families_are_checked(void **state)
{
	struct outcome out = run_filtered(TERN_SECCOMP_KILL, SECCOMP_THREAD_API,
					  make_inet_socket);

	expect_exit_0(&out);
	out = run_filtered(TERN_SECCOMP_KILL, SECCOMP_THREAD_API,
			   make_packet_socket);
	expect_killed(&out, "socket", "api");
}

static void signals_stay_inside_tern(void **state)
{
	struct outcome out;

	test_runner_pid = getpid();
	out = run_filtered(TERN_SECCOMP_KILL, SECCOMP_THREAD_API,
			   other_process_signal);

	expect_killed(&out, "tgkill", "api");
}

#if !defined(__SANITIZE_ADDRESS__)
static void executable_mappings_are_refused(void **state)
{
	struct outcome out = run_filtered(
		TERN_SECCOMP_KILL, SECCOMP_THREAD_VIRTIO_NET, map_writable);

	expect_exit_0(&out);
	out = run_filtered(TERN_SECCOMP_KILL, SECCOMP_THREAD_VIRTIO_NET,
			   map_executable);
	expect_killed(&out, "mmap", "virtio-net");
}
#endif

static void the_api_thread_starts_threads_that_narrow(void **state)
{
	struct outcome out = run_filtered(TERN_SECCOMP_KILL, SECCOMP_THREAD_API,
					  start_a_thread);

	expect_exit_0(&out);
}

static void log_mode_lets_the_call_run(void **state)
{
	struct outcome out = run_filtered(TERN_SECCOMP_LOG, SECCOMP_THREAD_VCPU,
					  make_inet_socket);

	expect_exit_0(&out);
}

static void off_mode_installs_nothing(void **state)
{
	struct outcome out = run_filtered(TERN_SECCOMP_OFF, SECCOMP_THREAD_VCPU,
					  make_inet_socket);

	expect_exit_0(&out);
}

static void *nothing(void *arg)
{
	return arg;
}

int main(void)
{
	pthread_t warm_up;

	/* As in tern, whose first threads start before any narrowing: glibc
	 * sets up its thread signals on the first pthread_create. */
	pthread_create(&warm_up, NULL, nothing, NULL);
	pthread_join(warm_up, NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_kind_compiles),
		cmocka_unit_test(every_rule_says_why),
		cmocka_unit_test(a_creator_allows_what_its_threads_do),
		cmocka_unit_test(dangerous_calls_are_in_no_list),
		cmocka_unit_test(userfaultfd_only_while_setting_up),
		cmocka_unit_test(guest_facing_threads_open_nothing),
		cmocka_unit_test(no_list_maps_executable_memory),
#if !defined(__SANITIZE_ADDRESS__)
		/* The sanitizer runtime of a test build maps as it likes. */
		cmocka_unit_test(executable_mappings_are_refused),
#endif
		cmocka_unit_test(the_documentation_lists_every_call),
		cmocka_unit_test(device_names_find_their_lists),
		cmocka_unit_test(modes_parse),
		cmocka_unit_test(vcpu_making_a_socket_is_killed_and_named),
		cmocka_unit_test(a_vcpu_converts_dates_without_opening_files),
		cmocka_unit_test(the_balloon_may_sort_a_page_batch),
		cmocka_unit_test(ioctl_requests_are_checked),
		cmocka_unit_test(socket_families_are_checked),
		cmocka_unit_test(signals_stay_inside_tern),
		cmocka_unit_test(the_api_thread_starts_threads_that_narrow),
		cmocka_unit_test(log_mode_lets_the_call_run),
		cmocka_unit_test(off_mode_installs_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
