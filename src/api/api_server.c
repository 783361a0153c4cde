#include "api/api_server.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/api_routes.h"
#include "metrics/fc_metrics.h"
#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/unix_listener.h"

enum api_method { API_GET, API_PUT, API_PATCH, API_OTHER, API_METHODS };

#define API_STATUS_MIN 100
#define API_STATUS_MAX 599

/* Firecracker's per-request counters (put_api_requests.drive_count,
 * ..._fails): which requests each counts. A path ending in '/' matches
 * every path under it (/drives/{id}). Firecracker counts a request when it
 * parses it and a failure when it cannot carry it out; tern counts every
 * answer, and a failure for a status of 400 or more. */
struct fc_request_counter {
	const char *method;
	const char *path;
	const char *group;
	const char *name; /* "<name>_count", "<name>_fails" */
};

static const struct fc_request_counter fc_request_counters[] = {
	{"GET", "/", "get_api_requests", "instance_info"},
	{"GET", "/machine-config", "get_api_requests", "machine_cfg"},
	{"GET", "/mmds", "get_api_requests", "mmds"},
	{"GET", "/version", "get_api_requests", "vmm_version"},
	{"GET", "/hotplug/memory", "get_api_requests", "hotplug_memory"},
	{"PUT", "/actions", "put_api_requests", "actions"},
	{"PUT", "/boot-source", "put_api_requests", "boot_source"},
	{"PUT", "/drives/", "put_api_requests", "drive"},
	{"PUT", "/logger", "put_api_requests", "logger"},
	{"PUT", "/machine-config", "put_api_requests", "machine_cfg"},
	{"PUT", "/cpu-config", "put_api_requests", "cpu_cfg"},
	{"PUT", "/metrics", "put_api_requests", "metrics"},
	{"PUT", "/network-interfaces/", "put_api_requests", "network"},
	{"PUT", "/mmds", "put_api_requests", "mmds"},
	{"PUT", "/mmds/config", "put_api_requests", "mmds"},
	{"PUT", "/vsock", "put_api_requests", "vsock"},
	{"PUT", "/pmem/", "put_api_requests", "pmem"},
	{"PUT", "/serial", "put_api_requests", "serial"},
	{"PUT", "/hotplug/memory", "put_api_requests", "hotplug_memory"},
	{"PATCH", "/drives/", "patch_api_requests", "drive"},
	{"PATCH", "/network-interfaces/", "patch_api_requests", "network"},
	{"PATCH", "/machine-config", "patch_api_requests", "machine_cfg"},
	{"PATCH", "/mmds", "patch_api_requests", "mmds"},
	{"PATCH", "/hotplug/memory", "patch_api_requests", "hotplug_memory"},
	{"PATCH", "/pmem/", "patch_api_requests", "pmem"},
};

#define FC_REQUEST_COUNTERS                                                    \
	(sizeof(fc_request_counters) / sizeof(fc_request_counters[0]))

struct api_server {
	struct MHD_Daemon *daemon;
	struct instance *inst;
	size_t max_body;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	_Atomic uint64_t
		requests[API_METHODS][API_STATUS_MAX - API_STATUS_MIN + 1];
	_Atomic uint64_t fc_requests[FC_REQUEST_COUNTERS][2]; /* all, failed */
	_Atomic uint64_t deprecated_requests;
};

struct api_request {
	char *body;
	size_t len;
	int too_large;
	uint64_t start_ns;
};

static const char *const method_names[] = {"GET", "PUT", "PATCH", "other"};

static enum api_method method_index(const char *method)
{
	for (int i = 0; i < API_OTHER; i++)
		if (!strcmp(method, method_names[i]))
			return (enum api_method)i;
	return API_OTHER;
}

static void write_api_metrics(void *opaque, struct metrics_out *out)
{
	struct api_server *server = opaque;

	metrics_family(out, "tern_api_requests_total", METRICS_COUNTER,
		       "API requests answered, by method and status code.");
	for (int m = 0; m < API_METHODS; m++) {
		for (int s = API_STATUS_MIN; s <= API_STATUS_MAX; s++) {
			uint64_t n = atomic_load_explicit(
				&server->requests[m][s - API_STATUS_MIN],
				memory_order_relaxed);
			char code[16];

			if (!n)
				continue;
			snprintf(code, sizeof(code), "%d", s);
			metrics_sample(out, "tern_api_requests_total",
				       (double)n, "method", method_names[m],
				       "status", code, NULL);
		}
	}
}

