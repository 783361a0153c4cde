#include "devices/hyperv_testdev.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpu/hyperv.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/thread.h"

#define CONN_COUNT 256 /* the port's connection id is 8 bits wide */

/* TLFS: a SynIC message slot, and HvPostMessage's input. */
#define HV_MESSAGE_SIZE 256
#define HV_MESSAGE_PAYLOAD_SIZE 240
#define HV_MESSAGE_TYPE_OFFSET 0
#define HV_MESSAGE_FLAGS_OFFSET 5
#define HV_MESSAGE_FLAG_PENDING 0x1
#define HV_MESSAGE_TYPE_HYPERVISOR (1u << 31) /* reserved to the hypervisor */
#define HV_EVENT_FLAGS_SLOT_SIZE 256 /* 2048 flags per SINT */
#define HV_PAGE_MASK 0xfffull
#define HV_ENABLE 0x1ull
#define HV_HCALL_CODE_MASK 0xffffull
#define HV_HCALL_FAST (1ull << 16)
#define HV_CONNECTION_ID_MASK 0xffffffull
#define HV_EVENT_FLAG_NUMBER_MASK 0xffff00000000ull
#define HV_STATUS_INVALID_PARAMETER 0x5
#define HV_STATUS_INVALID_PORT_ID 0x11

struct hv_message {
	uint32_t type;
	uint8_t payload_size;
	uint8_t flags;
	uint8_t reserved[2];
	uint64_t sender;
	uint8_t payload[HV_MESSAGE_PAYLOAD_SIZE];
};

struct hv_post_message_input {
	uint32_t connection_id;
	uint32_t reserved;
	uint32_t message_type;
	uint32_t payload_size;
	uint8_t payload[HV_MESSAGE_PAYLOAD_SIZE];
};

_Static_assert(sizeof(struct hv_message) == HV_MESSAGE_SIZE, "TLFS layout");
_Static_assert(sizeof(struct hv_post_message_input) == HV_MESSAGE_SIZE,
	       "TLFS layout");

/* A route shared by the commands that need it (a plain route and a
 * connection may both name one SINT): the GSI is KVM's while users > 0,
 * and kept for the next time once handed out. */
struct sint_route {
	int users;
	int gsi; /* -1: none handed out yet */
};

struct msg_conn {
	bool used;
	uint8_t vp_index, sint;
	int ack_handle; /* watch_ack's, or -1 */
	bool waiting; /* staged holds a message for a busy slot */
	struct hv_message staged;
};

struct evt_conn {
	bool used;
	uint8_t vp_index, sint;
};

struct hyperv_testdev {
	struct device dev;
	struct hyperv_testdev_host host;
	pthread_mutex_t lock; /* vCPU threads and the ack thread */
	struct sint_route *routes; /* vcpu_count * HV_SYNIC_SINT_COUNT */
	struct msg_conn msg_conns[CONN_COUNT];
	struct evt_conn evt_conns[CONN_COUNT];
	struct log_ratelimit log;
	pthread_t thread;
	bool thread_started;
	_Atomic bool stopping;
};

bool hyperv_testdev_decode(uint32_t value, struct hyperv_testdev_command *cmd)
{
	uint32_t op = (value >> 16) & 0xff;

	if (op < HYPERV_TESTDEV_SINT_ROUTE_CREATE ||
	    op > HYPERV_TESTDEV_EVT_CONN_DESTROY)
		return false;
	cmd->op = (enum hyperv_testdev_op)op;
	cmd->conn_id = (uint8_t)(value >> 24);
	cmd->vp_index = (uint8_t)(value >> 8);
	cmd->sint = (uint8_t)value;
	return true;
}

static struct sint_route *route_of(struct hyperv_testdev *t, unsigned vp_index,
				   unsigned sint)
{
	if (vp_index >= (unsigned)t->host.vcpu_count ||
	    sint >= HV_SYNIC_SINT_COUNT)
		return NULL;
	return &t->routes[vp_index * HV_SYNIC_SINT_COUNT + sint];
}

