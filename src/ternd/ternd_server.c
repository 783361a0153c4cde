#include "ternd/ternd_server.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ternd/console_route.h"
#include "ternd/metrics_listen.h"
#include "ternd/ternd_routes.h"
#include "ternd/ternd_stats.h"
#include "ternd/tls_listener.h"
#include "ternd/vm_consoles.h"
#include "util/log.h"
#include "util/unix_listener.h"

/* A GET /v1/events?wait= held until an event after since is logged. */
struct waiter {
	struct MHD_Connection *conn;
	struct request *req;
	int64_t since;
	int64_t deadline_ms; /* monotonic */
};

struct ternd_server {
	struct MHD_Daemon *daemon;
	struct tls_listener *tls; /* --listen; NULL without */
	/* Holds the daemons' epoll descriptors: the one to poll. */
	int epoll_fd;
	struct vm_manager *manager;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct waiter waiters[TERND_MAX_CONNECTIONS];
	size_t waiter_count;
	int metrics_only; /* --metrics-listen's TCP port: GET /metrics only */
	/* Deferred answers given since the daemons last ran: they run
	 * again (a resumed connection wakes no epoll descriptor). */
	unsigned answers_ready;
};

struct request {
	char *body;
	size_t len;
	int too_large;
	int resumed; /* a long poll that waited: answer now */
	void *upgrade; /* a console's (console_route.h), freed at the end */
	/* A deferred request (a start): suspended until answer() fills
	 * answer; answered is then 1. */
	struct ternd_deferral later;
	struct ternd_reply answer;
	int answered;
	struct MHD_Connection *conn;
	struct ternd_server *server;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Suspends a long poll with nothing to answer yet; 0 when it was
 * suspended, -1 when it is to be answered now. */
static int maybe_wait(struct ternd_server *server, struct MHD_Connection *conn,
		      struct request *req, const struct ternd_request *request)
{
	long long since, limit, wait;
	struct ternd_reply ignored = {0};
	struct waiter *w;

	if (req->resumed || strcmp(request->method, "GET") ||
	    strcmp(request->url, "/v1/events") || !request->wait)
		return -1;
	if (ternd_events_args(request, &since, &limit, &wait, &ignored)) {
		free(ignored.body); /* the route says it again */
		return -1;
	}
	if (!wait ||
	    ternd_db_last_event_id(vm_manager_db(server->manager)) > since ||
	    server->waiter_count == TERND_MAX_CONNECTIONS)
		return -1;
	w = &server->waiters[server->waiter_count++];
	*w = (struct waiter){.conn = conn,
			     .req = req,
			     .since = since,
			     .deadline_ms = now_ms() + wait * 1000};
	MHD_suspend_connection(conn);
	return 0;
}

/* Resumes the long polls that have an event or whose time is up (all of
 * them with all set); libmicrohttpd calls handle_request() for each again
 * on its next run. Returns how many. */
static size_t wake_waiters(struct ternd_server *server, int all)
{
	size_t woken = 0;
	int64_t last = ternd_db_last_event_id(vm_manager_db(server->manager));
	int64_t now = now_ms();

	for (size_t i = 0; i < server->waiter_count;) {
		struct waiter *w = &server->waiters[i];

		if (!all && w->since >= last && now < w->deadline_ms) {
			i++;
			continue;
		}
		w->req->resumed = 1;
		MHD_resume_connection(w->conn);
		*w = server->waiters[--server->waiter_count];
		woken++;
	}
	return woken;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn,
				  const char *method, const char *url,
				  struct ternd_reply *reply)
{
	size_t len = reply->body ? strlen(reply->body) : 0;
	struct MHD_Response *response;
	char shown_url[201], shown_method[17];
	enum MHD_Result ret;

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
	ternd_stats_request(reply->status);
	ret = MHD_queue_response(conn, reply->status, response);
	MHD_destroy_response(response);
	/* The path arrives percent-decoded: keep control bytes off the
	 * terminal that shows the log. */
	log_printable_copy(shown_url, sizeof(shown_url), url);
	log_printable_copy(shown_method, sizeof(shown_method), method);
	log_info("api request method=%s path=%s status=%u", shown_method,
		 shown_url, reply->status);
	return ret;
}

/* A route's deferred answer (ternd_routes.h): kept, and the connection
 * resumed; handle_request() sends it on the daemon's next run. */
static void deferred_answer(struct ternd_deferral *later,
			    struct ternd_reply *reply)
{
	struct request *req =
		(struct request *)((char *)later -
				   offsetof(struct request, later));

	req->answer = *reply;
	req->answered = 1;
	req->server->answers_ready++;
	MHD_resume_connection(req->conn);
}

static int declared_too_large(struct MHD_Connection *conn)
{
	const char *length = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!length)
		return 0;
	errno = 0;
	n = strtoull(length, &end, 10);
	return errno || *end || n > TERND_MAX_BODY;
}

