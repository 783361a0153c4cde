/* Starting tern's own long-lived threads (vCPUs, device I/O, timers,
 * metrics) with a stack sized for them instead of glibc's default, the
 * RLIMIT_STACK of 8 MiB.
 *
 * Why it matters for memory per VM: an 8 MiB stack mapping holds 2 MiB
 * aligned ranges, so on hosts with transparent huge pages set to "always"
 * (the kernel's default in many distributions, and the test host's) the
 * first touch of a stack can be backed by a whole 2 MiB huge page.
 * Measured by bench/density-probe: the RTC timer thread's stack of an idle
 * tern was 2048 KiB resident for a few KiB of real use. A stack mapping
 * under 2 MiB can never hold one, so its resident size is what the thread
 * really touched.
 *
 * The size: the deepest of these threads measured idle and booting was the
 * vCPU thread at 24 KiB; the deepest known path is a virtio-net thread
 * serving the MMDS, where jansson renders a document nested up to its
 * parser's limit of 2048 levels recursively (a few hundred KiB). 1 MiB
 * leaves room for both; the sanitizer build's frames are several times
 * larger, so it gets 4 MiB (a test build: its memory use is not measured). */
#ifndef TERN_UTIL_THREAD_H
#define TERN_UTIL_THREAD_H

#include <pthread.h>

#if defined(__SANITIZE_ADDRESS__)
#define THREAD_STACK_SIZE (4u << 20)
#else
#define THREAD_STACK_SIZE (1u << 20)
#endif

/* pthread_create with a THREAD_STACK_SIZE stack; returns 0 or the error
 * number, as pthread_create does. */
int thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
