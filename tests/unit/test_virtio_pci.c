/* The virtio core and the modern virtio-pci transport driven the way
 * Linux's virtio_pci driver does it, with virtio-rng behind them and a fake
 * VM (no KVM: the routing table is kept but not pushed, irqfds are plain
 * eventfds the test reads). Covers capabilities, feature negotiation, the
 * status machine, queue setup, notifications through the device's I/O
 * thread, MSI-X delivery, masking and the PBA, NEEDS_RESET on a hostile
 * ring, and reset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "arch/x86/layout.h"
#include "devices/io_bus.h"
#include "devices/pci/pci_bus.h"
#include "memory/guest_memory.h"
#include "virtio/virtio_pci.h"
#include "virtio/virtio_rng.h"
#include "vm/irq_routing.h"

#define BAR LAYOUT_PCI_MMIO_GPA
#define QSIZE 16
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA 0x12000ULL
#define BUF_GPA 0x20000ULL
#define MSI_ADDRESS 0xfee00000u

struct fixture {
	struct guest_memory mem;
	struct irq_routing routing;
	struct io_bus pio, mmio;
	struct pci_bus *bus;
	struct virtio_device *vdev;
	struct virtio_pci *vp;
	uint16_t avail_idx;
};

static uint32_t cfg_read(struct fixture *f, uint32_t reg, uint32_t size)
{
	return pci_bus_config_read(f->bus, 0, 1, 0, reg, size);
}

static void cfg_write(struct fixture *f, uint32_t reg, uint32_t size,
		      uint32_t v)
{
	pci_bus_config_write(f->bus, 0, 1, 0, reg, size, v);
}

static uint64_t mmio_read(struct fixture *f, uint64_t offset, uint32_t size)
{
	uint64_t v = 0;

	io_bus_read(&f->mmio, BAR + offset, &v, size);
	return v;
}

static void mmio_write(struct fixture *f, uint64_t offset, uint32_t size,
		       uint64_t v)
{
	io_bus_write(&f->mmio, BAR + offset, &v, size);
}

#define COMMON(field) offsetof(struct virtio_pci_common_cfg, field)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pci_device *pdev;
	int error = 0;

	assert_int_equal(guest_memory_init(&f->mem, MiB(64)), 0);
	assert_int_equal(irq_routing_init(&f->routing, -1), 0);
	f->bus = pci_bus_create();
	assert_int_equal(pci_bus_attach(f->bus, &f->pio, &f->mmio), 0);
	f->vdev = virtio_rng_create();
	assert_non_null(f->vdev);
	assert_int_equal(virtio_device_start(f->vdev, &f->mem), 0);
	pdev = virtio_pci_create(f->vdev, -1, &f->routing, &error);
	assert_non_null(pdev);
	f->vp = container_of(pdev, struct virtio_pci, pdev);
	assert_int_equal(pci_bus_add_device(f->bus, pdev), 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pci_bus_destroy(f->bus);
	irq_routing_destroy(&f->routing);
	guest_memory_destroy(&f->mem);
	free(f);
	return 0;
}

/* Finds the virtio capability of cfg_type; returns its config offset. */
static uint32_t find_virtio_cap(struct fixture *f, uint8_t type)
{
	uint32_t cap = cfg_read(f, 0x34, 1);

	for (int guard = 0; cap && guard < 48; guard++) {
		if (cfg_read(f, cap, 1) == PCI_CAP_ID_VENDOR &&
		    cfg_read(f, cap + 3, 1) == type)
			return cap;
		cap = cfg_read(f, cap + 1, 1);
	}
	return 0;
}

static uint32_t find_cap(struct fixture *f, uint8_t id)
{
	uint32_t cap = cfg_read(f, 0x34, 1);

	for (int guard = 0; cap && guard < 48; guard++) {
		if (cfg_read(f, cap, 1) == id)
			return cap;
		cap = cfg_read(f, cap + 1, 1);
	}
	return 0;
}

static uint8_t status(struct fixture *f)
{
	return (uint8_t)mmio_read(f, COMMON(device_status), 1);
}

static void set_status(struct fixture *f, uint8_t s)
{
	mmio_write(f, COMMON(device_status), 1, s);
}

static void negotiate(struct fixture *f, uint64_t features)
{
	set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	mmio_write(f, COMMON(guest_feature_select), 4, 0);
	mmio_write(f, COMMON(guest_feature), 4, (uint32_t)features);
	mmio_write(f, COMMON(guest_feature_select), 4, 1);
	mmio_write(f, COMMON(guest_feature), 4, (uint32_t)(features >> 32));
	set_status(f,
		   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_FEATURES_OK);
}

