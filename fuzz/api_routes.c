/* Fuzz target: the API's routes (src/api/api_routes.c) and everything
 * behind them on a not-started instance: "METHOD PATH\nBODY" as
 * libmicrohttpd would hand them over (its own request parsing is not
 * tern's code). A stand-in main thread answers InstanceStart and snapshot
 * loads with a failure, as instance_run() does when the VM cannot be made.
 *
 * Bodies name files (logger, metrics, snapshot paths): the target runs in
 * an empty directory of its own, emptied after every input, and skips
 * bodies with '/' or '\\' (which JSON could turn into '/'), so no input
 * reaches a file outside it. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_routes.h"
#include "config/config_check.h"
#include "control/instance.h"
#include "util/log.h"

static char work_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	return ftw->level ? remove(path) : 0;
}

static void empty_work_dir(void)
{
	nftw(work_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void remove_work_dir(void)
{
	empty_work_dir();
	rmdir(work_dir);
}

static void setup_once(void)
{
	if (work_dir[0])
		return;
	snprintf(work_dir, sizeof(work_dir), "/tmp/tern-fuzz-api-XXXXXX");
	if (!mkdtemp(work_dir) || chdir(work_dir))
		abort();
	atexit(remove_work_dir);
}

struct fake_main {
	struct instance *inst;
	int quit_fd[2];
};

/* instance_run()'s side of a start request, failing it. */
static void *fake_main_thread(void *arg)
{
	struct fake_main *m = arg;

	for (;;) {
		struct pollfd fds[2] = {
			{.fd = m->inst->wake_fd, .events = POLLIN},
			{.fd = m->quit_fd[0], .events = POLLIN}};
		uint64_t count;

		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[1].revents)
			return NULL;
		if (read(m->inst->wake_fd, &count, sizeof(count)) <= 0)
			continue;
		pthread_mutex_lock(&m->inst->lock);
		m->inst->start_requested = 0;
		m->inst->start_finished = 1;
		m->inst->start_ret = -ENODEV;
		tern_error_set(&m->inst->start_err, ENODEV,
			       "fuzz: no VM is made here");
		m->inst->state = INSTANCE_NOT_STARTED;
		pthread_cond_broadcast(&m->inst->cond);
		pthread_mutex_unlock(&m->inst->lock);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config config;
	struct vm_config_storage storage = {0};
	struct tern_error err = {{0}};
	struct fake_main m;
	pthread_t thread;
	const uint8_t *eol = memchr(data, '\n', size);
	char request[256], *path;
	const char *body;
	size_t body_len;

	if (!eol || (size_t)(eol - data) >= sizeof(request))
		return 0;
	body = (const char *)eol + 1;
	body_len = size - (size_t)(eol - data) - 1;
	if (memchr(body, '/', body_len) || memchr(body, '\\', body_len))
		return -1; /* not added to the corpus */
	memcpy(request, data, (size_t)(eol - data));
	request[eol - data] = '\0';
	path = strchr(request, ' ');
	if (!path)
		return 0;
	*path++ = '\0';

	setup_once();
	log_set_level(LOG_OFF);
	vm_config_set_defaults(&config);
	config.log_level = LOG_OFF;
	m.inst = instance_create(&config, &storage, &err);
	if (!m.inst || pipe(m.quit_fd))
		abort();
	if (pthread_create(&thread, NULL, fake_main_thread, &m))
		abort();

	/* In two parts, like each request: route, then the next one sees
	 * what the first configured. */
	for (int i = 0; i < 2; i++) {
		struct api_reply reply = {0};
		char *copy = malloc(body_len + 1);

		memcpy(copy, body, body_len);
		copy[body_len] = '\0';
		api_route(m.inst, request, path, copy, body_len, &reply);
		if (reply.status < 200 || reply.status > 599)
			abort();
		free(reply.body);
		free(copy);
	}

	if (write(m.quit_fd[1], "q", 1) != 1)
		abort();
	pthread_join(thread, NULL);
	close(m.quit_fd[0]);
	close(m.quit_fd[1]);
	instance_destroy(m.inst);
	log_close_file();
	empty_work_dir();
	return 0;
}
