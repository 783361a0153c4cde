/* Command set: IBM PS/2 technical reference (controller commands 0x20-0xFE).
 * No keyboard or mouse is attached; the controller answers its own
 * self-tests so the guest driver does not wait out timeouts at boot. */
#include "devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_OUTPUT_FULL 0x01
#define STATUS_SYSTEM_FLAG 0x04
#define STATUS_LAST_WAS_COMMAND 0x08
#define STATUS_KEYBOARD_UNLOCKED 0x10 /* clear: "Keylock active" */

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
#define CMD_WRITE_KEYBOARD_OUTPUT 0xd2
#define CMD_PULSE_RESET 0xfe

#define SELF_TEST_PASSED 0x55
#define INTERFACE_TEST_PASSED 0x00
/* An aux port test failing tells Linux there is no mouse port to probe. */
#define AUX_TEST_FAILED 0xff

#define OUTPUT_PORT_RESET_DEASSERTED 0x01

#define CONFIG_KEYBOARD_INTERRUPT 0x01
#define CONFIG_TRANSLATE 0x40

/* Keyboard commands (IBM PS/2 keyboard reference): those with a parameter
 * byte, and those with a reply besides the acknowledge. */
#define KBD_SET_LEDS 0xed
#define KBD_ECHO 0xee
#define KBD_SCANCODE_SET 0xf0
#define KBD_GET_ID 0xf2
#define KBD_SET_TYPEMATIC 0xf3
#define KBD_RESET 0xff
#define KBD_ACK 0xfa
#define KBD_BAT_PASSED 0xaa

#define OUTPUT_QUEUE_SIZE 16

struct i8042 {
	struct device dev;
	pthread_mutex_t lock;
	void (*reset)(void *opaque);
	void *opaque;
	struct irq_line irq;
	uint8_t status;
	uint8_t config;
	uint8_t pending_command; /* command waiting for its data byte */
	uint8_t keyboard_param; /* keyboard command waiting for its byte */
	/* The guest's keyboard driver has sent the keyboard a command (Linux's
	 * atkbd identifies it when it binds): keys typed now reach someone. */
	int keyboard_driver_seen;
	/* Bytes for the guest: controller replies are read by polling;
	 * keyboard bytes also raise IRQ 1, one edge per byte. */
	uint8_t queue[OUTPUT_QUEUE_SIZE];
	uint8_t queue_from_keyboard[OUTPUT_QUEUE_SIZE];
	unsigned queue_head, queue_count;
};

static struct i8042 *to_i8042(struct device *dev)
{
	return container_of(dev, struct i8042, dev);
}

/* An edge on IRQ 1 when the byte now at the head of the queue came from
 * the keyboard and the guest enabled the keyboard interrupt. */
static void signal_head(struct i8042 *kbd)
{
	if (!kbd->queue_count || !kbd->queue_from_keyboard[kbd->queue_head] ||
	    !(kbd->config & CONFIG_KEYBOARD_INTERRUPT))
		return;
	irq_line_set(&kbd->irq, 1);
	irq_line_set(&kbd->irq, 0);
}

static int push_byte(struct i8042 *kbd, uint8_t value, int from_keyboard)
{
	unsigned tail;

	if (kbd->queue_count == OUTPUT_QUEUE_SIZE)
		return -EBUSY;
	tail = (kbd->queue_head + kbd->queue_count) % OUTPUT_QUEUE_SIZE;
	kbd->queue[tail] = value;
	kbd->queue_from_keyboard[tail] = (uint8_t)from_keyboard;
	kbd->queue_count++;
	kbd->status |= STATUS_OUTPUT_FULL;
	if (kbd->queue_count == 1)
		signal_head(kbd);
	return 0;
}

/* A controller reply replaces whatever was waiting, as the single output
 * register of the real chip does: a driver that sends a command has
 * flushed the buffer first. */
static void queue_output(struct i8042 *kbd, uint8_t value)
{
	kbd->queue_count = 0;
	push_byte(kbd, value, 0);
}

static uint8_t pop_byte(struct i8042 *kbd)
{
	uint8_t value;

	if (!kbd->queue_count)
		return kbd->queue[kbd->queue_head]; /* last value, again */
	value = kbd->queue[kbd->queue_head];
	kbd->queue_count--;
	if (kbd->queue_count) {
		kbd->queue_head = (kbd->queue_head + 1) % OUTPUT_QUEUE_SIZE;
		signal_head(kbd);
	} else {
		kbd->status &= ~STATUS_OUTPUT_FULL;
	}
	return value;
}

static void keyboard_reply(struct i8042 *kbd, const uint8_t *bytes,
			   size_t count)
{
	for (size_t i = 0; i < count; i++)
		push_byte(kbd, bytes[i], 1);
}

/* A byte the guest sends to the keyboard: every command is acknowledged,
 * a few answer more (IBM PS/2 keyboard command set). */
