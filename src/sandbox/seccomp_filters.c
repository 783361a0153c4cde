#include "sandbox/seccomp_filters.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Any arguments. */
#define ALLOW(call, reason)                                                    \
	{                                                                      \
		SCMP_SYS(call), -1, SCMP_CMP_EQ, 0, 0, 0, reason               \
	}
/* Argument number arg equal to value. */
#define ALLOW_IF(call, arg, value, reason)                                     \
	{                                                                      \
		SCMP_SYS(call), arg, SCMP_CMP_EQ, (uint64_t)(value), 0, 0,     \
			reason                                                 \
	}
/* Argument number arg with (arg & mask) == value. */
#define ALLOW_MASKED(call, arg, mask, value, reason)                           \
	{                                                                      \
		SCMP_SYS(call), arg, SCMP_CMP_MASKED_EQ, (uint64_t)(mask),     \
			(uint64_t)(value), 0, reason                           \
	}
#define ALLOW_IOCTL(request, reason) ALLOW_IF(ioctl, 1, request, reason)
#define FAIL_WITH(call, errnum, reason)                                        \
	{                                                                      \
		SCMP_SYS(call), -1, SCMP_CMP_EQ, 0, 0, errnum, reason          \
	}

#define GROUP(rules)                                                           \
	{                                                                      \
#rules, rules, ARRAY_SIZE(rules)                               \
	}

/* --- What every thread does ---------------------------------------------
 * glibc's locks and thread exit, tern's logging, memory allocation. No
 * PROT_EXEC anywhere: tern maps no code after start (the loader did). */
static const struct seccomp_rule every_thread[] = {
	ALLOW(futex, "mutexes, condition variables, pthread_join"),
	ALLOW(rt_sigprocmask,
	      "pthread_sigmask; glibc blocks signals while a "
	      "thread exits"),
	ALLOW(rt_sigreturn, "return from a signal handler (the vCPU kick)"),
	ALLOW(restart_syscall, "the kernel resumes an interrupted sleep"),
	ALLOW(exit, "a thread ends"),
	ALLOW(exit_group, "tern ends (any thread may, on a fatal error)"),
	ALLOW(write,
	      "log lines to stderr or the log file; eventfd "
	      "signals"),
	ALLOW(clock_gettime, "log timestamps (the vDSO's fallback)"),
	ALLOW(getpid, "pthread_kill() passes tern's pid to tgkill"),
	ALLOW(gettid, "glibc's own thread id checks"),
	ALLOW_IF(tgkill, 0, SECCOMP_VALUE_OWN_PID,
		 "pthread_kill, abort(): signals to tern's own threads only"),
	ALLOW_MASKED(mmap, 2, PROT_EXEC, 0,
		     "malloc (arenas, large blocks), thread stacks; never "
		     "executable"),
	ALLOW_MASKED(mprotect, 2, PROT_EXEC, 0,
		     "malloc grows an arena; stack guard pages; never "
		     "executable"),
	ALLOW(munmap, "free() of large blocks"),
	ALLOW(mremap, "realloc() of large blocks"),
	ALLOW(brk, "malloc's main heap"),
	ALLOW_IF(madvise, 2, MADV_DONTNEED,
		 "glibc returns a finished thread's stack; free()"),
	ALLOW_IF(prctl, 0, PR_GET_NAME,
		 "the SIGSYS report names a thread that has not narrowed "
		 "its filter yet"),
};

/* Starting threads (pthread_create). clone3's arguments are in memory a
 * filter cannot read, so it fails with ENOSYS and glibc falls back to
 * clone, whose flags must make a thread of this process. */
static const struct seccomp_rule start_threads[] = {
	FAIL_WITH(clone3, ENOSYS,
		  "glibc then uses clone, which a filter can "
		  "check"),
	ALLOW_MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD,
		     "pthread_create: threads only, never a process"),
	ALLOW(set_robust_list, "a new thread registers its robust mutexes"),
	ALLOW(rseq, "a new thread registers its restartable sequences"),
	ALLOW_IF(prctl, 0, PR_SET_NAME,
		 "a new thread names itself "
		 "(pthread_setname_np) before it "
		 "narrows its filter"),
	ALLOW_IF(seccomp, 0, SECCOMP_SET_MODE_FILTER,
		 "a new thread adds its own filter: only ever narrower"),
};

static const struct seccomp_rule close_fds[] = {
	ALLOW(close, "closing fds the thread is done with"),
};

/* --- vCPU threads ---------------------------------------------------------
 * KVM_RUN and the exits tern emulates on the vCPU: port and MMIO devices,
 * interrupts, and what a guest's writes to a virtio device's registers
 * set off (PCI BARs mapped: ioeventfds; MSI-X vectors: routes and irqfds;
 * a device reset drains its block queue and closes its vsock sockets). */
