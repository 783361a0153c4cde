/* The migration transport's TLS 1.3 over a socketpair, both ends in this
 * process: certificates (a CA, keys and certificates made at test time
 * with the openssl command, never committed) and pre-shared keys. An end
 * without the right certificate or key is refused on both sides before
 * any migration byte moves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration/migration_tls.h"
#include "migration/migration_transport.h"

static char dir[] = "/tmp/tern-tls-test-XXXXXX";

/* Two CAs: "ca" signs dst (the destination, named 127.0.0.1 and
 * localhost) and src; "other" signs rogue. */
static const char *const make_keys =
	"set -e; cd '%s'\n"
	"key() { openssl genpkey -algorithm EC -pkeyopt "
	"ec_paramgen_curve:P-256 -out $1.key 2>/dev/null; chmod 600 $1.key; }\n"
	"ca() { key $1; openssl req -x509 -new -key $1.key -out $1.pem "
	"-days 2 -subj /CN=$1 2>/dev/null; }\n"
	"leaf() { key $1; openssl req -new -key $1.key -out $1.csr "
	"-subj /CN=$1 2>/dev/null; openssl x509 -req -in $1.csr -CA $2.pem "
	"-CAkey $2.key -CAcreateserial -days 2 -out $1.pem -extfile san "
	"2>/dev/null; }\n"
	"printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san\n"
	"ca ca; ca other; leaf dst ca; leaf src ca; leaf rogue other\n"
	"printf '%%064x\\n' 7 > psk; printf '%%064x\\n' 8 > psk2; "
	"printf '0011\\n' > short\n"
	"cp psk open; chmod 600 psk psk2 short; chmod 644 open\n";

static char *file(const char *name)
{
	static char paths[8][128];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

static int setup(void **state)
{
	char cmd[2048];

	/* As in tern (instance.c): a write to a closed peer is an error,
	 * not a signal; OpenSSL writes with write(2). */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), make_keys, dir);
	return system(cmd) ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static struct migration_transport_config certs(const char *who)
{
	char cert[32], key[32];
	struct migration_transport_config c = {0};

	snprintf(cert, sizeof(cert), "%s.pem", who);
	snprintf(key, sizeof(key), "%s.key", who);
	c.ca_file = strdup(file("ca.pem"));
	c.cert_file = strdup(file(cert));
	c.key_file = strdup(file(key));
	return c;
}

static struct migration_transport_config psk(const char *name)
{
	struct migration_transport_config c = {0};

	c.psk_file = strdup(file(name));
	return c;
}

struct server {
	struct migration_tls *tls;
	int fd;
	int ret;
	struct tern_error err;
	struct migration_stream *stream;
};

static void *server_thread(void *arg)
{
	struct server *s = arg;

	s->ret = migration_tls_start(s->tls, s->fd, NULL, &s->stream, &s->err);
	return NULL;
}

/* 100 KB each way (several records; within the socket buffers, so one
 * thread can do both ends). */
static void exchange(struct migration_stream *client,
		     struct migration_stream *server)
{
	size_t len = 100000;
	uint8_t *out = malloc(len), *in = malloc(len);

	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 7 + i / 4096);
	assert_int_equal(migration_stream_write_all(client, out, len), 0);
	assert_int_equal(migration_stream_read_all(server, in, len), 0);
	assert_memory_equal(in, out, len);
	memset(in, 0, len);
	assert_int_equal(migration_stream_write_all(server, out, len), 0);
	assert_int_equal(migration_stream_read_all(client, in, len), 0);
	assert_memory_equal(in, out, len);
	free(out);
	free(in);
}

/* Runs both handshakes; returns the client's result, *server_ret the
 * server's. The streams are closed. */
static int handshake(struct migration_transport_config dst,
		     struct migration_transport_config src,
		     const char *peer_host, int *server_ret,
		     struct tern_error *client_err,
		     struct tern_error *server_err)
{
	struct server s = {0};
	struct migration_tls *client = NULL;
	struct migration_stream *stream = NULL;
	pthread_t thread;
	int sv[2], ret;

	if (migration_tls_new(&dst, 1, &s.tls, server_err))
		fail_msg("server: %s", server_err->message);
	if (migration_tls_new(&src, 0, &client, client_err))
		fail_msg("client: %s", client_err->message);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	s.fd = sv[1];
	assert_int_equal(pthread_create(&thread, NULL, server_thread, &s), 0);
	ret = migration_tls_start(client, sv[0], peer_host, &stream,
				  client_err);
	pthread_join(thread, NULL);
	*server_ret = s.ret;
	*server_err = s.err;
	if (!ret && !s.ret)
		exchange(stream, s.stream);
	migration_stream_close(stream);
	if (!s.ret) {
		uint8_t byte;

		/* The client's close_notify: the end of the stream. */
		assert_int_equal(migration_stream_read_all(s.stream, &byte, 1),
				 -EPIPE);
		migration_stream_close(s.stream);
	}
	migration_tls_free(s.tls);
	migration_tls_free(client);
	migration_transport_config_free(&dst);
	migration_transport_config_free(&src);
	return ret;
}

