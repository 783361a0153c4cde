/* /v1/events: the event log (ternd_db.h), oldest first after ?since=ID.
 * ?wait=SECONDS makes it a long poll: ternd_server.c holds the request
 * (a suspended libmicrohttpd connection) until an event newer than since
 * is logged or the time is up, and only then routes it here. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ternd/ternd_routes.h"

/* A non-negative decimal integer argument; -1 with a 400 otherwise. */
static int number_arg(const char *name, const char *text, long long max,
		      long long *out, struct ternd_reply *reply)
{
	char message[128], *end;
	long long n;

	if (!text)
		return 0;
	errno = 0;
	n = strtoll(text, &end, 10);
	if (!*text || *end || errno || n < 0 || n > max) {
		snprintf(message, sizeof(message),
			 "?%s: expected an integer from 0 to %lld", name, max);
		ternd_reply_fault(reply, 400, message);
		return -1;
	}
	*out = n;
	return 0;
}

int ternd_events_args(const struct ternd_request *request, long long *since,
		      long long *limit, long long *wait,
		      struct ternd_reply *reply)
{
	*since = 0;
	*limit = TERND_EVENTS_PAGE;
	*wait = 0;
	if (number_arg("since", request->since, INT64_MAX, since, reply) ||
	    number_arg("limit", request->limit, TERND_EVENTS_PAGE, limit,
		       reply) ||
	    number_arg("wait", request->wait, TERND_EVENTS_WAIT_MAX, wait,
		       reply))
		return -1;
	return 0;
}

static json_t *event_json(const struct ternd_event *ev)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s}", "id",
			 (json_int_t)ev->id, "time", (json_int_t)ev->at,
			 "object", ev->object, "name", ev->name, "kind",
			 ev->kind, "reason", ev->reason);
}

void event_route(struct vm_manager *m, const struct ternd_request *request,
		 struct ternd_reply *reply)
{
	struct ternd_db *db = vm_manager_db(m);
	long long since, limit, wait;
	struct ternd_event *events;
	int64_t last;
	struct tern_error err;
	size_t count;
	json_t *list;
	int ret;

	if (strcmp(request->method, "GET")) {
		ternd_reply_method_not_allowed(reply, "GET");
		return;
	}
	if (ternd_events_args(request, &since, &limit, &wait, reply))
		return;
	ret = ternd_db_events(db, since, (size_t)limit, &events, &count, &err);
	if (ret) {
		ternd_reply_error(reply, ret, &err);
		return;
	}
	list = json_array();
	for (size_t i = 0; list && i < count; i++)
		if (json_array_append_new(list, event_json(&events[i]))) {
			json_decref(list);
			list = NULL;
		}
	/* last_id: where the next ?since= starts: the last event sent, or
	 * the newest logged when none was. */
	last = count ? events[count - 1].id : ternd_db_last_event_id(db);
	free(events);
	ternd_reply_json(reply, 200,
			 list ? json_pack("{s:o, s:I}", "events", list,
					  "last_id", (json_int_t)last)
			      : NULL);
}
