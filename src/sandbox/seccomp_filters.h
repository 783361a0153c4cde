/* tern's seccomp allowlists, as data: one list per kind of thread, each
 * call with the reason tern makes it. src/sandbox/seccomp.c compiles them
 * into BPF programs and installs them; docs/security.md ("## seccomp")
 * explains the design and lists them for people.
 *
 * A list is a set of groups (what a thread does: "log", "kvm-run",
 * "block-io"...) plus the lists of the kinds of thread it starts. A filter
 * that a thread installs is kept by the threads it creates afterwards, and
 * filters stack (a call must pass all of them), so a thread that starts
 * others must allow what they need: the API thread starts the migration
 * thread and restarts device I/O threads after a snapshot, so its list
 * includes theirs. seccomp_kind_rules() resolves that. */
#ifndef TERN_SANDBOX_SECCOMP_FILTERS_H
#define TERN_SANDBOX_SECCOMP_FILTERS_H

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

enum seccomp_thread_kind {
	/* The ceiling: what any tern thread may do, setup included. The
	 * main thread installs it before it creates any thread; every thread
	 * then narrows it to its own kind. */
	SECCOMP_THREAD_PROCESS,
	SECCOMP_THREAD_MAIN, /* the event loop, once the vCPUs run */
	SECCOMP_THREAD_VCPU,
	SECCOMP_THREAD_API, /* libmicrohttpd's polling thread */
	SECCOMP_THREAD_METRICS,
	SECCOMP_THREAD_MIGRATION,
	SECCOMP_THREAD_VIRTIO_BLK,
	SECCOMP_THREAD_VIRTIO_NET,
	SECCOMP_THREAD_VIRTIO_VSOCK,
	SECCOMP_THREAD_VIRTIO_BALLOON,
	SECCOMP_THREAD_VIRTIO_RNG,
	SECCOMP_THREAD_VIRTIO_PMEM,
	SECCOMP_THREAD_VIRTIO_MEM,
	/* A virtio device without a list of its own: the I/O loop only. */
	SECCOMP_THREAD_VIRTIO_OTHER,
	SECCOMP_THREAD_BLOCK_WORKER, /* engine=threads workers */
	SECCOMP_THREAD_RTC, /* the CMOS RTC's interrupt timer */
	/* --hyperv-testdev: messages posted again once a slot is free */
	SECCOMP_THREAD_HYPERV_TESTDEV,
	SECCOMP_THREAD_KIND_COUNT,
};

/* The rule's argument value is tern's own process id (tgkill). */
#define SECCOMP_VALUE_OWN_PID UINT64_MAX

struct seccomp_rule {
	int nr; /* system call number (SCMP_SYS) */
	int arg; /* the argument checked, or -1: any arguments */
	enum scmp_compare op;
	uint64_t a, b; /* SCMP_CMP_MASKED_EQ: a = mask, b = value */
	int fail_errno; /* nonzero: the call fails with it instead of running */
	const char *why;
};

struct seccomp_group {
	const char *name;
	const struct seccomp_rule *rules;
	size_t count;
};

/* "vcpu", "virtio-blk", ...: the names the log and the documentation use
 * (and TERN_TEST_FORBIDDEN_SYSCALL takes in test builds). */
const char *seccomp_kind_name(enum seccomp_thread_kind kind);
/* The kind whose name is name; -1 if none. */
int seccomp_kind_from_name(const char *name);
/* The I/O thread kind of a virtio device, by its ops name ("virtio-blk");
 * SECCOMP_THREAD_VIRTIO_OTHER for a device without its own list. */
enum seccomp_thread_kind seccomp_kind_for_device(const char *device_name);

/* Calls visit for every group kind's list has: its own, then those of
 * the kinds it starts (recursively); a group may come more than once. */
void seccomp_kind_groups(enum seccomp_thread_kind kind,
			 void (*visit)(const struct seccomp_group *group,
				       void *opaque),
			 void *opaque);

#endif
