#include "control/migration_control.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migration/migration_receive.h"
#include "migration/migration_send.h"
#include "sandbox/seccomp.h"
#include "util/log.h"

struct migration_job {
	struct instance *inst;
	struct vm *vm;
	struct migration_stream *stream;
	char destination[128];
	struct migration_progress progress;
	struct tern_error err; /* written before phase becomes failed */
	pthread_t thread;
	int thread_started;
	/* A client follows GET /migration (tern migrate): after completing,
	 * the source lingers until it has read the result. */
	_Atomic int watched;
	_Atomic int result_read;
};

static int hook_pause(void *opaque, struct tern_error *err)
{
	return instance_pause(opaque, err);
}

static void hook_resume(void *opaque)
{
	struct tern_error err;

	if (instance_resume(opaque, &err))
		log_warn("migration: cannot resume the VM: %s", err.message);
}

static void *migration_thread(void *arg)
{
	struct migration_job *job = arg;
	struct migration_source_hooks hooks = {hook_pause, hook_resume,
					       job->inst};
	int ret;

	pthread_setname_np(pthread_self(), "migration");
	seccomp_enter_thread(SECCOMP_THREAD_MIGRATION);
	/* The error goes straight into the job: migration_send_vm fills it
	 * before it stores the failed phase, so a GET /migration that sees
	 * "failed" (instance_export_migration loads the phase first) always
	 * sees the reason too. Copied in afterwards, a GET in between showed
	 * "failed" with an empty error. */
	ret = migration_send_vm(job->vm, job->stream, &hooks, &job->progress,
				&job->err);
	migration_stream_close(job->stream);
	job->stream = NULL;
	if (ret) {
		log_warn("migration to %s failed, the VM goes on here: %s",
			 job->destination, job->err.message);
		return NULL;
	}
	log_info("migration to %s completed: %.1f ms total, downtime %.1f ms "
		 "(pause here to the destination's resume acknowledgement), "
		 "%llu passes, %llu MiB sent",
		 job->destination,
		 (double)atomic_load(&job->progress.total_ns) / 1e6,
		 (double)atomic_load(&job->progress.downtime_ns) / 1e6,
		 (unsigned long long)atomic_load(&job->progress.iteration),
		 (unsigned long long)(atomic_load(&job->progress.bytes_sent) >>
				      20));
	vm_request_stop(job->vm, VM_STOP_MIGRATED);
	return NULL;
}

static int job_active(const struct migration_job *job)
{
	int phase = atomic_load(&job->progress.phase);

	return phase == MIGRATION_PRECOPY || phase == MIGRATION_STOP_AND_COPY;
}

bool instance_migration_active(const struct instance *inst)
{
	return inst->migration && job_active(inst->migration);
}

int instance_migrate(struct instance *inst, const char *destination,
		     const struct migration_transport_config *transport,
		     struct tern_error *err)
{
	struct migration_transport_config own;
	struct migration_stream *stream = NULL;
	struct migration_job *job;
	int ret;

	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_RUNNING)
		ret = tern_error_set(err, EPERM,
				     "migration needs a running VM (state: "
				     "%s)",
				     instance_state_name(inst->state));
	else if (inst->migration && job_active(inst->migration))
		ret = tern_error_set(err, EBUSY,
				     "a migration to %s is in progress",
				     inst->migration->destination);
	else
		ret = migration_check_source(inst->vm, err);
	/* The request's transport, else the one tern run was given. */
	if (!ret)
		ret = migration_transport_config_copy(
			&own,
			transport && migration_transport_given(transport)
				? transport
				: &inst->migration_transport,
			err);
	pthread_mutex_unlock(&inst->lock);
	if (ret)
		return ret;
	ret = migration_transport_check(
		&own, "tls (or tern run --migration-tls)",
		"insecure_plain_tcp: true (or --insecure-plain-tcp)", err);
	/* The connection is made and authenticated here, so that an
	 * unreachable or refusing destination is this request's error. */
	if (!ret)
		ret = migration_transport_connect(destination, &own, &stream,
						  err);
	migration_transport_config_free(&own);
	if (ret)
		return ret;

	pthread_mutex_lock(&inst->lock);
	if (inst->state != INSTANCE_RUNNING ||
	    (inst->migration && job_active(inst->migration))) {
		pthread_mutex_unlock(&inst->lock);
		migration_stream_close(stream);
		return tern_error_set(err, EBUSY,
				      "the VM changed state meanwhile");
	}
	if (inst->migration) {
		/* A finished, failed one: its thread has ended. */
		if (inst->migration->thread_started)
			pthread_join(inst->migration->thread, NULL);
		free(inst->migration);
		inst->migration = NULL;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		pthread_mutex_unlock(&inst->lock);
		migration_stream_close(stream);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	job->inst = inst;
	job->vm = inst->vm;
	job->stream = stream;
	snprintf(job->destination, sizeof(job->destination), "%s", destination);
	atomic_store(&job->progress.phase, MIGRATION_PRECOPY);
	inst->migration = job;
	if (pthread_create(&job->thread, NULL, migration_thread, job)) {
		atomic_store(&job->progress.phase, MIGRATION_FAILED);
		tern_error_set(&job->err, EAGAIN,
			       "cannot start the migration thread");
		*err = job->err;
		migration_stream_close(stream);
		job->stream = NULL;
		pthread_mutex_unlock(&inst->lock);
		return -EAGAIN;
	}
	job->thread_started = 1;
	pthread_mutex_unlock(&inst->lock);
	log_info("migration to %s started over %s", destination,
		 stream->description);
	return 0;
}