static enum MHD_Result too_large(struct MHD_Connection *conn,
				 const char *method, const char *url)
{
	struct ternd_reply reply = {0};
	char message[96];

	snprintf(message, sizeof(message),
		 "the request body is larger than %d bytes", TERND_MAX_BODY);
	ternd_reply_fault(&reply, MHD_HTTP_CONTENT_TOO_LARGE, message);
	return send_reply(conn, method, url, &reply);
}

static enum MHD_Result append_body(struct request *req, const char *data,
				   size_t size)
{
	char *grown;

	if (req->too_large || req->len + size > TERND_MAX_BODY) {
		/* Keep reading a chunked body, keep nothing, answer at the
		 * end. */
		req->too_large = 1;
		free(req->body);
		req->body = NULL;
		return MHD_YES;
	}
	grown = realloc(req->body, req->len + size + 1);
	if (!grown)
		return MHD_NO;
	memcpy(grown + req->len, data, size);
	req->body = grown;
	req->len += size;
	req->body[req->len] = '\0';
	return MHD_YES;
}

/* The TCP port answers the metrics and nothing else: it is not
 * authenticated, unlike the Unix socket (0600). */
static void metrics_only_route(struct vm_manager *m,
			       const struct ternd_request *request,
			       struct ternd_reply *reply)
{
	if (strcmp(request->url, "/metrics") &&
	    strcmp(request->url, "/v1/metrics"))
		ternd_reply_fault(reply, 404,
				  "no such path: this port serves only "
				  "/metrics (ternd's API is on its Unix "
				  "socket)");
	else
		metrics_route(m, request, reply);
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct ternd_server *server = cls;
	struct request *req = *con_cls;
	struct ternd_reply reply = {0};
	struct ternd_request request;
	enum MHD_Result result;

	if (!req) {
		char dn[256], address[64];
		int tls = tls_listener_client(server->tls, conn, dn, sizeof(dn),
					      address, sizeof(address));

		if (tls < 0)
			return MHD_NO; /* closed, never answered */
		if (tls)
			log_debug("api client dn=%s address=%s", dn, address);
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		req->conn = conn;
		req->server = server;
		req->later.answer = deferred_answer;
		*con_cls = req;
		return declared_too_large(conn) ? too_large(conn, method, url)
						: MHD_YES;
	}
	if (*upload_data_size) {
		size_t size = *upload_data_size;

		*upload_data_size = 0;
		return append_body(req, upload_data, size);
	}
	if (req->too_large)
		return too_large(conn, method, url);
	if (req->answered) {
		req->answered = 0;
		return send_reply(conn, method, url, &req->answer);
	}
	request = (struct ternd_request){
		.method = method,
		.url = url,
		.body = req->body,
		.body_len = req->len,
		.since = MHD_lookup_connection_value(
			conn, MHD_GET_ARGUMENT_KIND, "since"),
		.limit = MHD_lookup_connection_value(
			conn, MHD_GET_ARGUMENT_KIND, "limit"),
		.wait = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
						    "wait"),
		.snapshots = MHD_lookup_connection_value(
			conn, MHD_GET_ARGUMENT_KIND, "snapshots"),
		.later = &req->later,
	};
	if (server->metrics_only) {
		metrics_only_route(server->manager, &request, &reply);
		return send_reply(conn, method, url, &reply);
	}
	if (!maybe_wait(server, conn, req, &request))
		return MHD_YES;
	switch (console_route(server->manager, conn, method, url, &reply,
			      &result, &req->upgrade)) {
	case 0:
		return result;
	case 1:
		return send_reply(conn, method, url, &reply);
	}
	ternd_route(server->manager, &request, &reply);
	if (req->later.deferred) {
		/* Answered from the loop (deferred_answer); until then the
		 * connection waits, the loop and other requests go on. */
		req->later.deferred = 0;
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	return send_reply(conn, method, url, &reply);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct request *req = *con_cls;

	if (req) {
		free(req->body);
		free(req->upgrade);
		free(req);
	}
	*con_cls = NULL;
}

/* The daemon's epoll descriptor joins the server's: epoll descriptors
 * nest, so ternd's loop polls one descriptor however many listeners. */
static int watch_daemon(struct ternd_server *server, struct MHD_Daemon *daemon,
			struct tern_error *err)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
	struct epoll_event event = {.events = EPOLLIN};

	if (!info)
		return tern_error_set(err, EIO,
				      "libmicrohttpd has no epoll fd");
	event.data.fd = info->epoll_fd;
	if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, info->epoll_fd, &event) <
	    0)
		return tern_error_set(err, errno, "epoll_ctl: %s",
				      strerror(errno));
	return 0;
}

