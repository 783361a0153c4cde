#include "snapshot/config_state.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_check.h"
#include "config/config_sections.h"
#include "snapshot/snapshot_sections.h"
#include "vm/vm_virtio.h"

#define MIB (1ULL << 20)

int config_state_save(const struct vm_config *config, struct state_file *sf,
		      struct tern_error *err)
{
	json_t *doc = vm_config_json_export(config);
	char *text =
		doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int ret;

	json_decref(doc);
	if (!text)
		return tern_error_set(err, ENOMEM,
				      "out of memory for the snapshot's "
				      "configuration");
	if (strlen(text) > CONFIG_STATE_MAX_SIZE)
		ret = tern_error_set(err, EFBIG,
				     "the VM's configuration is too large for "
				     "a snapshot");
	else
		ret = state_file_add(sf, SNAP_VM_CONFIG, "vm.config", text,
				     strlen(text), err);
	free(text);
	return ret;
}

void config_state_free(struct snapshot_config *snap)
{
	vm_config_release(&snap->config);
	vm_config_storage_free(&snap->storage);
	memset(snap, 0, sizeof(*snap));
}

/* Every error from here on is about the file, not about a request: say
 * where the bad value came from. */
static int invalid(struct tern_error *err, int ret)
{
	char reason[sizeof(err->message)];

	snprintf(reason, sizeof(reason), "%s", err->message);
	return tern_error_set(err, ret < 0 ? -ret : EINVAL,
			      "the snapshot's configuration (section "
			      "vm.config) is invalid: %s",
			      reason);
}

/* The sections are read as a config file's are (config/config_sections.h),
 * opening no file: a drive's image, the kernel or a pmem file need not
 * exist on this host, and the host's own settings (logger, metrics) are
 * left alone. */
static int parse_document(struct snapshot_config *snap, const json_t *doc,
			  struct tern_error *err)
{
	if (!json_is_object(doc))
		return tern_error_set(err, EINVAL, "not a JSON object");
	return config_sections_apply(&snap->config, &snap->storage, doc,
				     CONFIG_SECTION_FROM_RECORD, err);
}

int config_state_parse(const struct state_file *sf, struct snapshot_config *out,
		       struct tern_error *err)
{
	const struct state_section *s;
	json_error_t json_err;
	json_t *doc;
	int ret;

	memset(out, 0, sizeof(*out));
	vm_config_set_defaults(&out->config);
	s = state_file_find(sf, SNAP_VM_CONFIG);
	if (!s)
		return tern_error_set(err, ENOENT,
				      "the snapshot has no configuration "
				      "(section vm.config)");
	if (s->length == 0 || s->length > CONFIG_STATE_MAX_SIZE)
		return tern_error_set(err, EINVAL,
				      "the snapshot's configuration (section "
				      "vm.config) has %llu bytes (1 to %d)",
				      (unsigned long long)s->length,
				      CONFIG_STATE_MAX_SIZE);
	/* json_loadb stops at a NUL: one inside the text is an error. */
	if (memchr(s->data, '\0', s->length))
		return tern_error_set(err, EINVAL,
				      "the snapshot's configuration (section "
				      "vm.config) is not JSON text");
	doc = json_loadb((const char *)s->data, s->length,
			 JSON_REJECT_DUPLICATES, &json_err);
	if (!doc)
		return tern_error_set(err, EINVAL,
				      "the snapshot's configuration (section "
				      "vm.config) is not valid JSON: %s "
				      "(column %d)",
				      json_err.text, json_err.column);
	ret = parse_document(out, doc, err);
	json_decref(doc);
	if (ret)
		return invalid(err, ret);
	out->transport = vm_config_virtio_transport(&out->config);
	return 0;
}

static void list_ids(char *out, size_t size, int count,
		     const char *(*id)(const struct vm_config *, int),
		     const struct vm_config *config)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < count && used < size; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "",
				 id(config, i));

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static const char *disk_id(const struct vm_config *config, int i)
{
	return config->disks[i].id;
}

static const char *net_id(const struct vm_config *config, int i)
{
	return config->nets[i].id;
}

