/* Snapshot and restore of a tiny real-mode guest on this machine's /dev/kvm:
 * the guest counts in a register and in memory; it is paused, snapshotted,
 * destroyed, restored into a new VM and resumed, and must go on counting
 * from where it was with its memory intact. Full then Diff must give the
 * same memory as a Full at the same point. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/vcpu_setup.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_sections.h"
#include "snapshot/state_file.h"
#include "util/file_map.h"
#include "util/log.h"
#include "vm/vm.h"

#define GUEST_LOAD_GPA 0x1000
#define COUNTER_GPA 0x8000
#define MEMORY_SIZE (64ULL << 20)

struct test_vm {
	struct vm vm;
	pthread_t runner;
	int running;
	char serial_path[64];
};

static char dir[] = "/tmp/tern-snapshot-XXXXXX";

static const char *guest_dir(void)
{
	const char *d = getenv("TERN_TEST_GUEST_DIR");

	return d ? d : "build/guests";
}

static char *path_in_dir(const char *name)
{
	static char paths[8][128];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

#define WITH_RNG 1
#define WITH_BALLOON 2
#define WITH_HYPERV 4

static int create_vm(struct test_vm *t, int cpus, uint64_t memory, int devices,
		     struct tern_error *err)
{
	struct vm_config config = {
		.kvm_path = "/dev/kvm",
		.memory_size = memory,
		.cpu_count = cpus,
		.serial_mode = SERIAL_MODE_FILE,
		.serial_path = t->serial_path,
		.cpu_template = cpu_template_find("host"),
		.virtio_rng = !!(devices & WITH_RNG),
		.balloon = {.enabled = !!(devices & WITH_BALLOON)},
		.kvm_hyperv = !!(devices & WITH_HYPERV),
	};
	int fd;

	snprintf(t->serial_path, sizeof(t->serial_path),
		 "/tmp/tern-serial-XXXXXX");
	fd = mkstemp(t->serial_path);
	assert_true(fd >= 0);
	close(fd);
	return vm_create(&t->vm, &config, err);
}

static void load_counter_guest(struct test_vm *t)
{
	struct tern_error err = {{0}};
	struct file_map image;
	char path[256];

	snprintf(path, sizeof(path), "%s/counter.bin", guest_dir());
	if (file_map_open(&image, path, "guest", &err))
		fail_msg("%s", err.message);
	assert_int_equal(guest_memory_write(&t->vm.memory, GUEST_LOAD_GPA,
					    image.data, image.size),
			 0);
	file_map_close(&image);
	if (x86_vcpu_set_real_mode_entry(t->vm.vcpus[0].fd, GUEST_LOAD_GPA,
					 &err))
		fail_msg("%s", err.message);
}

static void *run_vm(void *arg)
{
	struct test_vm *t = arg;

	vm_run(&t->vm);
	return NULL;
}

static void start(struct test_vm *t)
{
	assert_int_equal(pthread_create(&t->runner, NULL, run_vm, t), 0);
	t->running = 1;
}

static void pause_vm(struct test_vm *t)
{
	struct tern_error err = {{0}};

	/* vm_pause() waits for the vCPU threads vm_run() started. */
	while (t->vm.vcpus_running < t->vm.vcpu_count)
		usleep(1000);
	if (vm_pause(&t->vm, &err))
		fail_msg("vm_pause: %s", err.message);
}

static void resume_vm(struct test_vm *t)
{
	struct tern_error err = {{0}};

	if (vm_resume(&t->vm, &err))
		fail_msg("vm_resume: %s", err.message);
}

static void finish(struct test_vm *t)
{
	if (t->running) {
		vm_request_stop(&t->vm, VM_STOP_SIGNAL);
		pthread_join(t->runner, NULL);
		t->running = 0;
	}
	vm_destroy(&t->vm);
	unlink(t->serial_path);
}

static uint32_t counter(struct test_vm *t)
{
	uint32_t value;

	assert_int_equal(guest_memory_read(&t->vm.memory, COUNTER_GPA, &value,
					   sizeof(value)),
			 0);
	return value;
}

static struct kvm_regs regs(struct test_vm *t)
{
	struct kvm_regs r;

	assert_int_equal(ioctl(t->vm.vcpus[0].fd, KVM_GET_REGS, &r), 0);
	return r;
}