static const struct seccomp_rule kvm_vcpu[] = {
	ALLOW_IOCTL(KVM_RUN, "run the guest"),
	ALLOW_IOCTL(KVM_GET_REGS, "register dump on a fatal exit"),
	ALLOW_IOCTL(KVM_GET_SREGS, "register dump on a fatal exit"),
	ALLOW_IOCTL(KVM_GET_MP_STATE, "the SIGUSR2 report (vcpu_report.c)"),
	ALLOW_IOCTL(KVM_GET_VCPU_EVENTS, "the SIGUSR2 report"),
	ALLOW_IOCTL(KVM_GET_LAPIC, "the SIGUSR2 report"),
	ALLOW_IOCTL(KVM_TRANSLATE,
		    "the SIGUSR2 report reads the guest's stack through its "
		    "page tables"),
	ALLOW_IOCTL(KVM_IRQ_LINE,
		    "serial, keyboard, RTC, ACPI and "
		    "virtio-mmio interrupts"),
	ALLOW_IOCTL(KVM_SET_GSI_ROUTING, "the guest programs MSI/MSI-X"),
	ALLOW_IOCTL(KVM_IRQFD,
		    "MSI-X vectors bound to irqfds; --hyperv-testdev's "
		    "message connections"),
	ALLOW_IOCTL(KVM_IOEVENTFD,
		    "the guest maps a virtio BAR: queue "
		    "notifications become eventfds"),
	ALLOW_IOCTL(TUNSETOFFLOAD,
		    "virtio-net: offloads the guest driver "
		    "accepted, set on the tap"),
	ALLOW(eventfd2, "a new irqfd for an MSI-X vector"),
	ALLOW(close,
	      "an irqfd replaced; vsock connections closed on a "
	      "device reset"),
	ALLOW(epoll_ctl, "virtio-vsock's reset stops watching its sockets"),
	ALLOW(timerfd_settime, "virtio-vsock's reset disarms its timer"),
	ALLOW(poll, "virtio-blk's reset waits for requests in flight"),
	ALLOW(read, "virtio-blk's reset takes completions"),
	ALLOW(io_uring_enter, "virtio-blk's reset submits and reaps"),
	ALLOW(preadv,
	      "virtio-blk's reset completes requests (threads "
	      "engine runs some inline)"),
	ALLOW(pwritev, "as preadv"),
	ALLOW(fdatasync, "as preadv"),
	ALLOW(shutdown, "virtio-vsock's reset ends host connections"),
	/* An ACPI S3 wake (vm/vm_sleep.c): each vCPU resets itself to its
	 * power-on state, and vCPU 0 goes to the waking vector. */
	ALLOW_IOCTL(KVM_SET_REGS, "S3 wake: power-on state, waking vector"),
	ALLOW_IOCTL(KVM_SET_SREGS, "S3 wake: power-on state, waking vector"),
	ALLOW_IOCTL(KVM_SET_FPU, "S3 wake: power-on state"),
	ALLOW_IOCTL(KVM_SET_XSAVE, "S3 wake: power-on state"),
	ALLOW_IOCTL(KVM_SET_XCRS, "S3 wake: power-on state"),
	ALLOW_IOCTL(KVM_SET_MSRS, "S3 wake: power-on state"),
	ALLOW_IOCTL(KVM_SET_MP_STATE, "S3 wake: APs wait for INIT/SIPI"),
	ALLOW_IOCTL(KVM_SET_LAPIC, "S3 wake: power-on state"),
	ALLOW_IOCTL(KVM_SET_VCPU_EVENTS, "S3 wake: power-on state"),
	ALLOW_IOCTL(KVM_SET_DEBUGREGS, "S3 wake: power-on state"),
	ALLOW_IOCTL(KVM_CHECK_EXTENSION, "S3 wake: the XSAVE size"),
};

/* --- The main thread once the VM runs --------------------------------- */
static const struct seccomp_rule main_loop[] = {
	ALLOW(poll, "the event loop: stop eventfd, signalfd, stdin"),
	ALLOW(read, "signalfd, stdin (console input), eventfds"),
	ALLOW(accept4, "--serial unix: a console client connects"),
	ALLOW(sendto, "--serial unix: the guest's output to its client"),
	ALLOW_IOCTL(TCGETS, "the terminal's settings, restored at exit"),
	ALLOW_IOCTL(TCSETS, "restore the terminal at exit"),
	ALLOW_IOCTL(KVM_IRQ_LINE,
		    "Ctrl-A b: the balloon's config "
		    "interrupt (virtio-mmio)"),
	ALLOW_IOCTL(KVM_IOEVENTFD, "teardown: ioeventfds removed"),
	ALLOW_IOCTL(KVM_IRQFD, "teardown: irqfds removed"),
	ALLOW(epoll_ctl, "teardown of device I/O loops"),
	ALLOW(shutdown, "teardown: the API's and vsock's sockets"),
	ALLOW(unlink, "teardown: the API socket and vsock's socket files"),
	ALLOW(close, "teardown"),
	ALLOW(io_uring_enter, "teardown: virtio-blk drains its queue"),
	ALLOW(timerfd_settime,
	      "teardown: device resets disarm the "
	      "balloon's and vsock's timers"),
	ALLOW_IF(madvise, 2, MADV_DONTNEED, "guest memory released"),
	ALLOW(clock_nanosleep,
	      "a migration's source waits until its "
	      "result was read"),
	ALLOW(nanosleep, "as clock_nanosleep"),
};