static void program_vector(struct fixture *f, unsigned v, uint32_t data,
			   bool masked)
{
	uint64_t entry = VIRTIO_PCI_MSIX_TABLE_OFFSET + 16 * v;

	mmio_write(f, entry, 4, MSI_ADDRESS);
	mmio_write(f, entry + 4, 4, 0);
	mmio_write(f, entry + 8, 4, data);
	mmio_write(f, entry + 12, 4, masked);
}

static void enable_msix(struct fixture *f)
{
	uint32_t cap = find_cap(f, PCI_CAP_ID_MSIX);

	assert_int_not_equal(cap, 0);
	cfg_write(f, cap + 2, 2, 0x8000);
}

static void setup_queue(struct fixture *f, uint16_t vector)
{
	mmio_write(f, COMMON(queue_select), 2, 0);
	mmio_write(f, COMMON(queue_size), 2, QSIZE);
	mmio_write(f, COMMON(queue_msix_vector), 2, vector);
	mmio_write(f, COMMON(queue_desc_lo), 4, DESC_GPA);
	mmio_write(f, COMMON(queue_desc_hi), 4, 0);
	mmio_write(f, COMMON(queue_avail_lo), 4, AVAIL_GPA);
	mmio_write(f, COMMON(queue_avail_hi), 4, 0);
	mmio_write(f, COMMON(queue_used_lo), 8, USED_GPA);
	mmio_write(f, COMMON(queue_enable), 2, 1);
}

/* Full bring-up as Linux does it: features, MSI-X with config vector 0
 * and queue vector 1, queue 0, DRIVER_OK. */
static void bring_up(struct fixture *f, uint64_t features)
{
	negotiate(f, features);
	assert_true(status(f) & VIRTIO_CONFIG_S_FEATURES_OK);
	enable_msix(f);
	program_vector(f, 0, 0x40, false);
	program_vector(f, 1, 0x41, false);
	mmio_write(f, COMMON(msix_config), 2, 0);
	assert_int_equal(mmio_read(f, COMMON(msix_config), 2), 0);
	setup_queue(f, 1);
	assert_int_equal(mmio_read(f, COMMON(queue_msix_vector), 2), 1);
	set_status(f,
		   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_FEATURES_OK |
			   VIRTIO_CONFIG_S_DRIVER_OK);
}

