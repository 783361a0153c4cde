/* tern migrate: the command-line spelling of PUT /migration against a
 * running tern, then GET /migration until the migration ends. All the work
 * is done by that tern (src/control/migration_control.c, src/migration);
 * this is only its client. */
#include "cli/migrate_command.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/api_client.h"
#include "cli/exit_status.h"
#include "migration/migration_wire.h"

#define CONTROL_REPLY_TIMEOUT_S 30
/* GET /migration this often while it runs. */
#define POLL_INTERVAL_MS 100
#define DEFAULT_TIMEOUT_S 3600

enum {
	OPT_HELP = 'h',
	OPT_API_SOCK = 256,
	OPT_TIMEOUT,
	OPT_QUIET,
	OPT_MIGRATION_TLS,
	OPT_INSECURE_PLAIN_TCP,
};

static const struct option migrate_options[] = {
	{"api-sock", required_argument, NULL, OPT_API_SOCK},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"migration-tls", required_argument, NULL, OPT_MIGRATION_TLS},
	{"insecure-plain-tcp", no_argument, NULL, OPT_INSECURE_PLAIN_TCP},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

void migrate_command_print_help(FILE *out)
{
	fprintf(out,
		"Usage: tern migrate --api-sock PATH [--timeout SECONDS] "
		"[--quiet]\n"
		"                    [--migration-tls "
		"ca=FILE,cert=FILE,key=FILE "
		"| psk=FILE |\n"
		"                     --insecure-plain-tcp] tcp:HOST:PORT\n"
		"\n"
		"Move the running VM of a tern (started with --api-sock PATH) "
		"to another tern\n"
		"waiting for it with 'tern run --incoming tcp:ADDR:PORT', "
		"while the guest runs.\n"
		"tern migrate is a client of the source's API: it sends PUT "
		"/migration, then\n"
		"follows GET /migration until the migration completed or "
		"failed, printing each\n"
		"pre-copy pass and, at the end, the total time and the "
		"downtime (the guest\n"
		"paused here until the destination acknowledged that it runs "
		"it).\n"
		"\n"
		"Once completed the source tern exits with status 0; a failed "
		"migration leaves\n"
		"the VM running on the source (or paused, when the destination "
		"may run it: see\n"
		"docs/migration.md). The destination is started with its own "
		"devices: the same\n"
		"disk images (the file lock is handed over), its own tap on "
		"the "
		"same network\n"
		"and its own vsock socket path.\n"
		"\n"
		"Options:\n"
		"      --api-sock PATH    the source tern's API socket "
		"(required)\n"
		"      --timeout SECONDS  stop waiting after this long "
		"(default %d; 0: no\n"
		"                         limit); the migration itself goes on "
		"in the source\n"
		"      --quiet            print only the result, not each "
		"pass\n"
		"      --migration-tls ca=FILE,cert=FILE,key=FILE\n"
		"      --migration-tls psk=FILE\n"
		"                         the TLS 1.3 material the source "
		"tern uses (PEM CA,\n"
		"                         its certificate and key; or a "
		"pre-shared key file,\n"
		"                         the destination's too); relative "
		"paths are made\n"
		"                         absolute here, and the source tern "
		"opens them. Without\n"
		"                         this option or the next, the source "
		"uses what its own\n"
		"                         tern run --migration-tls gave, and "
		"refuses when that\n"
		"                         is nothing\n"
		"      --insecure-plain-tcp\n"
		"                         send over plain TCP: the guest's "
		"memory unencrypted,\n"
		"                         the destination unauthenticated\n"
		"  -h, --help             show this help and exit\n"
		"\n"
		"Example:\n"
		"  tern run --incoming tcp:0.0.0.0:4444 --migration-tls "
		"psk=/etc/tern/psk \\\n"
		"      --disk path=/shared/root.img ...                  # on "
		"B\n"
		"  tern migrate --api-sock /tmp/a.sock --migration-tls "
		"psk=/etc/tern/psk \\\n"
		"      tcp:B:4444                                        # on "
		"A\n"
		"\n"
		"Exit status:\n"
		"  0    the migration completed: the VM runs in the "
		"destination\n"
		"  1    it did not: no tern on the socket, the VM not running, "
		"an unreachable\n"
		"       or refusing destination, a failure midway (the API's "
		"error is printed\n"
		"       as one line), or --timeout expired\n"
		"  2    the command line is wrong\n",
		DEFAULT_TIMEOUT_S);
}

void migrate_request_free(struct migrate_request *req)
{
	migration_transport_config_free(&req->transport);
}