json_t *instance_export_migration(struct instance *inst)
{
	struct migration_job *job;
	json_t *doc;

	pthread_mutex_lock(&inst->lock);
	job = inst->migration;
	if (!job) {
		doc = json_pack("{s:s}", "state", "none");
	} else {
		struct migration_progress *p = &job->progress;
		int phase = atomic_load(&p->phase);

		if (phase == MIGRATION_PRECOPY ||
		    phase == MIGRATION_STOP_AND_COPY)
			atomic_store(&job->watched, 1);
		else if (phase == MIGRATION_COMPLETED)
			atomic_store(&job->result_read, 1);

		doc = json_pack(
			"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:f}",
			"state", migration_phase_name(phase), "destination",
			job->destination, "iteration",
			(json_int_t)atomic_load(&p->iteration), "bytes_sent",
			(json_int_t)atomic_load(&p->bytes_sent),
			"dirty_pages_last_round",
			(json_int_t)atomic_load(&p->dirty_pages_last),
			"dirty_rate_pages_per_s",
			(json_int_t)atomic_load(&p->dirty_rate),
			"expected_downtime_ms",
			(json_int_t)atomic_load(&p->expected_downtime_ms),
			"downtime_ms",
			(double)atomic_load(&p->downtime_ns) / 1e6,
			"total_time_ms",
			(double)atomic_load(&p->total_ns) / 1e6);
		if (doc && phase == MIGRATION_FAILED)
			json_object_set_new(doc, "error",
					    json_string(job->err.message));
	}
	pthread_mutex_unlock(&inst->lock);
	return doc;
}

void instance_migration_join(struct instance *inst)
{
	struct migration_job *job;

	pthread_mutex_lock(&inst->lock);
	job = inst->migration;
	pthread_mutex_unlock(&inst->lock);
	if (job && job->thread_started) {
		pthread_join(job->thread, NULL);
		job->thread_started = 0;
	}
}

void instance_migration_linger(struct instance *inst)
{
	const struct timespec tick = {.tv_nsec = 10 * 1000000};
	struct migration_job *job;

	pthread_mutex_lock(&inst->lock);
	job = inst->migration;
	pthread_mutex_unlock(&inst->lock);
	if (!job || atomic_load(&job->progress.phase) != MIGRATION_COMPLETED ||
	    !atomic_load(&job->watched))
		return;
	for (int i = 0;
	     i < MIGRATION_LINGER_MS / 10 && !atomic_load(&job->result_read);
	     i++)
		nanosleep(&tick, NULL);
}

void instance_migration_free(struct instance *inst)
{
	instance_migration_join(inst);
	free(inst->migration);
	inst->migration = NULL;
	migration_stream_close(inst->incoming_stream);
	inst->incoming_stream = NULL;
	migration_listener_close(inst->incoming_listener);
	inst->incoming_listener = NULL;
	migration_transport_config_free(&inst->migration_transport);
}

