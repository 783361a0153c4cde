/* MMDS session tokens (V2, and accepted by V1): PUT /latest/api/token with
 * X-metadata-token-ttl-seconds issues one, later GETs present it in
 * X-metadata-token. A token is its expiry time and an HMAC-SHA256 tag of it
 * under a key drawn at random for each VM: tern keeps no token list (a
 * guest cannot fill tern's memory by asking for tokens), a guest cannot
 * make one up or stretch its lifetime without the key, and a token from
 * another tern process (a restored snapshot, another VM) is not valid
 * here, as in Firecracker. */
#ifndef TERN_MMDS_MMDS_TOKEN_H
#define TERN_MMDS_MMDS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Firecracker's bounds for a token's time to live, in seconds. */
#define MMDS_TOKEN_TTL_MIN 1
#define MMDS_TOKEN_TTL_MAX 21600

/* Base64 of 16 bytes (expiry, tag), and the terminating NUL. */
#define MMDS_TOKEN_LEN 24
#define MMDS_TOKEN_SIZE (MMDS_TOKEN_LEN + 1)

struct mmds_token_key {
	uint8_t key[16];
};

/* A fresh random key (getrandom); -errno with err set when the host has
 * no randomness to give. */
int mmds_token_key_init(struct mmds_token_key *key, struct tern_error *err);

/* Writes a token valid until now_ms + ttl_s seconds into out. The caller
 * has checked ttl_s against the bounds above. */
void mmds_token_issue(const struct mmds_token_key *key, uint32_t ttl_s,
		      uint64_t now_ms, char out[MMDS_TOKEN_SIZE]);

/* Whether token (len bytes, not NUL-terminated, any content) is one this
 * key issued and it has not expired at now_ms. */
bool mmds_token_valid(const struct mmds_token_key *key, const char *token,
		      size_t len, uint64_t now_ms);

#endif
