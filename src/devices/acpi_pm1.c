#include "devices/acpi_pm1.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi/acpi_tables.h"

/* Byte offsets inside the device's ports. */
#define OFF_STATUS 0
#define OFF_ENABLE 2
#define OFF_CONTROL 4

/* Guest-visible state, saved as is. The first layout (before the power
 * button) ended after control: status 0. */
struct acpi_pm1_state {
	uint16_t enable;
	uint16_t control; /* SLP_TYP as last written; SLP_EN never kept */
	uint16_t status; /* only PWRBTN_STS is ever set */
};

#define FIRST_LAYOUT_SIZE offsetof(struct acpi_pm1_state, status)

struct acpi_pm1 {
	struct device dev;
	pthread_mutex_t lock;
	struct acpi_power_events events;
	struct irq_line sci;
	struct acpi_pm1_state state;
	_Atomic uint64_t presses;
};

static struct acpi_pm1 *to_pm1(struct device *dev)
{
	return container_of(dev, struct acpi_pm1, dev);
}

/* The SCI is level-triggered: up while an enabled event is pending. Under
 * the lock. */
static void update_sci(struct acpi_pm1 *pm)
{
	irq_line_set(&pm->sci, (pm->state.status & pm->state.enable) != 0);
}

static uint8_t register_byte(const struct acpi_pm1 *pm, uint64_t offset)
{
	uint16_t control = pm->state.control | ACPI_PM1_SCI_EN;

	switch (offset) {
	case OFF_ENABLE:
	case OFF_ENABLE + 1:
		return (uint8_t)(pm->state.enable >>
				 (8 * (offset - OFF_ENABLE)));
	case OFF_CONTROL:
	case OFF_CONTROL + 1:
		return (uint8_t)(control >> (8 * (offset - OFF_CONTROL)));
	case OFF_STATUS:
	case OFF_STATUS + 1:
		return (uint8_t)(pm->state.status >>
				 (8 * (offset - OFF_STATUS)));
	default:
		return 0;
	}
}

static void pm1_io_read(struct device *dev, uint64_t offset, void *data,
			uint32_t size)
{
	struct acpi_pm1 *pm = to_pm1(dev);

	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < size; i++)
		((uint8_t *)data)[i] = offset + i < ACPI_PM1_PORT_COUNT
			? register_byte(pm, offset + i)
			: 0xff;
	pthread_mutex_unlock(&pm->lock);
}

static void pm1_io_write(struct device *dev, uint64_t offset, const void *data,
			 uint32_t size)
{
	struct acpi_pm1 *pm = to_pm1(dev);
	const uint8_t *bytes = data;
	int poweroff = 0;

	pthread_mutex_lock(&pm->lock);
	for (uint32_t i = 0; i < size; i++) {
		uint64_t at = offset + i;
		int shift;

		if (at == OFF_ENABLE || at == OFF_ENABLE + 1) {
			shift = 8 * (int)(at - OFF_ENABLE);
			pm->state.enable = (uint16_t)((pm->state.enable &
						       ~(0xff << shift)) |
						      bytes[i] << shift);
		} else if (at == OFF_STATUS || at == OFF_STATUS + 1) {
			/* Write 1 to clear. */
			shift = 8 * (int)(at - OFF_STATUS);
			pm->state.status &= (uint16_t) ~(bytes[i] << shift);
		} else if (at == OFF_CONTROL || at == OFF_CONTROL + 1) {
			shift = 8 * (int)(at - OFF_CONTROL);
			pm->state.control = (uint16_t)((pm->state.control &
							~(0xff << shift)) |
						       bytes[i] << shift);
		}
	}
	if (pm->state.control & ACPI_PM1_SLP_EN) {
		poweroff = ((pm->state.control & ACPI_PM1_SLP_TYP_MASK) >>
			    ACPI_PM1_SLP_TYP_SHIFT) == ACPI_S5_SLEEP_TYPE;
		/* SLP_EN is write-only: it starts the transition and reads 0;
		 * other sleep types are ignored, as a chipset ignores states
		 * it does not implement. */
		pm->state.control &= (uint16_t)~ACPI_PM1_SLP_EN;
	}
	pm->state.control &= (uint16_t)~ACPI_PM1_SCI_EN;
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	if (poweroff)
		pm->events.poweroff(pm->events.opaque);
}

