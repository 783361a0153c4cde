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
#include "migration/migration_tls.h"
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
	struct migration_tls *tls; /* NULL: plain */
	struct migration_stream *stream;
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

	d->ret = d->tls
		? migration_tls_start(d->tls, d->fd, NULL, &d->stream, &d->err)
		: migration_stream_plain(d->fd, &d->stream);
	if (d->ret)
		return NULL;
	d->ret = migration_receive_machine(d->stream, &machine, &d->err);
	if (d->ret)
		return NULL;
	if (d->cut_after) {
		for (int i = 0; i < d->cut_after; i++) {
			uint8_t *payload = NULL;
			uint32_t type, length;

			if (migration_recv_message(d->stream, &type, &payload,
						   &length, &d->err))
				break;
			free(payload);
		}
		shutdown(d->stream->fd, SHUT_RDWR);
		d->ret = -1;
		return NULL;
	}
	d->ret = create_vm(d->t, (int)machine.vcpu_count, machine.memory_size,
			   &d->err);
	if (!d->ret)
		d->ret = migration_receive_vm(&d->t->vm, d->stream, &machine,
					      &d->err);
	if (!d->ret && d->refuse) {
		migration_send_refusal(d->stream, "refused by the test");
		d->ret = -1;
	} else if (!d->ret) {
		d->ret = migration_send_ack(d->stream, &d->err);
	}
	return NULL;
}

/* Starts the destination thread on one end of a socketpair and returns
 * the source's stream on the other: over TLS with a pre-shared key when
 * psk_file is set (the handshake runs with the destination's). */
static struct migration_stream *start_destination(struct destination *d,
						  const char *psk_file,
						  pthread_t *thread)
{
	struct migration_transport_config c = {.psk_file = (char *)psk_file};
	struct migration_stream *s = NULL;
	struct migration_tls *client = NULL;
	struct tern_error err = {{0}};
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	d->fd = sv[1];
	if (psk_file &&
	    (migration_tls_new(&c, 1, &d->tls, &err) ||
	     migration_tls_new(&c, 0, &client, &err)))
		fail_msg("%s", err.message);
	assert_int_equal(pthread_create(thread, NULL, destination_thread, d),
			 0);
	if (!psk_file)
		assert_int_equal(migration_stream_plain(sv[0], &s), 0);
	else if (migration_tls_start(client, sv[0], NULL, &s, &err))
		fail_msg("TLS handshake: %s", err.message);
	migration_tls_free(client);
	return s;
}

static void finish_destination(struct destination *d, pthread_t thread)
{
	pthread_join(thread, NULL);
	migration_tls_free(d->tls);
	d->tls = NULL;
}

static void migrate_and_keep_counting(const char *psk_file)
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
	struct migration_stream *s;

	if (create_vm(a, 1, MEMORY_SIZE, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	start(a);
	expect_counting_past(a, 100000);

	s = start_destination(&d, psk_file, &dest);
	if (migration_send_vm(&a->vm, s, &hooks, &progress, &err))
		fail_msg("migration_send_vm: %s", err.message);
	finish_destination(&d, dest);
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
		"%s: switched at count %u after %llu passes, %llu KiB sent, "
		"downtime %.2f ms, total %.2f ms\n",
		s->description, at_switch,
		(unsigned long long)atomic_load(&progress.iteration),
		(unsigned long long)(atomic_load(&progress.bytes_sent) >> 10),
		(double)atomic_load(&progress.downtime_ns) / 1e6,
		(double)atomic_load(&progress.total_ns) / 1e6);
	finish(a);
	usleep(20 * 1000);
	assert_int_equal(counter(b), at_switch); /* not started yet */
	start(b);
	expect_counting_past(b, at_switch + 1000);
	finish(b);
	migration_stream_close(s);
	migration_stream_close(d.stream);
	free(a);
	free(b);
}

static void migrates_and_keeps_counting(void **state)
{
	migrate_and_keep_counting(NULL);
}

/* The same over TLS 1.3 with a pre-shared key made for the test. */
static void migrates_over_tls_and_keeps_counting(void **state)
{
	char path[] = "/tmp/tern-psk-XXXXXX";
	const char *hex = "00112233445566778899aabbccddeeff"
			  "00112233445566778899aabbccddeeff\n";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, hex, strlen(hex)), (ssize_t)strlen(hex));
	close(fd);
	migrate_and_keep_counting(path);
	unlink(path);
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
	struct migration_stream *s;
	pthread_t dest;
	uint32_t after;

	d->t = b;
	if (create_vm(a, 1, MEMORY_SIZE, &err))
		fail_msg("vm_create: %s", err.message);
	load_counter_guest(a);
	start(a);
	expect_counting_past(a, 1000);
	s = start_destination(d, NULL, &dest);
	assert_true(migration_send_vm(&a->vm, s, &hooks, &progress, &err) < 0);
	finish_destination(d, dest);
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
	migration_stream_close(s);
	migration_stream_close(d->stream);
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
		cmocka_unit_test(migrates_over_tls_and_keeps_counting),
		cmocka_unit_test(cut_connection_leaves_source_running),
		cmocka_unit_test(refusal_resumes_source),
	};

	log_mark_start();
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
