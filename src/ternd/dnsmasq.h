/* A managed network's DHCP and DNS server: one dnsmasq (Debian package
 * dnsmasq-base) per network, bound to the network's bridge only
 * (interface= with bind-dynamic: it never answers on another interface
 * and never takes the host's port 53 on a wildcard address), its
 * configuration, lease file and log in ternd's state directory
 * (STATE/networks/NAME/). It runs in the foreground as ternd's child in a
 * session of its own, started in vm_process's two steps, so it outlives
 * ternd as VMs do and a new ternd finds it again by its pid, start time
 * and --conf-file argument. */
#ifndef TERN_TERND_DNSMASQ_H
#define TERN_TERND_DNSMASQ_H

#include <jansson.h>
#include <stddef.h>

#include "ternd/network_definition.h"
#include "ternd/vm_process.h"
#include "util/error.h"

struct dnsmasq_files {
	char conf[4200], leases[4200], log[4200];
};

void dnsmasq_files_for(const char *network_dir, struct dnsmasq_files *files);

/* The configuration file's text for def. */
int dnsmasq_config(const struct network_def *def,
		   const struct dnsmasq_files *files, char *buf, size_t size);

/* Writes the configuration and spawns dnsmasq, not yet released
 * (vm_process_release lets it run). */
int dnsmasq_spawn(const struct network_def *def,
		  const struct dnsmasq_files *files, struct vm_process *proc,
		  struct tern_error *err);
/* A dnsmasq an earlier ternd started for these files: 0 when pid is it. */
int dnsmasq_attach(const struct dnsmasq_files *files, pid_t pid,
		   uint64_t start_time, struct vm_process *proc);

/* The leases in the lease file, as [{"mac", "ip", "hostname",
 * "expiry"}] (hostname null when the guest gave none); an empty array
 * when there is no file. */
json_t *dnsmasq_leases(const char *lease_path);

#endif