/* --- libmicrohttpd's polling thread: the API ------------------------------
 * Requests from a client: configuration, snapshots (files named by the
 * client), pause/resume, metrics, the start of a migration. */
static const struct seccomp_rule api_server[] = {
	ALLOW(epoll_wait, "libmicrohttpd's event loop"),
	ALLOW(epoll_ctl, "libmicrohttpd adds and drops connections"),
	ALLOW(accept4, "a client connects"),
	ALLOW(recvfrom, "requests"),
	ALLOW(read, "requests; libmicrohttpd's wake-up eventfd"),
	ALLOW(sendto, "responses"),
	ALLOW(sendmsg, "responses"),
	ALLOW(writev, "responses"),
	ALLOW(shutdown, "a response ends its connection"),
	ALLOW(setsockopt,
	      "libmicrohttpd sets TCP_NODELAY/SO_* on "
	      "connections; migration socket timeouts"),
	ALLOW(getsockopt, "libmicrohttpd"),
	ALLOW(close, "connections, files"),
	ALLOW(openat, "PUT /logger, /metrics files; snapshot files"),
	ALLOW(newfstatat,
	      "a file's size and kind (snapshot load checks, "
	      "libmicrohttpd)"),
	ALLOW(fstat, "a file's size"),
	ALLOW(statx, "PATCH /drives: a new file's O_DIRECT alignment"),
	ALLOW_IOCTL(BLKGETSIZE64, "PATCH /drives: a block device's size"),
	ALLOW_IOCTL(BLKSSZGET, "PATCH /drives: a block device's sector size"),
	ALLOW_IF(fcntl, 1, F_OFD_SETLK, "PATCH /drives: the new file's lock"),
	ALLOW(io_uring_enter,
	      "PATCH /drives: requests in flight finish before the file "
	      "is replaced"),
	ALLOW(lseek, "snapshot files"),
	ALLOW(pread64, "snapshot files; /proc/self/statm for metrics"),
	ALLOW(pwrite64, "snapshot files"),
	ALLOW(ftruncate, "a memory file sized before it is written"),
	ALLOW(fsync, "a snapshot is on disk before success is answered"),
	ALLOW(fdatasync, "disks flushed before a snapshot"),
	ALLOW(rename, "a snapshot file appears whole"),
	ALLOW(unlink, "a half-written snapshot file removed"),
	ALLOW(sysinfo, "memory checks of PUT /machine-config"),
	ALLOW(geteuid, "a Diff memory file must be tern's own"),
	ALLOW(getrandom, "mkostemp's names for snapshot files"),
	ALLOW(access, "snapshot paths checked before work starts"),
	ALLOW(faccessat, "as access"),
	ALLOW(faccessat2, "as access"),
	ALLOW_IOCTL(TCGETS,
		    "isatty(): a log or metrics path may be a "
		    "terminal"),
	ALLOW_IF(clock_gettime, 0, CLOCK_PROCESS_CPUTIME_ID,
		 "tern_process_cpu_seconds_total"),
	ALLOW_IF(socket, 0, AF_INET,
		 "PUT /migration connects to the "
		 "destination"),
	ALLOW_IF(socket, 0, AF_INET6,
		 "PUT /migration connects to the "
		 "destination"),
	ALLOW(connect, "PUT /migration connects to the destination"),
	ALLOW(poll, "connect() with a time limit"),
	ALLOW_IOCTL(KVM_CHECK_EXTENSION, "snapshot: what the host saves"),
	ALLOW_IOCTL(KVM_GET_MSR_INDEX_LIST, "snapshot: the MSRs to save"),
	ALLOW_IOCTL(KVM_SET_CLOCK, "resume after a snapshot"),
	ALLOW_IOCTL(KVM_IRQ_LINE,
		    "balloon config interrupt "
		    "(PATCH /balloon, virtio-mmio)"),
	ALLOW(timerfd_settime,
	      "PATCH of a rate limiter wakes the device's thread "
	      "through the limiter's timer"),
};

/* Saving the VM's state (snapshot create on the API thread, pre-copy on
 * the migration thread): the vCPUs are parked, tern reads them. */
static const struct seccomp_rule save_state[] = {
	ALLOW_IOCTL(KVM_GET_REGS, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_SREGS, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_FPU, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_XSAVE, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_XCRS, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_MSRS, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_LAPIC, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_MP_STATE, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_VCPU_EVENTS, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_DEBUGREGS, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_CPUID2, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_CLOCK, "VM state: kvmclock"),
	ALLOW_IOCTL(KVM_GET_IRQCHIP, "VM state: PIC, IOAPIC"),
	ALLOW_IOCTL(KVM_GET_PIT2, "VM state: PIT"),
	ALLOW_IOCTL(KVM_GET_DIRTY_LOG,
		    "dirty pages (Diff snapshots, "
		    "pre-copy)"),
	ALLOW_IOCTL(KVM_SET_USER_MEMORY_REGION, "dirty logging on and off"),
	ALLOW_IOCTL(KVM_CHECK_EXTENSION, "what the host saves"),
	ALLOW_IOCTL(KVM_GET_MSR_INDEX_LIST, "the MSRs to save"),
	ALLOW_IOCTL(KVM_SET_CLOCK, "the clock goes on at resume"),
	ALLOW_IF(fcntl, 1, F_OFD_SETLK, "disk locks handed over"),
	ALLOW(fdatasync, "disks flushed before the state is final"),
};

