/* Hyper-V enlightenments without KVM: where the CPUID leaves go, what a
 * host without the capabilities is told, and QEMU's hyperv-testdev as
 * kvm-unit-tests drives it (its port commands, HvPostMessage into a SynIC
 * message page, HvSignalEvent into an event flags page), guest memory and
 * SynIC MSRs played by the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpuid.h"
#include "cpu/hyperv.h"
#include "devices/hyperv_testdev.h"

static struct cpuid_table supported, hv, out;

static void add(struct cpuid_table *t, uint32_t function, uint32_t eax,
		uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	struct kvm_cpuid_entry2 *e = &t->entries[t->header.nent++];

	memset(e, 0, sizeof(*e));
	e->function = function;
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

static const struct kvm_cpuid_entry2 *find(uint32_t function)
{
	for (uint32_t i = 0; i < out.header.nent; i++)
		if (out.entries[i].function == function)
			return &out.entries[i];
	return NULL;
}

/* A host as KVM_GET_SUPPORTED_CPUID and KVM_GET_SUPPORTED_HV_CPUID show
 * it: KVM's two leaves, and Hyper-V's 0x40000000-0x4000000A (one leaf
 * past our range, which must be left out). */
static void build(bool with_hyperv, uint32_t tsc_khz)
{
	struct cpuid_params params = {
		.cpu_index = 1,
		.cpu_count = 2,
		.threads_per_core = 1,
		.tsc_khz = tsc_khz,
		.hyperv = with_hyperv ? &hv : NULL,
	};
	struct tern_error err;

	memset(&supported, 0, sizeof(supported));
	memset(&hv, 0, sizeof(hv));
	add(&supported, 0x0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(&supported, 0x1, 0x906ea, 0, 0, 0);
	add(&supported, 0x40000000, 0x40000001, 0, 0, 0);
	add(&supported, 0x40000001, 0x01007afb, 0, 0, 0);
	add(&supported, 0x80000000, 0x80000008, 0, 0, 0);
	/* "Linux KVM Hv", "Hv#1", features: SynIC, timers, time ref. */
	add(&hv, 0x40000000, 0x4000000a, 0x756e694c, 0x564b2078, 0x7648204d);
	add(&hv, 0x40000001, 0x31237648, 0, 0, 0);
	add(&hv, 0x40000003, 0x2ff, 0x830, 0, 0xbed7b2);
	add(&hv, 0x4000000a, 0, 0, 0, 0);
	add(&hv, 0x40000100, 0xdead, 0, 0, 0);
	assert_int_equal(cpuid_build(&supported, &params, &out, &err), 0);
}

static void without_hyperv_kvm_stays_at_0x40000000(void **state)
{
	(void)state;
	build(false, 2000000);
	assert_int_equal(find(0x40000000)->ebx, 0x4b4d564b); /* "KVMK" */
	assert_int_equal(find(0x40000000)->eax, 0x40000010);
	assert_non_null(find(0x40000010));
	assert_null(find(0x40000100));
}

static void hyperv_leaves_first_and_kvm_moved_up(void **state)
{
	const struct kvm_cpuid_entry2 *kvm;

	(void)state;
	build(true, 2000000);
	/* Hyper-V's signature and features where Windows and kvm-unit-tests
	 * look. */
	assert_int_equal(find(0x40000000)->eax, 0x4000000a);
	assert_int_equal(find(0x40000000)->ebx, 0x756e694c);
	assert_int_equal(find(0x40000001)->eax, 0x31237648);
	assert_int_equal(find(0x40000003)->eax, 0x2ff);
	assert_int_equal(find(0x40000003)->edx, 0xbed7b2);
	/* KVM's signature, features and TSC leaf 0x100 up, its maximum leaf
	 * with them: Linux scans in steps of 0x100 and checks EAX against
	 * the base it found. */
	kvm = find(0x40000100);
	assert_non_null(kvm);
	assert_int_equal(kvm->ebx, 0x4b4d564b);
	assert_int_equal(kvm->eax, 0x40000110);
	assert_int_equal(find(0x40000101)->eax, 0x01007afb);
	assert_int_equal(find(0x40000110)->eax, 2000000);
	assert_null(find(0x40000010));
	/* The hypervisor bit is set either way. */
	assert_true(find(0x1)->ecx & (1u << 31));
}

static void hyperv_table_stays_ordered(void **state)
{
	(void)state;
	build(true, 0);
	for (uint32_t i = 1; i < out.header.nent; i++)
		assert_true(out.entries[i - 1].function <=
			    out.entries[i].function);
	/* 5 of ours, 4 of Hyper-V's, the leaf past the range left out. */
	assert_int_equal(out.header.nent, 2 + 4 + 2 + 1);
	assert_int_equal(find(0x80000000)->eax, 0x80000008);
}

static void hyperv_overflow_is_refused(void **state)
{
	(void)state;
	memset(&out, 0, sizeof(out));
	memset(&hv, 0, sizeof(hv));
	for (int i = 0; i < CPUID_MAX_ENTRIES - 1; i++)
		add(&out, 0x80000000u + (uint32_t)i, 0, 0, 0, 0);
	add(&hv, 0x40000000, 0x40000001, 0, 0, 0);
	add(&hv, 0x40000001, 0, 0, 0, 0);
	assert_int_equal(cpuid_place_hyperv_leaves(&out, &hv), -E2BIG);
}

static int missing_cap;

static int fake_check(int fd, int cap)
{
	(void)fd;
	return cap == missing_cap ? 0 : 1;
}

static void host_without_synic_is_refused_by_name(void **state)
{
	struct tern_error err;

	(void)state;
	missing_cap = -1;
	assert_int_equal(hyperv_check_host(-1, fake_check, &err), 0);
	missing_cap = KVM_CAP_HYPERV_SYNIC2;
	assert_int_equal(hyperv_check_host(-1, fake_check, &err), -ENOTSUP);
	assert_non_null(strstr(err.message, "KVM_CAP_HYPERV_SYNIC2"));
	assert_non_null(strstr(err.message, "kvm_hyperv"));
}

static void decode_matches_kvm_unit_tests(void **state)
{
	struct hyperv_testdev_command cmd;

	(void)state;
	/* msg_conn_create(sint 8, conn 0x11) on vCPU 1:
	 * (conn << 24) | (ctl << 16) | (vcpu << 8) | sint */
	assert_true(hyperv_testdev_decode(0x11040108, &cmd));
	assert_int_equal(cmd.op, HYPERV_TESTDEV_MSG_CONN_CREATE);
	assert_int_equal(cmd.conn_id, 0x11);
	assert_int_equal(cmd.vp_index, 1);
	assert_int_equal(cmd.sint, 8);
	assert_false(hyperv_testdev_decode(0x00000000, &cmd));
	assert_false(hyperv_testdev_decode(0x00080000, &cmd));
	assert_false(hyperv_testdev_decode(0xffffffff, &cmd));
}

/* The VM the device sees: 2 vCPUs, 1 MiB of RAM, SynIC MSRs set by the
 * test, raised GSIs counted. */
#define MSG_PAGE 0x10000ull
#define EVT_PAGE 0x20000ull
#define INPUT 0x30000ull

struct fake_vm {
	struct guest_memory mem;
	struct irq_routing routing;
	uint64_t control[2], msg_page[2], evt_page[2];
	int raised[1024];
	int watched;
};

static void fake_raise(void *opaque, uint32_t gsi)
{
	struct fake_vm *vm = opaque;

	if (gsi < 1024)
		vm->raised[gsi]++;
}

static bool fake_synic(void *opaque, uint32_t vp, uint64_t *control,
		       uint64_t *msg_page, uint64_t *evt_page)
{
	struct fake_vm *vm = opaque;

	if (vp >= 2)
		return false;
	*control = vm->control[vp];
	*msg_page = vm->msg_page[vp];
	*evt_page = vm->evt_page[vp];
	return true;
}

static int fake_watch(void *opaque, uint32_t gsi, int fd)
{
	struct fake_vm *vm = opaque;

	(void)gsi;
	(void)fd;
	return vm->watched++;
}

static void fake_unwatch(void *opaque, uint32_t gsi, int handle)
{
	struct fake_vm *vm = opaque;

	(void)gsi;
	(void)handle;
	vm->watched--;
}

struct rig {
	struct fake_vm vm;
	struct hyperv_testdev *t;
	struct device *dev;
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct hyperv_testdev_host host = {
		.raise = fake_raise,
		.synic = fake_synic,
		.watch_ack = fake_watch,
		.unwatch_ack = fake_unwatch,
		.routing = &r->vm.routing,
		.memory = &r->vm.mem,
		.vcpu_count = 2,
		.ack_fd = -1,
	};

	assert_non_null(r);
	host.opaque = &r->vm;
	assert_int_equal(guest_memory_init(&r->vm.mem, 1u << 20), 0);
	assert_int_equal(irq_routing_init(&r->vm.routing, -1), 0);
	for (int vp = 0; vp < 2; vp++) {
		r->vm.control[vp] = 1;
		r->vm.msg_page[vp] = (MSG_PAGE + 0x1000u * (unsigned)vp) | 1;
		r->vm.evt_page[vp] = (EVT_PAGE + 0x1000u * (unsigned)vp) | 1;
	}
	r->t = hyperv_testdev_create(&host);
	assert_non_null(r->t);
	r->dev = hyperv_testdev_device(r->t);
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;

	r->dev->ops->destroy(r->dev);
	irq_routing_destroy(&r->vm.routing);
	guest_memory_destroy(&r->vm.mem);
	free(r);
	return 0;
}

static void command(struct rig *r, uint32_t op, uint32_t vp, uint32_t sint,
		    uint32_t conn)
{
	uint32_t value = (conn << 24) | (op << 16) | (vp << 8) | sint;

	r->dev->ops->io_write(r->dev, 0, &value, sizeof(value));
}

static uint8_t *ram(struct rig *r, uint64_t gpa)
{
	return guest_memory_ptr(&r->vm.mem, gpa, 1);
}

/* The route's GSI: the one SINT route in the table for (vp, sint). */
static int gsi_of(struct rig *r, uint32_t vp, uint32_t sint)
{
	const struct kvm_irq_routing *table = r->vm.routing.table;

	for (uint32_t i = 0; i < table->nr; i++)
		if (table->entries[i].type == KVM_IRQ_ROUTING_HV_SINT &&
		    table->entries[i].u.hv_sint.vcpu == vp &&
		    table->entries[i].u.hv_sint.sint == sint)
			return (int)table->entries[i].gsi;
	return -1;
}

static void sint_routes_are_made_raised_and_removed(void **state)
{
	struct rig *r = *state;
	int gsi;

	command(r, HYPERV_TESTDEV_SINT_ROUTE_CREATE, 1, 15, 0);
	gsi = gsi_of(r, 1, 15);
	assert_true(gsi >= IRQ_ROUTING_IOAPIC_PINS);
	command(r, HYPERV_TESTDEV_SINT_ROUTE_SET_SINT, 1, 15, 0);
	command(r, HYPERV_TESTDEV_SINT_ROUTE_SET_SINT, 1, 15, 0);
	assert_int_equal(r->vm.raised[gsi], 2);
	command(r, HYPERV_TESTDEV_SINT_ROUTE_DESTROY, 1, 15, 0);
	assert_int_equal(gsi_of(r, 1, 15), -1);
	/* Gone: setting it raises nothing. */
	command(r, HYPERV_TESTDEV_SINT_ROUTE_SET_SINT, 1, 15, 0);
	assert_int_equal(r->vm.raised[gsi], 2);
	/* Made again, it gets its GSI back (GSIs are never freed). */
	command(r, HYPERV_TESTDEV_SINT_ROUTE_CREATE, 1, 15, 0);
	assert_int_equal(gsi_of(r, 1, 15), gsi);
}

static void hostile_commands_change_nothing(void **state)
{
	struct rig *r = *state;
	uint32_t nr = r->vm.routing.table->nr;
	uint16_t narrow = 0x0104;
	uint8_t back[4];

	command(r, HYPERV_TESTDEV_SINT_ROUTE_CREATE, 2, 0, 0); /* no vCPU 2 */
	command(r, HYPERV_TESTDEV_SINT_ROUTE_CREATE, 0, 16, 0); /* no SINT 16 */
	command(r, HYPERV_TESTDEV_SINT_ROUTE_CREATE, 255, 255, 0);
	command(r, HYPERV_TESTDEV_SINT_ROUTE_DESTROY, 0, 3, 0); /* none */
	command(r, HYPERV_TESTDEV_MSG_CONN_DESTROY, 0, 0, 7); /* none */
	command(r, HYPERV_TESTDEV_EVT_CONN_DESTROY, 0, 0, 7);
	command(r, 0x99, 0, 0, 0);
	r->dev->ops->io_write(r->dev, 0, &narrow, sizeof(narrow));
	r->dev->ops->io_write(r->dev, 1, &narrow, 1);
	assert_int_equal(r->vm.routing.table->nr, nr);
	r->dev->ops->io_read(r->dev, 0, back, sizeof(back));
	assert_int_equal(back[0] | back[1] | back[2] | back[3], 0);
}

static uint64_t post(struct rig *r, uint32_t conn, uint32_t type, uint32_t size,
		     uint64_t first)
{
	uint8_t *in = ram(r, INPUT);

	memset(in, 0, 256);
	memcpy(in + 0, &conn, 4);
	memcpy(in + 8, &type, 4);
	memcpy(in + 12, &size, 4);
	memcpy(in + 16, &first, 8);
	return hyperv_testdev_hypercall(r->t, NULL, HVCALL_POST_MESSAGE, INPUT,
					0);
}

static uint32_t slot_type(struct rig *r, uint32_t vp, uint32_t sint)
{
	uint32_t type;

	memcpy(&type, ram(r, MSG_PAGE + 0x1000u * vp + 256u * sint), 4);
	return type;
}

static void messages_land_in_the_slot_or_wait_for_it(void **state)
{
	struct rig *r = *state;
	uint8_t *slot = ram(r, MSG_PAGE + 0x1000 + 256 * 8);
	uint64_t payload;
	int gsi;

	command(r, HYPERV_TESTDEV_MSG_CONN_CREATE, 1, 8, 0x11);
	assert_int_equal(r->vm.watched, 1);
	gsi = gsi_of(r, 1, 8);
	assert_true(gsi >= 0);

	/* A free slot: the message, the SINT raised once. */
	assert_int_equal(post(r, 0x11, 0x12345678, 8, 0x10001),
			 HV_STATUS_SUCCESS);
	assert_int_equal(slot_type(r, 1, 8), 0x12345678);
	assert_int_equal(slot[4], 8); /* payload size */
	assert_int_equal(slot[5], 0); /* not pending */
	memcpy(&payload, slot + 16, 8);
	assert_int_equal(payload, 0x10001);
	assert_int_equal(r->vm.raised[gsi], 1);

	/* The guest has not taken it: pending, nothing raised, and a third
	 * message is refused until the second is out. */
	assert_int_equal(post(r, 0x11, 0x12345678, 8, 0x10002),
			 HV_STATUS_SUCCESS);
	assert_int_equal(slot[5] & 1, 1);
	memcpy(&payload, slot + 16, 8);
	assert_int_equal(payload, 0x10001);
	assert_int_equal(r->vm.raised[gsi], 1);
	assert_int_equal(post(r, 0x11, 0x12345678, 8, 0x10003),
			 HV_STATUS_INSUFFICIENT_BUFFERS);

	/* An acknowledgement while the slot is still taken changes
	 * nothing. */
	hyperv_testdev_acked(r->t);
	assert_int_equal(r->vm.raised[gsi], 1);

	/* The guest frees the slot and writes EOM: the waiting message. */
	memset(slot, 0, 4);
	hyperv_testdev_acked(r->t);
	memcpy(&payload, slot + 16, 8);
	assert_int_equal(payload, 0x10002);
	assert_int_equal(slot[5], 0);
	assert_int_equal(r->vm.raised[gsi], 2);

	command(r, HYPERV_TESTDEV_MSG_CONN_DESTROY, 0, 0, 0x11);
	assert_int_equal(r->vm.watched, 0);
	assert_int_equal(gsi_of(r, 1, 8), -1);
	assert_int_equal(post(r, 0x11, 0x12345678, 8, 1),
			 HV_STATUS_INVALID_CONNECTION_ID);
}

static void hostile_messages_are_refused(void **state)
{
	struct rig *r = *state;

	command(r, HYPERV_TESTDEV_MSG_CONN_CREATE, 0, 2, 0x10);
	assert_int_equal(post(r, 0x10, 0x1, 241, 0),
			 HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(post(r, 0x10, 0x80000010, 8, 0), 0x5);
	assert_int_equal(post(r, 0x10, 0, 8, 0), 0x5);
	assert_int_equal(post(r, 0x1234, 0x1, 8, 0),
			 HV_STATUS_INVALID_CONNECTION_ID);
	/* Misaligned, across a page, outside RAM, or "fast". */
	assert_int_equal(hyperv_testdev_hypercall(
				 r->t, NULL, HVCALL_POST_MESSAGE, INPUT + 4, 0),
			 HV_STATUS_INVALID_ALIGNMENT);
	assert_int_equal(hyperv_testdev_hypercall(r->t, NULL,
						  HVCALL_POST_MESSAGE,
						  INPUT + 0xf08, 0),
			 HV_STATUS_INVALID_ALIGNMENT);
	assert_int_equal(hyperv_testdev_hypercall(r->t, NULL,
						  HVCALL_POST_MESSAGE,
						  0xfff00000ull, 0),
			 HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(
		hyperv_testdev_hypercall(
			r->t, NULL, HVCALL_POST_MESSAGE | (1u << 16), INPUT, 0),
		HV_STATUS_INVALID_HYPERCALL_INPUT);
	assert_int_equal(hyperv_testdev_hypercall(r->t, NULL, 0x99, 0, 0),
			 HV_STATUS_INVALID_HYPERCALL_CODE);
	/* A message page outside RAM, or SynIC off: dropped, no crash. */
	r->vm.msg_page[0] = 0xfffff000ull | 1;
	assert_int_equal(post(r, 0x10, 0x1, 8, 0), HV_STATUS_SUCCESS);
	r->vm.msg_page[0] = MSG_PAGE | 1;
	r->vm.control[0] = 0;
	assert_int_equal(post(r, 0x10, 0x1, 8, 0), HV_STATUS_SUCCESS);
	assert_int_equal(slot_type(r, 0, 2), 0);
}

static void events_set_their_flag_once(void **state)
{
	struct rig *r = *state;
	uint64_t word;
	int gsi;

	command(r, HYPERV_TESTDEV_EVT_CONN_CREATE, 0, 9, 0x41);
	gsi = gsi_of(r, 0, 9);
	assert_true(gsi >= 0);
	/* Fast call: the connection id in the input register. */
	assert_int_equal(
		hyperv_testdev_hypercall(
			r->t, NULL, HVCALL_SIGNAL_EVENT | (1u << 16), 0x41, 0),
		HV_STATUS_SUCCESS);
	/* Flag 0x41: word 1, bit 1 of slot 9. */
	memcpy(&word, ram(r, EVT_PAGE + 256 * 9 + 8), 8);
	assert_int_equal(word, 2);
	assert_int_equal(r->vm.raised[gsi], 1);
	/* Already set: no second interrupt. */
	assert_int_equal(
		hyperv_testdev_hypercall(
			r->t, NULL, HVCALL_SIGNAL_EVENT | (1u << 16), 0x41, 0),
		HV_STATUS_SUCCESS);
	assert_int_equal(r->vm.raised[gsi], 1);
	/* kvm-unit-tests' probe, a flag number, a wide id. */
	assert_int_equal(hyperv_testdev_hypercall(
				 r->t, NULL, HVCALL_SIGNAL_EVENT | (1u << 16),
				 0x1234, 0),
			 HV_STATUS_INVALID_CONNECTION_ID);
	assert_int_equal(hyperv_testdev_hypercall(
				 r->t, NULL, HVCALL_SIGNAL_EVENT | (1u << 16),
				 0x100000041ull, 0),
			 0x11);
	assert_int_equal(hyperv_testdev_hypercall(
				 r->t, NULL, HVCALL_SIGNAL_EVENT | (1u << 16),
				 0x1000041ull, 0),
			 HV_STATUS_INVALID_HYPERCALL_INPUT);
	command(r, HYPERV_TESTDEV_EVT_CONN_DESTROY, 0, 0, 0x41);
	assert_int_equal(gsi_of(r, 0, 9), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(without_hyperv_kvm_stays_at_0x40000000),
		cmocka_unit_test(hyperv_leaves_first_and_kvm_moved_up),
		cmocka_unit_test(hyperv_table_stays_ordered),
		cmocka_unit_test(hyperv_overflow_is_refused),
		cmocka_unit_test(host_without_synic_is_refused_by_name),
		cmocka_unit_test(decode_matches_kvm_unit_tests),
		cmocka_unit_test_setup_teardown(
			sint_routes_are_made_raised_and_removed, rig_setup,
			rig_teardown),
		cmocka_unit_test_setup_teardown(hostile_commands_change_nothing,
						rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(
			messages_land_in_the_slot_or_wait_for_it, rig_setup,
			rig_teardown),
		cmocka_unit_test_setup_teardown(hostile_messages_are_refused,
						rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(events_set_their_flag_once,
						rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
