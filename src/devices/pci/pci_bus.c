#include "devices/pci/pci_bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "devices/pci/pci_host_bridge.h"
#include "devices/reset_port.h"

/* Configuration mechanism #1 (PCI 3.0, 3.2.2.3.2): bit 31 enables, then
 * bus 23:16, device 15:11, function 10:8, dword register 7:2. Bits 27:24
 * extend the register into the 4 KiB space as AMD's IO ECS does, which
 * Linux uses on such CPUs. */
#define CONFIG_ADDRESS_ENABLE 0x80000000u

static uint32_t config_ones(uint32_t size)
{
	return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

static struct pci_device *find_function(struct pci_bus *bus,
					unsigned bus_number, unsigned slot,
					unsigned function)
{
	if (bus_number != 0 || slot >= PCI_SLOT_COUNT || function != 0)
		return NULL;
	return bus->slots[slot];
}

static bool access_ok(uint32_t offset, uint32_t size)
{
	return (size == 1 || size == 2 || size == 4) &&
		offset < PCI_CONFIG_SPACE_SIZE &&
		size <= PCI_CONFIG_SPACE_SIZE - offset &&
		(offset & (size - 1)) == 0;
}

uint32_t pci_bus_config_read(struct pci_bus *bus, unsigned bus_number,
			     unsigned slot, unsigned function, uint32_t offset,
			     uint32_t size)
{
	struct pci_device *pdev;
	uint32_t value = config_ones(size);

	pthread_rwlock_wrlock(&bus->lock);
	pdev = find_function(bus, bus_number, slot, function);
	if (pdev && access_ok(offset, size))
		value = pci_device_config_read(pdev, offset, size);
	pthread_rwlock_unlock(&bus->lock);
	return value;
}

void pci_bus_config_write(struct pci_bus *bus, unsigned bus_number,
			  unsigned slot, unsigned function, uint32_t offset,
			  uint32_t size, uint32_t value)
{
	struct pci_device *pdev;

	pthread_rwlock_wrlock(&bus->lock);
	pdev = find_function(bus, bus_number, slot, function);
	if (pdev && access_ok(offset, size))
		pci_device_config_write(pdev, offset, size, value);
	pthread_rwlock_unlock(&bus->lock);
}

static uint32_t load_le(const void *data, uint32_t size)
{
	const uint8_t *p = data;
	uint32_t value = 0;

	for (uint32_t i = 0; i < size && i < 4; i++)
		value |= (uint32_t)p[i] << (8 * i);
	return value;
}

static void store_le(void *data, uint32_t size, uint32_t value)
{
	uint8_t *p = data;

	for (uint32_t i = 0; i < size; i++)
		p[i] = i < 4 ? (uint8_t)(value >> (8 * i)) : 0xff;
}

/* --- ports 0xcf8-0xcff --- */

static bool conf1_decode(uint32_t address, uint32_t port_offset,
			 unsigned *bus_number, unsigned *slot,
			 unsigned *function, uint32_t *reg)
{
	if (!(address & CONFIG_ADDRESS_ENABLE))
		return false;
	*bus_number = (address >> 16) & 0xff;
	*slot = (address >> 11) & 0x1f;
	*function = (address >> 8) & 0x7;
	*reg = (address & 0xfc) | (((address >> 24) & 0xf) << 8);
	*reg += port_offset - 4;
	return true;
}

/* Port 0xcf9 as a byte is the reset control register, not a part of the
 * address latch (which only dword accesses reach). */
static struct device *reset_control_at(struct pci_bus *bus, uint64_t offset,
				       uint32_t size)
{
	if (offset == RESET_CONTROL_PORT - PCI_CONFIG_ADDRESS_PORT && size == 1)
		return bus->reset_control;
	return NULL;
}

static void config_ports_read(struct device *dev, uint64_t offset, void *data,
			      uint32_t size)
{
	struct pci_bus *bus = container_of(dev, struct pci_bus, config_ports);
	struct device *reset_control = reset_control_at(bus, offset, size);
	unsigned bus_number, slot, function;
	uint32_t reg, address;

	if (reset_control) {
		reset_control->ops->io_read(reset_control, 0, data, size);
		return;
	}
	if (offset == 0 && size == 4) {
		store_le(data, size,
			 __atomic_load_n(&bus->config_address,
					 __ATOMIC_RELAXED));
		return;
	}
	address = __atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);
	if (offset < 4 ||
	    !conf1_decode(address, (uint32_t)offset, &bus_number, &slot,
			  &function, &reg)) {
		store_le(data, size, 0xffffffffu);
		return;
	}
	store_le(data, size,
		 pci_bus_config_read(bus, bus_number, slot, function, reg,
				     size));
}