static struct sint_route *route_get(struct hyperv_testdev *t, unsigned vp_index,
				    unsigned sint)
{
	struct sint_route *r = route_of(t, vp_index, sint);
	int ret;

	if (!r)
		return NULL;
	if (r->users > 0) {
		r->users++;
		return r;
	}
	if (r->gsi < 0) {
		r->gsi = irq_routing_alloc_gsi(t->host.routing);
		if (r->gsi < 0) {
			log_ratelimited(&t->log, LOG_WARN,
					"hyperv-testdev: no GSI left for a "
					"SINT route");
			return NULL;
		}
	}
	ret = irq_routing_set_hv_sint(t->host.routing, (uint32_t)r->gsi,
				      vp_index, sint);
	if (ret) {
		log_ratelimited(&t->log, LOG_WARN,
				"hyperv-testdev: KVM refused the route to VP "
				"%u SINT %u: %s",
				vp_index, sint, strerror(-ret));
		return NULL;
	}
	r->users = 1;
	return r;
}

static void route_put(struct hyperv_testdev *t, struct sint_route *r)
{
	if (!r || r->users <= 0 || --r->users > 0)
		return;
	irq_routing_clear(t->host.routing, (uint32_t)r->gsi);
}

static void raise_route(struct hyperv_testdev *t, unsigned vp_index,
			unsigned sint)
{
	struct sint_route *r = route_of(t, vp_index, sint);

	if (r && r->users > 0)
		t->host.raise(t->host.opaque, (uint32_t)r->gsi);
}

/* The guest page behind a SynIC page MSR of VP vp_index, when the SynIC
 * and that page are enabled. which: 0 message page, 1 event flags page. */
static uint8_t *synic_slot(struct hyperv_testdev *t, unsigned vp_index,
			   int which, unsigned sint, uint64_t slot_size)
{
	uint64_t control, msg_page, evt_page, page;

	if (!t->host.synic(t->host.opaque, vp_index, &control, &msg_page,
			   &evt_page))
		return NULL;
	page = which ? evt_page : msg_page;
	if (!(control & HV_ENABLE) || !(page & HV_ENABLE))
		return NULL;
	return guest_memory_ptr(t->host.memory,
				(page & ~HV_PAGE_MASK) + sint * slot_size,
				slot_size);
}

/* Posts conn's staged message into its slot. The guest owns a slot whose
 * type is not 0: then the pending flag asks it to write EOM once it frees
 * the slot, and the type is read again after the flag is set, so a slot
 * freed in between (the guest clears the type, then checks the flag) is
 * not missed by both sides. Under t->lock. */
static void deliver(struct hyperv_testdev *t, struct msg_conn *c)
{
	uint8_t *slot = synic_slot(t, c->vp_index, 0, c->sint, HV_MESSAGE_SIZE);
	_Atomic uint32_t *type;
	_Atomic uint8_t *flags;

	if (!slot) {
		/* As Hyper-V: no message page, no message. */
		c->waiting = false;
		return;
	}
	type = (_Atomic uint32_t *)(slot + HV_MESSAGE_TYPE_OFFSET);
	flags = (_Atomic uint8_t *)(slot + HV_MESSAGE_FLAGS_OFFSET);
	if (atomic_load(type) != 0) {
		atomic_fetch_or(flags, HV_MESSAGE_FLAG_PENDING);
		guest_memory_mark_dirty(t->host.memory, slot, HV_MESSAGE_SIZE);
		if (atomic_load(type) != 0) {
			c->waiting = true;
			return;
		}
	}
	/* Everything but the type first; the type, which hands the slot to
	 * the guest, last. The staged flags are 0: pending is cleared. */
	memcpy(slot + sizeof(uint32_t),
	       (const uint8_t *)&c->staged + sizeof(uint32_t),
	       HV_MESSAGE_SIZE - sizeof(uint32_t));
	atomic_store_explicit(type, c->staged.type, memory_order_release);
	guest_memory_mark_dirty(t->host.memory, slot, HV_MESSAGE_SIZE);
	c->waiting = false;
	raise_route(t, c->vp_index, c->sint);
}