/* The source tern opens the files, from its own working directory. */
static int absolute_path(char **path)
{
	char cwd[4096], *joined;

	if (!*path || (*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) ||
	    asprintf(&joined, "%s/%s", cwd, *path) < 0)
		return -ENOMEM;
	free(*path);
	*path = joined;
	return 0;
}

static int absolute_paths(struct migration_transport_config *c)
{
	return absolute_path(&c->ca_file) || absolute_path(&c->cert_file) ||
		absolute_path(&c->key_file) || absolute_path(&c->psk_file);
}

int migrate_command_parse(int argc, char **argv, struct migrate_request *req,
			  struct tern_error *err)
{
	char host[256], port[16];
	char *end;
	long value;
	int opt;

	memset(req, 0, sizeof(*req));
	req->timeout_s = DEFAULT_TIMEOUT_S;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", migrate_options, NULL)) !=
	       -1) {
		switch (opt) {
		case OPT_HELP:
			return 1;
		case OPT_API_SOCK:
			req->api_sock = optarg;
			break;
		case OPT_TIMEOUT:
			errno = 0;
			value = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || value < 0 ||
			    value > 7 * 24 * 3600)
				return tern_error_set(err, EINVAL,
						      "--timeout: '%s' is not "
						      "a number of seconds "
						      "(0 to 604800)",
						      optarg);
			req->timeout_s = (int)value;
			break;
		case OPT_QUIET:
			req->quiet = 1;
			break;
		case OPT_INSECURE_PLAIN_TCP:
			req->transport.insecure_plain_tcp = 1;
			break;
		case OPT_MIGRATION_TLS:
			if (migration_transport_parse_tls("--migration-tls",
							  optarg,
							  &req->transport, err))
				return -EINVAL;
			break;
		case ':':
			return tern_error_set(err, EINVAL,
					      "option '%s' needs a value",
					      argv[optind - 1]);
		default:
			return tern_error_set(err, EINVAL,
					      "unknown option '%s'",
					      argv[optind - 1]);
		}
	}
	if (!req->api_sock)
		return tern_error_set(err, EINVAL, "--api-sock is required");
	if (optind >= argc)
		return tern_error_set(err, EINVAL,
				      "the destination (tcp:HOST:PORT) is "
				      "required");
	if (optind + 1 < argc)
		return tern_error_set(err, EINVAL, "unexpected argument '%s'",
				      argv[optind + 1]);
	if (migration_transport_given(&req->transport) &&
	    migration_transport_check(&req->transport, "--migration-tls",
				      "--insecure-plain-tcp", err))
		return -EINVAL;
	if (absolute_paths(&req->transport))
		return tern_error_set(err, ENOMEM, "out of memory");
	req->destination = argv[optind];
	/* The same check the source applies, so a typo is a usage error. */
	if (migration_parse_address(req->destination, host, sizeof(host), port,
				    sizeof(port), err))
		return -EINVAL;
	if (!host[0])
		return tern_error_set(err, EINVAL,
				      "the destination '%s' names no host",
				      req->destination);
	return 0;
}

/* One request; 0 on a 2xx answer (its JSON in *answer when asked for),
 * else err holds the API's message. */
static int call(const char *sock, const char *method, const char *path,
		json_t *body, json_t **answer, struct tern_error *err)
{
	struct api_reply reply;
	char fault[300];
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int ret;

	if (body && !text)
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = api_client_request(sock, method, path, text,
				 CONTROL_REPLY_TIMEOUT_S, &reply, err);
	free(text);
	if (ret)
		return ret;
	if (reply.status < 200 || reply.status > 299) {
		ret = tern_error_set(
			err, EIO, "%s %s: %s", method, path,
			api_client_fault(&reply, fault, sizeof(fault)));
	} else if (answer) {
		*answer = json_loads(reply.body, 0, NULL);
		if (!*answer)
			ret = tern_error_set(err, EPROTO,
					     "%s %s: the answer is not JSON",
					     method, path);
	}
	free(reply.body);
	return ret;
}

static double number(const json_t *doc, const char *key)
{
	return json_number_value(json_object_get(doc, key));
}

