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
 * button) ended after control: status 0. S3 added status bits, not
 * fields: RTC_STS and WAK_STS. */
struct acpi_pm1_state {
	uint16_t enable;
	uint16_t control; /* SLP_TYP as last written; SLP_EN never kept */
	uint16_t status; /* PWRBTN_STS, RTC_STS, WAK_STS */
};

#define STATUS_BITS (ACPI_PM1_PWRBTN | ACPI_PM1_RTC | ACPI_PM1_WAK)
/* The fixed events that raise the SCI (WAK_STS has no enable bit). */
#define EVENT_BITS (ACPI_PM1_PWRBTN | ACPI_PM1_RTC)

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
	irq_line_set(&pm->sci,
		     (pm->state.status & pm->state.enable & EVENT_BITS) != 0);
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

int acpi_pm1_sleep_request(uint16_t control)
{
	if (!(control & ACPI_PM1_SLP_EN))
		return -1;
	return (control & ACPI_PM1_SLP_TYP_MASK) >> ACPI_PM1_SLP_TYP_SHIFT;
}

/* A wake event's status bit is set; with enabled, the VM wakes if it
 * sleeps, and WAK_STS says so. Under the lock. */
static int wake_event(struct acpi_pm1 *pm, uint16_t status, int enabled,
		      const char *why)
{
	pm->state.status |= status;
	if (enabled && pm->events.wake &&
	    pm->events.wake(pm->events.opaque, why)) {
		pm->state.status |= ACPI_PM1_WAK;
		return 1;
	}
	return 0;
}

static void pm1_io_write(struct device *dev, uint64_t offset, const void *data,
			 uint32_t size)
{
	struct acpi_pm1 *pm = to_pm1(dev);
	const uint8_t *bytes = data;
	int type = -1;

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
	/* SLP_EN is write-only: it starts the transition and reads 0; other
	 * sleep types than S3 and S5 are ignored, as a chipset ignores states
	 * it does not implement. */
	type = acpi_pm1_sleep_request(pm->state.control);
	pm->state.control &= (uint16_t) ~(ACPI_PM1_SLP_EN | ACPI_PM1_SCI_EN);
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	if (type == ACPI_S5_SLEEP_TYPE) {
		pm->events.poweroff(pm->events.opaque);
	} else if (type == ACPI_S3_SLEEP_TYPE && pm->events.sleep) {
		pm->events.sleep(pm->events.opaque);
		/* An enabled wake event already pending wakes the VM at once,
		 * as on a PC (the OS clears the status bits before it sleeps;
		 * one it left set means "come back"). */
		pthread_mutex_lock(&pm->lock);
		if (pm->state.status & pm->state.enable & EVENT_BITS)
			wake_event(pm, 0, 1, "a wake event already pending");
		pthread_mutex_unlock(&pm->lock);
	}
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
 * SLP_EN or SCI_EN stored, a status bit the device never sets. */
static int decode_state(const void *buf, size_t len, struct acpi_pm1_state *st)
{
	if (len != sizeof(*st) && len != FIRST_LAYOUT_SIZE)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	memcpy(st, buf, len);
	if (st->control & (ACPI_PM1_SLP_EN | ACPI_PM1_SCI_EN))
		return -EINVAL;
	return st->status & (uint16_t)~STATUS_BITS ? -EINVAL : 0;
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
	/* A sleeping machine's power button always wakes it, PWRBTN_EN or not
	 * (ACPI 6.4 section 4.8.3.1.1): the OS set no enables for a button
	 * it cannot hear while asleep. */
	if (wake_event(pm, 0, 1, "the power button"))
		pm->state.status |= ACPI_PM1_PWRBTN;
	else if (!(pm->state.enable & ACPI_PM1_PWRBTN))
		ret = -ENODEV;
	else
		pm->state.status |= ACPI_PM1_PWRBTN;
	update_sci(pm);
	if (!ret)
		atomic_fetch_add_explicit(&pm->presses, 1,
					  memory_order_relaxed);
	pthread_mutex_unlock(&pm->lock);
	return ret;
}

void acpi_pm1_rtc_alarm(struct device *dev)
{
	struct acpi_pm1 *pm = to_pm1(dev);

	pthread_mutex_lock(&pm->lock);
	wake_event(pm, ACPI_PM1_RTC, pm->state.enable & ACPI_PM1_RTC,
		   "the RTC alarm");
	update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
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
