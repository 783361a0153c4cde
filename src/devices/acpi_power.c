#include "devices/acpi_power.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "arch/x86/acpi/acpi_tables.h"

struct acpi_power {
	struct device dev;
	struct acpi_power_events events;
	pthread_mutex_t lock;
	uint8_t status; /* only WAK_STS is ever set */
};

static struct acpi_power *to_power(struct device *dev)
{
	return container_of(dev, struct acpi_power, dev);
}

int acpi_power_sleep_request(uint8_t value)
{
	if (!(value & ACPI_SLEEP_ENABLE))
		return -1;
	return (value & ACPI_SLEEP_TYPE_MASK) >> ACPI_SLEEP_TYPE_SHIFT;
}

/* The control and reset registers read 0 (write-only); the status register
 * holds WAK_STS. */
static void power_io_read(struct device *dev, uint64_t offset, void *data,
			  uint32_t size)
{
	struct acpi_power *power = to_power(dev);

	pthread_mutex_lock(&power->lock);
	for (uint32_t i = 0; i < size; i++)
		((uint8_t *)data)[i] = ACPI_SLEEP_CONTROL_PORT + offset + i ==
				ACPI_SLEEP_STATUS_PORT
			? power->status
			: 0;
	pthread_mutex_unlock(&power->lock);
}

static void power_io_write(struct device *dev, uint64_t offset,
			   const void *data, uint32_t size)
{
	struct acpi_power *power = to_power(dev);
	uint8_t value = *(const uint8_t *)data;
	uint64_t port = ACPI_SLEEP_CONTROL_PORT + offset;
	int type = acpi_power_sleep_request(value);

	(void)size;
	if (port == ACPI_SLEEP_CONTROL_PORT && type == ACPI_S5_SLEEP_TYPE) {
		power->events.poweroff(power->events.opaque);
	} else if (port == ACPI_SLEEP_CONTROL_PORT &&
		   type == ACPI_S3_SLEEP_TYPE && power->events.sleep) {
		power->events.sleep(power->events.opaque);
	} else if (port == ACPI_SLEEP_STATUS_PORT) {
		pthread_mutex_lock(&power->lock);
		power->status &= (uint8_t)~value; /* write 1 to clear */
		pthread_mutex_unlock(&power->lock);
	} else if (port == ACPI_RESET_PORT && value == ACPI_RESET_VALUE) {
		power->events.reset(power->events.opaque);
	}
	/* Other sleep types and values: ignored, as a chipset ignores
	 * states it does not implement. */
}

int acpi_power_wake(struct device *dev, const char *why)
{
	struct acpi_power *power = to_power(dev);
	int woke = 0;

	pthread_mutex_lock(&power->lock);
	if (power->events.wake &&
	    power->events.wake(power->events.opaque, why)) {
		power->status |= ACPI_SLEEP_STATUS_WAK;
		woke = 1;
	}
	pthread_mutex_unlock(&power->lock);
	return woke;
}

/* Nothing (the first layout, before S3) while WAK_STS is clear, so that a
 * VM that never slept saves what older terns load; one status byte when it
 * is set. */
static int power_save(struct device *dev, void *buf, size_t *len)
{
	struct acpi_power *power = to_power(dev);
	uint8_t status;

	pthread_mutex_lock(&power->lock);
	status = power->status;
	pthread_mutex_unlock(&power->lock);
	if (!status) {
		*len = 0;
		return 0;
	}
	return device_save_plain(&status, sizeof(status), buf, len);
}

static int decode_state(const void *buf, size_t len, uint8_t *status)
{
	*status = 0;
	if (len == 0)
		return 0;
	if (len != 1)
		return -EINVAL;
	*status = *(const uint8_t *)buf;
	return *status & (uint8_t)~ACPI_SLEEP_STATUS_WAK ? -EINVAL : 0;
}

static int power_check(struct device *dev, const void *buf, size_t len)
{
	uint8_t status;

	(void)dev;
	return decode_state(buf, len, &status);
}

static int power_restore(struct device *dev, const void *buf, size_t len)
{
	struct acpi_power *power = to_power(dev);
	uint8_t status;
	int ret = decode_state(buf, len, &status);

	if (ret)
		return ret;
	pthread_mutex_lock(&power->lock);
	power->status = status;
	pthread_mutex_unlock(&power->lock);
	return 0;
}

static void power_destroy(struct device *dev)
{
	struct acpi_power *power = to_power(dev);

	pthread_mutex_destroy(&power->lock);
	free(power);
}

static const struct device_ops acpi_power_ops = {
	.save = power_save,
	.restore = power_restore,
	.check = power_check,
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
	pthread_mutex_init(&power->lock, NULL);
	return &power->dev;
}
