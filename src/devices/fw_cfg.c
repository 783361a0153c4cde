#include "devices/fw_cfg.h"

#include <pthread.h>
#include <stdlib.h>

#define FW_CFG_ITEM_MAX 8 /* bytes of the largest item tern serves */
#define FW_CFG_ID_TRADITIONAL 0x1 /* bit 1 (DMA) clear: no DMA */
#define FW_CFG_ENTRY_MASK 0x3fff /* without the write and arch bits */

struct fw_cfg_item {
	uint16_t key;
	uint8_t len;
	uint8_t data[FW_CFG_ITEM_MAX];
};

/* Guest-visible state: which item is selected and how far it was read. */
struct fw_cfg_state {
	uint16_t selector;
	uint16_t pad;
	uint32_t offset;
};

struct fw_cfg {
	struct device dev;
	pthread_mutex_t lock; /* vCPU threads share the cursor */
	struct fw_cfg_state state;
	struct fw_cfg_item items[6];
	int item_count;
};

static struct fw_cfg *to_fw_cfg(struct device *dev)
{
	return container_of(dev, struct fw_cfg, dev);
}

static void add_le(struct fw_cfg *cfg, uint16_t key, uint64_t value, int len)
{
	struct fw_cfg_item *item = &cfg->items[cfg->item_count++];

	item->key = key;
	item->len = (uint8_t)len;
	for (int i = 0; i < len; i++)
		item->data[i] = (uint8_t)(value >> (8 * i));
}

static const struct fw_cfg_item *find_item(const struct fw_cfg *cfg,
					   uint16_t selector)
{
	/* Arch-local keys (x86: e820, ACPI tables, ...) are all absent. */
	if (selector & FW_CFG_ARCH_LOCAL)
		return NULL;
	for (int i = 0; i < cfg->item_count; i++)
		if (cfg->items[i].key == (selector & FW_CFG_ENTRY_MASK))
			return &cfg->items[i];
	return NULL;
}

static uint8_t next_byte(struct fw_cfg *cfg)
{
	const struct fw_cfg_item *item = find_item(cfg, cfg->state.selector);

	if (!item || cfg->state.offset >= item->len)
		return 0;
	return item->data[cfg->state.offset++];
}

/* QEMU's combined port: any read is the next data byte; a 16-bit write
 * selects an item and rewinds it; byte writes (the data port's old write
 * path) are ignored. */
static void fw_cfg_io_read(struct device *dev, uint64_t offset, void *data,
			   uint32_t size)
{
	struct fw_cfg *cfg = to_fw_cfg(dev);

	(void)offset;
	pthread_mutex_lock(&cfg->lock);
	for (uint32_t i = 0; i < size; i++)
		((uint8_t *)data)[i] = next_byte(cfg);
	pthread_mutex_unlock(&cfg->lock);
}

static void fw_cfg_io_write(struct device *dev, uint64_t offset,
			    const void *data, uint32_t size)
{
	struct fw_cfg *cfg = to_fw_cfg(dev);
	const uint8_t *bytes = data;

	if (offset != 0 || size != 2)
		return;
	pthread_mutex_lock(&cfg->lock);
	cfg->state.selector = (uint16_t)(bytes[0] | bytes[1] << 8);
	cfg->state.offset = 0;
	pthread_mutex_unlock(&cfg->lock);
}

static int fw_cfg_save(struct device *dev, void *buf, size_t *len)
{
	struct fw_cfg *cfg = to_fw_cfg(dev);
	struct fw_cfg_state st;

	pthread_mutex_lock(&cfg->lock);
	st = cfg->state;
	pthread_mutex_unlock(&cfg->lock);
	return device_save_plain(&st, sizeof(st), buf, len);
}

/* The cursor never passes its item's end (reads stop there), so a saved
 * one that does is not tern's. */
static int fw_cfg_restore(struct device *dev, const void *buf, size_t len)
{
	struct fw_cfg *cfg = to_fw_cfg(dev);
	const struct fw_cfg_item *item;
	struct fw_cfg_state st;

	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, buf, sizeof(st));
	item = find_item(cfg, st.selector);
	if (st.pad || st.offset > (item ? item->len : 0))
		return -EINVAL;
	pthread_mutex_lock(&cfg->lock);
	cfg->state = st;
	pthread_mutex_unlock(&cfg->lock);
	return 0;
}

static void fw_cfg_destroy(struct device *dev)
{
	struct fw_cfg *cfg = to_fw_cfg(dev);

	pthread_mutex_destroy(&cfg->lock);
	free(cfg);
}

static const struct device_ops fw_cfg_ops = {
	.name = "fw-cfg",
	.io_read = fw_cfg_io_read,
	.io_write = fw_cfg_io_write,
	.destroy = fw_cfg_destroy,
	.save = fw_cfg_save,
	.restore = fw_cfg_restore,
};

struct device *fw_cfg_create(const struct fw_cfg_machine *machine)
{
	struct fw_cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->dev.ops = &fw_cfg_ops;
	pthread_mutex_init(&cfg->lock, NULL);
	add_le(cfg, FW_CFG_SIGNATURE, 0x554d4551, 4); /* "QEMU" */
	add_le(cfg, FW_CFG_ID, FW_CFG_ID_TRADITIONAL, 4);
	add_le(cfg, FW_CFG_RAM_SIZE, machine->ram_size, 8);
	add_le(cfg, FW_CFG_NB_CPUS, machine->cpu_count, 2);
	add_le(cfg, FW_CFG_MAX_CPUS, machine->cpu_count, 2);
	/* The file directory: a big-endian count of 0 files. */
	add_le(cfg, FW_CFG_FILE_DIR, 0, 4);
	return &cfg->dev;
}