void hyperv_testdev_acked(struct hyperv_testdev *t)
{
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < CONN_COUNT; i++)
		if (t->msg_conns[i].used && t->msg_conns[i].waiting)
			deliver(t, &t->msg_conns[i]);
	pthread_mutex_unlock(&t->lock);
}

static uint64_t post_message(struct hyperv_testdev *t, bool fast, uint64_t gpa)
{
	struct hv_post_message_input in;
	struct msg_conn *c;

	/* The input is a page-contained, 8-byte aligned block in RAM. */
	if (fast)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if ((gpa & 7) || (gpa & HV_PAGE_MASK) + sizeof(in) > HV_PAGE_MASK + 1)
		return HV_STATUS_INVALID_ALIGNMENT;
	if (guest_memory_read(t->host.memory, gpa, &in, sizeof(in)))
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (in.payload_size > HV_MESSAGE_PAYLOAD_SIZE)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (in.message_type == 0 ||
	    (in.message_type & HV_MESSAGE_TYPE_HYPERVISOR))
		return HV_STATUS_INVALID_PARAMETER;
	if (in.connection_id >= CONN_COUNT ||
	    !t->msg_conns[in.connection_id].used)
		return HV_STATUS_INVALID_CONNECTION_ID;
	c = &t->msg_conns[in.connection_id];
	if (c->waiting)
		return HV_STATUS_INSUFFICIENT_BUFFERS;
	memset(&c->staged, 0, sizeof(c->staged));
	c->staged.type = in.message_type;
	c->staged.payload_size = (uint8_t)in.payload_size;
	memcpy(c->staged.payload, in.payload, in.payload_size);
	deliver(t, c);
	return HV_STATUS_SUCCESS;
}

static uint64_t signal_event(struct hyperv_testdev *t, bool fast, uint64_t in)
{
	uint64_t param = in;
	struct evt_conn *c;
	_Atomic uint64_t *word;
	uint8_t *slot;
	uint32_t flag;
	uint64_t bit;

	if (!fast &&
	    ((in & 7) ||
	     guest_memory_read(t->host.memory, in, &param, sizeof(param))))
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	/* Flag numbers other than 0 are for ports tern does not offer. */
	if (param & HV_EVENT_FLAG_NUMBER_MASK)
		return HV_STATUS_INVALID_PORT_ID;
	if (param & ~HV_CONNECTION_ID_MASK)
		return HV_STATUS_INVALID_HYPERCALL_INPUT;
	if (param >= CONN_COUNT || !t->evt_conns[param].used)
		return HV_STATUS_INVALID_CONNECTION_ID;
	c = &t->evt_conns[param];
	/* The flag QEMU's device sets is the connection's own number. */
	flag = (uint32_t)param;
	slot = synic_slot(t, c->vp_index, 1, c->sint, HV_EVENT_FLAGS_SLOT_SIZE);
	if (!slot)
		return HV_STATUS_SUCCESS; /* no page: nothing to set */
	word = (_Atomic uint64_t *)(slot + (flag / 64) * sizeof(uint64_t));
	bit = 1ull << (flag % 64);
	if (!(atomic_fetch_or(word, bit) & bit))
		raise_route(t, c->vp_index, c->sint);
	guest_memory_mark_dirty(t->host.memory, slot, HV_EVENT_FLAGS_SLOT_SIZE);
	return HV_STATUS_SUCCESS;
}

