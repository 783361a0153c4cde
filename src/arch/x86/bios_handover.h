/* The machine state a PC's BIOS hands to a boot loader, recreated for
 * Multiboot kernels, which tern boots without firmware. */
#ifndef TERN_ARCH_X86_BIOS_HANDOVER_H
#define TERN_ARCH_X86_BIOS_HANDOVER_H

#include <linux/kvm.h>

#include "memory/guest_memory.h"
#include "util/error.h"

/* The vector bases a PC BIOS gives the 8259s (IBM PC/AT convention). */
#define BIOS_PIC_MASTER_VECTOR_BASE 0x08
#define BIOS_PIC_SLAVE_VECTOR_BASE 0x70
/* IMRs: the timer (IRQ 0) and the cascade (IRQ 2) open, the rest masked
 * until a driver opens its line. */
#define BIOS_PIC_MASTER_IMR 0xfa
#define BIOS_PIC_SLAVE_IMR 0xff

/* The 8259 pair as the BIOS initialised it (ICW1-ICW4, 8086 mode, normal
 * EOI, edge-triggered), keeping what KVM owns (ELCR mask, pending lines). */
void bios_handover_pic(struct kvm_pic_state *master,
		       struct kvm_pic_state *slave);

/* PIT channel 0 as the BIOS's tick: mode 3, count 65536 (18.2 Hz),
 * low-then-high byte access, gate open. */
void bios_handover_pit(struct kvm_pit_state2 *pit);

/* The real-mode IVT (0-0x3ff) and the handlers it points at: every vector
 * an IRET, IRQ 0-7 and 8-15 an end-of-interrupt to their 8259(s) first, so
 * a tick taken in real mode neither crashes nor blocks the next one.
 * Returns 0 or -EFAULT. */
int bios_handover_write_ivt(const struct guest_memory *mem);

/* All of the above on a created VM, before its vCPUs first run. */
int bios_handover_apply(int vm_fd, const struct guest_memory *mem,
			struct tern_error *err);

#endif