/* The counter of fc_request_counters for this request; -1: none. */
static int fc_request_counter_index(const char *method, const char *url)
{
	for (size_t i = 0; i < FC_REQUEST_COUNTERS; i++) {
		const struct fc_request_counter *c = &fc_request_counters[i];
		size_t len = strlen(c->path);

		if (strcmp(method, c->method))
			continue;
		if (c->path[len - 1] == '/' && len > 1
			    ? !strncmp(url, c->path, len) && url[len]
			    : !strcmp(url, c->path))
			return (int)i;
	}
	return -1;
}

/* Routes the request, counting it first (as Firecracker counts when it
 * parses, so a FlushMetrics line counts its own request). */
static void route_counted(struct api_server *server, const char *method,
			  const char *url, struct api_request *req,
			  struct api_reply *reply)
{
	int i = fc_request_counter_index(method, url);

	if (i >= 0)
		atomic_fetch_add_explicit(&server->fc_requests[i][0], 1,
					  memory_order_relaxed);
	api_route(server->inst, method, url, req->body, req->len, reply);
	if (reply->deprecation)
		atomic_fetch_add_explicit(&server->deprecated_requests, 1,
					  memory_order_relaxed);
	if (i >= 0 && reply->status >= 400)
		atomic_fetch_add_explicit(&server->fc_requests[i][1], 1,
					  memory_order_relaxed);
}

static void fc_api_metrics(void *opaque, json_t *doc)
{
	struct api_server *server = opaque;
	char key[64];

	for (size_t i = 0; i < FC_REQUEST_COUNTERS; i++) {
		const struct fc_request_counter *c = &fc_request_counters[i];

		snprintf(key, sizeof(key), "%s_count", c->name);
		fc_metrics_add(doc, c->group, key,
			       atomic_load_explicit(&server->fc_requests[i][0],
						    memory_order_relaxed));
		/* GET has no _fails keys; fc_metrics_add ignores them. */
		snprintf(key, sizeof(key), "%s_fails", c->name);
		fc_metrics_add(doc, c->group, key,
			       atomic_load_explicit(&server->fc_requests[i][1],
						    memory_order_relaxed));
	}
	fc_metrics_add(doc, "deprecated_api", "deprecated_http_api_calls",
		       atomic_load_explicit(&server->deprecated_requests,
					    memory_order_relaxed));
}

static enum MHD_Result send_reply(struct api_server *server,
				  struct MHD_Connection *conn,
				  const char *method, const char *url,
				  struct api_request *req,
				  struct api_reply *reply)
{
	struct MHD_Response *response;
	enum MHD_Result ret;
	size_t len = reply->body ? strlen(reply->body) : 0;
	char printable_path[201], printable_method[17], fault[301] = "";

	/* The path arrives percent-decoded: keep control bytes off the
	 * terminal that shows the log. */
	log_printable_copy(printable_path, sizeof(printable_path), url);
	log_printable_copy(printable_method, sizeof(printable_method), method);

	response = MHD_create_response_from_buffer(
		len, reply->body ? reply->body : (void *)"",
		reply->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!response) {
		free(reply->body);
		return MHD_NO;
	}
	if (len)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
					reply->content_type
						? reply->content_type
						: "application/json");
	/* Firecracker's Deprecation header on a deprecated request; the
	 * reason goes to the log. */
	if (reply->deprecation) {
		MHD_add_response_header(response, "Deprecation", "true");
		log_warn("%s", reply->deprecation);
	}
	ret = MHD_queue_response(conn, reply->status, response);
	MHD_destroy_response(response);

	if (reply->status >= API_STATUS_MIN && reply->status <= API_STATUS_MAX)
		atomic_fetch_add_explicit(
			&server->requests[method_index(method)]
					 [reply->status - API_STATUS_MIN],
			1, memory_order_relaxed);
	/* A refused request's reason goes to the log too (as Firecracker
	 * logs each error's message), so an operator sees why a client
	 * failed without the client's own log. */
	if (reply->status >= 400 && reply->body)
		log_printable_copy(fault, sizeof(fault), reply->body);
	log_info("api request method=%.16s path=%s status=%u "
		 "duration_ms=%.3f%s%s",
		 printable_method, printable_path, reply->status,
		 (double)(log_elapsed_ns() - req->start_ns) / 1e6,
		 fault[0] ? " reply=" : "", fault);
	return ret;
}

