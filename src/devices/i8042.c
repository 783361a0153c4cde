/* Command set: IBM PS/2 technical reference (controller commands 0x20-0xFE).
 * No keyboard or mouse is attached; the controller answers its own
 * self-tests so the guest driver does not wait out timeouts at boot. */
#include "devices/i8042.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define STATUS_OUTPUT_FULL 0x01
#define STATUS_SYSTEM_FLAG 0x04
#define STATUS_LAST_WAS_COMMAND 0x08

#define CMD_READ_CONFIG 0x20
#define CMD_WRITE_CONFIG 0x60
#define CMD_DISABLE_AUX 0xa7
#define CMD_ENABLE_AUX 0xa8
#define CMD_TEST_AUX 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_TEST_KEYBOARD 0xab
#define CMD_DISABLE_KEYBOARD 0xad
#define CMD_ENABLE_KEYBOARD 0xae
#define CMD_WRITE_OUTPUT_PORT 0xd1
#define CMD_PULSE_RESET 0xfe

#define SELF_TEST_PASSED 0x55
#define INTERFACE_TEST_PASSED 0x00
/* An aux port test failing tells Linux there is no mouse port to probe. */
#define AUX_TEST_FAILED 0xff

#define OUTPUT_PORT_RESET_DEASSERTED 0x01

struct i8042 {
	struct device dev;
	pthread_mutex_t lock;
	void (*reset)(void *opaque);
	void *opaque;
	uint8_t status;
	uint8_t config;
	uint8_t output;
	uint8_t pending_command; /* command waiting for its data byte */
};

static struct i8042 *to_i8042(struct device *dev)
{
	return container_of(dev, struct i8042, dev);
}

static void queue_output(struct i8042 *kbd, uint8_t value)
{
	kbd->output = value;
	kbd->status |= STATUS_OUTPUT_FULL;
}

static void handle_command(struct i8042 *kbd, uint8_t command)
{
	kbd->status |= STATUS_LAST_WAS_COMMAND;
	switch (command) {
	case CMD_READ_CONFIG:
		queue_output(kbd, kbd->config);
		break;
	case CMD_WRITE_CONFIG:
	case CMD_WRITE_OUTPUT_PORT:
		kbd->pending_command = command;
		break;
	case CMD_SELF_TEST:
		queue_output(kbd, SELF_TEST_PASSED);
		break;
	case CMD_TEST_KEYBOARD:
		queue_output(kbd, INTERFACE_TEST_PASSED);
		break;
	case CMD_TEST_AUX:
		queue_output(kbd, AUX_TEST_FAILED);
		break;
	case CMD_PULSE_RESET:
		kbd->reset(kbd->opaque);
		break;
	default: /* enable/disable ports and the rest: accepted, no effect */
		break;
	}
}

static void handle_data(struct i8042 *kbd, uint8_t value)
{
	uint8_t command = kbd->pending_command;

	kbd->status &= ~STATUS_LAST_WAS_COMMAND;
	kbd->pending_command = 0;
	if (command == CMD_WRITE_CONFIG)
		kbd->config = value;
	else if (command == CMD_WRITE_OUTPUT_PORT &&
		 !(value & OUTPUT_PORT_RESET_DEASSERTED))
		kbd->reset(kbd->opaque);
	/* Bytes meant for a keyboard go nowhere: none is attached. */
}

static void i8042_io_read(struct device *dev, uint64_t offset, void *data,
			  uint32_t size)
{
	struct i8042 *kbd = to_i8042(dev);
	uint8_t *bytes = data;

	pthread_mutex_lock(&kbd->lock);
	if (offset == I8042_COMMAND_PORT - I8042_DATA_PORT) {
		bytes[0] = kbd->status;
	} else if (offset == 0) {
		bytes[0] = kbd->output;
		kbd->status &= ~STATUS_OUTPUT_FULL;
	} else {
		bytes[0] = 0xff; /* 0x62/0x63: nothing there on a PC */
	}
	pthread_mutex_unlock(&kbd->lock);
	for (uint32_t i = 1; i < size; i++)
		bytes[i] = 0xff;
}

static void i8042_io_write(struct device *dev, uint64_t offset,
			   const void *data, uint32_t size)
{
	struct i8042 *kbd = to_i8042(dev);
	uint8_t value = *(const uint8_t *)data;

	pthread_mutex_lock(&kbd->lock);
	if (offset == I8042_COMMAND_PORT - I8042_DATA_PORT)
		handle_command(kbd, value);
	else if (offset == 0)
		handle_data(kbd, value);
	pthread_mutex_unlock(&kbd->lock);
}

static void i8042_destroy(struct device *dev)
{
	struct i8042 *kbd = to_i8042(dev);

	pthread_mutex_destroy(&kbd->lock);
	free(kbd);
}

static const struct device_ops i8042_ops = {
	.name = "i8042",
	.io_read = i8042_io_read,
	.io_write = i8042_io_write,
	.destroy = i8042_destroy,
};

struct device *i8042_create(void (*reset)(void *opaque), void *opaque)
{
	struct i8042 *kbd = calloc(1, sizeof(*kbd));

	if (!kbd)
		return NULL;
	kbd->dev.ops = &i8042_ops;
	pthread_mutex_init(&kbd->lock, NULL);
	kbd->reset = reset;
	kbd->opaque = opaque;
	kbd->status = STATUS_SYSTEM_FLAG; /* POST passed */
	kbd->config = 0x45; /* kbd interrupt on, system flag, translation */
	return &kbd->dev;
}