static void offer_buffer(struct fixture *f, uint16_t head, uint32_t len)
{
	struct vring_desc *d =
		guest_memory_ptr(&f->mem, DESC_GPA + 16ULL * head, sizeof(*d));
	uint16_t *avail = guest_memory_ptr(&f->mem, AVAIL_GPA, 4 + 2 * QSIZE);

	d->addr = BUF_GPA + 0x100ULL * head;
	d->len = len;
	d->flags = VRING_DESC_F_WRITE;
	d->next = 0;
	avail[2 + f->avail_idx % QSIZE] = head;
	f->avail_idx++;
	__atomic_store_n(&avail[1], f->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct fixture *f)
{
	uint16_t *used = guest_memory_ptr(&f->mem, USED_GPA, 4);

	return __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
}

static bool wait_used(struct fixture *f, uint16_t idx)
{
	for (int i = 0; i < 2000; i++) {
		if (used_idx(f) == idx)
			return true;
		usleep(1000);
	}
	return false;
}

/* Reads an irqfd: how many interrupts it got (0 when none within ms). */
static uint64_t irqs(struct fixture *f, unsigned vector, int ms)
{
	struct pollfd p = {.fd = f->vp->irqfd[vector], .events = POLLIN};
	uint64_t count = 0;

	if (poll(&p, 1, ms) == 1 &&
	    read(f->vp->irqfd[vector], &count, sizeof(count)) != sizeof(count))
		count = 0;
	return count;
}

static void capabilities_describe_bar0(void **state)
{
	struct fixture *f = *state;
	uint32_t common = find_virtio_cap(f, VIRTIO_PCI_CAP_COMMON_CFG);
	uint32_t notify = find_virtio_cap(f, VIRTIO_PCI_CAP_NOTIFY_CFG);
	uint32_t isr = find_virtio_cap(f, VIRTIO_PCI_CAP_ISR_CFG);
	uint32_t msix = find_cap(f, PCI_CAP_ID_MSIX);

	assert_int_equal(cfg_read(f, 0, 4), 0x10441af4);
	assert_true(cfg_read(f, 8, 1) >= 1); /* revision: modern only */
	assert_int_not_equal(common, 0);
	assert_int_not_equal(isr, 0);
	assert_int_not_equal(notify, 0);
	/* rng has no device config: no DEVICE_CFG capability. */
	assert_int_equal(find_virtio_cap(f, VIRTIO_PCI_CAP_DEVICE_CFG), 0);
	assert_int_equal(cfg_read(f, common + 4, 1), 0); /* bar */
	assert_int_equal(cfg_read(f, common + 8, 4), VIRTIO_PCI_COMMON_OFFSET);
	assert_true(cfg_read(f, common + 12, 4) >= 0x38);
	assert_int_equal(cfg_read(f, notify + 2, 1), 20); /* cap_len */
	assert_int_equal(cfg_read(f, notify + 8, 4), VIRTIO_PCI_NOTIFY_OFFSET);
	assert_int_equal(cfg_read(f, notify + 16, 4),
			 VIRTIO_PCI_NOTIFY_MULTIPLIER);
	assert_int_equal(cfg_read(f, msix + 2, 2) & 0x7ff, 1); /* 2 vectors */
	assert_int_equal(cfg_read(f, msix + 4, 4),
			 VIRTIO_PCI_MSIX_TABLE_OFFSET);
	assert_int_equal(cfg_read(f, msix + 8, 4), VIRTIO_PCI_MSIX_PBA_OFFSET);
	/* BAR 0 sizes as 32 KiB. */
	cfg_write(f, 4, 2, 0);
	cfg_write(f, 0x10, 4, 0xffffffffu);
	assert_int_equal(cfg_read(f, 0x10, 4), 0xffff8000u);
	cfg_write(f, 0x10, 4, BAR);
	cfg_write(f, 4, 2, 2);
	assert_int_equal(mmio_read(f, COMMON(num_queues), 2), 1);
}

static void features_need_version_1_and_a_subset(void **state)
{
	struct fixture *f = *state;
	uint64_t offered;

	mmio_write(f, COMMON(device_feature_select), 4, 1);
	offered = mmio_read(f, COMMON(device_feature), 4) << 32;
	mmio_write(f, COMMON(device_feature_select), 4, 0);
	offered |= mmio_read(f, COMMON(device_feature), 4);
	assert_true(offered & (1ULL << VIRTIO_F_VERSION_1));
	assert_true(offered & (1ULL << VIRTIO_RING_F_EVENT_IDX));
	assert_true(offered & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));

	/* A legacy driver (no VERSION_1) is refused. */
	negotiate(f, 0);
	assert_false(status(f) & VIRTIO_CONFIG_S_FEATURES_OK);
	set_status(f, 0);
	assert_int_equal(status(f), 0);
	/* A feature that was not offered is refused. */
	negotiate(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5));
	assert_false(status(f) & VIRTIO_CONFIG_S_FEATURES_OK);
	set_status(f, 0);
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	assert_true(status(f) & VIRTIO_CONFIG_S_FEATURES_OK);
	/* Features are frozen after FEATURES_OK. */
	mmio_write(f, COMMON(guest_feature_select), 4, 0);
	mmio_write(f, COMMON(guest_feature), 4, 0xffffffffu);
	assert_int_equal(mmio_read(f, COMMON(guest_feature), 4), 0);
}

static void request_is_served_with_an_msix_interrupt(void **state)
{
	struct fixture *f = *state;
	const struct kvm_irq_routing_entry *route;
	uint8_t *buf = guest_memory_ptr(&f->mem, BUF_GPA, 64);
	uint32_t *used_elem = guest_memory_ptr(&f->mem, USED_GPA + 4, 8);
	uint8_t zero[32] = {0};

	bring_up(f,
		 (1ULL << VIRTIO_F_VERSION_1) |
			 (1ULL << VIRTIO_RING_F_EVENT_IDX));
	offer_buffer(f, 0, 32);
	mmio_write(f, VIRTIO_PCI_NOTIFY_OFFSET, 2, 0); /* the MMIO-exit path */
	assert_true(wait_used(f, 1));
	assert_int_equal(used_elem[0], 0);
	assert_int_equal(used_elem[1], 32);
	assert_memory_not_equal(buf, zero, 32);
	assert_int_equal(irqs(f, 1, 2000), 1);
	/* The vector's GSI routes to the programmed MSI, and KVM's default
	 * routes are all still in the table. */
	route = irq_routing_find(&f->routing, (uint32_t)f->vp->gsi[1],
				 KVM_IRQ_ROUTING_MSI);
	assert_non_null(route);
	assert_int_equal(route->u.msi.address_lo, MSI_ADDRESS);
	assert_int_equal(route->u.msi.data, 0x41);
	assert_non_null(
		irq_routing_find(&f->routing, 4, KVM_IRQ_ROUTING_IRQCHIP));
	assert_non_null(
		irq_routing_find(&f->routing, 23, KVM_IRQ_ROUTING_IRQCHIP));
	assert_int_equal(f->routing.table->nr, 16 + 24 + 2);
	assert_int_equal(atomic_load(&f->vdev->stats.requests), 1);
	assert_int_equal(atomic_load(&f->vdev->stats.bytes_written), 32);
	assert_true(atomic_load(&f->vdev->stats.notifications) >= 1);
	assert_int_equal(atomic_load(&f->vdev->stats.interrupts), 1);
	assert_int_equal(atomic_load(&f->vdev->stats.notifications_by_exit), 1);
}

