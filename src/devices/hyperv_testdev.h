/* QEMU's hyperv-testdev, the device kvm-unit-tests' hyperv_synic,
 * hyperv_stimer and hyperv_connections drive (tern run --hyperv-testdev,
 * which needs --hyperv). Test-only: a VM gets it only when asked for, and a
 * VM that has it cannot be snapshotted (it saves nothing).
 *
 * The guest controls it with one 32-bit write to port 0x3000:
 *   bits 31:24 connection id, 23:16 command, 15:8 VP index, 7:0 SINT.
 * Commands (kvm-unit-tests' x86/hyperv.c numbers them the same):
 *   1 SINT route create: a GSI routed to (VP, SINT) (KVM_IRQ_ROUTING_HV_SINT)
 *   2 SINT route destroy
 *   3 SINT route set: raise that GSI, so the SINT fires on its vCPU
 *   4 message connection create: (VP, SINT) answers HvPostMessage on the
 *     connection id by posting the same message back into that vCPU's
 *     SynIC message page, slot SINT, and raising the SINT
 *   5 message connection destroy (connection id only)
 *   6 event connection create: HvSignalEvent on the connection id sets
 *     event flag <connection id> in the vCPU's SynIC event flags page, slot
 *     SINT, and raises the SINT if the flag was clear
 *   7 event connection destroy (connection id only)
 * Writes of another size, unknown commands, VP indexes past the last vCPU,
 * SINTs past 15 and connection ids in use (or not in use, to destroy) are
 * ignored with a rate-limited warning.
 *
 * Both hypercalls reach tern as KVM_EXIT_HYPERV_HCALL (KVM passes
 * HvPostMessage to userspace always, and HvSignalEvent when no
 * KVM_HYPERV_EVENTFD claims the connection). tern does not register
 * eventfds: a test device gains nothing from KVM's fast path, and one
 * synchronous path on the calling vCPU's thread is less code that guests
 * reach. A message slot the guest still owns (message type not 0) is not
 * overwritten: its "message pending" flag is set and the message waits
 * until the guest frees the slot and writes EOM (or EOIs the SINT), which
 * KVM reports on the route's GSI through an irqfd's resample eventfd; the
 * device's thread then posts it again. Everything read from guest memory or
 * the port is checked; nothing the guest writes can make tern fail. */
#ifndef TERN_DEVICES_HYPERV_TESTDEV_H
#define TERN_DEVICES_HYPERV_TESTDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "memory/guest_memory.h"
#include "vm/irq_routing.h"

#define HYPERV_TESTDEV_PORT 0x3000
#define HYPERV_TESTDEV_PORT_COUNT 4

enum hyperv_testdev_op {
	HYPERV_TESTDEV_SINT_ROUTE_CREATE = 1,
	HYPERV_TESTDEV_SINT_ROUTE_DESTROY,
	HYPERV_TESTDEV_SINT_ROUTE_SET_SINT,
	HYPERV_TESTDEV_MSG_CONN_CREATE,
	HYPERV_TESTDEV_MSG_CONN_DESTROY,
	HYPERV_TESTDEV_EVT_CONN_CREATE,
	HYPERV_TESTDEV_EVT_CONN_DESTROY,
};

struct hyperv_testdev_command {
	enum hyperv_testdev_op op;
	uint8_t vp_index;
	uint8_t sint;
	uint8_t conn_id;
};

/* Splits a port write into its fields; false for a command number the
 * device does not know. */
bool hyperv_testdev_decode(uint32_t value, struct hyperv_testdev_command *cmd);

/* What the device needs of the VM; unit tests pass their own. */
struct hyperv_testdev_host {
	/* Raises gsi (a SINT route). */
	void (*raise)(void *opaque, uint32_t gsi);
	/* The SynIC MSRs of the vCPU with that VP index (cpu/hyperv.h);
	 * false when there is none. */
	bool (*synic)(void *opaque, uint32_t vp_index, uint64_t *control,
		      uint64_t *msg_page, uint64_t *evt_page);
	/* Asks for the guest's acknowledgements of gsi on ack_fd (an irqfd
	 * with KVM_IRQFD_FLAG_RESAMPLE); returns a handle for unwatch (>= 0)
	 * or a negative errno. NULL: no acknowledgements (tests call
	 * hyperv_testdev_acked themselves). */
	int (*watch_ack)(void *opaque, uint32_t gsi, int ack_fd);
	void (*unwatch_ack)(void *opaque, uint32_t gsi, int handle);
	void *opaque;
	struct irq_routing *routing;
	const struct guest_memory *memory;
	int vcpu_count;
	/* An eventfd the device owns from here on and reads on its own
	 * thread, or -1: no thread. */
	int ack_fd;
};

struct hyperv_testdev;
struct vcpu;

/* NULL: out of memory, or the thread could not start. */
struct hyperv_testdev *
hyperv_testdev_create(const struct hyperv_testdev_host *h);
struct device *hyperv_testdev_device(struct hyperv_testdev *t);

/* A struct hyperv_hcall_handler's call (opaque: the device). */
uint64_t hyperv_testdev_hypercall(void *opaque, struct vcpu *vcpu,
				  uint64_t input, uint64_t in_param,
				  uint64_t out_param);

/* The guest freed a message slot somewhere: posts the messages waiting. */
void hyperv_testdev_acked(struct hyperv_testdev *t);

#endif