static const char *text(const json_t *doc, const char *key)
{
	const char *s = json_string_value(json_object_get(doc, key));

	return s ? s : "";
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void report_pass(const json_t *m)
{
	printf("pass %.0f: %.1f MiB sent, %.0f pages dirtied in the last pass "
	       "(%.0f pages/s), expected downtime %.0f ms\n",
	       number(m, "iteration"), number(m, "bytes_sent") / 1048576.0,
	       number(m, "dirty_pages_last_round"),
	       number(m, "dirty_rate_pages_per_s"),
	       number(m, "expected_downtime_ms"));
	fflush(stdout);
}

static int follow(const struct migrate_request *req, struct tern_error *err)
{
	uint64_t deadline = now_ms() + (uint64_t)req->timeout_s * 1000;
	double last_pass = 0;
	int announced_stop = 0;

	for (;;) {
		const struct timespec pause = {.tv_nsec = POLL_INTERVAL_MS *
						       1000000L};
		json_t *m = NULL;
		const char *state;
		int ret =
			call(req->api_sock, "GET", "/migration", NULL, &m, err);

		if (ret)
			/* The source exits right after a completed migration,
			 * but it answers GET /migration with the result
			 * first to a client that followed it. */
			return tern_error_set(err, -ret,
					      "lost the source during the "
					      "migration: %s",
					      err->message);
		state = text(m, "state");
		if (!req->quiet && number(m, "iteration") > last_pass &&
		    strcmp(state, "completed")) {
			last_pass = number(m, "iteration");
			report_pass(m);
		}
		if (!req->quiet && !announced_stop &&
		    !strcmp(state, "stop-and-copy")) {
			announced_stop = 1;
			printf("stop-and-copy: the guest is paused\n");
			fflush(stdout);
		}
		if (!strcmp(state, "completed")) {
			printf("migrated to %s: %.1f ms in all, downtime %.1f "
			       "ms, %.0f passes, %.1f MiB sent\n",
			       req->destination, number(m, "total_time_ms"),
			       number(m, "downtime_ms"), number(m, "iteration"),
			       number(m, "bytes_sent") / 1048576.0);
			json_decref(m);
			return 0;
		}
		if (!strcmp(state, "failed")) {
			tern_error_set(err, EIO, "the migration failed: %s",
				       text(m, "error"));
			json_decref(m);
			return -EIO;
		}
		json_decref(m);
		if (req->timeout_s && now_ms() >= deadline)
			return tern_error_set(err, ETIMEDOUT,
					      "still migrating after %d s "
					      "(it goes on in the source; "
					      "see GET /migration)",
					      req->timeout_s);
		nanosleep(&pause, NULL);
	}
}

static int add_path(json_t *tls, const char *key, const char *path)
{
	return path ? json_object_set_new(tls, key, json_string(path)) : 0;
}

/* The transport as PUT /migration spells it; nothing when none was given
 * (the source's own applies). */
static int add_transport(json_t *body,
			 const struct migration_transport_config *c)
{
	json_t *tls;

	if (c->insecure_plain_tcp)
		return json_object_set_new(body, "insecure_plain_tcp",
					   json_true());
	if (!migration_transport_given(c))
		return 0;
	tls = json_object();
	if (!tls || add_path(tls, "ca_file", c->ca_file) ||
	    add_path(tls, "cert_file", c->cert_file) ||
	    add_path(tls, "key_file", c->key_file) ||
	    add_path(tls, "psk_file", c->psk_file)) {
		json_decref(tls);
		return -1;
	}
	return json_object_set_new(body, "tls", tls);
}

static int migrate(const struct migrate_request *req, struct tern_error *err)
{
	json_t *body;
	int ret;

	body = json_pack("{s:s}", "destination", req->destination);
	if (!body || add_transport(body, &req->transport)) {
		json_decref(body);
		return tern_error_set(err, ENOMEM, "out of memory");
	}
	/* The source checks its state, its devices and the connection:
	 * a refusal here changed nothing. */
	ret = call(req->api_sock, "PUT", "/migration", body, NULL, err);
	json_decref(body);
	if (ret)
		return ret;
	if (!req->quiet) {
		printf("migrating to %s\n", req->destination);
		fflush(stdout);
	}
	return follow(req, err);
}

int migrate_command_main(int argc, char **argv)
{
	struct tern_error err = {{0}};
	struct migrate_request req;
	int ret = migrate_command_parse(argc, argv, &req, &err);

	if (ret == 1) {
		migrate_request_free(&req);
		migrate_command_print_help(stdout);
		return TERN_EXIT_OK;
	}
	if (ret) {
		migrate_request_free(&req);
		fprintf(stderr, "tern: %s (see 'tern migrate --help')\n",
			err.message);
		return TERN_EXIT_USAGE;
	}
	ret = migrate(&req, &err);
	migrate_request_free(&req);
	if (ret) {
		fprintf(stderr, "tern: %s\n", err.message);
		return TERN_EXIT_RUNTIME_ERROR;
	}
	return TERN_EXIT_OK;
}