/* --- The migration thread: pre-copy to the destination ------------------ */
static const struct seccomp_rule migration_sender[] = {
	ALLOW(sendto, "the memory and state stream"),
	ALLOW(sendmsg, "the memory and state stream"),
	ALLOW(read, "the destination's answers"),
	ALLOW(recvfrom, "the destination's answers"),
	ALLOW(poll, "waiting for the destination with a time limit"),
	ALLOW(setsockopt, "socket time limits"),
	ALLOW(close, "the connection"),
	ALLOW(clock_nanosleep, "pauses between pre-copy passes"),
	ALLOW(nanosleep, "as clock_nanosleep"),
};

/* --- The metrics thread: a JSON line every minute --------------------- */
static const struct seccomp_rule metrics_writer[] = {
	ALLOW(pread64, "/proc/self/statm, opened at start"),
	ALLOW_IF(clock_gettime, 0, CLOCK_PROCESS_CPUTIME_ID,
		 "tern_process_cpu_seconds_total"),
};

/* --- virtio device I/O threads ------------------------------------------ */
static const struct seccomp_rule virtio_io_loop[] = {
	ALLOW(epoll_wait, "the I/O loop"),
	ALLOW(epoll_ctl,
	      "virtio_device_watch_fd(): a backend fd watched "
	      "or set aside (a full tap, a drained queue)"),
	ALLOW(read, "queue notification eventfds; rate limiter timers"),
	ALLOW(timerfd_settime,
	      "a rate limiter's timer, armed when a queue must wait "
	      "for tokens"),
	ALLOW_IOCTL(KVM_IRQ_LINE,
		    "virtio-mmio interrupts (level "
		    "changes when not through an irqfd)"),
};

static const struct seccomp_rule block_io[] = {
	ALLOW(io_uring_enter, "engine=io_uring: submit and reap"),
	ALLOW(preadv, "engine=threads inline reads"),
	ALLOW(pwritev, "engine=threads inline writes"),
	ALLOW(pwrite64, "write-zeroes without fallocate support"),
	ALLOW(fdatasync, "guest flushes (cache=writeback)"),
	ALLOW(fallocate, "discard and write-zeroes"),
	ALLOW(poll, "waiting for requests in flight"),
};

static const struct seccomp_rule tap_io[] = {
	ALLOW(readv, "frames from the tap"),
	ALLOW(writev, "frames to the tap"),
	ALLOW(close, "a tap that failed is closed"),
};

static const struct seccomp_rule vsock_io[] = {
	ALLOW(accept4, "a host program connects to the vsock socket"),
	ALLOW_IF(socket, 0, AF_UNIX,
		 "a guest connects to a host port: "
		 "PATH_port"),
	ALLOW(connect, "a guest connects to a host port: PATH_port"),
	ALLOW(recvfrom, "the CONNECT line and data from host programs"),
	ALLOW(readv, "data from host programs"),
	ALLOW(sendmsg, "data to host programs"),
	ALLOW(sendto, "OK replies to host programs"),
	ALLOW(shutdown, "half-closes relayed from the guest"),
	ALLOW(close, "connections end"),
	ALLOW(epoll_ctl, "connections watched and dropped"),
	ALLOW(timerfd_settime, "connection time limits"),
	ALLOW(getsockopt, "SO_ERROR of a connect in progress"),
};

static const struct seccomp_rule balloon_io[] = {
	ALLOW_IF(madvise, 2, MADV_DONTNEED,
		 "inflated, reported and hinted pages "
		 "go back to the host"),
	ALLOW(timerfd_settime, "the statistics timer"),
	ALLOW(sysinfo,
	      "glibc's qsort() of a page batch asks the "
	      "machine's memory size (sysconf(_SC_PHYS_PAGES))"),
};

static const struct seccomp_rule rng_io[] = {
	ALLOW(getrandom, "the bytes the guest reads from /dev/hwrng"),
};

static const struct seccomp_rule pmem_io[] = {
	ALLOW(fdatasync,
	      "virtio-pmem's flush requests: the guest's writes "
	      "to the file's shared mapping made durable"),
};

static const struct seccomp_rule mem_io[] = {
	ALLOW_IF(madvise, 2, MADV_DONTNEED,
		 "unplugged hotpluggable memory goes back to the host"),
	ALLOW_IOCTL(KVM_SET_USER_MEMORY_REGION,
		    "virtio-mem's slots added and removed as the guest "
		    "plugs and unplugs"),
};

/* --- engine=threads block workers --------------------------------------- */
static const struct seccomp_rule block_worker[] = {
	ALLOW(preadv, "disk reads"),
	ALLOW(pwritev, "disk writes"),
	ALLOW(pwrite64, "write-zeroes without fallocate support"),
	ALLOW(fdatasync, "guest flushes (cache=writeback)"),
	ALLOW(fallocate, "discard and write-zeroes"),
};

