/* The VM's GSI routing table: it must start as KVM's own default (else the
 * first KVM_SET_GSI_ROUTING for an MSI-X vector would cut the serial
 * port's IRQ 4 off), and MSI routes come and go on top of it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "vm/irq_routing.h"

static void starts_as_kvm_default_routing(void **state)
{
	struct irq_routing r;

	(void)state;
	assert_int_equal(irq_routing_init(&r, -1), 0);
	assert_int_equal(r.table->nr, 16 * 2 + 8);
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		const struct kvm_irq_routing_entry *ioapic = NULL, *pic = NULL;

		for (uint32_t i = 0; i < r.table->nr; i++) {
			const struct kvm_irq_routing_entry *e =
				&r.table->entries[i];

			if (e->gsi != gsi)
				continue;
			assert_int_equal(e->type, KVM_IRQ_ROUTING_IRQCHIP);
			if (e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
				ioapic = e;
			else
				pic = e;
		}
		assert_non_null(ioapic);
		assert_int_equal(ioapic->u.irqchip.pin, gsi);
		if (gsi < 16) {
			assert_non_null(pic);
			assert_int_equal(pic->u.irqchip.irqchip,
					 gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
						 : KVM_IRQCHIP_PIC_SLAVE);
			assert_int_equal(pic->u.irqchip.pin, gsi % 8);
		} else {
			assert_null(pic);
		}
	}
	irq_routing_destroy(&r);
}

static void msi_routes_are_added_replaced_and_removed(void **state)
{
	struct irq_routing r;
	const struct kvm_irq_routing_entry *e;
	int gsi;

	(void)state;
	assert_int_equal(irq_routing_init(&r, -1), 0);
	gsi = irq_routing_alloc_gsi(&r);
	assert_int_equal(gsi, 24);
	assert_int_equal(irq_routing_alloc_gsi(&r), 25);
	assert_null(irq_routing_find(&r, 24, KVM_IRQ_ROUTING_MSI));
	assert_int_equal(irq_routing_set_msi(&r, 24, 0xfee01000, 0x4031), 0);
	assert_int_equal(irq_routing_set_msi(&r, 24, 0xfee02000, 0x4032), 0);
	assert_int_equal(r.table->nr, 40 + 1);
	e = irq_routing_find(&r, 24, KVM_IRQ_ROUTING_MSI);
	assert_non_null(e);
	assert_int_equal(e->u.msi.address_lo, 0xfee02000);
	assert_int_equal(e->u.msi.address_hi, 0);
	assert_int_equal(e->u.msi.data, 0x4032);
	assert_int_equal(irq_routing_clear(&r, 24), 0);
	assert_null(irq_routing_find(&r, 24, KVM_IRQ_ROUTING_MSI));
	assert_int_equal(r.table->nr, 40);
	/* Every change pushed the whole table. */
	assert_int_equal(r.commits, 3);
	irq_routing_destroy(&r);
}

/* A GSI has one route above the IOAPIC's pins: a SINT route replaces an
 * MSI one and the other way round, and clearing removes either. */
static void sint_routes_replace_msi_routes(void **state)
{
	struct irq_routing r;
	const struct kvm_irq_routing_entry *e;
	uint32_t base;
	int gsi;

	(void)state;
	assert_int_equal(irq_routing_init(&r, -1), 0);
	base = r.table->nr;
	gsi = irq_routing_alloc_gsi(&r);
	assert_int_equal(
		irq_routing_set_msi(&r, (uint32_t)gsi, 0xfee00000, 0x31), 0);
	assert_int_equal(irq_routing_set_hv_sint(&r, (uint32_t)gsi, 3, 15), 0);
	assert_int_equal(r.table->nr, base + 1);
	assert_null(irq_routing_find(&r, (uint32_t)gsi, KVM_IRQ_ROUTING_MSI));
	e = irq_routing_find(&r, (uint32_t)gsi, KVM_IRQ_ROUTING_HV_SINT);
	assert_non_null(e);
	assert_int_equal(e->u.hv_sint.vcpu, 3);
	assert_int_equal(e->u.hv_sint.sint, 15);
	assert_int_equal(
		irq_routing_set_msi(&r, (uint32_t)gsi, 0xfee00000, 0x32), 0);
	assert_null(
		irq_routing_find(&r, (uint32_t)gsi, KVM_IRQ_ROUTING_HV_SINT));
	assert_int_equal(irq_routing_set_hv_sint(&r, (uint32_t)gsi, 0, 1), 0);
	assert_int_equal(irq_routing_clear(&r, (uint32_t)gsi), 0);
	assert_int_equal(r.table->nr, base);
	irq_routing_destroy(&r);
}

/* The table grows as routes come, up to IRQ_ROUTING_MAX_ENTRIES; past
 * it a new route is refused, and every route set before is still there. */
static void table_grows_to_its_limit(void **state)
{
	struct irq_routing r;
	const struct kvm_irq_routing_entry *e;
	uint32_t base, gsi = IRQ_ROUTING_IOAPIC_PINS;

	(void)state;
	assert_int_equal(irq_routing_init(&r, -1), 0);
	base = r.table->nr;
	for (uint32_t i = base; i < IRQ_ROUTING_MAX_ENTRIES; i++, gsi++)
		assert_int_equal(irq_routing_set_msi(&r, gsi, 0xfee00000, gsi),
				 0);
	assert_int_equal(r.table->nr, IRQ_ROUTING_MAX_ENTRIES);
	assert_int_equal(irq_routing_set_msi(&r, gsi, 0xfee00000, 1), -ENOSPC);
	for (uint32_t g = IRQ_ROUTING_IOAPIC_PINS; g < gsi; g++) {
		e = irq_routing_find(&r, g, KVM_IRQ_ROUTING_MSI);
		assert_non_null(e);
		assert_int_equal(e->u.msi.data, g);
	}
	/* Replacing a route needs no room. */
	assert_int_equal(irq_routing_set_msi(&r, gsi - 1, 0xfee00000, 7), 0);
	irq_routing_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starts_as_kvm_default_routing),
		cmocka_unit_test(msi_routes_are_added_replaced_and_removed),
		cmocka_unit_test(sint_routes_replace_msi_routes),
		cmocka_unit_test(table_grows_to_its_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
