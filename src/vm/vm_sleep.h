/* ACPI S3, suspend to RAM: the guest writes SLP_EN with the S3 sleep type
 * to its sleep register (PM1 control block in full ACPI, devices/
 * acpi_pm1.h; the sleep control register in hardware-reduced ACPI,
 * devices/acpi_power.h) and the machine sleeps until a wake event.
 *
 * Sleep: every vCPU stops and parks on the pause condition (no CPU used),
 * as for a pause. Guest RAM is kept, and so are the devices and the
 * interrupt controllers: tern's devices use no power, so there is nothing
 * to lose, and an OS re-initialises its devices on resume anyway (Linux
 * does; a device that kept its state is a device reset it need not do).
 *
 * Wake: a wake event (the RTC alarm with RTC_EN, the power button, which
 * is also what the API's SendPowerButton presses) makes the sleep register
 * set WAK_STS and calls vm_sleep_wake(). Every vCPU then resets itself to
 * its power-on state on its own thread, as a PC's processors are reset at
 * wake: the APs wait for INIT/SIPI; the boot vCPU, standing in for the
 * firmware, reads the FACS's waking vector (arch/x86/acpi/
 * acpi_waking_vector.h) and starts there: in real mode at
 * CS = vector >> 4, IP = vector & 0xf, or, when X_Firmware_Waking_Vector
 * is non-zero, in 32-bit flat protected mode at it (ACPI 6.4 section
 * 5.2.10: the FACS offers no 64-bit wake). A vector outside guest RAM or no
 * FACS at all: the firmware has nowhere to resume, and boots instead, so
 * tern treats the wake as a guest reset (--on-reboot decides).
 *
 * A guest that sleeps with no wake event enabled sleeps until the power
 * button: its choice. tern stays in control meanwhile: the API answers,
 * signals end it, a pause pauses it (a wake then waits for the resume);
 * snapshots and migrations are refused until it wakes, since what a
 * snapshot holds is a running machine. */
#ifndef TERN_VM_VM_SLEEP_H
#define TERN_VM_VM_SLEEP_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/error.h"
#include "vm/vm_config.h"

struct vm;
struct vcpu;
struct state_file;

enum vm_sleep_state {
	VM_SLEEP_AWAKE,
	VM_SLEEP_ASLEEP, /* vCPUs parked or parking */
	VM_SLEEP_WAKING, /* each vCPU resets itself, then all run */
};

struct vm_sleep {
	_Atomic int state; /* enum vm_sleep_state; changes under pause_lock */
	/* Under pause_lock, for the wake in progress: how many vCPUs have yet
	 * to reset themselves, and which have. */
	int resets_left;
	uint8_t reset_done[VM_MAX_CPUS];
	/* The wake found no usable waking vector: a reset follows. */
	int wake_failed;
	/* The vCPUs' power-on state, recorded by vm_sleep_prepare(). */
	struct state_file *power_on;
	_Atomic uint64_t sleeps, wakes;
};

/* Records the vCPUs' power-on state (vm_create(), before any guest code
 * ran) that each vCPU returns to at wake. */
int vm_sleep_prepare(struct vm *vm, struct tern_error *err);
void vm_sleep_forget(struct vm *vm);

/* The sleep registers' callbacks (struct acpi_power_events): opaque is the
 * VM. vm_sleep_enter() runs on the vCPU that wrote SLP_EN. vm_sleep_wake()
 * returns 1 when the VM was asleep and now wakes, 0 otherwise; any thread,
 * device locks may be held (it takes only the pause lock). */
void vm_sleep_enter(void *vm);
int vm_sleep_wake(void *vm, const char *why);

/* The RTC's alarm hook (devices/cmos_rtc.h): a wake event for the VM's
 * sleep register. */
void vm_sleep_rtc_alarm(void *vm);

static inline int vm_sleep_state(const struct vm_sleep *s)
{
	return atomic_load(&s->state);
}

/* Called by vm_vcpu_pause_point() with the pause lock held, while the vCPU
 * is parked and the VM is not paused: a waking vCPU resets itself here.
 * Returns whether the vCPU must stay parked for the sleep. */
int vm_sleep_hold(struct vm *vm, struct vcpu *vcpu);

/* After the pause lock is released: the consequence of a failed wake (a
 * guest reset), if this vCPU saw one. */
void vm_sleep_after_park(struct vm *vm, struct vcpu *vcpu);

/* The VM is awake again with no wake in progress (a reset). */
void vm_sleep_clear(struct vm *vm);

/* For metrics. */
uint64_t vm_sleep_count(const struct vm *vm);
uint64_t vm_wake_count(const struct vm *vm);

#endif
