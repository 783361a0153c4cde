/* A not-started instance for the API targets, with a stand-in main thread
 * that answers InstanceStart and snapshot loads with a failure, as
 * instance_run() does when the VM cannot be made: every route is reachable
 * and nothing boots. */
#ifndef TERN_FUZZ_INSTANCE_H
#define TERN_FUZZ_INSTANCE_H

#include <pthread.h>

#include "control/instance.h"

struct fuzz_instance {
	struct instance *inst;
	int quit_fd[2];
	pthread_t main_thread;
};

/* Aborts on failure: a target without its instance is no target. */
void fuzz_instance_start(struct fuzz_instance *fi);
void fuzz_instance_stop(struct fuzz_instance *fi);

#endif
