/* Test-only crash points for ternd (compiled only into the sanitizer
 * build, -DTERN_TEST_HOOKS, as tern's own test hooks): with
 * TERND_TEST_KILL_AT=NAME in its environment, ternd kills itself with
 * SIGKILL when it reaches the point NAME, so the tests can show that a
 * kill -9 at the worst moment loses no committed definition and leaves no
 * half-created VM. Release builds have no such trigger. */
#ifndef TERN_TERND_TEST_HOOKS_H
#define TERN_TERND_TEST_HOOKS_H

#ifdef TERN_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static inline void ternd_test_kill_point(const char *name)
{
	const char *at = getenv("TERND_TEST_KILL_AT");

	if (at && !strcmp(at, name))
		raise(SIGKILL);
}
#define TERND_HAS_TEST_HOOKS 1
#else
static inline void ternd_test_kill_point(const char *name)
{
	(void)name;
}
#define TERND_HAS_TEST_HOOKS 0
#endif

#endif
