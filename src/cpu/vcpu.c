#include "cpu/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/vcpu_setup.h"
#include "util/log.h"
#include "vm/vm.h"
#include "sandbox/seccomp.h"
#include "util/thread.h"

int vcpu_create(struct vcpu *vcpu, struct vm *vm, int index,
		struct tern_error *err)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0)
		return tern_error_set(
			err, errno,
			"cannot create vCPU %d: KVM_CREATE_VCPU: %s", index,
			strerror(errno));
	vcpu->run_size = (size_t)vm->kvm.vcpu_mmap_size;
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		int saved = errno;

		vcpu->run = NULL;
		close(vcpu->fd);
		vcpu->fd = -1;
		return tern_error_set(err, saved,
				      "cannot map vCPU %d's run area: %s",
				      index, strerror(saved));
	}
	return 0;
}

static int set_cpuid(struct vcpu *vcpu, struct tern_error *err)
{
	const struct vm *vm = vcpu->vm;
	int tsc_khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	struct cpuid_table *table = malloc(sizeof(*table));
	struct cpuid_table *hyperv = NULL;
	/* A TSC frequency in CPUID lets the guest skip its calibration loop;
	 * without KVM_GET_TSC_KHZ the guest calibrates as usual. SMT pairs
	 * the vCPUs as threads of one core (Firecracker: 1 or an even
	 * count, checked with the configuration). */
	struct cpuid_params params = {
		.tmpl = vm->config.cpu_template,
		.custom = vm->config.cpu_custom ? &vm->config.cpu_custom->mods
						: NULL,
		.cpu_index = vcpu->index,
		.cpu_count = vm->config.cpu_count,
		.threads_per_core =
			vm->config.smt && vm->config.cpu_count > 1 ? 2 : 1,
		.tsc_khz = tsc_khz > 0 ? (uint32_t)tsc_khz : 0,
	};
	int ret;

	if (!table)
		return tern_error_set(err, ENOMEM, "out of memory for CPUID");
	if (vm->config.kvm_hyperv) {
		hyperv = malloc(sizeof(*hyperv));
		ret = hyperv ? hyperv_supported_cpuid(vm->kvm.fd, vcpu->fd,
						      hyperv, err)
			     : tern_error_set(err, ENOMEM,
					      "out of memory for CPUID");
		if (ret) {
			free(hyperv);
			free(table);
			return ret;
		}
		params.hyperv = hyperv;
	}
	ret = cpuid_build(&vm->kvm.supported_cpuid, &params, table, err);
	if (!ret && ioctl(vcpu->fd, KVM_SET_CPUID2, table) < 0)
		ret = tern_error_set(err, errno,
				     "KVM_SET_CPUID2 failed for vCPU %d: %s",
				     vcpu->index, strerror(errno));
	free(hyperv);
	free(table);
	return ret;
}

/* One MSR of a CPU template: read what KVM gives the vCPU, change the
 * template's bits, write it back. As in Firecracker, an MSR KVM will not
 * read or write for this vCPU is an error, not a silent skip. */
static int apply_msr_modifier(struct vcpu *vcpu, const struct msr_modifier *mod,
			      struct tern_error *err)
{
	struct {
		struct kvm_msrs header;
		struct kvm_msr_entry entry;
	} msr = {.header.nmsrs = 1, .entry.index = mod->addr};

	if (ioctl(vcpu->fd, KVM_GET_MSRS, &msr) != 1)
		return tern_error_set(err, ENOTSUP,
				      "vCPU %d: the CPU template changes MSR "
				      "%#x, which this host's KVM does not "
				      "let a guest have",
				      vcpu->index, mod->addr);
	msr.entry.data =
		cpu_bitmap_apply(msr.entry.data, mod->mask, mod->value);
	if (ioctl(vcpu->fd, KVM_SET_MSRS, &msr) != 1)
		return tern_error_set(err, ENOTSUP,
				      "vCPU %d: this host's KVM refused MSR "
				      "%#x = %#llx from the CPU template",
				      vcpu->index, mod->addr,
				      (unsigned long long)msr.entry.data);
	return 0;
}

static int apply_msr_modifiers(struct vcpu *vcpu,
			       const struct cpu_modifiers *mods,
			       struct tern_error *err)
{
	int ret = 0;

	for (int i = 0; mods && !ret && i < mods->msr_count; i++)
		ret = apply_msr_modifier(vcpu, &mods->msrs[i], err);
	return ret;
}

