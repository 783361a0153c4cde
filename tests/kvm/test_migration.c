/* Live migration of a tiny real-mode guest between two VMs of this process
 * on this machine's /dev/kvm, over a socketpair: the guest counts in a
 * register and in memory while its RAM is pre-copied; after the switch the
 * destination goes on counting from where the source stopped, with the
 * same memory. A connection cut in pre-copy, and a destination that
 * refuses after the source paused, leave the source counting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/x86/vcpu_setup.h"
#include "migration/migration_receive.h"
#include "migration/migration_send.h"
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

static const char *guest_dir(void)
{
	const char *d = getenv("TERN_TEST_GUEST_DIR");

	return d ? d : "build/guests";
}

static int create_vm(struct test_vm *t, int cpus, uint64_t memory,
		     struct tern_error *err)
{
	struct vm_config config = {
		.kvm_path = "/dev/kvm",
		.memory_size = memory,
		.cpu_count = cpus,
		.serial_mode = SERIAL_MODE_FILE,
		.serial_path = t->serial_path,
		.cpu_template = cpu_template_find("host"),
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
	while (t->vm.vcpus_running < t->vm.vcpu_count)
		usleep(1000);
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

static void expect_counting_past(struct test_vm *t, uint32_t from)
{
	for (int i = 0; i < 3000 && counter(t) <= from; i++)
		usleep(1000);
	assert_true(counter(t) > from);
}

static int hook_pause(void *opaque, struct tern_error *err)
{
	return vm_pause(opaque, err);
}

static int pauses;

static void hook_resume(void *opaque)
{
	struct tern_error err;

	pauses++;
	assert_int_equal(vm_resume(opaque, &err), 0);
}

/* The destination: its own VM, made from the stream. */
struct destination {
	int fd;
	struct test_vm *t;
	int ret;
	struct tern_error err;
	/* Cut the connection after this many messages (0: never). */
	int cut_after;
	/* Refuse after the whole VM came: send ERROR instead of ACK. */
	int refuse;
};

static void *destination_thread(void *arg)
{
	struct destination *d = arg;
	struct migration_machine machine;

	d->ret = migration_receive_machine(d->fd, &machine, &d->err);
	if (d->ret)
		return NULL;
	if (d->cut_after) {
		for (int i = 0; i < d->cut_after; i++) {
			uint8_t *payload = NULL;
			uint32_t type, length;

			if (migration_recv_message(d->fd, &type, &payload,
						   &length, &d->err))
				break;
			free(payload);
		}
		shutdown(d->fd, SHUT_RDWR);
		d->ret = -1;
		return NULL;
	}
	d->ret = create_vm(d->t, (int)machine.vcpu_count, machine.memory_size,
			   &d->err);
	if (!d->ret)
		d->ret = migration_receive_vm(&d->t->vm, d->fd, &machine,
					      &d->err);
	if (!d->ret && d->refuse) {
		migration_send_refusal(d->fd, "refused by the test");
		d->ret = -1;
	} else if (!d->ret) {
		d->ret = migration_send_ack(d->fd, &d->err);
	}
	return NULL;
}