static void masked_vector_sets_pending_and_fires_on_unmask(void **state)
{
	struct fixture *f = *state;

	bring_up(f, 1ULL << VIRTIO_F_VERSION_1);
	mmio_write(f, VIRTIO_PCI_MSIX_TABLE_OFFSET + 16 + 12, 4, 1); /* mask */
	offer_buffer(f, 0, 8);
	virtio_device_kick(f->vdev, 0);
	assert_true(wait_used(f, 1));
	usleep(10000);
	assert_int_equal(irqs(f, 1, 0), 0);
	assert_int_equal(mmio_read(f, VIRTIO_PCI_MSIX_PBA_OFFSET, 8), 2);
	mmio_write(f, VIRTIO_PCI_MSIX_TABLE_OFFSET + 16 + 12, 4, 0);
	assert_int_equal(irqs(f, 1, 1000), 1);
	assert_int_equal(mmio_read(f, VIRTIO_PCI_MSIX_PBA_OFFSET, 8), 0);

	/* The function mask holds every vector back the same way. */
	cfg_write(f, find_cap(f, PCI_CAP_ID_MSIX) + 2, 2, 0xc000);
	offer_buffer(f, 1, 8);
	virtio_device_kick(f->vdev, 0);
	assert_true(wait_used(f, 2));
	usleep(10000);
	assert_int_equal(irqs(f, 1, 0), 0);
	cfg_write(f, find_cap(f, PCI_CAP_ID_MSIX) + 2, 2, 0x8000);
	assert_int_equal(irqs(f, 1, 1000), 1);
}

static void buffers_before_driver_ok_wait_for_it(void **state)
{
	struct fixture *f = *state;

	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, VIRTIO_NO_VECTOR);
	offer_buffer(f, 0, 8);
	virtio_device_kick(f->vdev, 0);
	usleep(20000);
	assert_int_equal(used_idx(f), 0);
	set_status(f, status(f) | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(wait_used(f, 1));
}

static void vector_out_of_range_reads_back_no_vector(void **state)
{
	struct fixture *f = *state;

	mmio_write(f, COMMON(msix_config), 2, 2);
	assert_int_equal(mmio_read(f, COMMON(msix_config), 2),
			 VIRTIO_NO_VECTOR);
	mmio_write(f, COMMON(queue_select), 2, 0);
	mmio_write(f, COMMON(queue_msix_vector), 2, 7);
	assert_int_equal(mmio_read(f, COMMON(queue_msix_vector), 2),
			 VIRTIO_NO_VECTOR);
	/* A queue that does not exist reads size 0. */
	mmio_write(f, COMMON(queue_select), 2, 3);
	assert_int_equal(mmio_read(f, COMMON(queue_size), 2), 0);
	mmio_write(f, COMMON(queue_select), 2, 0);
	assert_int_equal(mmio_read(f, COMMON(queue_size), 2), VIRTQ_MAX_SIZE);
	assert_int_equal(mmio_read(f, COMMON(queue_notify_off), 2), 0);
}

