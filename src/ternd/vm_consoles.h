/* ternd's side of the VMs' serial consoles. Each VM's tern runs with
 * --serial unix:DIR/vms/NAME/console.sock; ternd stays connected to it for
 * the VM's whole life, appends everything the guest prints to
 * console.log (console_log.h: the scrollback, bounded), and relays to and
 * from at most one client, a `ternctl console` whose API connection was
 * upgraded (POST /v1/vms/NAME/console, console_route.c).
 *
 * Every descriptor is non-blocking and served from ternd's one loop: a
 * client that does not read gets its oldest pending output dropped
 * (CONSOLE_CLIENT_BUFFER beyond the scrollback), never ternd or the guest
 * waiting. While ternd is not running, tern keeps the guest's output in
 * its own buffer (backends/serial_backend.h) until the next ternd
 * connects. */
#ifndef TERN_TERND_VM_CONSOLES_H
#define TERN_TERND_VM_CONSOLES_H

#include <microhttpd.h>
#include <poll.h>
#include <stddef.h>

#include "util/error.h"

/* Output waiting for a slow client, beyond the scrollback sent first. */
#define CONSOLE_CLIENT_BUFFER (64 * 1024)
/* The most scrollback a client may ask for: all the log may hold. */
#define CONSOLE_SCROLLBACK_MAX (1024 * 1024)
/* ternctl console's default. */
#define CONSOLE_SCROLLBACK_DEFAULT 4096

struct vm_consoles;

struct vm_consoles *vm_consoles_new(void);
/* Closes every connection; the VMs and their consoles run on. */
void vm_consoles_free(struct vm_consoles *c);

/* Connects to a running VM's console socket (once tern answers, and when
 * ternd re-attaches). A VM whose tern has no console socket (started by
 * an older ternd, with --serial file:) is left without one: 0 or a
 * negative errno with err set, for the log. */
int vm_consoles_attach(struct vm_consoles *c, const char *name,
		       const char *socket_path, const char *log_path,
		       struct tern_error *err);
/* The VM's tern ended: what it had still sent is logged and relayed, and
 * its console and client are closed. */
void vm_consoles_vm_stopped(struct vm_consoles *c, const char *name);

/* Whether ternd relays the VM's console (attached, even if its
 * connection was lost since). */
int vm_consoles_has(struct vm_consoles *c, const char *name);

/* Whether a client may have the VM's console now: 0, or -EBUSY with err
 * set (no console connection, or another client has it and force is 0).
 * Reconnects to the VM's socket first when the connection was lost. */
int vm_consoles_check(struct vm_consoles *c, const char *name, int force,
		      struct tern_error *err);
/* The upgraded connection sock (MHD_upgrade_action(urh) closes it) is the
 * VM's console client from now on: the newest scrollback bytes of the log
 * first, then the live console; extra is what the client sent after its
 * request. With force, a current client is closed with a line saying why;
 * without, a client that lost the race is told so and closed. */
void vm_consoles_add_client(struct vm_consoles *c, const char *name, int force,
			    size_t scrollback, const char *extra,
			    size_t extra_len, MHD_socket sock,
			    struct MHD_UpgradeResponseHandle *urh);
/* Closes every client (before the HTTP server stops). */
void vm_consoles_drop_clients(struct vm_consoles *c);

/* ternd's loop: the descriptors to poll, then serve with the same
 * array. */
size_t vm_consoles_poll_count(const struct vm_consoles *c);
void vm_consoles_poll_fill(struct vm_consoles *c, struct pollfd *fds);
void vm_consoles_serve(struct vm_consoles *c, const struct pollfd *fds);

#endif