static void certificates_both_ways(void **state)
{
	struct tern_error ce, se;
	int sret;

	assert_int_equal(handshake(certs("dst"), certs("src"), "127.0.0.1",
				   &sret, &ce, &se),
			 0);
	assert_int_equal(sret, 0);
	/* A name the certificate carries works as well as its address. */
	assert_int_equal(handshake(certs("dst"), certs("src"), "localhost",
				   &sret, &ce, &se),
			 0);
	assert_int_equal(sret, 0);
}

static void pre_shared_key(void **state)
{
	struct tern_error ce, se;
	int sret;

	assert_int_equal(
		handshake(psk("psk"), psk("psk"), "127.0.0.1", &sret, &ce, &se),
		0);
	assert_int_equal(sret, 0);
}

/* Both ends over a socketpair with a PSK, handshakes done. */
static void connected_pair(struct migration_stream **client,
			   struct migration_stream **server,
			   struct migration_tls **tls_client,
			   struct migration_tls **tls_server)
{
	struct migration_transport_config dst = psk("psk"), src = psk("psk");
	struct tern_error err;
	struct server s = {0};
	pthread_t thread;
	int sv[2];

	assert_int_equal(migration_tls_new(&dst, 1, &s.tls, &err), 0);
	assert_int_equal(migration_tls_new(&src, 0, tls_client, &err), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	s.fd = sv[1];
	assert_int_equal(pthread_create(&thread, NULL, server_thread, &s), 0);
	assert_int_equal(migration_tls_start(*tls_client, sv[0], "127.0.0.1",
					     client, &err),
			 0);
	pthread_join(thread, NULL);
	assert_int_equal(s.ret, 0);
	*server = s.stream;
	*tls_server = s.tls;
	migration_transport_config_free(&dst);
	migration_transport_config_free(&src);
}

/* A message's header rides in the first record of its payload: a RAM
 * header and one page are one TLS record on the wire (5-byte record
 * header, 24 + 4096 bytes, the inner content type, a 16-byte tag), not a
 * record each. Longer and empty payloads arrive whole and in order. */
static void message_header_shares_the_payloads_first_record(void **state)
{
	struct migration_stream *client, *server;
	struct migration_tls *tc, *ts;
	uint8_t head[24], *body = malloc(100000), *in = malloc(100100);
	uint8_t wire[8192];
	ssize_t n;

	for (size_t i = 0; i < sizeof(head); i++)
		head[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < 100000; i++)
		body[i] = (uint8_t)(i * 7 + i / 4096);
	connected_pair(&client, &server, &tc, &ts);
	assert_int_equal(
		migration_stream_write_message(client, head, 24, body, 4096),
		0);
	/* The raw bytes under the server's TLS session. */
	n = recv(server->fd, wire, sizeof(wire), MSG_DONTWAIT);
	assert_int_equal(n, 5 + 24 + 4096 + 1 + 16);
	assert_int_equal(recv(server->fd, wire, sizeof(wire), MSG_DONTWAIT),
			 -1);
	migration_stream_close(client);
	migration_stream_close(server);
	migration_tls_free(tc);
	migration_tls_free(ts);

	connected_pair(&client, &server, &tc, &ts);
	assert_int_equal(
		migration_stream_write_message(client, head, 24, body, 100000),
		0);
	assert_int_equal(
		migration_stream_write_message(client, head, 24, NULL, 0), 0);
	assert_int_equal(migration_stream_read_all(server, in, 100048), 0);
	assert_memory_equal(in, head, 24);
	assert_memory_equal(in + 24, body, 100000);
	assert_memory_equal(in + 100024, head, 24);
	migration_stream_close(client);
	migration_stream_close(server);
	migration_tls_free(tc);
	migration_tls_free(ts);
	free(body);
	free(in);
}

static void wrong_pre_shared_key_refused_both_ways(void **state)
{
	struct tern_error ce, se;
	int sret;

	assert_int_equal(handshake(psk("psk"), psk("psk2"), "127.0.0.1", &sret,
				   &ce, &se),
			 -EACCES);
	assert_int_equal(sret, -EACCES);
	print_message("client: %s\nserver: %s\n", ce.message, se.message);
}

/* The source's certificate comes from another CA: the destination
 * refuses it, and the source hears so from the handshake itself (in TLS
 * 1.3 its own side completes before the server has checked it). */
static void source_from_another_ca_refused(void **state)
{
	struct tern_error ce, se;
	int sret;
	struct migration_transport_config rogue = certs("rogue");

	assert_int_equal(
		handshake(certs("dst"), rogue, "127.0.0.1", &sret, &ce, &se),
		-EACCES);
	assert_int_equal(sret, -EACCES);
	assert_non_null(strstr(se.message, "source's certificate is refused"));
	print_message("client: %s\nserver: %s\n", ce.message, se.message);
}

static void destination_from_another_ca_refused(void **state)
{
	struct tern_error ce, se;
	struct migration_transport_config rogue = certs("rogue");
	int sret;

	/* The rogue destination trusts the real CA for the client. */
	assert_int_equal(
		handshake(rogue, certs("src"), "127.0.0.1", &sret, &ce, &se),
		-EACCES);
	assert_non_null(
		strstr(ce.message, "destination's certificate is refused"));
	assert_int_not_equal(sret, 0);
}

static void destination_of_another_name_refused(void **state)
{
	struct tern_error ce, se;
	int sret;

	assert_int_equal(handshake(certs("dst"), certs("src"), "10.9.8.7",
				   &sret, &ce, &se),
			 -EACCES);
	assert_non_null(strstr(ce.message, "mismatch"));
	assert_int_not_equal(sret, 0);
	print_message("client: %s\n", ce.message);
}

static void psk_source_meets_certificate_destination(void **state)
{
	struct tern_error ce, se;
	int sret;

	assert_int_equal(handshake(certs("dst"), psk("psk"), "127.0.0.1", &sret,
				   &ce, &se),
			 -EACCES);
	assert_int_not_equal(sret, 0);
	assert_int_equal(handshake(psk("psk"), certs("src"), "127.0.0.1", &sret,
				   &ce, &se),
			 -EACCES);
	assert_int_not_equal(sret, 0);
}

static int new_error(struct migration_transport_config c, const char *needle)
{
	struct migration_tls *tls = NULL;
	struct tern_error err = {{0}};
	int ret = migration_tls_new(&c, 1, &tls, &err);

	migration_tls_free(tls);
	migration_transport_config_free(&c);
	if (ret && !strstr(err.message, needle))
		fail_msg("'%s' not in '%s'", needle, err.message);
	return ret;
}

static void bad_material_refused_up_front(void **state)
{
	struct migration_transport_config c;

	assert_int_equal(new_error(psk("short"), "32 to 256 random bytes"),
			 -EINVAL);
	assert_int_equal(new_error(psk("open"), "readable by other users"),
			 -EPERM);
	assert_int_equal(new_error(psk("absent"), "No such file"), -ENOENT);
	c = certs("src");
	free(c.key_file);
	c.key_file = strdup(file("dst.key"));
	assert_int_equal(new_error(c, "does not belong"), -EINVAL);
	c = certs("src");
	free(c.ca_file);
	c.ca_file = strdup(file("psk"));
	assert_int_equal(new_error(c, "CA file"), -EINVAL);
}

static void option_syntax_and_combinations(void **state)
{
	struct migration_transport_config c = {0};
	struct tern_error err;

	assert_int_equal(migration_transport_parse_tls("--migration-tls",
						       "ca=a,cert=b,key=c", &c,
						       &err),
			 0);
	assert_string_equal(c.ca_file, "a");
	assert_string_equal(c.key_file, "c");
	assert_int_equal(migration_transport_parse_tls("--migration-tls",
						       "psk=p", &c, &err),
			 0);
	assert_null(c.ca_file);
	assert_string_equal(c.psk_file, "p");
	assert_int_equal(migration_transport_parse_tls("--migration-tls",
						       "ca=a,cert=b", &c, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "the key file is missing"));
	assert_int_equal(
		migration_transport_parse_tls(
			"--migration-tls", "ca=a,cert=b,key=c,psk=p", &c, &err),
		-EINVAL);
	assert_non_null(strstr(err.message, "not both"));
	assert_int_equal(migration_transport_parse_tls("--migration-tls",
						       "psk=", &c, &err),
			 -EINVAL);
	assert_int_equal(migration_transport_parse_tls("--migration-tls",
						       "psk=a,psk=b", &c, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "given twice"));
	migration_transport_config_free(&c);
	assert_int_equal(migration_transport_check(&c, "tls", "plain", &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "migration needs TLS"));
	c.insecure_plain_tcp = 1;
	assert_int_equal(migration_transport_check(&c, "tls", "plain", &err),
			 0);
	c.psk_file = strdup("p");
	assert_int_equal(migration_transport_check(&c, "tls", "plain", &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "exclude each other"));
	migration_transport_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(certificates_both_ways),
		cmocka_unit_test(pre_shared_key),
		cmocka_unit_test(
			message_header_shares_the_payloads_first_record),
		cmocka_unit_test(wrong_pre_shared_key_refused_both_ways),
		cmocka_unit_test(source_from_another_ca_refused),
		cmocka_unit_test(destination_from_another_ca_refused),
		cmocka_unit_test(destination_of_another_name_refused),
		cmocka_unit_test(psk_source_meets_certificate_destination),
		cmocka_unit_test(bad_material_refused_up_front),
		cmocka_unit_test(option_syntax_and_combinations),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
