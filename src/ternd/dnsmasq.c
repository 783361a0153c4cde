#include "ternd/dnsmasq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ternd/net_nat.h"

static const char *const dnsmasq_paths[] = {"/usr/sbin/dnsmasq",
					    "/sbin/dnsmasq"};

void dnsmasq_files_for(const char *network_dir, struct dnsmasq_files *files)
{
	snprintf(files->conf, sizeof(files->conf), "%s/dnsmasq.conf",
		 network_dir);
	snprintf(files->leases, sizeof(files->leases), "%s/dnsmasq.leases",
		 network_dir);
	snprintf(files->log, sizeof(files->log), "%s/dnsmasq.log", network_dir);
}

int dnsmasq_config(const struct network_def *def,
		   const struct dnsmasq_files *files, char *buf, size_t size)
{
	char first[16], last[16], mask[16];
	uint32_t from, to;
	int n;

	network_dhcp_range(def, &from, &to);
	network_ip_text(from, first, sizeof(first));
	network_ip_text(to, last, sizeof(last));
	network_ip_text(network_netmask(def), mask, sizeof(mask));
	/* pid-file empty: ternd follows the process itself, and two
	 * networks must not share dnsmasq's default /run/dnsmasq.pid.
	 * no-hosts: the host's /etc/hosts is not the guests' business. */
	n = snprintf(buf, size,
		     "# written by ternd for network '%s' at each start\n"
		     "interface=%s\n"
		     "bind-dynamic\n"
		     "strict-order\n"
		     "no-hosts\n"
		     "pid-file=\n"
		     "log-facility=-\n"
		     "dhcp-range=%s,%s,%s,1h\n"
		     "dhcp-no-override\n"
		     "dhcp-authoritative\n"
		     "dhcp-lease-max=%u\n"
		     "dhcp-leasefile=%s\n",
		     def->name, def->bridge, first, last, mask, to - from + 1,
		     files->leases);
	return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static void conf_arg(const struct dnsmasq_files *files, char *buf, size_t size)
{
	snprintf(buf, size, "--conf-file=%s", files->conf);
}

int dnsmasq_spawn(const struct network_def *def,
		  const struct dnsmasq_files *files, struct vm_process *proc,
		  struct tern_error *err)
{
	char conf[4400], text[8192];
	const char *path = NULL;
	char *argv[4];
	int ret;

	for (size_t i = 0; i < sizeof(dnsmasq_paths) / sizeof(*dnsmasq_paths);
	     i++)
		if (access(dnsmasq_paths[i], X_OK) == 0) {
			path = dnsmasq_paths[i];
			break;
		}
	if (!path)
		return tern_error_set(err, ENOENT,
				      "DHCP needs dnsmasq (Debian package "
				      "dnsmasq-base), not found in /usr/sbin "
				      "or /sbin");
	if (dnsmasq_config(def, files, text, sizeof(text)))
		return tern_error_set(err, ENAMETOOLONG,
				      "network '%s': dnsmasq configuration "
				      "too long",
				      def->name);
	ret = net_write_file(files->conf, text, err);
	if (ret)
		return ret;
	conf_arg(files, conf, sizeof(conf));
	argv[0] = (char *)path;
	argv[1] = "--keep-in-foreground";
	argv[2] = conf;
	argv[3] = NULL;
	return vm_process_spawn_program(argv, files->log, proc, err);
}

int dnsmasq_attach(const struct dnsmasq_files *files, pid_t pid,
		   uint64_t start_time, struct vm_process *proc)
{
	char conf[4400];

	conf_arg(files, conf, sizeof(conf));
	return vm_process_attach_arg(pid, start_time, conf, proc);
}

/* One line of the lease file: "EXPIRY MAC IP HOSTNAME CLIENTID", a
 * hostname of "*" for none. The file is dnsmasq's, written for any guest
 * to influence (its hostname): every field is checked for length. */
static json_t *lease_json(char *line)
{
	char *save, *expiry = strtok_r(line, " \n", &save);
	char *mac = strtok_r(NULL, " \n", &save);
	char *ip = strtok_r(NULL, " \n", &save);
	char *host = strtok_r(NULL, " \n", &save);

	if (!expiry || !mac || !ip || strlen(mac) > 64 || strlen(ip) > 15)
		return NULL;
	if (host && (strlen(host) > 64 || !strcmp(host, "*")))
		host = NULL;
	return json_pack("{s:s, s:s, s:o, s:I}", "mac", mac, "ip", ip,
			 "hostname", host ? json_string(host) : json_null(),
			 "expiry", (json_int_t)strtoll(expiry, NULL, 10));
}

json_t *dnsmasq_leases(const char *lease_path)
{
	json_t *list = json_array();
	FILE *f = fopen(lease_path, "re");
	char line[512];

	if (!f)
		return list;
	while (list && fgets(line, sizeof(line), f)) {
		json_t *lease = lease_json(line);

		if (lease && json_is_string(json_object_get(lease, "mac")))
			json_array_append_new(list, lease);
	}
	fclose(f);
	return list;
}
