/* Fuzz target: --hyperv-testdev (devices/hyperv_testdev.c) as a guest
 * drives it: port writes of any width, offset and value (SINT routes,
 * message and event connections for any VP, SINT and connection id),
 * HvPostMessage and HvSignalEvent hypercalls with any control word and
 * parameters, the guest rewriting RAM (its message slots, event flags and
 * hypercall inputs) and its SynIC MSRs (the pages anywhere, inside RAM or
 * not, enabled or not), and the guest's acknowledgements; 2 vCPUs, 64 KiB
 * of RAM, no KVM (the GSI table kept in memory).
 *
 * Each op byte picks an action (op % 6): 0 a port write, 1 a hypercall,
 * 2 a RAM write, 3 new SynIC MSRs for a vCPU, 4 an acknowledgement, 5 a
 * port read. Checked after every step: every raised GSI is one the device
 * routed to a SINT, and every SINT route names a vCPU and SINT that
 * exist; a hypercall's status is one of the TLFS codes the device
 * answers. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hyperv.h"
#include "devices/hyperv_testdev.h"
#include "fuzz_input.h"
#include "util/log.h"

#define RAM_SIZE 0x10000u
#define VCPUS 2

struct fake {
	struct guest_memory mem;
	struct irq_routing routing;
	uint64_t control[VCPUS], msg_page[VCPUS], evt_page[VCPUS];
	int watches;
};

static bool routed_to_sint(const struct irq_routing *r, uint32_t gsi)
{
	for (uint32_t i = 0; i < r->table->nr; i++)
		if (r->table->entries[i].gsi == gsi &&
		    r->table->entries[i].type == KVM_IRQ_ROUTING_HV_SINT)
			return true;
	return false;
}

static void raise_gsi(void *opaque, uint32_t gsi)
{
	struct fake *f = opaque;

	if (!routed_to_sint(&f->routing, gsi))
		abort();
}

static bool synic(void *opaque, uint32_t vp, uint64_t *control,
		  uint64_t *msg_page, uint64_t *evt_page)
{
	struct fake *f = opaque;

	if (vp >= VCPUS)
		return false;
	*control = f->control[vp];
	*msg_page = f->msg_page[vp];
	*evt_page = f->evt_page[vp];
	return true;
}

static int watch(void *opaque, uint32_t gsi, int fd)
{
	struct fake *f = opaque;

	(void)fd;
	if (!routed_to_sint(&f->routing, gsi))
		abort();
	return f->watches++;
}

static void unwatch(void *opaque, uint32_t gsi, int handle)
{
	struct fake *f = opaque;

	(void)gsi;
	(void)handle;
	if (--f->watches < 0)
		abort();
}

static void check_routes(const struct irq_routing *r)
{
	for (uint32_t i = 0; i < r->table->nr; i++) {
		const struct kvm_irq_routing_entry *e = &r->table->entries[i];

		if (e->type == KVM_IRQ_ROUTING_HV_SINT &&
		    (e->u.hv_sint.vcpu >= VCPUS ||
		     e->u.hv_sint.sint >= HV_SYNIC_SINT_COUNT))
			abort();
	}
}

static void check_status(uint64_t status)
{
	switch (status) {
	case HV_STATUS_SUCCESS:
	case HV_STATUS_INVALID_HYPERCALL_CODE:
	case HV_STATUS_INVALID_HYPERCALL_INPUT:
	case HV_STATUS_INVALID_ALIGNMENT:
	case 0x5: /* HV_STATUS_INVALID_PARAMETER */
	case 0x11: /* HV_STATUS_INVALID_PORT_ID */
	case HV_STATUS_INVALID_CONNECTION_ID:
	case HV_STATUS_INSUFFICIENT_BUFFERS:
		return;
	default:
		abort();
	}
}

/* Addresses mostly inside the small RAM, sometimes anywhere. */
static uint64_t address(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);

	return how & 0x80 ? fuzz_u64(in) : fuzz_u32(in) % (RAM_SIZE + 0x1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake f;
	static bool ready;
	struct fuzz_input in = fuzz_input_of(data, size);
	struct hyperv_testdev_host host = {
		.raise = raise_gsi,
		.synic = synic,
		.watch_ack = watch,
		.unwatch_ack = unwatch,
		.opaque = &f,
		.routing = &f.routing,
		.memory = &f.mem,
		.vcpu_count = VCPUS,
		.ack_fd = -1,
	};
	struct hyperv_testdev *t;
	struct device *dev;

	if (!ready) {
		log_set_level(LOG_ERROR);
		if (guest_memory_init(&f.mem, RAM_SIZE))
			abort();
		ready = true;
	}
	memset(f.mem.mapping, 0, RAM_SIZE);
	if (irq_routing_init(&f.routing, -1))
		abort();
	memset(f.control, 0, sizeof(f.control));
	memset(f.msg_page, 0, sizeof(f.msg_page));
	memset(f.evt_page, 0, sizeof(f.evt_page));
	f.watches = 0;
	t = hyperv_testdev_create(&host);
	if (!t)
		abort();
	dev = hyperv_testdev_device(t);

	while (!fuzz_done(&in)) {
		uint8_t op = fuzz_u8(&in);
		uint8_t buf[8];

		switch (op % 6) {
		case 0: {
			uint32_t width = 1u << (fuzz_u8(&in) % 4);
			uint32_t at = fuzz_u8(&in) % HYPERV_TESTDEV_PORT_COUNT;
			uint64_t value = fuzz_u64(&in);

			if (width > 4)
				width = 4;
			if (at + width > HYPERV_TESTDEV_PORT_COUNT)
				at = HYPERV_TESTDEV_PORT_COUNT - width;
			memcpy(buf, &value, sizeof(value));
			dev->ops->io_write(dev, at, buf, width);
			break;
		}
		case 1: {
			uint64_t input = fuzz_u64(&in);
			uint64_t param =
				fuzz_u8(&in) & 1 ? address(&in) : fuzz_u64(&in);

			/* Mostly the two calls KVM passes on. */
			if (!(op & 0x80))
				input = (input & ~0xffffull) |
					(op & 0x40 ? HVCALL_POST_MESSAGE
						   : HVCALL_SIGNAL_EVENT);
			check_status(hyperv_testdev_hypercall(
				t, NULL, input, param, fuzz_u64(&in)));
			break;
		}
		case 2: {
			uint32_t at = fuzz_u32(&in) % RAM_SIZE;
			uint8_t len = fuzz_u8(&in);

			if (at + len > RAM_SIZE)
				len = (uint8_t)(RAM_SIZE - at);
			fuzz_bytes(&in, (uint8_t *)f.mem.mapping + at, len);
			break;
		}
		case 3: {
			unsigned vp = fuzz_u8(&in) % VCPUS;

			f.control[vp] = fuzz_u8(&in) & 1;
			f.msg_page[vp] = address(&in);
			f.evt_page[vp] = address(&in);
			break;
		}
		case 4:
			hyperv_testdev_acked(t);
			break;
		case 5:
			dev->ops->io_read(dev, fuzz_u8(&in) % 4, buf, 1);
			break;
		}
		check_routes(&f.routing);
	}
	dev->ops->destroy(dev);
	if (f.watches != 0 && f.watches < 0)
		abort();
	irq_routing_destroy(&f.routing);
	return 0;
}
