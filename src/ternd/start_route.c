#include "ternd/start_route.h"

#include <errno.h>
#include <string.h>

/* The deferred request's answer: the VM as it is now, or why not. */
static void start_done(void *opaque, struct vm_manager *m, const char *name,
		       int ret, const struct tern_error *err)
{
	struct ternd_deferral *later = opaque;
	struct ternd_reply reply = {0};

	if (ret)
		ternd_reply_error(&reply, ret, err);
	else
		ternd_reply_vm(m, name, 200, &reply);
	later->answer(later, &reply);
}

int start_route(struct vm_manager *m, const struct ternd_request *request,
		const char *vm, const char *action, struct ternd_reply *reply)
{
	const char *wait = request->wait;
	struct tern_error err;
	int ret, no_wait;

	if (strcmp(action, "start"))
		return 0;
	if (strcmp(request->method, "POST")) {
		ternd_reply_method_not_allowed(reply, "POST");
		return 1;
	}
	if (wait && strcmp(wait, "true") && strcmp(wait, "false")) {
		ternd_reply_fault(reply, 400, "wait is true or false");
		return 1;
	}
	no_wait = wait && !strcmp(wait, "false");
	/* Without a way to answer later (not an API request), the start is
	 * waited for here. */
	if (!no_wait && !request->later)
		ret = vm_manager_start(m, vm, &err);
	else
		ret = vm_manager_start_async(m, vm, no_wait ? NULL : start_done,
					     no_wait ? NULL : request->later,
					     &err);
	if (ret < 0)
		ternd_reply_error(reply, ret, &err);
	else if (ret == 0 && !no_wait)
		request->later->deferred = 1;
	else
		/* 202: launched, its tern not answering yet (reason
		 * "starting"); the event "started" says when it does. */
		ternd_reply_vm(m, vm, ret == 0 ? 202 : 200, reply);
	return 1;
}
