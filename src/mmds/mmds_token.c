#include "mmds/mmds_token.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* The tag covers a domain string with the expiry, so a MAC computed by
 * other users of a key (none today) never passes as a tag. HMAC-SHA256
 * from OpenSSL, truncated to 64 bits (RFC 2104 section 5 allows it): a
 * forged tag is a 2^64 guess per request over the guest's TCP. */
static uint64_t token_tag(const struct mmds_token_key *key,
			  const uint8_t expiry[8])
{
	uint8_t msg[16] = "tern-mmds";
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	uint64_t tag = 0;

	memcpy(msg + 8, expiry, 8);
	if (!HMAC(EVP_sha256(), key->key, sizeof(key->key), msg, sizeof(msg),
		  mac, &mac_len) ||
	    mac_len < 8)
		return 0; /* never issued: mmds_token_key_init checked it */
	for (int i = 7; i >= 0; i--)
		tag = (tag << 8) | mac[i];
	return tag;
}

int mmds_token_key_init(struct mmds_token_key *key, struct tern_error *err)
{
	size_t got = 0;
	uint8_t probe[8] = {0};

	while (got < sizeof(key->key)) {
		ssize_t n =
			getrandom(key->key + got, sizeof(key->key) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tern_error_set(err, errno ? errno : EIO,
					      "MMDS token key: getrandom: %s",
					      strerror(errno ? errno : EIO));
		got += (size_t)n;
	}
	/* OpenSSL initialises itself and fetches SHA-256 on first use: here,
	 * on the thread configuring the VM, not on the device thread whose
	 * seccomp list has no room for it. No configuration file is read. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
	if (token_tag(key, probe) == 0 && token_tag(key, probe) == 0)
		return tern_error_set(err, ENOTSUP,
				      "MMDS token key: OpenSSL has no "
				      "HMAC-SHA256");
	return 0;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void encode16(const uint8_t in[16], char out[MMDS_TOKEN_SIZE])
{
	EVP_EncodeBlock((unsigned char *)out, in, 16);
}

/* Only the exact encoding of 16 bytes: OpenSSL's decoder is lenient
 * (spaces, other padding), so what it gives is encoded again and must
 * be the token byte for byte. */
static bool decode16(const char *in, size_t len, uint8_t out[16])
{
	unsigned char decoded[MMDS_TOKEN_LEN];
	char again[MMDS_TOKEN_SIZE];

	if (len != MMDS_TOKEN_LEN ||
	    EVP_DecodeBlock(decoded, (const unsigned char *)in,
			    MMDS_TOKEN_LEN) != 18)
		return false;
	memcpy(out, decoded, 16);
	encode16(out, again);
	return memcmp(again, in, MMDS_TOKEN_LEN) == 0;
}
void mmds_token_issue(const struct mmds_token_key *key, uint32_t ttl_s,
		      uint64_t now_ms, char out[MMDS_TOKEN_SIZE])
{
	uint8_t raw[16];

	put_le64(raw, now_ms + (uint64_t)ttl_s * 1000);
	put_le64(raw + 8, token_tag(key, raw));
	encode16(raw, out);
}

bool mmds_token_valid(const struct mmds_token_key *key, const char *token,
		      size_t len, uint64_t now_ms)
{
	uint8_t raw[16];
	uint64_t diff;

	if (!decode16(token, len, raw))
		return false;
	/* Compared without an early exit: the time taken says nothing about
	 * how much of a guessed tag was right. */
	diff = get_le64(raw + 8) ^ token_tag(key, raw);
	if (diff)
		return false;
	return get_le64(raw) > now_ms;
}
