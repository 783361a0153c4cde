/* ternd's networks (docs/ternd.md, Networks): the catalog in the state
 * database (ternd_db.h) and what a started network is on the host, kept
 * in step: for a managed network its bridge with the gateway address and
 * a fixed MAC (net_link.h), the NAT table (net_nat.h) and dnsmasq
 * (dnsmasq.h); for a bridge network, only the check that the bridge is
 * there. And each running VM's taps on them.
 *
 * Kill -9 safety: a start records the network active before it builds
 * anything, and a stop records it inactive only after everything is
 * gone; building is idempotent, so a ternd that finds a network recorded
 * active (after a kill, or after a host reboot) builds it again, which
 * re-attaches to the dnsmasq that still runs or starts one. A VM's taps
 * are recorded before they are created and forgotten after they are
 * deleted, so those of a VM found shut off are deleted then.
 *
 * Errors as vm_manager.h's: -ENOENT no such network, -EINVAL bad input
 * (or a network that cannot be used: not started), -EBUSY wrong state or
 * in use, -EEXIST name or bridge taken. Single-threaded, like ternd. */
#ifndef TERN_TERND_NETWORKS_H
#define TERN_TERND_NETWORKS_H

#include <jansson.h>
#include <poll.h>
#include <stddef.h>

#include "ternd/ternd_db.h"
#include "ternd/vm_definition.h"
#include "util/error.h"

/* A dnsmasq that exits sooner than this after its start is not started
 * again by itself (it would fail the same way). */
#define NETWORK_DNSMASQ_RESTART_MIN_S 10

struct networks;

/* STATE_DIR/networks/ holds each network's files. */
int networks_open(struct ternd_db *db, const char *state_dir,
		  struct networks **out, struct tern_error *err);
/* Leaves every dnsmasq running. */
void networks_close(struct networks *n);
/* At ternd's start, once the VMs are re-attached: builds every network
 * recorded active again (bridge, address, NAT, dnsmasq), and deletes the
 * taps of VMs that are not running. Problems are logged. */
void networks_recover(struct networks *n);

size_t networks_poll_count(const struct networks *n);
void networks_poll_fill(const struct networks *n, struct pollfd *fds);
/* Notices a dnsmasq that exited, and starts it again. */
void networks_reap(struct networks *n);

/* body as network_def_from_json. A name in use is refused (undefine
 * first). A managed network's bridge must not exist yet. */
int networks_define(struct networks *n, const char *name, const json_t *body,
		    struct tern_error *err);
int networks_undefine(struct networks *n, const char *name,
		      struct tern_error *err);
int networks_start(struct networks *n, const char *name,
		   struct tern_error *err);
/* Refused while VMs have taps on it. */
int networks_destroy(struct networks *n, const char *name,
		     struct tern_error *err);
/* {"name", "kind", "bridge", "subnet", "gateway", "nat", "dhcp", "active",
 * "reason", "dnsmasq_pid", "used_by", "attached", "leases"} */
int networks_get_json(struct networks *n, const char *name, json_t **out,
		      struct tern_error *err);
/* {"networks": [...]} */
int networks_list_json(struct networks *n, json_t **out,
		       struct tern_error *err);

/* Creates the VM's taps for the interfaces refs names networks for
 * (refs->taps, refs->macs), each network active and its bridge there,
 * and adds them to the bridges; all or nothing. */
int networks_vm_taps_up(struct networks *n, const char *vm,
			const struct vm_network_refs *refs,
			struct tern_error *err);
/* Deletes the VM's taps (its tern has exited) and forgets them. */
void networks_vm_taps_down(struct networks *n, const char *vm);

#endif
