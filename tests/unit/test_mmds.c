#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mmds/mmds_http.h"
#include "mmds/mmds_net.h"
#include "mmds/mmds_store.h"
#include "mmds/mmds_token.h"

#define T0 1000000ULL /* an arbitrary monotonic time, ms */

static struct mmds_store *store_with(const char *json)
{
	struct tern_error err;
	struct mmds_store *store = mmds_store_create(51200, &err);
	json_t *doc;

	assert_non_null(store);
	/* As vm.c does before a guest can reach the store. */
	assert_int_equal(mmds_store_prepare_tokens(store, &err), 0);
	if (json) {
		doc = json_loads(json, 0, NULL);
		assert_non_null(doc);
		assert_int_equal(mmds_store_put(store, doc, &err), 0);
		json_decref(doc);
	}
	return store;
}

static void tokens_expire_and_resist_tampering(void **state)
{
	struct mmds_token_key key, other;
	char token[MMDS_TOKEN_SIZE], bad[MMDS_TOKEN_SIZE];
	struct tern_error err;

	assert_int_equal(mmds_token_key_init(&key, &err), 0);
	assert_int_equal(mmds_token_key_init(&other, &err), 0);
	mmds_token_issue(&key, 60, T0, token);
	assert_int_equal(strlen(token), MMDS_TOKEN_LEN);
	assert_true(mmds_token_valid(&key, token, MMDS_TOKEN_LEN, T0));
	assert_true(mmds_token_valid(&key, token, MMDS_TOKEN_LEN, T0 + 59999));
	assert_false(mmds_token_valid(&key, token, MMDS_TOKEN_LEN, T0 + 60000));
	/* Another VM's key (or a restored snapshot's new one). */
	assert_false(mmds_token_valid(&other, token, MMDS_TOKEN_LEN, T0));
	/* Every single-character change is refused. */
	for (int i = 0; i < MMDS_TOKEN_LEN; i++) {
		memcpy(bad, token, sizeof(bad));
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_false(mmds_token_valid(&key, bad, MMDS_TOKEN_LEN, T0));
	}
	assert_false(mmds_token_valid(&key, token, MMDS_TOKEN_LEN - 1, T0));
	assert_false(mmds_token_valid(&key, "", 0, T0));
	assert_false(mmds_token_valid(&key, "INVALID_TOKEN", 13, T0));
}

static void put_patch_and_the_size_limit(void **state)
{
	struct tern_error err;
	struct mmds_store *store = mmds_store_create(40, &err);
	json_t *doc = json_loads("{\"a\":{\"b\":\"c\",\"d\":\"e\"}}", 0, NULL);
	json_t *patch = json_loads("{\"a\":{\"b\":null,\"x\":[1]},\"f\":\"g\"}",
				   0, NULL);
	json_t *big = json_loads(
		"{\"a\":\"0123456789012345678901234567890123456789\"}", 0,
		NULL);
	json_t *got;
	char *text;

	/* PATCH before any PUT: Firecracker's words. */
	assert_int_equal(mmds_store_patch(store, patch, &err), -ENOENT);
	assert_non_null(strstr(err.message, "not initialized"));
	got = mmds_store_get(store);
	assert_true(json_is_object(got) && json_object_size(got) == 0);
	json_decref(got);
	assert_int_equal(mmds_store_put(store, doc, &err), 0);
	assert_int_equal(mmds_store_patch(store, patch, &err), 0);
	got = mmds_store_get(store);
	text = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text,
			    "{\"a\":{\"d\":\"e\",\"x\":[1]},\"f\":\"g\"}");
	free(text);
	json_decref(got);
	/* Over the limit: refused, the store as it was. */
	assert_int_equal(mmds_store_put(store, big, &err), -EFBIG);
	assert_int_equal(mmds_store_patch(store, big, &err), -EFBIG);
	got = mmds_store_get(store);
	assert_non_null(json_object_get(got, "f"));
	json_decref(got);
	json_decref(doc);
	json_decref(patch);
	json_decref(big);
	mmds_store_destroy(store);
}

static void render(struct mmds_store *store, const char *path, bool json,
		   enum mmds_lookup want, const char *text)
{
	size_t len;
	char *out;
	bool is_json;