#define HINT ": start tern with the snapshot's devices, in the same order"

static int compare_list(const struct snapshot_config *snap,
			const struct vm_config *current, const char *what,
			struct tern_error *err)
{
	const struct vm_config *old = &snap->config;
	int drives = !strcmp(what, "drives");
	int old_count = drives ? old->disk_count : old->net_count;
	int new_count = drives ? current->disk_count : current->net_count;
	const char *(*id)(const struct vm_config *, int) =
		drives ? disk_id : net_id;
	char old_ids[160], new_ids[160];

	list_ids(old_ids, sizeof(old_ids), old_count, id, old);
	list_ids(new_ids, sizeof(new_ids), new_count, id, current);
	if (old_count != new_count || strcmp(old_ids, new_ids))
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %d %s (%s), this "
				      "VM %d (%s)" HINT,
				      old_count,
				      drives ? "drives" : "network interfaces",
				      old_ids, new_count, new_ids);
	for (int i = 0; drives && i < old_count; i++)
		if (!old->disks[i].readonly != !current->disks[i].readonly)
			return tern_error_set(
				err, EINVAL,
				"drive '%s' is %s in the snapshot and %s here",
				old->disks[i].id,
				old->disks[i].readonly ? "read-only"
						       : "writable",
				current->disks[i].readonly ? "read-only"
							   : "writable");
	for (int i = 0; !drives && i < old_count; i++) {
		const uint8_t *a = old->nets[i].mac, *b = current->nets[i].mac;

		if (memcmp(a, b, 6))
			return tern_error_set(
				err, EINVAL,
				"network interface '%s' has MAC "
				"%02x:%02x:%02x:%02x:%02x:%02x in the "
				"snapshot and %02x:%02x:%02x:%02x:%02x:%02x "
				"here: give it the snapshot's MAC",
				old->nets[i].id, a[0], a[1], a[2], a[3], a[4],
				a[5], b[0], b[1], b[2], b[3], b[4], b[5]);
	}
	return 0;
}

/* The hotpluggable region's place and geometry are the guest's: its
 * memory map and the device's state depend on them. */
static int compare_memory_hotplug(const struct vm_memory_hotplug_config *old,
				  const struct vm_memory_hotplug_config *cur,
				  struct tern_error *err)
{
	if (old->total_bytes == cur->total_bytes &&
	    old->slot_bytes == cur->slot_bytes &&
	    old->block_bytes == cur->block_bytes)
		return 0;
	if (!old->total_bytes || !cur->total_bytes)
		return tern_error_set(
			err, EINVAL,
			"the snapshot's VM has %s, this VM "
			"%s" HINT,
			old->total_bytes ? "hotpluggable memory"
					 : "no hotpluggable memory",
			cur->total_bytes ? "has some" : "has none");
	return tern_error_set(
		err, EINVAL,
		"the snapshot's hotpluggable memory is %llu MiB in slots of "
		"%llu MiB and blocks of %llu MiB, this VM's %llu, %llu and "
		"%llu MiB" HINT,
		(unsigned long long)(old->total_bytes >> 20),
		(unsigned long long)(old->slot_bytes >> 20),
		(unsigned long long)(old->block_bytes >> 20),
		(unsigned long long)(cur->total_bytes >> 20),
		(unsigned long long)(cur->slot_bytes >> 20),
		(unsigned long long)(cur->block_bytes >> 20));
}

static int compare_balloon(const struct vm_balloon_config *old,
			   const struct vm_balloon_config *cur,
			   struct tern_error *err)
{
	if (!old->enabled != !cur->enabled)
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %s, this VM "
				      "%s" HINT,
				      old->enabled ? "a balloon" : "no balloon",
				      cur->enabled ? "has one" : "has none");
	if (!old->enabled)
		return 0;
	/* Both decide the features the guest negotiated. */
	if (!old->deflate_on_oom != !cur->deflate_on_oom ||
	    !old->free_page_reporting != !cur->free_page_reporting ||
	    !old->free_page_hinting != !cur->free_page_hinting)
		return tern_error_set(
			err, EINVAL,
			"the snapshot's balloon has deflate_on_oom %s, "
			"free_page_reporting %s and free_page_hinting %s, "
			"this VM's %s, %s and %s",
			old->deflate_on_oom ? "on" : "off",
			old->free_page_reporting ? "on" : "off",
			old->free_page_hinting ? "on" : "off",
			cur->deflate_on_oom ? "on" : "off",
			cur->free_page_reporting ? "on" : "off",
			cur->free_page_hinting ? "on" : "off");
	return 0;
}

