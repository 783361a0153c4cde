/* Installing tern's seccomp filters (the lists: seccomp_filters.c).
 *
 * Order, and why. A seccomp filter belongs to the thread that installs it
 * and is copied into every thread it creates later; a thread can add
 * filters but never remove one, and a call must pass every filter the
 * thread has. So:
 *
 * 1. seccomp_start_process(), in the main thread before any other thread
 *    exists (after the command line, before the instance, the API server
 *    and the VM), compiles every list to BPF, installs the SIGSYS
 *    reporter, sets no_new_privs and installs the ceiling: the union of
 *    every thread's list plus what setup needs. Every thread created from
 *    then on starts under the ceiling.
 * 2. Each thread, first thing (before it touches anything a guest or a
 *    client controls), calls seccomp_enter_thread() with its kind, which
 *    adds its own list; ceiling and list together allow exactly the list,
 *    as the list is a subset of the ceiling. A thread that starts other
 *    threads later (the API thread: the migration thread, device I/O
 *    threads restarted after a snapshot) has a list that includes theirs,
 *    so they too end with exactly their own.
 * 3. The main thread narrows itself last, in vm_run() once the vCPU
 *    threads run: until then it creates the VM, its devices and threads,
 *    which needs the ceiling. It parses the kernel, a snapshot or a
 *    migration stream under the ceiling only (no exec, no ptrace, no
 *    mount... but files and sockets).
 *
 * A call outside the list: SECCOMP_RET_TRAP raises SIGSYS in the thread;
 * the handler writes one line naming the call and the thread to stderr
 * (and the log file) and ends tern, killed by SIGSYS. With
 * TERN_SECCOMP_LOG, the call runs and the kernel logs it (SECCOMP_RET_LOG:
 * dmesg, "audit: type=1326 ... comm=<thread> ... syscall=<number>").
 *
 * Test builds (TERN_TEST_HOOKS, set by `make asan`): with
 * TERN_TEST_FORBIDDEN_SYSCALL=<kind> in the environment, a thread of that
 * kind makes a forbidden call right after narrowing, so tests can check
 * each kind's filter ends tern with the report. Release builds have no
 * such code. */
#ifndef TERN_SANDBOX_SECCOMP_H
#define TERN_SANDBOX_SECCOMP_H

#include "sandbox/seccomp_filter_file.h"
#include "sandbox/seccomp_filters.h"
#include "util/error.h"

enum tern_seccomp_mode {
	TERN_SECCOMP_KILL, /* default */
	TERN_SECCOMP_LOG,
	TERN_SECCOMP_OFF,
};

/* "kill", "log", "off"; -EINVAL with err set otherwise. */
int tern_seccomp_parse_mode(const char *text, enum tern_seccomp_mode *mode,
			    struct tern_error *err);

/* Step 1 above. With TERN_SECCOMP_OFF it does nothing (and every
 * seccomp_enter_thread() after it does nothing). Not calling it at all
 * (unit and kvm test programs) is the same as off. */
int seccomp_start_process(enum tern_seccomp_mode mode, struct tern_error *err);

/* Instead of seccomp_start_process(): the programs of Firecracker's
 * filter file (sandbox/seccomp_filter_file.h, read by the caller from
 * origin), which seccomp_enter_thread() then installs in place of tern's
 * lists; nothing at process start. Takes the programs: *filters is left
 * empty, on error too. */
struct seccomp_filter_file;
int seccomp_start_process_with_filters(struct seccomp_filter_file *filters,
				       const char *origin,
				       struct tern_error *err);

/* Step 2: narrows the calling thread to kind's list. A failure ends tern
 * (a thread must not run unfiltered when filters are on). */
void seccomp_enter_thread(enum seccomp_thread_kind kind);

/* Builds kind's filter with the given default action into a libseccomp
 * context (for tests and seccomp_start_process); NULL with err set. */
void *seccomp_build_context(enum seccomp_thread_kind kind, uint32_t action,
			    struct tern_error *err);

#endif