static uint8_t *copy_memory(struct test_vm *t)
{
	uint8_t *copy = malloc(t->vm.memory.mapping_size);

	assert_non_null(copy);
	memcpy(copy, t->vm.memory.mapping, t->vm.memory.mapping_size);
	return copy;
}

static void take(struct test_vm *t, const char *snap, const char *mem,
		 enum snapshot_type type)
{
	struct tern_error err = {{0}};
	struct snapshot_create_request req = {path_in_dir(snap),
					      path_in_dir(mem), type};
	struct snapshot_stats stats;

	if (snapshot_create(&t->vm, &req, &stats, &err))
		fail_msg("snapshot_create %s: %s", snap, err.message);
}

static void load_with(struct test_vm *t, const char *snap, const char *mem,
		      int devices)
{
	struct tern_error err = {{0}};

	if (create_vm(t, 1, MEMORY_SIZE, devices, &err))
		fail_msg("vm_create: %s", err.message);
	if (snapshot_load(&t->vm, path_in_dir(snap), path_in_dir(mem), NULL,
			  &err))
		fail_msg("snapshot_load %s: %s", snap, err.message);
}

static void load(struct test_vm *t, const char *snap, const char *mem)
{
	load_with(t, snap, mem, 0);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", from, to);
	assert_int_equal(system(cmd), 0);
}

static int files_equal(const char *a, const char *b)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "cmp -s %s %s", a, b);
	return system(cmd) == 0;
}

/* Waits until the paused-then-resumed guest has counted past `from`. */
static void expect_counting_past(struct test_vm *t, uint32_t from)
{
	for (int i = 0; i < 2000 && counter(t) <= from; i++)
		usleep(1000);
	assert_true(counter(t) > from);
}

