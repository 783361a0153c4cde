/* The VM's one GSI routing table. KVM_SET_GSI_ROUTING replaces the whole
 * table, including the default routes KVM installs with its in-kernel
 * irqchip (GSI 0-15 to PIC and IOAPIC, 16-23 to the IOAPIC), so every
 * change goes through here: the table starts as KVM's default, MSI routes
 * (for MSI-X vectors delivered through irqfds) and Hyper-V SINT routes
 * (--hyperv-testdev) are added on top, and each commit pushes it all
 * again. Thread-safe: devices update routes from vCPU threads when the
 * guest programs an MSI-X table or the test device. */
#ifndef TERN_VM_IRQ_ROUTING_H
#define TERN_VM_IRQ_ROUTING_H

#include <pthread.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "util/error.h"

#define IRQ_ROUTING_IOAPIC_PINS 24
#define IRQ_ROUTING_MAX_ENTRIES 1024
/* KVM's default routes (40) and as many MSI vectors. */
#define IRQ_ROUTING_INITIAL_ENTRIES 64

struct irq_routing {
	int vm_fd; /* -1: keep the table but call no KVM (unit tests) */
	pthread_mutex_t lock;
	uint32_t next_gsi; /* next GSI handed out for MSI */
	/* nr entries of capacity; grows (up to IRQ_ROUTING_MAX_ENTRIES) as
	 * MSI routes come: the whole table was 48 KiB of every VM, which
	 * uses a few dozen. */
	struct kvm_irq_routing *table;
	uint32_t capacity;
	uint64_t commits; /* KVM_SET_GSI_ROUTING calls, for tests */
};

/* Builds KVM's default routes (not pushed: KVM has them already).
 * Returns 0 or -ENOMEM. */
int irq_routing_init(struct irq_routing *routing, int vm_fd);
void irq_routing_destroy(struct irq_routing *routing);

/* Hands out an unused GSI above the IOAPIC's pins, with no route yet.
 * Returns the GSI or -ENOSPC. */
int irq_routing_alloc_gsi(struct irq_routing *routing);

/* Routes gsi to the MSI (address, data), replacing its route, and commits.
 * Returns 0 or a negative errno (KVM's refusal). */
int irq_routing_set_msi(struct irq_routing *routing, uint32_t gsi,
			uint64_t address, uint32_t data);

/* Routes gsi to SynIC interrupt source `sint` of the vCPU whose Hyper-V
 * VP index is vp_index (KVM_IRQ_ROUTING_HV_SINT: raising the GSI raises
 * the SINT; the guest's EOM or EOI of it acks the GSI), replacing its
 * route, and commits. Returns 0 or a negative errno (KVM's refusal). */
int irq_routing_set_hv_sint(struct irq_routing *routing, uint32_t gsi,
			    uint32_t vp_index, uint32_t sint);

/* Removes gsi's MSI or SINT route (if any) and commits. */
int irq_routing_clear(struct irq_routing *routing, uint32_t gsi);

/* Entry for gsi in the current table, or NULL (for tests). */
const struct kvm_irq_routing_entry *
irq_routing_find(const struct irq_routing *routing, uint32_t gsi,
		 uint32_t type);

#endif