/* Waits for fd to be readable or a stop signal; 1 = readable. */
static int wait_readable(int fd, int signal_fd, int *stopped_by_signal,
			 int *stop_signal)
{
	for (;;) {
		struct pollfd fds[2] = {
			{.fd = fd, .events = POLLIN},
			{.fd = signal_fd, .events = POLLIN},
		};
		struct signalfd_siginfo info;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return 0;
		if (fds[1].revents & POLLIN &&
		    read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
			*stopped_by_signal = 1;
			*stop_signal = (int)info.ssi_signo;
			return 0;
		}
		if (fds[0].revents)
			return 1;
	}
}

/* Waits for a source that passes the TLS handshake: a peer that fails it
 * (no or a wrong certificate or key) is turned away and the listener goes
 * on, so a stranger's connection neither gets the VM nor uses up the one
 * migration. Returns 1 with *stream, 0 on a stop signal, or an error. */
static int accept_authenticated(struct migration_listener *l, int signal_fd,
				int *stopped_by_signal, int *stop_signal,
				struct migration_stream **stream,
				struct tern_error *err)
{
	for (;;) {
		int ret;

		if (!wait_readable(migration_listener_fd(l), signal_fd,
				   stopped_by_signal, stop_signal)) {
			if (*stopped_by_signal)
				return 0;
			return tern_error_set(err, EIO, "poll failed");
		}
		ret = migration_listener_accept(l, stream, err);
		if (ret != -EACCES)
			return ret ? ret : 1;
		log_warn("incoming migration refused: %s", err->message);
	}
}

int instance_migration_listen(struct instance *inst, struct tern_error *err)
{
	int ret = migration_listener_open(inst->incoming_address,
					  &inst->migration_transport,
					  &inst->incoming_listener, err);

	if (!ret)
		log_info("waiting for an incoming migration on %s",
			 inst->incoming_address);
	return ret;
}

int instance_migration_accept(struct instance *inst, int signal_fd,
			      int *stopped_by_signal, int *stop_signal,
			      struct tern_error *err)
{
	struct migration_machine machine;
	struct migration_listener *listener;
	struct migration_stream *stream = NULL;
	int ret;

	*stopped_by_signal = 0;
	if (!inst->incoming_listener) {
		ret = instance_migration_listen(inst, err);
		if (ret)
			return ret;
	}
	listener = inst->incoming_listener;
	inst->incoming_listener = NULL;
	ret = accept_authenticated(listener, signal_fd, stopped_by_signal,
				   stop_signal, &stream, err);
	/* One migration: nobody else may connect from now on. */
	migration_listener_close(listener);
	if (ret <= 0)
		return *stopped_by_signal ? 1 : ret;
	ret = migration_receive_machine(stream, &machine, err);
	if (ret) {
		migration_send_refusal(stream, err->message);
		migration_stream_close(stream);
		return ret;
	}
	pthread_mutex_lock(&inst->lock);
	inst->config.cpu_count = (int)machine.vcpu_count;
	inst->config.memory_size = machine.memory_size;
	/* The source holds its disks' locks until it stopped the guest and
	 * flushed them: this VM takes them as it restores the state. */
	for (int i = 0; i < inst->config.disk_count; i++)
		inst->config.disks[i].lock_at_restore = true;
	inst->incoming_machine = machine;
	inst->incoming_stream = stream;
	pthread_mutex_unlock(&inst->lock);
	log_info("incoming migration over %s: %u vCPUs, %llu MiB",
		 stream->description, machine.vcpu_count,
		 (unsigned long long)(machine.memory_size >> 20));
	return 0;
}

int instance_migration_receive(struct instance *inst, struct vm *vm,
			       struct tern_error *err)
{
	int ret = migration_receive_vm(vm, inst->incoming_stream,
				       &inst->incoming_machine, err);

	if (ret) {
		migration_send_refusal(inst->incoming_stream, err->message);
		migration_stream_close(inst->incoming_stream);
		inst->incoming_stream = NULL;
	}
	return ret;
}

int instance_migration_acknowledge(struct instance *inst,
				   struct tern_error *err)
{
	int ret = migration_send_ack(inst->incoming_stream, err);

	migration_stream_close(inst->incoming_stream);
	inst->incoming_stream = NULL;
	migration_listener_close(inst->incoming_listener);
	inst->incoming_listener = NULL;
	return ret;
}