static void config_ports_write(struct device *dev, uint64_t offset,
			       const void *data, uint32_t size)
{
	struct pci_bus *bus = container_of(dev, struct pci_bus, config_ports);
	struct device *reset_control = reset_control_at(bus, offset, size);
	unsigned bus_number, slot, function;
	uint32_t reg, address;

	if (reset_control) {
		reset_control->ops->io_write(reset_control, 0, data, size);
		return;
	}
	/* Only dword accesses reach the address latch; byte writes to 0xcfb
	 * belong to the old mechanism #2 probe and are ignored. */
	if (offset == 0 && size == 4) {
		__atomic_store_n(&bus->config_address, load_le(data, 4),
				 __ATOMIC_RELAXED);
		return;
	}
	address = __atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);
	if (offset < 4 ||
	    !conf1_decode(address, (uint32_t)offset, &bus_number, &slot,
			  &function, &reg))
		return;
	pci_bus_config_write(bus, bus_number, slot, function, reg, size,
			     load_le(data, size));
}

/* The bus's state: the 0xcf8 latch, which slots hold a device, then per
 * device its config space and its own state (pci_device_ops save). */
struct pci_bus_state {
	uint32_t config_address;
	uint32_t slot_mask;
};

struct pci_slot_state {
	uint8_t config[PCI_CONFIG_SPACE_SIZE];
	uint32_t device_len;
	uint32_t pad;
};

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static int config_ports_save(struct device *dev, void *buf, size_t *len)
{
	struct pci_bus *bus = container_of(dev, struct pci_bus, config_ports);
	struct pci_bus_state *st = buf;
	size_t used = sizeof(*st);
	int ret = 0;

	if (*len < used)
		return -ENOSPC;
	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&bus->lock);
	st->config_address =
		__atomic_load_n(&bus->config_address, __ATOMIC_RELAXED);
	for (int i = 0; !ret && i < PCI_SLOT_COUNT; i++) {
		struct pci_device *pdev = bus->slots[i];
		struct pci_slot_state *slot;
		size_t device_len;

		if (!pdev)
			continue;
		if (!pdev->ops->save) {
			ret = -ENOTSUP;
			break;
		}
		if (*len - used < sizeof(*slot)) {
			ret = -ENOSPC;
			break;
		}
		st->slot_mask |= 1u << i;
		slot = (void *)((uint8_t *)buf + used);
		memcpy(slot->config, pdev->config, sizeof(slot->config));
		used += sizeof(*slot);
		device_len = *len - used;
		ret = pdev->ops->save(pdev, (uint8_t *)buf + used, &device_len);
		if (!ret) {
			slot->device_len = (uint32_t)device_len;
			slot->pad = 0;
			if (align8(device_len) > *len - used)
				ret = -ENOSPC;
			else
				memset((uint8_t *)buf + used + device_len, 0,
				       align8(device_len) - device_len);
			used += align8(device_len);
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!ret)
		*len = used;
	return ret;
}