	assert_int_equal(mmds_store_render(store, path, strlen(path), json,
					   &out, &len, &is_json),
			 want);
	if (text) {
		assert_non_null(out);
		assert_int_equal(len, strlen(text));
		assert_memory_equal(out, text, len);
	}
	free(out);
}

static void reads_as_json_and_imds_text(void **state)
{
	struct mmds_store *store = store_with(
		"{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-1\",\"z\":{},"
		"\"arr\":[\"v0\",\"v1\"],\"n\":512,\"a/b\":\"slash\","
		"\"t~\":\"tilde\"}}}");

	render(store, "/latest/meta-data/ami-id", false, MMDS_FOUND, "ami-1");
	render(store, "/latest/meta-data/ami-id/", false, MMDS_FOUND, "ami-1");
	render(store, "//latest//meta-data///ami-id", false, MMDS_FOUND,
	       "ami-1");
	render(store, "/latest/meta-data/ami-id", true, MMDS_FOUND,
	       "\"ami-1\"");
	render(store, "/latest/meta-data", false, MMDS_FOUND,
	       "a/b\nami-id\narr\nn\nt~\nz/");
	render(store, "/latest", false, MMDS_FOUND, "meta-data/");
	render(store, "/latest/meta-data/arr/1", false, MMDS_FOUND, "v1");
	render(store, "/latest/meta-data/arr/2", false, MMDS_NOT_FOUND, NULL);
	render(store, "/latest/meta-data/arr/01", false, MMDS_NOT_FOUND, NULL);
	render(store, "/latest/meta-data/arr/-1", false, MMDS_NOT_FOUND, NULL);
	render(store, "/latest/meta-data/a~1b", false, MMDS_FOUND, "slash");
	render(store, "/latest/meta-data/t~0", false, MMDS_FOUND, "tilde");
	render(store, "/latest/meta-data/t~2", false, MMDS_NOT_FOUND, NULL);
	render(store, "/latest/meta-data/t~", false, MMDS_NOT_FOUND, NULL);
	render(store, "/latest/meta-data/n", false, MMDS_UNSUPPORTED, NULL);
	render(store, "/latest/meta-data/n", true, MMDS_FOUND, "512");
	render(store, "/latest/meta-data/arr", false, MMDS_UNSUPPORTED, NULL);
	render(store, "/nothing", false, MMDS_NOT_FOUND, NULL);
	/* imds_compat: text whatever the guest asks for. */
	mmds_store_set_mode(store, MMDS_V1, true);
	render(store, "/latest", true, MMDS_FOUND, "meta-data/");
	mmds_store_destroy(store);

	/* Empty store: null, which is JSON "null" and no IMDS text. */
	store = store_with(NULL);
	render(store, "/", true, MMDS_FOUND, "null");
	render(store, "/", false, MMDS_UNSUPPORTED, NULL);
	render(store, "/a", false, MMDS_NOT_FOUND, NULL);
	mmds_store_destroy(store);
}

/* One request through mmds_http_answer; returns the reply, NUL-ended. */
static char *ask(struct mmds_store *store, const char *request,
		 unsigned *status, uint64_t now)
{
	struct mmds_http_reply reply;
	char *text;

	assert_int_equal(mmds_http_answer(store, (const uint8_t *)request,
					  strlen(request), now, &reply),
			 0);
	*status = reply.status;
	text = malloc(reply.len + 1);
	memcpy(text, reply.data, reply.len);
	text[reply.len] = '\0';
	free(reply.data);
	return text;
}

static void expect(struct mmds_store *store, const char *request, unsigned want,
		   const char *words)
{
	unsigned status;
	char *text = ask(store, request, &status, T0);

	if (status != want || !strstr(text, words))
		fail_msg("%s -> %u %s", request, status, text);
	free(text);
}