static void hostile_ring_sets_needs_reset_and_reset_recovers(void **state)
{
	struct fixture *f = *state;
	uint16_t *avail = guest_memory_ptr(&f->mem, AVAIL_GPA, 4);

	bring_up(f, 1ULL << VIRTIO_F_VERSION_1);
	/* avail idx jumps 100 ahead of a 16-entry ring. */
	__atomic_store_n(&avail[1], 100, __ATOMIC_RELEASE);
	virtio_device_kick(f->vdev, 0);
	for (int i = 0; i < 2000 && !(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	     i++)
		usleep(1000);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The config vector tells the driver. */
	assert_int_equal(irqs(f, 0, 1000), 1);
	assert_int_equal(atomic_load(&f->vdev->stats.errors), 1);
	/* The driver cannot clear it by writing status... */
	set_status(f, status(f) & ~VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* ...only reset does, and it forgets queues and vectors. */
	set_status(f, 0);
	assert_int_equal(status(f), 0);
	assert_int_equal(mmio_read(f, COMMON(queue_enable), 2), 0);
	assert_int_equal(mmio_read(f, COMMON(msix_config), 2),
			 VIRTIO_NO_VECTOR);
	assert_int_equal(mmio_read(f, COMMON(queue_size), 2), VIRTQ_MAX_SIZE);

	/* And the device works again after a fresh bring-up. */
	avail[1] = 0;
	f->avail_idx = 0;
	memset(guest_memory_ptr(&f->mem, USED_GPA, 8), 0, 8);
	bring_up(f, 1ULL << VIRTIO_F_VERSION_1);
	offer_buffer(f, 0, 8);
	virtio_device_kick(f->vdev, 0);
	assert_true(wait_used(f, 1));
}

static void queue_in_bad_memory_sets_needs_reset(void **state)
{
	struct fixture *f = *state;

	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	mmio_write(f, COMMON(queue_select), 2, 0);
	mmio_write(f, COMMON(queue_size), 2, 24); /* not a power of two */
	mmio_write(f, COMMON(queue_desc_lo), 8, DESC_GPA);
	mmio_write(f, COMMON(queue_avail_lo), 8, AVAIL_GPA);
	mmio_write(f, COMMON(queue_used_lo), 8, USED_GPA);
	mmio_write(f, COMMON(queue_enable), 2, 1);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(mmio_read(f, COMMON(queue_enable), 2), 0);
}

static void queue_larger_than_offered_needs_reset(void **state)
{
	struct fixture *f = *state;

	f->vdev->queues[0].max_size = 64; /* as a device may offer */
	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	mmio_write(f, COMMON(queue_select), 2, 0);
	mmio_write(f, COMMON(queue_size), 2, 128);
	mmio_write(f, COMMON(queue_desc_lo), 8, DESC_GPA);
	mmio_write(f, COMMON(queue_avail_lo), 8, AVAIL_GPA);
	mmio_write(f, COMMON(queue_used_lo), 8, USED_GPA);
	mmio_write(f, COMMON(queue_enable), 2, 1);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void driver_ok_without_features_ok_needs_reset(void **state)
{
	struct fixture *f = *state;

	set_status(f,
		   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			   VIRTIO_CONFIG_S_DRIVER_OK);
	assert_true(status(f) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void isr_counts_without_msix_and_clears_on_read(void **state)
{
	struct fixture *f = *state;

	negotiate(f, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(f, VIRTIO_NO_VECTOR);
	set_status(f, status(f) | VIRTIO_CONFIG_S_DRIVER_OK);
	offer_buffer(f, 0, 8);
	virtio_device_kick(f->vdev, 0);
	assert_true(wait_used(f, 1));
	usleep(10000);
	assert_int_equal(mmio_read(f, VIRTIO_PCI_ISR_OFFSET, 1), 1);
	assert_int_equal(mmio_read(f, VIRTIO_PCI_ISR_OFFSET, 1), 0);
}

static void pci_cfg_capability_reaches_bar0(void **state)
{
	struct fixture *f = *state;
	uint32_t cap = find_virtio_cap(f, VIRTIO_PCI_CAP_PCI_CFG);

	assert_int_not_equal(cap, 0);
	cfg_write(f, cap + 4, 1, 0); /* bar */
	cfg_write(f, cap + 8, 4, COMMON(num_queues));
	cfg_write(f, cap + 12, 4, 2);
	assert_int_equal(cfg_read(f, cap + 16, 2), 1);
	cfg_write(f, cap + 8, 4, COMMON(device_status));
	cfg_write(f, cap + 12, 4, 1);
	cfg_write(f, cap + 16, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	assert_int_equal(status(f), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	/* A length of 3 or a misaligned offset does nothing. */
	cfg_write(f, cap + 12, 4, 3);
	cfg_write(f, cap + 16, 1, 0);
	assert_int_equal(status(f), VIRTIO_CONFIG_S_ACKNOWLEDGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(capabilities_describe_bar0),
		T(features_need_version_1_and_a_subset),
		T(request_is_served_with_an_msix_interrupt),
		T(masked_vector_sets_pending_and_fires_on_unmask),
		T(buffers_before_driver_ok_wait_for_it),
		T(vector_out_of_range_reads_back_no_vector),
		T(hostile_ring_sets_needs_reset_and_reset_recovers),
		T(queue_in_bad_memory_sets_needs_reset),
		T(queue_larger_than_offered_needs_reset),
		T(driver_ok_without_features_ok_needs_reset),
		T(isr_counts_without_msix_and_clears_on_read),
		T(pci_cfg_capability_reaches_bar0),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