static struct ternd_server *start_daemon(struct ternd_server *server, int fd,
					 const char *what,
					 struct tern_error *err)
{
	server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (server->epoll_fd < 0) {
		tern_error_set(err, errno, "epoll_create1: %s",
			       strerror(errno));
		close(fd);
		if (server->path[0])
			unlink(server->path);
		free(server);
		return NULL;
	}
	server->daemon = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE, 0,
		NULL, NULL, handle_request, server, MHD_OPTION_LISTEN_SOCKET,
		fd, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)TERND_CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)TERND_MAX_CONNECTIONS,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, server,
		MHD_OPTION_END);
	if (!server->daemon) {
		tern_error_set(err, EIO, "cannot start the HTTP server on %s",
			       what);
		close(fd);
		if (server->path[0])
			unlink(server->path);
		close(server->epoll_fd);
		free(server);
		return NULL;
	}
	if (watch_daemon(server, server->daemon, err)) {
		ternd_server_stop(server);
		return NULL;
	}
	log_info("listening on %s", what);
	return server;
}

int ternd_server_listen_tls(struct ternd_server *server,
			    const struct tls_listener_options *o,
			    struct tern_error *err)
{
	if (!o->listen)
		return 0;
	server->tls = tls_listener_open(o, handle_request, request_completed,
					server, err);
	if (!server->tls)
		return -1;
	return watch_daemon(server, tls_listener_daemon(server->tls), err);
}

struct ternd_server *ternd_server_start_metrics(const char *listen_spec,
						struct vm_manager *m,
						struct tern_error *err)
{
	struct ternd_server *server = calloc(1, sizeof(*server));
	char shown[80];
	int fd;

	if (!server) {
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	server->manager = m;
	server->metrics_only = 1;
	fd = metrics_listen_open(listen_spec, shown, sizeof(shown), err);
	if (fd < 0) {
		free(server);
		return NULL;
	}
	return start_daemon(server, fd, shown, err);
}

struct ternd_server *ternd_server_start(const char *path, struct vm_manager *m,
					struct tern_error *err)
{
	struct ternd_server *server = calloc(1, sizeof(*server));
	int fd;

	if (!server) {
		tern_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	server->manager = m;
	ternd_stats(); /* its start time: now */
	fd = unix_listener_open(path, "--socket", TERND_MAX_CONNECTIONS, err);
	if (fd < 0) {
		free(server);
		return NULL;
	}
	snprintf(server->path, sizeof(server->path), "%s", path);
	return start_daemon(server, fd, path, err);
}

int ternd_server_fd(const struct ternd_server *server)
{
	return server->epoll_fd;
}

static void shorter_timeout(struct MHD_Daemon *daemon, int64_t *timeout)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(daemon, &ms) != MHD_YES)
		return;
	if (ms > INT_MAX)
		ms = INT_MAX;
	if (*timeout < 0 || (int64_t)ms < *timeout)
		*timeout = (int64_t)ms;
}

int ternd_server_timeout_ms(const struct ternd_server *server)
{
	int64_t now = now_ms(), timeout = -1;

	shorter_timeout(server->daemon, &timeout);
	if (server->tls)
		shorter_timeout(tls_listener_daemon(server->tls), &timeout);
	for (size_t i = 0; i < server->waiter_count; i++) {
		int64_t left = server->waiters[i].deadline_ms - now;

		if (left < 0)
			left = 0;
		if (timeout < 0 || left < timeout)
			timeout = left;
	}
	return (int)timeout;
}

static void run_daemons(struct ternd_server *server)
{
	MHD_run(server->daemon);
	if (server->tls)
		MHD_run(tls_listener_daemon(server->tls));
}

void ternd_server_run(struct ternd_server *server)
{
	/* Events logged by exits recorded since the last run, and the
	 * starts answered there (vm_manager_reap). */
	wake_waiters(server, 0);
	server->answers_ready = 0;
	run_daemons(server);
	/* Events this run's requests logged, and starts they ended (a
	 * destroy): answered now, not at the next wake-up (a resumed
	 * connection does not make the epoll descriptor readable in
	 * libmicrohttpd's external-poll mode). */
	for (int i = 0; i < 4; i++) {
		int woken = (int)wake_waiters(server, 0);

		if (!woken && !server->answers_ready)
			break;
		server->answers_ready = 0;
		run_daemons(server);
	}
}

void ternd_server_stop(struct ternd_server *server)
{
	if (!server)
		return;
	/* libmicrohttpd stops no daemon with suspended connections, and
	 * an upgraded one (a console) counts as suspended. */
	wake_waiters(server, 1);
	vm_consoles_drop_clients(vm_manager_consoles(server->manager));
	/* Nor with a start's request waiting: answered, the VM going on. */
	if (!server->metrics_only)
		vm_manager_starts_abandon(server->manager);
	run_daemons(server);
	tls_listener_close(server->tls);
	MHD_stop_daemon(server->daemon);
	close(server->epoll_fd);
	if (server->path[0])
		unlink(server->path);
	free(server);
}
