#include "ternd/console_route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ternd/vm_consoles.h"
#include "ternd/vm_state.h"
#include "util/log.h"

#define PREFIX "/v1/vms/"
#define SUFFIX "/console"
#define PROTOCOL "tern-console"

/* What the 101 answer's callback needs; freed with the request. */
struct console_upgrade {
	struct vm_manager *manager;
	char name[TERND_NAME_MAX + 1];
	size_t scrollback;
	int force;
};

static void upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
		     const char *extra_in, size_t extra_in_size,
		     MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct console_upgrade *u = cls;

	vm_consoles_add_client(vm_manager_consoles(u->manager), u->name,
			       u->force, u->scrollback, extra_in, extra_in_size,
			       sock, urh);
}

/* A comma-separated header value holding token (case-insensitive). */
static int has_token(const char *value, const char *token)
{
	size_t len = strlen(token);

	while (value && *value) {
		while (*value == ' ' || *value == '\t' || *value == ',')
			value++;
		if (!strncasecmp(value, token, len) &&
		    (!value[len] || value[len] == ',' || value[len] == ' ' ||
		     value[len] == '\t'))
			return 1;
		value = strchr(value, ',');
	}
	return 0;
}

static int parse_args(struct MHD_Connection *conn, struct console_upgrade *u,
		      struct ternd_reply *reply)
{
	const char *scrollback = MHD_lookup_connection_value(
		conn, MHD_GET_ARGUMENT_KIND, "scrollback");
	const char *force = MHD_lookup_connection_value(
		conn, MHD_GET_ARGUMENT_KIND, "force");
	char message[160];
	char *end;
	unsigned long long n;

	u->scrollback = CONSOLE_SCROLLBACK_DEFAULT;
	if (scrollback) {
		errno = 0;
		n = strtoull(scrollback, &end, 10);
		if (!scrollback[0] || *end || errno || scrollback[0] == '-' ||
		    n > CONSOLE_SCROLLBACK_MAX) {
			snprintf(message, sizeof(message),
				 "scrollback is a number of bytes from 0 to "
				 "%d",
				 CONSOLE_SCROLLBACK_MAX);
			ternd_reply_fault(reply, 400, message);
			return -1;
		}
		u->scrollback = (size_t)n;
	}
	if (!force || !strcmp(force, "false") || !strcmp(force, "0")) {
		u->force = 0;
	} else if (!strcmp(force, "true") || !strcmp(force, "1")) {
		u->force = 1;
	} else {
		ternd_reply_fault(reply, 400, "force is true or false");
		return -1;
	}
	return 0;
}

/* The VM exists and runs (or is paused), and its console is free. */
static int check_vm(struct vm_manager *m, const struct console_upgrade *u,
		    struct ternd_reply *reply)
{
	struct tern_error err;
	struct vm_record r;
	int ret = vm_manager_get(m, u->name, &r, &err);

	if (!ret) {
		if (!vm_state_active(r.runtime.state))
			ret = tern_error_set(&err, EBUSY,
					     "VM '%s' is not running "
					     "('ternctl start %s')",
					     u->name, u->name);
		vm_record_free(&r);
	}
	if (!ret)
		ret = vm_manager_attach_console(m, u->name, &err);
	if (!ret)
		ret = vm_consoles_check(vm_manager_consoles(m), u->name,
					u->force, &err);
	if (ret)
		ternd_reply_error(reply, ret, &err);
	return ret;
}

int console_route(struct vm_manager *m, struct MHD_Connection *conn,
		  const char *method, const char *url,
		  struct ternd_reply *reply, enum MHD_Result *result,
		  void **upgrade)
{
	size_t len = strlen(url), name_len;
	struct console_upgrade *u;
	struct MHD_Response *response;
	const char *action;
	struct tern_error err;

	if (strncmp(url, PREFIX, strlen(PREFIX)) ||
	    len <= strlen(PREFIX) + strlen(SUFFIX) ||
	    strcmp(url + len - strlen(SUFFIX), SUFFIX))
		return -1;
	name_len = len - strlen(PREFIX) - strlen(SUFFIX);
	if (memchr(url + strlen(PREFIX), '/', name_len))
		return -1; /* not NAME/console: the usual 404s */
	u = calloc(1, sizeof(*u));
	if (!u) {
		ternd_reply_fault(reply, 500, "out of memory");
		return 1;
	}
	u->manager = m;
	if (ternd_route_name("VM", url + strlen(PREFIX), u->name, &action,
			     reply))
		goto answered;
	if (strcmp(method, "POST")) {
		ternd_reply_method_not_allowed(reply, "POST");
		goto answered;
	}
	if (!has_token(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_CONNECTION),
		       "upgrade") ||
	    !has_token(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						   MHD_HTTP_HEADER_UPGRADE),
		       PROTOCOL)) {
		ternd_reply_fault(
			reply, 400,
			"the console is a byte stream: ask with "
			"'Connection: Upgrade' and 'Upgrade: " PROTOCOL
			"' ('ternctl console NAME' does)");
		goto answered;
	}
	if (parse_args(conn, u, reply) || check_vm(m, u, reply))
		goto answered;
	response = MHD_create_response_for_upgrade(upgraded, u);
	if (!response ||
	    MHD_add_response_header(response, MHD_HTTP_HEADER_UPGRADE,
				    PROTOCOL) != MHD_YES) {
		if (response)
			MHD_destroy_response(response);
		tern_error_set(&err, ENOMEM, "out of memory");
		ternd_reply_error(reply, -ENOMEM, &err);
		goto answered;
	}
	*result = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS,
				     response);
	MHD_destroy_response(response);
	*upgrade = u;
	log_info("api request method=POST path=%s status=101", url);
	return 0;
answered:
	free(u);
	return 1;
}
