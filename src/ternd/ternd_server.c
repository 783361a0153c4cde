#include "ternd/ternd_server.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "ternd/ternd_routes.h"
#include "util/log.h"
#include "util/unix_listener.h"

struct ternd_server {
	struct MHD_Daemon *daemon;
	struct vm_manager *manager;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct request {
	char *body;
	size_t len;
	int too_large;
};

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
					"application/json");
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

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct ternd_server *server = cls;
	struct request *req = *con_cls;
	struct ternd_reply reply = {0};

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
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
	ternd_route(server->manager, method, url, req->body, req->len, &reply);
	return send_reply(conn, method, url, &reply);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
			      void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct request *req = *con_cls;

	if (req) {
		free(req->body);
		free(req);
	}
	*con_cls = NULL;
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
	fd = unix_listener_open(path, "--socket", TERND_MAX_CONNECTIONS, err);
	if (fd < 0) {
		free(server);
		return NULL;
	}
	snprintf(server->path, sizeof(server->path), "%s", path);
	server->daemon = MHD_start_daemon(
		MHD_USE_EPOLL, 0, NULL, NULL, handle_request, server,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)TERND_CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)TERND_MAX_CONNECTIONS,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, server,
		MHD_OPTION_END);
	if (!server->daemon) {
		tern_error_set(err, EIO, "cannot start the HTTP server on %s",
			       path);
		close(fd);
		unlink(path);
		free(server);
		return NULL;
	}
	log_info("listening on %s", path);
	return server;
}

int ternd_server_fd(const struct ternd_server *server)
{
	const union MHD_DaemonInfo *info =
		MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_EPOLL_FD);

	return info ? info->epoll_fd : -1;
}

int ternd_server_timeout_ms(const struct ternd_server *server)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(server->daemon, &ms) != MHD_YES)
		return -1;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void ternd_server_run(struct ternd_server *server)
{
	MHD_run(server->daemon);
}

void ternd_server_stop(struct ternd_server *server)
{
	if (!server)
		return;
	MHD_stop_daemon(server->daemon);
	unlink(server->path);
	free(server);
}
