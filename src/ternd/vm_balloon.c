#include "ternd/vm_balloon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ternd/vm_api.h"
#include "util/log.h"

#define MIB (1024ULL * 1024)

/* The running VM's memory size and whether it has a balloon, from its
 * tern's own configuration (the definition may have changed since the
 * start). */
static int running_config(const char *sock, json_int_t timeout_s,
			  uint64_t *memory_mib, int *has_balloon,
			  struct tern_error *err)
{
	json_t *doc, *balloon;
	json_int_t mib;
	int ret = vm_api_get(sock, "/vm/config", (int)timeout_s, &doc, err);

	if (ret)
		return ret;
	mib = json_integer_value(json_object_get(
		json_object_get(doc, "machine-config"), "mem_size_mib"));
	balloon = json_object_get(doc, "balloon");
	*has_balloon = json_is_object(balloon);
	*memory_mib = mib > 0 ? (uint64_t)mib : 0;
	json_decref(doc);
	if (!*memory_mib)
		return tern_error_set(err, EREMOTEIO,
				      "the VM's tern did not say its memory "
				      "size");
	return 0;
}

int vm_balloon_setmem(struct vm_manager *m, const char *name, uint64_t bytes,
		      struct tern_error *err)
{
	uint64_t memory_mib, size_mib = bytes / MIB;
	char body[64], reason[160];
	struct vm_record r;
	int has_balloon, ret = vm_manager_get(m, name, &r, err);

	if (ret)
		return ret;
	if (vm_state_migration(r.runtime.state))
		ret = vm_manager_migration_busy(&r, err);
	else if (!vm_state_active(r.runtime.state))
		ret = tern_error_set(err, EBUSY,
				     "VM '%s' is shut off: setmem changes a "
				     "running VM's memory through its "
				     "balloon; for the next start, change "
				     "machine-config.mem_size_mib in its "
				     "definition",
				     name);
	if (!ret)
		ret = running_config(r.runtime.api_socket, VM_API_TIMEOUT_S,
				     &memory_mib, &has_balloon, err);
	if (!ret && !has_balloon)
		ret = tern_error_set(err, EBUSY,
				     "VM '%s' has no balloon device, so its "
				     "memory cannot change while it runs: add "
				     "\"balloon\": {\"amount_mib\": 0, "
				     "\"deflate_on_oom\": true} to its "
				     "definition and start it again",
				     name);
	if (!ret && (bytes % MIB || size_mib < 1 || size_mib > memory_mib))
		ret = tern_error_set(err, EINVAL,
				     "setmem %" PRIu64 " bytes: VM '%s' can "
				     "have from 1 MiB to its %" PRIu64
				     " MiB, in whole MiB",
				     bytes, name, memory_mib);
	if (!ret) {
		snprintf(body, sizeof(body), "{\"amount_mib\": %" PRIu64 "}",
			 memory_mib - size_mib);
		ret = vm_api_call(r.runtime.api_socket, "PATCH", "/balloon",
				  body, err);
	}
	vm_record_free(&r);
	if (ret)
		return ret;
	snprintf(reason, sizeof(reason),
		 "balloon target %" PRIu64 " MiB: the guest has %" PRIu64
		 " of %" PRIu64 " MiB",
		 memory_mib - size_mib, size_mib, memory_mib);
	if (ternd_db_event_add(vm_manager_db(m), "vm", name, "setmem", reason,
			       err))
		log_error("VM '%s': %s", name, err->message);
	log_info("VM '%s': %s", name, reason);
	return 0;
}

json_t *vm_balloon_view(const char *api_socket)
{
	json_t *balloon = NULL, *stats = NULL, *out;
	struct tern_error err;
	uint64_t memory_mib;
	int has_balloon;
	json_int_t target;

	if (running_config(api_socket, VM_BALLOON_INFO_TIMEOUT_S, &memory_mib,
			   &has_balloon, &err) ||
	    !has_balloon ||
	    vm_api_get(api_socket, "/balloon", VM_BALLOON_INFO_TIMEOUT_S,
		       &balloon, &err))
		return NULL;
	target = json_integer_value(json_object_get(balloon, "amount_mib"));
	json_decref(balloon);
	/* Only a balloon started with statistics answers this. */
	vm_api_get(api_socket, "/balloon/statistics", VM_BALLOON_INFO_TIMEOUT_S,
		   &stats, &err);
	out = json_pack("{s:I, s:I, s:I}", "target_mib", target, "memory_mib",
			(json_int_t)memory_mib, "guest_memory_mib",
			(json_int_t)memory_mib - target);
	if (out)
		json_object_set_new(
			out, "actual_mib",
			json_is_integer(json_object_get(stats, "actual_mib"))
				? json_incref(
					  json_object_get(stats, "actual_mib"))
				: json_null());
	json_decref(stats);
	return out;
}
