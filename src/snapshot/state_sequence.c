#include "snapshot/state_sequence.h"

#include <errno.h>

#include "snapshot/config_state.h"
#include "snapshot/firmware_state.h"
#include "snapshot/device_state.h"
#include "snapshot/snapshot_sections.h"
#include "snapshot/vcpu_state.h"
#include "snapshot/vm_state.h"

static int config_save(struct vm *vm, struct state_file *sf,
		       struct tern_error *err)
{
	return config_state_save(&vm->config, sf, err);
}

static int config_check(struct vm *vm, const struct state_file *sf,
			struct tern_error *err)
{
	return config_state_check(vm, sf, err);
}

static int vm_check(struct vm *vm, const struct state_file *sf,
		    struct tern_error *err)
{
	return vm_state_check(vm, sf, err);
}

static int vcpus_save(struct vm *vm, struct state_file *sf,
		      struct tern_error *err)
{
	int ret = 0;

	for (int i = 0; !ret && i < vm->vcpu_count; i++)
		ret = vcpu_state_save(&vm->vcpus[i], sf, err);
	return ret;
}

static int vcpus_check(struct vm *vm, const struct state_file *sf,
		       struct tern_error *err)
{
	int ret = 0;

	for (int i = 0; !ret && i < vm->vcpu_count; i++)
		ret = vcpu_state_check_cpuid(&vm->vcpus[i], sf, err);
	return ret;
}

static int vcpus_restore(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err)
{
	int ret = 0;

	for (int i = 0; !ret && i < vm->vcpu_count; i++)
		ret = vcpu_state_restore(&vm->vcpus[i], sf, err);
	return ret;
}

static int vcpus_reset(struct vm *vm, const struct state_file *sf,
		       struct tern_error *err)
{
	int ret = 0;

	for (int i = 0; !ret && i < vm->vcpu_count; i++)
		ret = vcpu_state_reset(&vm->vcpus[i], sf, err);
	return ret;
}

/* The order matters:
 *  - the configuration first: its refusals name drives, interfaces and
 *    settings rather than device addresses, and a device that cannot be
 *    saved stops a snapshot before any file is touched;
 *  - devices before the VM-wide state: their restore may raise interrupts
 *    that the irqchip restore then overwrites, so device_state_restored()
 *    raises them again at the end;
 *  - the irqchip and PIT before the vCPUs (a LAPIC after the IOAPIC), the
 *    clock within vm_state_restore() last of the VM-wide state. */
static const struct state_sequence_entry entries[] = {
	{
		.name = "configuration",
		.first_id = SNAP_VM_CONFIG,
		.last_id = SNAP_VM_CONFIG,
		.save = config_save,
		.check = config_check,
	},
	/* A reset leaves the image alone, as a PC's leaves its ROM. */
	{
		.name = "firmware",
		.first_id = SNAP_VM_FIRMWARE,
		.last_id = SNAP_VM_FIRMWARE,
		.save = firmware_state_save,
		.check = firmware_state_check,
		.restore = firmware_state_restore,
	},
	{
		.name = "devices",
		.first_id = SNAP_DEVICE_BASE,
		.last_id = SNAP_VIRTIO_BASE + 0xffff,
		.save = device_state_save,
		.check = device_state_check,
		.restore = device_state_restore,
		.restored = device_state_restored,
		.reset = device_state_reset,
	},
	{
		.name = "machine",
		.first_id = SNAP_VM_META,
		.last_id = SNAP_VM_MEMORY,
		.save = vm_state_save,
		.check = vm_check,
		.restore = vm_state_restore,
		.reset = vm_state_reset,
	},
	{
		.name = "vcpus",
		.first_id = SNAP_VCPU_BASE,
		.last_id = SNAP_DEVICE_BASE - 1,
		.save = vcpus_save,
		.check = vcpus_check,
		.restore = vcpus_restore,
		.reset = vcpus_reset,
	},
};
#define ENTRY_COUNT (sizeof(entries) / sizeof(entries[0]))

const struct state_sequence_entry *state_sequence_entries(size_t *count)
{
	*count = ENTRY_COUNT;
	return entries;
}

const struct state_sequence_entry *state_sequence_owner(uint32_t id)
{
	for (size_t i = 0; i < ENTRY_COUNT; i++)
		if (id >= entries[i].first_id && id <= entries[i].last_id)
			return &entries[i];
	return NULL;
}

int state_sequence_save(struct vm *vm, struct state_file *sf,
			struct tern_error *err)
{
	int ret = 0;

	/* A sleeping VM's vCPUs hold the state they had when it slept, which
	 * is not what it resumes from (vm/vm_sleep.h): a snapshot of it would
	 * restore a machine that never slept. */
	if (vm_sleep_state(&vm->sleep) != VM_SLEEP_AWAKE)
		return tern_error_set(err, EBUSY,
				      "the guest is asleep (ACPI S3): wake it "
				      "first (SendPowerButton), then save "
				      "its state");
	for (size_t i = 0; !ret && i < ENTRY_COUNT; i++)
		ret = entries[i].save(vm, sf, err);
	return ret;
}

/* A section no entry reads would be dropped without a word: a state file
 * from a tern that saves more than this one knows how to restore. */
static int check_every_section_owned(const struct state_file *sf,
				     struct tern_error *err)
{
	for (uint32_t i = 0; i < sf->section_count; i++)
		if (!state_sequence_owner(sf->sections[i].id))
			return tern_error_set(
				err, EINVAL,
				"the snapshot has state section %s (id 0x%x) "
				"that this tern cannot restore (written by a "
				"newer tern?)",
				sf->sections[i].name, sf->sections[i].id);
	return 0;
}

int state_sequence_check(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < ENTRY_COUNT; i++)
		ret = entries[i].check(vm, sf, err);
	if (!ret)
		ret = check_every_section_owned(sf, err);
	return ret;
}

int state_sequence_restore(struct vm *vm, const struct state_file *sf,
			   struct tern_error *err)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < ENTRY_COUNT; i++)
		if (entries[i].restore)
			ret = entries[i].restore(vm, sf, err);
	for (size_t i = 0; !ret && i < ENTRY_COUNT; i++)
		if (entries[i].restored)
			entries[i].restored(vm);
	return ret;
}

int state_sequence_reset(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < ENTRY_COUNT; i++)
		if (entries[i].reset)
			ret = entries[i].reset(vm, sf, err);
	return ret;
}

int state_sequence_save_vcpus(struct vm *vm, struct state_file *sf,
			      struct tern_error *err)
{
	return vcpus_save(vm, sf, err);
}

int state_sequence_reset_vcpu(struct vcpu *vcpu, const struct state_file *sf,
			      struct tern_error *err)
{
	return vcpu_state_reset(vcpu, sf, err);
}
