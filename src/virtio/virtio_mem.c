#include "virtio/virtio_mem.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mem.h>

#include "devices/device.h"
#include "util/log.h"

/* One request and one response (spec 5.15.6): le16 type, padding, then
 * the request's le64 addr and le16 nb_blocks; the response's le16 state. */
#define REQUEST_SIZE 24
#define RESPONSE_SIZE 10

struct virtio_mem {
	struct virtio_device vdev;
	struct guest_memory *mem;
	struct virtio_mem_options options;
	uint64_t block_count;
	uint32_t slot_count;
	/* The device's sizes as config space shows them. */
	uint64_t usable_region_size;
	uint64_t plugged_size;
	uint64_t requested_size;
	struct virtio_mem_counters counters;
	virtio_mem_release_fn release;
	void *release_opaque;
	bool release_warned;
	/* Scratch for the chain being served (I/O thread). */
	struct virtq_chain chain;
};

/* Snapshot state: the geometry (checked, never restored: the restoring
 * VM's configuration gives it), the sizes, then one bit per block. */
struct mem_snapshot {
	uint64_t addr, region_size, usable_region_size;
	uint64_t block_size, slot_size;
	uint64_t plugged_size, requested_size;
	uint64_t block_count;
};

static struct virtio_mem *to_mem(struct virtio_device *vdev)
{
	return container_of(vdev, struct virtio_mem, vdev);
}

int virtio_mem_check_sizes(uint64_t region_size, uint64_t slot_size,
			   uint64_t block_size, const char **why)
{
	*why = NULL;
	if (block_size < VIRTIO_MEM_MIN_BLOCK_SIZE)
		*why = "the block size must be at least 2 MiB";
	else if (block_size & (block_size - 1))
		*why = "the block size must be a power of 2";
	else if (slot_size < VIRTIO_MEM_MIN_SLOT_SIZE)
		*why = "the slot size must be at least 128 MiB";
	else if (slot_size % block_size)
		*why = "the slot size must be a multiple of the block size";
	else if (region_size < slot_size)
		*why = "the total size must be at least the slot size";
	else if (region_size % slot_size)
		*why = "the total size must be a multiple of the slot size";
	else if (region_size > VIRTIO_MEM_MAX_REGION_SIZE)
		*why = "the total size must be at most 1 TiB (1048576 MiB)";
	else if (region_size / slot_size > VIRTIO_MEM_MAX_SLOTS)
		*why = "the total size must be at most 4096 slots";
	return *why ? -EINVAL : 0;
}

static int madvise_release(void *opaque, void *hva, uint64_t len)
{
	(void)opaque;
	/* Private anonymous memory (or hugetlbfs, in whole 2 MiB blocks):
	 * the pages go back to the host and read as zeros afterwards. A
	 * snapshot's file mapping is private too: its pages are dropped and
	 * read as zeros just the same. */
	return madvise(hva, len, MADV_DONTNEED) < 0 ? -errno : 0;
}

static uint8_t *block_hva(const struct virtio_mem *m, uint64_t block)
{
	return m->mem->hotplug_hva + block * m->options.block_size;
}

static uint64_t blocks_per_slot(const struct virtio_mem *m)
{
	return m->options.slot_size / m->options.block_size;
}

static uint64_t slot_plugged(const struct virtio_mem *m, uint32_t slot)
{
	return guest_memory_hotplug_count(m->mem, slot * blocks_per_slot(m),
					  blocks_per_slot(m));
}

static int set_slot(struct virtio_mem *m, uint32_t slot, bool present)
{
	int ret = m->options.set_slot
		? m->options.set_slot(m->options.slot_opaque, slot, present)
		: 0;

	if (!ret) {
		if (present)
			virtio_stat_add(&m->counters.slots_present, 1);
		else
			atomic_fetch_sub_explicit(&m->counters.slots_present, 1,
						  memory_order_relaxed);
	}
	return ret;
}

/* The blocks [*first, *first + nb) a request names: inside the usable
 * region, on a block boundary, at least one block. */
static bool request_range(const struct virtio_mem *m, uint64_t addr,
			  uint16_t nb, uint64_t *first)
{
	uint64_t off;

	if (!nb || addr < m->mem->hotplug_gpa)
		return false;
	off = addr - m->mem->hotplug_gpa;
	if (off % m->options.block_size || off >= m->usable_region_size ||
	    (uint64_t)nb >
		    (m->usable_region_size - off) / m->options.block_size)
		return false;
	*first = off / m->options.block_size;
	return true;
}