/* --- The CMOS RTC's timer: periodic, update and alarm interrupts ------- */
static const struct seccomp_rule rtc_timer[] = {
	ALLOW_IOCTL(KVM_IRQ_LINE, "IRQ 8 when an interrupt comes due"),
};

/* --- --hyperv-testdev's thread: a message slot the guest freed --------- */
static const struct seccomp_rule hyperv_testdev_thread[] = {
	ALLOW(read, "the acknowledgement eventfd (irqfd resample)"),
	ALLOW_IOCTL(KVM_IRQ_LINE, "the SINT of a message posted again"),
};

/* --- Setup: the main thread before the vCPUs run -------------------------
 * Only the ceiling has these: opening files and devices, creating the VM,
 * the API and vsock sockets, waiting for a migration. Nothing here runs
 * guest code; parsing a kernel, a snapshot or a migration stream does. */
static const struct seccomp_rule setup[] = {
	ALLOW(openat,
	      "kernel, initrd, disks, /dev/kvm, /dev/net/tun, "
	      "snapshot files"),
	ALLOW(read, "config and snapshot files"),
	ALLOW(pread64, "disk headers, snapshot files"),
	ALLOW(readv, "files"),
	ALLOW(writev, "stdio"),
	ALLOW(lseek, "files"),
	ALLOW(newfstatat, "file sizes and kinds"),
	ALLOW(fstat, "file sizes and kinds"),
	ALLOW(statx, "file sizes and kinds"),
	ALLOW(access, "checks of paths"),
	ALLOW(readlink, "paths"),
	ALLOW(unlink, "a stale API or vsock socket file"),
	ALLOW(close, "descriptors tern is done with"),
	ALLOW(dup, "stdio descriptors"),
	ALLOW(fcntl, "O_NONBLOCK, close-on-exec, disk locks"),
	ALLOW(eventfd2, "wake-ups, queue notifications, irqfds"),
	ALLOW(epoll_create1, "device I/O loops, libmicrohttpd"),
	ALLOW(epoll_ctl, "device I/O loops"),
	ALLOW(signalfd4, "stop signals in the event loop"),
	ALLOW(timerfd_create, "vsock time limits; rate limiter timers"),
	ALLOW(timerfd_settime, "vsock time limits"),
	ALLOW(poll, "waiting for InstanceStart or a migration"),
	ALLOW(ppoll, "waiting"),
	ALLOW(pipe2, "libmicrohttpd's wake-up channel; the Uffd probe"),
	ALLOW_IF(socket, 0, AF_UNIX, "the API and vsock sockets"),
	ALLOW_IF(socket, 0, AF_INET,
		 "--incoming; the tap's interface "
		 "index"),
	ALLOW_IF(socket, 0, AF_INET6, "--incoming"),
	ALLOW(bind, "the API, vsock and --incoming sockets"),
	ALLOW(listen, "the API, vsock and --incoming sockets"),
	ALLOW(accept4, "--incoming takes the source's connection"),
	ALLOW(getsockname, "the address --incoming listens on"),
	ALLOW(setsockopt, "SO_REUSEADDR and time limits"),
	ALLOW(getsockopt, "socket checks"),
	ALLOW(recvfrom, "the migration stream"),
	ALLOW(sendto, "answers to the migration source"),
	ALLOW(sysinfo, "the host's RAM, for --memory checks"),
	ALLOW(umask, "the API socket is created 0600"),
	ALLOW(geteuid, "ownership checks of host paths"),
	ALLOW(faccessat, "checks of paths"),
	ALLOW(faccessat2, "checks of paths"),
	ALLOW(prlimit64, "resource limits"),
	ALLOW(getrandom, "hash seeds (jansson), MAC addresses"),
	ALLOW(sched_getaffinity, "the number of CPUs"),
	ALLOW(uname, "kernel version checks"),
	ALLOW(io_uring_setup, "engine=io_uring rings"),
	ALLOW(io_uring_register, "a ring's completion eventfd"),
	ALLOW_IF(madvise, 2, MADV_DONTDUMP,
		 "guest RAM left out of core "
		 "dumps"),
	ALLOW_IF(madvise, 2, MADV_HUGEPAGE, "guest RAM in huge pages"),
	ALLOW_IF(madvise, 2, MADV_MERGEABLE, "guest RAM"),
	/* Any signal but SIGSYS: the SIGSYS handler reports violations and
	 * no thread may replace it. */
	{SCMP_SYS(rt_sigaction), 0, SCMP_CMP_NE, SIGSYS, 0, 0,
	 "the vCPU kick handler, SIGPIPE ignored; never SIGSYS"},
	ALLOW(sigaltstack, "glibc and the sanitizers"),
	ALLOW(set_tid_address, "glibc"),
	ALLOW(rt_sigtimedwait, "glibc"),
	ALLOW(nanosleep, "short waits"),
	ALLOW(clock_nanosleep, "short waits"),
	ALLOW(sched_yield, "spinning waits"),
	ALLOW_IF(clock_gettime, 0, CLOCK_PROCESS_CPUTIME_ID,
		 "tern_process_cpu_seconds_total"),
	ALLOW_IOCTL(KVM_GET_API_VERSION, "KVM checks"),
	ALLOW_IOCTL(KVM_CHECK_EXTENSION, "KVM checks"),
	ALLOW_IOCTL(KVM_GET_VCPU_MMAP_SIZE, "KVM checks"),
	ALLOW_IOCTL(KVM_GET_SUPPORTED_CPUID, "CPUID the guest sees"),
	ALLOW_IOCTL(KVM_GET_SUPPORTED_HV_CPUID,
		    "--hyperv: the Hyper-V CPUID leaves"),
	ALLOW_IOCTL(KVM_ENABLE_CAP, "--hyperv: each vCPU's SynIC"),
	ALLOW_IOCTL(KVM_GET_MSR_INDEX_LIST, "MSRs to restore"),
	ALLOW_IOCTL(KVM_CREATE_VM, "the VM"),
	ALLOW_IOCTL(KVM_CREATE_IRQCHIP, "the VM's PIC and IOAPIC"),
	ALLOW_IOCTL(KVM_CREATE_PIT2, "the VM's PIT"),
	ALLOW_IOCTL(KVM_SET_TSS_ADDR, "the VM"),
	ALLOW_IOCTL(KVM_SET_IDENTITY_MAP_ADDR, "the VM"),
	ALLOW_IOCTL(KVM_SET_USER_MEMORY_REGION, "guest RAM"),
	ALLOW_IOCTL(KVM_CREATE_VCPU, "vCPUs"),
	ALLOW_IOCTL(KVM_GET_TSC_KHZ, "vCPUs"),
	ALLOW_IOCTL(KVM_SET_CPUID2, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_CPUID2, "vCPU state"),
	ALLOW_IOCTL(KVM_SET_REGS, "vCPU state"),
	ALLOW_IOCTL(KVM_SET_SREGS, "vCPU state"),
	ALLOW_IOCTL(KVM_SET_FPU, "vCPU state"),
	ALLOW_IOCTL(KVM_SET_XSAVE, "vCPU state (restore)"),
	ALLOW_IOCTL(KVM_SET_XCRS, "vCPU state (restore)"),
	ALLOW_IOCTL(KVM_SET_MSRS, "vCPU state"),
	ALLOW_IOCTL(KVM_SET_LAPIC, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_LAPIC, "vCPU state"),
	ALLOW_IOCTL(KVM_GET_SREGS, "vCPU state"),
	ALLOW_IOCTL(KVM_SET_MP_STATE, "vCPU state (restore)"),
	ALLOW_IOCTL(KVM_SET_VCPU_EVENTS, "vCPU state (restore)"),
	ALLOW_IOCTL(KVM_SET_DEBUGREGS, "vCPU state (restore)"),
	ALLOW_IOCTL(KVM_SET_CLOCK, "VM state (restore)"),
	ALLOW_IOCTL(KVM_SET_IRQCHIP, "VM state (restore)"),
	ALLOW_IOCTL(KVM_SET_PIT2, "VM state (restore)"),
	ALLOW_IOCTL(KVM_GET_DIRTY_LOG, "restore and migration receive"),
	ALLOW_IOCTL(KVM_SET_GSI_ROUTING, "interrupt routes"),
	ALLOW_IOCTL(KVM_IRQFD, "irqfds"),
	ALLOW_IOCTL(KVM_IOEVENTFD, "ioeventfds"),
	ALLOW_IOCTL(KVM_IRQ_LINE, "interrupts"),
	ALLOW_IOCTL(TUNSETIFF, "attach to the tap"),
	ALLOW_IOCTL(TUNGETFEATURES, "tap checks"),
	ALLOW_IOCTL(TUNSETVNETHDRSZ, "tap header size"),
	ALLOW_IOCTL(TUNSETOFFLOAD, "tap offloads"),
	ALLOW_IOCTL(SIOCGIFINDEX, "the tap's interface"),
	ALLOW_IOCTL(BLKGETSIZE64, "a block device's size"),
	ALLOW_IOCTL(BLKSSZGET, "a block device's sector size"),
	ALLOW_IOCTL(TCGETS, "the terminal"),
	ALLOW_IOCTL(TCSETS, "raw mode"),
	ALLOW_IOCTL(TIOCGWINSZ, "stdio checks"),
	/* Snapshot load with mem_backend Uffd (snapshot/uffd_backend.c):
	 * only here, in the main thread before the vCPUs run; no thread
	 * that runs afterwards may create or register one. */
	ALLOW_IF(userfaultfd, 0, O_CLOEXEC | O_NONBLOCK,
		 "Uffd: guest RAM served by a page fault handler"),
	ALLOW_IOCTL(USERFAULTFD_IOC_NEW,
		    "Uffd: a userfaultfd from /dev/userfaultfd where the "
		    "system call is not for unprivileged users"),
	ALLOW_IOCTL(UFFDIO_API, "Uffd: the features Firecracker asks for"),
	ALLOW_IOCTL(UFFDIO_REGISTER, "Uffd: guest RAM's regions registered"),
	ALLOW_IOCTL(SIOCOUTQ, "Uffd: has the handler read the message?"),
	ALLOW(connect, "Uffd: the page fault handler's socket"),
	ALLOW(sendmsg, "Uffd: the regions and the userfaultfd to the handler"),
};

