#include "devices/debug_console.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/log.h"

struct debug_console {
	struct device dev;
	pthread_mutex_t lock; /* any vCPU may write */
	char line[DEBUG_CONSOLE_LINE_MAX + 1];
	int len;
};

static struct debug_console *to_console(struct device *dev)
{
	return container_of(dev, struct debug_console, dev);
}

static void flush_line(struct debug_console *con)
{
	con->line[con->len] = '\0';
	log_debug("firmware: %s", con->line);
	con->len = 0;
}

static void console_io_read(struct device *dev, uint64_t offset, void *data,
			    uint32_t size)
{
	uint8_t *bytes = data;

	(void)dev;
	(void)offset;
	for (uint32_t i = 0; i < size; i++)
		bytes[i] = DEBUG_CONSOLE_READBACK;
}

static void console_io_write(struct device *dev, uint64_t offset,
			     const void *data, uint32_t size)
{
	struct debug_console *con = to_console(dev);
	const uint8_t *bytes = data;

	(void)offset;
	pthread_mutex_lock(&con->lock);
	for (uint32_t i = 0; i < size; i++) {
		uint8_t c = bytes[i];

		if (c == '\n') {
			flush_line(con);
			continue;
		}
		if (c == '\r')
			continue;
		/* The log is text: anything else unprintable shows as '.'. */
		con->line[con->len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
		if (con->len == DEBUG_CONSOLE_LINE_MAX)
			flush_line(con);
	}
	pthread_mutex_unlock(&con->lock);
}

static void console_destroy(struct device *dev)
{
	struct debug_console *con = to_console(dev);

	if (con->len)
		flush_line(con);
	pthread_mutex_destroy(&con->lock);
	free(con);
}

/* A half-written line is only log text: nothing to carry in a snapshot. */
static const struct device_ops debug_console_ops = {
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.check = device_check_nothing,
	.name = "debug-console",
	.io_read = console_io_read,
	.io_write = console_io_write,
	.destroy = console_destroy,
};

struct device *debug_console_create(void)
{
	struct debug_console *con = calloc(1, sizeof(*con));

	if (!con)
		return NULL;
	con->dev.ops = &debug_console_ops;
	pthread_mutex_init(&con->lock, NULL);
	return &con->dev;
}
