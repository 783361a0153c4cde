#include "ternd/vm_reboot.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ternd/vm_api.h"
#include "util/log.h"

int vm_reboot_mode_parse(const char *text, enum vm_reboot_mode *mode,
			 struct tern_error *err)
{
	if (!strcmp(text, "ctrl-alt-del"))
		*mode = VM_REBOOT_CTRL_ALT_DEL;
	else if (!strcmp(text, "reset"))
		*mode = VM_REBOOT_RESET;
	else
		return tern_error_set(err, EINVAL,
				      "reboot mode '%.32s': use ctrl-alt-del "
				      "or reset",
				      text);
	return 0;
}

/* Whether the running tern boots again on a guest reset: its own
 * configuration, since a VM started by an older ternd, or defined with
 * tern.on_reboot "exit", ends instead. */
static int restarts_on_reboot(const char *sock, int *restarts,
			      struct tern_error *err)
{
	json_t *doc;
	const char *action;
	int ret = vm_api_get(sock, "/vm/config", VM_API_TIMEOUT_S, &doc, err);

	if (ret)
		return ret;
	action = json_string_value(
		json_object_get(json_object_get(doc, "tern"), "on_reboot"));
	*restarts = action && !strcmp(action, "restart");
	json_decref(doc);
	return 0;
}

static int send_ctrl_alt_del(struct vm_manager *m, const struct vm_record *r,
			     struct tern_error *err)
{
	const char *name = r->name;
	int restarts = 0, ret = 0;

	if (r->runtime.state == VM_STATE_PAUSED)
		return tern_error_set(err, EBUSY,
				      "VM '%s' is paused: resume it first, so "
				      "the guest can see the key press (or "
				      "'ternctl reboot %s --mode reset')",
				      name, name);
	ret = restarts_on_reboot(r->runtime.api_socket, &restarts, err);
	if (!ret && !restarts)
		return tern_error_set(err, EBUSY,
				      "VM '%s''s tern ends when the guest "
				      "reboots (tern.on_reboot is exit in its "
				      "definition, or an older ternd started "
				      "it), so the guest's reboot would stop "
				      "it: 'ternctl reboot %s --mode reset' "
				      "restarts it",
				      name, name);
	if (!ret)
		ret = vm_api_call(r->runtime.api_socket, "PUT", "/actions",
				  "{\"action_type\": \"SendCtrlAltDel\"}", err);
	if (ret == -EREMOTEIO) {
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err->message);
		tern_error_set(err, EREMOTEIO,
			       "VM '%s' cannot be rebooted by the guest: %s "
			       "('ternctl reboot %s --mode reset' restarts its "
			       "tern instead)",
			       name, why, name);
	}
	if (!ret &&
	    ternd_db_event_add(vm_manager_db(m), "vm", name, "rebooted",
			       "sent Ctrl-Alt-Del: the guest reboots "
			       "in the same tern",
			       err))
		log_error("VM '%s': %s", name, err->message);
	return ret;
}

int vm_reboot(struct vm_manager *m, const char *name, enum vm_reboot_mode mode,
	      struct tern_error *err)
{
	const struct vm_restore again = {.why = "started again by reboot "
						"--mode reset",
					 .event = "rebooted"};
	struct vm_record r;
	int ret = vm_manager_get(m, name, &r, err);

	if (ret)
		return ret;
	if (vm_state_migration(r.runtime.state))
		ret = vm_manager_migration_busy(&r, err);
	else if (!vm_state_active(r.runtime.state))
		ret = tern_error_set(err, EBUSY,
				     "VM '%s' is not running ('ternctl start "
				     "%s' starts it)",
				     name, name);
	if (!ret && mode == VM_REBOOT_CTRL_ALT_DEL)
		ret = send_ctrl_alt_del(m, &r, err);
	vm_record_free(&r);
	if (ret || mode == VM_REBOOT_CTRL_ALT_DEL) {
		if (!ret)
			log_info("VM '%s': sent Ctrl-Alt-Del (reboot)", name);
		return ret;
	}
	ret = vm_manager_stop(m, name, "stopped by reboot --mode reset", err);
	if (!ret)
		ret = vm_manager_start_restore(m, name, &again, err);
	if (!ret)
		log_info("VM '%s' reset by reboot", name);
	return ret;
}