/* What the AddressSanitizer/UndefinedBehaviorSanitizer runtime does in a
 * test build (make asan): its own mappings, and LeakSanitizer's check at
 * exit, which stops the threads with ptrace from a helper it clones and
 * reads /proc/self. Never in a release build. */
#if defined(__SANITIZE_ADDRESS__)
static const struct seccomp_rule sanitizer_runtime[] = {
	ALLOW(mmap, "shadow memory, allocator"),
	ALLOW(mprotect, "allocator"),
	ALLOW(madvise, "allocator"),
	ALLOW(clone, "LeakSanitizer's stop-the-world helper"),
	ALLOW(ptrace, "LeakSanitizer suspends the threads"),
	ALLOW(wait4, "LeakSanitizer waits for its helper"),
	ALLOW(prctl, "LeakSanitizer (PR_SET_PTRACER, dumpable)"),
	ALLOW(openat, "/proc/self/maps, /proc/self/task"),
	ALLOW(read, "/proc/self/maps"),
	ALLOW(close, "/proc files"),
	ALLOW(getdents64, "/proc/self/task"),
	ALLOW(getdents, "/proc/self/task (the runtime's raw calls)"),
	ALLOW(open, "/proc/self/task (the runtime's raw calls)"),
	ALLOW(readlink, "/proc/self/exe in reports"),
	ALLOW(newfstatat, "reports"),
	ALLOW(fstat, "reports"),
	ALLOW(sched_yield, "spin locks"),
	ALLOW(nanosleep, "waits"),
	ALLOW(clock_nanosleep, "waits"),
	ALLOW(sigaltstack, "alternate signal stacks per thread"),
	ALLOW(getppid, "reports"),
	ALLOW(kill, "the helper is stopped"),
	ALLOW(pipe2, "the helper"),
	ALLOW(getrusage, "statistics"),
	ALLOW(getrlimit, "stack limits"),
	ALLOW(prlimit64, "stack limits"),
	ALLOW(sched_getaffinity, "CPU count"),
	ALLOW(rt_sigtimedwait, "the helper"),
	ALLOW(set_robust_list, "new threads"),
	ALLOW(rseq, "new threads"),
	ALLOW(exit, "the helper"),
	ALLOW(dup2, "reports"),
	ALLOW(lseek, "reports"),
	ALLOW(pread64, "reports"),
	ALLOW(munmap, "allocator"),
	{SCMP_SYS(rt_sigaction), 0, SCMP_CMP_NE, SIGSYS, 0, 0,
	 "LeakSanitizer's helper handles fatal signals; never SIGSYS"},
	ALLOW(getpid, "reports"),
};
#endif

