#include "ternd/vm_api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api_client.h"

int vm_api_call(const char *api_socket, const char *method, const char *path,
		const char *body, struct tern_error *err)
{
	return vm_api_call_within(api_socket, method, path, body,
				  VM_API_TIMEOUT_S, err);
}

/* One request; 0 with *reply (a 2xx answer, its body the caller's to
 * free), else -EREMOTEIO with tern's fault or why it did not answer. */
static int request(const char *api_socket, const char *method, const char *path,
		   const char *body, int timeout_s, struct api_reply *reply,
		   struct tern_error *err)
{
	char fault[200];
	int ret;

	ret = api_client_request(api_socket, method, path, body, timeout_s,
				 reply, err);
	if (ret) {
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err->message);
		return tern_error_set(err, EREMOTEIO,
				      "the VM's tern does not answer: %s", why);
	}
	if (reply->status >= 200 && reply->status <= 299)
		return 0;
	ret = tern_error_set(err, EREMOTEIO, "%s",
			     api_client_fault(reply, fault, sizeof(fault)));
	free(reply->body);
	reply->body = NULL;
	return ret;
}

int vm_api_call_within(const char *api_socket, const char *method,
		       const char *path, const char *body, int timeout_s,
		       struct tern_error *err)
{
	struct api_reply reply = {0};
	int ret =
		request(api_socket, method, path, body, timeout_s, &reply, err);

	if (!ret)
		free(reply.body);
	return ret;
}

int vm_api_state(const char *api_socket, enum vm_state *state,
		 struct tern_error *err)
{
	struct api_reply reply = {0};
	const char *text;
	json_t *doc;
	int ret;

	ret = api_client_request(api_socket, "GET", "/", NULL, VM_API_TIMEOUT_S,
				 &reply, err);
	if (ret)
		return ret;
	doc = reply.status == 200 ? json_loads(reply.body, 0, NULL) : NULL;
	text = json_string_value(json_object_get(doc, "state"));
	if (text && !strcmp(text, "Running"))
		*state = VM_STATE_RUNNING;
	else if (text && !strcmp(text, "Paused"))
		*state = VM_STATE_PAUSED;
	else if (text)
		ret = tern_error_set(err, EAGAIN, "tern's VM is '%.40s'", text);
	else
		ret = tern_error_set(err, EPROTO,
				     "tern's GET / answered %d without a state",
				     reply.status);
	json_decref(doc);
	free(reply.body);
	return ret;
}

int vm_api_get(const char *api_socket, const char *path, int timeout_s,
	       json_t **doc, struct tern_error *err)
{
	struct api_reply reply = {0};
	int ret;

	*doc = NULL;
	ret = request(api_socket, "GET", path, NULL, timeout_s, &reply, err);
	if (ret)
		return ret;
	*doc = json_loads(reply.body, JSON_REJECT_DUPLICATES, NULL);
	free(reply.body);
	if (!*doc)
		return tern_error_set(err, EREMOTEIO,
				      "the VM's tern answered GET %s with "
				      "something other than JSON",
				      path);
	return 0;
}