/* Gives blocks back to the host; they read as zeros from now on, which a
 * Diff snapshot must hold. A refusal leaves the memory with tern (the
 * blocks are unplugged all the same: the guest let them go). */
static void release_blocks(struct virtio_mem *m, uint64_t first, uint64_t nb)
{
	uint8_t *hva = block_hva(m, first);
	uint64_t len = nb * m->options.block_size;
	int ret = m->release(m->release_opaque, hva, len);

	if (ret) {
		virtio_stat_add(&m->counters.unplug_discard_fails, 1);
		if (!m->release_warned)
			log_warn("virtio-mem: cannot give hotplugged memory "
				 "back to the host: %s",
				 strerror(-ret));
		m->release_warned = true;
	}
	guest_memory_mark_dirty(m->mem, hva, len);
}

static uint16_t do_plug(struct virtio_mem *m, uint64_t addr, uint16_t nb)
{
	uint64_t first, bytes = (uint64_t)nb * m->options.block_size;
	uint32_t slot_first, slot_last, s;

	if (!request_range(m, addr, nb, &first) ||
	    guest_memory_hotplug_count(m->mem, first, nb))
		return VIRTIO_MEM_RESP_ERROR;
	/* Spec: never beyond requested_size; the guest asks again later. */
	if (bytes > m->requested_size - m->plugged_size ||
	    m->plugged_size > m->requested_size)
		return VIRTIO_MEM_RESP_NACK;
	slot_first = (uint32_t)(first / blocks_per_slot(m));
	slot_last = (uint32_t)((first + nb - 1) / blocks_per_slot(m));
	for (s = slot_first; s <= slot_last; s++) {
		if (slot_plugged(m, s))
			continue;
		if (set_slot(m, s, true))
			break;
	}
	if (s <= slot_last) {
		/* Back to where it was: the slots this request added. */
		while (s-- > slot_first)
			if (!slot_plugged(m, s))
				set_slot(m, s, false);
		return VIRTIO_MEM_RESP_BUSY;
	}
	guest_memory_hotplug_mark(m->mem, first, nb, true);
	m->plugged_size += bytes;
	virtio_stat_add(&m->counters.plug_bytes, bytes);
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t do_unplug(struct virtio_mem *m, uint64_t addr, uint16_t nb)
{
	uint64_t first, bytes = (uint64_t)nb * m->options.block_size;
	uint32_t slot_first, slot_last;

	if (!request_range(m, addr, nb, &first) ||
	    guest_memory_hotplug_count(m->mem, first, nb) != nb)
		return VIRTIO_MEM_RESP_ERROR;
	guest_memory_hotplug_mark(m->mem, first, nb, false);
	/* Emptied slots go first: the guest cannot touch (and so fault
	 * back in) what is released next. */
	slot_first = (uint32_t)(first / blocks_per_slot(m));
	slot_last = (uint32_t)((first + nb - 1) / blocks_per_slot(m));
	for (uint32_t s = slot_first; s <= slot_last; s++)
		if (!slot_plugged(m, s) && set_slot(m, s, false))
			log_warn("virtio-mem: cannot remove KVM slot %u", s);
	release_blocks(m, first, nb);
	m->plugged_size -= bytes;
	virtio_stat_add(&m->counters.unplug_bytes, bytes);
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t do_unplug_all(struct virtio_mem *m)
{
	for (uint32_t s = 0; s < m->slot_count; s++) {
		uint64_t first = s * blocks_per_slot(m);

		if (!slot_plugged(m, s))
			continue;
		guest_memory_hotplug_mark(m->mem, first, blocks_per_slot(m),
					  false);
		if (set_slot(m, s, false))
			log_warn("virtio-mem: cannot remove KVM slot %u", s);
		release_blocks(m, first, blocks_per_slot(m));
	}
	virtio_stat_add(&m->counters.unplug_bytes, m->plugged_size);
	m->plugged_size = 0;
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t do_state(struct virtio_mem *m, uint64_t addr, uint16_t nb,
			 uint16_t *state)
{
	uint64_t first, plugged;

	if (!request_range(m, addr, nb, &first))
		return VIRTIO_MEM_RESP_ERROR;
	plugged = guest_memory_hotplug_count(m->mem, first, nb);
	*state = plugged == nb ? VIRTIO_MEM_STATE_PLUGGED
		: plugged      ? VIRTIO_MEM_STATE_MIXED
			       : VIRTIO_MEM_STATE_UNPLUGGED;
	return VIRTIO_MEM_RESP_ACK;
}

/* The answer (type, state) to one request, counted per kind. */
static uint16_t serve_request(struct virtio_mem *m, uint16_t *state)
{
	uint8_t req[REQUEST_SIZE];
	uint16_t type, nb, answer;
	uint64_t addr;
	_Atomic uint64_t *count = NULL, *fails = NULL;

	if (virtq_chain_read(&m->chain, 0, req, sizeof(req)) != sizeof(req))
		return VIRTIO_MEM_RESP_ERROR;
	memcpy(&type, req, 2);
	memcpy(&addr, req + 8, 8);
	memcpy(&nb, req + 16, 2);
	type = le16toh(type);
	addr = le64toh(addr);
	nb = le16toh(nb);
	switch (type) {
	case VIRTIO_MEM_REQ_PLUG:
		count = &m->counters.plug_count;
		fails = &m->counters.plug_fails;
		answer = do_plug(m, addr, nb);
		break;
	case VIRTIO_MEM_REQ_UNPLUG:
		count = &m->counters.unplug_count;
		fails = &m->counters.unplug_fails;
		answer = do_unplug(m, addr, nb);
		break;
	case VIRTIO_MEM_REQ_UNPLUG_ALL:
		count = &m->counters.unplug_all_count;
		fails = &m->counters.unplug_all_fails;
		answer = do_unplug_all(m);
		break;
	case VIRTIO_MEM_REQ_STATE:
		count = &m->counters.state_count;
		fails = &m->counters.state_fails;
		answer = do_state(m, addr, nb, state);
		break;
	default:
		answer = VIRTIO_MEM_RESP_ERROR;
	}
	if (count)
		virtio_stat_add(count, 1);
	/* NACK is the device's choice, not the guest's mistake. */
	if (fails && answer != VIRTIO_MEM_RESP_ACK &&
	    answer != VIRTIO_MEM_RESP_NACK)
		virtio_stat_add(fails, 1);
	return answer;
}

static enum virtio_serve_result serve_chain(struct virtio_device *vdev,
					    struct virtq_chain *chain,
					    uint32_t *written)
{
	struct virtio_mem *m = to_mem(vdev);
	uint8_t resp[RESPONSE_SIZE] = {0};
	uint16_t state = 0, type;

	m->chain = *chain;
	type = htole16(serve_request(m, &state));
	state = htole16(state);
	memcpy(resp, &type, 2);
	memcpy(resp + 8, &state, 2);
	*written = (uint32_t)virtq_chain_write(chain, 0, resp, sizeof(resp));
	virtio_stat_add(&vdev->stats.requests, 1);
	virtio_stat_add(&vdev->stats.bytes_read, chain->readable_len);
	virtio_stat_add(&vdev->stats.bytes_written, *written);
	if (type != htole16(VIRTIO_MEM_RESP_ACK) || *written != sizeof(resp))
		virtio_stat_add(&vdev->stats.errors, 1);
	return VIRTIO_SERVE_PUSH;
}

static void mem_queue_notify(struct virtio_device *vdev, uint16_t q)
{
	virtio_device_serve_queue(vdev, q, serve_chain);
}

static void mem_config_read(struct virtio_device *vdev, uint32_t offset,
			    void *data, uint32_t size)
{
	struct virtio_mem *m = to_mem(vdev);
	struct virtio_mem_config config = {
		.block_size = htole64(m->options.block_size),
		.addr = htole64(m->mem->hotplug_gpa),
		.region_size = htole64(m->mem->hotplug_size),
		.usable_region_size = htole64(m->usable_region_size),
		.plugged_size = htole64(m->plugged_size),
		.requested_size = htole64(m->requested_size),
	};

	memcpy(data, (uint8_t *)&config + offset, size);
}

/* Read-only config space (spec: the driver must not write it). */
static void mem_config_write(struct virtio_device *vdev, uint32_t offset,
			     const void *data, uint32_t size)
{
}

/* A driver that may touch unplugged memory (Linux before 5.16 on x86)
 * would fault on removed slots: it is refused at FEATURES_OK, which the
 * spec lets a device do, rather than crash later. */
static int mem_features_ok(struct virtio_device *vdev, uint64_t features)
{
	if (!(features & (1ULL << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE))) {
		log_warn("virtio-mem: the guest's driver does not accept "
			 "VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE (Linux 5.16 or "
			 "later does): the device stays off");
		return -EINVAL;
	}
	return 0;
}

/* Plugged memory stays plugged through a reset (spec 5.15.5): a new
 * driver (a rebooted guest, kexec) finds plugged_size and unplugs all. */
static void mem_reset(struct virtio_device *vdev)
{
}

static void mem_destroy(struct virtio_device *vdev)
{
	free(to_mem(vdev));
}

static size_t bitmap_words(const struct virtio_mem *m)
{
	return (m->block_count + 63) / 64;
}

static int mem_save(struct virtio_device *vdev, void *buf, size_t *len)
{
	struct virtio_mem *m = to_mem(vdev);
	struct mem_snapshot s = {
		.addr = m->mem->hotplug_gpa,
		.region_size = m->mem->hotplug_size,
		.usable_region_size = m->usable_region_size,
		.block_size = m->options.block_size,
		.slot_size = m->options.slot_size,
		.plugged_size = m->plugged_size,
		.requested_size = m->requested_size,
		.block_count = m->block_count,
	};
	size_t need = sizeof(s) + bitmap_words(m) * sizeof(uint64_t);
	uint64_t *words = (uint64_t *)((uint8_t *)buf + sizeof(s));

	if (*len < need)
		return -ENOSPC;
	memcpy(buf, &s, sizeof(s));
	for (size_t w = 0; w < bitmap_words(m); w++) {
		uint64_t word = atomic_load_explicit(
			&m->mem->hotplug_plugged[w], memory_order_acquire);

		memcpy(&words[w], &word, sizeof(word));
	}
	*len = need;
	return 0;
}

static uint64_t saved_word(const void *buf, size_t w)
{
	uint64_t word;

	memcpy(&word,
	       (const uint8_t *)buf + sizeof(struct mem_snapshot) +
		       w * sizeof(word),
	       sizeof(word));
	return word;
}

static int mem_check(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_mem *m = to_mem(vdev);
	struct mem_snapshot s;
	uint64_t plugged = 0;
	size_t words = bitmap_words(m);

	if (len < sizeof(s))
		return virtio_device_restore_refused(vdev,
						     "the state is too short");
	memcpy(&s, buf, sizeof(s));
	if (s.addr != m->mem->hotplug_gpa ||
	    s.region_size != m->mem->hotplug_size ||
	    s.block_size != m->options.block_size ||
	    s.slot_size != m->options.slot_size ||
	    s.block_count != m->block_count)
		return virtio_device_restore_refused(
			vdev,
			"the snapshot's hotpluggable memory is "
			"%llu MiB at 0x%llx in blocks of %llu MiB and slots "
			"of %llu MiB; this VM's %llu MiB at 0x%llx, %llu MiB "
			"and %llu MiB",
			(unsigned long long)(s.region_size >> 20),
			(unsigned long long)s.addr,
			(unsigned long long)(s.block_size >> 20),
			(unsigned long long)(s.slot_size >> 20),
			(unsigned long long)(m->mem->hotplug_size >> 20),
			(unsigned long long)m->mem->hotplug_gpa,
			(unsigned long long)(m->options.block_size >> 20),
			(unsigned long long)(m->options.slot_size >> 20));
	if (len != sizeof(s) + words * sizeof(uint64_t))
		return virtio_device_restore_refused(
			vdev, "the state has the wrong length");
	for (size_t w = 0; w < words; w++) {
		uint64_t word = saved_word(buf, w);

		/* No bit past the last block. */
		if (w == words - 1 && m->block_count % 64 &&
		    word >> (m->block_count % 64))
			return virtio_device_restore_refused(
				vdev,
				"a plugged block past the "
				"region's end");
		plugged += (uint64_t)__builtin_popcountll(word);
	}
	if (plugged * m->options.block_size != s.plugged_size ||
	    s.usable_region_size != m->usable_region_size ||
	    s.requested_size > s.region_size || s.requested_size % s.block_size)
		return virtio_device_restore_refused(
			vdev, "the state's sizes do not add up");
	return 0;
}

/* The snapshot's plugged blocks, and a KVM slot for each slot that has
 * one. Memory contents come from the snapshot's memory file. */
static int mem_restore(struct virtio_device *vdev, const void *buf, size_t len)
{
	struct virtio_mem *m = to_mem(vdev);
	struct mem_snapshot s;
	int ret = mem_check(vdev, buf, len);

	if (ret)
		return ret;
	memcpy(&s, buf, sizeof(s));
	for (uint32_t slot = 0; slot < m->slot_count; slot++) {
		bool had = slot_plugged(m, slot) != 0;
		uint64_t first = slot * blocks_per_slot(m);

		for (uint64_t b = first; b < first + blocks_per_slot(m); b++)
			guest_memory_hotplug_mark(
				m->mem, b, 1,
				(saved_word(buf, b / 64) >> (b % 64)) & 1);
		if (had == (slot_plugged(m, slot) != 0))
			continue;
		ret = set_slot(m, slot, !had);
		if (ret)
			return virtio_device_restore_refused(
				vdev, "KVM refused slot %u: %s", slot,
				strerror(-ret));
	}
	m->plugged_size = s.plugged_size;
	m->requested_size = s.requested_size;
	return 0;
}

static const struct virtio_device_ops virtio_mem_ops = {
	.name = "virtio-mem",
	.device_id = VIRTIO_ID_MEM_DEVICE,
	.config_read = mem_config_read,
	.config_write = mem_config_write,
	.features_ok = mem_features_ok,
	.queue_notify = mem_queue_notify,
	.reset = mem_reset,
	.destroy = mem_destroy,
	.save = mem_save,
	.restore = mem_restore,
	.check = mem_check,
};

struct virtio_device *
virtio_mem_create(struct guest_memory *mem,
		  const struct virtio_mem_options *options)
{
	struct virtio_mem *m;
	const char *why;

	if (!mem->hotplug_plugged ||
	    mem->hotplug_block_size != options->block_size ||
	    virtio_mem_check_sizes(mem->hotplug_size, options->slot_size,
				   options->block_size, &why))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	/* ACPI_PXM is not offered: tern's guests have one NUMA node. */
	if (virtio_device_init(&m->vdev, &virtio_mem_ops, 1,
			       1ULL << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE,
			       sizeof(struct virtio_mem_config))) {
		free(m);
		return NULL;
	}
	m->mem = mem;
	m->options = *options;
	m->block_count = mem->hotplug_size / options->block_size;
	m->slot_count = (uint32_t)(mem->hotplug_size / options->slot_size);
	/* The whole region from the start: Linux adds memory blocks to the
	 * guest as it plugs them, so a large usable region costs nothing. */
	m->usable_region_size = mem->hotplug_size;
	m->release = madvise_release;
	return &m->vdev;
}

void virtio_mem_set_release(struct virtio_device *vdev,
			    virtio_mem_release_fn release, void *opaque)
{
	struct virtio_mem *m = to_mem(vdev);

	pthread_mutex_lock(&vdev->lock);
	m->release = release ? release : madvise_release;
	m->release_opaque = opaque;
	pthread_mutex_unlock(&vdev->lock);
}

int virtio_mem_set_requested(struct virtio_device *vdev, uint64_t bytes)
{
	struct virtio_mem *m = to_mem(vdev);

	if (bytes % m->options.block_size || bytes > m->mem->hotplug_size)
		return -EINVAL;
	pthread_mutex_lock(&vdev->lock);
	if (m->requested_size != bytes) {
		m->requested_size = bytes;
		/* The driver reads requested_size while probing; once it
		 * runs it learns of a change from this interrupt. */
		if ((vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		    !(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
			virtio_device_signal_config(vdev);
		else
			vdev->config_generation++;
	}
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}

void virtio_mem_get_info(struct virtio_device *vdev,
			 struct virtio_mem_info *info)
{
	struct virtio_mem *m = to_mem(vdev);
	const struct virtio_mem_counters *c = &m->counters;

	pthread_mutex_lock(&vdev->lock);
	*info = (struct virtio_mem_info){
		.addr = m->mem->hotplug_gpa,
		.region_size = m->mem->hotplug_size,
		.usable_region_size = m->usable_region_size,
		.block_size = m->options.block_size,
		.slot_size = m->options.slot_size,
		.plugged_size = m->plugged_size,
		.requested_size = m->requested_size,
	};
	pthread_mutex_unlock(&vdev->lock);
	info->plug_count = atomic_load(&c->plug_count);
	info->plug_bytes = atomic_load(&c->plug_bytes);
	info->plug_fails = atomic_load(&c->plug_fails);
	info->unplug_count = atomic_load(&c->unplug_count);
	info->unplug_bytes = atomic_load(&c->unplug_bytes);
	info->unplug_fails = atomic_load(&c->unplug_fails);
	info->unplug_discard_fails = atomic_load(&c->unplug_discard_fails);
	info->unplug_all_count = atomic_load(&c->unplug_all_count);
	info->unplug_all_fails = atomic_load(&c->unplug_all_fails);
	info->state_count = atomic_load(&c->state_count);
	info->state_fails = atomic_load(&c->state_fails);
	info->slots_present = atomic_load(&c->slots_present);
	info->requests = atomic_load(&vdev->stats.requests);
	info->errors = atomic_load(&vdev->stats.errors);
	info->notifications = atomic_load(&vdev->stats.notifications);
}
