#include "fuzz_instance.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config_check.h"
#include "util/log.h"

static void *fake_main_thread(void *arg)
{
	struct fuzz_instance *fi = arg;

	for (;;) {
		struct pollfd fds[2] = {
			{.fd = fi->inst->wake_fd, .events = POLLIN},
			{.fd = fi->quit_fd[0], .events = POLLIN}};
		uint64_t count;

		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[1].revents)
			return NULL;
		if (read(fi->inst->wake_fd, &count, sizeof(count)) <= 0)
			continue;
		pthread_mutex_lock(&fi->inst->lock);
		fi->inst->start_requested = 0;
		fi->inst->start_finished = 1;
		fi->inst->start_ret = -ENODEV;
		tern_error_set(&fi->inst->start_err, ENODEV,
			       "fuzz: no VM is made here");
		fi->inst->state = INSTANCE_NOT_STARTED;
		pthread_cond_broadcast(&fi->inst->cond);
		pthread_mutex_unlock(&fi->inst->lock);
	}
}

void fuzz_instance_start(struct fuzz_instance *fi)
{
	struct vm_config config;
	struct vm_config_storage storage = {0};
	struct tern_error err = {{0}};

	log_set_level(LOG_OFF);
	vm_config_set_defaults(&config);
	config.log_level = LOG_OFF;
	fi->inst = instance_create(&config, &storage, &err);
	if (!fi->inst || pipe(fi->quit_fd))
		abort();
	if (pthread_create(&fi->main_thread, NULL, fake_main_thread, fi))
		abort();
}

void fuzz_instance_stop(struct fuzz_instance *fi)
{
	if (write(fi->quit_fd[1], "q", 1) != 1)
		abort();
	pthread_join(fi->main_thread, NULL);
	close(fi->quit_fd[0]);
	close(fi->quit_fd[1]);
	instance_destroy(fi->inst);
}
