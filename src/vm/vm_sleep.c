#include "vm/vm_sleep.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "arch/x86/acpi/acpi_waking_vector.h"
#include "devices/acpi_pm1.h"
#include "devices/acpi_power.h"
#include "devices/cmos_rtc.h"
#include "snapshot/state_file.h"
#include "snapshot/state_sequence.h"
#include "util/log.h"
#include "vm/vm.h"

int vm_sleep_prepare(struct vm *vm, struct tern_error *err)
{
	struct state_file *sf = calloc(1, sizeof(*sf));
	int ret = 0;

	if (!sf)
		return tern_error_set(err, ENOMEM, "out of memory");
	state_file_init(sf);
	ret = state_sequence_save_vcpus(vm, sf, err);
	if (ret) {
		state_file_free(sf);
		free(sf);
		return ret;
	}
	vm->sleep.power_on = sf;
	return 0;
}

void vm_sleep_forget(struct vm *vm)
{
	if (!vm->sleep.power_on)
		return;
	state_file_free(vm->sleep.power_on);
	free(vm->sleep.power_on);
	vm->sleep.power_on = NULL;
}

void vm_sleep_enter(void *opaque)
{
	struct vm *vm = opaque;
	int entered = 0;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm->sleep.power_on && !vm_stop_requested(vm) &&
	    vm_sleep_state(&vm->sleep) == VM_SLEEP_AWAKE) {
		atomic_store(&vm->sleep.state, VM_SLEEP_ASLEEP);
		atomic_fetch_add(&vm->sleep.sleeps, 1);
		entered = 1;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (!entered)
		return;
	log_info("the guest entered ACPI S3 (suspend to RAM); its vCPUs "
		 "stop until a wake event");
	/* The vCPU that wrote SLP_EN parks on its way back to KVM_RUN; the
	 * others are in the guest and must be made to leave it. */
	for (int i = 0; i < vm->vcpu_count; i++)
		if (!pthread_equal(vm->vcpus[i].thread, pthread_self()))
			vcpu_kick(&vm->vcpus[i]);
	/* Hardware-reduced ACPI has no RTC_STS to remember an alarm that
	 * fired just before the sleep: the RTC's own pending interrupt is the
	 * wake event then (full ACPI's PM1 checks its status bits itself). */
	if (!vm->acpi_pm1 && vm->acpi_power && vm->rtc &&
	    cmos_rtc_alarm_pending(vm->rtc))
		acpi_power_wake(vm->acpi_power, "the RTC alarm (pending)");
}

int vm_sleep_wake(void *opaque, const char *why)
{
	struct vm *vm = opaque;
	int woke = 0;

	pthread_mutex_lock(&vm->pause_lock);
	if (vm_sleep_state(&vm->sleep) == VM_SLEEP_ASLEEP) {
		atomic_store(&vm->sleep.state, VM_SLEEP_WAKING);
		vm->sleep.resets_left = vm->vcpu_count;
		memset(vm->sleep.reset_done, 0, sizeof(vm->sleep.reset_done));
		pthread_cond_broadcast(&vm->pause_cond);
		woke = 1;
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (woke)
		log_info("the guest wakes from ACPI S3: %s", why);
	return woke;
}

void vm_sleep_rtc_alarm(void *opaque)
{
	struct vm *vm = opaque;

	if (vm->acpi_pm1)
		acpi_pm1_rtc_alarm(vm->acpi_pm1);
	else if (vm->acpi_power)
		acpi_power_wake(vm->acpi_power, "the RTC alarm");
}

/* Flat 4 GiB segments: what ACPI 6.4 section 5.2.10 asks of firmware that
 * jumps to X_Firmware_Waking_Vector without 64BIT_WAKE_F. */
static void protected_flat(struct kvm_sregs *sregs)
{
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 0x08,
		.type = 0xb,
		.present = 1,
		.db = 1,
		.s = 1,
		.g = 1,
	};
	struct kvm_segment data = code;

	data.selector = 0x10;
	data.type = 0x3;
	sregs->cs = code;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->cr0 |= 1; /* PE; paging stays off */
}

/* The boot vCPU, just reset: where the firmware would jump. 0 when it is
 * set, -ENOENT when there is no usable vector. */
