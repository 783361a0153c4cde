/* `tern migrate` argument parsing: the destination checked as the source
 * checks it, --timeout bounds, and what is missing or extra. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/migrate_command.h"

/* Parses a NULL-terminated argument list after "migrate". */
static int parse(struct migrate_request *req, struct tern_error *err, ...)
{
	char *argv[16] = {"migrate"};
	int argc = 1;
	va_list ap;

	va_start(ap, err);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	memset(err, 0, sizeof(*err));
	return migrate_command_parse(argc, argv, req, err);
}

static void valid_requests(void **state)
{
	struct migrate_request req;
	struct tern_error err;

	assert_int_equal(parse(&req, &err, "--api-sock", "/tmp/a.sock",
			       "tcp:10.0.0.2:4444", NULL),
			 0);
	assert_string_equal(req.api_sock, "/tmp/a.sock");
	assert_string_equal(req.destination, "tcp:10.0.0.2:4444");
	assert_int_equal(req.timeout_s, 3600);
	assert_int_equal(req.quiet, 0);
	assert_int_equal(parse(&req, &err, "tcp:[::1]:4444", "--quiet",
			       "--timeout", "0", "--api-sock", "s", NULL),
			 0);
	assert_string_equal(req.destination, "tcp:[::1]:4444");
	assert_int_equal(req.timeout_s, 0);
	assert_int_equal(req.quiet, 1);
	assert_int_equal(parse(&req, &err, "--timeout=604800", "--api-sock=s",
			       "tcp:host.example:1", NULL),
			 0);
	assert_int_equal(req.timeout_s, 604800);
	assert_int_equal(parse(&req, &err, "--help", NULL), 1);
	assert_int_equal(parse(&req, &err, "-h", "--bogus", NULL), 1);
}

/* The transport: passed on to the source with paths made absolute here
 * (the source tern opens them from its own working directory). */
static void transport(void **state)
{
	struct migrate_request req;
	struct tern_error err;
	char cwd[512], expect[600];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(parse(&req, &err, "--api-sock", "s", "--migration-tls",
			       "ca=/etc/ca.pem,cert=c.pem,key=k/k.key",
			       "tcp:h:1", NULL),
			 0);
	assert_string_equal(req.transport.ca_file, "/etc/ca.pem");
	snprintf(expect, sizeof(expect), "%s/c.pem", cwd);
	assert_string_equal(req.transport.cert_file, expect);
	snprintf(expect, sizeof(expect), "%s/k/k.key", cwd);
	assert_string_equal(req.transport.key_file, expect);
	assert_null(req.transport.psk_file);
	migrate_request_free(&req);
	assert_int_equal(parse(&req, &err, "--api-sock", "s",
			       "--insecure-plain-tcp", "tcp:h:1", NULL),
			 0);
	assert_int_equal(req.transport.insecure_plain_tcp, 1);
	migrate_request_free(&req);
	/* None: the source's own (tern run --migration-tls) applies. */
	assert_int_equal(parse(&req, &err, "--api-sock", "s", "tcp:h:1", NULL),
			 0);
	assert_int_equal(migration_transport_given(&req.transport), 0);
	migrate_request_free(&req);
}

static void refused(const char *word, ...)
{
	char *argv[16] = {"migrate"};
	struct migrate_request req;
	struct tern_error err = {{0}};
	int argc = 1;
	va_list ap;

	va_start(ap, word);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	assert_int_equal(migrate_command_parse(argc, argv, &req, &err),
			 -EINVAL);
	migrate_request_free(&req);
	if (!strstr(err.message, word))
		fail_msg("'%s' not in '%s'", word, err.message);
}

static void invalid_requests(void **state)
{
	refused("--api-sock is required", "tcp:h:1", NULL);
	refused("required", "--api-sock", "s", NULL);
	refused("needs a value", "--api-sock", NULL);
	refused("unknown option", "--api-sock", "s", "--bogus", "tcp:h:1",
		NULL);
	refused("unexpected argument 'tcp:h:2'", "--api-sock", "s", "tcp:h:1",
		"tcp:h:2", NULL);
	refused("tcp:HOST:PORT", "--api-sock", "s", "unix:/x", NULL);
	refused("has no port", "--api-sock", "s", "tcp:h", NULL);
	refused("has no port", "--api-sock", "s", "tcp:h:", NULL);
	refused("not a number", "--api-sock", "s", "tcp:h:4x", NULL);
	refused("names no host", "--api-sock", "s", "tcp::4444", NULL);
	refused("--timeout", "--api-sock", "s", "--timeout", "-1", "tcp:h:1",
		NULL);
	refused("--timeout", "--api-sock", "s", "--timeout", "", "tcp:h:1",
		NULL);
	refused("--timeout", "--api-sock", "s", "--timeout", "10s", "tcp:h:1",
		NULL);
	refused("--timeout", "--api-sock", "s", "--timeout", "604801",
		"tcp:h:1", NULL);
	refused("--timeout", "--api-sock", "s", "--timeout",
		"99999999999999999999", "tcp:h:1", NULL);
	refused("the key file is missing", "--api-sock", "s", "--migration-tls",
		"ca=a,cert=b", "tcp:h:1", NULL);
	refused("exclude each other", "--api-sock", "s", "--migration-tls",
		"psk=p", "--insecure-plain-tcp", "tcp:h:1", NULL);
	refused("not both", "--api-sock", "s", "--migration-tls",
		"psk=p,ca=a,cert=b,key=c", "tcp:h:1", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_requests),
		cmocka_unit_test(invalid_requests),
		cmocka_unit_test(transport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
