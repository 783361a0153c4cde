/* The MMDS data store: one JSON document per VM that the API replaces
 * (PUT /mmds), merges into (PATCH /mmds, RFC 7396 JSON Merge Patch) and
 * reads (GET /mmds), and that the guest reads through tern's own HTTP
 * server (mmds_http.h), key by key as JSON or as EC2 IMDS text. The API
 * thread writes while virtio-net I/O threads read, so every access takes
 * the store's lock; a reader sees the document before or after a write,
 * never in between. The document's compact JSON text may not exceed the
 * size limit (Firecracker's --mmds-size-limit), checked on every write. */
#ifndef TERN_MMDS_MMDS_STORE_H
#define TERN_MMDS_MMDS_STORE_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "mmds/mmds_token.h"
#include "util/error.h"

/* Firecracker's default limit: the default API body limit, 51200 bytes. */
#define MMDS_DEFAULT_SIZE_LIMIT 51200

enum mmds_version {
	MMDS_V1 = 1, /* tokens optional (Firecracker's default, deprecated) */
	MMDS_V2 = 2, /* every GET needs a valid session token */
};

/* Why a guest's read failed. */
enum mmds_lookup {
	MMDS_FOUND = 0,
	MMDS_NOT_FOUND, /* no value at that path: 404 */
	MMDS_UNSUPPORTED, /* IMDS text of a number, array, bool or null: 501 */
	MMDS_NO_MEMORY,
};

/* Firecracker's mmds metrics, counted where the guest's frames reach the
 * MMDS (mmds_net.c, mmds_tcp.c): one set for all interfaces, as
 * Firecracker's. Relaxed atomics: device threads count, the metrics
 * thread reads. */
struct mmds_metrics {
	atomic_ullong rx_accepted; /* frames taken off the TX path */
	atomic_ullong
		rx_bad_eth; /* of those, ARP/IPv4/TCP that did not parse */
	atomic_ullong rx_count; /* TCP segments handed to the MMDS's TCP */
	atomic_ullong rx_accepted_unusual; /* segments it could not use */
	atomic_ullong rx_accepted_err; /* connections refused: table full */
	atomic_ullong tx_frames; /* frames to the guest */
	atomic_ullong tx_bytes;
	atomic_ullong connections_created;
	atomic_ullong connections_destroyed;
};

/* A NULL store (the fuzzers' and unit tests' bare TCP) counts nothing. */
#define MMDS_COUNT(store, counter, n)                                          \
	do {                                                                   \
		if (store)                                                     \
			atomic_fetch_add_explicit(&(store)->metrics.counter,   \
						  (n), memory_order_relaxed);  \
	} while (0)

struct mmds_store {
	pthread_mutex_t lock;
	json_t *data; /* json null until the first PUT */
	bool initialized; /* a PUT came: PATCH needs one first */
	size_t limit;
	enum mmds_version version;
	bool imds_compat; /* IMDS text whatever the Accept header says */
	/* Drawn by mmds_store_prepare_tokens() when a VM first serves the
	 * MMDS to a guest, not at creation: the HMAC needs OpenSSL, whose
	 * initialisation alone (the default provider, its algorithm tables)
	 * makes ~3 MiB of libcrypto and heap resident in every tern, and most
	 * VMs never serve an MMDS (docs/benchmarks.md, "Memory per VM"). */
	struct mmds_token_key token_key;
	bool tokens_ready; /* token_key is drawn; no token is valid before */
	/* Firecracker's mmds.rx_no_token / rx_invalid_token: GETs that came
	 * without a token or with an invalid one (V1 answers them anyway). */
	atomic_ullong rx_no_token;
	atomic_ullong rx_invalid_token;
	struct mmds_metrics metrics;
};

/* NULL with err set (out of memory). */
struct mmds_store *mmds_store_create(size_t limit, struct tern_error *err);
/* Draws the token key (once; later calls return 0 at once) on the thread
 * configuring the VM, before any device thread serves the store: OpenSSL
 * initialises there, outside the device thread's seccomp list. -errno with
 * err set when the host has no randomness or OpenSSL no HMAC-SHA256. */
int mmds_store_prepare_tokens(struct mmds_store *store, struct tern_error *err);
void mmds_store_destroy(struct mmds_store *store);

void mmds_store_set_mode(struct mmds_store *store, enum mmds_version version,
			 bool imds_compat);
enum mmds_version mmds_store_version(struct mmds_store *store);

/* PUT /mmds: doc replaces the document. -EFBIG when its compact text is
 * over the limit (the API's 413), -ENOMEM; the store is unchanged then. */
int mmds_store_put(struct mmds_store *store, const json_t *doc,
		   struct tern_error *err);

/* PATCH /mmds: RFC 7396 merge of patch into the document (a null member
 * removes the key). -ENOENT before any PUT (Firecracker's "not
 * initialized"), -EFBIG when the result is over the limit, -ENOMEM; the
 * store is unchanged then. */
int mmds_store_patch(struct mmds_store *store, const json_t *patch,
		     struct tern_error *err);

/* GET /mmds: a copy of the document ({} before any PUT); NULL when out of
 * memory. */
json_t *mmds_store_get(struct mmds_store *store);

/* The guest's GET: the value at path (a URI path: '/'-separated JSON
 * pointer tokens, "//" taken as "/", one trailing '/' ignored; path_len
 * bytes, no NUL needed) as compact JSON text (as_json, the guest asked
 * for application/json, unless imds_compat) or IMDS text (an object's keys
 * one a line, "/" after those holding objects; a string's own text). *out is
 * malloc'd, *out_len its length. */
enum mmds_lookup mmds_store_render(struct mmds_store *store, const char *path,
				   size_t path_len, bool as_json, char **out,
				   size_t *out_len, bool *is_json);

/* RFC 7396 on a tree: returns the merged target (which may be a new value;
 * the old reference is then released). Exposed for tests. */
json_t *mmds_merge_patch(json_t *target, const json_t *patch);

#endif
