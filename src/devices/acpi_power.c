#include "devices/acpi_power.h"

#include <stdint.h>
#include <stdlib.h>

#include "arch/x86/acpi/acpi_tables.h"

struct acpi_power {
	struct device dev;
	struct acpi_power_events events;
};

static struct acpi_power *to_power(struct device *dev)
{
	return container_of(dev, struct acpi_power, dev);
}

/* The status register's WAK_STS never sets: a guest that powers off does
 * not come back, and S1-S4 are not offered (only \_S5 is in the DSDT). */
static void power_io_read(struct device *dev, uint64_t offset, void *data,
			  uint32_t size)
{
	(void)dev;
	(void)offset;
	for (uint32_t i = 0; i < size; i++)
		((uint8_t *)data)[i] = 0;
}

static void power_io_write(struct device *dev, uint64_t offset,
			   const void *data, uint32_t size)
{
	struct acpi_power *power = to_power(dev);
	uint8_t value = *(const uint8_t *)data;
	uint64_t port = ACPI_SLEEP_CONTROL_PORT + offset;

	(void)size;
	if (port == ACPI_SLEEP_CONTROL_PORT && (value & ACPI_SLEEP_ENABLE) &&
	    ((value & ACPI_SLEEP_TYPE_MASK) >> ACPI_SLEEP_TYPE_SHIFT) ==
		    ACPI_S5_SLEEP_TYPE)
		power->events.poweroff(power->events.opaque);
	else if (port == ACPI_RESET_PORT && value == ACPI_RESET_VALUE)
		power->events.reset(power->events.opaque);
	/* Other sleep types and values: ignored, as a chipset ignores
	 * states it does not implement. */
}

static void power_destroy(struct device *dev)
{
	free(to_power(dev));
}

/* Stateless: its ports only trigger events. */
static const struct device_ops acpi_power_ops = {
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.check = device_check_nothing,
	.name = "acpi-power",
	.io_read = power_io_read,
	.io_write = power_io_write,
	.destroy = power_destroy,
};

struct device *acpi_power_create(const struct acpi_power_events *events)
{
	struct acpi_power *power = calloc(1, sizeof(*power));

	if (!power)
		return NULL;
	power->dev.ops = &acpi_power_ops;
	power->events = *events;
	return &power->dev;
}