static void http_v1_and_errors(void **state)
{
	struct mmds_store *store = store_with("{\"foo\":\"bar\",\"o\":{}}");

	expect(store, "GET /foo HTTP/1.1\r\n\r\n", 200, "\r\n\r\nbar");
	expect(store, "GET /foo HTTP/1.1\r\nAccept: application/json\r\n\r\n",
	       200, "Content-Type: application/json");
	expect(store, "GET /foo HTTP/1.0\n\n", 200, "HTTP/1.0 200");
	expect(store, "GET /foo?x=1 HTTP/1.1\r\n\r\n", 200, "bar");
	/* V1 answers with a bad token too (and counts it). */
	expect(store, "GET /foo HTTP/1.1\r\nX-metadata-token: x\r\n\r\n", 200,
	       "bar");
	assert_int_equal(store->rx_invalid_token, 1);
	expect(store, "GET /nope HTTP/1.1\r\n\r\n", 404,
	       "Resource not found: /nope.");
	expect(store, "GET / HTTP/1.1\r\nContent-Length: 100\r\n\r\n", 400,
	       "Invalid request.");
	expect(store, "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 200,
	       "foo\no/");
	expect(store, "DELETE / HTTP/1.1\r\n\r\n", 405, "Allow: GET, PUT");
	expect(store, "FROB / HTTP/1.1\r\n\r\n", 501,
	       "Unsupported HTTP method");
	expect(store, "GET / HTTP/2.0\r\n\r\n", 501,
	       "Unsupported HTTP version");
	expect(store, "GET foo HTTP/1.1\r\n\r\n", 400, "Invalid URI.");
	expect(store, "GET\r\n\r\n", 400, "Invalid request.");
	expect(store, "GET / HTTP/1.1\r\nno colon\r\n\r\n", 400,
	       "Invalid header.");
	expect(store, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 200,
	       "Connection: close");
	mmds_store_destroy(store);
}

static void http_v2_tokens(void **state)
{
	struct mmds_store *store = store_with("{\"foo\":\"bar\"}");
	char request[256], *text, *token;
	unsigned status;

	mmds_store_set_mode(store, MMDS_V2, false);
	expect(store, "GET /foo HTTP/1.1\r\n\r\n", 401,
	       "No MMDS token provided. Use `X-metadata-token`");
	expect(store, "GET /foo HTTP/1.1\r\nX-metadata-token: foo\r\n\r\n", 401,
	       "MMDS token not valid.");
	expect(store, "PUT /latest/api/token HTTP/1.1\r\n\r\n", 400,
	       "Token time to live value not found.");
	expect(store,
	       "PUT /latest/api/toke HTTP/1.1\r\n"
	       "X-metadata-token-ttl-seconds: 60\r\n\r\n",
	       404, "Resource not found: /latest/api/toke.");
	expect(store,
	       "PUT /latest/api/token HTTP/1.1\r\n"
	       "X-metadata-token-ttl-seconds: 0\r\n\r\n",
	       400,
	       "Invalid time to live value provided for token: 0. Please "
	       "provide a value between 1 and 21600.");
	expect(store,
	       "PUT /latest/api/token HTTP/1.1\r\n"
	       "X-metadata-token-ttl-seconds: 21601\r\n\r\n",
	       400, "token: 21601.");
	expect(store,
	       "PUT /latest/api/token HTTP/1.1\r\n"
	       "X-metadata-token-ttl-seconds: 99999999999\r\n\r\n",
	       400, "Invalid value. Key:X-metadata-token-ttl-seconds");
	expect(store, "PUT / HTTP/1.1\r\nX-Forwarded-For: foo\r\n\r\n", 400,
	       "Invalid header. Reason: Unsupported header name. Key: "
	       "X-Forwarded-For");
	text = ask(store,
		   "PUT //latest/api/token HTTP/1.1\r\n"
		   "x-aws-ec2-metadata-token-ttl-seconds: 2\r\n\r\n",
		   &status, T0);
	assert_int_equal(status, 200);
	assert_non_null(
		strstr(text, "x-aws-ec2-metadata-token-ttl-seconds: 2"));
	token = strstr(text, "\r\n\r\n") + 4;
	assert_int_equal(strlen(token), MMDS_TOKEN_LEN);
	snprintf(request, sizeof(request),
		 "GET /foo HTTP/1.1\r\nX-aws-ec2-metadata-token:  %s \r\n\r\n",
		 token);
	free(ask(store, request, &status, T0 + 1999));
	assert_int_equal(status, 200);
	free(ask(store, request, &status, T0 + 2000));
	assert_int_equal(status, 401);
	free(text);
	mmds_store_destroy(store);
}