static void migrates_and_keeps_counting(void **state)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct test_vm *b = calloc(1, sizeof(*b));
	struct destination d = {.t = b};
	struct migration_source_hooks hooks = {hook_pause, hook_resume, &a->vm};
	struct migration_progress progress = {0};
	struct tern_error err = {{0}};
	struct kvm_regs ra, rb;
	pthread_t dest;
	uint32_t at_switch;
	int sv[2];

	if (create_vm(a, 1, MEMORY_SIZE, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	start(a);
	expect_counting_past(a, 100000);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	d.fd = sv[1];
	assert_int_equal(pthread_create(&dest, NULL, destination_thread, &d),
			 0);
	if (migration_send_vm(&a->vm, sv[0], &hooks, &progress, &err))
		fail_msg("migration_send_vm: %s", err.message);
	pthread_join(dest, NULL);
	if (d.ret)
		fail_msg("destination: %s", d.err.message);
	assert_int_equal(atomic_load(&progress.phase), MIGRATION_COMPLETED);
	assert_true(a->vm.paused);

	/* The source stays paused: its state is the destination's. */
	at_switch = counter(a);
	assert_int_equal(counter(b), at_switch);
	assert_memory_equal(b->vm.memory.mapping, a->vm.memory.mapping,
			    MEMORY_SIZE);
	assert_int_equal(ioctl(a->vm.vcpus[0].fd, KVM_GET_REGS, &ra), 0);
	assert_int_equal(ioctl(b->vm.vcpus[0].fd, KVM_GET_REGS, &rb), 0);
	assert_int_equal(ra.rip, rb.rip);
	assert_int_equal(ra.rcx, rb.rcx);
	print_message(
		"switched at count %u after %llu passes, %llu KiB sent, "
		"downtime %.2f ms, total %.2f ms\n",
		at_switch, (unsigned long long)atomic_load(&progress.iteration),
		(unsigned long long)(atomic_load(&progress.bytes_sent) >> 10),
		(double)atomic_load(&progress.downtime_ns) / 1e6,
		(double)atomic_load(&progress.total_ns) / 1e6);
	finish(a);
	usleep(20 * 1000);
	assert_int_equal(counter(b), at_switch); /* not started yet */
	start(b);
	expect_counting_past(b, at_switch + 1000);
	finish(b);
	close(sv[0]);
	close(sv[1]);
	free(a);
	free(b);
}

/* Runs a migration of a counting guest to a destination that fails as d
 * says; the source must go on counting. */
static void failing_destination(struct destination *d, const char *needle)
{
	struct test_vm *a = calloc(1, sizeof(*a));
	struct test_vm *b = calloc(1, sizeof(*b));
	struct migration_source_hooks hooks = {hook_pause, hook_resume, &a->vm};
	struct migration_progress progress = {0};
	struct tern_error err = {{0}};
	pthread_t dest;
	uint32_t after;
	int sv[2];

	d->t = b;
	if (create_vm(a, 1, MEMORY_SIZE, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	start(a);
	expect_counting_past(a, 1000);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	d->fd = sv[1];
	assert_int_equal(pthread_create(&dest, NULL, destination_thread, d), 0);
	assert_true(migration_send_vm(&a->vm, sv[0], &hooks, &progress, &err) <
		    0);
	pthread_join(dest, NULL);
	print_message("source kept running: %s\n", err.message);
	if (!strstr(err.message, needle))
		fail_msg("expected '%s' in '%s'", needle, err.message);
	assert_int_equal(atomic_load(&progress.phase), MIGRATION_FAILED);
	assert_false(a->vm.paused);
	assert_int_equal(a->vm.memory_dirty_log, 0);
	after = counter(a);
	expect_counting_past(a, after + 1000);
	finish(a);
	if (!d->cut_after && b->vm.fd > 0)
		finish(b);
	close(sv[0]);
	close(sv[1]);
	free(a);
	free(b);
}

static void cut_connection_leaves_source_running(void **state)
{
	struct destination d = {.cut_after = 2};

	pauses = 0;
	failing_destination(&d, "connection closed");
	/* This guest's RAM fits in the socket buffers: the source may have
	 * paused for the switch before it saw the cut; then it resumed. */
	assert_true(pauses <= 1);
}

static void refusal_resumes_source(void **state)
{
	struct destination d = {.refuse = 1};

	pauses = 0;
	failing_destination(&d, "refused by the test");
	assert_int_equal(pauses, 1); /* paused for the switch, resumed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(migrates_and_keeps_counting),
		cmocka_unit_test(cut_connection_leaves_source_running),
		cmocka_unit_test(refusal_resumes_source),
	};

	log_mark_start();
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
