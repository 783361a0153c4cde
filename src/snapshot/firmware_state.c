#include "snapshot/firmware_state.h"

#include <errno.h>
#include <string.h>

#include "snapshot/snapshot_sections.h"

#define SECTION_NAME "vm.firmware"

int firmware_state_save(struct vm *vm, struct state_file *sf,
			struct tern_error *err)
{
	if (!vm->config.firmware_path)
		return 0;
	return state_file_add(sf, SNAP_VM_FIRMWARE, SECTION_NAME, vm->reset_rom,
			      vm->reset_rom_size, err);
}

int firmware_state_check(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err)
{
	const struct state_section *s = state_file_find(sf, SNAP_VM_FIRMWARE);

	if (!vm->config.firmware_path)
		return s ? tern_error_set(err, EINVAL,
					  "the snapshot's VM was booted by a "
					  "firmware; this one boots a kernel")
			 : 0;
	if (!s)
		return tern_error_set(err, EINVAL,
				      "the snapshot's VM booted a kernel; "
				      "this one has a firmware (%.200s)",
				      vm->config.firmware_path);
	if (s->length != vm->reset_rom_size)
		return tern_error_set(err, EINVAL,
				      "the snapshot's firmware image is %llu "
				      "bytes; this VM's (%.200s) is %zu",
				      (unsigned long long)s->length,
				      vm->config.firmware_path,
				      vm->reset_rom_size);
	return 0;
}

/* KVM reads the slot from this memory; the vCPUs have not run yet. */
int firmware_state_restore(struct vm *vm, const struct state_file *sf,
			   struct tern_error *err)
{
	const struct state_section *s = state_file_find(sf, SNAP_VM_FIRMWARE);

	if (!vm->config.firmware_path)
		return 0;
	if (!s || s->length != vm->reset_rom_size)
		return tern_error_set(err, EINVAL,
				      "the snapshot's firmware image does not "
				      "fit this VM");
	memcpy(vm->reset_rom, s->data, s->length);
	return 0;
}