/* The token key (and OpenSSL with it) waits until a VM serves the store:
 * before that no token is issued or accepted, and preparing twice keeps
 * the first key, so tokens already given out stay valid. */
static void tokens_wait_for_prepare(void **state)
{
	const char *put = "PUT /latest/api/token HTTP/1.1\r\n"
			  "X-metadata-token-ttl-seconds: 60\r\n\r\n";
	struct tern_error err;
	struct mmds_store *store = mmds_store_create(51200, &err);
	json_t *doc = json_loads("{\"foo\":\"bar\"}", 0, NULL);
	char request[256], *text;
	unsigned status;

	assert_non_null(store);
	assert_int_equal(mmds_store_put(store, doc, &err), 0);
	json_decref(doc);
	mmds_store_set_mode(store, MMDS_V2, false);
	assert_false(store->tokens_ready);
	expect(store, put, 500, "MMDS tokens are not available.");
	assert_int_equal(mmds_store_prepare_tokens(store, &err), 0);
	text = ask(store, put, &status, T0);
	assert_int_equal(status, 200);
	assert_int_equal(mmds_store_prepare_tokens(store, &err), 0);
	snprintf(request, sizeof(request),
		 "GET /foo HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n",
		 strstr(text, "\r\n\r\n") + 4);
	free(text);
	free(ask(store, request, &status, T0 + 1000));
	assert_int_equal(status, 200);
	mmds_store_destroy(store);
}

static void request_end_finds_the_blank_line(void **state)
{
	assert_int_equal(mmds_http_request_end((const uint8_t *)"GET /", 5), 0);
	assert_int_equal(
		mmds_http_request_end((const uint8_t *)"GET /\r\n\r\nX", 10),
		9);
	assert_int_equal(mmds_http_request_end((const uint8_t *)"GET /\n\n", 7),
			 7);
	assert_int_equal(mmds_http_request_end((const uint8_t *)"\n\r", 2), 0);
}

/* --- the network side -------------------------------------------------- */

static const uint8_t guest_mac[6] = {0xaa, 0xfc, 0, 0, 0, 1};
static const uint8_t mmds_mac[6] = MMDS_MAC;

struct wire {
	struct mmds_store *store;
	struct mmds_net *net;
	uint32_t mmds_ip, guest_ip;
	uint8_t frame[MMDS_FRAME_MAX];
	size_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void wire_init(struct wire *w, const char *data)
{
	memset(w, 0, sizeof(*w));
	w->store = store_with(data);
	inet_pton(AF_INET, "169.254.169.254", &w->mmds_ip);
	inet_pton(AF_INET, "10.0.2.15", &w->guest_ip);
	w->net = mmds_net_create(w->store, w->mmds_ip, 42);
	assert_non_null(w->net);
}

static void wire_fini(struct wire *w)
{
	mmds_net_destroy(w->net);
	mmds_store_destroy(w->store);
}

/* A TCP segment from the guest's port 40000 (MSS option on SYN). */
static size_t guest_segment(struct wire *w, uint8_t *f, uint16_t dport,
			    uint32_t seq, uint32_t ack, uint8_t flags,
			    const char *payload)
{
	size_t plen = payload ? strlen(payload) : 0;
	size_t doff = (flags & TCP_SYN) ? 24 : 20;
	uint8_t *ip = f + 14, *tcp = ip + 20;

	memset(f, 0, 14 + 20 + doff + plen);
	memcpy(f, mmds_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + doff + plen));
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, &w->guest_ip, 4);
	memcpy(ip + 16, &w->mmds_ip, 4);
	put16(tcp, 40000);
	put16(tcp + 2, dport);
	put32(tcp + 4, seq);
	put32(tcp + 8, ack);
	tcp[12] = (uint8_t)((doff / 4) << 4);
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	if (flags & TCP_SYN) {
		tcp[20] = 2;
		tcp[21] = 4;
		put16(tcp + 22, 1000);
	}
	if (plen)
		memcpy(tcp + doff, payload, plen);
	return 14 + 20 + doff + plen;
}

static void send_segment(struct wire *w, uint16_t dport, uint32_t seq,
			 uint32_t ack, uint8_t flags, const char *payload)
{
	uint8_t f[2048];
	size_t len = guest_segment(w, f, dport, seq, ack, flags, payload);

	assert_true(mmds_net_is_for_mmds(w->net, f, len));
	mmds_net_receive(w->net, f, len, T0);
}

