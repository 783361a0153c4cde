#include "vm/irq_routing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static void add_irqchip(struct kvm_irq_routing *table, uint32_t gsi,
			uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &table->entries[table->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

int irq_routing_init(struct irq_routing *routing, int vm_fd)
{
	memset(routing, 0, sizeof(*routing));
	routing->vm_fd = vm_fd;
	routing->next_gsi = IRQ_ROUTING_IOAPIC_PINS;
	routing->table =
		calloc(1,
		       sizeof(*routing->table) +
			       IRQ_ROUTING_INITIAL_ENTRIES *
				       sizeof(routing->table->entries[0]));
	if (!routing->table)
		return -ENOMEM;
	routing->capacity = IRQ_ROUTING_INITIAL_ENTRIES;
	pthread_mutex_init(&routing->lock, NULL);
	/* The same table as KVM's kvm_setup_default_irq_routing(): the ISA
	 * interrupts reach both the PICs and the IOAPIC, so the guest may use
	 * either; GSI 2 is the slave PIC's cascade input on the PIC side. */
	for (uint32_t gsi = 0; gsi < IRQ_ROUTING_IOAPIC_PINS; gsi++) {
		if (gsi < 8)
			add_irqchip(routing->table, gsi, KVM_IRQCHIP_PIC_MASTER,
				    gsi);
		else if (gsi < 16)
			add_irqchip(routing->table, gsi, KVM_IRQCHIP_PIC_SLAVE,
				    gsi - 8);
		add_irqchip(routing->table, gsi, KVM_IRQCHIP_IOAPIC, gsi);
	}
	return 0;
}

void irq_routing_destroy(struct irq_routing *routing)
{
	if (!routing->table)
		return;
	free(routing->table);
	routing->table = NULL;
	pthread_mutex_destroy(&routing->lock);
}

int irq_routing_alloc_gsi(struct irq_routing *routing)
{
	int gsi;

	pthread_mutex_lock(&routing->lock);
	if (routing->next_gsi >= IRQ_ROUTING_MAX_ENTRIES)
		gsi = -ENOSPC;
	else
		gsi = (int)routing->next_gsi++;
	pthread_mutex_unlock(&routing->lock);
	return gsi;
}

static int commit(struct irq_routing *routing)
{
	routing->commits++;
	if (routing->vm_fd < 0)
		return 0;
	if (ioctl(routing->vm_fd, KVM_SET_GSI_ROUTING, routing->table) < 0)
		return -errno;
	return 0;
}

static void remove_entry(struct kvm_irq_routing *table, uint32_t gsi,
			 uint32_t type)
{
	for (uint32_t i = 0; i < table->nr; i++) {
		if (table->entries[i].gsi == gsi &&
		    table->entries[i].type == type) {
			table->entries[i] = table->entries[--table->nr];
			return;
		}
	}
}

/* One route per GSI above the IOAPIC's pins: whatever gsi had (an MSI
 * or a SINT) goes before its new route comes. */
static void remove_routes(struct kvm_irq_routing *table, uint32_t gsi)
{
	remove_entry(table, gsi, KVM_IRQ_ROUTING_MSI);
	remove_entry(table, gsi, KVM_IRQ_ROUTING_HV_SINT);
}

/* Room for one more entry; lock held. */
static int make_room(struct irq_routing *routing)
{
	struct kvm_irq_routing *bigger;
	uint32_t capacity = routing->capacity * 2;

	if (routing->table->nr < routing->capacity)
		return 0;
	if (routing->capacity >= IRQ_ROUTING_MAX_ENTRIES)
		return -ENOSPC;
	if (capacity > IRQ_ROUTING_MAX_ENTRIES)
		capacity = IRQ_ROUTING_MAX_ENTRIES;
	bigger = realloc(routing->table,
			 sizeof(*bigger) +
				 capacity * sizeof(bigger->entries[0]));
	if (!bigger)
		return -ENOMEM;
	routing->table = bigger;
	routing->capacity = capacity;
	return 0;
}

/* Replaces gsi's route with *entry (its gsi set here) and commits. */
static int set_route(struct irq_routing *routing, uint32_t gsi,
		     const struct kvm_irq_routing_entry *entry)
{
	struct kvm_irq_routing_entry *e;
	int ret;

	pthread_mutex_lock(&routing->lock);
	remove_routes(routing->table, gsi);
	ret = make_room(routing);
	if (ret) {
		pthread_mutex_unlock(&routing->lock);
		return ret;
	}
	e = &routing->table->entries[routing->table->nr++];
	*e = *entry;
	e->gsi = gsi;
	ret = commit(routing);
	pthread_mutex_unlock(&routing->lock);
	return ret;
}

int irq_routing_set_msi(struct irq_routing *routing, uint32_t gsi,
			uint64_t address, uint32_t data)
{
	struct kvm_irq_routing_entry e = {
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi = {.address_lo = (uint32_t)address,
			  .address_hi = (uint32_t)(address >> 32),
			  .data = data},
	};

	return set_route(routing, gsi, &e);
}

int irq_routing_set_hv_sint(struct irq_routing *routing, uint32_t gsi,
			    uint32_t vp_index, uint32_t sint)
{
	struct kvm_irq_routing_entry e = {
		.type = KVM_IRQ_ROUTING_HV_SINT,
		.u.hv_sint = {.vcpu = vp_index, .sint = sint},
	};

	return set_route(routing, gsi, &e);
}

int irq_routing_clear(struct irq_routing *routing, uint32_t gsi)
{
	int ret;

	pthread_mutex_lock(&routing->lock);
	remove_routes(routing->table, gsi);
	ret = commit(routing);
	pthread_mutex_unlock(&routing->lock);
	return ret;
}

const struct kvm_irq_routing_entry *
irq_routing_find(const struct irq_routing *routing, uint32_t gsi, uint32_t type)
{
	for (uint32_t i = 0; i < routing->table->nr; i++)
		if (routing->table->entries[i].gsi == gsi &&
		    routing->table->entries[i].type == type)
			return &routing->table->entries[i];
	return NULL;
}
