/* GET /metrics from many VMs' terns at once, over their API sockets, all
 * bounded by one deadline: ternd serves on one thread, so a scrape must
 * not wait on VMs one after another, and a tern that does not answer (a
 * stopped process, a full backlog) costs at most the deadline, once,
 * however many VMs are stuck. */
#ifndef TERN_TERND_VM_SCRAPE_H
#define TERN_TERND_VM_SCRAPE_H

#include <stddef.h>

/* How long a scrape waits for the slowest VM. */
#define VM_SCRAPE_TIMEOUT_MS 1000

struct vm_scrape {
	const char *api_socket; /* in */
	/* out: ok with body (malloc'd, NUL-terminated, body_len bytes),
	 * else why. */
	int ok;
	char *body;
	size_t body_len;
	double seconds; /* how long this VM took (the deadline at most) */
	char why[160];
	/* private */
	int fd;
	char *buf;
	size_t len, cap;
	long long started_us;
	int done;
};

/* Fills each scrape's out fields; the bodies are the caller's to free(). */
void vm_scrape_all(struct vm_scrape *scrapes, size_t count, int timeout_ms);

#endif