/* The next frame to the guest, as TCP: flags, seq, ack, payload length. */
static bool next_tcp(struct wire *w, uint8_t *flags, uint32_t *seq,
		     uint32_t *ack, size_t *plen)
{
	uint8_t *ip, *tcp;
	uint32_t sum = 0;

	w->len = mmds_net_next_frame(w->net, w->frame, sizeof(w->frame), T0);
	if (!w->len)
		return false;
	assert_memory_equal(w->frame, guest_mac, 6);
	assert_memory_equal(w->frame + 6, mmds_mac, 6);
	ip = w->frame + 14;
	tcp = ip + 20;
	/* The IPv4 header checksums to zero. */
	for (int i = 0; i < 20; i += 2)
		sum += get16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
	*flags = tcp[13];
	*seq = get32(tcp + 4);
	*ack = get32(tcp + 8);
	*plen = get16(ip + 2) - 20 - (size_t)(tcp[12] >> 4) * 4;
	return true;
}

static void arp_request_gets_the_mmds_mac(void **state)
{
	struct wire w;
	uint8_t f[42] = {0};

	wire_init(&w, NULL);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1);
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, &w.guest_ip, 4);
	memcpy(f + 38, &w.mmds_ip, 4);
	assert_true(mmds_net_is_for_mmds(w.net, f, sizeof(f)));
	mmds_net_receive(w.net, f, sizeof(f), T0);
	w.len = mmds_net_next_frame(w.net, w.frame, sizeof(w.frame), T0);
	assert_int_equal(w.len, 42);
	assert_int_equal(get16(w.frame + 20), 2);
	assert_memory_equal(w.frame + 22, mmds_mac, 6);
	assert_memory_equal(w.frame + 28, &w.mmds_ip, 4);
	assert_memory_equal(w.frame + 32, guest_mac, 6);
	assert_false(mmds_net_has_output(w.net));
	/* Not for the MMDS: another address, too short. */
	memset(f + 38, 1, 4);
	assert_false(mmds_net_is_for_mmds(w.net, f, sizeof(f)));
	assert_false(mmds_net_is_for_mmds(w.net, f, 20));
	wire_fini(&w);
}

static void tcp_serves_a_request_in_segments(void **state)
{
	struct wire w;
	char data[4096],
		request[] = "GET /k HTTP/1.1\r\nConnection: close\r\n\r\n";
	uint32_t seq, ack, iss, next;
	size_t plen, total = 0;
	uint8_t flags;
	bool fin = false;

	memset(data, 0, sizeof(data));
	strcpy(data, "{\"k\":\"");
	memset(data + 6, 'x', 3000);
	strcpy(data + 3006, "\"}");
	wire_init(&w, data);
	send_segment(&w, 80, 1000, 0, TCP_SYN, NULL);
	assert_true(next_tcp(&w, &flags, &iss, &ack, &plen));
	assert_int_equal(flags, TCP_SYN | TCP_ACK);
	assert_int_equal(ack, 1001);
	send_segment(&w, 80, 1001, iss + 1, TCP_ACK, NULL);
	assert_false(mmds_net_has_output(w.net));
	send_segment(&w, 80, 1001, iss + 1, TCP_ACK | TCP_PSH, request);
	next = iss + 1;
	while (next_tcp(&w, &flags, &seq, &ack, &plen)) {
		assert_int_equal(ack, 1001 + strlen(request));
		if (!plen)
			continue;
		assert_true(plen <= 1000); /* the guest's MSS */
		assert_int_equal(seq, next);
		next += (uint32_t)plen;
		total += plen;
	}
	assert_true(total > 3000 && total < 3300);
	/* All acknowledged: our FIN follows. */
	send_segment(&w, 80, 1001 + (uint32_t)strlen(request), next, TCP_ACK,
		     NULL);
	while (next_tcp(&w, &flags, &seq, &ack, &plen))
		fin |= flags & TCP_FIN;
	assert_true(fin);
	assert_int_equal(mmds_tcp_conn_count(&w.net->tcp), 1);
	send_segment(&w, 80, 1001 + (uint32_t)strlen(request), next + 1,
		     TCP_ACK | TCP_FIN, NULL);
	assert_int_equal(mmds_tcp_conn_count(&w.net->tcp), 0);
	wire_fini(&w);
}