int config_state_compare(const struct snapshot_config *snap,
			 const struct vm_config *current,
			 enum virtio_transport transport,
			 struct tern_error *err)
{
	const struct vm_config *old = &snap->config;
	int ret;

	/* Worded as vm_state_check words them. */
	if (old->cpu_count != current->cpu_count)
		return tern_error_set(err, EINVAL,
				      "the snapshot has %d vCPUs, this VM %d",
				      old->cpu_count, current->cpu_count);
	if (old->memory_size / MIB != current->memory_size / MIB)
		return tern_error_set(
			err, EINVAL,
			"the snapshot has %llu MiB of memory, this VM %llu MiB",
			(unsigned long long)(old->memory_size / MIB),
			(unsigned long long)(current->memory_size / MIB));
	if (snap->transport != transport &&
	    (old->disk_count || old->net_count || old->vsock_cid ||
	     old->pmem_count || old->balloon.enabled || old->virtio_rng ||
	     old->memory_hotplug.total_bytes))
		return tern_error_set(
			err, EINVAL,
			"the snapshot's virtio devices are on %s, this VM's on "
			"%s: start tern with --transport %s",
			config_transport_name(snap->transport),
			config_transport_name(transport),
			config_transport_name(snap->transport));
	ret = compare_list(snap, current, "drives", err);
	if (!ret)
		ret = compare_list(snap, current, "network-interfaces", err);
	if (ret)
		return ret;
	if (old->vsock_cid != current->vsock_cid) {
		if (!old->vsock_cid || !current->vsock_cid)
			return tern_error_set(
				err, EINVAL,
				"the snapshot's VM has %s, this VM "
				"%s" HINT,
				old->vsock_cid ? "a vsock device"
					       : "no vsock device",
				current->vsock_cid ? "has one" : "has none");
		return tern_error_set(
			err, EINVAL,
			"the snapshot's vsock has guest CID %llu, "
			"this VM's %llu: start tern with the "
			"snapshot's CID",
			(unsigned long long)old->vsock_cid,
			(unsigned long long)current->vsock_cid);
	}
	ret = compare_balloon(&old->balloon, &current->balloon, err);
	if (ret)
		return ret;
	if (old->pmem_count != current->pmem_count)
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %d pmem devices, "
				      "this VM %d" HINT,
				      old->pmem_count, current->pmem_count);
	for (int i = 0; i < old->pmem_count; i++)
		if (strcmp(old->pmems[i].id, current->pmems[i].id) ||
		    old->pmems[i].readonly != current->pmems[i].readonly)
			return tern_error_set(
				err, EINVAL,
				"the snapshot's pmem device %d is '%s'%s, "
				"this VM's '%s'%s" HINT,
				i, old->pmems[i].id,
				old->pmems[i].readonly ? " (read-only)" : "",
				current->pmems[i].id,
				current->pmems[i].readonly ? " (read-only)"
							   : "");
	ret = compare_memory_hotplug(&old->memory_hotplug,
				     &current->memory_hotplug, err);
	if (ret)
		return ret;
	if (!old->virtio_rng != !current->virtio_rng)
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM has %s (virtio-rng), "
				      "this VM %s" HINT,
				      old->virtio_rng ? "an entropy device"
						      : "no entropy device",
				      current->virtio_rng ? "has one"
							  : "has none");
	return 0;
}

int config_state_check(const struct vm *vm, const struct state_file *sf,
		       struct tern_error *err)
{
	struct snapshot_config snap;
	int ret = config_state_parse(sf, &snap, err);

	if (!ret)
		ret = config_state_compare(&snap, &vm->config,
					   vm_virtio_transport(vm), err);
	config_state_free(&snap);
	return ret;
}
