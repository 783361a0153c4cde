/* NAT for a managed network: one nftables table per network, "ip
 * ternd-NAME", whose postrouting chain masquerades what leaves the
 * subnet for elsewhere. One table per network, named for ternd, so that
 * it is replaced atomically at each start (add, delete and define in one
 * `nft -f` transaction), removed whole when the network stops, and never
 * touches a rule someone else wrote. Applied by the nft command (package
 * nftables) on a script file kept beside the network's other files. */
#ifndef TERN_TERND_NET_NAT_H
#define TERN_TERND_NET_NAT_H

#include <stddef.h>

#include "ternd/network_definition.h"
#include "util/error.h"

/* The script that installs the table (or, with remove, deletes it
 * whether or not it exists). */
int net_nat_script(const struct network_def *def, int remove, char *buf,
		   size_t size);
/* Writes the script to script_path and runs nft -f on it; the error
 * carries nft's message. apply also turns on IPv4 forwarding (as libvirt
 * does: masquerading needs the host to route). */
int net_nat_apply(const struct network_def *def, const char *script_path,
		  struct tern_error *err);
int net_nat_remove(const struct network_def *def, const char *script_path,
		   struct tern_error *err);

/* Runs argv[0] (an absolute path) with argv, stdin from /dev/null; 0 when
 * it exits 0, else -EIO with err holding the start of its stderr. */
int net_run_command(char *const argv[], struct tern_error *err);

/* Writes text to path (created 0600, truncated): a script, a
 * configuration file, a /proc switch. */
int net_write_file(const char *path, const char *text, struct tern_error *err);

#endif