/* The kinds: their groups, and the kinds whose lists they carry because
 * they start those threads (see the header). */
struct kind_spec {
	const char *name;
	const struct seccomp_group *groups;
	size_t group_count;
	enum seccomp_thread_kind includes[SECCOMP_THREAD_KIND_COUNT];
	size_t include_count;
};

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_GROUP GROUP(sanitizer_runtime),
#else
#define SANITIZER_GROUP
#endif

#define KIND_GROUPS(...)                                                       \
	(const struct seccomp_group[])                                         \
	{                                                                      \
		GROUP(every_thread), SANITIZER_GROUP __VA_ARGS__               \
	}
#define COUNT_GROUPS(...)                                                      \
	(sizeof((const struct seccomp_group[]){GROUP(every_thread),            \
					       SANITIZER_GROUP __VA_ARGS__}) / \
	 sizeof(struct seccomp_group))
#define KIND(kind_name, ...)                                                   \
	.name = kind_name, .groups = KIND_GROUPS(__VA_ARGS__),                 \
	.group_count = COUNT_GROUPS(__VA_ARGS__)

static const struct kind_spec kinds[SECCOMP_THREAD_KIND_COUNT] = {
	[SECCOMP_THREAD_PROCESS] =
		{
			KIND("process", GROUP(setup), GROUP(start_threads)),
			.includes = {SECCOMP_THREAD_MAIN, SECCOMP_THREAD_VCPU,
				     SECCOMP_THREAD_API, SECCOMP_THREAD_METRICS,
				     SECCOMP_THREAD_MIGRATION,
				     SECCOMP_THREAD_VIRTIO_BLK,
				     SECCOMP_THREAD_VIRTIO_NET,
				     SECCOMP_THREAD_VIRTIO_VSOCK,
				     SECCOMP_THREAD_VIRTIO_BALLOON,
				     SECCOMP_THREAD_VIRTIO_RNG,
				     SECCOMP_THREAD_VIRTIO_PMEM,
				     SECCOMP_THREAD_VIRTIO_MEM,
				     SECCOMP_THREAD_VIRTIO_OTHER,
				     SECCOMP_THREAD_BLOCK_WORKER,
				     SECCOMP_THREAD_RTC,
				     SECCOMP_THREAD_HYPERV_TESTDEV},
			.include_count = SECCOMP_THREAD_KIND_COUNT - 1,
		},
	[SECCOMP_THREAD_MAIN] = {KIND("main", GROUP(main_loop))},
	[SECCOMP_THREAD_VCPU] = {KIND("vcpu", GROUP(kvm_vcpu))},
	[SECCOMP_THREAD_API] =
		{
			KIND("api", GROUP(api_server), GROUP(save_state),
			     GROUP(start_threads)),
			.includes = {SECCOMP_THREAD_MIGRATION,
				     SECCOMP_THREAD_VIRTIO_BLK,
				     SECCOMP_THREAD_VIRTIO_NET,
				     SECCOMP_THREAD_VIRTIO_VSOCK,
				     SECCOMP_THREAD_VIRTIO_BALLOON,
				     SECCOMP_THREAD_VIRTIO_RNG,
				     SECCOMP_THREAD_VIRTIO_PMEM,
				     SECCOMP_THREAD_VIRTIO_MEM,
				     SECCOMP_THREAD_VIRTIO_OTHER},
			.include_count = 9,
		},
	[SECCOMP_THREAD_METRICS] = {KIND("metrics", GROUP(metrics_writer))},
	[SECCOMP_THREAD_MIGRATION] =
		{
			KIND("migration", GROUP(migration_sender),
			     GROUP(save_state), GROUP(start_threads)),
			.includes = {SECCOMP_THREAD_VIRTIO_BLK,
				     SECCOMP_THREAD_VIRTIO_NET,
				     SECCOMP_THREAD_VIRTIO_VSOCK,
				     SECCOMP_THREAD_VIRTIO_BALLOON,
				     SECCOMP_THREAD_VIRTIO_RNG,
				     SECCOMP_THREAD_VIRTIO_PMEM,
				     SECCOMP_THREAD_VIRTIO_MEM,
				     SECCOMP_THREAD_VIRTIO_OTHER},
			.include_count = 8,
		},
	[SECCOMP_THREAD_VIRTIO_BLK] = {KIND("virtio-blk", GROUP(virtio_io_loop),
					    GROUP(block_io))},
	[SECCOMP_THREAD_VIRTIO_NET] = {KIND("virtio-net", GROUP(virtio_io_loop),
					    GROUP(tap_io))},
	[SECCOMP_THREAD_VIRTIO_VSOCK] = {KIND(
		"virtio-vsock", GROUP(virtio_io_loop), GROUP(vsock_io))},
	[SECCOMP_THREAD_VIRTIO_BALLOON] = {KIND(
		"virtio-balloon", GROUP(virtio_io_loop), GROUP(balloon_io))},
	[SECCOMP_THREAD_VIRTIO_RNG] = {KIND("virtio-rng", GROUP(virtio_io_loop),
					    GROUP(rng_io))},
	[SECCOMP_THREAD_VIRTIO_PMEM] = {KIND(
		"virtio-pmem", GROUP(virtio_io_loop), GROUP(pmem_io))},
	[SECCOMP_THREAD_VIRTIO_MEM] = {KIND("virtio-mem", GROUP(virtio_io_loop),
					    GROUP(mem_io))},
	[SECCOMP_THREAD_VIRTIO_OTHER] = {KIND(
		"virtio-other", GROUP(virtio_io_loop), GROUP(close_fds))},
	[SECCOMP_THREAD_BLOCK_WORKER] = {KIND("block-worker",
					      GROUP(block_worker))},
	[SECCOMP_THREAD_RTC] = {KIND("rtc", GROUP(rtc_timer))},
	[SECCOMP_THREAD_HYPERV_TESTDEV] = {KIND("hyperv-testdev",
						GROUP(hyperv_testdev_thread))},
};