int vcpu_configure(struct vcpu *vcpu, struct tern_error *err)
{
	const struct vm_config *config = &vcpu->vm->config;
	int ret = set_cpuid(vcpu, err);

	if (!ret && config->kvm_hyperv)
		ret = hyperv_enable_vcpu(vcpu, err);
	if (!ret)
		ret = x86_vcpu_init_platform_state(vcpu->fd, err);
	/* After the platform's own MSR values, which they change; the
	 * static template's first, the custom one's last. */
	if (!ret && config->cpu_template)
		ret = apply_msr_modifiers(vcpu, config->cpu_template->modifiers,
					  err);
	if (!ret && config->cpu_custom)
		ret = apply_msr_modifiers(vcpu, &config->cpu_custom->mods, err);
	return ret;
}

static void handle_port_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t size = run->io.size;
	uint64_t total = (uint64_t)size * run->io.count;
	uint8_t *data;

	/* The kernel fills these, but a bad offset would let one bug become a
	 * wild write; check against the mapping. */
	if (size == 0 || size > 4 || run->io.data_offset > vcpu->run_size ||
	    total > vcpu->run_size - run->io.data_offset)
		return;
	data = (uint8_t *)run + run->io.data_offset;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			io_bus_write(&vcpu->vm->pio_bus, run->io.port, data,
				     size);
		else
			io_bus_read(&vcpu->vm->pio_bus, run->io.port, data,
				    size);
	}
}

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	if (run->mmio.is_write)
		io_bus_write(&vcpu->vm->mmio_bus, run->mmio.phys_addr,
			     run->mmio.data, len);
	else
		io_bus_read(&vcpu->vm->mmio_bus, run->mmio.phys_addr,
			    run->mmio.data, len);
}

static void stop_with_dump(struct vcpu *vcpu, enum vm_stop_reason reason,
			   const char *what)
{
	log_error("vCPU %d: %s", vcpu->index, what);
	vcpu_dump_registers(vcpu);
	vm_request_stop(vcpu->vm, reason);
}

static void handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_STOP_GUEST_POWEROFF);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, VM_STOP_GUEST_RESET);
		break;
	default:
		stop_with_dump(vcpu, VM_STOP_UNHANDLED_EXIT,
			       "guest reported a crash (system event)");
	}
}

/* Returns 0 to keep running, 1 when the vCPU must stop. */
static int handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	char what[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_port_io(vcpu);
		return 0;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return 0;
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_HYPERV:
		/* Only once kvm_hyperv gave the vCPU a SynIC. */
		hyperv_handle_exit(vcpu);
		return 0;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; with one, HLT sleeps in
		 * the kernel. A halted CPU with nothing to wake it is a
		 * powered-off machine. */
		vm_request_stop(vcpu->vm, VM_STOP_GUEST_POWEROFF);
		return 1;
	case KVM_EXIT_SHUTDOWN:
		/* A PC's chipset resets the machine on a shutdown cycle, and
		 * Linux's reboot=t relies on it; the registers stay in the log
		 * because an unintended triple fault is a guest crash worth
		 * reading (the phrase "guest triple-faulted" is what the test
		 * runner looks for). */
		log_warn("vCPU %d: the guest triple-faulted "
			 "(KVM_EXIT_SHUTDOWN): a reset, as on a PC",
			 vcpu->index);
		vcpu_dump_registers(vcpu);
		vm_request_stop(vcpu->vm, VM_STOP_TRIPLE_FAULT);
		return 1;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return 1;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what),
			 "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				 ? " (instruction emulation failed)"
				 : "");
		stop_with_dump(vcpu, VM_STOP_INTERNAL_ERROR, what);
		return 1;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what),
			 "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason);
		stop_with_dump(vcpu, VM_STOP_INTERNAL_ERROR, what);
		return 1;
	default:
		snprintf(what, sizeof(what), "unhandled KVM exit reason %u",
			 run->exit_reason);
		stop_with_dump(vcpu, VM_STOP_UNHANDLED_EXIT, what);
		return 1;
	}
}

/* An exit tern just handled (port or MMIO read) is finished inside KVM only
 * by the next KVM_RUN: with immediate_exit set it completes the instruction
 * and returns at once without running the guest (api.rst, immediate_exit).
 * Done before parking so a paused vCPU's registers are complete, as a
 * snapshot needs them. */
