#include "ternctl/ternctl_migrate.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ternctl/ternctl_client.h"
#include "ternd/migration_address.h"
#include "ternd/ternd_name.h"

enum { MIGRATED = 0, FAILED = 1, USAGE = 2 };

/* How often the source's VM is asked whether its migration ended. */
#define POLL_MS 200
/* How long the destination has to see its guest run, after the source
 * said it handed it over (it looks every 250 ms). */
#define DEST_SETTLE_S 10

int ternctl_migrate_number(const char *text, long min, long max, long *value)
{
	char *end;
	long n;

	if (!text || text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	n = strtol(text, &end, 10);
	if (errno || *end || n < min || n > max)
		return -1;
	*value = n;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "ternctl: migrate: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return FAILED;
}

static int usage(const char *fmt, const char *a)
{
	fprintf(stderr, "ternctl: migrate: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, " ('ternctl migrate --help' for usage)\n");
	return USAGE;
}

/* POST PATH with body (taken); *answer as ternctl_request's. */
static int post(const char *socket, const char *path, json_t *body,
		json_t **answer, struct tern_error *err)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int ret;

	json_decref(body);
	*answer = NULL;
	if (!text)
		return tern_error_set(err, ENOMEM, "out of memory");
	ret = ternctl_request(socket, "POST", path, text, answer, err);
	free(text);
	return ret;
}

/* The VM's state on a ternd ("" when it has no such VM: undefined), and
 * its reason. -1 when the ternd does not answer. */
static int vm_state(const char *socket, const char *path, char *state,
		    size_t state_size, char *reason, size_t reason_size,
		    struct tern_error *err)
{
	json_t *answer;
	int ret = ternctl_request(socket, "GET", path, NULL, &answer, err);

	state[0] = reason[0] = '\0';
	if (ret)
		return strstr(err->message, "no VM named") ? 0 : -1;
	snprintf(state, state_size, "%s",
		 json_string_value(json_object_get(answer, "state"))
			 ? json_string_value(json_object_get(answer, "state"))
			 : "?");
	snprintf(reason, reason_size, "%s",
		 json_string_value(json_object_get(answer, "reason"))
			 ? json_string_value(json_object_get(answer, "reason"))
			 : "");
	json_decref(answer);
	return 0;
}

/* Tells the destination to give up the incoming VM; says so if it
 * cannot. */
static void abandon(const struct ternctl_migrate_options *o,
		    const char *incoming_path)
{
	struct tern_error err;
	json_t *answer;

	if (ternctl_request(o->dest, "DELETE", incoming_path, NULL, &answer,
			    &err)) {
		fprintf(stderr,
			"ternctl: migrate: the destination %s could not "
			"abandon its incoming VM '%s': %s (ternctl -c %s "
			"destroy %s; undefine %s)\n",
			o->dest, o->name, err.message, o->dest, o->name,
			o->name);
		return;
	}
	json_decref(answer);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Once the source is done: the destination runs the guest. */
static int destination_runs(const struct ternctl_migrate_options *o,
			    const char *vm_path)
{
	char state[32], reason[256];
	struct tern_error err;
	double until = now_s() + DEST_SETTLE_S;

	do {
		if (!vm_state(o->dest, vm_path, state, sizeof(state), reason,
			      sizeof(reason), &err) &&
		    (!strcmp(state, "running") || !strcmp(state, "paused")))
			return 1;
		sleep_ms(POLL_MS);
	} while (now_s() < until);
	return 0;
}

int ternctl_migrate(const struct ternctl_migrate_options *o)
{
	char host[256], vm_path[128], migrate_path[160], incoming_path[160];
	char psk[MIGRATION_PSK_HEX], address[160], state[32], reason[256];
	unsigned char bytes[MIGRATION_PSK_BYTES];
	long port = 0, timeout = TERNCTL_MIGRATE_TIMEOUT_S;
	struct tern_error err;
	json_t *answer, *definition;
	double started, deadline;
	int timed_out = 0;

	if (ternd_name_check("VM", o->name, &err))
		return fail("%s%s", err.message, "");
	if (o->port && ternctl_migrate_number(o->port, 1, 65535, &port))
		return usage("--port '%s': a TCP port, 1 to 65535", o->port);
	if (o->timeout &&
	    ternctl_migrate_number(o->timeout, 1, 86400, &timeout))
		return usage("--timeout '%s': seconds, 1 to 86400", o->timeout);
	if (o->listen_address)
		snprintf(host, sizeof(host), "%s", o->listen_address);
	else if (migration_dest_host(o->dest, host, sizeof(host), &err))
		return usage("%s", err.message);
	if (migration_host_check(host,
				 o->listen_address ? "--listen-address"
						   : "the destination's host",
				 &err))
		return usage("%s (--listen-address ADDR gives the address)",
			     err.message);
	snprintf(vm_path, sizeof(vm_path), "/v1/vms/%s", o->name);
	snprintf(migrate_path, sizeof(migrate_path), "/v1/vms/%s/migrate",
		 o->name);
	snprintf(incoming_path, sizeof(incoming_path), "/v1/vms/%s/incoming",
		 o->name);

	/* The source first: nothing is asked of the destination for a VM
	 * that cannot go (not running, already migrating). */
	if (post(o->source, migrate_path, json_pack("{s:b}", "check", 1),
		 &answer, &err))
		return fail("%s%s", err.message, "");
	json_decref(answer);
	if (ternctl_request(o->source, "GET", vm_path, NULL, &answer, &err))
		return fail("%s%s", err.message, "");
	definition = json_incref(json_object_get(answer, "config"));
	json_decref(answer);
	if (!json_is_object(definition)) {
		json_decref(definition);
		return fail("the source's ternd gave no definition for VM "
			    "'%s'%s",
			    o->name, "");
	}
	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
		json_decref(definition);
		return fail("cannot make a key: %s%s", strerror(errno), "");
	}
	migration_psk_format(bytes, psk);

	if (post(o->dest, incoming_path,
		 json_pack("{s:o, s:s, s:s, s:i}", "definition", definition,
			   "psk", psk, "listen_address", host, "port",
			   (int)port),
		 &answer, &err))
		return fail("at the destination: %s%s", err.message,
			    " (nothing was changed)");
	snprintf(address, sizeof(address), "%s",
		 json_string_value(json_object_get(answer, "migration_address"))
			 ? json_string_value(
				   json_object_get(answer, "migration_address"))
			 : "");
	json_decref(answer);

	if (post(o->source, migrate_path,
		 json_pack("{s:s, s:s, s:b}", "destination", address, "psk",
			   psk, "undefine_source", o->undefine_source),
		 &answer, &err)) {
		abandon(o, incoming_path);
		return fail("the source refused: %s%s", err.message,
			    " (the destination's incoming VM was abandoned)");
	}
	json_decref(answer);
	explicit_bzero(psk, sizeof(psk));
	printf("Migrating VM '%s' to %s (%s)...\n", o->name, o->dest, address);
	fflush(stdout);

	started = now_s();
	deadline = started + (double)timeout;
	for (;;) {
		if (vm_state(o->source, vm_path, state, sizeof(state), reason,
			     sizeof(reason), &err)) {
			/* The source's ternd went away: the destination
			 * says whether the guest came. */
			if (destination_runs(o, vm_path))
				break;
			return fail("the source's ternd stopped answering "
				    "(%s); the destination does not run the "
				    "VM: look at both with ternctl info%s",
				    err.message, "");
		}
		if (strcmp(state, "migrating"))
			break;
		if (!timed_out && now_s() > deadline) {
			/* Ending the destination's tern breaks the stream:
			 * the source takes its guest back and runs on. */
			fprintf(stderr,
				"ternctl: migrate: not done after %ld s: "
				"abandoning it\n",
				timeout);
			abandon(o, incoming_path);
			timed_out = 1;
		}
		sleep_ms(POLL_MS);
	}
	/* Shut off as "migrated to ...", or undefined (--undefine-source). */
	if (!strcmp(state, "") ||
	    (!strcmp(state, "shut off") && !strncmp(reason, "migrated", 8))) {
		if (!destination_runs(o, vm_path))
			return fail("the source handed VM '%s' over, but the "
				    "destination %s does not show it running "
				    "(ternctl -c DEST info)",
				    o->name, o->dest);
		/* The source undefines it once its child is reaped too. */
		for (double until = now_s() + DEST_SETTLE_S;
		     o->undefine_source && state[0] && now_s() < until;
		     sleep_ms(POLL_MS))
			if (vm_state(o->source, vm_path, state, sizeof(state),
				     reason, sizeof(reason), &err))
				break;
		if (o->undefine_source && state[0])
			fprintf(stderr,
				"ternctl: migrate: VM '%s' is still defined on "
				"the source (%s)\n",
				o->name, state);
		printf("VM '%s' migrated to %s in %.1f s%s\n", o->name, o->dest,
		       now_s() - started,
		       o->undefine_source ? "; undefined on the source" : "");
		return MIGRATED;
	}
	if (!timed_out)
		abandon(o, incoming_path);
	fprintf(stderr,
		"ternctl: migrate: VM '%s' did not migrate: %s; it is %s on "
		"the source\n",
		o->name, reason[0] ? reason : "no reason given", state);
	return FAILED;
}