const char *seccomp_kind_name(enum seccomp_thread_kind kind)
{
	if ((unsigned)kind >= SECCOMP_THREAD_KIND_COUNT)
		return "?";
	return kinds[kind].name;
}

int seccomp_kind_from_name(const char *name)
{
	for (int k = 0; k < SECCOMP_THREAD_KIND_COUNT; k++)
		if (!strcmp(kinds[k].name, name))
			return k;
	return -1;
}

enum seccomp_thread_kind seccomp_kind_for_device(const char *device_name)
{
	int kind = seccomp_kind_from_name(device_name);

	if (kind >= SECCOMP_THREAD_VIRTIO_BLK &&
	    kind < SECCOMP_THREAD_VIRTIO_OTHER)
		return (enum seccomp_thread_kind)kind;
	return SECCOMP_THREAD_VIRTIO_OTHER;
}

void seccomp_kind_groups(enum seccomp_thread_kind kind,
			 void (*visit)(const struct seccomp_group *group,
				       void *opaque),
			 void *opaque)
{
	const struct kind_spec *spec = &kinds[kind];

	for (size_t g = 0; g < spec->group_count; g++)
		visit(&spec->groups[g], opaque);
	for (size_t i = 0; i < spec->include_count; i++)
		seccomp_kind_groups(spec->includes[i], visit, opaque);
}