static int declared_too_large(struct MHD_Connection *conn, size_t max_body)
{
	const char *length = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!length)
		return 0;
	errno = 0;
	n = strtoull(length, &end, 10);
	return errno || *end || n > max_body;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct api_server *server = cls;
	struct api_request *req = *con_cls;
	struct api_reply reply = {0};
	char message[96];

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->start_ns = log_elapsed_ns();
		*con_cls = req;
		/* Refuse a body declared too large before reading it. */
		if (declared_too_large(conn, server->max_body)) {
			snprintf(message, sizeof(message),
				 "the request body is larger than %zu bytes",
				 server->max_body);
			api_reply_fault(&reply, MHD_HTTP_CONTENT_TOO_LARGE,
					message);
			return send_reply(server, conn, method, url, req,
					  &reply);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t size = *upload_data_size;

		*upload_data_size = 0;
		if (req->too_large || req->len + size > server->max_body) {
			/* Chunked bodies have no length up front: keep
			 * reading, keep nothing, answer at the end. */
			req->too_large = 1;
			free(req->body);
			req->body = NULL;
			return MHD_YES;
		}
		char *grown = realloc(req->body, req->len + size + 1);

		if (!grown)
			return MHD_NO;
		memcpy(grown + req->len, upload_data, size);
		req->body = grown;
		req->len += size;
		req->body[req->len] = '\0';
		return MHD_YES;
	}
	if (req->too_large) {
		snprintf(message, sizeof(message),
			 "the request body is larger than %zu bytes",
			 server->max_body);
		api_reply_fault(&reply, MHD_HTTP_CONTENT_TOO_LARGE, message);
	} else {
		route_counted(server, method, url, req, &reply);
	}
	return send_reply(server, conn, method, url, req, &reply);
}

/* libmicrohttpd's polling thread is its own, started under the ceiling
 * (sandbox/seccomp.h); it narrows itself when the first client connects,
 * before it reads a byte the client sent. */
static void connection_notified(void *cls, struct MHD_Connection *conn,
				void **socket_context,
				enum MHD_ConnectionNotificationCode code)
{
	static __thread int narrowed;

	if (code != MHD_CONNECTION_NOTIFY_STARTED || narrowed)
		return;
	narrowed = 1;
	pthread_setname_np(pthread_self(), "api");
	seccomp_enter_thread(SECCOMP_THREAD_API);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct api_request *req = *con_cls;

	if (code == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		log_info("api: dropped a connection idle for %d s",
			 API_CONNECTION_TIMEOUT_S);
	if (req) {
		free(req->body);
		free(req);
	}
	*con_cls = NULL;
}

struct api_server *api_server_start(const char *path, struct instance *inst,
				    size_t max_body, struct tern_error *err)
{
	struct api_server *server = calloc(1, sizeof(*server));
	int fd;

	if (!server) {
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	server->inst = inst;
	server->max_body = max_body ? max_body : API_MAX_BODY;
	/* The API controls the VM (and names host files tern opens). */
	fd = unix_listener_open(path, "--api-sock", API_MAX_CONNECTIONS, err);
	if (fd < 0) {
		free(server);
		return NULL;
	}
	snprintf(server->path, sizeof(server->path), "%s", path);
	if (metrics_register(&inst->metrics, "api", write_api_metrics, server,
			     err)) {
		close(fd);
		unlink(path);
		free(server);
		return NULL;
	}
	metrics_set_firecracker(&inst->metrics, "api", fc_api_metrics);
	server->daemon = MHD_start_daemon(
		MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
		handle_request, server, MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)API_CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_MAX_CONNECTIONS,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, server,
		MHD_OPTION_NOTIFY_CONNECTION, connection_notified, server,
		MHD_OPTION_END);
	if (!server->daemon) {
		tern_error_set(err, EIO, "cannot start the API server on %s",
			       path);
		metrics_unregister(&inst->metrics, server);
		close(fd);
		unlink(path);
		free(server);
		return NULL;
	}
	log_info("API listening on %s", path);
	return server;
}

void api_server_stop(struct api_server *server)
{
	if (!server)
		return;
	MHD_stop_daemon(server->daemon);
	metrics_unregister(&server->inst->metrics, server);
	unlink(server->path);
	free(server);
}