static void complete_pending_exit(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(vcpu->fd, KVM_RUN, 0) == 0) {
		/* Should not happen with immediate_exit; count it anyway. */
		atomic_fetch_add_explicit(&vcpu->exit_count, 1,
					  memory_order_relaxed);
	}
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	char name[16];
	sigset_t kick;

	snprintf(name, sizeof(name), "vcpu%d", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	/* Before the first KVM_RUN: from there on the guest drives it. */
	seccomp_enter_thread(SECCOMP_THREAD_VCPU);
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	vm_vcpu_thread_started(vcpu->vm);
	while (!vm_stop_requested(vcpu->vm)) {
		unsigned slot;

		/* A plain load first: the exchange's locked bus cycle stays
		 * off the exit path until a report is asked for. */
		if (atomic_load_explicit(&vcpu->report_requested,
					 memory_order_relaxed) &&
		    atomic_exchange(&vcpu->report_requested, 0))
			vcpu_report_state(vcpu);
		if (vm_pause_requested(vcpu->vm)) {
			complete_pending_exit(vcpu);
			vm_vcpu_pause_point(vcpu->vm, vcpu);
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* A kick sets immediate_exit; whoever kicked
				 * set its flag (stop, pause) first, and the
				 * loop checks the flags again before the next
				 * KVM_RUN, so clearing it here loses no kick
				 * and keeps a stale one from spinning. */
				__atomic_store_n(&vcpu->run->immediate_exit, 0,
						 __ATOMIC_SEQ_CST);
				continue;
			}
			log_error("vCPU %d: KVM_RUN failed: %s", vcpu->index,
				  strerror(errno));
			vm_request_stop(vcpu->vm, VM_STOP_INTERNAL_ERROR);
			break;
		}
		atomic_fetch_add_explicit(&vcpu->exit_count, 1,
					  memory_order_relaxed);
		slot = vcpu->run->exit_reason < VCPU_EXIT_REASON_SLOTS - 1
			? vcpu->run->exit_reason
			: VCPU_EXIT_REASON_SLOTS - 1;
		atomic_fetch_add_explicit(&vcpu->exits_by_reason[slot], 1,
					  memory_order_relaxed);
		if (handle_exit(vcpu))
			break;
	}
	vm_vcpu_thread_exited(vcpu->vm);
	return NULL;
}

const char *vcpu_exit_reason_name(unsigned slot)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "unknown",
		[KVM_EXIT_EXCEPTION] = "exception",
		[KVM_EXIT_IO] = "io",
		[KVM_EXIT_HYPERCALL] = "hypercall",
		[KVM_EXIT_DEBUG] = "debug",
		[KVM_EXIT_HLT] = "hlt",
		[KVM_EXIT_MMIO] = "mmio",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
		[KVM_EXIT_SHUTDOWN] = "shutdown",
		[KVM_EXIT_FAIL_ENTRY] = "fail_entry",
		[KVM_EXIT_INTR] = "intr",
		[KVM_EXIT_SET_TPR] = "set_tpr",
		[KVM_EXIT_TPR_ACCESS] = "tpr_access",
		[KVM_EXIT_NMI] = "nmi",
		[KVM_EXIT_INTERNAL_ERROR] = "internal_error",
		[KVM_EXIT_OSI] = "osi",
		[KVM_EXIT_SYSTEM_EVENT] = "system_event",
		[KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
		[KVM_EXIT_HYPERV] = "hyperv",
		[KVM_EXIT_X86_RDMSR] = "rdmsr",
		[KVM_EXIT_X86_WRMSR] = "wrmsr",
		[KVM_EXIT_DIRTY_RING_FULL] = "dirty_ring_full",
		[KVM_EXIT_X86_BUS_LOCK] = "bus_lock",
	};

	if (slot < sizeof(names) / sizeof(names[0]) && names[slot])
		return names[slot];
	return slot >= VCPU_EXIT_REASON_SLOTS - 1 ? "other" : NULL;
}

int vcpu_start(struct vcpu *vcpu, struct tern_error *err)
{
	int ret = thread_start(&vcpu->thread, vcpu_thread, vcpu);

	if (ret)
		return tern_error_set(err, ret,
				      "cannot start vCPU %d's thread: %s",
				      vcpu->index, strerror(ret));
	vcpu->thread_started = 1;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	/* immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal interrupts a KVM_RUN already in progress (api.rst,
	 * KVM_CAP_IMMEDIATE_EXIT). */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	/* Kick again until the thread is gone: a kick that lands while the
	 * thread is outside KVM_RUN is lost on a KVM that ignores
	 * immediate_exit (see vm_pause). */
	while (vcpu->thread_started) {
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += VCPU_REKICK_NS;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(vcpu->thread, NULL, &deadline) == 0)
			break;
		vcpu_kick(vcpu);
	}
	vcpu->thread_started = 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}