/* Checks the layout against this bus before changing anything. */
static int check_bus_state(const struct pci_bus *bus, const uint8_t *buf,
			   size_t len)
{
	const struct pci_bus_state *st = (const void *)buf;
	size_t at = sizeof(*st);

	if (len < sizeof(*st))
		return -EINVAL;
	for (int i = 0; i < PCI_SLOT_COUNT; i++) {
		const struct pci_slot_state *slot;

		if (!!(st->slot_mask & (1u << i)) != !!bus->slots[i])
			return -EINVAL;
		if (!bus->slots[i])
			continue;
		if (len - at < sizeof(*slot))
			return -EINVAL;
		slot = (const void *)(buf + at);
		at += sizeof(*slot);
		if (slot->device_len > len - at ||
		    align8(slot->device_len) > len - at)
			return -EINVAL;
		/* Same device: its IDs in config space match. */
		if (memcmp(slot->config, bus->slots[i]->config, 4) != 0)
			return -EINVAL;
		at += align8(slot->device_len);
	}
	return at == len ? 0 : -EINVAL;
}

/* The layout, then each slot's device's own bytes. */
static int config_ports_check(struct device *dev, const void *buf, size_t len)
{
	struct pci_bus *bus = container_of(dev, struct pci_bus, config_ports);
	size_t at = sizeof(struct pci_bus_state);
	int ret;

	pthread_rwlock_rdlock(&bus->lock);
	ret = check_bus_state(bus, buf, len);
	for (int i = 0; !ret && i < PCI_SLOT_COUNT; i++) {
		struct pci_device *pdev = bus->slots[i];
		const struct pci_slot_state *slot;

		if (!pdev)
			continue;
		slot = (const void *)((const uint8_t *)buf + at);
		at += sizeof(*slot);
		if (!pdev->ops->restore)
			ret = -ENOTSUP;
		else if (pdev->ops->check)
			ret = pdev->ops->check(pdev, (const uint8_t *)buf + at,
					       slot->device_len);
		at += align8(slot->device_len);
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static int config_ports_restore(struct device *dev, const void *buf, size_t len)
{
	struct pci_bus *bus = container_of(dev, struct pci_bus, config_ports);
	const struct pci_bus_state *st = buf;
	size_t at = sizeof(*st);
	int ret;

	pthread_rwlock_wrlock(&bus->lock);
	ret = check_bus_state(bus, buf, len);
	if (!ret)
		__atomic_store_n(&bus->config_address, st->config_address,
				 __ATOMIC_RELAXED);
	for (int i = 0; !ret && i < PCI_SLOT_COUNT; i++) {
		struct pci_device *pdev = bus->slots[i];
		const struct pci_slot_state *slot;

		if (!pdev)
			continue;
		slot = (const void *)((const uint8_t *)buf + at);
		at += sizeof(*slot);
		if (!pdev->ops->restore) {
			ret = -ENOTSUP;
			break;
		}
		memcpy(pdev->config, slot->config, sizeof(pdev->config));
		/* BARs decode where the restored config says (the guest may
		 * have moved them), moving the ioeventfds along. */
		pci_device_refresh_bars(pdev);
		ret = pdev->ops->restore(pdev, (const uint8_t *)buf + at,
					 slot->device_len);
		at += align8(slot->device_len);
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static const struct device_ops config_ports_ops = {
	.save = config_ports_save,
	.restore = config_ports_restore,
	.check = config_ports_check,
	.name = "pci-config-ports",
	.io_read = config_ports_read,
	.io_write = config_ports_write,
};

/* --- ECAM (PCIe 3.0, 7.2.2): bus 27:20, device 19:15, function 14:12 --- */

static void ecam_read(struct device *dev, uint64_t offset, void *data,
		      uint32_t size)
{
	struct pci_bus *bus = container_of(dev, struct pci_bus, ecam);

	if (size == 8) {
		ecam_read(dev, offset, data, 4);
		ecam_read(dev, offset + 4, (uint8_t *)data + 4, 4);
		return;
	}
	store_le(data, size,
		 pci_bus_config_read(bus, (unsigned)(offset >> 20),
				     (unsigned)(offset >> 15) & 0x1f,
				     (unsigned)(offset >> 12) & 0x7,
				     (uint32_t)offset & 0xfff, size));
}

static void ecam_write(struct device *dev, uint64_t offset, const void *data,
		       uint32_t size)
{
	struct pci_bus *bus = container_of(dev, struct pci_bus, ecam);

	if (size == 8) {
		ecam_write(dev, offset, data, 4);
		ecam_write(dev, offset + 4, (const uint8_t *)data + 4, 4);
		return;
	}
	pci_bus_config_write(
		bus, (unsigned)(offset >> 20), (unsigned)(offset >> 15) & 0x1f,
		(unsigned)(offset >> 12) & 0x7, (uint32_t)offset & 0xfff, size,
		load_le(data, size));
}

/* ECAM and the BAR window keep no state of their own: the config ports'
 * save covers the bus. */
static const struct device_ops ecam_ops = {
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.check = device_check_nothing,
	.name = "pci-ecam",
	.io_read = ecam_read,
	.io_write = ecam_write,
};

/* --- the BAR window --- */

static struct pci_device *find_bar(struct pci_bus *bus, uint64_t gpa,
				   uint32_t size, int *bar, uint64_t *offset)
{
	for (int s = 0; s < PCI_SLOT_COUNT; s++) {
		struct pci_device *pdev = bus->slots[s];

		if (!pdev)
			continue;
		for (int i = 0; i < PCI_BAR_COUNT; i++) {
			const struct pci_bar *b = &pdev->bars[i];

			if (!b->mapped || gpa < b->mapped_gpa ||
			    gpa - b->mapped_gpa >= b->size ||
			    size > b->size - (gpa - b->mapped_gpa))
				continue;
			*bar = i;
			*offset = gpa - b->mapped_gpa;
			return pdev;
		}
	}
	return NULL;
}

static const struct device_ops bar_window_high_ops;

/* Both windows share these ops; the device says which one was hit. */
static struct pci_bus *window_bus(struct device *dev)
{
	return dev->ops == &bar_window_high_ops
		? container_of(dev, struct pci_bus, bar_window_high)
		: container_of(dev, struct pci_bus, bar_window);
}

static uint64_t window_base(struct pci_bus *bus, struct device *dev)
{
	return dev == &bus->bar_window_high ? LAYOUT_PCI_MMIO_HIGH_GPA
					    : LAYOUT_PCI_MMIO_GPA;
}

static void bar_window_read(struct device *dev, uint64_t offset, void *data,
			    uint32_t size)
{
	struct pci_bus *bus = window_bus(dev);
	struct pci_device *pdev;
	uint64_t bar_offset;
	int bar;

	pthread_rwlock_rdlock(&bus->lock);
	pdev = find_bar(bus, window_base(bus, dev) + offset, size, &bar,
			&bar_offset);
	if (pdev && pdev->ops->bar_read)
		pdev->ops->bar_read(pdev, bar, bar_offset, data, size);
	else
		memset(data, 0xff, size);
	pthread_rwlock_unlock(&bus->lock);
}

static void bar_window_write(struct device *dev, uint64_t offset,
			     const void *data, uint32_t size)
{
	struct pci_bus *bus = window_bus(dev);
	struct pci_device *pdev;
	uint64_t bar_offset;
	int bar;

	pthread_rwlock_rdlock(&bus->lock);
	pdev = find_bar(bus, window_base(bus, dev) + offset, size, &bar,
			&bar_offset);
	if (pdev && pdev->ops->bar_write)
		pdev->ops->bar_write(pdev, bar, bar_offset, data, size);
	pthread_rwlock_unlock(&bus->lock);
}

static const struct device_ops bar_window_ops = {
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.check = device_check_nothing,
	.name = "pci-mmio-window",
	.io_read = bar_window_read,
	.io_write = bar_window_write,
};

static const struct device_ops bar_window_high_ops = {
	.save = device_save_nothing,
	.restore = device_restore_nothing,
	.check = device_check_nothing,
	.name = "pci-mmio-window-high",
	.io_read = bar_window_read,
	.io_write = bar_window_write,
};

struct pci_bus *pci_bus_create(void)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return NULL;
	bus->config_ports.ops = &config_ports_ops;
	bus->ecam.ops = &ecam_ops;
	bus->bar_window.ops = &bar_window_ops;
	bus->bar_window_high.ops = &bar_window_high_ops;
	pthread_rwlock_init(&bus->lock, NULL);
	bus->next_bar_gpa = LAYOUT_PCI_MMIO_GPA;
	bus->slots[0] = pci_host_bridge_create();
	if (!bus->slots[0]) {
		pci_bus_destroy(bus);
		return NULL;
	}
	return bus;
}

int pci_bus_attach(struct pci_bus *bus, struct io_bus *pio_bus,
		   struct io_bus *mmio_bus)
{
	int ret = io_bus_register(pio_bus, PCI_CONFIG_ADDRESS_PORT,
				  PCI_CONFIG_PORT_COUNT, &bus->config_ports);

	if (!ret)
		ret = io_bus_register(mmio_bus, LAYOUT_PCI_ECAM_GPA,
				      LAYOUT_PCI_ECAM_SIZE, &bus->ecam);
	if (!ret)
		ret = io_bus_register(mmio_bus, LAYOUT_PCI_MMIO_GPA,
				      LAYOUT_PCI_MMIO_SIZE, &bus->bar_window);
	return ret;
}

int pci_bus_enable_firmware_window(struct pci_bus *bus, struct io_bus *mmio_bus)
{
	int ret = io_bus_register(mmio_bus, LAYOUT_PCI_MMIO_HIGH_GPA,
				  LAYOUT_PCI_MMIO_HIGH_SIZE,
				  &bus->bar_window_high);

	if (!ret)
		bus->firmware_window = true;
	return ret;
}

void pci_bus_set_reset_control(struct pci_bus *bus, struct device *dev)
{
	bus->reset_control = dev;
}

int pci_bus_add_device(struct pci_bus *bus, struct pci_device *pdev)
{
	uint64_t window_end = LAYOUT_PCI_MMIO_GPA + LAYOUT_PCI_MMIO_SIZE;
	uint64_t gpa = bus->next_bar_gpa;
	int slot;

	for (slot = 1; slot < PCI_SLOT_COUNT && bus->slots[slot]; slot++)
		;
	if (slot == PCI_SLOT_COUNT)
		return -ENOSPC;
	for (int i = 0; i < PCI_BAR_COUNT; i++) {
		uint32_t size = pdev->bars[i].size;

		if (!size)
			continue;
		gpa = (gpa + size - 1) & ~((uint64_t)size - 1);
		if (gpa + size > window_end)
			return -ENOSPC;
		pci_config_set(pdev, PCI_CFG_BAR0 + 4 * i, 4, (uint32_t)gpa);
		gpa += size;
	}
	bus->next_bar_gpa = gpa;
	pdev->slot = (uint8_t)slot;
	pdev->firmware_window = bus->firmware_window;
	pthread_rwlock_wrlock(&bus->lock);
	bus->slots[slot] = pdev;
	pci_device_config_write(pdev, PCI_CFG_COMMAND, 2,
				pci_config_get(pdev, PCI_CFG_COMMAND, 2) |
					PCI_COMMAND_MEMORY);
	pthread_rwlock_unlock(&bus->lock);
	return slot;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	if (!bus)
		return;
	for (int s = 0; s < PCI_SLOT_COUNT; s++)
		if (bus->slots[s] && bus->slots[s]->ops->destroy)
			bus->slots[s]->ops->destroy(bus->slots[s]);
	if (bus->reset_control)
		bus->reset_control->ops->destroy(bus->reset_control);
	pthread_rwlock_destroy(&bus->lock);
	free(bus);
}
