#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "util/thread.h"

static void *report_stack_size(void *arg)
{
	pthread_attr_t attr;

	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstacksize(&attr, arg);
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

/* tern's threads get THREAD_STACK_SIZE, under the 2 MiB that a
 * transparent huge page needs (util/thread.h), not glibc's 8 MiB. */
static void threads_get_the_small_stack(void **state)
{
	size_t size = 0;
	pthread_t thread;

	assert_int_equal(thread_start(&thread, report_stack_size, &size), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(size, THREAD_STACK_SIZE);
#if !defined(__SANITIZE_ADDRESS__)
	assert_true(size < (2u << 20));
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(threads_get_the_small_stack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