static int enter_waking_vector(struct vm *vm, struct vcpu *vcpu)
{
	struct acpi_waking_vector wv;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret = acpi_find_waking_vector(&vm->memory, &wv);

	if (ret) {
		log_warn("S3 wake: no FACS found through the RSDP (%s): the "
			 "firmware has nowhere to resume; the VM resets",
			 strerror(-ret));
		return -ENOENT;
	}
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0) {
		log_error("S3 wake: reading vCPU 0's registers failed: %s",
			  strerror(errno));
		return -errno;
	}
	if (wv.x_vector) {
		if (wv.x_vector > UINT32_MAX ||
		    !guest_memory_ptr(&vm->memory, wv.x_vector, 1)) {
			log_warn("S3 wake: X_Firmware_Waking_Vector 0x%llx is "
				 "not in guest RAM below 4 GiB; the VM resets",
				 (unsigned long long)wv.x_vector);
			return -ENOENT;
		}
		protected_flat(&sregs);
		regs.rip = wv.x_vector;
	} else {
		/* Real mode reaches the first MiB; a zero vector is none
		 * (SeaBIOS boots then). */
		if (!wv.vector || wv.vector >= 0x100000 ||
		    !guest_memory_ptr(&vm->memory, wv.vector, 1)) {
			log_warn(
				"S3 wake: Firmware_Waking_Vector 0x%x is not a "
				"real-mode address in guest RAM; the VM "
				"resets",
				wv.vector);
			return -ENOENT;
		}
		sregs.cs.selector = (uint16_t)(wv.vector >> 4);
		sregs.cs.base = (uint64_t)(wv.vector >> 4) << 4;
		regs.rip = wv.vector & 0xf;
	}
	regs.rflags = 0x2;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0) {
		log_error("S3 wake: setting vCPU 0's registers failed: %s",
			  strerror(errno));
		return -errno;
	}
	log_debug("S3 wake: vCPU 0 resumes at %s 0x%llx (FACS at 0x%llx)",
		  wv.x_vector ? "32-bit" : "real-mode",
		  (unsigned long long)(wv.x_vector ? wv.x_vector : wv.vector),
		  (unsigned long long)wv.facs_gpa);
	return 0;
}

/* On the vCPU's own thread (KVM serialises vCPU ioctls behind KVM_RUN),
 * outside KVM_RUN. */
static void reset_self(struct vm *vm, struct vcpu *vcpu)
{
	struct tern_error err = {0};

	if (state_sequence_reset_vcpu(vcpu, vm->sleep.power_on, &err)) {
		log_error("S3 wake: vCPU %d cannot reset: %s", vcpu->index,
			  err.message);
		vm->sleep.wake_failed = VM_STOP_INTERNAL_ERROR;
		return;
	}
	if (vcpu->index == 0 && enter_waking_vector(vm, vcpu))
		vm->sleep.wake_failed = VM_STOP_GUEST_RESET;
}

int vm_sleep_hold(struct vm *vm, struct vcpu *vcpu)
{
	struct vm_sleep *s = &vm->sleep;

	switch (vm_sleep_state(s)) {
	case VM_SLEEP_AWAKE:
		return 0;
	case VM_SLEEP_ASLEEP:
		return 1;
	default:
		break;
	}
	if (vcpu->index >= 0 && vcpu->index < VM_MAX_CPUS &&
	    !s->reset_done[vcpu->index]) {
		s->reset_done[vcpu->index] = 1;
		reset_self(vm, vcpu);
		if (--s->resets_left <= 0) {
			atomic_store(&s->state, VM_SLEEP_AWAKE);
			atomic_fetch_add(&s->wakes, 1);
			pthread_cond_broadcast(&vm->pause_cond);
		}
	}
	return vm_sleep_state(s) != VM_SLEEP_AWAKE;
}

void vm_sleep_after_park(struct vm *vm, struct vcpu *vcpu)
{
	int failed;

	pthread_mutex_lock(&vm->pause_lock);
	failed = vm_sleep_state(&vm->sleep) == VM_SLEEP_AWAKE
		? vm->sleep.wake_failed
		: 0;
	if (failed)
		vm->sleep.wake_failed = 0;
	pthread_mutex_unlock(&vm->pause_lock);
	(void)vcpu;
	if (failed)
		vm_request_stop(vm, (enum vm_stop_reason)failed);
}

void vm_sleep_clear(struct vm *vm)
{
	atomic_store(&vm->sleep.state, VM_SLEEP_AWAKE);
	vm->sleep.resets_left = 0;
	vm->sleep.wake_failed = 0;
}

uint64_t vm_sleep_count(const struct vm *vm)
{
	return atomic_load(&vm->sleep.sleeps);
}

uint64_t vm_wake_count(const struct vm *vm)
{
	return atomic_load(&vm->sleep.wakes);
}
