/* x86 vCPU state at power-on and at the kernel's entry point. */
#ifndef TERN_ARCH_X86_VCPU_SETUP_H
#define TERN_ARCH_X86_VCPU_SETUP_H

#include "arch/x86/boot/kernel_loader.h"
#include "memory/guest_memory.h"
#include "util/error.h"

/* MSRs, FPU and LAPIC LINT pins as firmware would leave them. Every vCPU. */
int x86_vcpu_init_platform_state(int vcpu_fd, struct tern_error *err);

/* Registers, segments, GDT and (for 64-bit entry) identity page tables for
 * the boot vCPU to start at entry. Writes the GDT and page tables into
 * mem. */
int x86_vcpu_set_boot_entry(int vcpu_fd, struct guest_memory *mem,
			    const struct boot_entry *entry,
			    struct tern_error *err);

/* Real mode at 0000:ip with flat 64 KiB segments: for the project's tiny
 * test guests. */
int x86_vcpu_set_real_mode_entry(int vcpu_fd, uint16_t ip,
				 struct tern_error *err);

#endif
