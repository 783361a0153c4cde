#include "devices/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FW_CFG_ID_TRADITIONAL 0x1 /* bit 1 (DMA) clear: no DMA */
#define FW_CFG_ENTRY_MASK 0x3fff /* without the write and arch bits */
#define FW_CFG_MAX_ITEMS (16 + FW_CFG_MAX_FILES)
/* One directory entry: be32 size, be16 key, u16 reserved, the name. */
#define FW_CFG_DIR_ENTRY_SIZE (8 + FW_CFG_FILE_NAME_SIZE)

struct fw_cfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data; /* owned */
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
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	int item_count;
	/* The directory's bytes: a big-endian count, then one entry per
	 * file, rebuilt as files are added (the FW_CFG_FILE_DIR item). */
	uint8_t directory[4 + FW_CFG_MAX_FILES * FW_CFG_DIR_ENTRY_SIZE];
	int file_count;
};

static struct fw_cfg *to_fw_cfg(struct device *dev)
{
	return container_of(dev, struct fw_cfg, dev);
}

static struct fw_cfg_item *find_key(struct fw_cfg *cfg, uint16_t key)
{
	for (int i = 0; i < cfg->item_count; i++)
		if (cfg->items[i].key == key)
			return &cfg->items[i];
	return NULL;
}

static const struct fw_cfg_item *find_item(struct fw_cfg *cfg,
					   uint16_t selector)
{
	/* Arch-local keys (x86: the legacy e820, ACPI and SMBIOS items) are
	 * all absent: their contents go in files. */
	if (selector & FW_CFG_ARCH_LOCAL)
		return NULL;
	return find_key(cfg, selector & FW_CFG_ENTRY_MASK);
}

/* The item with key, holding a copy of len bytes; an existing item of that
 * key gets the new contents. */
static int put_item(struct fw_cfg *cfg, uint16_t key, const void *data,
		    size_t len)
{
	struct fw_cfg_item *item = find_key(cfg, key);
	uint8_t *copy;

	if (len > FW_CFG_ITEM_MAX_SIZE)
		return -EINVAL;
	if (!item && cfg->item_count == FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	if (!item) {
		item = &cfg->items[cfg->item_count++];
		item->key = key;
	} else {
		free(item->data);
	}
	item->data = copy;
	item->len = (uint32_t)len;
	return 0;
}

static int put_le(struct fw_cfg *cfg, uint16_t key, uint64_t value, int len)
{
	uint8_t bytes[8];

	for (int i = 0; i < len; i++)
		bytes[i] = (uint8_t)(value >> (8 * i));
	return put_item(cfg, key, bytes, (size_t)len);
}

static void put_be(uint8_t *p, uint32_t value, int len)
{
	for (int i = 0; i < len; i++)
		p[i] = (uint8_t)(value >> (8 * (len - 1 - i)));
}

int fw_cfg_add_item(struct device *dev, uint16_t key, const void *data,
		    size_t len)
{
	struct fw_cfg *cfg = to_fw_cfg(dev);

	if (key >= FW_CFG_FILE_FIRST || key == FW_CFG_FILE_DIR ||
	    find_key(cfg, key))
		return -EINVAL;
	return put_item(cfg, key, data, len);
}

static int file_exists(const struct fw_cfg *cfg, const char *name)
{
	for (int i = 0; i < cfg->file_count; i++)
		if (!strcmp((const char *)&cfg
				    ->directory[4 + 8 +
						i * FW_CFG_DIR_ENTRY_SIZE],
			    name))
			return 1;
	return 0;
}

int fw_cfg_add_file(struct device *dev, const char *name, const void *data,
		    size_t len)
{
	struct fw_cfg *cfg = to_fw_cfg(dev);
	uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + cfg->file_count);
	size_t name_len = strlen(name);
	uint8_t *entry;
	int ret;

	if (name_len == 0 || name_len >= FW_CFG_FILE_NAME_SIZE ||
	    len > FW_CFG_ITEM_MAX_SIZE || file_exists(cfg, name))
		return -EINVAL;
	if (cfg->file_count == FW_CFG_MAX_FILES)
		return -ENOSPC;
	ret = put_item(cfg, key, data, len);
	if (ret)
		return ret;
	entry = &cfg->directory[4 + cfg->file_count * FW_CFG_DIR_ENTRY_SIZE];
	memset(entry, 0, FW_CFG_DIR_ENTRY_SIZE);
	put_be(entry, (uint32_t)len, 4);
	put_be(entry + 4, key, 2);
	memcpy(entry + 8, name, name_len);
	cfg->file_count++;
	put_be(cfg->directory, (uint32_t)cfg->file_count, 4);
	return put_item(cfg, FW_CFG_FILE_DIR, cfg->directory,
			4 + (size_t)cfg->file_count * FW_CFG_DIR_ENTRY_SIZE);
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

	for (int i = 0; i < cfg->item_count; i++)
		free(cfg->items[i].data);
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
	int ret;

	if (!cfg)
		return NULL;
	cfg->dev.ops = &fw_cfg_ops;
	pthread_mutex_init(&cfg->lock, NULL);
	ret = put_le(cfg, FW_CFG_SIGNATURE, 0x554d4551, 4); /* "QEMU" */
	if (!ret)
		ret = put_le(cfg, FW_CFG_ID, FW_CFG_ID_TRADITIONAL, 4);
	if (!ret)
		ret = put_le(cfg, FW_CFG_RAM_SIZE, machine->ram_size, 8);
	if (!ret)
		ret = put_le(cfg, FW_CFG_NB_CPUS, machine->cpu_count, 2);
	if (!ret)
		ret = put_le(cfg, FW_CFG_MAX_CPUS, machine->cpu_count, 2);
	/* The file directory: a big-endian count of 0 files so far. */
	if (!ret)
		ret = put_item(cfg, FW_CFG_FILE_DIR, cfg->directory, 4);
	if (ret) {
		fw_cfg_destroy(&cfg->dev);
		return NULL;
	}
	return &cfg->dev;
}