static int pm1_save(struct device *dev, void *buf, size_t *len)
{
	struct acpi_pm1 *pm = to_pm1(dev);
	struct acpi_pm1_state st;

	pthread_mutex_lock(&pm->lock);
	st = pm->state;
	pthread_mutex_unlock(&pm->lock);
	return device_save_plain(&st, sizeof(st), buf, len);
}

/* Either layout into st; -EINVAL for anything a write cannot leave:
 * SLP_EN or SCI_EN stored, a status bit other than the power button's. */
static int decode_state(const void *buf, size_t len, struct acpi_pm1_state *st)
{
	if (len != sizeof(*st) && len != FIRST_LAYOUT_SIZE)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	memcpy(st, buf, len);
	if (st->control & (ACPI_PM1_SLP_EN | ACPI_PM1_SCI_EN))
		return -EINVAL;
	return st->status & (uint16_t)~ACPI_PM1_PWRBTN ? -EINVAL : 0;
}

static int pm1_check(struct device *dev, const void *buf, size_t len)
{
	struct acpi_pm1_state st;

	(void)dev;
	return decode_state(buf, len, &st);
}

/* The SCI's level is part of the irqchip state restored after this
 * device; restored() sets it from the registers once more. */
static int pm1_restore(struct device *dev, const void *buf, size_t len)
{
	struct acpi_pm1 *pm = to_pm1(dev);
	struct acpi_pm1_state st;
	int ret = decode_state(buf, len, &st);

	if (ret)
		return ret;
	pthread_mutex_lock(&pm->lock);
	pm->state = st;
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static void pm1_restored(struct device *dev)
{
	struct acpi_pm1 *pm = to_pm1(dev);

	pthread_mutex_lock(&pm->lock);
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
}

int acpi_pm1_press_power_button(struct device *dev)
{
	struct acpi_pm1 *pm = to_pm1(dev);
	int ret = 0;

	pthread_mutex_lock(&pm->lock);
	if (!(pm->state.enable & ACPI_PM1_PWRBTN)) {
		ret = -ENODEV;
	} else {
		pm->state.status |= ACPI_PM1_PWRBTN;
		update_sci(pm);
		atomic_fetch_add_explicit(&pm->presses, 1,
					  memory_order_relaxed);
	}
	pthread_mutex_unlock(&pm->lock);
	return ret;
}

uint64_t acpi_pm1_power_button_presses(struct device *dev)
{
	return atomic_load_explicit(&to_pm1(dev)->presses,
				    memory_order_relaxed);
}

static void pm1_destroy(struct device *dev)
{
	struct acpi_pm1 *pm = to_pm1(dev);

	pthread_mutex_destroy(&pm->lock);
	free(pm);
}

static const struct device_ops acpi_pm1_ops = {
	.name = "acpi-pm1",
	.io_read = pm1_io_read,
	.io_write = pm1_io_write,
	.save = pm1_save,
	.restore = pm1_restore,
	.check = pm1_check,
	.restored = pm1_restored,
	.destroy = pm1_destroy,
};

struct device *acpi_pm1_create(const struct acpi_power_events *events,
			       const struct irq_line *sci)
{
	struct acpi_pm1 *pm = calloc(1, sizeof(*pm));

	if (!pm)
		return NULL;
	pm->dev.ops = &acpi_pm1_ops;
	pm->events = *events;
	if (sci)
		pm->sci = *sci;
	pthread_mutex_init(&pm->lock, NULL);
	return &pm->dev;
}