static void full_and_diff_restore(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct test_vm *b = calloc(1, sizeof(*b));
	struct test_vm *c = calloc(1, sizeof(*c));
	struct tern_error err = {{0}};
	uint32_t count1, count2;
	struct kvm_regs regs1, regs2, r;
	uint8_t *mem1, *mem2;
	struct stat st;

	if (create_vm(a, 1, MEMORY_SIZE, 0, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	start(a);
	usleep(100 * 1000);

	/* Full at point 1. */
	pause_vm(a);
	count1 = counter(a);
	regs1 = regs(a);
	assert_true(count1 > 0);
	/* The store follows the increment: ecx is the count or one ahead. */
	assert_true((uint32_t)regs1.rcx - count1 <= 1);
	mem1 = copy_memory(a);
	take(a, "snap1", "mem", SNAPSHOT_FULL);
	copy_file(path_in_dir("mem"), path_in_dir("mem1"));
	/* Sparse: 64 MiB of RAM, a few pages of data. */
	assert_int_equal(stat(path_in_dir("mem"), &st), 0);
	assert_int_equal((uint64_t)st.st_size, MEMORY_SIZE);
	assert_true((uint64_t)st.st_blocks * 512 < (1u << 20));

	/* Diff at point 2 onto the same memory file, and a Full beside it. */
	resume_vm(a);
	expect_counting_past(a, count1 + 100000);
	pause_vm(a);
	count2 = counter(a);
	regs2 = regs(a);
	mem2 = copy_memory(a);
	take(a, "snap2", "mem", SNAPSHOT_DIFF);
	take(a, "snap2full", "mem2full", SNAPSHOT_FULL);
	assert_true(files_equal(path_in_dir("mem"), path_in_dir("mem2full")));
	finish(a);

	/* Restore point 2 (Full + Diff) into a new VM. */
	load(b, "snap2", "mem");
	assert_int_equal(counter(b), count2);
	assert_memory_equal(b->vm.memory.mapping, mem2, MEMORY_SIZE);
	r = regs(b);
	assert_int_equal(r.rip, regs2.rip);
	assert_int_equal(r.rcx, regs2.rcx);
	start(b);
	expect_counting_past(b, count2 + 1000);
	pause_vm(b);
	/* It went on from the restored count, not from zero. */
	assert_true((uint32_t)regs(b).rcx > count2);
	print_message("counted to %u (Full), %u (Diff); the restored VM went "
		      "on to %u\n",
		      count1, count2, counter(b));
	finish(b);

	/* Restore point 1 from the saved Full. */
	load(c, "snap1", "mem1");
	assert_int_equal(counter(c), count1);
	assert_memory_equal(c->vm.memory.mapping, mem1, MEMORY_SIZE);
	assert_int_equal(regs(c).rcx, regs1.rcx);
	start(c);
	expect_counting_past(c, count1 + 1000);
	finish(c);

	free(mem1);
	free(mem2);
	free(a);
	free(b);
	free(c);
}

static void expect_load_refused(int cpus, uint64_t memory, const char *snap,
				const char *mem, const char *needle)
{
	struct test_vm *t = calloc(1, sizeof(*t));
	struct tern_error err = {{0}};

	if (create_vm(t, cpus, memory, 0, &err))
		fail_msg("vm_create: %s", err.message);
	assert_true(snapshot_load(&t->vm, path_in_dir(snap), path_in_dir(mem),
				  NULL, &err) < 0);
	if (!strstr(err.message, needle))
		fail_msg("expected '%s' in '%s'", needle, err.message);
	print_message("refused: %s\n", err.message);
	finish(t);
	free(t);
}

static void mismatches_are_refused(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct tern_error err = {{0}};
	char cmd[512];

	if (create_vm(a, 1, MEMORY_SIZE, 0, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	/* Never started: a snapshot of the initial state is allowed. */
	take(a, "snap-m", "mem-m", SNAPSHOT_FULL);
	finish(a);
	free(a);

	expect_load_refused(
		1, 32ULL << 20, "snap-m", "mem-m",
		"the snapshot has 64 MiB of memory, this VM 32 MiB");
	expect_load_refused(2, MEMORY_SIZE, "snap-m", "mem-m",
			    "the snapshot has 1 vCPUs, this VM 2");
	expect_load_refused(1, MEMORY_SIZE, "nonexistent", "mem-m",
			    "No such file");
	snprintf(cmd, sizeof(cmd), "truncate -s 100 %s", path_in_dir("snap-m"));
	assert_int_equal(system(cmd), 0);
	expect_load_refused(1, MEMORY_SIZE, "snap-m", "mem-m", "truncated");
}

/* vCPU 0's saved CPUID entry for `function` (sub-leaf 0) in a state file
 * read into sf, to rewrite as another host or a later guest would have
 * left it; NULL when the snapshot has no such leaf. */
static struct kvm_cpuid_entry2 *saved_leaf(struct state_file *sf,
					   uint32_t function)
{
	const struct state_section *s =
		state_file_find(sf, snap_vcpu_id(0, SNAP_VCPU_CPUID));
	struct kvm_cpuid2 *cpuid;

	assert_non_null(s);
	cpuid = (struct kvm_cpuid2 *)s->data;
	for (uint32_t i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == function &&
		    cpuid->entries[i].index == 0)
			return &cpuid->entries[i];
	return NULL;
}

/* A snapshot whose guest saw a CPU feature this host lacks is refused
 * before anything changes, naming the feature. The state file is rewritten
 * with the bit set in vCPU 0's saved CPUID (leaf 7, EBX) and a fresh
 * checksum, as another host would have written it. */
static void missing_cpu_feature_is_refused(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct tern_error err = {{0}};
	struct state_file sf;
	struct kvm_cpuid_entry2 *leaf7;
	const struct cpuid_table *supported;
	uint32_t host_ebx = 0;
	int bit;

	if (create_vm(a, 1, MEMORY_SIZE, 0, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	take(a, "snap-c", "mem-c", SNAPSHOT_FULL);
	supported = &a->vm.kvm.supported_cpuid;
	for (uint32_t i = 0; i < supported->header.nent; i++)
		if (supported->entries[i].function == 7 &&
		    supported->entries[i].index == 0)
			host_ebx = supported->entries[i].ebx;
	finish(a);

	assert_int_equal(state_file_read(&sf, path_in_dir("snap-c"), &err), 0);
	leaf7 = saved_leaf(&sf, 7);
	if (!leaf7) {
		state_file_free(&sf);
		free(a);
		skip();
	}
	/* The highest bit neither the vCPU nor KVM has. */
	for (bit = 31; bit >= 0; bit--)
		if (!((leaf7->ebx | host_ebx) & (1u << bit)))
			break;
	assert_true(bit >= 0);
	leaf7->ebx |= 1u << bit;
	assert_int_equal(state_file_write(&sf, path_in_dir("snap-c"), &err), 0);
	state_file_free(&sf);
	expect_load_refused(1, MEMORY_SIZE, "snap-c", "mem-c",
			    "this host cannot restore the snapshot: its CPU "
			    "lacks feature");
	free(a);
}

/* OSXSAVE (CPUID 1.ecx bit 27) is no CPU feature but a mirror of the
 * guest's CR4.OSXSAVE, which KVM sets in the vCPU's CPUID once the guest
 * enables XSAVE, and which KVM never lists as supported. A snapshot of
 * such a guest (every Linux guest on an XSAVE host) must restore on the
 * same host: it was refused as "lacks feature (CPUID 1.ecx bit 27)". */
static void guest_enabled_osxsave_is_no_missing_feature(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct tern_error err = {{0}};
	struct state_file sf;
	struct kvm_cpuid_entry2 *leaf1;

	if (create_vm(a, 1, MEMORY_SIZE, 0, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	take(a, "snap-x", "mem-x", SNAPSHOT_FULL);
	finish(a);

	assert_int_equal(state_file_read(&sf, path_in_dir("snap-x"), &err), 0);
	leaf1 = saved_leaf(&sf, 1);
	assert_non_null(leaf1);
	leaf1->ecx |= 1u << 27;
	assert_int_equal(state_file_write(&sf, path_in_dir("snap-x"), &err), 0);
	state_file_free(&sf);
	load(a, "snap-x", "mem-x");
	finish(a);
	free(a);
}

static void diff_needs_a_full_first(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct tern_error err = {{0}};
	struct snapshot_create_request req = {
		path_in_dir("snap-d"), path_in_dir("mem-d"), SNAPSHOT_DIFF};

	if (create_vm(a, 1, MEMORY_SIZE, 0, &err))
		fail_msg("vm_create: %s", err.message);
	assert_true(snapshot_create(&a->vm, &req, NULL, &err) < 0);
	assert_non_null(strstr(err.message, "needs a Full snapshot"));
	finish(a);
	free(a);
}

static void expect_device_threads_running(const struct vm *vm)
{
	assert_true(vm->virtio_device_count > 0);
	for (int i = 0; i < vm->virtio_device_count; i++)
		assert_true(vm->virtio_devices[i].vdev->thread_started);
}

/* virtio-rng saves itself (core, queues, transport): a VM with one is
 * snapshotted and restored, and keeps counting; a Diff works too (device
 * writes are tracked beside KVM's dirty log); the balloon saves itself. */
static void virtio_rng_and_balloon_restore(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct tern_error err = {{0}};
	struct snapshot_create_request diff = {
		path_in_dir("snap-r2"), path_in_dir("mem-r"), SNAPSHOT_DIFF};
	struct snapshot_create_request full = {
		path_in_dir("snap-v"), path_in_dir("mem-v"), SNAPSHOT_FULL};
	struct snapshot_create_request unwritable = {"/nonexistent-dir/snap-u",
						     "/nonexistent-dir/mem-u",
						     SNAPSHOT_FULL};
	struct stat st;
	uint32_t count;

	if (create_vm(a, 1, MEMORY_SIZE, WITH_RNG, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	start(a);
	expect_counting_past(a, 1000);
	pause_vm(a);
	count = counter(a);
	take(a, "snap-r", "mem-r", SNAPSHOT_FULL);
	/* The create stops the device I/O threads around the device save and
	 * the memory file, and starts them again, also after a failure. */
	expect_device_threads_running(&a->vm);
	if (snapshot_create(&a->vm, &unwritable, NULL, &err) == 0)
		fail_msg("a memory file in a missing directory was written");
	expect_device_threads_running(&a->vm);
	if (snapshot_create(&a->vm, &diff, NULL, &err))
		fail_msg("Diff with virtio-rng: %s", err.message);
	finish(a);

	/* Without the rng the devices differ. */
	expect_load_refused(1, MEMORY_SIZE, "snap-r", "mem-r",
			    "the snapshot's VM has an entropy device "
			    "(virtio-rng), this VM has none");
	load_with(a, "snap-r", "mem-r", WITH_RNG);
	assert_int_equal(counter(a), count);
	start(a);
	expect_counting_past(a, count + 1000);
	finish(a);

	if (create_vm(a, 1, MEMORY_SIZE, WITH_BALLOON, &err))
		fail_msg("vm_create: %s", err.message);
	if (snapshot_create(&a->vm, &full, NULL, &err))
		fail_msg("Full with virtio-balloon: %s", err.message);
	assert_true(stat(path_in_dir("snap-v"), &st) == 0);
	finish(a);
	load_with(a, "snap-v", "mem-v", WITH_BALLOON);
	finish(a);
	free(a);
}

/* Rewrites a state file with section `id` replaced by its payload plus one
 * byte (every device refuses a length it did not write), or with an extra
 * section `id` when the file has none. */
static void rewrite_section(const char *snap, uint32_t id)
{
	struct tern_error err = {{0}};
	struct state_file in, out;
	int found = 0;

	assert_int_equal(state_file_read(&in, path_in_dir(snap), &err), 0);
	state_file_init(&out);
	for (uint32_t i = 0; i < in.section_count; i++) {
		const struct state_section *s = &in.sections[i];
		uint8_t *copy = calloc(1, s->length + 1);

		assert_non_null(copy);
		memcpy(copy, s->data, s->length);
		found |= s->id == id;
		assert_int_equal(state_file_add(&out, s->id, s->name, copy,
						s->length + (s->id == id),
						&err),
				 0);
		free(copy);
	}
	if (!found)
		assert_int_equal(state_file_add(&out, id, "from.the.future",
						"x", 1, &err),
				 0);
	assert_int_equal(state_file_write(&out, path_in_dir(snap), &err), 0);
	state_file_free(&in);
	state_file_free(&out);
}

/* The last device section of a state file, or 0. */
static uint32_t last_device_section(const char *snap)
{
	struct tern_error err = {{0}};
	struct state_file sf;
	uint32_t last = 0;

	assert_int_equal(state_file_read(&sf, path_in_dir(snap), &err), 0);
	for (uint32_t i = 0; i < sf.section_count; i++)
		if (sf.sections[i].id >= SNAP_DEVICE_BASE &&
		    sf.sections[i].id < SNAP_VIRTIO_BASE &&
		    sf.sections[i].id > last)
			last = sf.sections[i].id;
	state_file_free(&sf);
	return last;
}

/* A refused load changes nothing: every section is checked (the devices'
 * own bytes too) before the memory file is mapped or any device restored.
 * The bad section is the last device's, so a load that restored devices
 * in order before checking the next would already have mapped the memory
 * file and restored the others. */
static void refused_load_changes_nothing(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct tern_error err = {{0}};
	uint8_t *before;
	uint32_t last;

	if (create_vm(a, 1, MEMORY_SIZE, WITH_RNG, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	start(a);
	expect_counting_past(a, 100);
	pause_vm(a);
	take(a, "snap-b", "mem-b", SNAPSHOT_FULL);
	finish(a);
	last = last_device_section("snap-b");
	assert_true(last > SNAP_DEVICE_BASE);
	rewrite_section("snap-b", last);

	if (create_vm(a, 1, MEMORY_SIZE, WITH_RNG, &err))
		fail_msg("vm_create: %s", err.message);
	before = copy_memory(a);
	assert_true(snapshot_load(&a->vm, path_in_dir("snap-b"),
				  path_in_dir("mem-b"), NULL, &err) < 0);
	print_message("refused: %s\n", err.message);
	if (!strstr(err.message, "snapshot state of device") ||
	    !strstr(err.message, "is invalid"))
		fail_msg("unclear refusal: %s", err.message);
	/* Still the fresh VM's memory, not the memory file's guest. */
	if (memcmp(before, a->vm.memory.mapping, a->vm.memory.mapping_size))
		fail_msg("the refused load changed guest memory");
	free(before);
	finish(a);

	/* A section this tern does not know would be dropped: refused. */
	if (create_vm(a, 1, MEMORY_SIZE, 0, &err))
		fail_msg("vm_create: %s", err.message);
	take(a, "snap-n", "mem-n", SNAPSHOT_FULL);
	finish(a);
	/* Between the VM-wide ids and the vCPUs' (SNAP_VCPU_BASE), far
	 * above the last VM-wide one: no entry of the sequence owns it. */
	rewrite_section("snap-n", SNAP_VCPU_BASE - 1);
	expect_load_refused(1, MEMORY_SIZE, "snap-n", "mem-n",
			    "that this tern cannot restore");
	free(a);
}

/* Hyper-V MSRs a guest set, written here as the host: what a snapshot must
 * carry for a Windows guest's SynIC, timers and hypercall page. */
static const struct {
	uint32_t index;
	uint64_t value;
} hyperv_values[] = {
	{0x40000000, 0x8f00ull << 48}, /* guest OS id */
	{0x40000080, 1}, /* SCONTROL: SynIC on */
	{0x40000083, 0x200000 | 1}, /* SIMP at 2 MiB, enabled */
	{0x40000082, 0x201000 | 1}, /* SIEFP */
	{0x40000092, 0xb2}, /* SINT2: vector 0xb2, unmasked */
	{0x400000b0, 0x2 << 16 | 0x2}, /* STIMER0: periodic, SINT2, off */
	{0x400000b1, 123456}, /* STIMER0 count */
};

static uint64_t read_msr(struct test_vm *t, uint32_t index)
{
	struct {
		struct kvm_msrs header;
		struct kvm_msr_entry entry;
	} msr = {.header.nmsrs = 1, .entry.index = index};

	assert_int_equal(ioctl(t->vm.vcpus[0].fd, KVM_GET_MSRS, &msr), 1);
	return msr.entry.data;
}

static const struct kvm_cpuid_entry2 *cpuid_leaf(const struct cpuid_table *t,
						 uint32_t function)
{
	for (uint32_t i = 0; i < t->header.nent; i++)
		if (t->entries[i].function == function)
			return &t->entries[i];
	return NULL;
}

static void hyperv_state_restores(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct test_vm *b = calloc(1, sizeof(*b));
	struct cpuid_table *cpuid = calloc(1, sizeof(*cpuid));
	struct tern_error err = {{0}};
	const struct kvm_cpuid_entry2 *hv, *kvm;
	int ret;

	(void)state;
	ret = create_vm(a, 1, MEMORY_SIZE, WITH_HYPERV, &err);
	if (ret) {
		/* A host KVM without Hyper-V: refused by name, not run. */
		if (ret == -ENOTSUP && strstr(err.message, "kvm_hyperv")) {
			print_message("skipped: %s\n", err.message);
			free(a);
			free(b);
			free(cpuid);
			return;
		}
		fail_msg("vm_create: %s", err.message);
	}
	/* Hyper-V's leaves first, KVM's 0x100 above: "Linux KVM Hv" and
	 * "KVMKVMKVM". */
	cpuid->header.nent = CPUID_MAX_ENTRIES;
	assert_int_equal(ioctl(a->vm.vcpus[0].fd, KVM_GET_CPUID2, cpuid), 0);
	hv = cpuid_leaf(cpuid, 0x40000000);
	kvm = cpuid_leaf(cpuid, 0x40000100);
	assert_non_null(hv);
	assert_non_null(kvm);
	assert_int_equal(hv->ebx, 0x756e694c); /* "Linu" */
	assert_int_equal(kvm->ebx, 0x4b4d564b); /* "KVMK" */
	assert_true(kvm->eax >= 0x40000101);
	assert_int_equal(read_msr(a, 0x40000002), 0); /* VP index */
	for (size_t i = 0; i < sizeof(hyperv_values) / sizeof(hyperv_values[0]);
	     i++) {
		struct {
			struct kvm_msrs header;
			struct kvm_msr_entry entry;
		} msr = {.header.nmsrs = 1,
			 .entry = {.index = hyperv_values[i].index,
				   .data = hyperv_values[i].value}};

		assert_int_equal(ioctl(a->vm.vcpus[0].fd, KVM_SET_MSRS, &msr),
				 1);
	}
	load_counter_guest(a);
	start(a);
	usleep(50 * 1000);
	pause_vm(a);
	take(a, "hv.snap", "hv.mem", SNAPSHOT_FULL);
	finish(a);

	load_with(b, "hv.snap", "hv.mem", WITH_HYPERV);
	for (size_t i = 0; i < sizeof(hyperv_values) / sizeof(hyperv_values[0]);
	     i++)
		assert_int_equal(read_msr(b, hyperv_values[i].index),
				 hyperv_values[i].value);
	start(b);
	expect_counting_past(b, counter(b) + 1000);
	finish(b);
	free(a);
	free(b);
	free(cpuid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_and_diff_restore),
		cmocka_unit_test(mismatches_are_refused),
		cmocka_unit_test(missing_cpu_feature_is_refused),
		cmocka_unit_test(guest_enabled_osxsave_is_no_missing_feature),
		cmocka_unit_test(diff_needs_a_full_first),
		cmocka_unit_test(virtio_rng_and_balloon_restore),
		cmocka_unit_test(refused_load_changes_nothing),
		cmocka_unit_test(hyperv_state_restores),
	};
	char cmd[128];
	int ret;

	log_mark_start();
	log_set_level(LOG_WARN);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ret = 1;
	return ret;
}