static void tcp_resends_what_is_not_acknowledged(void **state)
{
	struct wire w;
	uint32_t seq, ack, iss, first = 0;
	size_t plen;
	uint8_t flags;
	int data_frames = 0;

	wire_init(&w, "{\"k\":\"v\"}");
	send_segment(&w, 80, 1, 0, TCP_SYN, NULL);
	assert_true(next_tcp(&w, &flags, &iss, &ack, &plen));
	/* The SYN-ACK is lost: the tick sends it again. */
	assert_true(mmds_net_tick(w.net, T0 + MMDS_TCP_RTO_MS));
	assert_true(next_tcp(&w, &flags, &seq, &ack, &plen));
	assert_int_equal(flags, TCP_SYN | TCP_ACK);
	assert_int_equal(seq, iss);
	send_segment(&w, 80, 2, iss + 1, TCP_ACK, "GET /k HTTP/1.1\r\n\r\n");
	while (next_tcp(&w, &flags, &seq, &ack, &plen))
		if (plen) {
			first = seq;
			data_frames++;
		}
	assert_int_equal(data_frames, 1);
	assert_true(mmds_net_tick(w.net, T0 + 10 * MMDS_TCP_RTO_MS));
	assert_true(next_tcp(&w, &flags, &seq, &ack, &plen));
	assert_int_equal(seq, first);
	assert_true(plen > 0);
	/* Silent for long: dropped. */
	assert_false(mmds_net_tick(w.net, T0 + MMDS_TCP_IDLE_MS + 1));
	assert_int_equal(mmds_tcp_conn_count(&w.net->tcp), 0);
	wire_fini(&w);
}

static void tcp_resets_what_it_does_not_serve(void **state)
{
	struct wire w;
	uint32_t seq, ack;
	size_t plen;
	uint8_t flags;
	char big[MMDS_TCP_RX_BUF + 10];

	wire_init(&w, NULL);
	/* Another port. */
	send_segment(&w, 81, 7, 0, TCP_SYN, NULL);
	assert_true(next_tcp(&w, &flags, &seq, &ack, &plen));
	assert_int_equal(flags, TCP_RST | TCP_ACK);
	assert_int_equal(ack, 8);
	/* Data for no connection. */
	send_segment(&w, 80, 7, 1234, TCP_ACK, "x");
	assert_true(next_tcp(&w, &flags, &seq, &ack, &plen));
	assert_int_equal(flags, TCP_RST);
	assert_int_equal(seq, 1234);
	/* Headers that never end: the buffer fills, the connection is
	 * reset. */
	send_segment(&w, 80, 100, 0, TCP_SYN, NULL);
	assert_true(next_tcp(&w, &flags, &seq, &ack, &plen));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[1400] = '\0';
	send_segment(&w, 80, 101, seq + 1, TCP_ACK, big);
	send_segment(&w, 80, 101 + 1400, seq + 1, TCP_ACK, big);
	while (next_tcp(&w, &flags, &seq, &ack, &plen))
		;
	assert_int_equal(mmds_tcp_conn_count(&w.net->tcp), 0);
	assert_int_equal(flags & TCP_RST, TCP_RST);
	wire_fini(&w);
}

static void connection_table_is_bounded(void **state)
{
	struct wire w;
	uint8_t f[128];
	size_t len;

	wire_init(&w, NULL);
	for (int i = 0; i < 2 * MMDS_TCP_MAX_CONNS; i++) {
		len = guest_segment(&w, f, 80, 5, 0, TCP_SYN, NULL);
		put16(f + 34, (uint16_t)(2000 + i)); /* source port */
		mmds_net_receive(w.net, f, len, T0);
	}
	assert_int_equal(mmds_tcp_conn_count(&w.net->tcp), MMDS_TCP_MAX_CONNS);
	assert_int_equal(w.net->tcp.stats.conns_refused, MMDS_TCP_MAX_CONNS);
	wire_fini(&w);
}

/* Truncated, lying and random frames: never read out of bounds (ASan
 * watches), never crash. */