static void keyboard_command(struct i8042 *kbd, uint8_t value)
{
	uint8_t ack = KBD_ACK;

	kbd->keyboard_driver_seen = 1;
	if (kbd->keyboard_param) {
		kbd->keyboard_param = 0;
		keyboard_reply(kbd, &ack, 1);
		return;
	}
	switch (value) {
	case KBD_SET_LEDS:
	case KBD_SCANCODE_SET:
	case KBD_SET_TYPEMATIC:
		kbd->keyboard_param = value;
		keyboard_reply(kbd, &ack, 1);
		break;
	case KBD_ECHO:
		keyboard_reply(kbd, &value, 1);
		break;
	case KBD_GET_ID: {
		/* MF2 keyboard; the second byte as the translating
		 * controller passes it on. */
		uint8_t id[] = {KBD_ACK, 0xab,
				kbd->config & CONFIG_TRANSLATE ? 0x41 : 0x83};

		keyboard_reply(kbd, id, sizeof(id));
		break;
	}
	case KBD_RESET: {
		uint8_t reply[] = {KBD_ACK, KBD_BAT_PASSED};

		keyboard_reply(kbd, reply, sizeof(reply));
		break;
	}
	default:
		keyboard_reply(kbd, &ack, 1);
		break;
	}
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
	case CMD_WRITE_KEYBOARD_OUTPUT:
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
	if (command == CMD_WRITE_CONFIG) {
		kbd->config = value;
		signal_head(kbd); /* interrupt just enabled, byte waiting */
	} else if (command == CMD_WRITE_OUTPUT_PORT) {
		if (!(value & OUTPUT_PORT_RESET_DEASSERTED))
			kbd->reset(kbd->opaque);
	} else if (command == CMD_WRITE_KEYBOARD_OUTPUT) {
		push_byte(kbd, value, 1);
	} else {
		keyboard_command(kbd, value);
	}
}

int i8042_send_ctrl_alt_del(struct device *dev)
{
	/* Press Ctrl, Alt, Delete (an extended key), release in reverse. */
	static const uint8_t set1[] = {0x1d, 0x38, 0xe0, 0x53,
				       0xe0, 0xd3, 0xb8, 0x9d};
	static const uint8_t set2[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
				       0x71, 0xf0, 0x11, 0xf0, 0x14};
	struct i8042 *kbd = to_i8042(dev);
	const uint8_t *codes;
	size_t count;
	int ret = 0;

	pthread_mutex_lock(&kbd->lock);
	if (!kbd->keyboard_driver_seen) {
		pthread_mutex_unlock(&kbd->lock);
		return -ENODEV;
	}
	if (kbd->config & CONFIG_TRANSLATE) {
		codes = set1;
		count = sizeof(set1);
	} else {
		codes = set2;
		count = sizeof(set2);
	}
	if (kbd->queue_count + count > OUTPUT_QUEUE_SIZE)
		ret = -EBUSY;
	else
		keyboard_reply(kbd, codes, count);
	pthread_mutex_unlock(&kbd->lock);
	return ret;
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
		bytes[0] = pop_byte(kbd);
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

/* The controller's registers and output queue; the reset callback and IRQ
 * line belong to the new VM. */
struct i8042_state {
	uint8_t status, config, pending_command, keyboard_param;
	uint32_t keyboard_driver_seen;
	uint32_t queue_head, queue_count;
	uint8_t queue[OUTPUT_QUEUE_SIZE];
	uint8_t queue_from_keyboard[OUTPUT_QUEUE_SIZE];
};

static int i8042_save(struct device *dev, void *buf, size_t *len)
{
	struct i8042 *kbd = to_i8042(dev);
	struct i8042_state st;

	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&kbd->lock);
	st.status = kbd->status;
	st.config = kbd->config;
	st.pending_command = kbd->pending_command;
	st.keyboard_param = kbd->keyboard_param;
	st.keyboard_driver_seen = (uint32_t)kbd->keyboard_driver_seen;
	st.queue_head = kbd->queue_head;
	st.queue_count = kbd->queue_count;
	memcpy(st.queue, kbd->queue, sizeof(st.queue));
	memcpy(st.queue_from_keyboard, kbd->queue_from_keyboard,
	       sizeof(st.queue_from_keyboard));
	pthread_mutex_unlock(&kbd->lock);
	return device_save_plain(&st, sizeof(st), buf, len);
}

static int i8042_check(struct device *dev, const void *buf, size_t len)
{
	struct i8042_state st;

	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, buf, sizeof(st));
	if (st.queue_head >= OUTPUT_QUEUE_SIZE ||
	    st.queue_count > OUTPUT_QUEUE_SIZE)
		return -EINVAL;
	return 0;
}

static int i8042_restore(struct device *dev, const void *buf, size_t len)
{
	struct i8042 *kbd = to_i8042(dev);
	struct i8042_state st;
	int ret = i8042_check(dev, buf, len);

	if (ret)
		return ret;
	memcpy(&st, buf, sizeof(st));
	pthread_mutex_lock(&kbd->lock);
	kbd->status = st.status;
	kbd->config = st.config;
	kbd->pending_command = st.pending_command;
	kbd->keyboard_param = st.keyboard_param;
	kbd->keyboard_driver_seen = st.keyboard_driver_seen != 0;
	kbd->queue_head = st.queue_head;
	kbd->queue_count = st.queue_count;
	memcpy(kbd->queue, st.queue, sizeof(st.queue));
	memcpy(kbd->queue_from_keyboard, st.queue_from_keyboard,
	       sizeof(st.queue_from_keyboard));
	pthread_mutex_unlock(&kbd->lock);
	return 0;
}

static const struct device_ops i8042_ops = {
	.save = i8042_save,
	.restore = i8042_restore,
	.check = i8042_check,
	.name = "i8042",
	.io_read = i8042_io_read,
	.io_write = i8042_io_write,
	.destroy = i8042_destroy,
};

struct device *i8042_create(void (*reset)(void *opaque), void *opaque,
			    const struct irq_line *irq)
{
	struct i8042 *kbd = calloc(1, sizeof(*kbd));

	if (!kbd)
		return NULL;
	kbd->dev.ops = &i8042_ops;
	pthread_mutex_init(&kbd->lock, NULL);
	kbd->reset = reset;
	kbd->opaque = opaque;
	if (irq)
		kbd->irq = *irq;
	kbd->status = STATUS_SYSTEM_FLAG | STATUS_KEYBOARD_UNLOCKED;
	kbd->config = 0x45; /* kbd interrupt on, system flag, translation */
	return &kbd->dev;
}
