#include "ternctl/ternctl_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api_client.h"
#include "ternctl/ternctl_tls.h"

static struct ternctl_tls_files tls_files;

void ternctl_client_set_tls_files(const struct ternctl_tls_files *files)
{
	tls_files = *files;
}

int ternctl_unreachable(const char *socket_path, int ret,
			struct tern_error *err)
{
	switch (-ret) {
	case ENOENT:
	case ECONNREFUSED:
		return tern_error_set(err, -ret,
				      "cannot reach ternd at %s: %s (is ternd "
				      "running? -c SOCKET names another "
				      "socket)",
				      socket_path, strerror(-ret));
	case EACCES:
	case EPERM:
		return tern_error_set(err, -ret,
				      "cannot reach ternd at %s: %s (ternd's "
				      "socket is for its own user, usually "
				      "root)",
				      socket_path, strerror(-ret));
	default:
		return ret; /* api_client's own sentence */
	}
}

int ternctl_request(const char *socket_path, const char *method,
		    const char *path, const char *body, json_t **answer,
		    struct tern_error *err)
{
	struct api_reply reply = {0};
	char fault[sizeof(err->message)];
	json_t *doc = NULL;
	int ret;

	*answer = NULL;
	if (ternctl_tls_is_uri(socket_path)) {
		ret = ternctl_tls_request(socket_path, &tls_files, method, path,
					  body, TERNCTL_TIMEOUT_S, &reply, err);
		if (ret)
			return ret;
	} else {
		ret = api_client_request(socket_path, method, path, body,
					 TERNCTL_TIMEOUT_S, &reply, err);
		if (ret)
			return ternctl_unreachable(socket_path, ret, err);
	}
	if (reply.status < 200 || reply.status > 299) {
		ret = tern_error_set(
			err, EREMOTEIO, "%s",
			api_client_fault(&reply, fault, sizeof(fault)));
	} else if (reply.body && reply.body[0]) {
		doc = json_loads(reply.body, 0, NULL);
		if (!doc)
			ret = tern_error_set(
				err, EPROTO,
				"%s did not answer with JSON: is it "
				"ternd?",
				socket_path);
	}
	free(reply.body);
	*answer = doc;
	return ret;
}

int ternctl_request_text(const char *socket_path, const char *path, char **text,
			 struct tern_error *err)
{
	struct api_reply reply = {0};
	char fault[sizeof(err->message)];
	int ret;

	*text = NULL;
	ret = api_client_request(socket_path, "GET", path, NULL,
				 TERNCTL_TIMEOUT_S, &reply, err);
	if (ret)
		return ternctl_unreachable(socket_path, ret, err);
	if (reply.status < 200 || reply.status > 299) {
		ret = tern_error_set(
			err, EREMOTEIO, "%s",
			api_client_fault(&reply, fault, sizeof(fault)));
		free(reply.body);
		return ret;
	}
	*text = reply.body ? reply.body : strdup("");
	return *text ? 0 : tern_error_set(err, ENOMEM, "out of memory");
}