uint64_t hyperv_testdev_hypercall(void *opaque, struct vcpu *vcpu,
				  uint64_t input, uint64_t in_param,
				  uint64_t out_param)
{
	struct hyperv_testdev *t = opaque;
	bool fast = input & HV_HCALL_FAST;
	uint64_t status;

	(void)vcpu;
	(void)out_param;
	pthread_mutex_lock(&t->lock);
	switch (input & HV_HCALL_CODE_MASK) {
	case HVCALL_POST_MESSAGE:
		status = post_message(t, fast, in_param);
		break;
	case HVCALL_SIGNAL_EVENT:
		status = signal_event(t, fast, in_param);
		break;
	default:
		status = HV_STATUS_INVALID_HYPERCALL_CODE;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return status;
}

static void ignored(struct hyperv_testdev *t, uint32_t value, const char *why)
{
	log_ratelimited(&t->log, LOG_WARN,
			"hyperv-testdev: command %#x ignored: %s", value, why);
}

static void msg_conn_create(struct hyperv_testdev *t,
			    const struct hyperv_testdev_command *cmd,
			    uint32_t value)
{
	struct msg_conn *c = &t->msg_conns[cmd->conn_id];
	struct sint_route *r;

	if (c->used)
		return ignored(t, value, "the connection exists");
	r = route_get(t, cmd->vp_index, cmd->sint);
	if (!r)
		return ignored(t, value, "no route to that VP and SINT");
	memset(c, 0, sizeof(*c));
	c->ack_handle = -1;
	if (t->host.watch_ack) {
		c->ack_handle = t->host.watch_ack(
			t->host.opaque, (uint32_t)r->gsi, t->host.ack_fd);
		if (c->ack_handle < 0) {
			route_put(t, r);
			return ignored(t, value,
				       "cannot watch the route's "
				       "acknowledgements");
		}
	}
	c->used = true;
	c->vp_index = cmd->vp_index;
	c->sint = cmd->sint;
}

static void msg_conn_destroy(struct hyperv_testdev *t, uint8_t conn_id)
{
	struct msg_conn *c = &t->msg_conns[conn_id];
	struct sint_route *r;

	if (!c->used)
		return;
	r = route_of(t, c->vp_index, c->sint);
	if (c->ack_handle >= 0 && t->host.unwatch_ack)
		t->host.unwatch_ack(t->host.opaque, (uint32_t)r->gsi,
				    c->ack_handle);
	route_put(t, r);
	memset(c, 0, sizeof(*c));
}

static void evt_conn_create(struct hyperv_testdev *t,
			    const struct hyperv_testdev_command *cmd,
			    uint32_t value)
{
	struct evt_conn *c = &t->evt_conns[cmd->conn_id];

	if (c->used)
		return ignored(t, value, "the connection exists");
	if (!route_get(t, cmd->vp_index, cmd->sint))
		return ignored(t, value, "no route to that VP and SINT");
	c->used = true;
	c->vp_index = cmd->vp_index;
	c->sint = cmd->sint;
}

static void evt_conn_destroy(struct hyperv_testdev *t, uint8_t conn_id)
{
	struct evt_conn *c = &t->evt_conns[conn_id];

	if (!c->used)
		return;
	route_put(t, route_of(t, c->vp_index, c->sint));
	memset(c, 0, sizeof(*c));
}

static void run_command(struct hyperv_testdev *t,
			const struct hyperv_testdev_command *cmd,
			uint32_t value)
{
	struct sint_route *r;

	switch (cmd->op) {
	case HYPERV_TESTDEV_SINT_ROUTE_CREATE:
		if (!route_get(t, cmd->vp_index, cmd->sint))
			ignored(t, value, "no route to that VP and SINT");
		break;
	case HYPERV_TESTDEV_SINT_ROUTE_DESTROY:
		r = route_of(t, cmd->vp_index, cmd->sint);
		if (!r || r->users <= 0)
			ignored(t, value, "no such route");
		else
			route_put(t, r);
		break;
	case HYPERV_TESTDEV_SINT_ROUTE_SET_SINT:
		raise_route(t, cmd->vp_index, cmd->sint);
		break;
	case HYPERV_TESTDEV_MSG_CONN_CREATE:
		msg_conn_create(t, cmd, value);
		break;
	case HYPERV_TESTDEV_MSG_CONN_DESTROY:
		msg_conn_destroy(t, cmd->conn_id);
		break;
	case HYPERV_TESTDEV_EVT_CONN_CREATE:
		evt_conn_create(t, cmd, value);
		break;
	case HYPERV_TESTDEV_EVT_CONN_DESTROY:
		evt_conn_destroy(t, cmd->conn_id);
		break;
	}
}

static struct hyperv_testdev *to_testdev(struct device *dev)
{
	return container_of(dev, struct hyperv_testdev, dev);
}

static void testdev_read(struct device *dev, uint64_t offset, void *data,
			 uint32_t size)
{
	(void)dev;
	(void)offset;
	memset(data, 0, size); /* write-only, as QEMU's */
}

static void testdev_write(struct device *dev, uint64_t offset, const void *data,
			  uint32_t size)
{
	struct hyperv_testdev *t = to_testdev(dev);
	struct hyperv_testdev_command cmd;
	uint32_t value;

	if (offset != 0 || size != sizeof(value)) {
		log_ratelimited(&t->log, LOG_WARN,
				"hyperv-testdev: %u-byte write at +%llu "
				"ignored (only 4 bytes at +0)",
				size, (unsigned long long)offset);
		return;
	}
	memcpy(&value, data, sizeof(value));
	pthread_mutex_lock(&t->lock);
	if (hyperv_testdev_decode(value, &cmd))
		run_command(t, &cmd, value);
	else
		ignored(t, value, "unknown command");
	pthread_mutex_unlock(&t->lock);
}

/* The guest's EOMs and EOIs of watched routes, as eventfd counts: each
 * wake-up retries every waiting message (cheap: a handful at most). */
static void *ack_thread(void *opaque)
{
	struct hyperv_testdev *t = opaque;
	uint64_t count;

	pthread_setname_np(pthread_self(), "hyperv-testdev");
	seccomp_enter_thread(SECCOMP_THREAD_HYPERV_TESTDEV);
	while (read(t->host.ack_fd, &count, sizeof(count)) == sizeof(count) &&
	       !atomic_load(&t->stopping))
		hyperv_testdev_acked(t);
	return NULL;
}

static void testdev_destroy(struct device *dev)
{
	struct hyperv_testdev *t = to_testdev(dev);
	uint64_t one = 1;

	if (t->thread_started) {
		/* The count can only overflow after 2^64 - 2 wake-ups. */
		atomic_store(&t->stopping, true);
		if (write(t->host.ack_fd, &one, sizeof(one)) != sizeof(one))
			log_error("hyperv-testdev: cannot wake its thread: %s",
				  strerror(errno));
		pthread_join(t->thread, NULL);
	}
	/* The routes go with the VM; only the irqfds are the device's. */
	for (int i = 0; i < CONN_COUNT; i++) {
		struct msg_conn *c = &t->msg_conns[i];

		if (c->used && c->ack_handle >= 0 && t->host.unwatch_ack)
			t->host.unwatch_ack(
				t->host.opaque,
				(uint32_t)route_of(t, c->vp_index, c->sint)
					->gsi,
				c->ack_handle);
	}
	if (t->host.ack_fd >= 0)
		close(t->host.ack_fd);
	pthread_mutex_destroy(&t->lock);
	free(t->routes);
	free(t);
}

static const struct device_ops hyperv_testdev_ops = {
	.name = "hyperv-testdev",
	.io_read = testdev_read,
	.io_write = testdev_write,
	.destroy = testdev_destroy,
	/* No save: a test device; a VM with it is not snapshotted. */
};

struct hyperv_testdev *
hyperv_testdev_create(const struct hyperv_testdev_host *h)
{
	struct hyperv_testdev *t = calloc(1, sizeof(*t));

	if (!t || h->vcpu_count < 1)
		goto fail;
	t->routes = calloc((size_t)h->vcpu_count * HV_SYNIC_SINT_COUNT,
			   sizeof(*t->routes));
	if (!t->routes)
		goto fail;
	for (int i = 0; i < h->vcpu_count * HV_SYNIC_SINT_COUNT; i++)
		t->routes[i].gsi = -1;
	t->dev.ops = &hyperv_testdev_ops;
	t->host = *h;
	pthread_mutex_init(&t->lock, NULL);
	if (h->ack_fd >= 0) {
		if (thread_start(&t->thread, ack_thread, t)) {
			pthread_mutex_destroy(&t->lock);
			goto fail;
		}
		t->thread_started = true;
	}
	return t;
fail:
	if (h->ack_fd >= 0)
		close(h->ack_fd);
	if (t)
		free(t->routes);
	free(t);
	return NULL;
}

struct device *hyperv_testdev_device(struct hyperv_testdev *t)
{
	return &t->dev;
}
