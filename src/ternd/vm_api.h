/* ternd talking to one VM's tern over that tern's own API socket
 * (docs/api.md), with short timeouts: a tern that hangs must not hang
 * ternd for long. */
#ifndef TERN_TERND_VM_API_H
#define TERN_TERND_VM_API_H

#include <jansson.h>

#include "ternd/vm_state.h"
#include "util/error.h"

#define VM_API_TIMEOUT_S 5

/* GET /: 0 with *state running or paused; -EAGAIN when tern answers but
 * its VM is not running yet; another negative errno when it does not
 * answer (err set). */
int vm_api_state(const char *api_socket, enum vm_state *state,
		 struct tern_error *err);

/* One request; 0 on a 2xx answer, else -EREMOTEIO with tern's fault
 * message (or why tern did not answer) in err. */
int vm_api_call(const char *api_socket, const char *method, const char *path,
		const char *body, struct tern_error *err);
/* The same with its own limit on each read and write (a snapshot's
 * memory file takes as long as the guest's RAM is large). */
int vm_api_call_within(const char *api_socket, const char *method,
		       const char *path, const char *body, int timeout_s,
		       struct tern_error *err);

/* GET path; 0 with *doc (the JSON answer of a 2xx), else -EREMOTEIO
 * with tern's fault message, or why tern did not answer, in err. */
int vm_api_get(const char *api_socket, const char *path, int timeout_s,
	       json_t **doc, struct tern_error *err);

#endif
