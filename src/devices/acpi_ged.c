#include "devices/acpi_ged.h"

#include <stdatomic.h>
#include <stdlib.h>

struct acpi_ged {
	struct device dev;
	struct irq_line irq;
	_Atomic uint64_t presses;
};

static struct acpi_ged *to_ged(struct device *dev)
{
	return container_of(dev, struct acpi_ged, dev);
}

void acpi_ged_press_power_button(struct device *dev)
{
	struct acpi_ged *ged = to_ged(dev);

	atomic_fetch_add_explicit(&ged->presses, 1, memory_order_relaxed);
	/* Edge-triggered (the _CRS says so): KVM latches the edge in the
	 * IOAPIC, and the line is low again before anyone could see it
	 * high, so a snapshot never has a level to carry. */
	irq_line_set(&ged->irq, 1);
	irq_line_set(&ged->irq, 0);
}

uint64_t acpi_ged_power_button_presses(struct device *dev)
{
	return atomic_load_explicit(&to_ged(dev)->presses,
				    memory_order_relaxed);
}

static void ged_destroy(struct device *dev)
{
	free(to_ged(dev));
}

/* No ports (the _EVT method reads nothing) and no guest-visible state; the
 * press counter is a metric and starts again in a restored VM. */
static const struct device_ops acpi_ged_ops = {
	.name = "acpi-ged",
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.check = device_check_nothing,
	.destroy = ged_destroy,
};

struct device *acpi_ged_create(const struct irq_line *irq)
{
	struct acpi_ged *ged = calloc(1, sizeof(*ged));

	if (!ged)
		return NULL;
	ged->dev.ops = &acpi_ged_ops;
	ged->irq = *irq;
	return &ged->dev;
}