static void hostile_frames_are_dropped(void **state)
{
	struct wire w;
	uint8_t f[2048], *copy;
	size_t len;
	uint64_t x = 88172645463325252ULL;

	wire_init(&w, "{\"a\":\"b\"}");
	len = guest_segment(&w, f, 80, 5, 0, TCP_SYN, NULL);
	for (size_t cut = 0; cut < len; cut++) {
		copy = malloc(cut ? cut : 1);
		memcpy(copy, f, cut);
		if (mmds_net_is_for_mmds(w.net, copy, cut))
			mmds_net_receive(w.net, copy, cut, T0);
		free(copy);
	}
	for (int round = 0; round < 20000; round++) {
		size_t n = 34 + (size_t)(x % 200);

		len = guest_segment(&w, f, 80, (uint32_t)x, (uint32_t)(x >> 32),
				    (uint8_t)(x >> 8),
				    "GET / HTTP/1.1\r\n\r\n");
		for (size_t i = 14; i < n && i < sizeof(f); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (x % 7 == 0)
				f[i] = (uint8_t)x;
		}
		memcpy(f + 30, &w.mmds_ip, 4);
		copy = malloc(n);
		memcpy(copy, f, n);
		mmds_net_receive(w.net, copy, n, T0 + (uint64_t)round);
		free(copy);
		while (mmds_net_next_frame(w.net, w.frame, sizeof(w.frame),
					   T0 + (uint64_t)round))
			;
		if (round % 1000 == 0)
			mmds_net_tick(w.net, T0 + (uint64_t)round * 100);
		(void)len;
	}
	wire_fini(&w);
}

static unsigned long long mmds_metric(struct wire *w, size_t offset)
{
	return atomic_load(
		(atomic_ullong *)((char *)&w->store->metrics + offset));
}

#define METRIC(w, name) mmds_metric(w, offsetof(struct mmds_metrics, name))

/* Firecracker's mmds metrics: frames taken, segments, connections made
 * and ended, frames and bytes sent, frames that did not parse. */
static void metrics_count_what_the_mmds_sees(void **state)
{
	struct wire w;
	uint32_t seq, ack;
	size_t plen, len;
	uint8_t flags, f[128];

	wire_init(&w, "{\"k\":\"v\"}");
	send_segment(&w, 80, 1000, 0, TCP_SYN, NULL);
	assert_true(next_tcp(&w, &flags, &seq, &ack, &plen));
	assert_int_equal(METRIC(&w, rx_accepted), 1);
	assert_int_equal(METRIC(&w, rx_count), 1);
	assert_int_equal(METRIC(&w, connections_created), 1);
	assert_int_equal(METRIC(&w, tx_frames), 1);
	assert_int_equal(METRIC(&w, tx_bytes), w.len);
	/* UDP to the MMDS address: taken, not parsed. */
	len = guest_segment(&w, f, 80, 1, 0, TCP_ACK, NULL);
	f[14 + 9] = 17;
	mmds_net_receive(w.net, f, len, T0);
	assert_int_equal(METRIC(&w, rx_accepted), 2);
	assert_int_equal(METRIC(&w, rx_bad_eth), 1);
	/* A reset in the window ends the connection. */
	send_segment(&w, 80, 1001, 0, TCP_RST, NULL);
	assert_int_equal(METRIC(&w, connections_destroyed), 1);
	assert_int_equal(METRIC(&w, rx_count), 2);
	wire_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tokens_expire_and_resist_tampering),
		cmocka_unit_test(put_patch_and_the_size_limit),
		cmocka_unit_test(reads_as_json_and_imds_text),
		cmocka_unit_test(http_v1_and_errors),
		cmocka_unit_test(http_v2_tokens),
		cmocka_unit_test(tokens_wait_for_prepare),
		cmocka_unit_test(request_end_finds_the_blank_line),
		cmocka_unit_test(arp_request_gets_the_mmds_mac),
		cmocka_unit_test(tcp_serves_a_request_in_segments),
		cmocka_unit_test(tcp_resends_what_is_not_acknowledged),
		cmocka_unit_test(tcp_resets_what_it_does_not_serve),
		cmocka_unit_test(connection_table_is_bounded),
		cmocka_unit_test(hostile_frames_are_dropped),
		cmocka_unit_test(metrics_count_what_the_mmds_sees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
